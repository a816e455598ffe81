"""Distinct values (issue 13, point 2): `distinct`, `count_distinct`, and `set` over units in an aggregate."""

from __future__ import annotations

import json
import sqlite3

from octo.cli.main import main


def run(tmp_path, text: str) -> object:
    source = tmp_path / "p.octo"
    source.write_text(text)
    run_dir = tmp_path / "run"
    assert main(["run", str(source), "--run-dir", str(run_dir)]) == 0
    return run_dir


def metrics(run_dir, step: str) -> dict:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        (text,) = db.execute("SELECT metrics FROM groups WHERE step = ?", (step,)).fetchone()
        return json.loads(text)["metrics"]
    finally:
        db.close()


def outputs(run_dir, step: str) -> list:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute("SELECT output FROM results WHERE step = ? ORDER BY unit", (step,)).fetchall()
        return [json.loads(o) for (o,) in rows]
    finally:
        db.close()


AGGREGATE = """\
octo: 1
units:
  repeat: 7
steps:
  tag:
    compute: {label: "'abcb'[unit.repeat % 4]", n: "unit.repeat % 2", maybe: "null if unit.repeat == 0 else 'x'"}
  stats:
    aggregate:
      metrics:
        kinds: count_distinct(tag.label)
        kinds_by_set: len(set(tag.label))
        labels: distinct(tag.label)
        parities: sorted(set(tag.n))
        maybes: count_distinct(tag.maybe)
        units: count()
        empty: len(set())
"""


def test_distinct_values_over_units(tmp_path):
    m = metrics(run(tmp_path, AGGREGATE), "stats")
    assert m["kinds"] == 3 and m["kinds_by_set"] == 3
    assert m["labels"] == ["a", "b", "c"]  # first seen first, in unit order
    assert m["parities"] == [0, 1]
    assert m["maybes"] == 1  # nulls are not a value
    assert m["units"] == 7  # count() still counts the units; set() is still the empty set
    assert m["empty"] == 0


PER_UNIT = """\
octo: 1
steps:
  calc:
    compute:
      d: "distinct([3, 1, 3, null, 2, 1])"
      c: "count_distinct([1, 1.0, 2, 2])"
      lists: "count_distinct([[1, 2], [1, 2], [2, 1]])"
      s: "len(set(['x', 'y', 'x']))"
"""


def test_distinct_on_a_list(tmp_path):
    (out,) = outputs(run(tmp_path, PER_UNIT), "calc")
    assert out["d"] == [3, 1, 2]
    assert out["c"] == 2  # 1 and 1.0 are one value
    assert out["lists"] == 2  # lists compare by content
    assert out["s"] == 2
