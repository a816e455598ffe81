"""Structure: the document against the language's own JSON Schema.

jsonschema finds the problems; this module turns each into an ordinary
positioned diagnostic (unknown key with a suggestion, missing key, wrong kind
of value, value out of range) — never jsonschema's raw text.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

import jsonschema

from ..base.diagnostics import Label, Reporter
from ..base.suggest import did_you_mean
from ..base.yamlnodes import YMap, YNode, YScalar, YSeq

_JSON_KIND = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
              "object": "a mapping", "array": "a list", "null": "nothing"}
_NODE_KIND = {"string": "a string", "number": "a number", "boolean": "a boolean", "null": "nothing (null)",
              "mapping": "a mapping", "list": "a list"}


class _NonFinite:
    """What a NaN or an infinity is validated as: a value of no JSON type. JSON has none of them, and as a
    float one would pass every `minimum` and `maximum`; as this it fails `number` (reported as E0110) and
    passes wherever any value may go, exactly as a number type that refuses them would make it do. (A
    validator class with such a type, `jsonschema.validators.extend`, costs ~4M instructions to make at
    every start: a fifth of this module's import.)"""

    __slots__ = ()


def _instance(node: YNode):
    """The plain data jsonschema validates: ``to_python``'s, each non-finite float a ``_NonFinite``."""
    if isinstance(node, YMap):
        return {k.value: _instance(v) for k, v in node.items}
    if isinstance(node, YSeq):
        return [_instance(v) for v in node.items]
    value = node.value
    return _NonFinite() if isinstance(value, float) and not math.isfinite(value) else value


def validate(root: YNode, schema: dict, reporter: Reporter) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(_instance(root)), key=lambda e: list(map(str, e.absolute_path))):
        _translate(error, root, schema, reporter)


def _node_at(root: YNode, path: Iterable) -> YNode | None:
    node: YNode | None = root
    for part in path:
        if isinstance(node, YMap):
            node = node.get(str(part))
        elif isinstance(node, YSeq) and isinstance(part, int) and part < len(node.items):
            node = node.items[part]
        else:
            return None
    return node


def _key_at(root: YNode, path: list) -> YScalar | None:
    """The key under which the value at ``path`` is written."""
    if not path:
        return None
    parent = _node_at(root, path[:-1])
    return parent.key(str(path[-1])) if isinstance(parent, YMap) else None


def _where(path: list) -> str:
    named = [str(p) for p in path if not isinstance(p, int)]
    if len(named) >= 2 and named[0] == "steps":
        rest = " > ".join(named[2:])
        return f"step '{named[1]}'" + (f" ({rest})" if rest else "")
    return "`" + ".".join(named) + "`" if named else "the file"


def _translate(error: jsonschema.ValidationError, root: YNode, schema: dict, reporter: Reporter) -> None:
    path = list(error.absolute_path)
    node = _node_at(root, path)
    if node is None:
        return
    handler = _HANDLERS.get(error.validator, _generic)
    handler(error, path, node, root, reporter)


def _additional(error, path, node, root, reporter) -> None:
    if not isinstance(node, YMap):
        return
    allowed = list(error.schema.get("properties", {}))
    for key, _ in node.items:
        if key.value in allowed:
            continue
        where = _where(path)
        if path == ["steps"] or (len(path) == 1 and path[0] == "data"):
            continue  # step and table names are checked by propertyNames
        hint = did_you_mean(key.value, allowed) or f"allowed here: {', '.join(allowed)}"
        reporter.report("E0101", key.span, f"unknown key '{key.value}' in {where}", label="not allowed here", hint=hint)


def _required(error, path, node, root, reporter) -> None:
    missing = error.validator_value
    present = set(node.keys()) if isinstance(node, YMap) else set()
    key = _key_at(root, path)
    span = key.span if key is not None else node.span
    for name in missing:
        if name in present:
            continue
        if path == [] and name == "octo":
            reporter.report("E0102", span, "missing `octo: 1` (the language version)",
                            hint="add `octo: 1` as the first line")
        else:
            reporter.report("E0102", span, f"missing required key '{name}' in {_where(path)}")


