"""`unique_by` (issue 13, point 2): the first unit with a key runs, later duplicates are skipped with the reason.

Runs are real (``octo.cli.main.main``), provider steps on the emulator. Determinism and crash safety are
checked by running the same pipeline in small chunks in a subprocess killed mid-way, then resumed.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from octo.cli.main import main
from octo.runtime.work.dedup import SCHEMA, in_unit_order, key_text


def run(tmp_path, text: str, *args: str, name: str = "run") -> object:
    source = tmp_path / "p.octo"
    source.write_text(text)
    run_dir = tmp_path / name
    assert main(["run", str(source), "--run-dir", str(run_dir), *args]) == 0
    return run_dir


def outcomes(run_dir, step: str) -> dict[str, tuple]:
    """unit id → (state, reason) of ``step``."""
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute("SELECT u.id, r.state, r.reason FROM results r JOIN units u ON u.pos = r.unit "
                          "WHERE r.step = ?", (step,)).fetchall()
        return {uid: (state, reason) for uid, state, reason in rows}
    finally:
        db.close()


LOCAL = """\
octo: 1
units:
  repeat: 8
steps:
  tag:
    compute: {label: "'abcb'[unit.repeat % 4]"}
  once:
    compute: {first: "upper(tag.label)"}
    unique_by: tag.label
    when: unit.repeat != 1
  after:
    compute: {seen: once.first}
"""


def test_the_first_unit_with_a_key_runs_and_later_ones_are_skipped(tmp_path):
    run_dir = run(tmp_path, LOCAL)
    assert outcomes(run_dir, "once") == {
        "r0": ("done", None), "r1": ("skipped", None),  # skipped by `when`: it claims no key
        "r2": ("done", None), "r3": ("done", None),  # the first 'b' that runs
        "r4": ("skipped", "duplicate of r0"), "r5": ("skipped", "duplicate of r3"),
        "r6": ("skipped", "duplicate of r2"), "r7": ("skipped", "duplicate of r3")}
    assert outcomes(run_dir, "after")["r4"] == ("done", None)  # downstream sees null, as after `when`


def test_a_key_that_fails_is_that_units_failure(tmp_path):
    text = LOCAL.replace("unique_by: tag.label", "unique_by: \"str(int(tag.label)) if tag.label == 'b' else tag.label\"")
    source = tmp_path / "p.octo"
    source.write_text(text)
    main(["run", str(source), "--run-dir", str(tmp_path / "run")])
    got = outcomes(tmp_path / "run", "once")
    assert got["r3"][0] == "failed" and "int(" in got["r3"][1] and "p.octo:" in got["r3"][1]
    assert got["r5"][0] == got["r7"][0] == "failed"  # no 'b' unit claimed the key: each fails alike
    assert got["r4"] == ("skipped", "duplicate of r0") and got["r6"] == ("skipped", "duplicate of r2")


MANY = """\
octo: 1
seed: 7
units:
  repeat: 60
steps:
  tag:
    compute: {label: "randint(1, 12)"}
  once:
    compute: {v: tag.label * 2}
    unique_by: tag.label
"""

_SMALL_CHUNKS = ("import sys; import octo.runtime.engine as e; e.CHUNK = 4; "
                 "from octo.cli.main import main; sys.exit(main(sys.argv[1:]))")


def test_the_same_units_are_skipped_in_small_chunks_and_after_a_kill(tmp_path):
    whole = outcomes(run(tmp_path, MANY), "once")
    assert sum(state == "skipped" for state, _ in whole.values()) >= 40  # 60 draws of 12 values
    source = tmp_path / "p.octo"
    chunked = tmp_path / "chunked"
    env = {**os.environ, "OCTO_CRASHPOINT": "during-dedup@3"}  # killed with 2 chunks of `once` committed
    args = [sys.executable, "-c", _SMALL_CHUNKS, "run", str(source), "--run-dir", str(chunked)]
    killed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 137, killed.stderr
    assert 0 < len(outcomes(chunked, "once")) < 60
    resume = [sys.executable, "-c", _SMALL_CHUNKS, "run", "--resume", str(chunked)]
    resumed = subprocess.run(resume, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert outcomes(chunked, "once") == whole


PROVIDER = """\
octo: 1
defaults:
  model: openai:gpt-4.1-mini
units:
  repeat: 6
steps:
  tag:
    compute: {label: "'abcb'[unit.repeat % 4]"}
  ask:
    generate:
      prompt: "Say something about {{ tag.label }}"
      output: {text: str}
    unique_by: tag.label
"""


def test_a_provider_step_sends_only_the_first_of_each_key(tmp_path, capsys):
    run_dir = run(tmp_path, PROVIDER, "--provider", "emulator")
    got = outcomes(run_dir, "ask")
    assert got == {"r0": ("done", None), "r1": ("done", None), "r2": ("done", None),
                   "r3": ("skipped", "duplicate of r1"), "r4": ("skipped", "duplicate of r0"),
                   "r5": ("skipped", "duplicate of r1")}
    db = sqlite3.connect(run_dir / "run.db")
    sent = {u for (u,) in db.execute("SELECT DISTINCT u.id FROM attempts a JOIN units u ON u.pos = a.unit")}
    db.close()
    assert sent == {"r0", "r1", "r2"}  # no request for a duplicate


FANOUT = """\
octo: 1
units:
  repeat: 2
