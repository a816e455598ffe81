"""YAML → positioned node tree, with YAML problems turned into diagnostics.

PyYAML parses the document into events (with libyaml where it reads a file as the pure-Python
parser does, see :func:`compose`) and :class:`_Composer` builds the
node graph from them — no Python objects are constructed, so nothing in a file can run
code. Composing is iterative and bounded: mappings and lists nest at most
:data:`MAX_YAML_DEPTH` deep (E0014), and aliases may copy at most
:data:`ALIAS_BUDGET` nodes in a whole file (E0013), so a "billion laughs" file
is refused at the alias that would pass the budget instead of growing without
end. :func:`load` then converts the node graph into
:mod:`octo.compiler.base.yamlnodes` and reports duplicate keys, non-scalar keys and
the classic traps (tabs, a quoted expression, ``{{ }}`` in a plain scalar).
"""

from __future__ import annotations

import re

import yaml
from yaml.composer import ComposerError

from ..base.diagnostics import Label, Reporter
from ..base.source import Source, Span
from ..base.yamlnodes import YMap, YNode, YScalar, YSeq

# Mappings and lists inside each other: a pipeline needs well under 20 levels; the bound keeps every
# recursive walk of the tree (conversion, the schema check, data typing) far from Python's stack limit.
MAX_YAML_DEPTH = 100
# Nodes that aliases (*name) may copy, summed over the whole file, each alias counting every node of its
# anchor's value (aliases inside it included). Shared settings copied a few times stay far below it;
# nested aliases that multiply (9 aliases of 9 aliases of ...) pass it within a few levels.
ALIAS_BUDGET = 100_000

_SCALAR_TAGS = {
    "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
}

# `key: 'quoted' more text` — a scalar that starts with a quote but goes on.
# (compiled by re when a YAML error needs it, not at every start)
_QUOTED_START = r"""^(?P<lead>\s*(?:-\s+)?(?:[^'"\s#][^#]*?:\s+)?)(?P<q>['"])(?P<rest>.*)$"""


class _Constructor(yaml.constructor.SafeConstructor):
    """Only used to resolve plain scalars (ints, floats, bools, nulls)."""


class _Refused(Exception):
    """A bound of the composer was hit at ``mark``."""

    def __init__(self, code: str, mark, message: str, label: str, hint: str):
        super().__init__(message)
        self.code, self.mark, self.message, self.label, self.hint = code, mark, message, label, hint


def load(source: Source, reporter: Reporter) -> YNode | None:
    """Parse ``source`` as one YAML document; None if it could not be read."""
    try:
        root = compose(source.text)
    except _Refused as refused:
        start = refused.mark.index
        reporter.report(refused.code, Span(source, start, min(len(source.text), start + 1)), refused.message,
                        label=refused.label, hint=refused.hint)
        return None
    except yaml.MarkedYAMLError as err:
        _report_yaml_error(source, err, reporter)
        return None
    except yaml.YAMLError as err:  # unmarked: rare (e.g. a reader error)
        reporter.report("E0001", Span(source, 0, 0), f"YAML error: {err}")
        return None
    if root is None:
        return None
    return _convert(root, source, reporter, {})


# --- composing: events → nodes, iteratively and within the bounds ---------------------------

def compose(text: str) -> yaml.Node | None:
    """The node graph of the single YAML document in ``text`` (None when it is empty).

    libyaml (PyYAML's C parser) reads a file about ten times faster than PyYAML's pure-Python
    parser, a few milliseconds of every `octoc check`. The two disagree on edge cases (tabs,
    line breaks other than \\n, a byte-order mark, `?` and `x:` inside `{ }` and `[ ]`), and the
    diagnostics are written for the pure-Python parser's errors. So libyaml reads only a text
    without those characters, and whose flow collections hold neither `?` nor a `:` before a flow
    indicator; anything it refuses (or the composer's bounds refuse) is read again by the
    pure-Python parser, whose error is reported. tests/test_yaml_composers.py compares the nodes
    and positions of both on every example and on tricky YAML.
    """
    if _libyaml_reads_alike(text):
        try:
            root = _compose_with(yaml.CSafeLoader, text)
        except (yaml.YAMLError, _Refused):
            pass  # reported as the pure-Python parser words it
        else:
            if not _flow_difference(root, text):
                return root
    return _compose_with(yaml.SafeLoader, text)


def _compose_with(loader_class, text: str) -> yaml.Node | None:
    loader = loader_class(text)
    try:
        return _Composer(loader).single_document()
    finally:
        loader.dispose()


# Characters libyaml and PyYAML's pure-Python reader do not read alike: tabs, line breaks other than
# \n, a byte-order mark; and anything the pure-Python reader refuses outright (its own pattern, compiled
# when yaml is imported: a pattern of these ranges takes ~10 ms to compile).
_UNALIKE = "\t\r\x85\u2028\u2029\ufeff"
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
# Inside `{ }` or `[ ]`, PyYAML ends a plain scalar at `?` and at `:` before `,[]{}`; libyaml does not.
_FLOW_UNALIKE = re.compile(r"\?|:[,\[\]{}]")


