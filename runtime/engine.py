"""The tick: load state → do the ready work → commit.

Every tick can be the last: work is committed in chunks of units, each chunk
in one transaction, and everything a chunk computes is a pure function of the
Plan, the unit and the run seed (random streams are per (seed, unit, step)), so
a chunk lost to a kill is recomputed identically by the next tick.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from octo.compiler.codegen import EvalError
from octo.compiler.evalsupport import unit_stream
from octo.stdlib import default_language
from octo.stdlib.execution import compiled

from .rundir import open_plan, open_store
from .store import Store
from .units import data_env, unit_space

CHUNK = 2_000  # units per transaction: small enough to stop within a second


@dataclass
class TickResult:
    processed: int = 0
    finished: bool = False
    stopped: bool = False
    waiting: list[str] = field(default_factory=list)  # steps that cannot run here yet


class Engine:
    def __init__(self, run_dir: Path, providers=None, options=None):
        self.dir = Path(run_dir)
        self.plan = open_plan(self.dir)
        self.store = open_store(self.dir)
        self.language = default_language()
        self.space = unit_space(self.plan)
        self.data = data_env(self.plan)
        self.seed = self.plan.data["pipeline"]["seed"]
        self.steps = {s["name"]: s for s in self.plan.steps}
        self.run_tag = self.store.get("tag") or "run"
        self.deps = effective_deps(self.plan.steps)
        self._executors: dict[str, object] = {}
        self._whens: dict[str, object] = {}
        self.providers = providers
        self.dispatch_options = options
        self._dispatch = None

    @property
    def dispatch(self):
        """The provider side of the tick, built on first use (a run without provider steps never needs it)."""
        if self._dispatch is None:
            from .dispatch import DispatchOptions, ProviderSteps

            if self.providers is None:
                from .providers import Providers

                self.providers = Providers()
            self._dispatch = ProviderSteps(self, self.providers, self.dispatch_options or DispatchOptions())
        return self._dispatch

    def close(self) -> None:
        self.store.close()

    # --- the tick ------------------------------------------------------------------------

    def tick(self, should_stop: Callable[[], bool] = lambda: False, deadline: float | None = None) -> TickResult:
        """Do every piece of ready work (until ``should_stop`` or ``deadline``), committing as it goes."""
        result = TickResult()
        self._cursor: dict[str, int] = {}  # per step: every unit before it has a result or is waiting
        self.store.event("tick")
        for step in self.plan.steps:
            if step["runs"] == "provider":
                if self._incomplete(step["name"]):
                    result.processed += self.dispatch.advance(step, should_stop)
                    if self._incomplete(step["name"]):
                        result.waiting.append(step["name"])
                continue
            kind = self.language.kinds[step["kind"]]
            while not (should_stop() or (deadline and time.monotonic() > deadline)):
                n = self._run_chunk(step, kind) if kind.per_unit else self._run_aggregate(step, kind)
                result.processed += n
                if n == 0:
                    break
            if should_stop() or (deadline and time.monotonic() > deadline):
                result.stopped = True
                return result
        result.finished = self.finished()
        if result.finished and self.store.get("state") != "done":
            with self.store.transaction() as db:
                self.store.put("state", "done", db)
                self.store.put("finished", str(time.time()), db)
                self.store.event("finished", db=db)
        return result

    def finished(self) -> bool:
        return all(not self._incomplete(s["name"]) for s in self.plan.steps)

    def _incomplete(self, step: str) -> bool:
        if self.language.kinds[self.steps[step]["kind"]].per_unit:
            return sum(self.store.counts(step).values()) < self.store.unit_count()
        return self.store.get(f"aggregated:{step}") is None

    # --- per-unit steps ----------------------------------------------------------------------

    def _executor(self, step: dict, kind):
        if step["name"] not in self._executors:
            run = kind.executor(step["config"], self.language.functions)
            rules = [(compiled(v["rule"], self.language.functions), v["message"]) for v in step.get("validate", [])]
            when = compiled(step["when"], self.language.functions)
            needs_rng = getattr(run, "random", True) or (when is not None and when.random)
            self._executors[step["name"]] = (_validated(run, rules) if rules else run, when, needs_rng)
        return self._executors[step["name"]]

    def _run_chunk(self, step: dict, kind) -> int:
        name = step["name"]
        positions = self._ready(name, self.deps[name])
        if not positions:
            return 0
        run, when, needs_rng = self._executor(step, kind)
        upstream = {dep: self.store.results(dep, positions) for dep in step["depends_on"]}
        rows = []
        for pos, idx, unit_id in self.store.units(positions):
            rows.append((pos, *self._run_unit(name, run, when, needs_rng, idx, unit_id,
                                              {d: r[pos] for d, r in upstream.items()})))
        with self.store.transaction() as db:
            self.store.add_results(name, rows, db)
        return len(rows)

    def _ready(self, step: str, deps: list[str]) -> list[int]:
        """Units with no result for ``step`` whose upstream steps all have one."""
        dep_clause = "".join(f" AND EXISTS (SELECT 1 FROM results d WHERE d.step = ? AND d.unit = u.pos)" for _ in deps)
        sql = (f"SELECT pos FROM units u WHERE u.pos >= ? AND NOT EXISTS "
               f"(SELECT 1 FROM results r WHERE r.step = ? AND r.unit = u.pos){dep_clause} ORDER BY pos LIMIT {CHUNK}")
        positions = [r[0] for r in self.store.db.execute(sql, (self._cursor.get(step, 0), step, *deps))]
        if positions:  # the next chunk starts after this one: no re-scan of finished units
            self._cursor[step] = positions[-1] + 1
        return positions

    def _run_unit(self, name, run, when, needs_rng, idx, unit_id, upstream: dict) -> tuple[str, object, str | None]:
        failed = [d for d, (state, _, _) in upstream.items() if state in ("failed", "blocked")]
        if failed:
            return "blocked", None, f"upstream step '{failed[0]}' failed"
        env = {"unit": self.space.unit(idx, unit_id), "data": self.data,
               **{d: output for d, (_, output, _) in upstream.items()}}
        rng = unit_stream(self.seed, unit_id, name) if needs_rng else None  # streams cost ~10 µs: only when drawn from
        try:
            if when is not None and not when.evaluate(env, rng):
                return "skipped", None, None
            return "done", run(env, rng), None
        except EvalError as err:
            return "failed", None, _reason(err)

    # --- aggregates ------------------------------------------------------------------------

    def _run_aggregate(self, step: dict, kind) -> int:
        name = step["name"]
        if self.store.get(f"aggregated:{name}") is not None:
            return 0
        if any(self._incomplete(d) for d in self.deps[name]):
            return 0
        runner = kind.runner(step["config"], self.language.functions)
        when = compiled(step["when"], self.language.functions)
        units = self.store.units()
        for start in range(0, len(units), CHUNK):
            chunk = units[start:start + CHUNK]
            positions = [p for p, _, _ in chunk]
            upstream = {dep: self.store.results(dep, positions) for dep in step["depends_on"]}
            for pos, idx, unit_id in chunk:
                states = [upstream[d][pos][0] for d in step["depends_on"]]
                if any(s in ("failed", "blocked") for s in states):
                    continue  # a failed unit is reported as failed, not aggregated
                env = {"unit": self.space.unit(idx, unit_id), "data": self.data,
                       **{d: upstream[d][pos][1] for d in step["depends_on"]}}
                if when is not None and not when.evaluate(env):
                    continue
                runner.add(env)
        groups = runner.finish()
        with self.store.transaction() as db:
            for g in groups:
                import json

                db.execute("INSERT INTO groups(step, key, units, metrics) VALUES (?, ?, ?, ?)",
                           (name, g["key"], g["units"], json.dumps({"by": g["by"], "metrics": g["metrics"],
                                                                   "errors": g["errors"]})))
                for n, e in enumerate(g["expects"]):
                    db.execute("INSERT INTO expects(step, key, n, text, at, passed, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (name, g["key"], n, e["text"], e["at"], int(e["passed"]),
                                json.dumps({**e["values"], **({"error": e["error"]} if "error" in e else {})})))
            self.store.put(f"aggregated:{name}", str(time.time()), db)
        return len(groups) or 1


    # --- shared with the provider side ---------------------------------------------------

    def unit_envs(self, step: str, positions: list[int]):
        """(position, env, blocked reason or None) per unit: the names a step's expressions and prompts see."""
        upstream = {dep: self.store.results(dep, positions) for dep in self.deps[step]}
        for pos, idx, unit_id in self.store.units(positions):
            states = {d: r[pos] for d, r in upstream.items() if pos in r}
            failed = [d for d, (state, _, _) in states.items() if state in ("failed", "blocked")]
            env = {"unit": self.space.unit(idx, unit_id), "data": self.data,
                   **{d: output for d, (_, output, _) in states.items()}}
            yield pos, env, (f"upstream step '{failed[0]}' failed" if failed else None)

    def when_of(self, step: dict):
        if step["name"] not in self._whens:
            self._whens[step["name"]] = compiled(step["when"], self.language.functions)
        return self._whens[step["name"]]

    def rng_for(self, step: str, unit_id: str, expr):
        return unit_stream(self.seed, unit_id, step) if getattr(expr, "random", True) else None

    def reason(self, err: Exception) -> str:
        return _reason(err) if isinstance(err, EvalError) else f"{type(err).__name__}: {err}"

    def judged_group(self, step: str) -> list[str]:
        """``step`` and every judge of it: the steps whose results a failed verdict invalidates."""
        return [step] + [s["name"] for s in self.plan.steps if s["kind"] == "judge" and s["config"].get("of") == step]


def effective_deps(steps: list[dict]) -> dict[str, list[str]]:
    """Each step's dependencies, plus the judges of what it reads: a judge may send a unit's answer
    back, so nothing downstream of a judged step may use the answer before every verdict on it."""
    judges: dict[str, list[str]] = {}
    for s in steps:
        if s["kind"] == "judge":
            judges.setdefault(s["config"]["of"], []).append(s["name"])
    group_of = {m: [target, *js] for target, js in judges.items() for m in (target, *js)}
    out = {}
    for s in steps:
        deps = list(s["depends_on"])
        for d in s["depends_on"]:
            deps += [m for m in group_of.get(d, ()) if m != s["name"] and m not in deps and s["name"] not in group_of.get(d, ())]
        out[s["name"]] = deps
    return out

def _validated(run, rules):
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


def _reason(err: EvalError) -> str:
    where = err.where()
    text = ""
    try:
        text = err.span.text() if err.span is not None else ""
    except Exception:
        pass
    quoted = f" in `{' '.join(text.split())}`" if text and len(text) <= 80 else ""
    return f"{err.message}{quoted}" + (f" at {where}" if where else "")
