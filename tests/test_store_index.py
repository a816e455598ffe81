"""The run store's index on unit ids (runtime/base/store.py, Store.index_unit_ids): built when creation has
stored the last units, unique, and used to find a unit by id."""

from __future__ import annotations

import pytest

from test_rundir import LOCAL, _finished, cli  # noqa: F401  (cli: the fixture)


def test_unit_ids_are_unique_and_indexed_once_the_units_are_stored(tmp_path, cli):
    """The index on unit ids is built when creation stores its last units (Store.index_unit_ids), not kept
    while they are inserted: a created run has it, unique, and the lookup by id uses it."""
    import sqlite3

    db = sqlite3.connect(_finished(tmp_path, cli, LOCAL.format(repeat=50)) / "run.db")
    try:
        unique_on_id = [name for _, name, unique, *_ in db.execute("PRAGMA index_list(units)")
                        if unique and [r[2] for r in db.execute(f"PRAGMA index_info({name})")] == ["id"]]
        assert unique_on_id == ["units_by_id"]
        plan = " ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN SELECT pos FROM units WHERE id = 'r7'"))
        assert "units_by_id" in plan, plan
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO units(pos, idx, id) VALUES (999, 0, (SELECT id FROM units WHERE pos = 3))")
    finally:
        db.close()
