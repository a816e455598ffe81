"""The engine's worker processes (runtime/work/parallel.py): handing chunks of a per-unit step out to
them and committing what comes back, in order; started on first use, or taken over from a new run's
head start (runtime/headstart.py), and closed when a step has nothing more for them.

multiprocessing is imported only when workers are started (:func:`parallel`): ~50 ms that a run whose
steps are small, or with ``OCTO_WORKERS=1``, never pays.
"""

from __future__ import annotations

import time
import weakref
from collections import deque

POOL_CHUNKS_PER_WORKER = 2  # in flight per worker: one to compute while the other is committed
POOL_CALL_SECONDS = 0.25  # then the tick checks for Ctrl-C and its deadline again


def parallel():
    """The worker-process module, imported when it is used."""
    from . import parallel as module

    return module


class Workers:
    """The worker processes of one engine, and what a head start computed ahead for them."""

    def __init__(self, plan):
        self._plan = plan
        self._pool = None
        self._close = None  # the pool's finalizer: a Workers dropped mid-step closes its pool too
        self._head = None

    def pool(self):
        if self._pool is None:
            self._take(parallel().ChunkPool(self._plan, parallel().worker_count()))
        return self._pool

    def adopt(self, head) -> None:
        """Take over a head start's pool and the chunks it computed, if no pool runs yet."""
        if head.pool is not None and self._pool is None:
            self._take(head.pool)
            self._head, head.pool = head, None

    def early(self, step: str, units: list, fold: str | None):
        """The head start's future of exactly this chunk (same step, fold and units), or None."""
        if self._head is None:
            return None
        future = self._head.take(step, units, fold)
        if future is None:
            self._head = None  # it dropped what it had: every later chunk is handed out as usual
        return future

    def close(self) -> None:
        if self._head is not None:
            self._head.drop()
            self._head = None
        if self._pool is not None:
            self._close()
            self._pool = None

    def _take(self, pool) -> None:
        self._pool = pool
        self._close = weakref.finalize(self, pool.close)


def run_in_pool(engine, step: dict) -> int:
    """Chunks of ``step`` computed by the engine's worker processes, each committed by the engine, in order,
    in its own transaction.

    A few chunks per worker are kept in flight so the workers never wait for a commit; the call stops
    handing out chunks after POOL_CALL_SECONDS and returns once all it handed out are committed, so the
    tick can check for Ctrl-C and its deadline as between serial chunks.
    """
    name, workers = step["name"], engine.workers
    fold = engine._fold_for(name)
    in_flight: deque = deque()
    committed = 0
    hand_out_until = time.monotonic() + POOL_CALL_SECONDS
    while True:
        while time.monotonic() < hand_out_until and len(in_flight) < POOL_CHUNKS_PER_WORKER * workers.pool().workers:
            positions = engine._ready(name, engine.deps[name])
            if not positions:
                hand_out_until = 0.0
                break
            units = engine._units_at(positions)
            in_flight.append(workers.early(name, units, fold)
                             or workers.pool().submit(name, units, engine._stored_upstream(step, positions), fold))
        if not in_flight:
            break
        rows, part = in_flight.popleft().result()
        engine._commit(name, rows)
        engine._keep_part(fold, rows, part)
        committed += len(rows)
    if committed == 0:
        workers.close()  # nothing more ready for this step: free the workers
    return committed
