"""Python's cyclic garbage collector, set for a tick: fewer collections, none over the long-lived heap.

A tick allocates millions of small containers (unit records, outputs, result rows), so the collector
runs hundreds of times a tick with the default thresholds (700 allocations), and every full collection
walks the whole heap: the modules, the plan, the compiled expressions — everything made before the
tick, which lives as long as it. On the drunken sailor's 100,000 walks that was ~100 ms in the tick's
process alone (measured with ``gc.callbacks``), and in each forked worker process it was worse: a full
collection writes to every object it walks, so each page the worker shares with its parent is copied.

So, for the length of a tick (:func:`for_a_tick`), what exists when it starts is frozen — moved to
CPython's permanent generation (``gc.freeze``), which collections skip, as CPython's documentation
advises before forking workers — and the youngest generation's threshold is raised to 10,000
allocations. What the tick itself makes is collected as usual; at its end the thresholds are restored
and the frozen objects are collectable again (``gc.unfreeze``). Worker processes do the same for their
own life (:func:`for_a_worker`). Nothing here changes what is computed, only when garbage is found.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

YOUNG_THRESHOLD = 10_000  # allocations before the youngest generation is collected (CPython's default: 700)


@contextmanager
def for_a_tick() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def for_a_worker() -> None:
    """In a worker process, for its life: what it inherited and built to start with, frozen; fewer collections."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
