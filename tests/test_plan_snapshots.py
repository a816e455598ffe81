"""Snapshots of the text and JSON plans of every example."""

import hashlib
import json
import pathlib

import pytest

from conftest import octoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.relative_to(ROOT) for p in (ROOT / "examples").glob("*.octo"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_plan_snapshot(path, snapshot):
    text = octoc("plan", str(path), "--color", "never")
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout == snapshot(name="text")
    data = json.loads(octoc("plan", str(path), "--format", "json").stdout)
    assert _long_tables_digested(data) == snapshot(name="json")


def _long_tables_digested(data: dict, most: int = 20) -> dict:
    """A data table of more than ``most`` rows (classify_documents' 5,000) as its first 3 rows and a digest of
    them all: a change to any row still shows, without a megabyte of rows in the snapshot."""
    for table in (data.get("plan", {}).get("data") or {}).values():
        rows = table.get("rows") if isinstance(table, dict) else None
        if isinstance(rows, list) and len(rows) > most:
            digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
            table["rows"] = rows[:3] + [f"... {len(rows) - 3} more rows; sha256 of all {len(rows)}: {digest}"]
    return data
