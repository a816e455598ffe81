"""Types through every expression.

:class:`ExprChecker` walks a checked-to-be AST, reporting every type problem
it finds and returning the expression's type (``any`` after an error, so one
mistake does not cascade). In ``group`` mode (the metrics of an `aggregate`
step) it also checks that per-unit values appear only inside aggregate
functions or as a `by` key.
"""

from __future__ import annotations

from typing import Mapping

from ..base.diagnostics import Reporter
from ..base.suggest import closest, did_you_mean
from . import ast
from .functions import ArgError, Function
from .literalargs import report_literal_findings
from .namehints import private_read, qualified_hint
from .scope import Binding, Scope
from .types import (ANY, BOOL, FLOAT, INT, NULL, STR, DictT, EnumT, ListT, RecordT, SetT, Type,
                    elem_of, is_any, is_bool, is_number, is_str, join, literal_type, strip)

_ARITH = {"-", "*", "/", "//", "%", "**"}


def dotted(expr: ast.Expr) -> list[str] | None:
    """``unit.scenario.id`` → ['unit', 'scenario', 'id']; None for other shapes."""
    if isinstance(expr, ast.Name):
        return [expr.id]
    if isinstance(expr, ast.Attribute):
        head = dotted(expr.obj)
        return head + [expr.attr] if head is not None else None
    return None


