"""The tick: load state → do the ready work → commit.

Every tick can be the last: work is committed in chunks of units, each chunk
in one transaction, and everything a chunk computes is a pure function of the
Plan, the unit and the run seed (random streams are per (seed, unit, step)), so
a chunk lost to a kill is recomputed identically by the next tick.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from octo.compiler.expressions.codegen import EvalError
from octo.compiler.expressions.evalsupport import unit_stream
from octo.stdlib import default_language
from octo.stdlib.execution import compiled

from .work.dedup import StepDedup, in_unit_order
from .base.encoding import UnstorableValue, encode_plain
from .work.loops import RunLoops
from .work.stuck import stuck_steps
from .work.fanout import run_chunk as run_fanout_chunk
from .work.frontier import Frontiers
from .rundirs.rundir import open_plan, open_store
from .work.scopes import Scopes
from .base import collector
from .base.store import Store
from .work.units import data_env, unit_space
from .work.unitwork import UnitWork, failure_reason, stream_units, validated
from .work.workerpool import POOL_CHUNKS_PER_WORKER, Workers, parallel, run_in_pool
from .work.workers import worker_count

CHUNK = 2_000  # units per transaction: small enough to stop within a second
POOL_MIN_UNITS = 8 * CHUNK  # a step this large pays for starting worker processes


@dataclass
class TickResult:
    processed: int = 0
    finished: bool = False
    stopped: bool = False
    waiting: list[str] = field(default_factory=list)  # steps that cannot run here yet
    stuck: list[str] = field(default_factory=list)  # nothing ready, nothing in flight, steps unfinished (runtime/work/stuck.py)


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
        # reads + final verdicts (compiler/frontend/loops.py)
        self.deps = {s["name"]: s["waits_for"] for s in self.plan.steps}
        self.loops = RunLoops(self.plan, self.store)
        self.scopes = Scopes(self.plan, self.language)  # which units each step runs over (fan-out)
        self.workers = Workers(self.plan)  # worker processes for large per-unit steps, started when used
        self.frontiers = Frontiers(self.store, self.scopes)  # per step: where the search for ready units starts
        self.loops.on_send_back = self.frontiers.lower  # a send-back takes results away below the marks
        self._executors: dict[str, object] = {}
        self._whens: dict[str, object] = {}
        self._complete: set[str] = set()
        self.providers = providers
        self.dispatch_options = options
        self._dispatch = None

    @property
    def dispatch(self):
        """The provider side of the tick, built on first use (a run without provider steps never needs it)."""
        if self._dispatch is None:
            from .attempts.dispatch import DispatchOptions, ProviderSteps

            if self.providers is None:
                from .providers import Providers

                self.providers = Providers()
            self._dispatch = ProviderSteps(self, self.providers, self.dispatch_options or DispatchOptions())
        return self._dispatch

    def close(self) -> None:
        self.workers.close()
        if self._dispatch is not None:
            self._dispatch.close()
        self.store.close()

    def provider_trouble(self) -> dict[str, tuple[float, str]]:
        """Providers failing with transient errors right now (since when, last error); {} without provider steps."""
        return self._dispatch.trouble() if self._dispatch is not None else {}

    # --- the tick ------------------------------------------------------------------------

    def tick(self, should_stop: Callable[[], bool] = lambda: False, deadline: float | None = None) -> TickResult:
        """Do every piece of ready work (until ``should_stop`` or ``deadline``), committing as it goes."""
        with collector.for_a_tick():  # fewer garbage collections, none over what lives longer (runtime/base/collector.py)
            return self._tick(should_stop, deadline)

    def _tick(self, should_stop: Callable[[], bool], deadline: float | None) -> TickResult:
        result = TickResult()
        self._cursor: dict[str, int] = {}  # per step, this tick: every unit before it has a result or is waiting
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
        if not result.finished and result.processed == 0:
            result.stuck = stuck_steps(self)
            if result.stuck:
                self.store.event("stuck", detail=result.stuck)
        if result.finished and self.store.get("state") != "done":
            with self.store.transaction() as db:
                self.store.put("state", "done", db)
                self.store.put("finished", str(time.time()), db)
                self.store.event("finished", db=db)
        return result

    def finished(self) -> bool:
        return all(not self._incomplete(s["name"]) for s in self.plan.steps)

    def _incomplete(self, step: str) -> bool:
        if step in self._complete:
            return False
        if self.language.kinds[self.steps[step]["kind"]].per_unit:
            scope = self.scopes.scope[step]  # a step over a fan-out's children: more may come while it expands
            incomplete = (self.scopes.active and scope != "" and self._incomplete(scope)
                          or self.frontiers.unfinished(step) is not None)
        else:
            incomplete = self.store.get(f"aggregated:{step}") is None
        if not incomplete and self.steps[step]["runs"] == "local" and self._loops_final(step):
            self._complete.add(step)  # complete for good: nothing can send it back any more
        return incomplete

    def _loops_final(self, step: str) -> bool:
        """Has every verdict that could withdraw ``step``'s results (runtime/work/loops.py) a result for every unit?"""
        return all(self.frontiers.unfinished(v) is None for v in self.loops.verdicts_over(step))

    def settled(self, step: str) -> bool:
        """Is ``step`` known complete for good (a local step whose every unit has its result)?"""
        return step in self._complete

    # --- per-unit steps ----------------------------------------------------------------------

    def _executor(self, step: dict, kind):
        """(run, when, needs_rng) of a per-unit step, compiled once."""
        ex = self._unit_work().executor(step["name"])
        return ex.run, ex.when, ex.needs_rng

    def _unit_work(self) -> UnitWork:
        if "_work" not in self.__dict__:
            self._work = UnitWork(self.plan, self.language)
        return self._work

    def _run_chunk(self, step: dict, kind) -> int:
        name = step["name"]
        if kind.expands:  # a fan-out: parents and their children, one transaction a chunk
            return run_fanout_chunk(self, step)
        if self._pooled(name):
            return run_in_pool(self, step)
        dedup = self.dedup_of(step)
        start = self._tick_start(name)
        positions = self._ready(name, self.deps[name])
        if dedup is not None:  # units in unit order only: a unit waits for every unit before it (runtime/work/dedup.py)
            positions = in_unit_order(self.store, self.scopes, name, positions, start)
            self._cursor[name] = positions[-1] + 1 if positions else start
            dedup.begin(positions)
        if not positions:
            return 0
        work, units, fold = self._unit_work(), self._units_at(positions), self._fold_for(name)
        records = [] if fold is not None else None
        rows = work.run(name, units, self._stored_upstream(step, positions),
                        admit=dedup.admit if dedup is not None else None, records=records)
        part = work.fold(fold, name, units, records, rows) if fold is not None else None
        self._commit(name, rows, dedup)
        self._keep_part(fold, rows, part)
        return len(rows)

    def dedup_of(self, step: dict) -> StepDedup | None:
        """The seen keys of a step with `unique_by` (None without)."""
        if step.get("unique_by") is None:
            return None
        dedups = self.__dict__.setdefault("_dedups", {})
        if step["name"] not in dedups:
            dedups[step["name"]] = StepDedup(self.store, step, self.language.functions)
        return dedups[step["name"]]

    def _stored_upstream(self, step: dict, positions: list[int]) -> dict:
        return self.scopes.upstream(self.store, self.scopes.scope[step["name"]], step["depends_on"], positions)

    def _commit(self, name: str, rows: list, dedup: StepDedup | None = None) -> None:
        """One chunk, one transaction: a kill loses at most the chunk in flight (with the keys it claimed)."""
        with self.store.transaction() as db:
            kept = self.loops.decide_local(name, rows, db)  # a gate's failed verdict may send its loop back instead
            self.store.add_encoded_results(name, kept, db)
            if dedup is not None:
                dedup.write(db)
        if rows and kept is rows and not self.scopes.active:  # nothing sent back: each unit has its result
            self.frontiers.filled(name, rows[0][0], rows[-1][0] + 1, len(rows))

    def _keep_part(self, fold: str | None, rows: list, part: dict | None) -> None:
        """Aggregate ``fold``'s part over a chunk's ``rows`` (UnitWork.fold), kept once they are committed
        (as they were: a step folded is no loop's, so no verdict sent any back) for a run of positions."""
        if fold is not None and rows and rows[-1][0] - rows[0][0] + 1 == len(rows):
            self.__dict__.setdefault("_folded", {}).setdefault(fold, {})[rows[0][0]] = (rows[-1][0] + 1, part)

    def _fold_for(self, step: str) -> str | None:
        """The aggregate folded into ``step``'s chunks as they are computed (None: none is).

        One that reads ``step`` alone and waits for nothing else, not aggregated yet, in a run without
        fan-outs (the units are positions 0..n-1, a chunk's a run of them) over a step no loop can send
        back (what is stored for it is then what this process computed and keeps a part of, for good).
        """
        folds = self.__dict__.setdefault("_fold_of", {})
        if step not in folds:
            folds[step] = None
            if not self.scopes.active and step not in self.loops.local_verdicts and not self.loops.verdicts_over(step):
                folds[step] = next((s["name"] for s in self.plan.steps
                                    if not self.language.kinds[s["kind"]].per_unit and s["depends_on"] == [step]
                                    and self.deps[s["name"]] == [step]
                                    and self.store.get(f"aggregated:{s['name']}") is None), None)
        return folds[step]

    # --- per-unit steps in worker processes -------------------------------------------------

    def _pooled(self, name: str) -> bool:
        """Whether worker processes run this step: they pay off on a large step only (decided once a step)."""
        decided = self.__dict__.setdefault("_pooled_steps", {})
        if name not in decided:
            pending = self.store.unit_count() - sum(self.store.counts(name).values())
            decided[name] = (pending >= POOL_MIN_UNITS and worker_count() > 1
                             and self.steps[name].get("unique_by") is None)  # deduplicated: in order, in this process
        return decided[name]

    def adopt_head_start(self, head) -> None:
        """Take over a new run's head start (runtime/headstart.py): its workers, and the chunks they
        computed while the units were stored, each used only if it is exactly the chunk handed out."""
        self.workers.adopt(head)

    def _tick_start(self, step: str) -> int | None:
        """Where this tick's search for ``step``'s ready units is: its first look starts at the step's first
        unit without a result (runtime/work/frontier.py), not at 0, so no tick walks the finished units again."""
        if step not in self._cursor:
            self._cursor[step] = self.frontiers.unfinished(step)
        return self._cursor[step]

    def _ready(self, step: str, deps: list[str]) -> list[int]:
        """Units with no result for ``step`` whose upstream steps all have one."""
        if self._tick_start(step) is None:
            return []
        if not deps and not self.scopes.active:
            return self._unfilled(step)
        dep_clause, deps = self.scopes.ready_filter(self.store, step, deps)  # its scope's units; deps where stored
        sql = (f"SELECT pos FROM units u WHERE u.pos >= ? AND NOT EXISTS "
               f"(SELECT 1 FROM results r WHERE r.step = ? AND r.unit = u.pos){dep_clause} ORDER BY pos LIMIT {CHUNK}")
        positions = [r[0] for r in self.store.db.execute(sql, (self._cursor[step], step, *deps))]
        if positions:  # the next chunk starts after this one: no re-scan of finished units
            self._cursor[step] = positions[-1] + 1
        return positions

    def _unfilled(self, step: str) -> list[int]:
        """:meth:`_ready` of a step that waits for nothing, in a run without fan-outs (its units are positions
        0..n-1): the positions from the cursor on without a result, a window of CHUNK at a time, found by
        reading the step's own results in the window (a range of their key) rather than by probing every unit."""
        start = self._cursor[step]
        end = self.store.db.execute("SELECT max(pos) FROM units").fetchone()[0]
        end = -1 if end is None else end
        while start <= end:
            stop = min(start + CHUNK, end + 1)
            have = {r[0] for r in self.store.db.execute(
                "SELECT unit FROM results WHERE step = ? AND unit >= ? AND unit < ?", (step, start, stop))}
            positions = [pos for pos in range(start, stop) if pos not in have] if have else list(range(start, stop))
            if positions:
                self._cursor[step] = positions[-1] + 1
                return positions
            start = stop
        self._cursor[step] = start
        return []

    def _units_at(self, positions: list[int]) -> list[tuple[int, int, str]]:
        """The units at ``positions`` (position, index, id): made from the unit space where every position is
        its unit's index (no fan-out, no `where`, no `sample`: creation stored them so), else read."""
        if "_indexed" not in self.__dict__:
            units = self.plan.data["units"]
            self._indexed = not self.scopes.active and units["where"] is None and units["sample"] is None
        if self._indexed:
            return list(zip(positions, positions, self.space.unit_ids(positions)))
        return self.store.units(positions)

    def _run_unit(self, name, run, when, needs_rng, idx, unit_id, upstream: dict) -> tuple[str, object, str | None]:
        """(state, output, reason) of one unit, from its upstream (state, output, reason) per step."""
        return self._unit_work().run_unit(name, _Compiled(run, when, needs_rng), idx, unit_id, upstream)

    # --- aggregates ------------------------------------------------------------------------

    def _run_aggregate(self, step: dict, kind) -> int:
        name = step["name"]
        if self.store.get(f"aggregated:{name}") is not None:
            return 0
        if any(self._incomplete(d) for d in self.deps[name]):
            return 0
        runner = kind.runner(step["config"], self.language.functions)
        when = compiled(step["when"], self.language.functions)
        self._stream_units(runner, step, when)
        groups = runner.finish()
        with self.store.transaction() as db:
            for g in groups:
                db.execute("INSERT INTO groups(step, key, units, metrics) VALUES (?, ?, ?, ?)",
                           (name, g["key"], g["units"], _group_json(g)))
                for n, e in enumerate(g["expects"]):
                    db.execute("INSERT INTO expects(step, key, n, text, at, passed, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (name, g["key"], n, e["text"], e["at"], int(e["passed"]),
                                _json_or_null({**e["values"], **({"error": e["error"]} if "error" in e else {})})))
            self.store.put(f"aggregated:{name}", str(time.time()), db)
        return len(groups) or 1


    def _stream_units(self, runner, step: dict, when) -> None:
        """Every unit whose upstream steps succeeded (and whose `when` holds) into ``runner``, chunk by chunk.

        The chunks folded as their step was computed (:meth:`_fold_for`) are parts already; the others
        are read from the store. A large aggregate streams those in worker processes, each into a part
        of the groups; every part is merged here in unit order: the groups one process would have built.
        """
        deps = step["depends_on"]
        scope = self.scopes.scope[step["name"]]  # the units it reduces: the run's, or a fan-out's children
        folded = self.__dict__.get("_folded", {}).pop(step["name"], {})  # first position → (stop, part)
        starts = sorted(folded)
        unread = self.store.unit_count() - sum(stop - first for first, (stop, _) in folded.items())
        pool = self.workers.pool() if self._pooled_aggregate(unread) else None
        in_flight: deque = deque()
        start = 0
        while True:
            if start in folded:
                start, part = folded[start]
                in_flight.append(_Done(part))
            else:
                later = starts[bisect.bisect_right(starts, start)] if starts and starts[-1] > start else None
                units = self.scopes.unit_chunk(self.store, scope, start, CHUNK if later is None else min(CHUNK, later - start))
                if not units:
                    break
                upstream = self.scopes.upstream(self.store, scope, deps, [pos for pos, _, _ in units])
                start = units[-1][0] + 1
                if pool is None:
                    stream_units(runner, when, units, upstream, self.space, self.data)  # after every part before it
                    continue
                in_flight.append(pool.submit_aggregate(step["name"], units, upstream))
            while len(in_flight) > (POOL_CHUNKS_PER_WORKER * pool.workers if pool is not None else 0):
                runner.merge(in_flight.popleft().result(), self.data)
        while in_flight:
            runner.merge(in_flight.popleft().result(), self.data)
        if pool is not None:
            self.workers.close()

    def _pooled_aggregate(self, unread: int) -> bool:
        """Whether worker processes stream an aggregate's ``unread`` units (those not folded): when they are
        many, as for a per-unit step, and the workers can be forked (grouping saves ~10 µs a unit: not worth
        spawning fresh ones)."""
        return unread >= POOL_MIN_UNITS and worker_count() > 1 and parallel().forkable()

    # --- shared with the provider side ---------------------------------------------------

    def unit_envs(self, step: str, positions: list[int]):
        """(position, env, blocked reason or None, skipped upstream steps) per unit: what a step's
        expressions and prompts see, and what became of its upstream steps."""
        upstream = self.scopes.upstream(self.store, self.scopes.scope[step], self.deps[step], positions, decoded=True)
        for pos, idx, unit_id in self.store.units(positions):
            states = {d: r[pos] for d, r in upstream.items() if pos in r}
            failed = [d for d, (state, _, _) in states.items() if state in ("failed", "blocked")]
            env = {"unit": self.space.unit(idx, unit_id), "data": self.data,
                   **{d: output for d, (_, output, _) in states.items()}}
            skipped = {d for d, (state, _, _) in states.items() if state == "skipped"}
            yield pos, env, (f"upstream step '{failed[0]}' failed" if failed else None), skipped

    def when_of(self, step: dict):
        if step["name"] not in self._whens:
            self._whens[step["name"]] = compiled(step["when"], self.language.functions)
        return self._whens[step["name"]]

    def rng_for(self, step: str, unit_id: str, expr):
        return unit_stream(self.seed, unit_id, step) if getattr(expr, "random", True) else None

    def reason(self, err: Exception) -> str:
        return _reason(err) if isinstance(err, EvalError) else f"{type(err).__name__}: {err}"


