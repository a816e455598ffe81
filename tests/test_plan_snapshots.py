"""Snapshots of the text and JSON plans of every example."""

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
    assert data == snapshot(name="json")