def _non_finite(node: YNode) -> bool:
    return isinstance(node, YScalar) and isinstance(node.value, float) and not math.isfinite(node.value)


def _type(error, path, node, root, reporter) -> None:
    expected = error.validator_value
    kinds = [expected] if isinstance(expected, str) else list(expected)
    if _non_finite(node) and {"number", "integer"} & set(kinds):
        shown = "NaN" if math.isnan(node.value) else ("infinity" if node.value > 0 else "minus infinity")
        reporter.report("E0110", node.span, f"{_where(path)} must be a finite number, not {shown}",
                        hint="`.nan` and `.inf` are YAML's not-a-number and infinity; write a number")
        return
    want = " or ".join(_JSON_KIND.get(k, k) for k in kinds)
    got = _NODE_KIND.get(node.kind, node.kind)
    if "integer" in kinds and isinstance(node, YScalar) and isinstance(node.value, float):
        got = "a fraction"
    hint = ""
    if isinstance(node, YScalar) and node.is_str and {"number", "integer"} & set(kinds):
        hint = "write the number without quotes"
    reporter.report("E0103", node.span, f"{_where(path)} must be {want}, not {got}", hint=hint)


def _enum(error, path, node, root, reporter) -> None:
    allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
    value = node.value if isinstance(node, YScalar) else None
    if path == ["octo"]:
        reporter.report("E0106", node.span, f"unsupported language version {value!r}: this octoc reads version 1",
                        hint="write `octo: 1`")
        return
    hint = did_you_mean(str(value), [str(a) for a in allowed])
    shown = ", ".join(str(a) for a in allowed)
    reporter.report("E0104", node.span, f"{_where(path)} must be one of: {shown}", hint=hint)


def _bound(error, path, node, root, reporter) -> None:
    words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
             "exclusiveMaximum": "less than", "minItems": "at least", "minProperties": "at least"}
    limit = error.validator_value
    what = words[error.validator]
    if _non_finite(node):
        return  # reported as not finite (E0110)
    if error.validator in ("minItems", "minProperties"):
        reporter.report("E0104", node.span, f"{_where(path)} needs {what} {limit} entr{'y' if limit == 1 else 'ies'}")
        return
    shown = f"{limit:,}" if isinstance(limit, int) and abs(limit) >= 10_000 else limit
    reporter.report("E0104", node.span, f"{_where(path)} must be {what} {shown}, not {node.value}")


def _pattern(error, path, node, root, reporter) -> None:
    if isinstance(node, YMap) and isinstance(error.instance, str):  # a propertyNames failure: a bad key
        key = node.key(error.instance)
        what = {"steps": "step", "data": "data table"}.get(str(path[-1]) if path else "", "name")
        if key is not None:
            reporter.report("E0109", key.span, f"invalid {what} name '{key.value}'",
                            hint="names start with a letter or '_' and contain only letters, digits and '_' "
                                 "(they are used in expressions, like `walk.steps`)"
                                 + (f"; e.g. '{re.sub(r'[^A-Za-z0-9_]', '_', key.value).lstrip('0123456789')}'" if key.value else ""))
        return
    if path and path[-1] == "model" or (path and "model" in map(str, path)):
        reporter.report("E0104", node.span, f"model '{node.value}' must be written provider:model",
                        hint="e.g. openai:gpt-4.1-mini, anthropic:claude-haiku-4-5, gemini:gemini-2.5-flash; "
                             "or read it from the unit: unit.contender.model")
        return
    if path == ["name"]:
        reporter.report("E0109", node.span, f"invalid pipeline name '{node.value}'",
                        hint="use letters, digits, '-', '_' and '.', starting with a letter or digit")
        return
    reporter.report("E0104", node.span, f"{_where(path)} has an invalid value")


