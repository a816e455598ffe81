"""Per-unit steps in worker processes: the same results, unit for unit, as in one process."""

import json
import sqlite3

import pytest

from conftest import octoc

# Large enough for worker processes (POOL_MIN_UNITS), with a random step, a step reading it,
# failures, blocked units, a `when` and aggregates over it all: one whose `when` and `by` fail
# for some units and whose reduction fails for others (the worker processes' parts of the groups,
# merged, must give the same groups, counts, reasons and example units as one process).
PIPELINE = """octo: 1
name: parallel
seed: 7
data:
  scenarios:
    - {{id: middle, start: 5}}
    - {{id: near_ship, start: 8}}
units:
  for: {{scenario: scenarios}}
  repeat: {repeat}
steps:
  walk:
    simulate:
      init: {{position: unit.scenario.start, steps: 0}}
      each:
        position: position + choice([-1, 1])
        steps: steps + 1
      until: position <= 0 or position >= 10
    output:
      outcome: "'ship' if position >= 10 else 'water'"
      steps: steps
  ratio:
    compute:
      r: 100 / (walk.steps % 7)
  late:
    compute:
      twice: ratio.r * 2
    when: unit.repeat % 3 == 0
  odds:
    aggregate:
      by: [unit.scenario.id]
      metrics:
        p_ship: mean(walk.outcome == 'ship')
        mean_twice: mean(late.twice)
        n: count()
  spread:
    aggregate:
      by: [unit.scenario.id, "walk.steps // (walk.steps % 9)"]
      metrics:
        inv: mean(10 / (walk.steps - 4))
        start: unit.scenario.start
        n: count()
      expect:
        - n >= 1
    when: "100 // (unit.repeat % 13) >= 0 and walk.outcome == 'ship'"
"""


def _run(tmp_path, name, workers, monkeypatch, repeat=9000):
    monkeypatch.setenv("OCTO_WORKERS", str(workers))
    (tmp_path / name).mkdir()
    (tmp_path / name / "p.octo").write_text(PIPELINE.format(repeat=repeat))
    # the same relative path in both runs: failure reasons quote it
    out = octoc("run", "p.octo", "--run-dir", "run", cwd=tmp_path / name)
    assert out.returncode == 6, out.stdout + out.stderr  # done; `ratio` fails some units on purpose
    return tmp_path / name / "run"


def _rows(run_dir):
    db = sqlite3.connect(str(run_dir / "run.db"))
    try:
        results = db.execute("SELECT step, unit, state, output, reason FROM results ORDER BY step, unit").fetchall()
        groups = db.execute("SELECT step, key, units, metrics FROM groups ORDER BY step, key").fetchall()
        return results, groups
    finally:
        db.close()


def test_worker_processes_give_the_results_of_one_process(tmp_path, monkeypatch):
    serial = _rows(_run(tmp_path, "serial", 1, monkeypatch))
    pooled = _rows(_run(tmp_path, "pooled", 2, monkeypatch))
    assert pooled == serial
    states = {state for _, _, state, _, _ in serial[0]}
    assert states == {"done", "failed", "blocked", "skipped"}  # every path of a unit was compared


def test_store_counts_unit_states_as_the_report_does(tmp_path, monkeypatch):
    run_dir = _run(tmp_path, "counted", 1, monkeypatch, repeat=300)
    report = json.loads(octoc("report", str(run_dir), "--format", "json").stdout)
    from octo.runtime.base.store import Store

    store = Store(run_dir / "run.db")
    try:
        assert store.unit_states(["walk", "ratio", "late"]) == report["states"]
    finally:
        store.close()


@pytest.mark.parametrize("workers", ["1", "3", "", "x"])
def test_worker_count_follows_octo_workers(monkeypatch, workers):
    from octo.runtime.work.parallel import MAX_WORKERS, worker_count

    monkeypatch.setenv("OCTO_WORKERS", workers)
    assert worker_count() == int(workers) if workers.isdigit() else 1 <= worker_count() <= MAX_WORKERS
