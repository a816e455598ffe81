"""Static types of the .octo language, and output declarations → JSON Schema.

One declaration (``{verse: str, mood: hopeful | grim}``) yields both the static
type the checker uses and the JSON Schema sent to providers and used to
validate what comes back, so the two can never disagree.
"""

from __future__ import annotations

import math

from ..base.records import record_class
from . import ast


class Type:
    def describe(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.describe()


@record_class(frozen=True)
class Prim(Type):
    name: str  # int float str bool null any

    def describe(self) -> str:
        return self.name


@record_class(frozen=True)
class EnumT(Type):
    """A string known to be one of ``values`` (also the type of a string literal)."""

    values: tuple[str, ...]

    def describe(self) -> str:
        return " | ".join(f"'{v}'" for v in self.values)


@record_class(frozen=True)
class ListT(Type):
    """A list; ``min_items``/``max_items`` are declared item counts (inclusive), None when unbounded.

    The counts are facts about a declared output (what its JSON Schema allows), read by estimates
    and fan-out; typing rules treat a bounded list as a list. An operation that makes a new list
    (``+``, ``*``, slicing, comprehensions, built-ins) gives an unbounded one."""

    elem: Type
    min_items: int | None = None
    max_items: int | None = None

    @property
    def bounded(self) -> bool:
        return self.min_items is not None or self.max_items is not None

    def unbounded(self) -> "ListT":
        return ListT(self.elem) if self.bounded else self

    def describe(self) -> str:
        counts = ""
        if self.bounded:
            low = "" if self.min_items is None else str(self.min_items)
            high = "" if self.max_items is None else str(self.max_items)
            counts = f"[{low}, {high}]" if high else f"[{low}, ]"
        return f"list[{self.elem.describe()}]{counts}"


@record_class(frozen=True)
class SetT(Type):
    elem: Type

    def describe(self) -> str:
        return f"set[{self.elem.describe()}]"


@record_class(frozen=True)
class DictT(Type):
    key: Type
    value: Type

    def describe(self) -> str:
        return f"dict[{self.key.describe()}, {self.value.describe()}]"


@record_class(frozen=True)
class RecordT(Type):
    """Named fields: a data row, a step's outputs, ``unit``. ``what`` names it in messages."""

    fields: tuple[tuple[str, Type], ...]
    what: str = "record"

    def field(self, name: str) -> Type | None:
        for k, t in self.fields:
            if k == name:
                return t
        return None

    def names(self) -> list[str]:
        return [k for k, _ in self.fields]

    def describe(self) -> str:
        inner = ", ".join(f"{k}: {t.describe()}" for k, t in self.fields)
        return "{" + inner + "}"


@record_class(frozen=True)
class OptionalT(Type):
    inner: Type

    def describe(self) -> str:
        return f"{self.inner.describe()}?"


INT, FLOAT, STR, BOOL, NULL, ANY = (Prim(n) for n in ("int", "float", "str", "bool", "null", "any"))


def record(fields: dict[str, Type], what: str = "record") -> RecordT:
    return RecordT(tuple(fields.items()), what)


def strip(t: Type) -> Type:
    """The type without its optional wrapper (nulls propagate at run time)."""
    return t.inner if isinstance(t, OptionalT) else t


def optional(t: Type) -> Type:
    return t if isinstance(t, OptionalT) or t in (NULL, ANY) else OptionalT(t)


def is_any(t: Type) -> bool:
    return strip(t) == ANY


def is_str(t: Type) -> bool:
    return strip(t) in (STR, ANY) or isinstance(strip(t), EnumT)


def is_number(t: Type, allow_bool: bool = False) -> bool:
    ok = (INT, FLOAT, ANY, BOOL) if allow_bool else (INT, FLOAT, ANY)
    return strip(t) in ok


def is_bool(t: Type) -> bool:
    return strip(t) in (BOOL, ANY)


def elem_of(t: Type) -> Type | None:
    """What iterating over ``t`` yields, or None when it is not iterable."""
    t = strip(t)
    if isinstance(t, (ListT, SetT)):
        return t.elem
    if isinstance(t, DictT):
        return t.key
    if t == STR or isinstance(t, EnumT):
        return STR
    if t == ANY:
        return ANY
    return None


def join(a: Type, b: Type) -> Type | None:
    """The smallest type holding both, or None when they do not mix."""
    if a == b:
        return a
    if a == NULL:
        return optional(b)
    if b == NULL:
        return optional(a)
    if isinstance(a, OptionalT) or isinstance(b, OptionalT):
        inner = join(strip(a), strip(b))
        return optional(inner) if inner is not None else None
    if ANY in (a, b):
        return ANY
    if {a, b} == {INT, FLOAT}:
        return FLOAT
    if isinstance(a, EnumT) and isinstance(b, EnumT):
        merged = a.values + tuple(v for v in b.values if v not in a.values)
        return EnumT(merged) if len(merged) <= 64 else STR
    if is_str(a) and is_str(b):
        return STR
    if isinstance(a, ListT) and isinstance(b, ListT):
        inner = join(a.elem, b.elem)
        return ListT(inner, *_count_hull(a, b)) if inner is not None else None
    if isinstance(a, SetT) and isinstance(b, SetT):
        inner = join(a.elem, b.elem)
        return SetT(inner) if inner is not None else None
    if isinstance(a, DictT) and isinstance(b, DictT):
        k, v = join(a.key, b.key), join(a.value, b.value)
        return DictT(k, v) if k is not None and v is not None else None
    if isinstance(a, RecordT) and isinstance(b, RecordT) and a.names() == b.names():
        fields = [(n, join(ta, tb)) for (n, ta), (_, tb) in zip(a.fields, b.fields)]
        if all(t is not None for _, t in fields):
            return RecordT(tuple(fields), a.what)  # type: ignore[arg-type]
    return None


def _count_hull(a: ListT, b: ListT) -> tuple[int | None, int | None]:
    """The item counts a list of either type may have: the fewest of both minimums (none counts
    as 0), the most of both maximums (none is unbounded)."""
    high = None if a.max_items is None or b.max_items is None else max(a.max_items, b.max_items)
    if a.min_items is None and b.min_items is None:
        return None, high
    low = min(a.min_items or 0, b.min_items or 0)
    return (None, None) if low == 0 and high is None else (low, high)


def assignable(value: Type, target: Type) -> bool:
    """Can a value of type ``value`` be stored where ``target`` is expected?"""
    return join(value, target) == target or is_any(value) or is_any(target)


def literal_type(value) -> Type:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return EnumT((value,))
    return ANY


def value_type(value) -> Type:
    """The type of a data value (strings are plain ``str``, not enums)."""
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        elem: Type | None = None
        for v in value:
            t = value_type(v)
            elem = t if elem is None else (join(elem, t) or ANY)
        return ListT(elem or ANY)
    if isinstance(value, dict):
        return record({str(k): value_type(v) for k, v in value.items()})
    return literal_type(value)


# --- type declarations → (static type, JSON Schema) ------------------------------------

PRIMITIVES = {"str": ("string", STR), "int": ("integer", INT), "float": ("number", FLOAT), "bool": ("boolean", BOOL)}


class TypeDeclError(Exception):
    def __init__(self, node: ast.Node, code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.node, self.code, self.message, self.hint = node, code, message, hint


def declared(node: ast.TypeExpr) -> tuple[Type, dict]:
    """Static type and JSON Schema of a parsed type declaration."""
    match node:
        case ast.TypeOptional(inner=inner):
            t, schema = declared(inner)
            return optional(t), {"anyOf": [schema, {"type": "null"}]}
        case ast.TypeEnum(members=members):
            values = tuple(m.name if isinstance(m, ast.TypeName) else m.value for m in members)
            typeish = next((m for m in members if isinstance(m, ast.TypeName) and m.name in (*PRIMITIVES, "list")), None)
            if typeish is not None:
                raise TypeDeclError(typeish, "E0210", f"'{typeish.name}' in an enum is read as the word '{typeish.name}', "
                                    "not as a type: octo has no union types",
                                    f"for the words, quote them ('{typeish.name}' | ...); for a value of either type, use str")
            dup = next((m for i, m in enumerate(members) if values[i] in values[:i]), None)
            if dup is not None:
                raise TypeDeclError(dup, "E0210", "enum member listed twice")
            return EnumT(values), {"type": "string", "enum": list(values)}
        case ast.TypeQuoted(value=v):
            return EnumT((v,)), {"type": "string", "enum": [v]}
        case ast.TypeName(name=name):
            if name not in PRIMITIVES:
                raise TypeDeclError(node, "E0210", f"unknown type '{name}'",
                                    "types are str, int, float, bool, str[min, max], int[a, b], float[a, b], list[T], T? "
                                    "and enums written `a | b | c`")
            json_name, t = PRIMITIVES[name]
            return t, {"type": json_name}
        case ast.TypeRange(name="list"):
            raise TypeDeclError(node, "E0222", "a list needs its element type before its item counts",
                                f"write list[T]{_bounds_text(node.bounds)}, e.g. list[str]{_bounds_text(node.bounds)}")
        case ast.TypeRange(name="str"):
            low, high = string_lengths(node.bounds)
            lengths = {k: v for k, v in (("minLength", low), ("maxLength", high)) if v is not None}
            return STR, {"type": "string", **lengths}
        case ast.TypeRange(name=name):
            if name not in ("int", "float"):
                raise TypeDeclError(node, "E0216", f"'{name}' cannot have a range; only int and float can "
                                    "(and str a length, list[T] item counts)")
            return number_range(node, name)
        case ast.TypeGeneric(name=name, arg=arg, bounds=bounds):
            if name != "list":
                raise TypeDeclError(node, "E0210", f"unknown type '{name}[...]'", "the only generic type is list[T]")
            t, schema = declared(arg)
            low, high = item_counts(bounds, t) if bounds is not None else (None, None)
            counts = {k: v for k, v in (("minItems", low), ("maxItems", high)) if v is not None}
            return ListT(t, low, high), {"type": "array", "items": schema, **counts}
    raise TypeDeclError(node, "E0210", "unsupported type")


def number_range(node: ast.TypeRange, name: str) -> tuple[Type, dict]:
    """`int[a, b]`/`float[a, b]`: the static type and its schema with `minimum`/`maximum`; a side
    left empty is unbounded (`int[0, ]`), both left empty is E0216."""
    low, high = node.low, node.high
    if low is None and high is None:
        raise TypeDeclError(node.bounds, "E0216", f"a range of {name} needs at least one bound",
                            f"write {name}[0, 100] (0 to 100), {name}[0, ] (at least 0) or {name}[, 100] (at most 100)")
    bad = next((b for b in (node.bounds.low, node.bounds.high) if b is not None and not math.isfinite(b.value)), None)
    if bad is not None:
        raise TypeDeclError(bad, "E0216", "a range bound must be a finite number",
                            f"for no bound on this side, leave it empty: {name}{_bounds_text(node.bounds, without=bad)}")
    if low is not None and high is not None and low > high:
        raise TypeDeclError(node, "E0216", f"empty range: {_num(low)} is greater than {_num(high)}",
                            f"write {name}[{_num(high)}, {_num(low)}]")
    if name == "int" and any(b is not None and b != int(b) for b in (low, high)):
        raise TypeDeclError(node, "E0216", "an int range needs whole-number bounds")
    json_name, t = PRIMITIVES[name]
    limits = {k: _num(v) for k, v in (("minimum", low), ("maximum", high)) if v is not None}
    return t, {"type": json_name, **limits}


# No answer is longer than this many characters: `max_tokens` is at most 1,000,000 and a token
# is rarely more than a few characters (language.MAX_OUTPUT_TOKENS).
MAX_STRING_LENGTH = 100_000_000


def string_lengths(bounds: ast.TypeBounds) -> tuple[int | None, int | None]:
    """The (min_length, max_length) in characters of `str[low, high]`, or E0230 naming the bad bound.
    The static type stays `str`: the lengths are facts about the answer, held by its JSON Schema."""
    if bounds.low is None and bounds.high is None:
        raise TypeDeclError(bounds, "E0230", "a string length needs at least one bound",
                            "write str[1, 280] (1 to 280 characters), str[1, ] (not empty) or str[, 280] (at most 280)")
    for bound in (bounds.low, bounds.high):
        if bound is None:
            continue
        unbounded = "str" + _bounds_text(bounds, without=bound)
        if bound.value < 0:
            raise TypeDeclError(bound, "E0230", f"a string length cannot be negative ({_num(bound.value)})",
                                f"for no bound on this side, leave it empty: {unbounded}")
        if not math.isfinite(bound.value) or bound.value > MAX_STRING_LENGTH:
            raise TypeDeclError(bound, "E0230", f"a string length is at most {MAX_STRING_LENGTH:,} characters",
                                f"for no bound on this side, leave it empty: {unbounded}")
        if not bound.value.is_integer():
            raise TypeDeclError(bound, "E0230", f"a string length is a whole number, not {_num(bound.value)}",
                                f"write {math.floor(bound.value)} or {math.ceil(bound.value)}")
    low = int(bounds.low.value) if bounds.low is not None else None
    high = int(bounds.high.value) if bounds.high is not None else None
    if low is not None and high is not None and low > high:
        raise TypeDeclError(bounds, "E0230", f"no string has at least {low} and at most {high} characters",
                            f"write the shortest first: str[{high}, {low}]")
    return (None, None) if low == 0 and high is None else (low, high)


# No answer holds more items than tokens, and `max_tokens` is at most 1,000,000 (language.MAX_OUTPUT_TOKENS).
MAX_LIST_ITEMS = 1_000_000


def item_counts(bounds: ast.TypeBounds, elem: Type) -> tuple[int | None, int | None]:
    """The (min_items, max_items) of `list[T][low, high]`, or E0221 naming the bad bound."""
    example = f"list[{elem.describe()}]"
    if bounds.low is None and bounds.high is None:
        raise TypeDeclError(bounds, "E0221", "item counts need at least one bound",
                            f"write {example}[1, 5] (1 to 5 items), {example}[1, ] (at least 1) "
                            f"or {example}[, 5] (at most 5)")
    for bound in (bounds.low, bounds.high):
        if bound is None:
            continue
        unbounded = example + _bounds_text(bounds, without=bound)
        if bound.value < 0:
            raise TypeDeclError(bound, "E0221", f"an item count cannot be negative ({_num(bound.value)})",
                                f"a list has 0 items or more; for no bound on this side, leave it empty: {unbounded}")
        if not math.isfinite(bound.value) or bound.value > MAX_LIST_ITEMS:
            raise TypeDeclError(bound, "E0221", f"an item count is at most {MAX_LIST_ITEMS:,}",
                                "no answer holds more items than max_tokens allows tokens; "
                                f"for no bound on this side, leave it empty: {unbounded}")
        if not bound.value.is_integer():
            raise TypeDeclError(bound, "E0221", f"an item count is a whole number, not {_num(bound.value)}",
                                f"write {math.floor(bound.value)} or {math.ceil(bound.value)}")
    low = int(bounds.low.value) if bounds.low is not None else None
    high = int(bounds.high.value) if bounds.high is not None else None
    if low is not None and high is not None and low > high:
        raise TypeDeclError(bounds, "E0221", f"no list has at least {low} and at most {high} items",
                            f"write the fewest first: {example}[{high}, {low}]")
    return (None, None) if low == 0 and high is None else (low, high)


def _bounds_text(bounds: ast.TypeBounds, without: ast.TypeBound | None = None) -> str:
    """`[low, high]` as written (numbers normalised), the side ``without`` left empty."""
    low, high = ("" if b is None or b is without else str(_num(b.value)) for b in (bounds.low, bounds.high))
    return f"[{low}, {high}]" if low or high else "[1, 5]"


def _num(x: float) -> int | float:
    return int(x) if math.isfinite(x) and float(x).is_integer() else x


def stored_type(t: Type) -> Type:
    """The type of a value once stored: a set is stored as the list of its items in ascending order
    (docs/language.md, Evaluation, "What is stored"), so steps downstream see a list."""
    if isinstance(t, SetT):
        return ListT(stored_type(t.elem))
    if isinstance(t, ListT):
        return ListT(stored_type(t.elem), t.min_items, t.max_items)
    if isinstance(t, DictT):
        return DictT(t.key, stored_type(t.value))
    if isinstance(t, OptionalT):
        return optional(stored_type(t.inner))
    if isinstance(t, RecordT):
        return RecordT(tuple((name, stored_type(f)) for name, f in t.fields), t.what)
    return t
