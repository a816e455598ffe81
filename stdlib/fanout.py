"""`fanout`: expand a list into child units, one per item; the steps that read it run over them.

The step runs per (parent) unit: `each` gives the list, and the runtime
(runtime/work/fanout.py) stores one child unit per item, in the transaction that
stores the parent's result. Which steps run over the children — the steps
that read the fan-out — is decided by compiler/frontend/fanouts.py.
"""

from __future__ import annotations

from octo.compiler.base.records import record_class
from octo.compiler.base.yamlnodes import YMap, YScalar
from octo.compiler.expressions import ast
from octo.compiler.expressions.evalerror import EvalError
from octo.compiler.expressions.types import ANY, INT, STR, ListT, RecordT, SetT, is_any, record, strip
from octo.compiler.frontend.kinds import StepContext, StepKind, expr_ir
from octo.compiler.frontend.language import EXPR
from octo.compiler.frontend.program import Step

MAX_CHILDREN = 1_000_000  # the longest list an expression may build (compiler/expressions/evalsupport.py MAX_ITEMS)


@record_class
class FanoutConfig:
    each: ast.Expr | None
    max: int | None  # at most this many children per parent unit (None: as many as the list has)
    max_node: YScalar | None
    min_items: int | None = None  # the list's declared item counts, once typed: they feed the plan's estimate
    max_items: int | None = None


class Fanout(StepKind):
    name = "fanout"
    runs = "local"
    expands = True
    summary = "Expand a list into child units, one per item; the steps that read it run once per item."
    settings = frozenset()
    config_schema = {
        "type": "object",
        "required": ["each"],
        "additionalProperties": False,
        "properties": {
            "each": {**EXPR, "description": "A list, per unit: one child unit per item."},
            "max": {"type": "integer", "minimum": 1, "maximum": MAX_CHILDREN,
                    "description": "At most this many children per unit; a longer list fails that unit."},
        },
    }

    def parse(self, step: Step, ctx: StepContext) -> None:
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        limit = cfg.get("max")
        value = limit.value if isinstance(limit, YScalar) else None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # `max: 5.0` passes the schema (JSON Schema's integers include it): a count is an int
        whole = isinstance(value, int) and not isinstance(value, bool)
        step.parsed = FanoutConfig(ctx.expr(cfg.get("each"), "`each`"), value if whole else None,
                                   limit if whole else None)

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        cfg: FanoutConfig = step.parsed
        found = ctx.check(cfg.each, ctx.scope()) if cfg.each is not None else None
        elem = ANY
        listed = strip(found) if found is not None else ANY
        if isinstance(listed, (ListT, SetT)):
            elem = listed.elem
            cfg.min_items, cfg.max_items = getattr(listed, "min_items", None), getattr(listed, "max_items", None)
        elif found is not None and not is_any(listed):
            ctx.reporter.report("E0310", cfg.each.span, f"fan-out '{step.name}' expands `each`, whose type is "
                                f"{found.describe()}, not a list", label="one child unit per item of this list",
                                hint=(f"for a child per number below it, write range({cfg.each.span.text()})" if listed == INT
                                      else "give `each` a list, e.g. a generate step's `list[str]` output (ideas.ideas)"))
            return self._output(step, elem)
        if cfg.max is not None and cfg.max >= 1 and (cfg.min_items or 0) > cfg.max:  # below 1: the schema said so
            ctx.reporter.report("E0310", cfg.max_node.span, f"fan-out '{step.name}' allows at most {cfg.max:,} {'child' if cfg.max == 1 else 'children'} "
                                f"per unit, but its list has at least {cfg.min_items:,} {'item' if cfg.min_items == 1 else 'items'}: "
                                f"every unit would fail",
                                label="fewer than the list's fewest items",
                                hint=f"set `max:` to at least {cfg.min_items:,}, or declare fewer items where the list is made")
        if cfg.each is not None and cfg.max is None and cfg.max_items is None:
            ctx.reporter.report("W0407", cfg.each.span, f"fan-out '{step.name}' has no upper bound on its children per unit",
                                label=f"no upper bound on its items: the plan's worst case assumes {MAX_CHILDREN:,} per unit",
                                hint="declare the list's item counts where it is made (`ideas: list[str][3, 5]`), "
                                     "or set `max:` on the fan-out")
        return self._output(step, elem)

    @staticmethod
    def _output(step: Step, elem) -> RecordT:
        return record({"item": elem, "index": INT, "parent": STR}, f"fan-out '{step.name}'")

    def plan_config(self, step: Step) -> dict:
        cfg: FanoutConfig = step.parsed
        return {"each": expr_ir(cfg.each), "max": cfg.max}

    def executor(self, config: dict, functions):
        """(env, rng) → {"items": the list, or None when `each` is null}: a longer list than `max`, or a value
        that is not a list, fails the parent unit."""
        from octo.compiler.expressions.evalsupport import ordered

        from .execution import compiled  # the evaluation side: imported only by what runs steps, never by `check`
        each = compiled(config["each"], functions)
        limit = config.get("max")

        def run(env, rng) -> dict:
            value = each.evaluate(env, rng)
            if value is None:
                return {"items": None}
            if not isinstance(value, (list, tuple, set, frozenset)):
                raise EvalError(f"`each` gave {_a(value)}, not a list", each.span)
            items = list(ordered(value))  # a set's items in their stored order
            if limit is not None and len(items) > limit:
                raise EvalError(f"`each` gave {len(items):,} items, more than `max: {limit:,}`", each.span)
            return {"items": items}

        run.random = each.random
        return run


def _a(value) -> str:
    kind = {bool: "a bool", int: "a number", float: "a number", str: "a string", dict: "a dict"}
    return kind.get(type(value), "a value")


KIND = Fanout()
