"""How much CPU the evaluation under way has used, read rarely.

The budget is per unit and step: the runtime calls :meth:`CpuClock.start_unit`
before a unit's step and :meth:`CpuClock.end_unit` after, and every evaluation
in between draws on it. Outside a unit (the checker, an aggregate's group), a
compiled expression (and a simulate step's whole loop, which is one
evaluation) calls :meth:`CpuClock.reset` when it starts: one store, no clock
read. Its loops look at the clock only now and then — comprehensions every
``LAP`` units of work, a simulate loop at a pace that adapts to how long its
iterations take — so a cheap evaluation never reads the clock (a read costs
about a microsecond). The first look only notes the time: what ran before it is
not counted, a few iterations at most. The thread's own CPU time counts, never
other threads' or a busy machine's; a look from another thread than the one
that started the clock starts it again (evaluations in threads never fail for
each other's time).

The budget comes from the ``OCTO_CPU_SECONDS`` environment variable (read once,
when this module is imported, so worker processes see the same setting).
"""

from __future__ import annotations

import math
import os
import threading
import time

DEFAULT_SECONDS = 10.0
ENV = "OCTO_CPU_SECONDS"
LAP = 1024  # units of comprehension work (or at most loop iterations) between looks
FIRST_LAP = 64  # a simulate loop's first look: most short loops never get there
PACE = 0.05  # seconds of CPU a simulate loop aims to run between looks


def cpu_seconds(text: str | None) -> float:
    """The budget from its setting's text; the default when unset. Raises ValueError,
    in words, unless it is a finite number of seconds from 0.001 to 1,000,000."""
    if text is None or not text.strip():
        return DEFAULT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.001 <= value <= 1_000_000:  # NaN fails every comparison
        raise ValueError(f"{ENV} must be a number of seconds from 0.001 to 1000000, not {text.strip()!r}")
    return value


def _from_env() -> float:
    try:
        return cpu_seconds(os.environ.get(ENV))
    except ValueError:  # octoc refuses a bad setting before it runs anything; a library keeps the default
        return DEFAULT_SECONDS


class CpuClock:
    __slots__ = ("limit", "started", "thread", "last", "done", "unit")

    def __init__(self, limit: float):
        self.limit = limit
        self.unit = False  # True while one unit's step runs: its evaluations share one budget
        self.started: float | None = None  # None: not looked at yet in this evaluation
        self.thread = 0  # the thread whose CPU time `started` is
        self.last = 0.0  # the last look, and the loop iterations done by then
        self.done = 0

    def reset(self) -> None:
        """A new evaluation starts (evaluators set ``started = None`` directly: it is hot)."""
        self.started = None

    def start_unit(self) -> None:
        """One unit's step starts: every evaluation until :meth:`end_unit` (its `when`, each
        value, `validate` rules) draws on one budget, so a step of many values gets no more."""
        self.started, self.unit = None, True

    def end_unit(self) -> None:
        self.started, self.unit = None, False

    def _first_look(self, now: float, done: int) -> bool:
        thread = threading.get_ident()
        if self.started is None or self.thread != thread:
            self.started, self.thread, self.last, self.done = now, thread, now, done
            return True
        return False

    def spent(self) -> bool:
        """Whether the evaluation has used up its budget (a look at the clock)."""
        now = time.thread_time()
        if self._first_look(now, 0):
            return False
        return now - self.started > self.limit

    def pace(self, done: int) -> int:
        """A simulate loop's look after ``done`` iterations: how many to run before the next
        look (about PACE seconds' worth, at most LAP), or 0 when the budget is used up."""
        now = time.thread_time()
        if self._first_look(now, done):
            return FIRST_LAP
        if now - self.started > self.limit:
            return 0
        ran, took = done - self.done, now - self.last
        self.last, self.done = now, done
        if ran <= 0 or took <= 0:
            return LAP
        return max(1, min(LAP, int(PACE * ran / took)))

    def message(self, when: str = "") -> str:
        return (f"ran out of CPU time{when}: more than {self.limit:g} s; set {ENV} to allow more "
                f"(the default is {DEFAULT_SECONDS:g} s)")


CLOCK = CpuClock(_from_env())
