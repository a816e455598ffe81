"""The step-kind interface, and the context the checker hands each kind.

A step kind (in ``octo.stdlib``) subclasses :class:`StepKind` and supplies its
config schema, a ``parse`` hook (read its config, parse expressions and
templates through the context) and a ``typecheck`` hook (type them, return the
step's output record). Everything shared — parsing slots, scopes, model
checks — is the context's job, so a kind file stays short.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

from ..base.diagnostics import Reporter
from ..base.yamlnodes import YMap, YNode, YScalar, YSeq
from ..expressions import ast
from ..expressions.exprparse import Origin, parse_expression, parse_type
from ..expressions.functions import Function
from ..expressions.scope import Binding, Scope
from ..expressions.templates import check_template, parse_template, template_roots
from ..expressions.typecheck import ExprChecker
from ..expressions.types import ANY, RecordT, Type, TypeDeclError, declared, record
from .program import Program, Step

if TYPE_CHECKING:
    from .language import Language


class StepKind:
    name: str = ""
    runs: str = "local"  # "local" | "provider"
    per_unit: bool = True  # False for kinds that reduce over units (aggregate)
    # a fan-out (fanout) makes child units; the steps that read it run over them (compiler/frontend/fanouts.py)
    expands: bool = False
    # a verdict (judge, gate) may send its `of` back: its parsed config has `of`, `of_node` and `attempts`
    verdict: bool = False
    summary: str = ""
    config_schema: dict = {}
    # step-level settings this kind accepts besides `when` and `validate`
    settings: frozenset[str] = frozenset()

    def parse(self, step: Step, ctx: "StepContext") -> None:
        raise NotImplementedError

    def typecheck(self, step: Step, ctx: "StepContext") -> RecordT | None:
        raise NotImplementedError

    def plan_config(self, step: Step) -> dict:
        """The step's compiled configuration for the Plan IR (JSON-ready)."""
        raise NotImplementedError

    def feedback_fields(self, step: Step) -> dict[str, Type]:
        """A verdict's `feedback` as the steps it sends back see it: its outputs but `passed`."""
        return {n: t for n, t in (step.output.fields if step.output else ()) if n != "passed"}


def expr_ir(expr: ast.Expr | None) -> dict | None:
    from ..expressions.astjson import expression_record

    return expression_record(expr) if expr is not None else None


def named_ir(items) -> list:
    return [[name, expr_ir(expr)] for name, _, expr in items if expr is not None]


def template_ir(scalar: YScalar | None) -> dict | None:
    if scalar is None:
        return None
    return {"text": scalar.value, "at": f"{scalar.span.path}:{scalar.span.line}:{scalar.span.column}",
            "lines": template_lines(scalar)}


def template_lines(scalar: YScalar) -> list[list[int]]:
    """Where each line of a template's text starts in the file, ``[line, column]``: how the runtime
    puts a template that fails for a unit at file:line:col (quoting and block scalars included)."""
    starts = [0] + [i + 1 for i, ch in enumerate(scalar.value) if ch == "\n"]
    if len(starts) > 1 and starts[-1] == len(scalar.value):
        starts.pop()  # the empty line after a final newline: nothing can fail there
    return [list(scalar.span.source.line_col(scalar.file_offset(i))) for i in starts]


