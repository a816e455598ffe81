"""The garbage collector during a tick (runtime/base/collector.py): what exists when the tick starts is
frozen and the youngest generation collected less often; after it, all is as it was."""

from __future__ import annotations

import gc

from octo.runtime.base import collector
from octo.runtime.engine import Engine

from test_frontier import LOCAL, new_run


def test_a_tick_freezes_the_heap_it_starts_with_and_restores_the_collector(tmp_path, monkeypatch):
    monkeypatch.setenv("OCTO_WORKERS", "1")
    engine = Engine(new_run(tmp_path, LOCAL))
    before = gc.get_threshold()
    seen = []
    event = engine.store.event

    def noting(kind, *args, **kwargs):  # called inside the tick
        seen.append((gc.get_freeze_count(), gc.get_threshold()))
        return event(kind, *args, **kwargs)

    engine.store.event = noting
    try:
        assert engine.tick().finished
    finally:
        engine.close()
    frozen, thresholds = seen[0]
    assert frozen > 10_000  # the modules, the plan, the compiled steps: not walked by the tick's collections
    assert thresholds[0] == max(before[0], collector.YOUNG_THRESHOLD) and thresholds[1:] == before[1:]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_tick_that_raises_restores_the_collector_too():
    before = gc.get_threshold()
    try:
        with collector.for_a_tick():
            raise KeyError("a tick's failure")
    except KeyError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_worker_process_freezes_what_it_inherited_and_built_to_start_with(tmp_path):
    """A full collection in a forked worker would write to every object shared with its parent (each page
    copied); frozen, they are never walked."""
    from octo.runtime.rundirs.rundir import open_plan
    from octo.runtime.work.parallel import ChunkPool

    pool = ChunkPool(open_plan(new_run(tmp_path, LOCAL)), 1)
    try:
        frozen = pool._pool.submit(gc.get_freeze_count).result(timeout=60)
        threshold = pool._pool.submit(gc.get_threshold).result(timeout=60)
    finally:
        pool.close()
    assert frozen > 10_000 and threshold[0] >= collector.YOUNG_THRESHOLD
