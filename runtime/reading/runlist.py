"""`octoc runs [DIR]`: one line per run directory under DIR — state, units, failed, cost, age.

Read-only like `status` (no lock is taken, nothing is written). A directory
that cannot be read as a run — half created, damaged, of another version, not
a run at all — is listed with what is wrong instead of its numbers: one bad
directory never hides the others.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ..rundirs.liveness import run_state
from ..rundirs.rundir import LOCK_FILE, PLAN_FILE, STORE_FILE, RunDirError, open_store
from .status import spent
from ..base.store import Store, StoreError


def list_runs(base: Path) -> list[dict]:
    """Every run directory directly under ``base`` (hidden ones left out), the youngest first."""
    rows = [summarize(entry) for entry in base.iterdir() if entry.is_dir() and not entry.name.startswith(".")]
    return sorted(rows, key=lambda r: (r["age_s"] is None, r["age_s"] or 0, r["name"]))


def summarize(run_dir: Path) -> dict:
    """``{"name", "run", "state", "units", "failed", "cost_usd", "synthetic", "age_s", "problem"}``; a run that
    cannot be read has ``state`` None and ``problem`` saying why (its age then is the directory's)."""
    row = {"name": run_dir.name, "run": str(run_dir), "state": None, "units": None, "failed": None,
           "cost_usd": None, "synthetic": None, "age_s": None, "problem": None}
    try:
        row.update(_read(run_dir))
    except (RunDirError, StoreError, sqlite3.Error, OSError, ValueError) as err:
        row["problem"] = _problem(run_dir, err)
        try:
            row["age_s"] = round(max(0.0, time.time() - run_dir.stat().st_mtime), 3)
        except OSError:
            pass
    return row


def _read(run_dir: Path) -> dict:
    store = open_store(run_dir, readonly=True)
    try:
        live = run_state(run_dir, store)
        settings = json.loads(store.get("settings") or "{}")
        created = float(store.get("created") or 0)
        return {"state": live["state"], "units": _root_units(store), "failed": _failed_units(store),
                "cost_usd": round(spent(store)[0], 6), "synthetic": bool(settings.get("emulator")),
                "age_s": round(max(0.0, time.time() - created), 3)}
    finally:
        store.close()


def _root_units(store: Store) -> int:
    """The run's own units (a fan-out's children are not the run's)."""
    columns = {row[1] for row in store.db.execute("PRAGMA table_info(units)")}
    where = " WHERE origin = ''" if "origin" in columns else ""
    return store.db.execute(f"SELECT count(*) FROM units{where}").fetchone()[0]


def _failed_units(store: Store) -> int:
    """As `status` counts them: units with a failed step."""
    return store.db.execute("SELECT count(DISTINCT unit) FROM results WHERE state = 'failed'").fetchone()[0]


def _problem(run_dir: Path, err: BaseException) -> str:
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError as listing:
        return f"cannot read the directory: {listing.strerror or listing}"
    if STORE_FILE not in names:
        if names <= {LOCK_FILE}:
            return "not a run: empty (a creation that never began?)"
        if PLAN_FILE not in names:
            return f"not a run directory (no {STORE_FILE})"
    from ..rundirs.diskerrors import describe

    described = describe(err, run_dir, reading=True)
    return (described or str(err)).split("\n")[0]


# --- text -------------------------------------------------------------------------------------


def render_runs(rows: list[dict], base: Path) -> str:
    if not rows:
        return f"no runs in '{base}'\n"
    table = [("RUN", "STATE", "UNITS", "FAILED", "COST", "AGE")]
    for r in rows:
        if r["problem"] is not None:
            table.append((r["name"], "?", "", "", "", _age(r["age_s"]), r["problem"]))
            continue
        cost = "$0 (emulator)" if r["synthetic"] else f"${r['cost_usd']:.4f}"
        table.append((r["name"], r["state"], f"{r['units']:,}", f"{r['failed']:,}", cost, _age(r["age_s"])))
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    lines = []
    for row in table:
        cells = [row[i].rjust(widths[i]) if i in (2, 3) else row[i].ljust(widths[i]) for i in range(6)]
        lines.append(("  ".join(cells) + ("  " + row[6] if len(row) > 6 else "")).rstrip())
    return "\n".join(lines) + "\n"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
