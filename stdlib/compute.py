"""`compute`: named expressions per unit, evaluated in order (no loop).

A name with a leading `_` is private: later values and the step's `validate` rules read it, but it is not
an output (so intermediates stay out of results and exports); a step downstream that reads it is E0234.
"""

from __future__ import annotations

from octo.compiler.expressions.scope import Binding
from octo.compiler.expressions.types import ANY, RecordT, Type, record
from octo.compiler.frontend.kinds import StepContext, StepKind, named_ir
from octo.compiler.frontend.program import Step


class Compute(StepKind):
    name = "compute"
    runs = "local"
    summary = "Named expressions per unit, evaluated in order; later ones may use earlier ones."
    settings = frozenset()
    config_schema = {"$ref": "#/$defs/namedExpressions", "minProperties": 1}

    def parse(self, step: Step, ctx: StepContext) -> None:
        step.parsed = ctx.named_exprs(step.config, "value")
        step.local_names = {name for name, _, _ in step.parsed}

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        values: dict[str, Type] = {}
        for name, _, expr in step.parsed:
            bindings = {n: Binding(t, f"value '{n}'") for n, t in values.items()}
            values[name] = ctx.check(expr, ctx.scope(bindings)) or ANY
        step.private = {n: t for n, t in values.items() if is_private(n)}
        return record({n: t for n, t in values.items() if not is_private(n)}, f"step '{step.name}'")

    def plan_config(self, step: Step) -> dict:
        return {"values": named_ir(step.parsed)}

    def executor(self, config: dict, functions):
        """(env, rng) → outputs: the values in order, each seeing the earlier ones."""
        from .execution import compiled_named  # the evaluation side: imported only by what runs steps, never by `check`
        values = compiled_named(config["values"], functions)

        def run(env, rng) -> dict:
            scope = dict(env)
            out = {}
            for name, expr in values:
                out[name] = scope[name] = expr.evaluate(scope, rng)
            return out

        run.random = any(expr.random for _, expr in values)  # does it need the unit's stream?
        run.private = frozenset(name for name, _ in values if is_private(name))  # dropped after `validate`
        return run


def is_private(name: str) -> bool:
    return name.startswith("_")


KIND = Compute()
