"""Creating a run directory: the source, its data files and the Plan, snapshotted."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path

from octo.compiler.ir import Plan, PlanFormatError

from .store import SCHEMA_VERSION, Store
from .units import selected_units

PLAN_FILE = "plan.json"
STORE_FILE = "run.db"


class RunDirError(Exception):
    pass


def default_run_dir(plan: Plan, base: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = base / f"{plan.data['pipeline']['name']}-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = base / f"{plan.data['pipeline']['name']}-{stamp}-{n}"
    return candidate


def create_run(plan: Plan, run_dir: Path, settings: dict | None = None) -> Path:
    """Snapshot the source, its data files and the Plan, and seed the store with the units.

    ``settings``: how the run talks to providers (emulator, batch size, …), kept
    in the store so that a resumed run behaves the same. Never an API key.
    """
    try:
        return _create(plan, run_dir, settings or {})
    except OSError as err:
        raise RunDirError(f"cannot create the run directory '{run_dir}': {err.strerror or err}") from None


def _create(plan: Plan, run_dir: Path, settings: dict) -> Path:
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"run directory '{run_dir}' already exists and is not empty; "
                          f"resume it with: octoc run --resume {run_dir}")
    source = Path(plan.data["pipeline"]["source"])
    (run_dir / "source").mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, run_dir / "source" / source.name)
    for table in plan.data["data"].values():
        if table.get("file"):
            target = run_dir / "source" / table["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source.parent / table["file"], target)
    (run_dir / PLAN_FILE).write_text(plan.to_json(), encoding="utf-8")
    store = Store(run_dir / STORE_FILE)
    with store.transaction() as db:
        store.put("schema_version", str(SCHEMA_VERSION), db)
        store.put("created", str(time.time()), db)
        store.put("state", "running", db)
        store.put("tag", secrets.token_hex(4), db)  # makes custom ids and batch keys unique across runs
        store.put("settings", json.dumps(settings), db)
        rows, batch = [], []
        for pos, (idx, unit_id) in enumerate(selected_units(plan)):
            batch.append((pos, idx, unit_id))
            if len(batch) >= 50_000:
                store.add_units(batch, db)
                batch = []
        store.add_units(batch, db)
        store.event("created", detail={"units": store.unit_count()}, db=db)
    store.close()
    return run_dir


def open_plan(run_dir: Path) -> Plan:
    path = run_dir / PLAN_FILE
    if not path.is_file():
        raise RunDirError(f"'{run_dir}' is not a run directory (no {PLAN_FILE})")
    try:
        return Plan.from_json(path.read_text(encoding="utf-8"))
    except (PlanFormatError, OSError, UnicodeDecodeError) as err:
        raise RunDirError(f"cannot read '{path}': {err}") from None


def open_store(run_dir: Path) -> Store:
    """The run's store; a run directory without one is damaged, not empty."""
    path = run_dir / STORE_FILE
    if not path.is_file():
        raise RunDirError(f"'{run_dir}' has no run store ({STORE_FILE}); it is not a complete run directory")
    try:
        return Store(path)
    except Exception as err:  # sqlite3.DatabaseError and friends
        raise RunDirError(f"cannot open '{path}': {err}") from None

