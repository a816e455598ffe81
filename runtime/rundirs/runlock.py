"""One process per run directory: an exclusive ``flock`` on ``run.lock``, held while the process drives the run.

``octoc run`` (from creation to the end), ``octoc run --resume`` and ``octoc
tick`` take it before they read anything of the run; a second process finds it
taken and refuses at once, naming the holder, whose pid, host and start time
the holder writes into the file after locking. The kernel releases the lock
when the holder exits, however it exits (a SIGKILL included), so a stale lock
file never blocks anyone. ``status``, ``results`` and ``report`` only read,
through a read-only store, and take no lock. Within one process the lock is
re-entrant (``octoc run`` creates the run and then drives it under one lock).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .rundir import LOCK_FILE, PLAN_FILE, STORE_FILE, RunDirError, begun_elsewhere, claim_run_dir

_held: dict[str, list[int]] = {}  # resolved lock path → [file descriptor, depth]


def _forget_in_child() -> None:
    """A forked child (a worker process) must not keep the parent's lock alive after the parent dies:
    it closes its copies of the descriptors (closing, unlike LOCK_UN, leaves the parent's lock alone)."""
    for fd, _ in _held.values():
        os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class RunInUse(RunDirError):
    """Another process holds the run's lock."""


@contextmanager
def run_lock(run_dir: Path, new: bool = False) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block. ``new``: claim the directory for a run about to be created."""
    run_dir = Path(run_dir)
    made = new and not run_dir.exists()
    if new:
        claim_run_dir(run_dir)
    elif not any((run_dir / name).exists() for name in (PLAN_FILE, STORE_FILE, LOCK_FILE)):
        raise RunDirError(f"'{run_dir}' is not a run directory (no {PLAN_FILE})")
    key = str((run_dir / LOCK_FILE).resolve())
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_acquire(run_dir), 1]
    try:
        if new and begun_elsewhere(run_dir):  # another creator was quicker, and is done already
            raise RunDirError(f"run directory '{run_dir}' was just created by another octoc; "
                              f"resume it with: octoc run --resume {run_dir}")
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            if new:
                _unclaim(run_dir, made)
            os.close(_held.pop(key)[0])  # closing the file releases the lock


def _unclaim(run_dir: Path, made: bool) -> None:
    """A creation that failed before anything was kept leaves the directory as it found it."""
    try:
        if [p.name for p in run_dir.iterdir()] == [LOCK_FILE]:
            (run_dir / LOCK_FILE).unlink()
            if made:
                run_dir.rmdir()
    except OSError:
        pass


def _acquire(run_dir: Path) -> int:
    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise RunDirError(f"cannot lock the run directory '{run_dir}' ({err.strerror or err}); resuming and ticking "
                          "need to write there (status, results and report only read)") from None
    try:
        _lock(fd, run_dir)
    except BaseException:
        os.close(fd)
        raise
    _write_holder(fd)
    return fd


def _lock(fd: int, run_dir: Path, patience: float = 1.0) -> None:
    """Take the lock, or raise RunInUse naming its live holder. A reader (`octoc status`) tests the lock
    with a shared lock it drops at once (runtime/rundirs/liveness.py): while no live holder is written down,
    the lock is tried again for a moment, so such a test never makes a driver refuse."""
    until = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"cannot lock the run directory '{run_dir}': {err.strerror or err} (the file "
                                  "system may not support locks)") from None
        if _live_holder(run_dir) or time.monotonic() >= until:
            raise RunInUse(_in_use(run_dir))
        time.sleep(0.02)


def _write_holder(fd: int) -> None:
    """Say who holds the lock, for the message a second process shows."""
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
              "command": " ".join(["octoc", *sys.argv[1:]])}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)


def holder(run_dir: Path) -> dict | None:
    """Who last took ``run_dir``'s lock (pid, host, since, command), as it wrote itself down."""
    try:
        data = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _live_holder(run_dir: Path) -> dict | None:
    """The holder as it wrote itself down, if it may be alive. It writes just after locking, so a process
    refused in that instant may read nothing yet, or the previous holder's (dead) entry."""
    who = holder(run_dir)
    if who and (who.get("host") != socket.gethostname() or _alive(who.get("pid"))):
        return who
    return None


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, TypeError, ValueError):
        return True  # exists but is not ours to signal, or unreadable: do not call it dead
    return True


def _in_use(run_dir: Path) -> str:
    who = _live_holder(run_dir)
    if who:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(who.get("since", 0)))
        named = f"process {who.get('pid')} on {who.get('host')}, running since {since}: {who.get('command')}"
    else:
        named = "a process that is just starting"
    return (f"run directory '{run_dir}' is in use by another octoc ({named}). One process at a time drives a run: "
            f"wait for it to end (or stop it with Ctrl-C), then resume with: octoc run --resume {run_dir}")
