"""How many worker processes a run may use: ``OCTO_WORKERS``, else the usable CPUs (at most MAX_WORKERS).

Apart from runtime/work/parallel.py so that deciding to use none does not import multiprocessing
(~50 ms): a run with ``OCTO_WORKERS=1``, or with small steps, never imports it.
"""

from __future__ import annotations

import os

MAX_WORKERS = 4


def worker_count() -> int:
    """How many worker processes to use: ``OCTO_WORKERS``, else the usable CPUs (at most MAX_WORKERS)."""
    setting = os.environ.get("OCTO_WORKERS", "").strip()
    if setting.isdigit():
        return max(1, int(setting))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))
