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
from typing import Any, Mapping

from . import ast
from .functions import Function

from .cpuclock import LAP
from .evalmessages import _message, _plain, explain  # noqa: F401
from .evalsupport import *  # noqa: F401,F403
from .evalsupport import HELPERS, KNOWN, LAST, _where, forget_sizes  # noqa: F401
from .evalsupport import describe  # noqa: F401
from .compiled import CompiledExpression, _Site  # noqa: F401 (loopgen and stdlib import them from here)

_counter = itertools.count()


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
        """Inside a loop, what an operation builds (or a function is given) counts against the work budget."""
        if self.loops and not _small(val):
            self.emit(f"_budget = _charge(_budget, {val.code})")

    def fits(self, code: str, items: list[_Val], how: str) -> str:
        """``code`` building a container of ``items``, checked for its size as stored
        unless every item is a number, bool or literal (those count one each)."""
        return code if all(_small(v) for v in items) else f"_fits({code}, {how!r})"

    def expr(self, e: ast.Expr) -> _Val:
        method = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise EvalError(f"cannot compile a {type(e).__name__}", e.span)
        return method(e)

    def head(self, name: str) -> tuple[list[str], dict[int, _Site]]:
        """The generated function's first lines: its signature, the names read from env, the stream check."""
        out = [f"def {name}(env, rng):"]
        sites: dict[int, _Site] = {}
        for text, site in self.prologue:
            out.append("    " + text)
            if site is not None:
                sites[len(out)] = site
        if self.random:
            out.append("    if rng is None:")
            out.append("        _no_rng()")
        return out, sites

    def assemble(self, result: _Val) -> tuple[str, dict[int, _Site]]:
        out, sites = self.head("_octo_eval")
        if self.budget:
            out.append(f"    _budget = {WORK_BUDGET}")
            out.append(f"    _mark = {max(WORK_BUDGET - LAP, 0)}")  # where _lap next looks
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
                return _Val(f"({v!r})" if repr(v).startswith("-") else repr(v), True, "num", v)
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
        start = len(self.lines)
        b = self.expr(e.right)
        if self._fold_bools(e.op, a, b, start, t):
            return _Val(t, True, "bool")
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

    def _fold_bools(self, op: str, a: _Val, b: _Val, start: int, t: str) -> bool:
        """``t = a or (b)`` on one line, when both sides are known booleans and ``b`` took at most one
        line (its own ``tN = ...``): Python's own ``and``/``or`` then give what octo's do, with less code.
        ``start``: where ``b``'s lines begin, after the ``if``/``else`` opening ``_BoolOp`` wrote."""
        if not (a.nonnull and b.nonnull and a.kind == "bool" and b.kind == "bool"):
            return False
        body = self.lines[start:]
        if not body:
            code, site = b.code, None
        elif len(body) == 1 and body[0][1].startswith(b.code + " = ") and re.fullmatch(r"t\d+", b.code):
            code, site = body[0][1][len(b.code) + 3:], body[0][2]
        else:
            return False
        self.indent -= 1
        del self.lines[start - 3:]  # the "if <a>:", "t = <decided>", "else:" written before b
        self.emit(f"{t} = {a.code} {op} ({code})", site)
        return True

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
        code = self.fits(f"[{', '.join(v.code for v in items)}]", items, "`[...]`")
        return self.assign(code, _Site("display", e), nonnull=True, kind="list")

    def _SetDisplay(self, e: ast.SetDisplay) -> _Val:
        items = [self.expr(x) for x in e.items]
        site = _Site("set-item", e, tuple(items))
        code = self.fits(f"{{{', '.join(v.code for v in items)}}}", items, "`{...}`")
        return self.assign(code, site, nonnull=True, kind="set")

    def _DictDisplay(self, e: ast.DictDisplay) -> _Val:
        pairs = [(self.expr(k), self.expr(v)) for k, v in zip(e.keys, e.values)]
        site = _Site("dict-key", e, tuple(k for k, _ in pairs))
        code = self.fits("{" + ", ".join(f"{k.code}: {v.code}" for k, v in pairs) + "}",
                         [v for pair in pairs for v in pair], "`{...}`")
        return self.assign(code, site, nonnull=True, kind="dict")

    def _Call(self, e: ast.Call) -> _Val:
        fn = self.functions.get(e.func)
        if fn is None or fn.impl is None:
            why = "is not a built-in function" if fn is None else "cannot be evaluated in an expression"
            raise EvalError(f"{e.func}() {why}", e.func_span)
        args = [self.expr(a) for a in e.args]
        if e.func not in _CONSTANT_COST:  # a function that goes through its arguments' items
            for a in args:
                self.charge(a)
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
        self.emit("nonlocal _budget, _mark")
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
            self.emit("if _budget < _mark:")  # every LAP units of work: the budget and the CPU clock
            self.emit("    _mark = _lap(_budget)")
            scope.update({t.id: py for t, py in zip(gen.targets, targets)})
            for cond in gen.conditions:
                c = self.expr(cond)
                self.emit(f"if not {c.code}:")  # false or null: skip
                self.emit("    continue")
        if e.kind == "dict":
            k, v = self.expr(e.key), self.expr(e.element)
            self.emit(f"{acc}[{k.code}] = {v.code}", _Site("dict-key", e, (k,)))
            items = [k, v]
        else:
            v = self.expr(e.element)
            if e.kind == "list":
                self.emit(f"{acc} += [{v.code}]")
            else:
                self.emit(f"{acc} |= {{{v.code}}}", _Site("set-item", e, (v,)))
            items = [v]
        self.scopes.pop()
        self.indent = outer_indent + 1
        self.loops = outer_loops
        limit = "_limit" if all(_small(x) for x in items) else "_limit_size"
        self.emit(f"return {limit}({acc})", _Site("display", e))
        self.indent = outer_indent
        val = self.assign(f"{fname}()", kind=e.kind)
        self.charge(val)
        return val


# Built-ins whose work does not grow with their arguments' length: inside comprehensions, the
# items passed to any other function count against the work budget (`sum(xs)` goes through xs).
_CONSTANT_COST = frozenset({"len", "choice", "contains", "startswith", "abs", "round", "floor", "ceil", "sqrt",
                            "exp", "log", "int", "float", "bool", "random", "uniform", "normal", "randint",
                            "bernoulli"})


def _small(v: _Val) -> bool:
    """A number, a bool or a literal: nothing that can grow a value past its limits
    (a literal's size is bounded by the source it is written in)."""
    return v.kind in ("num", "bool") or v.const is not _NOCONST


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
    namespace: dict[str, Any] = {"__builtins__": {}, **HELPERS, **gen.namespace}
    try:
        code = compile(source, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError) as err:  # Python's limits on nesting
        why = err.msg if isinstance(err, SyntaxError) else "too deep"
        raise EvalError(f"this expression is nested too deeply to compile ({why})", expr.span) from None
    exec(code, namespace)
    return CompiledExpression(expr=expr, label=label, source=source, names=tuple(gen.free),
                              random=gen.random, _fn=namespace["_octo_eval"], _filename=filename, _sites=sites)
