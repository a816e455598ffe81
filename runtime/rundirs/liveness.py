"""A run's state as its operator sees it: creating, running, stopped, interrupted, waiting, stuck or done.

The store says whether a run is created and whether it is done; it cannot say
whether a process is at work on it now. Two more facts make that answer:

- the lock (runtime/rundirs/runlock.py): a run is *running* exactly while a process
  holds ``run.lock``. Readers test it with a shared ``flock`` they drop at once
  (the kernel frees the lock of a killed process, so a stale file never reads as
  running; a process that wants the lock retries for a moment, so a reader's
  test never refuses it);
- the session, in the store's ``meta``: a driving process writes ``session``
  (pid, host, since, command) when it begins and ``ended`` (how, at, message)
  when it stops. A session without an end whose lock is free was killed
  (SIGKILL, a power cut): *interrupted*. Its last sign of life — the last event
  it wrote — freezes the run's elapsed time.

How a session ends (``ended.how``): ``stopped`` (by the user: Ctrl-C, SIGTERM,
SIGHUP, a closed stdout), ``provider`` (a provider or the budget stopped it),
``stuck``, ``waiting`` (`octoc tick` left work for the next tick), ``finished``
and ``error`` (a full disk, a bug). docs/run.md#run-states says what to do in each state.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from .rundir import LOCK_FILE
from ..base.store import Store

STATES = ("creating", "running", "stopped", "interrupted", "waiting", "stuck", "done")
ENDINGS = ("stopped", "provider", "stuck", "waiting", "finished", "error")

# What a stopped session's ``ended.how`` reads as in `status` (the state is "stopped").
_STOPPED_BY = {"stopped": "the user", "provider": "a provider", "error": "an error"}


# --- the driving process writes -----------------------------------------------------------------


def begin(store: Store) -> None:
    """A process begins driving the run (it holds the lock): who it is; no end yet."""
    session = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
               "command": " ".join(["octoc", *sys.argv[1:]])}
    with store.transaction() as db:
        store.put("session", json.dumps(session), db)
        db.execute("DELETE FROM meta WHERE key = 'ended'")
        store.event("session", detail=session, db=db)


def end(store: Store, how: str, message: str | None = None) -> None:
    """The driving process stops: how (one of ENDINGS), when, and why in words."""
    assert how in ENDINGS, how
    ended = {"how": how, "at": time.time(), "message": message}
    with store.transaction() as db:
        store.put("ended", json.dumps(ended), db)
        store.event("ended", detail=ended, db=db)


# --- readers ask ------------------------------------------------------------------------------


def lock_holder(run_dir: Path) -> dict | None:
    """Who holds the run's lock now ({} when it is held but its holder has not written itself down yet);
    None when nobody does. Takes a shared lock and drops it at once: it never waits and never writes."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:  # unreadable: the holder's own record is all there is to go on
        return _recorded_holder_if_alive(run_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return _recorded(run_dir) or {}
        return _recorded_holder_if_alive(run_dir)  # a file system without locks
    finally:
        os.close(fd)  # closing drops the shared lock, if it was taken
    return None


def _recorded(run_dir: Path) -> dict | None:
    from .runlock import holder

    return holder(run_dir)


def _recorded_holder_if_alive(run_dir: Path) -> dict | None:
    from .runlock import _alive

    who = _recorded(run_dir)
    if who and who.get("host") == socket.gethostname() and _alive(who.get("pid")):
        return who
    return None


def run_state(run_dir: Path, store: Store) -> dict:
    """``{"state", "since"?, "holder"?, "ended"?, "active_until", "batches_out"}`` for a run's store read now.

    ``active_until``: when the run's clock stops (now while it runs; the end of its last session, or its
    last sign of life, when nobody drives it; its finish once done)."""
    stored = store.get("state")
    holder = lock_holder(run_dir)
    ended = _json(store.get("ended"))
    out: dict = {"batches_out": _batches_out(store)}
    if holder is not None:
        out.update(state="running", holder=holder or None, active_until=time.time())
        if stored == "creating":
            out["creating"] = True
        return out
    if stored == "done":
        finished = store.get("finished")
        out.update(state="done", active_until=float(finished) if finished else _last_sign_of_life(store))
        return out
    if stored != "running":  # creating, or a creation that never wrote its state
        out.update(state="creating", active_until=_last_sign_of_life(store))
        return out
    if ended is None:
        out.update(state="interrupted", active_until=_last_sign_of_life(store))
        return out
    how = ended.get("how")
    out.update(ended=ended, active_until=float(ended.get("at") or _last_sign_of_life(store)))
    if how in ("waiting", "stuck"):
        out["state"] = how
    elif how == "finished":  # a session that saw the run done, then had it reopened (octoc retry): it waits for a driver
        out["state"] = "stopped"
    else:
        out["state"] = "stopped"
        out["stopped_by"] = _STOPPED_BY.get(how, how)
    return out


def _json(text: str | None) -> dict | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _batches_out(store: Store) -> int:
    """Batches submitted and not yet ingested: work at a provider, billed or to be billed."""
    if not store.has_table("batches"):
        return 0
    return store.db.execute("SELECT count(*) FROM batches WHERE state IN ('intent', 'submitted')").fetchone()[0]


def _last_sign_of_life(store: Store) -> float:
    """The last moment the run's last process is known to have been at work: its last event."""
    row = store.db.execute("SELECT at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return float(row[0]) if row else float(store.get("created", "0") or 0)


# --- a finished run's verdict -----------------------------------------------------------------


def verdict(store: Store) -> str:
    """``expect_failed`` (an `expect` failed or raised: wins), ``units_failed`` (a unit failed at a step), or ``passed``."""
    if store.db.execute("SELECT 1 FROM expects WHERE passed IS NOT 1 LIMIT 1").fetchone():
        return "expect_failed"
    if store.db.execute("SELECT 1 FROM results WHERE state = 'failed' LIMIT 1").fetchone():
        return "units_failed"
    return "passed"
