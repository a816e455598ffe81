"""`aggregate`: group units (`by`) and reduce them (`metrics`); `expect` assertions."""

from __future__ import annotations

from octo.compiler.base.records import record_class
from octo.compiler.base.yamlnodes import YMap, YSeq
from octo.compiler.expressions import ast
from octo.compiler.expressions.scope import Binding
from octo.compiler.expressions.typecheck import dotted
from octo.compiler.expressions.types import ANY, RecordT, Type, record, strip
from octo.compiler.frontend.kinds import StepContext, StepKind, expr_ir, named_ir
from octo.compiler.frontend.language import EXPR
from octo.compiler.frontend.program import Step


@record_class
class AggregateConfig:
    by: list  # [(column name, expr)]
    metrics: list  # [(name, key, expr)]
    expect: list  # [expr]


class Aggregate(StepKind):
    name = "aggregate"
    runs = "local"
    per_unit = False
    summary = "Group units (by) and reduce them with aggregate functions (metrics); expect lists assertions."
    settings = frozenset()
    config_schema = {
        "type": "object",
        "required": ["metrics"],
        "additionalProperties": False,
        "properties": {
            "by": {"anyOf": [{"type": "array", "items": EXPR}, {"$ref": "#/$defs/namedExpressions"}, {"type": "string"}],
                   "description": "Group keys: expressions, or a mapping of column names to expressions."},
            "metrics": {"$ref": "#/$defs/namedExpressions", "minProperties": 1},
            "expect": {"type": "array", "items": EXPR, "description": "Assertions over the metrics, reported at the end."},
        },
    }

    def parse(self, step: Step, ctx: StepContext) -> None:
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        by_node = cfg.get("by")
        if isinstance(by_node, YMap):
            by = [(name, expr) for name, _, expr in ctx.named_exprs(by_node, "group key") if expr is not None]
        else:
            by = [(_column(e), e) for e in ctx.expr_list(by_node, "a group key")]
        metrics = ctx.named_exprs(cfg.get("metrics"), "metric")
        expect = ctx.expr_list(cfg.get("expect") if isinstance(cfg.get("expect"), YSeq) else None, "an expectation")
        step.parsed = AggregateConfig(by, metrics, expect)
        step.local_names = {name for name, _, _ in metrics}

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        cfg: AggregateConfig = step.parsed
        columns: dict[str, Type] = {}
        for name, expr in cfg.by:
            if name in columns:
                ctx.reporter.report("E0107", expr.span, f"two group keys are both named '{name}'",
                                    hint="name them with the mapping form: by: {a_id: unit.a.id, b_id: unit.b.id}")
            columns[name] = ctx.check(expr, ctx.scope()) or ANY
        keys = _group_keys(cfg.by)
        checker = ctx.checker(mode="group", group_keys=keys)
        metric_types: dict[str, Type] = {}
        for name, _, expr in cfg.metrics:
            if expr is not None:
                bindings = {n: Binding(t, f"metric '{n}'", per_unit=False) for n, t in metric_types.items()}
                metric_types[name] = checker.check(expr, ctx.scope(bindings))
        named = {n: Binding(t, f"group key '{n}'", per_unit=False) for n, t in columns.items()}
        named.update({n: Binding(t, f"metric '{n}'", per_unit=False) for n, t in metric_types.items()})
        group_scope = ctx.scope(named)
        for expr in cfg.expect:
            checker.check_bool(expr, group_scope, "an expectation")
        return record({**columns, **metric_types}, f"aggregate '{step.name}'")

    def plan_config(self, step: Step) -> dict:
        return _plan_config(step)

    def runner(self, config: dict, functions):
        from .aggregate_run import AggregateRunner

        return AggregateRunner(config, functions)


def _plan_config(step: Step) -> dict:
    cfg: AggregateConfig = step.parsed
    return {"by": [[name, expr_ir(e)] for name, e in cfg.by], "metrics": named_ir(cfg.metrics),
            "expect": [expr_ir(e) for e in cfg.expect]}


def _column(expr: ast.Expr) -> str:
    path = dotted(expr)
    return path[-1] if path else expr.span.text()


def _group_keys(by: list) -> tuple[tuple[str, ...], ...]:
    """Dotted prefixes that are constant within a group.

    Grouping by ``unit.scenario.id`` fixes the whole row ``unit.scenario``
    (rows are identified by their id), so ``unit.scenario.start`` may be used
    outside aggregate functions too.
    """
    keys = []
    for _, expr in by:
        path = dotted(expr)
        if path is None:
            continue
        keys.append(tuple(path))
        if len(path) == 3 and path[0] == "unit" and path[2] == "id":
            keys.append(tuple(path[:2]))
    return tuple(keys)


KIND = Aggregate()
