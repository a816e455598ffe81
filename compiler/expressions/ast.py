"""AST nodes for expressions and type declarations.

Frozen dataclasses; every node carries the :class:`Span` of its text *in the
.octo file* (not in the expression string), so any later phase can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ..base.source import Span


@dataclass(frozen=True)
class Node:
    span: Span


# --- expressions ----------------------------------------------------------------

@dataclass(frozen=True)
class Literal(Node):
    value: Any  # int, float, str, bool or None


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Attribute(Node):
    obj: "Expr"
    attr: str
    attr_span: Span


@dataclass(frozen=True)
class Index(Node):
    obj: "Expr"
    index: "Expr"


@dataclass(frozen=True)
class Slice(Node):
    obj: "Expr"
    lower: "Expr | None"
    upper: "Expr | None"


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-", "+", "not"
    operand: "Expr"


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / // % **
    left: "Expr"
    right: "Expr"
    op_span: Span


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # "and" | "or"
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Compare(Node):
    left: "Expr"
    ops: tuple[str, ...]  # < > == != <= >= in "not in"
    comparators: tuple["Expr", ...]


@dataclass(frozen=True)
class Conditional(Node):
    test: "Expr"
    body: "Expr"
    orelse: "Expr"


@dataclass(frozen=True)
class ListDisplay(Node):
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class SetDisplay(Node):
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class DictDisplay(Node):
    keys: tuple["Expr", ...]
    values: tuple["Expr", ...]


@dataclass(frozen=True)
class ComprehensionFor(Node):
    targets: tuple[Name, ...]
    iter: "Expr"
    conditions: tuple["Expr", ...]


@dataclass(frozen=True)
class Comprehension(Node):
    kind: str  # "list" | "set" | "dict"
    element: "Expr"  # the value for dicts
    key: "Expr | None"
    generators: tuple[ComprehensionFor, ...]


@dataclass(frozen=True)
class Call(Node):
    func: str
    func_span: Span
    args: tuple["Expr", ...]


Expr = Union[Literal, Name, Attribute, Index, Slice, Unary, Binary, BoolOp, Compare,
             Conditional, ListDisplay, SetDisplay, DictDisplay, Comprehension, Call]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, in source order."""
    match node:
        case Attribute(obj=o) | Index(obj=o):
            return (o, node.index) if isinstance(node, Index) else (o,)
        case Slice(obj=o, lower=lo, upper=up):
            return tuple(n for n in (o, lo, up) if n is not None)
        case Unary(operand=o):
            return (o,)
        case Binary(left=a, right=b) | BoolOp(left=a, right=b):
            return (a, b)
        case Compare(left=a, comparators=cs):
            return (a, *cs)
        case Conditional(test=t, body=b, orelse=e):
            return (b, t, e)
        case ListDisplay(items=xs) | SetDisplay(items=xs):
            return xs
        case DictDisplay(keys=ks, values=vs):
            return tuple(x for kv in zip(ks, vs) for x in kv)
        case Comprehension(element=el, key=k, generators=gens):
            head = (k, el) if k is not None else (el,)
            return head + gens
        case ComprehensionFor(targets=ts, iter=it, conditions=cs):
            return (*ts, it, *cs)
        case Call(args=args):
            return args
    return ()


def walk(node: Node):
    """Every node of a tree, parents before children, in source order."""
    yield node
    for child in children(node):
        yield from walk(child)


def free_names(expr: Expr) -> list[tuple[str, Span]]:
    """Names an expression reads that it does not bind itself (comprehension targets)."""
    out: list[tuple[str, Span]] = []
    _collect(expr, frozenset(), out)
    return out


def _collect(node: Node, bound: frozenset[str], out: list) -> None:
    if isinstance(node, Name):
        if node.id not in bound:
            out.append((node.id, node.span))
        return
    if isinstance(node, Comprehension):
        inner = bound
        for gen in node.generators:
            _collect(gen.iter, inner, out)
            inner = inner | {t.id for t in gen.targets}
            for cond in gen.conditions:
                _collect(cond, inner, out)
        for part in (node.key, node.element):
            if part is not None:
                _collect(part, inner, out)
        return
    for child in children(node):
        _collect(child, bound, out)


# --- type declarations ----------------------------------------------------------------

@dataclass(frozen=True)
class TypeName(Node):
    name: str  # str int float bool, or an enum member written bare


@dataclass(frozen=True)
class TypeQuoted(Node):
    value: str  # an enum member written as a quoted string


@dataclass(frozen=True)
class TypeBound(Node):
    value: float  # one side of `[low, high]`; its span is the number's


@dataclass(frozen=True)
class TypeBounds(Node):
    """`[low, high]` after a type; a side left empty (`[1, ]`) is None."""

    low: TypeBound | None
    high: TypeBound | None


@dataclass(frozen=True)
class TypeRange(Node):
    name: str  # int | float (any name parses: the checker says which may have a range)
    bounds: TypeBounds

    @property
    def low(self) -> float | None:
        return self.bounds.low.value if self.bounds.low is not None else None

    @property
    def high(self) -> float | None:
        return self.bounds.high.value if self.bounds.high is not None else None


@dataclass(frozen=True)
class TypeGeneric(Node):
    name: str  # list
    arg: "TypeExpr"
    bounds: TypeBounds | None = None  # item counts: `list[str][1, 5]`


@dataclass(frozen=True)
class TypeEnum(Node):
    members: tuple[Union[TypeName, TypeQuoted], ...]


@dataclass(frozen=True)
class TypeOptional(Node):
    inner: "TypeExpr"


TypeExpr = Union[TypeName, TypeQuoted, TypeRange, TypeGeneric, TypeEnum, TypeOptional]