def _property_names(error, path, node, root, reporter) -> None:
    if not isinstance(node, YMap):
        return
    pattern = re.compile(error.schema["propertyNames"]["pattern"]) if "pattern" in error.schema.get("propertyNames", {}) else None
    for key, _ in node.items:
        if pattern is not None and not pattern.match(key.value):
            what = {"steps": "step", "data": "data table"}.get(str(path[-1]) if path else "", "name")
            reporter.report("E0109", key.span, f"invalid {what} name '{key.value}'",
                            hint="names start with a letter or '_' and contain only letters, digits and '_' "
                                 "(they are used in expressions, like `walk.steps`)")


def _one_of(error, path, node, root, reporter) -> None:
    if len(path) != 2 or path[0] != "steps" or not isinstance(node, YMap):
        return _any_of(error, path, node, root, reporter)
    kinds = [s["required"][0] for s in error.validator_value]
    present = [k for k in node.items if k[0].value in kinds]
    if not present:
        known = set(error.schema.get("properties", {}))
        if any(k.value not in known for k, _ in node.items):
            return  # an unknown key (probably a misspelt kind) is reported already
        key = _key_at(root, path)
        reporter.report("E0105", key.span if key else node.span, f"step '{path[1]}' has no kind",
                        hint=f"give it exactly one of: {', '.join(kinds)}")
        return
    first, *others = present
    reporter.report("E0105", others[0][0].span, f"step '{path[1]}' has more than one kind",
                    labels=[Label(first[0].span, "first kind here")],
                    hint="split it into two steps; the second can refer to the first by name")


def _any_of(error, path, node, root, reporter) -> None:
    kinds = []
    for sub in error.validator_value:
        t = sub.get("type")
        if t:
            kinds += [t] if isinstance(t, str) else t
    want = " or ".join(dict.fromkeys(_JSON_KIND.get(k, k) for k in kinds)) or "something else"
    matching = [s for s in error.validator_value if _type_matches(s.get("type"), node)]
    if len(matching) == 1:  # the right kind of value, with a problem inside: report that
        for sub in error.context:
            if sub.schema is matching[0] or sub.schema in matching[0].get("properties", {}).values():
                _translate_relative(sub, path, root, reporter)
        if any(True for _ in error.context):
            return
    hint = ""
    if "output" in map(str, path):
        hint = ("declare a type, not an example value: e.g. `int`, `float[0, 1]`, `list[str]`, `a | b`, "
                "or a nested mapping")
    reporter.report("E0103", node.span, f"{_where(path)} must be {want}, not {_NODE_KIND.get(node.kind, node.kind)}",
                    hint=hint)


def _type_matches(t, node: YNode) -> bool:
    kinds = [t] if isinstance(t, str) else (t or [])
    names = {"object": "mapping", "array": "list", "string": "string", "number": "number", "integer": "number",
             "boolean": "boolean", "null": "null"}
    return any(names.get(k) == node.kind for k in kinds)


def _translate_relative(sub, base_path, root, reporter) -> None:
    full = list(base_path) + list(sub.relative_path)
    node = _node_at(root, full)
    if node is not None:
        _HANDLERS.get(sub.validator, _generic)(sub, full, node, root, reporter)


def _generic(error, path, node, root, reporter) -> None:
    reporter.report("E0104", node.span, f"{_where(path)} is not valid here")


_HANDLERS = {
    "additionalProperties": _additional, "required": _required, "type": _type, "enum": _enum,
    "const": _enum, "minimum": _bound, "maximum": _bound, "exclusiveMinimum": _bound,
    "exclusiveMaximum": _bound, "minItems": _bound, "minProperties": _bound, "pattern": _pattern,
    "propertyNames": _property_names, "oneOf": _one_of, "anyOf": _any_of,
}
