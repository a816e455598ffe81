"""What the progress display shows, read from the run store: per step, counters that never go back.

A retry loop's verdict (runtime/work/loops.py) may withdraw results of its body for a unit, so a count
of stored results can go down. The display therefore counts a result only once it is *final*:
every verdict that could withdraw it (that of each loop whose body holds the step) has a result
for the unit. A final result is never withdrawn, so ``accepted``, ``failed`` and ``skipped`` only
grow. Results still waiting for their verdict are work in progress, like a request at a provider:

- ``in_flight``: units the step is working on, on their first try of their first round: a
  request queued, at the provider or answered and not yet decided, or a result awaiting its verdict;
- ``retrying``: units the step is working on again: a try after the first (an answer that could
  not be used, a provider error) or a round after the first (a verdict sent the loop back).

Those two are gauges (they go up and down); every other number here is a counter: results
(``accepted`` = done, ``failed`` = failed or blocked, ``skipped``), ``answers`` (requests the
providers answered, every try and round), batches ``submitted`` and ``ended``, and cost.
A unit is in exactly one of accepted, failed, skipped, in flight, retrying, or not started.

Reading must stay cheap on a large run, so what can no longer change is counted once: a block of
BLOCK units whose every unit has its final result for a step (its counts are then fixed), an
aggregate that ran. Each read counts the rest. Answers and cost are kept as running sums by the
ledger (its ``spend`` table), so they cost a row per step to read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..work.scopes import ROOT, Scopes

BLOCK = 2_000  # units per block of counts
MAX_RANGES = 16  # unfinished stretches of blocks counted one by one; more are counted as one span
OPEN = "('queued', 'sent', 'answered')"
SUBMITTED = ("submitted", "ingested", "lost", "capacity")  # states a batch reaches once the provider took it
# its answers are stored, or the provider lost it or failed it for an organisation-wide limit (its requests go out again)
ENDED = ("ingested", "lost", "capacity")


@dataclass
class StepTally:
    name: str
    kind: str
    provider: bool
    aggregate: bool
    units: int = 0  # the units the step runs over now (a fan-out's children grow as it expands)
    accepted: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0
    retrying: int = 0
    answers: int = 0
    submitted: int = 0
    ended: int = 0
    cost: float = 0.0
    list_cost: float = 0.0
    children: int | None = None  # a fan-out: the child units it made so far
    groups: int | None = None  # an aggregate: its groups once it ran (None before)

    @property
    def finished(self) -> int:
        """Units with a final result."""
        return self.accepted + self.failed + self.skipped

    @property
    def complete(self) -> bool:
        return self.groups is not None if self.aggregate else self.finished >= self.units > 0


@dataclass
class Tally:
    steps: list[StepTally]
    at: float = field(default_factory=time.monotonic)

    @property
    def cost(self) -> float:
        return sum(s.cost for s in self.steps)

    @property
    def list_cost(self) -> float:
        return sum(s.list_cost for s in self.steps)

    @property
    def submitted(self) -> int:
        return sum(s.submitted for s in self.steps)

    @property
    def ended(self) -> int:
        return sum(s.ended for s in self.steps)


class Tallier:
    """Reads a :class:`Tally` from a run's store, again and again (it keeps what cannot change)."""

    def __init__(self, plan, language, store, scopes: Scopes | None = None):
        self.store = store
        self.db = store.db
        self.scopes = scopes or Scopes(plan, language)
        self.plan_steps = plan.steps
        verdicts: dict[str, list[str]] = {}  # step → the verdicts that may withdraw its results
        for entry in plan.data.get("loops", []):
            for step in entry["body"]:
                verdicts.setdefault(step, []).append(entry["verdict"])
        self.counters = {s["name"]: _StepCounter(self, s, verdicts) for s in plan.steps
                         if language.kinds[s["kind"]].per_unit}
        self.groups: dict[str, int] = {}  # aggregates that ran: their groups
        self.complete: set[str] = set()  # steps whose every unit has its final result, over a scope that is complete
        self.money = _AttemptSums(self.store)
        self.last_pos = -1

    def read(self) -> Tally:
        has_attempts = self.store.has_table("attempts")
        money = self.money.read() if has_attempts else {}
        batches = _batches(self.db) if has_attempts else {}
        self.last_pos = self.db.execute("SELECT max(pos) FROM units").fetchone()[0]
        self.last_pos = -1 if self.last_pos is None else self.last_pos
        out = []
        for step in self.plan_steps:
            name = step["name"]
            tally = StepTally(name, step["kind"], step["runs"] == "provider", name not in self.counters)
            if tally.aggregate:
                tally.groups = self._groups(name)
            else:
                self.counters[name].read(tally)
                if tally.complete and self.scope_complete(self.scopes.scope[name]):
                    self.complete.add(name)
            tally.answers, tally.cost, tally.list_cost = money.get(name, (0, 0.0, 0.0))
            tally.submitted, tally.ended = batches.get(name, (0, 0))
            out.append(tally)
        return Tally(out)

    def scope_complete(self, scope: str) -> bool:
        """No more units can come to ``scope``: the run's own, or a fan-out that expanded every parent."""
        return scope == ROOT or scope in self.complete

    def _groups(self, name: str) -> int | None:
        if name not in self.groups and self.store.get(f"aggregated:{name}") is not None:
            self.groups[name] = self.db.execute("SELECT count(*) FROM groups WHERE step = ?", (name,)).fetchone()[0]
        return self.groups.get(name)