class StepContext:
    """What a step kind may use while it is checked."""

    def __init__(self, program: Program, language: "Language", reporter: Reporter):
        self.program = program
        self.language = language
        self.reporter = reporter
        self.base_scope: Scope = Scope({})
        self.step: Step | None = None

    @property
    def functions(self) -> Mapping[str, Function]:
        return self.language.functions

    # --- parsing ----------------------------------------------------------------------

    def expr(self, node: YNode | None, what: str) -> ast.Expr | None:
        """Parse an expression slot; YAML numbers and booleans are literals."""
        if node is None:
            return None
        if not isinstance(node, YScalar):
            return None  # reported by the structure check (E0103)
        if node.is_str:
            expr = parse_expression(node.value, Origin(node), self.reporter)
        else:
            expr = ast.Literal(node.span, node.value)
        if expr is not None and self.step is not None:
            self.step.exprs.append(expr)
        return expr

    def named_exprs(self, node: YNode | None, what: str) -> list[tuple[str, YScalar, ast.Expr | None]]:
        """A mapping of names to expressions, in order."""
        if not isinstance(node, YMap):
            return []
        for key, _ in node.items:
            self._check_bound_name(key, what)
        return [(k.value, k, self.expr(v, f"{what} '{k.value}'")) for k, v in node.items]

    def _check_bound_name(self, key: YScalar, what: str) -> None:
        from .language import RESERVED_NAMES

        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key.value):
            fixed = re.sub(r"[^A-Za-z0-9_]", "_", key.value)
            self.reporter.report("E0109", key.span, f"invalid name '{key.value}' for a {what}",
                                 hint=f"names are letters, digits and '_' so expressions can use them, e.g. '{fixed}'")
        elif key.value in RESERVED_NAMES:
            self.reporter.report("E0109", key.span, f"'{key.value}' is a reserved name and cannot name a {what}")

    def expr_list(self, node: YNode | None, what: str) -> list[ast.Expr]:
        """One expression or a list of them."""
        items = node.items if isinstance(node, YSeq) else ([node] if node is not None else [])
        return [e for e in (self.expr(item, what) for item in items) if e is not None]

    def template(self, node: YNode | None) -> YScalar | None:
        if isinstance(node, YScalar) and node.is_str:
            if self.step is not None:
                roots = template_roots(node)
                self.step.template_roots |= roots
                self.step.templates.append(node)
                for name in roots:
                    found = re.search(rf"\b{re.escape(name)}\b", node.value)
                    if found and name not in self.step.template_refs:
                        self.step.template_refs[name] = node.sub_span(found.start(), found.end())
            return node
        return None

    def output_decl(self, node: YNode | None, what: str) -> tuple[RecordT, dict] | None:
        """A declared output (`{verse: str, mood: a | b}`) → (record type, JSON Schema)."""
        if not isinstance(node, YMap):
            return None
        fields: dict[str, Type] = {}
        props: dict[str, dict] = {}
        for key, value in node.items:
            result = self._field_decl(value)
            # a field whose type is in error is still declared (as `any`), so uses of it do not cascade
            fields[key.value], props[key.value] = result if result is not None else (ANY, {})
        schema = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
        return record(fields, what), schema

    def _field_decl(self, node: YNode) -> tuple[Type, dict] | None:
        if isinstance(node, YMap):
            nested = self.output_decl(node, "a nested object")
            return nested
        if not isinstance(node, YScalar) or not node.is_str:
            return None  # not a type string: reported by the structure check (E0103)
        tree = parse_type(node.value, Origin(node), self.reporter)
        if tree is None:
            return None
        try:
            return declared(tree)
        except TypeDeclError as err:
            self.reporter.report(err.code, err.node.span, err.message, hint=err.hint)
            return None

    # --- typing --------------------------------------------------------------------------

    def scope(self, extra: dict[str, Binding] | None = None) -> Scope:
        return self.base_scope.child(extra or {})

    def checker(self, mode: str = "unit", group_keys=()) -> ExprChecker:
        return ExprChecker(self.reporter, self.functions, mode=mode, group_keys=group_keys)

    def check(self, expr: ast.Expr | None, scope: Scope) -> Type | None:
        return self.checker().check(expr, scope) if expr is not None else None

    def check_bool(self, expr: ast.Expr | None, scope: Scope, what: str) -> None:
        if expr is not None:
            self.checker().check_bool(expr, scope, what)

    def check_template(self, scalar: YScalar | None, scope: Scope) -> None:
        if scalar is not None:
            check_template(scalar, scope, self.reporter)

    def parse_template_only(self, scalar: YScalar | None) -> None:
        if scalar is not None:
            parse_template(scalar, self.reporter)

    def feedback_binding(self, step: Step) -> dict[str, Binding]:
        """`feedback`: the failed verdict that last sent ``step`` back, in the templates of a provider step
        in a loop body (compiler/frontend/loops.py). Its fields are those of the verdicts of every loop holding the
        step; a field some of them lack may be null, one they type differently is `any`. It is null in
        the first round."""
        loops = self.program.loops.containing(step.name) if self.program.loops is not None else []
        verdicts = [v for loop in loops for v in loop.verdicts]
        if not verdicts or self.language.kinds[step.kind].runs != "provider":
            return {}
        from ..expressions.types import optional

        return {"feedback": Binding(optional(record(self.feedback_type(verdicts), f"the feedback of '{verdicts[0]}'")),
                                    "the feedback")}

    def feedback_type(self, verdicts: list[str]) -> dict[str, Type]:
        from ..expressions.types import optional

        each = [self.language.kinds[self.program.steps[v].kind].feedback_fields(self.program.steps[v]) for v in verdicts]
        fields: dict[str, Type] = {}
        for name in dict.fromkeys(n for f in each for n in f):
            types = [f[name] for f in each if name in f]
            t = types[0] if all(x == types[0] for x in types) else ANY
            fields[name] = t if len(types) == len(each) else optional(t)
        return fields
