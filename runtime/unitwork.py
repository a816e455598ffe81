"""Running a per-unit local step over a chunk of units.

:class:`UnitWork` is built from the Plan alone — the unit space, the data and
each step's compiled executor — so a worker process can build its own
(compiled expressions are not picklable) and compute exactly what the tick's
own process would. It takes upstream outputs as stored (JSON text) and gives
rows ready to store (outputs as JSON text): encoding and decoding happen
wherever the chunk runs, not in the process that commits it.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from octo.compiler.codegen import EvalError
from octo.compiler.evalsupport import unit_stream
from octo.compiler.ir import Plan
from octo.stdlib import default_language
from octo.stdlib.execution import compiled

from .units import data_env, unit_space

Unit = tuple[int, int, str]  # (position, index in the unit space, id)
StoredResult = tuple[str, "str | None", "str | None"]  # (state, output as JSON, reason)
ResultRow = tuple[int, str, "str | None", "str | None"]  # (position, state, output as JSON, reason)

_encode = json.JSONEncoder().encode  # what json.dumps(x) gives, without its per-call checks
_raw_decode = json.JSONDecoder().raw_decode


def decode_output(text: str) -> Any:
    """A stored output, as json.loads gives it; outputs are stored compact, so the usual
    whitespace scans around the value are skipped (anything else goes the strict way)."""
    try:
        value, end = _raw_decode(text)
    except ValueError:
        return json.loads(text)  # raises as json.loads does
    return value if end == len(text) else json.loads(text)


class StepExecutor:
    """One step compiled: its body (with `validate` rules), its `when`, and whether it needs a stream."""

    __slots__ = ("run", "when", "needs_rng")

    def __init__(self, step: dict, language):
        kind = language.kinds[step["kind"]]
        run = kind.executor(step["config"], language.functions)
        rules = [(compiled(v["rule"], language.functions), v["message"]) for v in step.get("validate", [])]
        self.when = compiled(step["when"], language.functions)
        self.needs_rng = getattr(run, "random", True) or (self.when is not None and self.when.random)
        self.run = validated(run, rules) if rules else run


class UnitWork:
    """Computes chunks of per-unit steps: a pure function of the Plan, the units and their upstream results."""

    def __init__(self, plan: Plan, language=None):
        self.language = language or default_language()
        self.space = unit_space(plan)
        self.data = data_env(plan)
        self.seed = plan.data["pipeline"]["seed"]
        self.steps = {s["name"]: s for s in plan.steps}
        self._executors: dict[str, StepExecutor] = {}

    def executor(self, name: str) -> StepExecutor:
        if name not in self._executors:
            self._executors[name] = StepExecutor(self.steps[name], self.language)
        return self._executors[name]

    def run(self, name: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]]) -> list[ResultRow]:
        """The result row of step ``name`` for each unit, from its upstream steps' stored results."""
        ex = self.executor(name)
        rows = []
        for pos, idx, unit_id in units:
            ups = {d: r[pos] for d, r in upstream.items()}
            state, output, reason = self.run_unit(name, ex, idx, unit_id, ups, decode_output)
            rows.append((pos, state, _encode(output) if output is not None else None, reason))
        return rows

    def run_unit(self, name: str, ex: StepExecutor, idx: int, unit_id: str, upstream: dict[str, tuple],
                 decode: Callable[[Any], Any] | None = None) -> tuple[str, Any, str | None]:
        """(state, output, reason) of one unit; ``decode`` turns a stored upstream output into a value."""
        for dep, (state, _, _) in upstream.items():
            if state in ("failed", "blocked"):
                return "blocked", None, f"upstream step '{dep}' failed"
        env = {"unit": self.space.unit(idx, unit_id), "data": self.data}
        for dep, (_, output, _) in upstream.items():
            env[dep] = decode(output) if decode is not None and output is not None else output
        rng = unit_stream(self.seed, unit_id, name) if ex.needs_rng else None  # streams cost ~5 µs: only when drawn from
        try:
            if ex.when is not None and not ex.when.evaluate(env, rng):
                return "skipped", None, None
            return "done", ex.run(env, rng), None
        except EvalError as err:
            return "failed", None, failure_reason(err)


def validated(run, rules):
    """Wrap an executor so a false `validate` rule fails the unit with the rule's message."""
    from octo.compiler.templates import make_environment

    env_jinja = make_environment()
    messages = [(rule, env_jinja.from_string(message) if message else None) for rule, message in rules]

    def checked(env, rng):
        output = run(env, rng)
        scope = {**env, **output}
        for rule, message in messages:
            if not rule.evaluate(scope):
                text = message.render(scope) if message is not None else "a validate rule failed"
                raise EvalError(f"{text.strip()} (validate: `{rule.expr.span.text()}`)", rule.span)
        return output

    return checked


def failure_reason(err: EvalError) -> str:
    """A unit's failure in words: the message, the expression quoted (when short) and where it is."""
    where = err.where()
    text = ""
    try:
        text = err.span.text() if err.span is not None else ""
    except Exception:
        pass
    quoted = f" in `{' '.join(text.split())}`" if text and len(text) <= 80 else ""
    return f"{err.message}{quoted}" + (f" at {where}" if where else "")