class _StepCounter:
    """A per-unit step's counts, block by block: a block of units all final for the step is kept."""

    def __init__(self, tallier: Tallier, step: dict, verdicts: dict[str, list[str]]):
        self.t, self.db = tallier, tallier.db
        self.name = step["name"]
        self.scope = tallier.scopes.scope[self.name]
        self.provider = step["runs"] == "provider"
        self.looped = self.name in verdicts
        self.others = [v for v in verdicts.get(self.name, ()) if v != self.name]  # its own result is final for its loop
        self.final = _final(self.others)
        self.fanout = self.name in tallier.scopes.fanouts
        self.kept: dict[int, tuple[int, int, int]] = {}  # block → (done, failed, skipped), all final
        self.kept_sum = [0, 0, 0]

    def read(self, tally: StepTally) -> None:
        scopes, store = self.t.scopes, self.t.store
        tally.units = scopes.unit_total(store, self.scope)
        if self.fanout:
            tally.children = scopes.unit_total(store, self.name)
        span = self._span(tally.units)
        ranges = self._open_ranges(*span) if span else []
        counts, provisional = self._results(ranges)
        self._keep(ranges, counts, span)
        totals = list(self.kept_sum)
        for block, row in counts.items():
            if block not in self.kept:
                totals = [a + b for a, b in zip(totals, row)]
        tally.accepted, tally.failed, tally.skipped = totals
        tally.retrying, busy = self._working(ranges)
        tally.in_flight = busy + provisional - tally.retrying

    def _span(self, units: int) -> tuple[int, int] | None:
        """The first and last position of the scope's units (the run's own are 0…N−1)."""
        if self.scope == ROOT:
            return (0, units - 1) if units else None
        lo, hi = self.db.execute("SELECT min(pos), max(pos) FROM units WHERE origin > '' AND origin = ?",
                                 (self.scope,)).fetchone()
        return None if lo is None else (lo, hi)

    def _open_ranges(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Stretches of positions in [lo, hi] whose blocks are not kept yet."""
        ranges: list[list[int]] = []
        for block in range(lo // BLOCK, hi // BLOCK + 1):
            if block in self.kept:
                continue
            start, end = max(lo, block * BLOCK), min(hi, block * BLOCK + BLOCK - 1)
            if ranges and ranges[-1][1] == start - 1:
                ranges[-1][1] = end
            else:
                ranges.append([start, end])
        if len(ranges) > MAX_RANGES:  # counting kept blocks again is harmless: only open ones are used
            return [(ranges[0][0], ranges[-1][1])]
        return [(a, b) for a, b in ranges]

    def _results(self, ranges) -> tuple[dict[int, list[int]], int]:
        """Per block in ``ranges``: its final results (done, failed or blocked, skipped); and how many
        results there await their verdict."""
        out: dict[int, list[int]] = {}
        provisional = 0
        column = {"done": 0, "failed": 1, "blocked": 1, "skipped": 2}
        for a, b in ranges:
            sql = (f"SELECT r.unit / {BLOCK}, r.state, 1{self.final}, count(*) FROM results r WHERE r.step = ? "
                   f"AND r.unit BETWEEN ? AND ?{self._in_scope()} GROUP BY 1, 2, 3")
            for block, state, final, n in self.db.execute(sql, (*self.others, self.name, a, b, *self._scope_args())):
                row = out.setdefault(block, [0, 0, 0])
                if final:
                    row[column[state]] += n
                else:
                    provisional += n
        return out, provisional

    def _keep(self, ranges, counts: dict[int, list[int]], span) -> None:
        """Keep the blocks whose every unit has its final result, if no unit can come to them any more."""
        for block, size in self._block_sizes(ranges, span).items():
            row = counts.get(block, [0, 0, 0])
            if sum(row) == size and block not in self.kept and self._fixed(block):
                self.kept[block] = tuple(row)
                self.kept_sum = [a + b for a, b in zip(self.kept_sum, row)]

    def _block_sizes(self, ranges, span) -> dict[int, int]:
        if not span:
            return {}
        if self.scope == ROOT:  # positions 0…N−1, all the run's own
            lo, hi = span
            return {block: min(hi, block * BLOCK + BLOCK - 1) - max(lo, block * BLOCK) + 1
                    for a, b in ranges for block in range(a // BLOCK, b // BLOCK + 1)}
        out: dict[int, int] = {}
        for a, b in ranges:
            out.update(self.db.execute(f"SELECT pos / {BLOCK}, count(*) FROM units WHERE origin > '' AND origin = ? "
                                       f"AND pos BETWEEN ? AND ? GROUP BY 1", (self.scope, a, b)).fetchall())
        return out

    def _fixed(self, block: int) -> bool:
        """Can no unit of the scope come to this block any more? The run's own units are all there from
        the start; children are added at the next positions, so a unit after the block closes it."""
        return self.scope == ROOT or self.t.last_pos > block * BLOCK + BLOCK - 1 or self.t.scope_complete(self.scope)

    def _in_scope(self) -> str:
        """A fan-out inside another's scope also stores rows for its own children, between its scope's units."""
        return " AND EXISTS (SELECT 1 FROM units u WHERE u.pos = r.unit AND u.origin = ?)" \
            if self.fanout and self.scope != ROOT else ""

    def _scope_args(self) -> tuple:
        return (self.scope,) if self.fanout and self.scope != ROOT else ()

    def _working(self, ranges) -> tuple[int, int]:
        """(retrying, busy) besides results awaiting their verdict: units with an open request, and units
        sent back by a verdict waiting for their new round's input; retrying if past their first try or
        round. (A unit has at most one open request, and none while it has a result for the step.)"""
        retrying = busy = 0
        if self.provider and self.t.store.has_table("attempts"):
            busy += self.db.execute(f"SELECT count(*) FROM attempts WHERE step = ? AND state IN {OPEN}",
                                    (self.name,)).fetchone()[0]
            back = " AND NOT EXISTS (SELECT 1 FROM reruns b WHERE b.step = a.step AND b.unit = a.unit)" if self.looped else ""
            retrying += self.db.execute(f"SELECT count(*) FROM attempts a WHERE step = ? AND state IN {OPEN} "
                                        f"AND try > 1{back}", (self.name,)).fetchone()[0]
        if self.looped:
            for a, b in ranges:
                sent_back, idle = self._sent_back(a, b)
                retrying += sent_back
                busy += idle
        return retrying, busy

    def _sent_back(self, a: int, b: int) -> tuple[int, int]:
        """Units in [a, b] a verdict sent back, without a final result yet; and those of them with neither a
        result nor an open request (waiting for their round's input)."""
        opened = (f"EXISTS (SELECT 1 FROM attempts o WHERE o.step = ? AND o.unit = s.unit AND o.state IN {OPEN})"
                  if self.provider and self.t.store.has_table("attempts") else "0")
        sql = (f"SELECT count(*), coalesce(sum(NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? AND r.unit = s.unit) "
               f"AND NOT {opened}), 0) FROM (SELECT DISTINCT unit FROM reruns WHERE step = ? AND unit BETWEEN ? AND ?) s "
               f"WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? AND r.unit = s.unit{self.final})")
        args = (self.name, *((self.name,) if opened != "0" else ()), self.name, a, b, self.name, *self.others)
        return tuple(self.db.execute(sql, args).fetchone())


def _final(others: list[str]) -> str:
    """SQL (`` AND ...``): result ``r`` is final — each verdict that may withdraw it has a result for its unit."""
    return "".join(" AND EXISTS (SELECT 1 FROM results v WHERE v.step = ? AND v.unit = r.unit)" for _ in others)


def _batches(db) -> dict[str, tuple[int, int]]:
    """Per step: batches the provider took, and batches that ended (both only grow)."""
    out: dict[str, list[int]] = {}
    for step, state, n in db.execute("SELECT step, state, count(*) FROM batches GROUP BY step, state"):
        row = out.setdefault(step, [0, 0])
        row[0] += n if state in SUBMITTED else 0
        row[1] += n if state in ENDED else 0
    return {step: (a, b) for step, (a, b) in out.items()}


class _AttemptSums:
    """Per step: answers, cost and cost at list prices, from the ledger's ``spend`` (runtime/attempts/ledger.py),
    which is added to as each answer is stored: a read costs a row per step, however many attempts the run has.
    A run made before ``spend`` existed, read without writing, is summed over its attempts."""

    def __init__(self, store):
        self.store = store

    def read(self) -> dict[str, tuple[int, float, float]]:
        sql = ("SELECT step, answers, cost, list_cost FROM spend" if self.store.has_table("spend") else
               "SELECT step, count(usage), total(cost), total(list_cost) FROM attempts GROUP BY step")
        return {step: (int(n), float(cost), float(listed)) for step, n, cost, listed in self.store.db.execute(sql)}