def _libyaml_reads_alike(text: str) -> bool:
    return (getattr(yaml, "__with_libyaml__", False) and not any(ch in text for ch in _UNALIKE)
            and _NON_PRINTABLE.search(text) is None)


def _flow_difference(root: yaml.Node | None, text: str) -> bool:
    """Whether a flow collection of ``root`` holds a character the two parsers read differently."""
    stack = [root] if root is not None else []
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or isinstance(node, yaml.ScalarNode):
            continue
        seen.add(id(node))
        if node.flow_style and _FLOW_UNALIKE.search(text, node.start_mark.index, node.end_mark.index):
            return True
        if not node.flow_style:  # a flow collection holds only flow collections
            stack.extend(child for pair in node.value for child in (pair if isinstance(pair, tuple) else (pair,)))
    return False


class _Open:
    """A mapping or list being composed: its node, nodes so far (aliases expanded), a pending key."""

    __slots__ = ("node", "size", "key")

    def __init__(self, node: yaml.Node):
        self.node, self.size, self.key = node, 1, None


class _Composer:
    """PyYAML's composer, rewritten with an explicit stack and the two bounds."""

    def __init__(self, loader):
        self.loader = loader
        self.anchors: dict[str, yaml.Node] = {}
        self.sizes: dict[int, int] = {}  # id(anchored node) → its nodes, aliases expanded; absent while open
        self.copied = 0  # nodes produced through aliases so far

    def single_document(self) -> yaml.Node | None:
        get, check = self.loader.get_event, self.loader.check_event
        get()  # stream start
        document = None
        if not check(yaml.StreamEndEvent):
            get()  # document start
            document = self.node()
            get()  # document end
        if not check(yaml.StreamEndEvent):
            event = get()
            raise ComposerError("expected a single document in the stream", document.start_mark,
                                "but found another document", event.start_mark)
        get()  # stream end
        return document

    def node(self) -> yaml.Node:
        stack: list[_Open] = []
        while True:
            event = self.loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                stack.append(self._open(event, len(stack) + 1))
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                done = stack.pop()
                done.node.end_mark = event.end_mark
                node, size = done.node, done.size
                if id(node) in self.sizes:
                    self.sizes[id(node)] = size
            elif isinstance(event, yaml.AliasEvent):
                node, size = self._alias(event)
            else:
                node, size = self._scalar(event), 1
            if not stack:
                return node
            self._attach(stack[-1], node, size)

    @staticmethod
    def _attach(parent: _Open, node: yaml.Node, size: int) -> None:
        parent.size += size
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def _open(self, event, depth: int) -> _Open:
        if depth > MAX_YAML_DEPTH:
            raise _Refused("E0014", event.start_mark, f"YAML nested more than {MAX_YAML_DEPTH} levels deep",
                           "this list or mapping is one level too many",
                           "flatten the structure; nesting this deep is never needed in a pipeline "
                           "(long data belongs in a data file)")
        mapping = isinstance(event, yaml.MappingStartEvent)
        kind = yaml.MappingNode if mapping else yaml.SequenceNode
        tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        self._anchor(event, node, open_=True)
        return _Open(node)

    def _scalar(self, event) -> yaml.ScalarNode:
        tag = event.tag if event.tag not in (None, "!") else self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style or None)
        self._anchor(event, node, open_=False)
        return node

    def _anchor(self, event, node: yaml.Node, open_: bool) -> None:
        anchor = event.anchor
        if anchor is None:
            return
        if anchor in self.anchors:
            raise ComposerError(f"found duplicate anchor {anchor!r}; first occurrence", self.anchors[anchor].start_mark,
                                "second occurrence", event.start_mark)
        self.anchors[anchor] = node
        if open_:
            self.sizes[id(node)] = None  # known once the node is closed
        else:
            self.sizes[id(node)] = 1

    def _alias(self, event) -> tuple[yaml.Node, int]:
        node = self.anchors.get(event.anchor)
        if node is None:
            raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
        size = self.sizes[id(node)]
        if size is None:
            raise _Refused("E0013", event.start_mark, f"alias *{event.anchor} is used inside its own anchor",
                           "this would copy the value into itself, without end",
                           f"write the value out instead of *{event.anchor}")
        self.copied += size
        if self.copied > ALIAS_BUDGET:
            raise _Refused("E0013", event.start_mark,
                           f"YAML aliases copy more than {ALIAS_BUDGET:,} values in this file",
                           f"*{event.anchor} copies {size:,} values, past the budget",
                           "each alias (*name) repeats its anchor's whole value; write the values out, "
                           "or use `defaults:` for shared settings")
        return node, size


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
    m = re.match(_QUOTED_START, text)
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