class _Done:
    """A part already at hand (folded as its step was computed), in line with the workers' futures."""

    def __init__(self, part: dict):
        self.part = part

    def result(self) -> dict:
        return self.part


def _group_json(group: dict) -> str:
    """A group's `by` values, metrics and errors as stored; a metric that cannot be stored is null, and says why."""
    record = {"by": group["by"], "metrics": group["metrics"], "errors": group["errors"]}
    try:
        return encode_plain(record)
    except UnstorableValue:
        pass
    metrics, errors = dict(group["metrics"]), list(group["errors"])
    for name, value in group["metrics"].items():
        try:
            encode_plain(value)
        except UnstorableValue as err:
            metrics[name] = None
            errors.append({"metric": name, "reason": f"the value cannot be stored: {err}"})
    return encode_plain({"by": _json_or_null(group["by"], parse=True), "metrics": metrics, "errors": errors})


def _json_or_null(value, parse: bool = False):
    """``value`` as JSON text (or as what that text reads back, with ``parse``); null when it cannot be stored."""
    try:
        text = encode_plain(value)
    except UnstorableValue:
        text = "null"
    return json.loads(text) if parse else text


class _Compiled:
    """A step's (run, when, needs_rng), as :meth:`UnitWork.run_unit` takes them."""

    def __init__(self, run, when, needs_rng):
        self.run, self.when, self.needs_rng = run, when, needs_rng


_validated = validated  # moved to unitwork (worker processes build executors too)


_reason = failure_reason
