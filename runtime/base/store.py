"""The run store: one SQLite database (WAL) per run, the single source of truth.

Tables:
- ``meta``      key → value (the plan's hash, the run's state, times);
- ``units``     the selected units: position in the unit space and id; a fan-out's child
                units also their ``origin`` (the fan-out) and ``parent`` (its position);
- ``results``   one row per (step, unit): state done | failed | skipped |
                blocked, the output (JSON), the reason of a failure;
- ``groups``    one row per (aggregate step, group): the metrics (JSON);
- ``expects``   each `expect` of each group: passed or not, with its values;
- ``events``    an append-only log (started, ticks, stops, failures).

Writes are transactional and incremental: a tick inserts what it computed and
never rewrites what did not change, so a run killed at any instruction loses
at most the transaction in flight, and the next tick redoes exactly that.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (pos INTEGER PRIMARY KEY, idx INTEGER NOT NULL, id TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT '', parent INTEGER);
CREATE TABLE IF NOT EXISTS results (
    step TEXT NOT NULL, unit INTEGER NOT NULL, state TEXT NOT NULL, output TEXT, reason TEXT,
    PRIMARY KEY (step, unit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (
    step TEXT NOT NULL, key TEXT NOT NULL, units INTEGER NOT NULL, metrics TEXT NOT NULL,
    PRIMARY KEY (step, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS expects (
    step TEXT NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL,
    passed INTEGER, detail TEXT, PRIMARY KEY (step, key, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL, step TEXT, detail TEXT);
"""

STATES = ("done", "failed", "skipped", "blocked")


