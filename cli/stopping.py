"""Stopping a run cleanly: Ctrl-C, SIGTERM, SIGHUP and a closed standard output all stop it the same way.

A driving process stops between chunks (well within a second), records how it
stopped (runtime/rundirs/liveness.py), says how to resume and exits INTERRUPTED (130).
A second signal stops at once (KeyboardInterrupt). A closed stdout — `octoc run
... | head -3` — is noticed when a write fails and, while the run waits on
providers and writes nothing, by polling the pipe; further output is thrown
away instead of raising again.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import sys
import time
from contextlib import contextmanager
from typing import Iterator

_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
CLOSED_STDOUT = "its standard output was closed"


class StopFlag:
    """Set by a signal or a closed stdout; the engine asks it between chunks. ``reason`` says what set it."""

    def __init__(self):
        self.set = False
        self.reason: str | None = None
        self._previous: dict = {}
        self._pipe_checked = 0.0

    def __call__(self) -> bool:
        if not self.set and time.monotonic() - self._pipe_checked > 0.2:
            self._pipe_checked = time.monotonic()
            if stdout_closed():
                self.stop(CLOSED_STDOUT)
        return self.set

    def stop(self, reason: str) -> None:
        if not self.set:
            self.set, self.reason = True, reason

    def install(self) -> "StopFlag":
        """Handle the stopping signals (until :meth:`restore`); a second one raises KeyboardInterrupt."""
        def handler(signum, frame):
            if self.set:  # a second signal: stop now
                raise KeyboardInterrupt
            self.stop(_SIGNALS.get(signum, f"signal {signum}"))

        for signum in _SIGNALS:
            try:
                self._previous.setdefault(signum, signal.signal(signum, handler))
            except ValueError:  # not the main thread: the caller handles signals
                pass
        return self

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()


def stdout_closed() -> bool:
    """Has the reader of our stdout (a pipe or a socket) gone away? Never blocks; False for files and terminals."""
    try:
        fd = sys.stdout.fileno()
        if not (stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no real stdout (a test's StringIO), or already closed
        return False


class GuardedStdout:
    """Standard output that turns a closed pipe into a stop: the first failed write sets the flag,
    points fd 1 at /dev/null (so nothing raises at exit either) and every later write is dropped."""

    def __init__(self, stream, flag: StopFlag):
        self._stream, self._flag = stream, flag
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except (BrokenPipeError, ConnectionResetError):
                self._closed()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except (BrokenPipeError, ConnectionResetError):
                self._closed()

    def _closed(self) -> None:
        self.closed_pipe = True
        self._flag.stop(CLOSED_STDOUT)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (AttributeError, OSError, ValueError):
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding, ...: the real stream's
        return getattr(self._stream, name)


@contextmanager
def guarded_stdout(flag: StopFlag) -> Iterator[GuardedStdout]:
    """sys.stdout guarded for the block (nested blocks share the outer guard, pointed at their flag)."""
    if isinstance(sys.stdout, GuardedStdout):
        outer, sys.stdout._flag = sys.stdout._flag, flag
        try:
            yield sys.stdout
        finally:
            sys.stdout._flag = outer
        return
    original = sys.stdout
    sys.stdout = GuardedStdout(original, flag)
    try:
        yield sys.stdout
    finally:
        sys.stdout = original
