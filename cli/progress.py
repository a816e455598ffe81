"""The progress of `octoc run`: one live table on a terminal, a calm plain line otherwise.

On a terminal (and not TERM=dumb) a table is redrawn in place (cli/livetable.py, rich — imported
only then). Otherwise — piped, redirected to a file, in CI — one summary line is printed every
OCTO_PROGRESS_SECONDS (5) when something changed, at least once a minute while the run waits, once
at the start and once at the end (cli/progresstext.py); never an escape code. What is counted is runtime/reading/tally.py's.

The display reads the store, so it is kept cheap: the store is read again only when it changed, at
most twice a second, and never more often than keeps reading it under 5% of the run's time
(the measured cost of the last read decides). In between, a terminal's table only has its clock
moved on.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque

from octo.runtime.reading.tally import Tallier, Tally

READ_SHARE = 0.05  # reading the store takes at most this share of the run's time
RATE_WINDOW = 120.0  # an ETA comes from the rate over about the last two minutes
PLAIN_SECONDS = 5.0  # between two plain lines, unless OCTO_PROGRESS_SECONDS says otherwise
HEARTBEAT_SECONDS = 60.0  # a plain line at least this often, even when nothing changed


class Progress:
    """``update()`` after every tick (and while waiting: it returns at once when nothing is due);
    ``finish()`` once, or leave a ``with`` block."""

    def __init__(self, engine, stream, colour: bool | None = None):
        self.db = engine.store.db
        self.tallier = Tallier(engine.plan, engine.language, engine.store, engine.scopes)
        synthetic = bool(_settings(engine.store).get("emulator"))
        self.start = time.monotonic()
        self.rates = _Rates()
        self.tally: Tally | None = None
        self.seen = None  # the store's change marks when it was last read
        self.next_read = 0.0
        self.finished = False
        if _live(stream):
            from .livetable import LiveTable  # rich: only on a terminal

            self.view = LiveTable(stream, _colour(colour), synthetic)
        else:
            self.view = PlainLines(stream, synthetic)
        self.update()  # a terminal shows the table at once, before the first tick

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind, err, tb) -> None:
        try:
            self.finish()
        except Exception:
            if kind is None:
                raise  # else the error that ended the run is the one to report, not the display's

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or (now >= self.next_read and self._store_changed()):
            began = time.perf_counter()
            self.tally = self.tallier.read()
            self.next_read = now + max(self.view.interval, (time.perf_counter() - began) / READ_SHARE)
            self.rates.add(self.tally)
        if self.tally is not None and (force or self.view.due(now)):
            self.view.show(self.tally, now - self.start, self.rates.per_step(now), final=force)

    def finish(self) -> None:
        """The final counts, then the display is closed (idempotent)."""
        if self.finished:
            return
        self.finished = True
        try:
            self.update(force=True)
        finally:
            self.view.close()

    def _store_changed(self) -> bool:
        """Has anything been written since the last read — by this process (its connection's change
        count) or by another (SQLite's data_version)?"""
        marks = (self.db.total_changes, self.db.execute("PRAGMA data_version").fetchone()[0])
        changed, self.seen = marks != self.seen, marks
        return changed


class PlainLines:
    """The piped form: one summary line at a calm rate."""

    def __init__(self, stream, synthetic: bool):
        self.stream, self.synthetic = stream, synthetic
        self.interval = _plain_seconds()
        self.last_at = -HEARTBEAT_SECONDS  # the first line at once: the run's steps, before anything ran
        self.last_words: str | None = None

    def due(self, now: float) -> bool:
        return now - self.last_at >= self.interval

    def show(self, tally: Tally, elapsed: float, rates: dict, final: bool = False) -> None:
        from .progresstext import plain_line

        now = time.monotonic()
        words = plain_line(tally, 0, {}, self.synthetic)  # what changed, leaving the clock and ETAs out
        if not final and words == self.last_words and now - self.last_at < HEARTBEAT_SECONDS:
            return
        self.stream.write(plain_line(tally, elapsed, rates, self.synthetic) + "\n")
        self.stream.flush()
        self.last_at, self.last_words = now, words

    def close(self) -> None:
        pass


class _Rates:
    """Per step: units finished per second recently, for an ETA."""

    def __init__(self):
        self.samples: dict[str, deque] = {}

    def add(self, tally: Tally) -> None:
        for step in tally.steps:
            seen = self.samples.setdefault(step.name, deque())
            seen.append((tally.at, step.finished))
            while len(seen) > 2 and seen[1][1] == seen[0][1]:
                seen.popleft()  # before the step began: the rate is counted from its start
            while len(seen) > 2 and seen[1][0] <= tally.at - RATE_WINDOW:
                seen.popleft()

    def per_step(self, now: float) -> dict[str, float]:
        """The rate since the oldest sample kept, up to now (so it falls while nothing comes in)."""
        out = {}
        for name, seen in self.samples.items():
            (t0, n0), (_, n1) = seen[0], seen[-1]
            if n1 > n0 and now > t0:
                out[name] = (n1 - n0) / (now - t0)
        return out


def _live(stream) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _colour(choice: bool | None) -> bool:
    """``--color always/never`` when given; else colour unless NO_COLOR is set (https://no-color.org)."""
    return choice if choice is not None else "NO_COLOR" not in os.environ


def _plain_seconds() -> float:
    text = os.environ.get("OCTO_PROGRESS_SECONDS")
    if text is None:
        return PLAIN_SECONDS
    try:
        value = float(text)
        if 0 < value < float("inf"):
            return value
    except ValueError:
        pass
    sys.stderr.write(f"octoc: warning: OCTO_PROGRESS_SECONDS must be a number of seconds above 0, not "
                     f"'{text}'; using {PLAIN_SECONDS:g}\n")
    return PLAIN_SECONDS


def _settings(store) -> dict:
    import json

    return json.loads(store.get("settings") or "{}")
