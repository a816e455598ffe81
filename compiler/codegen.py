"""Checked expression ASTs → Python functions, compiled once.

:func:`compile_expression` turns an expression into the source of one Python
function — one statement per operation, every intermediate value in a local
variable — and ``compile()``s it, the way Jinja compiles templates; evaluating
it never walks the AST again. The generated code

- reads free names from ``env`` once, at the top (``v_<name> = env['name']``);
- reads record fields and dict keys by subscript only (records are dicts): it
  contains no attribute access at all, so ``__class__`` and friends cannot be
  reached whatever a name or field is called;
- runs with ``{"__builtins__": {}}``: the only callables it can reach are the
  helpers below and the built-in functions' implementations it was given,
  under the names ``f_<name>``;
- propagates nulls: an arithmetic or ordering operation, a field access, an
  index or a slice with a null operand gives null; ``and``/``or``/``not``
  follow three-valued (Kleene) logic; ``==``/``!=`` compare normally;
- compiles each comprehension to a nested function (its loop variables are
  locals named ``c<k>_<name>``, so they cannot leak or clash), whose loops
  charge a per-evaluation work budget.

Every run-time failure becomes an :class:`EvalError` with a plain message.
Python exceptions are translated after the fact: each generated line is mapped
to the AST node it computes, and the operands' values are read back from the
failing frame, so the fast path carries no bookkeeping.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import ast
from .functions import Function
from .source import Span

MAX_ITEMS = 1_000_000  # longest string or list an expression may build
MAX_DIGITS = 10_000  # largest int (in decimal digits) that ** and * may build
WORK_BUDGET = 10_000_000  # comprehension iterations + items built inside them, per evaluation

_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1


class EvalError(Exception):
    """A run-time failure of an expression, in plain words.

    ``span`` is the failing sub-expression when known (set by
    :meth:`CompiledExpression.evaluate`); the caller adds the location.
    """

    def __init__(self, message: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span

    def where(self) -> str:
        return _where(self.span) if self.span is not None else ""


def _where(span: Span) -> str:
    """``file:line:col``. A span of an AST rebuilt from a Plan record points into the
    expression's own text, whose source is named ``file:line:col`` of the expression:
    the two positions are added up."""
    origin = _ORIGIN.fullmatch(span.path)
    if origin is None:
        return f"{span.path}:{span.line}:{span.column}"
    path, line, col = origin.group(1), int(origin.group(2)), int(origin.group(3))
    if span.line == 1:
        return f"{path}:{line}:{col + span.column - 1}"
    return f"{path}:{line + span.line - 1}:{span.column}"


_ORIGIN = re.compile(r"(.+):(\d+):(\d+)")


# --- run-time helpers (the only callables the generated code sees, with the impls) -------

_SEQ = (str, list)
_SIZED = (str, list, set, frozenset, dict, tuple)


def _too_long(value, how: str, n: int) -> EvalError:
    what, unit = ("string", "characters") if isinstance(value, str) else (_kind_word(value), "items")
    return EvalError(f"a {what} built by {how} would have {n:,} {unit}; the limit is {MAX_ITEMS:,}")


def _add(a, b):
    if a is None or b is None:
        return None
    ca = a.__class__
    if ca is int or ca is float:
        return a + b
    if ca in _SEQ and b.__class__ is ca and len(a) + len(b) > MAX_ITEMS:
        raise _too_long(a, "'+'", len(a) + len(b))
    return a + b


def _mul(a, b):
    if a is None or b is None:
        return None
    ca, cb = a.__class__, b.__class__
    if ca in _SEQ or cb in _SEQ:
        seq, n = (a, b) if ca in _SEQ else (b, a)
        if n.__class__ in (int, bool) and len(seq) * n > MAX_ITEMS:
            raise _too_long(seq, "'*'", len(seq) * n)
    elif ca is int and cb is int and a.bit_length() + b.bit_length() > _MAX_BITS:
        raise EvalError(f"the product would have more than {MAX_DIGITS:,} digits")
    return a * b


def _mod(a, b):
    if a is None or b is None:
        return None
    if a.__class__ is str:  # never printf-style formatting
        raise TypeError("unsupported operand")
    return a % b


def _pow(a, b):
    if a is None or b is None:
        return None
    ints = (int, bool)
    if a.__class__ in ints and b.__class__ in ints:
        if b >= 0:
            if abs(a) > 1 and b * math.log10(abs(a)) > MAX_DIGITS:
                digits = b * math.log10(abs(a))
                raise EvalError(f"the result of '**' would have about {digits:,.0f} digits; the limit is {MAX_DIGITS:,}")
            return a ** b
        if a == 0:
            raise EvalError("zero cannot be raised to a negative power")
    try:
        r = a ** b
    except OverflowError:
        raise EvalError("the result of '**' is too large for a float") from None
    except ZeroDivisionError:
        raise EvalError("zero cannot be raised to a negative power") from None
    if r.__class__ is complex:
        raise EvalError("a negative number to a fractional power has no real value")
    return r


def _in(a, b):
    if b is None or (a is None and b.__class__ is str):
        return None
    return a in b


def _not_in(a, b):
    r = _in(a, b)
    return None if r is None else not r


def _canon_key(x):
    if x is None:
        return (0, 0)
    if isinstance(x, (bool, int, float)):
        return (1, x)
    return (2, x) if isinstance(x, str) else (3, repr(x))


def ordered(xs):
    """Iterable ``xs`` in a reproducible order: sets are sorted (their own order
    depends on per-process string hashing); everything else keeps its order."""
    if isinstance(xs, (set, frozenset)):
        try:
            return sorted(xs, key=_canon_key)
        except TypeError:
            return list(xs)
    return xs


def _limit(xs):
    if len(xs) > MAX_ITEMS:
        raise _too_long(xs, "a comprehension", len(xs))
    return xs


def _charge(budget, value):
    if value.__class__ in _SIZED:
        budget -= len(value)
    if budget < 0:
        _over()
    return budget


def _over():
    raise EvalError(f"this expression does too much work: more than {WORK_BUDGET:,} loop iterations "
                    "and items built inside comprehensions")


_PENDING = object()  # a conditional chain's value before a branch is taken


def _no_rng():
    raise EvalError("this expression draws random numbers, but no random stream was given")


_HELPERS: dict[str, Any] = {"_no_rng": _no_rng, "_PENDING": _PENDING,
    "_add": _add, "_mul": _mul, "_mod": _mod, "_pow": _pow, "_in": _in, "_not_in": _not_in,
    "_iter": ordered, "_limit": _limit, "_charge": _charge, "_over": _over,
}


# --- the compiled expression ---------------------------------------------------------------

@dataclass(frozen=True)
class _Site:
    """What one generated line computes, to explain a failure on it."""

    kind: str  # name field index slice unary binary compare call for set-item dict-key
    node: Any  # the AST node
    operands: tuple = ()  # _Val of the operands, in order
    op: str = ""


_counter = itertools.count()


@dataclass(eq=False)
class CompiledExpression:
    expr: ast.Expr
    label: str
    source: str  # the generated Python source
    names: tuple[str, ...]  # the free names read from env
    random: bool  # calls a random built-in (needs an rng)
    _fn: Callable = field(repr=False)
    _filename: str = field(repr=False)
    _sites: dict[int, _Site] = field(repr=False)

    @property
    def span(self) -> Span:
        return self.expr.span

    def where(self) -> str:
        """``file:line:col`` of the expression."""
        return _where(self.expr.span)

    def evaluate(self, env: Mapping[str, Any], rng=None) -> Any:
        """The expression's value for ``env`` (free name → value); ``rng`` is the unit's
        random stream, needed when the expression calls a random built-in."""
        try:
            return self._fn(env, rng)
        except EvalError as err:
            if err.span is None:
                located = self._locate(err)
                err.span = located[0].node.span if located else self.span
            raise
        except Exception as exc:  # every other failure, in plain words
            raise self._explain(exc) from exc

    __call__ = evaluate

    # --- error translation ---------------------------------------------------------

    def _locate(self, exc: BaseException) -> tuple[_Site, dict] | None:
        """The generated line that failed (the innermost frame of our code) and its locals."""
        tb, found = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                found = tb
            tb = tb.tb_next
        if found is None or found.tb_lineno not in self._sites:
            return None
        return self._sites[found.tb_lineno], found.tb_frame.f_locals

    def _explain(self, exc: Exception) -> EvalError:
        located = self._locate(exc)
        if located is None:
            return EvalError(_plain(exc), self.span)
        site, local = located
        values = [v.value_in(local) for v in site.operands]
        try:
            message = _message(exc, site, values)
        except Exception:  # never let the explanation fail
            message = _plain(exc)
        return EvalError(message, site.node.span)


def _plain(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, RecursionError):
        return "values nested too deeply"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    text = str(exc) or type(exc).__name__
    return text.replace("NoneType", "null").replace("'None'", "null")


def _text(node) -> str:
    try:
        text = node.span.text()
    except Exception:
        return "this value"
    text = " ".join(text.split())
    return f"`{text}`" if len(text) <= 60 else "this value"


def _message(exc: Exception, site: _Site, values: list) -> str:
    node, kind = site.node, site.kind
    if isinstance(exc, (MemoryError, RecursionError)):
        return _plain(exc)
    if kind == "name":
        return f"no value was given for '{node.id}'"
    if kind == "field":
        (obj,) = values
        if isinstance(obj, dict):
            return f"{_text(node.obj)} has no field '{node.attr}'{_has(obj)}"
        return f"{_text(node.obj)} is {describe(obj)}, which has no field '{node.attr}'"
    if kind == "index":
        obj, idx = values
        if isinstance(exc, IndexError) and isinstance(obj, (list, str, tuple)):
            return f"index {idx} out of range for {_sized_word(obj)}"
        if isinstance(exc, KeyError) and isinstance(obj, dict):
            return f"key {_short_repr(idx)} not found in {_text(node.obj)}{_has(obj)}"
        if isinstance(obj, (list, str, tuple)):
            return f"{_kind_word(obj)} index must be a whole number, not {describe(idx)}"
        if isinstance(obj, dict):
            return f"{describe(idx)} cannot be a dict key"
        return f"cannot index {describe(obj)}"
    if kind == "slice":
        obj = values[0]
        if isinstance(obj, (list, str, tuple)):
            return f"slice bounds must be whole numbers, not {' and '.join(describe(v) for v in values[1:])}"
        return f"cannot slice {describe(obj)}"
    if kind == "unary":
        return f"'{site.op}' needs a number, not {describe(values[0])}"
    if kind == "binary":
        op = site.op
        if isinstance(exc, ZeroDivisionError):
            return "modulo by zero" if op == "%" else "division by zero"
        if isinstance(exc, OverflowError):
            return f"the result of '{op}' is too large for a float"
        if isinstance(exc, TypeError):
            return f"'{op}' cannot combine {describe(values[0])} and {describe(values[1])}"
        return f"'{op}': {_plain(exc)}"
    if kind == "compare":
        a, b = values
        if site.op in ("in", "not in"):
            if isinstance(b, (set, frozenset, dict)):
                return f"{describe(a)} cannot be looked up in a {'set' if isinstance(b, (set, frozenset)) else 'dict'}"
            if isinstance(b, str):
                return f"'{site.op}' looks for a string in a string, not for {describe(a)}"
            return f"'{site.op}' needs a list, set, dict or string on its right, not {describe(b)}"
        return f"'{site.op}' cannot order {describe(a)} and {describe(b)}"
    if kind == "call":
        return f"{node.func}(): {_plain(exc)}"
    if kind == "for":
        (it,) = values
        if isinstance(exc, ValueError):
            n = len(node.targets)
            return f"cannot unpack an item of {_text(node.iter)} into {n} names ({_plain(exc)})"
        return f"cannot loop over {describe(it)}"
    if kind in ("set-item", "dict-key"):
        bad = next((v for v in values if isinstance(v, (list, dict, set))), values[0] if values else None)
        return f"{describe(bad)} cannot be a {'set item' if kind == 'set-item' else 'dict key'}"
    return _plain(exc)


def _has(d: dict) -> str:
    keys = [str(k) for k in list(d)[:12]]
    if not keys:
        return " (it is empty)"
    return f" (it has: {', '.join(keys)}{', ...' if len(d) > 12 else ''})"


def _kind_word(v) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, (set, frozenset)):
        return "set"
    return "dict" if isinstance(v, dict) else "list"


def _sized_word(v) -> str:
    n = len(v)
    if isinstance(v, str):
        return f"a string of {n} character{'s' if n != 1 else ''}"
    return f"a list of {n}"


def _short_repr(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an int of about {int(v.bit_length() * math.log10(2)) + 1} digits"
    if isinstance(v, str):
        return repr(v) if len(v) <= 40 else repr(v[:37]) + "..."
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def describe(v) -> str:
    """A value in words: 'an int (5)', 'a list of 3 items', 'null'."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"a bool ({'true' if v else 'false'})"
    if isinstance(v, int):
        return f"an int ({_short_repr(v)})" if v.bit_length() <= 64 else _short_repr(v)
    if isinstance(v, float):
        return f"a float ({v!r})"
    if isinstance(v, str):
        return f"a string ({_short_repr(v)})"
    if isinstance(v, (list, tuple, set, frozenset)):
        n = len(v)
        return f"a {'set' if isinstance(v, (set, frozenset)) else 'list'} of {n} item{'s' if n != 1 else ''}"
    if isinstance(v, dict):
        if v and all(isinstance(k, str) for k in v):
            return f"a record with fields {', '.join(list(v)[:8])}{', ...' if len(v) > 8 else ''}"
        return f"a dict of {len(v)} entr{'ies' if len(v) != 1 else 'y'}"
    return f"a {type(v).__name__}"