def _octoc_version() -> str:
    from octo import __version__

    return __version__


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection. SQLite reads a WAL database through its -wal and -shm files; in a
    directory we may not write, after the last writer removed them, it cannot create them, and the
    database is opened as immutable instead — safe then, as no writer can be at work in it."""
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
        if Path(f"{path}-wal").exists() or os.access(path.parent, os.W_OK):
            raise
    db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
    return db


class StoreError(Exception):
    """A store this octoc cannot use as it is: another schema version, or not a run store at all."""


class Store:
    """The run store. ``readonly=True`` opens it for reading only (SQLite ``mode=ro``): nothing is
    created, migrated or written, so a finished run on a read-only disk can still be read."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.db = _connect_readonly(self.path) if readonly else sqlite3.connect(str(self.path), isolation_level=None,
                                                                                  timeout=30)
        try:
            self._check_version()
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process kill
                self.db.executescript(_SCHEMA)
                self._add_lineage()
        except BaseException:
            self.db.close()
            raise

    def _check_version(self) -> None:
        """Refuse a store written by another schema version before anything touches it."""
        if not self.has_table("meta"):
            if self.readonly:
                raise StoreError("it is not an octo run store (it has no meta table)")
            return  # a new store: the schema is created next
        found = self.get("schema_version")
        if found is not None and found != str(SCHEMA_VERSION):
            made_by = self.get("octoc_version")
            raise StoreError(f"it is run store version {found}{f' (written by octoc {made_by})' if made_by else ''}; "
                             f"this octoc ({_octoc_version()}) reads version {SCHEMA_VERSION}. Read or resume it "
                             "with the octoc that created it, or start the run again with this one")

    def _add_lineage(self) -> None:
        """A store made before fan-out has units without `origin` and `parent`: add them (each unit is then the
        run's own). Child units of a fan-out are found by their origin (runtime/work/scopes.py), through an index
        that leaves out the run's own units, so a run without fan-out pays nothing for it."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(units)")}
        if "origin" not in columns:
            self.db.execute("ALTER TABLE units ADD COLUMN origin TEXT NOT NULL DEFAULT ''")
        if "parent" not in columns:
            self.db.execute("ALTER TABLE units ADD COLUMN parent INTEGER")
        self.db.execute("CREATE INDEX IF NOT EXISTS units_by_origin ON units(origin, pos) WHERE origin > ''")

    def has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        self.db.execute("COMMIT")

    def _rollback(self) -> None:
        """Undo the transaction in flight, keeping the error that ended it: SQLite has already rolled
        back after some errors (a full disk), and a second failure must not hide the first."""
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    # --- meta and events -------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        (db or self.db).execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                (key, value))

    def event(self, kind: str, step: str | None = None, detail: Any = None, db: sqlite3.Connection | None = None) -> None:
        (db or self.db).execute("INSERT INTO events(at, kind, step, detail) VALUES (?, ?, ?, ?)",
                                (time.time(), kind, step, json.dumps(detail) if detail is not None else None))

    # --- units and results ---------------------------------------------------------------

    def add_units(self, rows: Iterable[tuple[int, int, str]], db: sqlite3.Connection) -> None:
        db.executemany("INSERT INTO units(pos, idx, id) VALUES (?, ?, ?)", rows)

    def index_unit_ids(self, db: sqlite3.Connection) -> None:
        """Make unit ids unique, and found by id, once the run's units are all stored: one index built from
        them all (sorted once) costs about half of keeping it while 100,000 units are inserted. A store made
        before this has the same uniqueness as a column constraint; the index is then a second one."""
        db.execute("CREATE UNIQUE INDEX IF NOT EXISTS units_by_id ON units(id)")

    def unit_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM units").fetchone()[0]

    def units(self, positions: list[int] | None = None) -> list[tuple[int, int, str]]:
        if positions is None:
            return self.db.execute("SELECT pos, idx, id FROM units ORDER BY pos").fetchall()
        if not positions:
            return []
        wanted = set(positions)  # chunks are runs of positions: one range query, then filter
        rows = self.db.execute("SELECT pos, idx, id FROM units WHERE pos BETWEEN ? AND ? ORDER BY pos",
                               (min(positions), max(positions))).fetchall()
        return [r for r in rows if r[0] in wanted]

    def unit_range(self, start: int, stop: int) -> list[tuple[int, int, str]]:
        """The units with ``start <= pos < stop``, in order."""
        return self.db.execute("SELECT pos, idx, id FROM units WHERE pos >= ? AND pos < ? ORDER BY pos",
                               (start, stop)).fetchall()

    def pending(self, step: str, limit: int) -> list[int]:
        """Positions of units with no result yet for ``step``, in order."""
        return [r[0] for r in self.db.execute(
            "SELECT pos FROM units WHERE pos NOT IN (SELECT unit FROM results WHERE step = ?) ORDER BY pos LIMIT ?",
            (step, limit))]

    def results(self, step: str, positions: list[int]) -> dict[int, tuple[str, Any, str | None]]:
        from .encoding import decode_output  # dict keys come back with their types

        return {unit: (state, decode_output(output) if output is not None else None, reason)
                for unit, (state, output, reason) in self.raw_results(step, positions).items()}

    def raw_results(self, step: str, positions: list[int]) -> dict[int, tuple[str, str | None, str | None]]:
        """Results of ``step`` for ``positions`` as stored: outputs still JSON text."""
        if not positions:
            return {}
        lo, hi = min(positions), max(positions)
        if hi - lo + 1 > 4 * len(positions):  # scattered positions: look each up rather than scan the range
            return self._listed_results(step, positions)
        rows = self.db.execute("SELECT unit, state, output, reason FROM results WHERE step = ? AND unit BETWEEN ? AND ?",
                               (step, lo, hi))
        if hi - lo + 1 == len(positions):  # a chunk is a run of positions: one range query, nothing to filter
            return {unit: (state, output, reason) for unit, state, output, reason in rows}
        wanted = set(positions)
        return {unit: (state, output, reason) for unit, state, output, reason in rows if unit in wanted}

    def _listed_results(self, step: str, positions: list[int]) -> dict[int, tuple[str, str | None, str | None]]:
        out = {}
        for i in range(0, len(positions), 900):
            chunk = positions[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for unit, state, output, reason in self.db.execute(
                    f"SELECT unit, state, output, reason FROM results WHERE step = ? AND unit IN ({marks})", (step, *chunk)):
                out[unit] = (state, output, reason)
        return out

    def add_results(self, step: str, rows: Iterable[tuple[int, str, Any, str | None]], db: sqlite3.Connection) -> None:
        """Insert result rows, encoding their outputs as every output is stored (raises UnstorableValue)."""
        from .encoding import encode_output

        self.add_encoded_results(step, ((unit, state, encode_output(output) if output is not None else None, reason)
                                        for unit, state, output, reason in rows), db)

    def add_encoded_results(self, step: str, rows: Iterable[tuple[int, str, str | None, str | None]],
                            db: sqlite3.Connection) -> None:
        """Insert result rows whose outputs are already JSON text."""
        db.executemany("INSERT INTO results(step, unit, state, output, reason) VALUES (?, ?, ?, ?, ?)",
                       ((step, unit, state, output, reason) for unit, state, output, reason in rows))

    def result_count(self, step: str) -> int:
        return self.db.execute("SELECT count(*) FROM results WHERE step = ?", (step,)).fetchone()[0]

    def counts(self, step: str) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, n in self.db.execute("SELECT state, count(*) FROM results WHERE step = ? GROUP BY state", (step,)):
            out[state] = n
        return out

    def all_results(self, step: str, outputs: bool = True) -> Iterator[tuple[int, str, Any, str | None]]:
        """Every result of ``step`` in unit order; with ``outputs=False`` the outputs are left undecoded (None)."""
        from .encoding import decode_output  # stored outputs are compact JSON: its fast path applies

        rows = self.db.execute("SELECT unit, state, output, reason FROM results WHERE step = ? ORDER BY unit", (step,))
        while batch := rows.fetchmany(2_000):
            for unit, state, output, reason in batch:
                yield unit, state, decode_output(output) if outputs and output is not None else None, reason

    def unit_states(self, steps: list[str]) -> dict[str, int]:
        """How many units are done, failed (a step failed or was blocked) and pending, over ``steps``."""
        if not steps:
            return {"done": self.unit_count(), "failed": 0, "pending": 0}
        marks = ",".join("?" * len(steps))
        failed, complete, started = self.db.execute(
            f"SELECT coalesce(sum(bad > 0), 0), coalesce(sum(bad = 0 AND n = ? AND waiting = 0), 0), count(*) FROM "
            f"(SELECT sum(state IN ('failed', 'blocked')) AS bad, count(*) AS n, sum(state = 'pending') AS waiting "
            f"FROM results WHERE step IN ({marks}) GROUP BY unit)", (len(steps), *steps)).fetchone()
        return {"done": complete, "failed": failed, "pending": self.unit_count() - failed - complete}
