"""`simulate`: a loop per unit — `init`, sequential `each`, `until`, `max_iterations`."""

from __future__ import annotations

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.records import record_class
from octo.compiler.base.yamlnodes import YScalar
from octo.compiler.expressions.scope import Binding
from octo.compiler.expressions.types import RecordT, Type, is_any, join, record, strip
from octo.compiler.frontend.kinds import StepContext, StepKind, expr_ir, named_ir
from octo.compiler.frontend.language import EXPR
from octo.compiler.frontend.program import Step

DEFAULT_MAX_ITERATIONS = 100_000
# At a microsecond or more per iteration, a loop this long takes minutes per unit; the bound keeps
# the count a 64-bit integer wherever it is stored, and a typo (10**21) a diagnostic, not a hang.
MAX_ITERATIONS = 100_000_000


@record_class
class SimulateConfig:
    init: list  # [(name, key scalar, expr)]
    each: list
    until: object
    max_iterations: int
    output: list | None  # None: the state variables are the outputs


class Simulate(StepKind):
    name = "simulate"
    runs = "local"
    summary = "A loop per unit: init, then each (sequential assignments) until a condition holds."
    settings = frozenset({"output"})
    config_schema = {
        "type": "object",
        "required": ["init", "each", "until"],
        "additionalProperties": False,
        "properties": {
            "init": {"$ref": "#/$defs/namedExpressions", "description": "State variables and their first values."},
            "each": {"$ref": "#/$defs/namedExpressions", "description": "Assignments of one iteration, in order."},
            "until": {**EXPR, "description": "Stop when this is true (checked after each iteration)."},
            "output": {"$ref": "#/$defs/namedExpressions", "description": "Outputs computed from the final state (default: the state)."},
            "max_iterations": {"type": "integer", "minimum": 1, "maximum": MAX_ITERATIONS,
                               "description": f"Bound on iterations (default {DEFAULT_MAX_ITERATIONS:,}, "
                                              f"at most {MAX_ITERATIONS:,}); a unit that hits it fails."},
        },
    }

    def parse(self, step: Step, ctx: StepContext) -> None:
        cfg = step.config
        get = cfg.get if hasattr(cfg, "get") else (lambda k: None)
        limit = get("max_iterations")
        step.parsed = SimulateConfig(
            init=ctx.named_exprs(get("init"), "initial value"),
            each=ctx.named_exprs(get("each"), "assignment"),
            until=ctx.expr(get("until"), "`until`"),
            max_iterations=_max_iterations(limit),
            output=ctx.named_exprs(step.settings["output"], "output") if "output" in step.settings else None,
        )
        step.local_names = {name for name, _, _ in step.parsed.init}

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        cfg: SimulateConfig = step.parsed
        state = self._initial_state(cfg, ctx)
        state = self._widen(cfg, ctx, state)
        scope = ctx.scope(self._bindings(state))
        self._assign(cfg, ctx, state, ctx.reporter, report=True)
        ctx.check_bool(cfg.until, scope, "`until`")
        if cfg.output is None:
            return record(state, f"step '{step.name}'")
        outputs = {name: (ctx.check(expr, scope) or ctx_any()) for name, _, expr in cfg.output}
        return record(outputs, f"step '{step.name}'")

    def plan_config(self, step: Step) -> dict:
        cfg: SimulateConfig = step.parsed
        return {"init": named_ir(cfg.init), "each": named_ir(cfg.each), "until": expr_ir(cfg.until),
                "max_iterations": cfg.max_iterations,
                "output": named_ir(cfg.output) if cfg.output is not None else None}

    def executor(self, config: dict, functions):
        """(env, rng) → outputs: the whole loop as one compiled function, one random stream for all of it."""
        from octo.compiler.expressions.astjson import from_record
        from octo.compiler.expressions.loopgen import compile_simulation

        def pairs(items):
            return [(name, from_record(record)) for name, record in items] if items is not None else None

        loop = compile_simulation(pairs(config["init"]), pairs(config["each"]), from_record(config["until"]),
                                  pairs(config["output"]), config["max_iterations"], functions,
                                  label=config["until"]["at"])
        return _Executor(loop.run, loop.random, loop.chunk)

    def _initial_state(self, cfg: SimulateConfig, ctx: StepContext) -> dict[str, Type]:
        state: dict[str, Type] = {}
        for name, _, expr in cfg.init:
            t = ctx.check(expr, ctx.scope(self._bindings(state)))
            state[name] = t if t is not None else ctx_any()
        return state

    def _widen(self, cfg: SimulateConfig, ctx: StepContext, state: dict[str, Type]) -> dict[str, Type]:
        """Widen state types until the loop body agrees with them (int → float, enum → more values)."""
        for _ in range(5):
            before = dict(state)
            self._assign(cfg, ctx, state, Reporter(), report=False)
            if state == before:
                break
        return state

    def _assign(self, cfg: SimulateConfig, ctx: StepContext, state: dict[str, Type], reporter: Reporter, report: bool) -> None:
        checker = ctx.checker()
        checker.r = reporter
        for name, key, expr in cfg.each:
            if expr is None:
                continue
            t = checker.check(expr, ctx.scope(self._bindings(state)))
            if name not in state:
                if report:
                    ctx.reporter.report("E0215", key.span, f"'{name}' is not a state variable",
                                        hint=f"declare it in `init` first, e.g. {name}: 0")
                continue
            if is_any(t) and not report:
                continue  # an expression in error: the reporting pass will say so
            widened = join(state[name], t)
            if widened is None:
                if report:
                    ctx.reporter.report("E0206", expr.span, f"state variable '{name}' is {strip(state[name]).describe()}, "
                                        f"but this assigns {strip(t).describe()}")
                continue
            if not report:
                state[name] = widened

    @staticmethod
    def _bindings(state: dict[str, Type]) -> dict[str, Binding]:
        return {n: Binding(t, f"state variable '{n}'") for n, t in state.items()}


def _max_iterations(node) -> int:
    """The setting when it is a whole number in range; otherwise the default (the structure check reports it)."""
    value = node.value if isinstance(node, YScalar) else None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ITERATIONS:
        return value
    return DEFAULT_MAX_ITERATIONS


class _Executor:
    """A callable executor that says whether it draws random numbers (a stream costs ~10 µs to make);
    ``chunk``: the loop over a chunk of units (compiler/expressions/chunkkernel.py), or None."""

    __slots__ = ("run", "random", "chunk")

    def __init__(self, run, random: bool, chunk=None):
        self.run, self.random, self.chunk = run, random, chunk

    def __call__(self, env, rng):
        return self.run(env, rng)


def ctx_any() -> Type:
    from octo.compiler.expressions.types import ANY

    return ANY


KIND = Simulate()