steps:
  make:
    compute: {items: "['x', 'y', 'x', 'z', 'y']"}
  kid:
    fanout: {each: make.items}
  once:
    compute: {v: upper(kid.item)}
    unique_by: kid.item
"""


def test_in_a_fan_out_keys_are_compared_among_the_children_of_one_parent(tmp_path):
    got = outcomes(run(tmp_path, FANOUT), "once")
    for parent in ("r0", "r1"):
        assert [got[f"{parent}-kid-{i}"] for i in range(5)] == [
            ("done", None), ("done", None), ("skipped", f"duplicate of {parent}-kid-0"), ("done", None),
            ("skipped", f"duplicate of {parent}-kid-1")]


class _WholeRun:
    def ready_filter(self, store, step, deps):
        return "", []


class _Store:
    def __init__(self):
        self.db = sqlite3.connect(":memory:")
        self.db.executescript("CREATE TABLE units (pos INTEGER PRIMARY KEY, parent INTEGER);"
                              "CREATE TABLE results (step TEXT, unit INTEGER, state TEXT);" + SCHEMA)
        self.db.executemany("INSERT INTO units(pos) VALUES (?)", [(p,) for p in range(6)])


def test_a_unit_waits_for_every_undecided_unit_before_it():
    store = _Store()
    store.db.execute("INSERT INTO results VALUES ('s', 0, 'done')")
    store.db.execute("INSERT INTO unique_keys VALUES ('s', -1, '\"a\"', 1)")  # queued: decided, no result yet
    # 2 is not ready (its upstream is still running): 3 and 5 must wait for it
    assert in_unit_order(store, _WholeRun(), "s", [3, 5]) == []
    assert in_unit_order(store, _WholeRun(), "s", [2, 3, 5]) == [2, 3]  # 4 is not ready: 5 waits
    assert in_unit_order(store, _WholeRun(), "s", [1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]  # a claim put back runs again


def test_keys_equal_as_values_are_one_key():
    assert key_text(1) == key_text(1.0) and key_text(True) != key_text(1)
    assert key_text({"b", "a"}) == key_text(["a", "b"])
    assert key_text({"x": 1, "y": [2.0]}) == key_text({"y": [2], "x": 1})


def test_octoc_plan_says_the_step_is_deduplicated(tmp_path, capsys):
    source = tmp_path / "p.octo"
    source.write_text(LOCAL)
    capsys.readouterr()
    assert main(["plan", str(source), "--format", "json"]) == 0
    step = next(s for s in json.loads(capsys.readouterr().out)["plan"]["steps"] if s["name"] == "once")
    assert step["unique_by"]["text"] == "tag.label" and step["units"]["exact"] is False
    assert main(["plan", str(source)]) == 0
    out = capsys.readouterr().out
    assert "once: deduplicated by `tag.label`: duplicates are known only during a run" in out
    assert re.search(r"once +compute +local +7≤", out)  # `when` leaves 7 units; duplicates an upper bound


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=12), chunk=st.integers(1, 5))
def test_any_chunk_size_skips_exactly_the_later_duplicates(tmp_path_factory, monkeypatch, labels, chunk):
    import octo.runtime.engine as engine

    monkeypatch.setattr(engine, "CHUNK", chunk)
    rows = ", ".join(f"{{id: u{i}, label: {label}}}" for i, label in enumerate(labels))
    text = (f"octo: 1\ndata:\n  rows: [{rows}]\nunits:\n  for: {{row: rows}}\nsteps:\n"
            "  once:\n    compute: {v: upper(unit.row.label)}\n    unique_by: unit.row.label\n")
    got = outcomes(run(tmp_path_factory.mktemp("dedup"), text), "once")
    first: dict[str, str] = {}
    expected = {}
    for i, label in enumerate(labels):
        expected[f"u{i}"] = ("skipped", f"duplicate of {first[label]}") if label in first else ("done", None)
        first.setdefault(label, f"u{i}")
    assert got == expected


def test_a_verdict_of_one_attempt_runs_nothing_again_so_unique_by_is_allowed(tmp_path, capsys):
    """E0314 is for loops that can send units back; a judge or gate with `attempts: 1` never does."""
    looped = (ROOT / "tests" / "invalid" / "242_unique_by_in_loop.octo").read_text()
    source = tmp_path / "p.octo"
    source.write_text(looped.replace("attempts: 3", "attempts: 1"))
    capsys.readouterr()
    assert main(["check", str(source)]) == 0, capsys.readouterr()
    source.write_text(looped)
    assert main(["check", str(source)]) == 1 and "E0314" in capsys.readouterr().out