class ExprChecker:
    def __init__(self, reporter: Reporter, functions: Mapping[str, Function], *,
                 mode: str = "unit", group_keys: tuple[tuple[str, ...], ...] = ()):
        self.r = reporter
        self.functions = functions
        self.mode = mode  # "unit" | "group"
        self.group_keys = group_keys  # dotted prefixes constant within a group
        self._agg_depth = 0
        self.allow_random = mode == "unit"

    # --- entry points -------------------------------------------------------------

    def check(self, expr: ast.Expr, scope: Scope) -> Type:
        method = getattr(self, "_" + type(expr).__name__)
        if self.mode == "group" and self._agg_depth == 0 and isinstance(expr, (ast.Name, ast.Attribute)):
            if not self._group_level_ok(expr, scope):
                return ANY
            self._agg_depth += 1  # the whole chain is constant in the group: its parts need no check
            try:
                return method(expr, scope)
            finally:
                self._agg_depth -= 1
        return method(expr, scope)

    def check_bool(self, expr: ast.Expr, scope: Scope, what: str) -> Type:
        t = self.check(expr, scope)
        if not is_bool(t):
            self.r.report("E0207", expr.span, f"{what} must be a bool, but this is {t.describe()}",
                          label=f"this is {t.describe()}",
                          hint="compare it with something, e.g. `x > 0` or `x == 'yes'`")
        elif isinstance(expr, ast.Literal):
            self.r.report("W0403", expr.span, f"{what} is always {str(expr.value).lower()}")
        return t

    # --- names and fields ---------------------------------------------------------------

    def _group_level_ok(self, expr: ast.Expr, scope: Scope) -> bool:
        path = dotted(expr)
        if path is None:
            return True
        binding = scope.lookup(path[0])
        if binding is None or not binding.per_unit:
            return True
        if any(tuple(path[: len(k)]) == k for k in self.group_keys):
            return True
        text = ".".join(path)
        self.r.report("E0211", expr.span, f"'{text}' differs from unit to unit, but is used outside an aggregate function",
                      label="a per-unit value", hint=_reduce_hint(text, _path_type(binding.type, path[1:])))
        return False

    def _Name(self, expr: ast.Name, scope: Scope) -> Type:
        binding = scope.lookup(expr.id)
        if binding is not None:
            return binding.type
        hint = did_you_mean(expr.id, scope.names()) or qualified_hint(expr.id, scope)
        if not hint and expr.id == "feedback":
            hint = "`feedback` exists only in the templates of a provider step in a loop (a step a judge or gate sends back)"
        elif not hint and expr.id in self.functions:
            hint = f"'{expr.id}' is a function: call it, e.g. {self.functions[expr.id].signature}"
        elif not hint and expr.id in ("self", "lambda", "import", "def", "class", "print", "open", "eval", "exec"):
            hint = "octo expressions can use only declared names and built-in functions"
        self.r.report("E0202", expr.span, f"unknown name '{expr.id}'", label="not defined here", hint=hint)
        return ANY

    def _Attribute(self, expr: ast.Attribute, scope: Scope) -> Type:
        base = strip(self.check(expr.obj, scope))
        if is_any(base):
            return ANY
        path = dotted(expr.obj)
        owner = ".".join(path) if path else "this value"
        if isinstance(base, RecordT):
            t = base.field(expr.attr)
            if t is not None and not expr.attr.startswith("_"):
                return t
            private = private_read(scope.lookup(path[0]) if path and len(path) == 1 else None, expr.attr)
            if private is not None:
                self.r.report("E0234", expr.attr_span.to(expr.obj.span), private[0], label="not an output", hint=private[1])
                return ANY
            near = closest(expr.attr, base.names())
            hint = f"did you mean '{owner}.{near}'?" if near else f"{base.what} has: {', '.join(base.names()) or 'no fields'}"
            self.r.report("E0203", expr.attr_span.to(expr.obj.span) if path else expr.attr_span,
                          f"{base.what} has no {_field_word(base)} '{expr.attr}'", label=hint if near else "", hint="" if near else hint)
            return ANY
        self.r.report("E0203", expr.attr_span, f"{owner} is {base.describe()}, which has no field '{expr.attr}'",
                      label="no such field")
        return ANY

    def _Index(self, expr: ast.Index, scope: Scope) -> Type:
        base, idx = strip(self.check(expr.obj, scope)), self.check(expr.index, scope)
        if is_any(base):
            return ANY
        if isinstance(base, ListT) or base == STR or isinstance(base, EnumT):
            self._expect(idx, INT, expr.index, "a list index")
            return base.elem if isinstance(base, ListT) else STR
        if isinstance(base, DictT):
            return base.value
        if isinstance(base, RecordT) and isinstance(expr.index, ast.Literal) and isinstance(expr.index.value, str):
            return self._Attribute(ast.Attribute(expr.span, expr.obj, expr.index.value, expr.index.span), scope)
        self.r.report("E0206", expr.span, f"cannot index {base.describe()}", label="not a list, string or dict")
        return ANY

    def _Slice(self, expr: ast.Slice, scope: Scope) -> Type:
        base = strip(self.check(expr.obj, scope))
        for bound in (expr.lower, expr.upper):
            if bound is not None:
                self._expect(self.check(bound, scope), INT, bound, "a slice bound")
        if is_any(base):
            return base
        if isinstance(base, ListT):
            return base.unbounded()  # a slice may hold fewer items than the list's declared minimum
        if is_str(base):
            return STR
        self.r.report("E0206", expr.span, f"cannot slice {base.describe()}", label="not a list or string")
        return ANY

    # --- operators --------------------------------------------------------------------------

    def _Literal(self, expr: ast.Literal, scope: Scope) -> Type:
        return literal_type(expr.value)

    def _Unary(self, expr: ast.Unary, scope: Scope) -> Type:
        t = self.check(expr.operand, scope)
        if expr.op == "not":
            self._need_bool(t, expr.operand, "'not'")
            return BOOL
        if not is_number(t):
            self._mismatch(expr.span, f"'{expr.op}' needs a number, not {t.describe()}")
            return ANY
        return strip(t)

    def _Binary(self, expr: ast.Binary, scope: Scope) -> Type:
        a, b = strip(self.check(expr.left, scope)), strip(self.check(expr.right, scope))
        if is_any(a) or is_any(b):
            return FLOAT if expr.op == "/" else ANY
        op = expr.op
        if is_number(a) and is_number(b):
            if op == "/":
                return FLOAT
            if op == "**" and a == INT and b == INT:
                exact = isinstance(expr.right, ast.Literal) and expr.right.value >= 0
                return INT if exact else FLOAT  # 2 ** -1 is 0.5
            return INT if a == INT and b == INT else FLOAT
        if op == "+" and is_str(a) and is_str(b):
            return STR
        if op == "+" and isinstance(a, ListT) and isinstance(b, ListT):
            # a new list: its item count is not either operand's
            return join(a.unbounded(), b.unbounded()) or ListT(ANY)
        if op == "*" and ((is_str(a) and b == INT) or (a == INT and is_str(b))):
            return STR
        if op == "*" and ((isinstance(a, ListT) and b == INT) or (a == INT and isinstance(b, ListT))):
            return (a if isinstance(a, ListT) else b).unbounded()
        hint = ""
        if BOOL in (a, b):
            hint = "bools are not numbers here; convert with int(...) or use a condition"
        elif op == "+" and (is_str(a) or is_str(b)):
            hint = "convert the other side with str(...)"
        self.r.report("E0206", expr.op_span, f"'{op}' cannot combine {a.describe()} and {b.describe()}",
                      label=f"{a.describe()} {op} {b.describe()}", hint=hint)
        return ANY

    def _BoolOp(self, expr: ast.BoolOp, scope: Scope) -> Type:
        for side in (expr.left, expr.right):
            self._need_bool(self.check(side, scope), side, f"'{expr.op}'")
        return BOOL

    def _Compare(self, expr: ast.Compare, scope: Scope) -> Type:
        operands = [expr.left, *expr.comparators]
        types = [self.check(e, scope) for e in operands]
        for i, op in enumerate(expr.ops):
            self._compare_pair(op, operands[i], types[i], operands[i + 1], types[i + 1])
        return BOOL

    def _compare_pair(self, op: str, left, lt: Type, right, rt: Type) -> None:
        a, b = strip(lt), strip(rt)
        if is_any(a) or is_any(b) or NULL in (a, b):
            return
        span = left.span.to(right.span)
        if op in ("in", "not in"):
            elem = elem_of(b)
            if isinstance(a, EnumT) and len(a.values) > 1 and isinstance(right, (ast.ListDisplay, ast.SetDisplay)):
                self._members_never_match(left, a, right.items)
                return
            if elem is None:
                self._mismatch(right.span, f"'{op}' needs a list, set, dict or string on its right, not {b.describe()}")
            elif isinstance(a, EnumT) and isinstance(elem, EnumT) and not set(a.values) & set(elem.values):
                self._never(span, left, a, elem, op)
            return
        if op in ("==", "!="):
            if isinstance(a, EnumT) and isinstance(b, EnumT) and not set(a.values) & set(b.values):
                self._never(span, left if len(a.values) >= len(b.values) else right, a, b, op)
            elif not (join(a, b) or (is_number(a, True) and is_number(b, True))):
                self.r.report("E0208", span, f"{a.describe()} and {b.describe()} are never equal",
                              label="different types")
            return
        ordered = (is_number(a) and is_number(b)) or (is_str(a) and is_str(b))
        if not ordered:
            self._mismatch(span, f"'{op}' cannot order {a.describe()} and {b.describe()}")

    def _members_never_match(self, left, enum: EnumT, items) -> None:
        path = dotted(left)
        who = f"'{'.'.join(path)}'" if path else "this value"
        for item in items:
            if isinstance(item, ast.Literal) and isinstance(item.value, str) and item.value not in enum.values:
                self.r.report("E0208", item.span, f"'{item.value}' can never match: {who} is one of {enum.describe()}",
                              label="not one of them", hint=did_you_mean(item.value, enum.values))

    def _never(self, span, side, a: EnumT, b: EnumT, op: str) -> None:
        wide, narrow = (a, b) if len(a.values) >= len(b.values) else (b, a)
        path = dotted(side)
        who = f"'{'.'.join(path)}'" if path else "this value"
        value = narrow.values[0]
        verdict = "true" if op in ("==", "in") else "false"
        hint = did_you_mean(value, wide.values)
        self.r.report("E0208", span, f"this comparison is never {verdict}: {who} is one of {wide.describe()}",
                      label=f"'{value}' is not one of them", hint=hint)

    def _Conditional(self, expr: ast.Conditional, scope: Scope) -> Type:
        self.check_bool(expr.test, scope, "the condition of `if ... else`")
        a, b = self.check(expr.body, scope), self.check(expr.orelse, scope)
        t = join(a, b)
        if t is None:
            self._mismatch(expr.span, f"the two branches differ: {a.describe()} and {b.describe()}")
            return ANY
        return t

    # --- displays and comprehensions ------------------------------------------------------

    def _join_all(self, exprs, scope: Scope, what: str) -> Type:
        out: Type | None = None
        for e in exprs:
            t = self.check(e, scope)
            if out is None:
                out = t
                continue
            j = join(out, t)
            if j is None:
                self._mismatch(e.span, f"{what} mixes {out.describe()} and {t.describe()}")
                return ANY
            out = j
        return out or ANY

    def _ListDisplay(self, expr: ast.ListDisplay, scope: Scope) -> Type:
        return ListT(self._widen(self._join_all(expr.items, scope, "this list")))

    def _SetDisplay(self, expr: ast.SetDisplay, scope: Scope) -> Type:
        return SetT(self._widen(self._join_all(expr.items, scope, "this set")))

    def _DictDisplay(self, expr: ast.DictDisplay, scope: Scope) -> Type:
        k = self._join_all(expr.keys, scope, "the keys of this dict")
        v = self._join_all(expr.values, scope, "the values of this dict")
        return DictT(self._widen(k), self._widen(v))

    @staticmethod
    def _widen(t: Type) -> Type:
        """Literal types inside containers become plain str: lists are built to change."""
        return STR if isinstance(t, EnumT) and len(t.values) == 1 else t

    def _Comprehension(self, expr: ast.Comprehension, scope: Scope) -> Type:
        inner = scope
        for gen in expr.generators:
            inner = self._bind_for(gen, inner)
        if expr.kind == "dict":
            return DictT(self._widen(self.check(expr.key, inner)), self._widen(self.check(expr.element, inner)))
        elem = self._widen(self.check(expr.element, inner))
        return ListT(elem) if expr.kind == "list" else SetT(elem)

    def _bind_for(self, gen: ast.ComprehensionFor, scope: Scope) -> Scope:
        it = self.check(gen.iter, scope)
        elem = elem_of(it)
        if elem is None:
            self._mismatch(gen.iter.span, f"cannot loop over {strip(it).describe()}")
            elem = ANY
        if len(gen.targets) == 1:
            types = [elem]
        else:
            inner = elem_of(elem) if not isinstance(strip(elem), RecordT) else None
            types = [inner or ANY] * len(gen.targets)
        bindings = {t.id: Binding(ty, f"loop variable '{t.id}'", per_unit=False) for t, ty in zip(gen.targets, types)}
        child = scope.child(bindings)
        for cond in gen.conditions:
            self.check_bool(cond, child, "a comprehension's `if`")
        return child

    # --- calls ------------------------------------------------------------------------------

    def _Call(self, expr: ast.Call, scope: Scope) -> Type:
        fn = self.functions.get(expr.func)
        if fn is None:
            return self._unknown_function(expr, scope)
        if fn.random and not self.allow_random:
            self.r.report("E0204", expr.func_span, f"{expr.func}() draws random numbers, but there is no random stream here",
                          hint="randomness belongs in per-unit steps (simulate, compute, when); each unit has its own stream")
            return ANY
        if fn.units_only:
            self.r.report("E0204", expr.func_span, f"{expr.func}() can only be used as a table in `units.for`",
                          hint=f"e.g. units: {{for: {{pair: {fn.signature}}}}}")
            return ANY
        n = len(expr.args)
        if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
            self.r.report("E0205", expr.span, f"{expr.func}() takes {fn.arity_text()}, but {n} {'was' if n == 1 else 'were'} given",
                          label=f"usage: {fn.signature}")
            self._check_args_quietly(expr, scope)
            return ANY
        reducing = (fn.aggregate and self.mode == "group" and self._agg_depth == 0
                    and (fn.counts_bare if not expr.args else self._varies(expr.args[0], scope)))
        types = []
        for i, arg in enumerate(expr.args):
            inside = reducing and i == 0  # the values reduced over; q, z etc. are per group
            self._agg_depth += inside
            try:
                types.append(self.check(arg, scope))
            finally:
                self._agg_depth -= inside
        if reducing and types:
            types[0] = ListT(strip(types[0]))
        result = self._apply(fn, expr, types)
        if fn.check_literals is not None:
            report_literal_findings(self.r, fn, expr)  # a literal regular expression, say
        return result

    def _varies(self, expr: ast.Expr, scope: Scope) -> bool:
        """Does this expression read a per-unit value (one not fixed by `by`)?"""
        for node in ast.walk(expr):
            path = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            if path is None:
                continue
            binding = scope.lookup(path[0])
            if binding is not None and binding.per_unit and not any(tuple(path[: len(k)]) == k for k in self.group_keys):
                return True
        return False

    def _apply(self, fn: Function, expr: ast.Call, types: list[Type]) -> Type:
        try:
            return fn.typer(types)
        except ArgError as err:
            arg = expr.args[err.index] if err.index < len(expr.args) else expr
            if fn.aggregate and err.index == 0 and elem_of(types[0]) is None and self.mode != "group":
                self.r.report("E0212", expr.span, f"{fn.name}() reduces over units, so it belongs in an `aggregate` step",
                              label=f"here its argument is a single {strip(types[0]).describe()}",
                              hint=f"in a per-unit step it takes a list, e.g. {fn.name}([a, b, c])" if fn.max_args == 1
                              else "in a per-unit step it takes a list, e.g. mean([a, b, c])")
            else:
                self.r.report("E0206", arg.span, f"{fn.name}(): {err.message}", label=f"usage: {fn.signature}")
            return ANY

    def _check_args_quietly(self, expr: ast.Call, scope: Scope) -> None:
        """Check arguments for their own errors, but not for the aggregate level (the call is wrong already)."""
        self._agg_depth += 1
        try:
            for a in expr.args:
                self.check(a, scope)
        finally:
            self._agg_depth -= 1

    def _unknown_function(self, expr: ast.Call, scope: Scope) -> Type:
        self._check_args_quietly(expr, scope)
        hint = did_you_mean(expr.func, self.functions, "'{}()'")
        if not hint and scope.lookup(expr.func) is not None:
            hint = f"'{expr.func}' is a {scope.lookup(expr.func).what}, not a function"
        elif not hint:
            hint = "see the list of built-in functions in docs/language.md"
        self.r.report("E0204", expr.func_span, f"unknown function '{expr.func}'", label="not a built-in", hint=hint)
        return ANY

    # --- helpers -------------------------------------------------------------------------------

    def _expect(self, t: Type, want: Type, node, what: str) -> None:
        if not is_any(t) and strip(t) != want:
            self._mismatch(node.span, f"{what} must be {want.describe()}, not {strip(t).describe()}")

    def _need_bool(self, t: Type, node, op: str) -> None:
        if not is_bool(t):
            self.r.report("E0206", node.span, f"{op} needs bools, but this is {strip(t).describe()}",
                          label=f"{strip(t).describe()}", hint="compare it with something, e.g. `x > 0`")

    def _mismatch(self, span, message: str) -> None:
        self.r.report("E0206", span, message)


def _field_word(rec: RecordT) -> str:
    return "output" if rec.what.startswith("step") else ("table" if rec.what == "the unit" else "field")


def _path_type(t: Type, attrs: list[str]) -> Type:
    """The type at ``attrs`` inside ``t`` (``any`` where a field is unknown)."""
    for attr in attrs:
        t = strip(t)
        field = t.field(attr) if isinstance(t, RecordT) else None
        if field is None:
            return ANY
        t = field
    return t


def _reduce_hint(text: str, t: Type) -> str:
    """A reduction that fits the value's type: a mean of numbers, a share of bools, distinct values of the rest."""
    t = strip(t)
    if is_bool(t):
        example = f"share({text})"
    elif is_number(t):
        example = f"mean({text})"
    elif is_any(t):
        example = f"count({text})"
    else:
        example = f"count_distinct({text}) or distinct({text})"
    return f"reduce it over the group's units, e.g. {example}, or add it to `by`"
