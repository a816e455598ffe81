"""Expression ASTs as JSON-ready data, and back.

The Plan carries every expression as ``{"text", "at", "ast"}``: the runtime
compiles the ``ast`` without re-parsing, and quotes ``text`` and ``at``
(file:line:col) in its error messages. Node spans are kept as offsets into the
expression's text.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..base.source import Source, Span
from . import ast

_NODES = {cls.__name__: cls for cls in (
    ast.Literal, ast.Name, ast.Attribute, ast.Index, ast.Slice, ast.Unary, ast.Binary, ast.BoolOp,
    ast.Compare, ast.Conditional, ast.ListDisplay, ast.SetDisplay, ast.DictDisplay, ast.ComprehensionFor,
    ast.Comprehension, ast.Call)}
_SPAN_FIELDS = {"span", "attr_span", "op_span", "func_span"}


def expression_record(expr: ast.Expr) -> dict:
    """``{"text", "at", "ast"}`` for an expression written in a file."""
    base = expr.span.start
    return {"text": expr.span.text(), "at": f"{expr.span.path}:{expr.span.line}:{expr.span.column}",
            "ast": to_json(expr, base)}


def to_json(node: Any, base: int = 0) -> Any:
    if isinstance(node, ast.Node):
        out: dict[str, Any] = {"node": type(node).__name__}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if f.name in _SPAN_FIELDS:
                if f.name == "span":
                    out["at"] = [value.start - base, value.end - base]
                continue
            out[f.name] = to_json(value, base)
        return out
    if isinstance(node, tuple):
        return [to_json(v, base) for v in node]
    return node


def from_record(record: dict) -> ast.Expr:
    """Rebuild the AST of an expression record (spans point into its text)."""
    source = Source(record["at"], record["text"])
    return from_json(record["ast"], source)


def from_json(data: Any, source: Source) -> Any:
    if isinstance(data, dict) and "node" in data:
        cls = _NODES[data["node"]]
        start, end = data.get("at", [0, 0])
        span = Span(source, start, end)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in _SPAN_FIELDS:
                kwargs[f.name] = span
            elif f.name in data:
                value = from_json(data[f.name], source)
                kwargs[f.name] = tuple(value) if isinstance(value, list) and f.name != "value" else value
        return cls(**kwargs)
    if isinstance(data, list):
        return [from_json(v, source) for v in data]
    return data
