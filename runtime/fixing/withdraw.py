"""Putting a unit back: withdrawing a step's result for it, and everything that followed from that result.

`octoc retry` (runtime/fixing/retry.py) and `octoc revalidate` (runtime/fixing/revalidate.py)
change results of a run that has gone on from them. What followed from a
result goes with it, in the caller's transaction (so a kill keeps all of it or
none):

- the unit's result of every step *downstream* — a step that reads it or waits
  for it, directly or through other steps: the `blocked` results a failure
  left, or any result computed from an output that changed. A downstream step
  in a fan-out's scope loses the results of the unit's descendants there;
- a fan-out downstream that expanded the unit loses its child units (and
  theirs), with every result they had; their positions are never given again
  (``meta.units_next``), so no attempt or round of theirs is ever read as a new
  child's;
- an aggregate downstream loses its groups, expectations and ``aggregated:``
  mark: the tick computes it again from the units as they are then;
- a provider step among them gets a ``requeues`` row (runtime/attempts/ledger.py): its
  tries start afresh, its queued attempts are withdrawn (never sent, never
  paid), and an answer still at the provider is discarded as stale when it
  comes back — it answers a question the step no longer asks;
- the run is no longer done.

The steps a unit's result is withdrawn from are never sent back further than
this: a step upstream keeps its results, and a verdict's loop (runtime/work/loops.py)
keeps its rounds — a step inside a loop body is asked again in its current
round, with that round's `feedback`.
"""

from __future__ import annotations

import sqlite3
import time

from ..rundirs.rundir import RUNNING
from ..work.scopes import ROOT

WITHDRAWN = "withdrawn: the unit was put back (octoc retry or revalidate)"