# --- code generation ---------------------------------------------------------------------

_NOCONST = object()


@dataclass(frozen=True)
class _Val:
    """An operand in the generated code: a local's name or a literal's source."""

    code: str
    nonnull: bool = False  # statically known not to be null
    kind: str | None = None  # "num" "str" "bool" "list" "set" "dict" when known
    const: Any = _NOCONST  # the literal's value

    def value_in(self, local: Mapping[str, Any]) -> Any:
        if self.const is not _NOCONST:
            return self.const
        return local.get(self.code)


def _guard(*vals: _Val) -> str:
    return " or ".join(f"{v.code} is None" for v in vals if not v.nonnull)


def _unless_null(vals: tuple[_Val, ...], code: str) -> str:
    g = _guard(*vals)
    return f"None if {g} else {code}" if g else code


class _Generator:
    def __init__(self, functions: Mapping[str, Function]):
        self.functions = functions
        self.lines: list[tuple[int, str, _Site | None]] = []
        self.prologue: list[tuple[str, _Site | None]] = []
        self.indent = 1
        self.n = 0
        self.free: dict[str, str] = {}
        self.scopes: list[dict[str, str]] = []
        self.loops = 0  # lexical loop depth: code here may run many times per evaluation
        self.namespace: dict[str, Any] = {}
        self.random = False
        self.budget = False

    # --- plumbing ----------------------------------------------------------------------

    def emit(self, text: str, site: _Site | None = None) -> None:
        self.lines.append((self.indent, text, site))

    def tmp(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def assign(self, code: str, site: _Site | None = None, **kw) -> _Val:
        t = self.tmp()
        self.emit(f"{t} = {code}", site)
        return _Val(t, **kw)

    def charge(self, val: _Val) -> None:
        """Inside a loop, what an operation builds counts against the work budget."""
        if self.loops:
            self.emit(f"_budget = _charge(_budget, {val.code})")

    def expr(self, e: ast.Expr) -> _Val:
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise EvalError(f"cannot compile a {type(e).__name__}", e.span)
        return method(e)

    def assemble(self, result: _Val) -> tuple[str, dict[int, _Site]]:
        out = ["def _octo_eval(env, rng):"]
        sites: dict[int, _Site] = {}
        for text, site in self.prologue:
            out.append("    " + text)
            if site is not None:
                sites[len(out)] = site
        if self.random:
            out.append("    if rng is None:")
            out.append("        _no_rng()")
        if self.budget:
            out.append(f"    _budget = {WORK_BUDGET}")
        for indent, text, site in self.lines:
            out.append("    " * indent + text)
            if site is not None:
                sites[len(out)] = site
        out.append(f"    return {result.code}")
        return "\n".join(out) + "\n", sites

    # --- leaves ------------------------------------------------------------------------

    def _Literal(self, e: ast.Literal) -> _Val:
        v = e.value
        if v is None:
            return _Val("None", const=None)
        if isinstance(v, bool):
            return _Val(repr(v), True, "bool", v)
        if isinstance(v, float) and not math.isfinite(v):
            name = f"k{len(self.namespace)}"
            self.namespace[name] = v
            return _Val(name, True, "num", v)
        if isinstance(v, (int, float)):
            return _Val(repr(v), True, "num", v)
        if isinstance(v, str):
            return _Val(repr(v), True, "str", v)
        raise EvalError(f"unsupported literal {v!r}", e.span)

    def _Name(self, e: ast.Name) -> _Val:
        for scope in reversed(self.scopes):
            if e.id in scope:
                return _Val(scope[e.id])
        py = self.free.get(e.id)
        if py is None:
            py = self.free[e.id] = "v_" + e.id
            self.prologue.append((f"{py} = env[{e.id!r}]", _Site("name", e)))
        return _Val(py)

    # --- access ------------------------------------------------------------------------

    def _Attribute(self, e: ast.Attribute) -> _Val:
        o = self.expr(e.obj)
        return self.assign(_unless_null((o,), f"{o.code}[{e.attr!r}]"), _Site("field", e, (o,)))

    def _Index(self, e: ast.Index) -> _Val:
        o, i = self.expr(e.obj), self.expr(e.index)
        return self.assign(_unless_null((o, i), f"{o.code}[{i.code}]"), _Site("index", e, (o, i)))

    def _Slice(self, e: ast.Slice) -> _Val:
        o = self.expr(e.obj)
        lo = self.expr(e.lower) if e.lower is not None else None
        hi = self.expr(e.upper) if e.upper is not None else None
        bounds = tuple(b for b in (lo, hi) if b is not None)
        code = f"{o.code}[{lo.code if lo else ''}:{hi.code if hi else ''}]"
        val = self.assign(_unless_null((o, *bounds), code), _Site("slice", e, (o, *bounds)), kind=o.kind)
        self.charge(val)
        return val

    # --- operators ---------------------------------------------------------------------

    def _Unary(self, e: ast.Unary) -> _Val:
        a = self.expr(e.operand)
        if e.op in ("-", "+") and a.kind == "num" and a.const is not _NOCONST:
            v = -a.const if e.op == "-" else a.const  # fold `-1`: there are no negative literals
            if math.isfinite(v):
                return _Val(f"({v!r})" if v < 0 else repr(v), True, "num", v)
        if e.op == "not":
            return self.assign(_unless_null((a,), f"not {a.code}"), kind="bool", nonnull=a.nonnull)
        return self.assign(_unless_null((a,), f"{e.op}{a.code}"), _Site("unary", e, (a,), e.op),
                           kind=a.kind, nonnull=a.nonnull)

    def _Binary(self, e: ast.Binary) -> _Val:
        a, b = self.expr(e.left), self.expr(e.right)
        op, site = e.op, _Site("binary", e, (a, b), e.op)
        numeric = "num" in (a.kind, b.kind)  # the result cannot be a string or a list
        both_num = a.kind == b.kind == "num"
        kw = dict(kind="num" if both_num else None, nonnull=a.nonnull and b.nonnull)
        floats = isinstance(a.const, float) or isinstance(b.const, float)  # no repetition, no big ints
        if op in ("-", "/", "//") or (op == "+" and numeric) or (op == "*" and (floats or _small_ints(a, b))):
            return self.assign(_unless_null((a, b), f"{a.code} {op} {b.code}"), site, **kw)
        helper = {"+": "_add", "*": "_mul", "%": "_mod", "**": "_pow"}[op]
        if op == "%" and a.kind == "num":
            val = self.assign(_unless_null((a, b), f"{a.code} % {b.code}"), site, **kw)
        else:
            val = self.assign(f"{helper}({a.code}, {b.code})", site, **kw)
        if op in ("+", "*") and not numeric:
            self.charge(val)
        return val

    def _BoolOp(self, e: ast.BoolOp) -> _Val:
        a = self.expr(e.left)
        t = self.tmp()
        is_and = e.op == "and"
        decided = "False" if is_and else "True"
        # and: false as soon as one side is false; or: true as soon as one side is true
        test_a = (f"not {a.code}" if a.nonnull else f"{a.code} is not None and not {a.code}") if is_and else a.code
        self.emit(f"if {test_a}:")
        self.indent += 1
        self.emit(f"{t} = {decided}")
        self.indent -= 1
        self.emit("else:")
        self.indent += 1
        b = self.expr(e.right)
        test_b = (f"not {b.code}" if b.nonnull else f"{b.code} is not None and not {b.code}") if is_and else b.code
        self.emit(f"if {test_b}:")
        self.emit(f"    {t} = {decided}")
        g = _guard(a, b)
        if g:
            self.emit(f"elif {g}:")
            self.emit(f"    {t} = None")
        self.emit("else:")
        self.emit(f"    {t} = {'True' if is_and else 'False'}")
        self.indent -= 1
        return _Val(t, a.nonnull and b.nonnull, "bool")

    def _Compare(self, e: ast.Compare) -> _Val:
        """``a < b < c``: pairwise, stopping at the first false pair; null if a pair is null.

        Flat, not nested: each later pair runs under ``if t is not False``."""
        left = self.expr(e.left)
        t = self.tmp()
        for i, (op, comparator) in enumerate(zip(e.ops, e.comparators)):
            if i:
                self.emit(f"if {t} is not False:")
                self.indent += 1
            right = self.expr(comparator)
            site = _Site("compare", e, (left, right), op)
            if not i:
                self.emit(f"{t} = {self._pair(op, left, right)}", site)
            else:
                r = self.tmp()
                self.emit(f"{r} = {self._pair(op, left, right)}", site)
                self.emit(f"if {r} is False:")
                self.emit(f"    {t} = False")
                self.emit(f"elif {r} is None:")
                self.emit(f"    {t} = None")
                self.indent -= 1
            left = right
        never_null = len(e.ops) == 1 and e.ops[0] in ("==", "!=")
        return _Val(t, never_null, "bool")

    def _pair(self, op: str, a: _Val, b: _Val) -> str:
        if op in ("==", "!="):
            return f"{a.code} {op} {b.code}"
        if op in ("in", "not in"):
            if b.nonnull and b.kind in ("list", "set", "dict"):  # a display: never null, never a string
                return f"{a.code} {op} {b.code}"
            return f"{'_in' if op == 'in' else '_not_in'}({a.code}, {b.code})"
        return _unless_null((a, b), f"{a.code} {op} {b.code}")

    def _Conditional(self, e: ast.Conditional) -> _Val:
        # `a if c1 else b if c2 else d`: a flat chain of tests, not nested blocks,
        # so that a long chain never runs into Python's limit on indentation
        chain: list[ast.Conditional] = []
        node: ast.Expr = e
        while isinstance(node, ast.Conditional):
            chain.append(node)
            node = node.orelse
        t = self.tmp()
        flat = len(chain) > 1
        if flat:
            self.emit(f"{t} = _PENDING")
        branches: list[_Val] = []
        tests: list[_Val] = []
        for i, cond in enumerate(chain):
            if flat and i:
                self.emit(f"if {t} is _PENDING:")
                self.indent += 1
            c = self.expr(cond.test)
            tests.append(c)
            if c.nonnull:
                self.emit(f"if {c.code}:")
            else:  # a null condition gives null
                self.emit(f"if {c.code} is None:")
                self.emit(f"    {t} = None")
                self.emit(f"elif {c.code}:")
            self.indent += 1
            body = self.expr(cond.body)
            branches.append(body)
            self.emit(f"{t} = {body.code}")
            self.indent -= 1
            if flat and i:
                self.indent -= 1
        self.emit(f"if {t} is _PENDING:" if flat else "else:")
        self.indent += 1
        orelse = self.expr(node)
        branches.append(orelse)
        self.emit(f"{t} = {orelse.code}")
        self.indent -= 1
        kinds = {b.kind for b in branches}
        nonnull = all(v.nonnull for v in tests + branches)
        return _Val(t, nonnull, kinds.pop() if len(kinds) == 1 else None)

    # --- displays, comprehensions, calls -----------------------------------------------

    def _ListDisplay(self, e: ast.ListDisplay) -> _Val:
        items = [self.expr(x) for x in e.items]
        return self.assign(f"[{', '.join(v.code for v in items)}]", nonnull=True, kind="list")

    def _SetDisplay(self, e: ast.SetDisplay) -> _Val:
        items = [self.expr(x) for x in e.items]
        site = _Site("set-item", e, tuple(items))
        return self.assign(f"{{{', '.join(v.code for v in items)}}}", site, nonnull=True, kind="set")

    def _DictDisplay(self, e: ast.DictDisplay) -> _Val:
        pairs = [(self.expr(k), self.expr(v)) for k, v in zip(e.keys, e.values)]
        site = _Site("dict-key", e, tuple(k for k, _ in pairs))
        return self.assign("{" + ", ".join(f"{k.code}: {v.code}" for k, v in pairs) + "}", site,
                           nonnull=True, kind="dict")

    def _Call(self, e: ast.Call) -> _Val:
        fn = self.functions.get(e.func)
        if fn is None or fn.impl is None:
            why = "is not a built-in function" if fn is None else "cannot be evaluated in an expression"
            raise EvalError(f"{e.func}() {why}", e.func_span)
        args = [self.expr(a) for a in e.args]
        name = "f_" + e.func
        self.namespace[name] = fn.impl
        extra = ["rng=rng"] if fn.random else []
        self.random |= fn.random
        val = self.assign(f"{name}({', '.join([a.code for a in args] + extra)})", _Site("call", e, tuple(args)))
        self.charge(val)
        return val

    def _Comprehension(self, e: ast.Comprehension) -> _Val:
        self.budget = True
        self.n += 1
        fname = f"c{self.n}"
        acc = f"{fname}_acc"
        outer_indent, outer_loops = self.indent, self.loops
        self.emit(f"def {fname}():")
        self.indent += 1
        self.emit("nonlocal _budget")
        self.emit(f"{acc} = {dict(list='[]', set='{*()}', dict='{}')[e.kind]}")
        scope: dict[str, str] = {}
        self.scopes.append(scope)
        for gen in e.generators:
            it = self.expr(gen.iter)  # sees the loop variables of the earlier clauses only
            if not it.nonnull:
                self.emit(f"if {it.code} is None:")
                self.emit("    return None")
            targets = [f"{fname}_{t.id}" for t in gen.targets]
            self.emit(f"for {', '.join(targets)} in _iter({it.code}):", _Site("for", gen, (it,)))
            self.indent += 1
            self.loops += 1
            self.emit("_budget -= 1")
            self.emit("if _budget < 0:")
            self.emit("    _over()")
            scope.update({t.id: py for t, py in zip(gen.targets, targets)})
            for cond in gen.conditions:
                c = self.expr(cond)
                self.emit(f"if not {c.code}:")  # false or null: skip
                self.emit("    continue")
        if e.kind == "dict":
            k, v = self.expr(e.key), self.expr(e.element)
            self.emit(f"{acc}[{k.code}] = {v.code}", _Site("dict-key", e, (k,)))
        else:
            v = self.expr(e.element)
            if e.kind == "list":
                self.emit(f"{acc} += [{v.code}]")
            else:
                self.emit(f"{acc} |= {{{v.code}}}", _Site("set-item", e, (v,)))
        self.scopes.pop()
        self.indent = outer_indent + 1
        self.loops = outer_loops
        self.emit(f"return _limit({acc})")
        self.indent = outer_indent
        val = self.assign(f"{fname}()", kind=e.kind)
        self.charge(val)
        return val


def _small_ints(a: _Val, b: _Val) -> bool:
    """Two literals whose product is certainly small."""
    return all(isinstance(v.const, (int, float)) and abs(v.const) < 2 ** 64 for v in (a, b))


def compile_expression(expr: ast.Expr, functions: Mapping[str, Function], *, label: str = "") -> CompiledExpression:
    """Compile a checked expression into a :class:`CompiledExpression`.

    Raises :class:`EvalError` when it calls a function that has no
    implementation (the checker lets only built-ins through).
    """
    gen = _Generator(functions)
    try:
        result = gen.expr(expr)
    except RecursionError:
        raise EvalError("this expression is nested too deeply to compile", expr.span) from None
    source, sites = gen.assemble(result)
    filename = f"<octo expression {next(_counter)}{': ' + label if label else ''}>"
    namespace: dict[str, Any] = {"__builtins__": {}, **_HELPERS, **gen.namespace}
    try:
        code = compile(source, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError) as err:  # Python's limits on nesting
        raise EvalError(f"this expression is nested too deeply to compile ({err.msg if isinstance(err, SyntaxError) else 'too deep'})",
                        expr.span) from None
    exec(code, namespace)
    return CompiledExpression(expr=expr, label=label, source=source, names=tuple(gen.free),
                              random=gen.random, _fn=namespace["_octo_eval"], _filename=filename, _sites=sites)
