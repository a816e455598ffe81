"""AST nodes for expressions and type declarations.

Frozen dataclasses (see :func:`node`); every node carries the :class:`Span` of its text *in the
.octo file* (not in the expression string), so any later phase can point at it.
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, fields
from typing import Any, Union

from ..base.records import plain_dataclass
from ..base.source import Span


def node(cls):
    """A frozen dataclass whose methods are :class:`Node`'s, shared by every node class.

    ``dataclass(frozen=True)`` compiles six methods from generated source for each class, which made
    this module the costliest of `octoc check`'s imports (compiled code is not kept in the bytecode
    cache). These classes are still dataclasses (``fields``, ``replace``, ``__match_args__`` and
    ``match`` patterns work), immutable, compared and hashed by their fields in order."""
    cls = plain_dataclass(cls)
    cls._fields = tuple(f.name for f in fields(cls))
    cls._defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    return cls


@node
class Node:
    span: Span

    def __init__(self, *args, **kwargs):
        names = self._fields
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, not {len(args)}")
        put = object.__setattr__
        for name, value in zip(names, args):
            put(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                put(self, name, kwargs.pop(name))
            elif name in self._defaults:
                put(self, name, self._defaults[name])
            else:
                raise TypeError(f"{type(self).__name__}() is missing '{name}'")
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got an unexpected argument {', '.join(map(repr, kwargs))}")

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field '{name}'")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field '{name}'")


# --- expressions ----------------------------------------------------------------

@node
class Literal(Node):
    value: Any  # int, float, str, bool or None


@node
class Name(Node):
    id: str


@node
class Attribute(Node):
    obj: "Expr"
    attr: str
    attr_span: Span


@node
class Index(Node):
    obj: "Expr"
    index: "Expr"


@node
class Slice(Node):
    obj: "Expr"
    lower: "Expr | None"
    upper: "Expr | None"


@node
class Unary(Node):
    op: str  # "-", "+", "not"
    operand: "Expr"


@node
class Binary(Node):
    op: str  # + - * / // % **
    left: "Expr"
    right: "Expr"
    op_span: Span


@node
class BoolOp(Node):
    op: str  # "and" | "or"
    left: "Expr"
    right: "Expr"


@node
class Compare(Node):
    left: "Expr"
    ops: tuple[str, ...]  # < > == != <= >= in "not in"
    comparators: tuple["Expr", ...]


@node
class Conditional(Node):
    test: "Expr"
    body: "Expr"
    orelse: "Expr"


@node
class ListDisplay(Node):
    items: tuple["Expr", ...]


@node
class SetDisplay(Node):
    items: tuple["Expr", ...]


@node
class DictDisplay(Node):
    keys: tuple["Expr", ...]
    values: tuple["Expr", ...]


@node
class ComprehensionFor(Node):
    targets: tuple[Name, ...]
    iter: "Expr"
    conditions: tuple["Expr", ...]


@node
class Comprehension(Node):
    kind: str  # "list" | "set" | "dict"
    element: "Expr"  # the value for dicts
    key: "Expr | None"
    generators: tuple[ComprehensionFor, ...]


@node
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

@node
class TypeName(Node):
    name: str  # str int float bool, or an enum member written bare


@node
class TypeQuoted(Node):
    value: str  # an enum member written as a quoted string


@node
class TypeBound(Node):
    value: float  # one side of `[low, high]`; its span is the number's


@node
class TypeBounds(Node):
    """`[low, high]` after a type; a side left empty (`[1, ]`) is None."""

    low: TypeBound | None
    high: TypeBound | None


@node
class TypeRange(Node):
    name: str  # int | float (any name parses: the checker says which may have a range)
    bounds: TypeBounds

    @property
    def low(self) -> float | None:
        return self.bounds.low.value if self.bounds.low is not None else None

    @property
    def high(self) -> float | None:
        return self.bounds.high.value if self.bounds.high is not None else None


@node
class TypeGeneric(Node):
    name: str  # list
    arg: "TypeExpr"
    bounds: TypeBounds | None = None  # item counts: `list[str][1, 5]`


@node
class TypeEnum(Node):
    members: tuple[Union[TypeName, TypeQuoted], ...]


@node
class TypeOptional(Node):
    inner: "TypeExpr"


TypeExpr = Union[TypeName, TypeQuoted, TypeRange, TypeGeneric, TypeEnum, TypeOptional]
