"""A new run's first chunks, computed by the worker processes while the run's process stores its units.

Creating a run stores every unit before the first tick (runtime/rundirs/rundir.py); for 100,000
units that is about a quarter of a second in which, with worker processes, the other cores wait.
A head start hands the workers the first chunks of the step the first tick will give them, as the
units are made, so those chunks are computed during the creation instead of after it.

Nothing is decided here that the engine has to trust. The head start only guesses the step (the
first local per-unit step that waits for nothing, in a pipeline without fan-outs and loops) and the
aggregate folded into it; the engine takes a chunk from it only when the chunk is exactly the one it
would hand out itself — the same step, the same aggregate to fold, the same units at the same
positions (Engine._early_chunk) — and commits it as it commits any chunk, after creation, in order.
A chunk's result is a pure function of the plan and its units, so a chunk computed early is the chunk
computed late. At the first chunk that differs, the rest of the head start is dropped. A head start
never touches the store: a stop or a kill during creation loses nothing but the computing.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from octo.compiler.planning.ir import Plan
from octo.stdlib import default_language

from .engine import CHUNK, POOL_MIN_UNITS
from .work.scopes import Scopes
from .work.workerpool import POOL_CHUNKS_PER_WORKER, parallel
from .work.workers import worker_count

if TYPE_CHECKING:
    from concurrent.futures import Future

AHEAD_PER_WORKER = 4 * POOL_CHUNKS_PER_WORKER  # chunks computed ahead per worker, at most, while units are stored


class HeadStart:
    """Chunks of ``step`` (with ``fold``'s part) handed to a pool of ``workers`` as units are made."""

    def __init__(self, plan: Plan, step: str, fold: str | None, workers: int):
        self.step, self.fold = step, fold
        self._plan, self._workers = plan, workers
        self._made: list[tuple[int, int, str]] = []  # units made, not yet handed out
        self._ahead: deque[tuple[list, Future]] = deque()  # (units, future of their rows and part), in order
        self._handed_out = 0  # chunks handed out in all
        self.pool = None

    def feed(self, units: list[tuple[int, int, str]]) -> None:
        """Units about to be stored, in position order (runtime/rundirs/rundir.py's ``on_units``)."""
        if self._handed_out >= AHEAD_PER_WORKER * self._workers:
            return
        self._made.extend(units)
        if self.pool is None and len(self._made) < POOL_MIN_UNITS:
            return  # as Engine._pooled: a step this small runs in the run's process
        while len(self._made) >= CHUNK and self._handed_out < AHEAD_PER_WORKER * self._workers:
            chunk, self._made = self._made[:CHUNK], self._made[CHUNK:]
            self._ahead.append((chunk, self._pool().submit(self.step, chunk, {}, self.fold)))
            self._handed_out += 1
        if self._handed_out >= AHEAD_PER_WORKER * self._workers:
            self._made = []

    def take(self, step: str, units: list[tuple[int, int, str]], fold: str | None) -> Future | None:
        """The future of the next chunk computed ahead, if it is exactly this one; else None, and the
        chunks computed ahead are dropped (the engine hands out its own)."""
        if self._ahead and (step, fold) == (self.step, self.fold) and self._ahead[0][0] == units:
            return self._ahead.popleft()[1]
        self.drop()
        return None

    def drop(self) -> None:
        """Forget the chunks computed ahead; those not started are cancelled."""
        for _, future in self._ahead:
            future.cancel()
        self._ahead.clear()
        self._made = []

    def close(self) -> None:
        """Stop the workers (a head start the engine did not take its pool from)."""
        self.drop()
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _pool(self):
        if self.pool is None:
            self.pool = parallel().ChunkPool(self._plan, self._workers)
        return self.pool


def head_start(plan: Plan) -> HeadStart | None:
    """A head start for a new run of ``plan``, or None where the first tick would not use worker processes
    for a step that waits for nothing, or workers could not be forked now."""
    workers = worker_count()
    if workers < 2 or plan.data["loops"] or not parallel().forkable():
        return None
    language = default_language()
    if Scopes(plan, language).active:
        return None
    kinds = language.kinds
    step = next((s for s in plan.steps if s["runs"] == "local" and kinds[s["kind"]].per_unit and not s["waits_for"]),
                None)
    if step is None or step.get("unique_by") is not None:
        return None
    fold = next((s["name"] for s in plan.steps if not kinds[s["kind"]].per_unit
                 and s["depends_on"] == [step["name"]] and s["waits_for"] == [step["name"]]), None)
    return HeadStart(plan, step["name"], fold, workers)
