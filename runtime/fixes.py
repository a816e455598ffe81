"""Fixing a run — `octoc retry` and `octoc revalidate` — begun by one process, completed by whichever drives it next.

A fix is recorded in the store before any result changes (``meta.fixing``:
what to retry, or which plan to re-check the answers against), then done chunk
by chunk, each chunk one transaction, and the record is removed last. A kill
anywhere leaves the record, and whatever drives the run next — `octoc run
--resume`, `octoc tick`, another `retry` or `revalidate` — completes the fix
before its first tick (runtime/session.py). Every chunk can be done again
without effect: a failed result once withdrawn is not failed any more, and an
answer checked again gets the verdict it got; so a fix completed twice loses
and counts nothing twice.

A revalidation against an edited pipeline also changes the run's plan
(runtime/fixing/planedit.py): the record names the new plan's hash, and completing the
fix first puts that plan in place if a kill came before it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from .rundirs.rundir import open_plan, open_store

KEY = "fixing"


def pending(store) -> dict | None:
    """The fix a process began and did not finish, if any."""
    text = store.get(KEY)
    return json.loads(text) if text else None


def record(store, fix: dict, db, seed: int = 0) -> None:
    """Record a fix about to begin, in the caller's transaction; a retry on the emulator also moves its seed
    on (from ``seed``, the run's): the emulator answers a request as a function of its seed, and a real model
    asked again answers anew."""
    store.put(KEY, json.dumps(fix), db)
    store.event(f"{fix['kind']} begun", detail=fix, db=db)
    if fix["kind"] == "retry":
        settings = json.loads(store.get("settings") or "{}")
        if settings.get("emulator"):
            seed = int(settings.get("emulator_seed", seed)) + 1
            settings["emulator_seed"] = seed if seed < 2 ** 63 else -2 ** 63
            store.put("settings", json.dumps(settings), db)


def complete(run_dir: Path) -> tuple[dict, dict] | None:
    """Complete the fix recorded in the run, if there is one: (the fix, what it did per step). The caller holds the lock."""
    open_plan(run_dir)  # a damaged plan is said first, as every command that reads the run says it
    store = open_store(run_dir)
    try:
        fix = pending(store)
    finally:
        store.close()
    if fix is None:
        return None
    if fix["kind"] == "revalidate":
        from .fixing.planedit import put_in_place

        put_in_place(run_dir, fix)
    from .engine import Engine
    from .attempts.ledger import Ledger

    engine = Engine(run_dir)
    try:
        Ledger(engine.store)  # its tables, in a run made before they existed
        if fix["kind"] == "retry":
            from .fixing.retry import Failures, withdraw_failed

            done = withdraw_failed(engine, Failures.from_json(fix["failures"]))
        else:
            from .fixing.revalidate import revalidate

            done = revalidate(engine, fix)
        with engine.store.transaction() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (KEY,))
            engine.store.event(f"{fix['kind']} done", detail=done, db=db)
    finally:
        engine.close()
    return fix, done
