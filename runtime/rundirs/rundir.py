"""Creating a run directory: the source, its data files and the Plan, snapshotted; the units, stored.

Creation is marked complete last. Its steps, each durable before the next:

1. the store is created with ``state = creating`` (and the run's tag, settings, versions);
2. the source and its data files are copied into ``source/`` (never outside it);
3. ``plan.json`` is written under a temporary name and renamed into place;
4. the units are inserted in chunks of CREATE_CHUNK, one transaction each; the
   transaction of the last chunk also sets ``state = running``.

A run whose store still says ``creating`` is not done: :func:`complete_creation`
continues it from ``plan.json`` (the units already stored are kept), or, if it
stopped before step 3, refuses with how to start again. See docs/design.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import time
from pathlib import Path, PurePath
from typing import Callable

from octo.compiler.planning.ir import READABLE_PLAN_VERSIONS, Plan, PlanFormatError

from ..base.crashpoints import crashpoint
from ..base.store import SCHEMA_VERSION, Store, StoreError

PLAN_FILE = "plan.json"
STORE_FILE = "run.db"
LOCK_FILE = "run.lock"
SOURCE_DIR = "source"
CREATE_CHUNK = 20_000  # units per transaction while creating: Ctrl-C is seen between two chunks

CREATING, RUNNING = "creating", "running"


class RunDirError(Exception):
    pass


class CreationStopped(Exception):
    """Ctrl-C while the units were being stored: the run is resumable, its creation continues then."""


def default_run_dir(plan: Plan, base: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = base / f"{plan.data['pipeline']['name']}-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = base / f"{plan.data['pipeline']['name']}-{stamp}-{n}"
    return candidate


def claim_run_dir(run_dir: Path) -> None:
    """Make ``run_dir`` (it may exist if empty, or hold only the lock file of this creation)."""
    try:
        if run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir()):
            raise RunDirError(f"run directory '{run_dir}' already exists and is not empty; "
                              f"resume it with: octoc run --resume {run_dir}")
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot create the run directory '{run_dir}': {err.strerror or err}") from None


def begun_elsewhere(run_dir: Path) -> bool:
    """Has another creation begun in ``run_dir`` (checked again once its lock is held)?"""
    store = run_dir / STORE_FILE
    return (run_dir / PLAN_FILE).exists() or (run_dir / SOURCE_DIR).exists() or (store.exists() and store.stat().st_size > 0)


def create_run(plan: Plan, run_dir: Path, settings: dict | None = None,
               should_stop: Callable[[], bool] = lambda: False, claimed: bool = False,
               on_units: Callable[[list], None] | None = None) -> Path:
    """Snapshot the source, its data files and the Plan, and seed the store with the units.

    ``settings``: how the run talks to providers (emulator, batch size, …), kept
    in the store so that a resumed run behaves the same. Never an API key.
    Raises :class:`CreationStopped` when ``should_stop`` turns true while units
    are stored; a failure before ``plan.json`` exists removes what was made.
    ``claimed``: the caller claimed ``run_dir`` and holds its lock (runlock.run_lock(new=True)).
    ``on_units``: told each batch of units, (position, index, id) in order, before it is stored
    (runtime/headstart.py).
    """
    targets = snapshot_targets(plan)  # refused before anything is made
    if not claimed:
        claim_run_dir(run_dir)
    try:
        _begin(plan, run_dir, settings or {})
        _snapshot(targets, run_dir / SOURCE_DIR)
        crashpoint("create-before-plan")
        _write_atomically(run_dir / PLAN_FILE, plan.to_json())
    except BaseException:
        _discard(run_dir)  # nothing could resume from it: leave the directory as it was
        raise
    complete_creation(run_dir, should_stop, plan, on_units)
    return run_dir


def _begin(plan: Plan, run_dir: Path, settings: dict) -> None:
    from octo import __version__

    from ..attempts.ledger import Ledger

    store = Store(run_dir / STORE_FILE)
    try:
        Ledger(store)  # its tables too: readers open the store read-only and create nothing
        with store.transaction() as db:
            store.put("schema_version", str(SCHEMA_VERSION), db)
            store.put("octoc_version", __version__, db)
            store.put("created", str(time.time()), db)
            store.put("state", CREATING, db)
            store.put("source", str(plan.data["pipeline"]["source"]), db)
            store.put("tag", secrets.token_hex(4), db)  # makes custom ids and batch keys unique across runs
            store.put("settings", json.dumps(settings), db)
    finally:
        store.close()


def _discard(run_dir: Path) -> None:
    for entry in run_dir.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


# --- the units, stored last ------------------------------------------------------------------


def complete_creation(run_dir: Path, should_stop: Callable[[], bool] = lambda: False, plan: Plan | None = None,
                      on_units: Callable[[list], None] | None = None) -> None:
    """Store the units a creation has not stored yet, and mark the run created; a no-op once it is.

    The caller holds the run's lock. Raises :class:`CreationStopped` on ``should_stop``.
    """
    if not (run_dir / STORE_FILE).is_file():
        return  # not a run directory, or a damaged one: opening it says which
    store = open_store(run_dir)
    try:
        state = store.get("state")
        if state not in (CREATING, None):
            return
        if state is None or not (run_dir / PLAN_FILE).is_file():
            raise RunDirError(_restart_advice(run_dir, store.get("source")))
        _add_units(store, plan or open_plan(run_dir), should_stop, on_units or (lambda units: None))
    finally:
        store.close()


def _restart_advice(run_dir: Path, source: str | None) -> str:
    return (f"the creation of run directory '{run_dir}' was interrupted before its plan was saved, so there is "
            f"nothing to resume (no unit has run). Remove it and start again: "
            f"rm -r {run_dir} && octoc run {source or 'FILE'} --run-dir {run_dir}")


def _add_units(store: Store, plan: Plan, should_stop: Callable[[], bool], on_units: Callable[[list], None]) -> None:
    """Insert the units after those already stored, a chunk per transaction; the last one marks the run created."""
    from ..work.units import selected_chunks  # the language and its step kinds: not needed to open a run

    stored = store.unit_count()
    last_stored = store.units([stored - 1])[0] if stored else None
    pos, pending = 0, []
    for indices, ids in selected_chunks(plan, CREATE_CHUNK):  # ids made a chunk at a time (UnitSpace.unit_ids)
        first, pos = pos, pos + len(indices)
        chunk = list(zip(range(first, pos), indices, ids))
        if first < stored:  # stored by an earlier, interrupted creation: the selection is the same every time
            if pos >= stored and chunk[stored - 1 - first] != last_stored:
                raise RunDirError(f"the units stored in '{store.path}' are not those of its plan; "
                                  "the run directory is damaged: start the run again")
            chunk = chunk[stored - first:]
        pending.extend(chunk)
        while len(pending) >= CREATE_CHUNK:
            if should_stop():
                raise CreationStopped
            batch, pending = pending[:CREATE_CHUNK], pending[CREATE_CHUNK:]
            on_units(batch)
            with store.transaction() as db:
                store.add_units(batch, db)
    on_units(pending)
    with store.transaction() as db:
        store.add_units(pending, db)
        store.index_unit_ids(db)  # ids are unique, and a fan-out's children are added after this
        crashpoint("create-last-units")
        store.put("state", RUNNING, db)
        store.event("created", detail={"units": pos}, db=db)


# --- the snapshot: source/ and nothing outside it -------------------------------------------------


def snapshot_targets(plan: Plan) -> list[tuple[Path, PurePath]]:
    """(file to copy, where in source/) for the .octo file and each data file; a path that would
    land outside source/ (absolute, or climbing with ``..``) is refused."""
    source = Path(plan.data["pipeline"]["source"])
    targets = [(source, PurePath(source.name))]
    for table in plan.data["data"].values():
        name = table.get("file")
        if not name:
            continue
        relative = PurePath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise RunDirError(f"data file '{name}' would be copied outside the run's {SOURCE_DIR}/ snapshot; "
                              "data files must lie inside the pipeline's folder (name them by a relative path "
                              "without '..')")
        targets.append((source.parent / relative, relative))
    return targets


def _snapshot(targets: list[tuple[Path, PurePath]], root: Path) -> None:
    root.mkdir()
    real_root = root.resolve()
    done: set[PurePath] = set()
    for origin, relative in targets:
        if relative not in done:
            _copy_inside(origin, real_root, relative)
            done.add(relative)


def _copy_inside(origin: Path, root: Path, relative: PurePath) -> None:
    """Copy a regular file to ``root/relative``: the target must resolve inside ``root`` and is
    created new (``O_EXCL | O_NOFOLLOW``), so no symlink is ever followed to write."""
    target = root.joinpath(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root):
        raise RunDirError(f"'{relative}' would be copied outside the run's {SOURCE_DIR}/ snapshot")
    src = os.open(origin, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO must not hang us
    try:
        info = os.fstat(src)
        if not stat.S_ISREG(info.st_mode):
            raise RunDirError(f"cannot snapshot '{origin}': it is not a regular file")
        try:
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:  # something (a symlink, say) is already there: never write through it
            raise RunDirError(f"cannot snapshot '{relative}': '{target}' already exists") from None
        with open(src, "rb", closefd=False) as reader, open(dst, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
        os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)
    finally:
        os.close(src)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``path`` so that it either exists whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


# --- opening a run ------------------------------------------------------------------------------


def open_plan(run_dir: Path) -> Plan:
    path = run_dir / PLAN_FILE
    if not path.is_file():
        raise RunDirError(f"'{run_dir}' is not a run directory (no {PLAN_FILE})")
    try:
        text = path.read_text(encoding="utf-8")
        return Plan.from_json(text)
    except PlanFormatError as err:
        raise RunDirError(f"cannot read '{path}': {_plan_refusal(text, err)}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunDirError(f"cannot read '{path}': {err}") from None


def _plan_refusal(text: str, err: PlanFormatError) -> str:
    """Why a plan is refused, and for a plan of another version, what to do about it."""
    try:
        version = json.loads(text).get("version")
    except (ValueError, AttributeError):
        return str(err)
    if version is None or version in READABLE_PLAN_VERSIONS:
        return str(err)
    readable = " and ".join(map(str, READABLE_PLAN_VERSIONS))
    return (f"it is plan version {version}; this octoc ({_version()}) reads plan versions {readable}. "
            f"Read or resume it with the octoc that created it, or start the run again with this one")


def _version() -> str:
    from octo import __version__

    return __version__


def open_store(run_dir: Path, readonly: bool = False) -> Store:
    """The run's store; a run directory without one is damaged, not empty. ``readonly``: for the reading commands."""
    path = run_dir / STORE_FILE
    if not path.is_file():
        raise RunDirError(f"'{run_dir}' has no run store ({STORE_FILE}); it is not a complete run directory")
    try:
        return Store(path, readonly=readonly)
    except StoreError as err:
        raise RunDirError(f"cannot use '{path}': {err}") from None