class Withdrawal:
    """What follows from each step (computed once from the Plan), and the deletes that withdraw it."""

    def __init__(self, engine):
        self.engine = engine
        self.store = engine.store
        self.scopes = engine.scopes
        self.steps = engine.steps
        kinds = engine.language.kinds
        self.aggregate = {n for n, s in self.steps.items() if not kinds[s["kind"]].per_unit}
        self.fanouts = self.scopes.fanouts
        self.provider = {n for n, s in self.steps.items() if s["runs"] == "provider"}
        readers: dict[str, set[str]] = {n: set() for n in self.steps}
        for name, step in self.steps.items():
            for upstream in {*step["depends_on"], *step["waits_for"]}:
                readers[upstream].add(name)
        order = {n: i for i, n in enumerate(self.steps)}
        self._after = {n: sorted(_closure(n, readers), key=order.get) for n in self.steps}
        self.withdrawn: dict[str, int] = {}  # step → results withdrawn downstream of a change (for the summary)
        self.dropped: set[str] = set()  # aggregates to compute again

    def downstream(self, step: str) -> list[str]:
        """Every step that reads or waits for ``step``, directly or not, in plan order."""
        return self._after[step]

    # --- withdrawing ----------------------------------------------------------------------------

    def withdraw(self, step: str, units: list[int], why: str, stale: bool, db: sqlite3.Connection) -> None:
        """Withdraw ``step``'s results for ``units`` and what followed from them; a provider step's tries start afresh."""
        _delete_results(db, step, units)
        self.put_back(step, units, why, stale, db)
        self.withdraw_after(step, units, why, db)

    def withdraw_after(self, step: str, units: list[int], why: str, db: sqlite3.Connection) -> None:
        """Withdraw what followed from ``step``'s results for ``units`` (their own results stay)."""
        scope = self.scopes.scope[step]
        for later in self.downstream(step):
            if later in self.aggregate:
                self.drop_aggregate(later, db)
                continue
            targets = self._below(units, scope, self.scopes.scope[later])
            if not targets:
                continue
            gone = _delete_results(db, later, targets)
            if gone:
                self.withdrawn[later] = self.withdrawn.get(later, 0) + gone
            self.put_back(later, targets, f"{why}; upstream '{step}' changed", True, db)
            if later in self.fanouts:
                self.remove_children(later, targets, db)
        self.reopen(db)

    def put_back(self, step: str, units: list[int], why: str, stale: bool, db: sqlite3.Connection) -> None:
        """A provider step's requeue rows for ``units`` (after each unit's last attempt) and its queued attempts withdrawn."""
        if step not in self.provider or not units:
            return
        now = time.time()
        for chunk in _chunks(units):
            marks = ",".join("?" * len(chunk))
            db.execute(f"UPDATE attempts SET state = 'settled', verdict = ? WHERE step = ? AND state = 'queued' "
                       f"AND unit IN ({marks})", (WITHDRAWN, step, *chunk))
            last = dict(db.execute(f"SELECT unit, max(id) FROM attempts WHERE step = ? AND unit IN ({marks}) "
                                   f"GROUP BY unit", (step, *chunk)).fetchall())
            db.executemany("INSERT INTO requeues(step, unit, after, stale, why, at) VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT(step, unit, after) DO UPDATE SET stale = max(stale, excluded.stale), "
                           "why = excluded.why, at = excluded.at",
                           [(step, u, last.get(u, 0), int(stale), why, now) for u in chunk])

    def remove_children(self, fanout: str, parents: list[int], db: sqlite3.Connection) -> None:
        """Remove the child units ``fanout`` made for ``parents``, their descendants, and every result they had."""
        removed = self.descendants(parents, fanout)
        if not removed:
            return
        top = db.execute("SELECT coalesce(max(pos), -1) + 1 FROM units").fetchone()[0]
        floor = int(self.store.get("units_next") or 0)
        self.store.put("units_next", str(max(top, floor)), db)  # never given to a new child
        for chunk in _chunks(removed):
            marks = ",".join("?" * len(chunk))
            db.execute(f"DELETE FROM results WHERE unit IN ({marks})", chunk)
            db.execute(f"UPDATE attempts SET state = 'settled', verdict = ? WHERE state = 'queued' "
                       f"AND unit IN ({marks})", (WITHDRAWN, *chunk))
            db.execute(f"DELETE FROM units WHERE pos IN ({marks})", chunk)

    def descendants(self, parents: list[int], fanout: str) -> list[int]:
        """The child units ``fanout`` made for ``parents``, and all of theirs, in every fan-out below."""
        found, frontier = [], self._children(parents, [fanout])
        while frontier:
            found.extend(frontier)
            frontier = self._children(frontier, None)
        return found

    def drop_aggregate(self, name: str, db: sqlite3.Connection) -> None:
        """Forget an aggregate's groups and expectations: the tick computes it again."""
        db.execute("DELETE FROM groups WHERE step = ?", (name,))
        db.execute("DELETE FROM expects WHERE step = ?", (name,))
        db.execute("DELETE FROM meta WHERE key = ?", (f"aggregated:{name}",))
        self.dropped.add(name)
        self.reopen(db)

    def reopen(self, db: sqlite3.Connection) -> None:
        """A run with work to do again is not done."""
        if self.store.get("state") == "done":
            self.store.put("state", RUNNING, db)
            db.execute("DELETE FROM meta WHERE key = 'finished'")

    # --- positions ---------------------------------------------------------------------------------

    def _below(self, units: list[int], scope: str, target: str) -> list[int]:
        """``units`` (of ``scope``) if ``target`` is their scope, else their descendants in ``target``, a scope below."""
        if target == scope:
            return units
        path = self.scopes.chain(target)  # target, its parent, …, the run's own units
        if scope not in path:
            raise RuntimeError(f"a step of scope '{target or ROOT}' follows one of scope '{scope}', "
                               "which is not above it")
        positions = units
        for fanout in reversed(path[:path.index(scope)]):
            positions = self._children(positions, [fanout])
            if not positions:
                break
        return positions

    def _children(self, parents: list[int], origins: list[str] | None) -> list[int]:
        out = []
        for chunk in _chunks(parents):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT pos FROM units WHERE parent IN ({marks})"
            args = list(chunk)
            if origins is not None:
                sql += f" AND origin IN ({','.join('?' * len(origins))})"
                args += origins
            out.extend(r[0] for r in self.store.db.execute(sql + " ORDER BY pos", args))
        return out


def _closure(step: str, readers: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(readers[step])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(readers[name])
    return seen


def _delete_results(db: sqlite3.Connection, step: str, units: list[int]) -> int:
    """Delete ``step``'s results for ``units``; how many there were."""
    gone = 0
    for chunk in _chunks(units):
        gone += db.execute(f"DELETE FROM results WHERE step = ? AND unit IN ({','.join('?' * len(chunk))})",
                           (step, *chunk)).rowcount
    return gone


def _chunks(items: list[int], size: int = 900):
    for i in range(0, len(items), size):
        yield items[i:i + size]
