"""YAML → positioned node tree, with YAML problems turned into diagnostics.

PyYAML composes the document (no Python objects are constructed, so nothing
in a file can run code); :func:`load` converts the node graph into
:mod:`octo.compiler.yamlnodes` and reports duplicate keys, non-scalar keys and
the classic traps (tabs, a quoted expression, ``{{ }}`` in a plain scalar).
"""

from __future__ import annotations

import re

import yaml

from .diagnostics import Label, Reporter
from .source import Source, Span
from .yamlnodes import YMap, YNode, YScalar, YSeq

_SCALAR_TAGS = {
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
}

# `key: 'quoted' more text` — a scalar that starts with a quote but goes on.
_QUOTED_START = re.compile(r"""^(?P<lead>\s*(?:-\s+)?(?:[^'"\s#][^#]*?:\s+)?)(?P<q>['"])(?P<rest>.*)$""")


class _Constructor(yaml.constructor.SafeConstructor):
    """Only used to resolve plain scalars (ints, floats, bools, nulls)."""


def load(source: Source, reporter: Reporter) -> YNode | None:
    """Parse ``source`` as one YAML document; None if it could not be read."""
    try:
        root = yaml.compose(source.text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        _report_yaml_error(source, err, reporter)
        return None
    except yaml.YAMLError as err:  # unmarked: rare (e.g. a reader error)
        reporter.report("E0001", Span(source, 0, 0), f"YAML error: {err}")
        return None
    if root is None:
        return None
    return _convert(root, source, reporter, {})


def _span(node: yaml.Node, source: Source) -> Span:
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        end = len(source.text[:end].rstrip("\n"))  # drop the trailing blank lines
    return Span(source, start, max(start, end))


def _convert(node: yaml.Node, source: Source, reporter: Reporter, seen: dict) -> YNode:
    if id(node) in seen:  # an alias: share the converted node
        return seen[id(node)]
    span = _span(node, source)
    if isinstance(node, yaml.ScalarNode):
        out: YNode = YScalar(span, _scalar_value(node), node.style)
    elif isinstance(node, yaml.SequenceNode):
        out = YSeq(span, [])
        seen[id(node)] = out
        out.items = [_convert(item, source, reporter, seen) for item in node.value]
        if node.flow_style:
            out.items = _rejoin_sequence(out.items, source, reporter)
    else:
        assert isinstance(node, yaml.MappingNode)
        out = YMap(span, [], flow=bool(node.flow_style))
        seen[id(node)] = out
        if out.flow and span.text().startswith(("{{", "{%")):
            _report_template_as_mapping(span, reporter)
            out = YScalar(span, span.text(), None)  # keep checking with the text
        else:
            out.items = _convert_items(node, source, reporter, seen)
            if out.flow:
                out.items = _rejoin_mapping(out.items, source, reporter)
    seen[id(node)] = out
    return out


# --- `{pair: combinations(people, 2)}`: YAML splits plain values at commas ---------------

_OPEN, _CLOSE = "([{", ")]}"


def _depth(text: str) -> int:
    """Open brackets minus closed ones, outside quotes."""
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
    return depth


def _split_value(node: YNode) -> bool:
    return isinstance(node, YScalar) and node.style is None and isinstance(node.value, str) and _depth(node.value) > 0


def _report_split(first: YScalar, last_end: int, source: Source, reporter: Reporter, kind: str = "mapping") -> YScalar:
    span = Span(source, first.span.start, last_end)
    text = span.text()
    reporter.report("E0009", span, f"YAML split `{text}` at its comma, because it is inside `{{ }}` or `[ ]`",
                    label="read by YAML as separate entries",
                    hint=f'quote it: "{text}", or write the {kind} in block style, one entry per line')
    return YScalar(span, text, None)  # check the rest as the user meant it


def _rejoin_mapping(items: list, source: Source, reporter: Reporter) -> list:
    out, i = [], 0
    while i < len(items):
        key, value = items[i]
        j = i + 1
        if _split_value(value):
            depth = _depth(value.value)
            while j < len(items) and depth > 0 and _implicit_null(items[j][1]):
                depth += _depth(items[j][0].value)
                j += 1
            if j > i + 1 and depth == 0:
                value = _report_split(value, items[j - 1][0].span.end, source, reporter)
            else:
                j = i + 1
        out.append((key, value))
        i = j
    return out


def _rejoin_sequence(items: list, source: Source, reporter: Reporter) -> list:
    out, i = [], 0
    while i < len(items):
        item, j = items[i], i + 1
        if _split_value(item):
            depth = _depth(item.value)
            while j < len(items) and depth > 0 and isinstance(items[j], YScalar) and isinstance(items[j].value, (str, int, float)):
                depth += _depth(str(items[j].value))
                j += 1
            if j > i + 1 and depth == 0:
                item = _report_split(item, items[j - 1].span.end, source, reporter, "list")
            else:
                j = i + 1
        out.append(item)
        i = j
    return out


def _implicit_null(node: YNode) -> bool:
    return isinstance(node, YScalar) and node.value is None and node.span.start == node.span.end


def _convert_items(node: yaml.MappingNode, source: Source, reporter: Reporter, seen: dict):
    items: list[tuple[YScalar, YNode]] = []
    first: dict[str, YScalar] = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            reporter.report("E0103", _span(key_node, source), "YAML merge keys (`<<`) are not supported",
                            hint="write the keys out, or use a `defaults:` block")
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            reporter.report("E0103", _span(key_node, source), "a key must be a plain name, not a "
                            + ("list" if isinstance(key_node, yaml.SequenceNode) else "mapping"))
            continue
        key = YScalar(_span(key_node, source), str(key_node.value), key_node.style)
        value = _convert(value_node, source, reporter, seen)
        if key.value in first:
            reporter.report(
                "E0003", key.span, f"duplicate key '{key.value}'",
                label="defined again here",
                labels=[Label(first[key.value].span, "first defined here")],
                hint="YAML would silently keep only the last value; remove or rename one of them",
            )
            continue
        first[key.value] = key
        items.append((key, value))
    return items


def _scalar_value(node: yaml.ScalarNode):
    if node.tag in _SCALAR_TAGS:
        try:
            return _Constructor().construct_object(node)
        except (yaml.YAMLError, ValueError):
            return node.value
    return node.value


def _report_template_as_mapping(span: Span, reporter: Reporter) -> None:
    reporter.report(
        "E0004", span, "YAML read this template as a mapping, because it starts with `{`",
        label="a plain value cannot start with `{`",
        hint='quote the whole value ("{{ ... }}") or use a block scalar: `|` followed by the template on the next lines',
    )


def _report_yaml_error(source: Source, err: yaml.MarkedYAMLError, reporter: Reporter) -> None:
    mark = err.problem_mark or err.context_mark
    offset = mark.index if mark is not None else 0
    span = Span(source, offset, min(len(source.text), offset + 1))
    problem = (err.problem or err.context or "invalid YAML").strip()
    line = source.line_text(source.line_col(offset)[0]) if source.text else ""
    if "'\\t'" in problem:
        reporter.report("E0002", span, "tab character in indentation",
                        label="tab here", hint="YAML forbids tabs for indentation; indent with spaces")
        return
    if "single document" in (err.context or ""):
        reporter.report("E0008", span, "a .octo file holds one YAML document, but this one has more",
                        label="a second document starts here", hint="remove the `---` line or split the file")
        return
    if _report_quoted_expression(source, err, reporter):
        return
    starts_with_template = re.search(r"(?:^|:\s|-\s)\s*(\{[{%])", line)
    if starts_with_template:
        col = starts_with_template.start(1)
        start = source.offset_of(source.line_col(offset)[0], col + 1)
        _report_template_as_mapping(Span(source, start, start + 2), reporter)
        return
    context = f" {err.context}" if err.context else ""
    message = f"YAML syntax error{context}: {_yaml_words(problem)}"
    labels = []
    if err.context_mark is not None and err.problem_mark is not None and err.context_mark.index != offset:
        cm = err.context_mark.index
        labels.append(Label(Span(source, cm, min(len(source.text), cm + 1)), "the structure started here"))
    hint = "check the indentation and the punctuation around this spot"
    if "mapping values are not allowed" in problem:
        hint = ("a plain value cannot contain ': ' — quote the whole value, or use a block scalar "
                "(`|` and the text on the next lines)")
    if "flow" in (err.context or ""):
        hint = ("inside `{ }` or `[ ]`, the characters , [ ] { } ? and ': ' end a plain value: quote the expression "
                "(\"...\") or write the mapping in block style, one key per line")
    reporter.report("E0001", span, message, labels=labels, hint=hint)


def _yaml_words(problem: str) -> str:
    return (problem.replace("<block end>", "the end of the block")
            .replace("'<scalar>'", "more text").replace("<scalar>", "a value")
            .replace("'<block mapping start>'", "a new mapping").replace("<block sequence start>", "a list"))


def _report_quoted_expression(source: Source, err: yaml.MarkedYAMLError, reporter: Reporter) -> bool:
    """`outcome: 'ship' if x else 'water'`: YAML ends the scalar at the quote."""
    if "found '<scalar>'" not in (err.problem or "") or err.problem_mark is None:
        return False
    line_no = err.problem_mark.line + 1
    text = source.line_text(line_no)
    m = _QUOTED_START.match(text)
    if not m:
        return False
    q = m.group("q")
    expr = text[len(m.group("lead")):].split(" #")[0].rstrip()
    other = '"' if q == "'" else "'"
    suggestion = f"{other}{expr}{other}" if other not in expr else f"|-\\n  {expr}"
    start = source.offset_of(line_no, len(m.group("lead")) + 1)
    span = Span(source, start, start + len(expr))
    reporter.report(
        "E0005", span, "this expression starts with a quote, so YAML read only the quoted part as the value",
        label="YAML ends the value at the closing quote",
        hint=f"quote the whole expression: {suggestion}",
    )
    return True
