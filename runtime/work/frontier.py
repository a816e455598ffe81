"""Where a step's search for ready units starts: per step, a mark below which there is nothing to do.

A tick looks for ready units of a step in position order. Starting that search at position 0 on
every tick makes a run quadratic: each tick walks every unit already finished. So the engine keeps,
per step and for the whole life of the Engine, two marks with a simple invariant each:

- ``done``: every unit of the step's scope below the mark has a result for the step;
- ``queued`` (provider steps): every unit of the step's scope below the mark has a result for the
  step or an open attempt (queued, sent or answered: runtime/attempts/ledger.py).

A mark only moves forward by reading the store (:meth:`Frontiers.first`): from where it is, it
skips units that satisfy the invariant and stops at the first that does not (that unit is
where the next search starts). Each unit is skipped once in the life of the mark, so the work of
keeping it is linear in the units, whatever the number of ticks.

The invariant can break only when a unit below a mark loses its result or its open attempt. That
happens in this process in exactly these places, each of which lowers the marks (:meth:`lower`):
a loop's verdict sends its body back (runtime/work/loops.py, results deleted and queued attempts
withdrawn); an answer is settled as stale (runtime/attempts/dispatch.py: its unit was put back by `octoc
retry`/`revalidate`, or its loop was sent back while it was at the provider). `octoc retry`,
`revalidate` and the removal of a fan-out's children run in another process under the run's lock
(cli/fixing.py); the run's Engine that follows is a new one, and its marks start at 0. Lowering a
mark too far is always safe (the search only starts earlier), so a lowering whose transaction rolls
back does no harm. A unit that arrives later — a fan-out's child — is added after every unit there
is (runtime/work/fanout.py), so above every mark. A unit waiting for an upstream result is at or above
the ``done`` mark (it has no result), so it is found when its upstream result arrives.
"""

from __future__ import annotations

DONE = "done"
QUEUED = "queued"


class Frontiers:
    def __init__(self, store, scopes):
        self.store, self.scopes = store, scopes
        self._marks: dict[tuple[str, str], int] = {}  # (kind, step) → position
        self.visited = 0  # units the marks were moved over, in all (tests/test_frontier.py counts it)

    def first(self, kind: str, step: str, idle: str, args: tuple = ()) -> int | None:
        """Move the ``kind`` mark of ``step`` to the first unit of its scope matching SQL ``idle`` (a unit
        ``u`` the invariant does not cover) and return it; None when there is none (the mark then goes past
        the scope's last unit)."""
        start = self._marks.get((kind, step), 0)
        scope = self.scopes.units_filter(self.store, self.scopes.scope[step])
        row = self.store.db.execute(f"SELECT pos FROM units u WHERE u.pos >= ?{scope} AND {idle} ORDER BY pos LIMIT 1",
                                    (start, *args)).fetchone()
        if row is not None:
            stop, found = row[0], row[0]
        else:
            last = self.store.db.execute(f"SELECT max(pos) FROM units u WHERE u.pos >= ?{scope}", (start,)).fetchone()[0]
            stop, found = (start if last is None else last + 1), None
        self.visited += stop - start
        self._marks[(kind, step)] = stop
        return found

    def unfinished(self, step: str) -> int | None:
        """The first unit of ``step``'s scope without a result for it (None: every unit has one)."""
        return self.first(DONE, step, "NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? AND r.unit = u.pos)",
                          (step,))

    def filled(self, step: str, start: int, stop: int, n: int) -> None:
        """``n`` units at positions ``start`` to ``stop`` (exclusive) just got their results for ``step``: a
        mark at ``start`` moves to ``stop`` when they are all of them, without reading the store again
        (in a run without fan-outs, where every unit is of every step's scope)."""
        if n == stop - start and self._marks.get((DONE, step)) == start:
            self._marks[(DONE, step)] = stop
            self.visited += n

    def lower(self, steps, pos: int) -> None:
        """Unit ``pos`` of these steps may have lost its result or its open attempt: search from it again."""
        for kind in (DONE, QUEUED):
            for step in steps:
                if self._marks.get((kind, step), 0) > pos:
                    self._marks[(kind, step)] = pos
