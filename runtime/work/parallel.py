"""Worker processes for per-unit local steps: chunks computed elsewhere, committed here.

A chunk's results depend only on the Plan, its units and their upstream
results (random streams are per (seed, unit, step)), so which process computes
a chunk — and in what order chunks finish — changes nothing: each worker builds
its own :class:`~octo.runtime.work.unitwork.UnitWork` from the Plan, and the tick's
process commits every chunk it gets back in one transaction, as it would a
chunk it computed itself. A large aggregate's chunks are grouped in workers
too, and the parts merged in unit order (AggregateRunner.merge); an aggregate
over one step alone is folded into that step's chunks as they are computed
(Engine._folds). Workers never touch the store.

Workers are forked where the platform can and no other thread runs (starting
is then a matter of milliseconds), else spawned. They ignore Ctrl-C, SIGTERM
and SIGHUP (the tick's process decides when to stop) and exit on their own when that process
dies, even by SIGKILL.

``OCTO_WORKERS=N`` sets how many worker processes a run may use (default: the
CPUs this process may run on, at most 4); ``OCTO_WORKERS=1`` runs everything
in the tick's process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from octo.compiler.planning.ir import Plan

from ..base import collector
from .unitwork import ResultRow, StoredResult, Unit, UnitWork
from .workers import MAX_WORKERS, worker_count  # noqa: F401  (where they were first)

_work: UnitWork | None = None  # in a worker: the Plan's executors, built once


def forkable() -> bool:
    """Whether workers can be forked now: safe only while no other thread could hold a lock."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class ChunkPool:
    """A pool of worker processes computing chunks of per-unit steps of one Plan."""

    def __init__(self, plan: Plan, workers: int):
        # Forking copies a ready process in milliseconds, but is safe only while no other thread
        # could hold a lock (the provider side runs threads); otherwise start clean ones.
        context = multiprocessing.get_context("fork" if forkable() else "spawn")
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                         initargs=(plan.to_json(), os.getpid()))

    def submit(self, step: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]],
               fold: str | None = None) -> Future:
        """Compute ``step`` for ``units`` in a worker: a future of its result rows and, with ``fold``,
        that aggregate's part over them (UnitWork.fold; else None)."""
        return self._pool.submit(_run_chunk, step, units, upstream, fold)

    def submit_aggregate(self, step: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]]) -> Future:
        """Stream ``units`` into aggregate ``step`` in a worker: a future of the part to merge."""
        return self._pool.submit(_aggregate_chunk, step, units, upstream)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# --- in the worker -------------------------------------------------------------------------

def _start_worker(plan_json: str, parent: int) -> None:
    global _work
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # for the tick's process: it stops between chunks
        signal.signal(signum, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _work = UnitWork(Plan.from_json(plan_json))
    collector.for_a_worker()


def _exit_with(parent: int) -> None:
    """An orphaned worker would wait for work forever: leave when the parent is gone (re-parented)."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


def _run_chunk(step: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]],
               fold: str | None) -> tuple[list[ResultRow], dict | None]:
    assert _work is not None, "a worker runs chunks only after _start_worker"
    if fold is None:
        return _work.run(step, units, upstream), None
    records: list[dict] = []
    rows = _work.run(step, units, upstream, records=records)
    return rows, _work.fold(fold, step, units, records, rows)


def _aggregate_chunk(step: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]]) -> dict:
    assert _work is not None, "a worker runs chunks only after _start_worker"
    return _work.aggregate_part(step, units, upstream)
