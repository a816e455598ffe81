"""`octoc run`: local steps end to end, statistics, kills, failures, and the read commands."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT, octoc

SAILOR = """octo: 1
name: sailor
seed: {seed}
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
  odds:
    aggregate:
      by: [unit.scenario.id]
      metrics:
        p_ship: mean(walk.outcome == 'ship')
        mean_steps: mean(walk.steps)
        sd_steps: stdev(walk.steps)
        n: count()
"""


def start_run(tmp_path, text, name="p.octo", run="run", *extra):
    f = tmp_path / name
    f.write_text(text)
    return octoc("run", str(f), "--run-dir", str(tmp_path / run), *extra), tmp_path / run


def report_json(run_dir, code=0):
    """The report of a finished run, whose verdict is ``code`` (0 passed, 6 units failed, 7 an expect failed)."""
    out = octoc("report", str(run_dir), "--format", "json")
    assert out.returncode == code, out.stderr
    return json.loads(out.stdout)


def test_drunken_sailor_matches_theory(tmp_path):
    out, run_dir = start_run(tmp_path, SAILOR.format(seed=11, repeat=3000))
    assert out.returncode == 0, out.stdout + out.stderr
    groups = {g["by"]["id"]: g for g in report_json(run_dir)["aggregates"][0]["groups"]}
    for name, start in (("middle", 5), ("near_ship", 8)):
        m = groups[name]["metrics"]
        n = m["n"]
        p = start / 10
        assert abs(m["p_ship"] - p) < 3 * math.sqrt(p * (1 - p) / n)
        assert abs(m["mean_steps"] - start * (10 - start)) < 3 * m["sd_steps"] / math.sqrt(n)


def results_lines(run_dir):
    out = octoc("results", str(run_dir))
    assert out.returncode == 0
    return out.stdout.splitlines()


def test_same_seed_same_results_and_a_new_seed_changes_them(tmp_path):
    _, a = start_run(tmp_path, SAILOR.format(seed=5, repeat=200), "a.octo", "a")
    _, b = start_run(tmp_path, SAILOR.format(seed=5, repeat=200), "b.octo", "b")
    _, c = start_run(tmp_path, SAILOR.format(seed=6, repeat=200), "c.octo", "c")
    assert results_lines(a) == results_lines(b)
    assert results_lines(a) != results_lines(c)


def _committed(run_dir) -> int:
    try:
        db = sqlite3.connect(str(run_dir / "run.db"), timeout=1)
        n = db.execute("SELECT count(*) FROM results").fetchone()[0]
        db.close()
        return n
    except sqlite3.Error:
        return 0


def test_sigkill_mid_step_resumes_to_identical_results(tmp_path):
    text = SAILOR.format(seed=21, repeat=15000)
    _, reference = start_run(tmp_path, text, "ref.octo", "ref")
    f = tmp_path / "k.octo"
    f.write_text(text)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "octo", "run", str(f), "--run-dir", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 60
    while _committed(killed) < 4000 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _committed(killed)
    assert 0 < done_before < 30000, "the kill should land in the middle of the walk step"
    out = octoc("run", "--resume", str(killed))
    assert out.returncode == 0, out.stdout + out.stderr
    assert results_lines(killed) == results_lines(reference)
    assert report_json(killed)["aggregates"] == report_json(reference)["aggregates"]


FAILING = """octo: 1
name: fragile
units: {repeat: 8}
steps:
  ratio:
    compute:
      x: 10 / (unit.repeat - 3)
  picked:
    compute:
      y: "[1, 2, 3][unit.repeat]"
  after:
    compute:
      z: ratio.x * 2
  summary:
    aggregate:
      metrics: {n: count(), total: sum(after.z)}
"""


def test_a_failing_expression_fails_that_unit_with_its_reason(tmp_path):
    out, run_dir = start_run(tmp_path, FAILING)
    assert out.returncode == 6, out.stdout + out.stderr  # done, some units failed
    status = json.loads(octoc("status", str(run_dir), "--format", "json").stdout)
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["ratio"]["failed"] == 1 and steps["ratio"]["done"] == 7
    assert steps["picked"]["failed"] == 5 and steps["after"]["blocked"] == 1
    for s in ("ratio", "picked", "after"):
        assert steps[s]["done"] + steps[s]["failed"] + steps[s]["skipped"] + steps[s]["blocked"] + steps[s]["pending"] == 8
    assert status["failed_units"] == 5  # r3 fails both; r4..r7 fail `picked`
    rows = [json.loads(l) for l in results_lines(run_dir)]
    r3 = next(r for r in rows if r["unit"] == "r3")
    assert r3["state"] == "failed"
    reason = r3["steps"]["ratio"]["reason"]
    assert "division by zero" in reason and "p.octo:7:10" in reason and "10 / (unit.repeat - 3)" in reason
    assert r3["steps"]["after"]["state"] == "blocked"
    assert sum(r["state"] == "failed" for r in rows) + sum(r["state"] == "done" for r in rows) == 8
    rep = report_json(run_dir, 6)
    assert rep["states"] == {"done": 3, "failed": 5, "pending": 0}
    per_step = {}
    for f in rep["failures"]:
        per_step[f["step"]] = per_step.get(f["step"], 0) + f["units"]
    assert per_step == {"ratio": 1, "picked": 5}
    assert any("out of range" in e["reason"] for f in rep["failures"] if f["step"] == "picked" for e in f["examples"])
    # an aggregate reduces the units whose steps it reads succeeded: all but r3 (its `after` is blocked)
    assert rep["aggregates"][0]["groups"][0]["metrics"]["n"] == 7
    text = octoc("report", str(run_dir)).stdout
    assert "division by zero" in text and "failures: 6 failed results in 2 groups (by step, kind and rule)" in text


def test_tick_does_one_tick_and_status_reads_the_store(tmp_path):
    f = tmp_path / "t.octo"
    f.write_text(SAILOR.format(seed=1, repeat=50))
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.runtime.rundirs.rundir import create_run
    from octo.stdlib import default_language

    result = check_file(str(f), default_language())
    create_run(build_plan(result.program, default_language(), Reporter()), tmp_path / "r")
    before = json.loads(octoc("status", str(tmp_path / "r"), "--format", "json").stdout)
    assert before["state"] == "interrupted" and before["steps"][0]["pending"] == 100  # created, nobody drives it
    out = octoc("tick", str(tmp_path / "r"))
    assert out.returncode == 0 and "done" in out.stdout
    after = json.loads(octoc("status", str(tmp_path / "r"), "--format", "json").stdout)
    assert after["state"] == "done" and after["steps"][0]["done"] == 100


def test_ctrl_c_stops_within_a_second_and_says_how_to_resume(tmp_path):
    f = tmp_path / "c.octo"
    f.write_text(SAILOR.format(seed=2, repeat=200000))
    proc = subprocess.Popen([sys.executable, "-m", "octo", "run", str(f), "--run-dir", str(tmp_path / "c")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while _committed(tmp_path / "c") == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 3  # generous for a loaded CI machine; the design target is one second
    assert proc.returncode == 130
    assert f"octoc run --resume {tmp_path / 'c'}" in stdout
    assert "Traceback" not in stderr


def test_run_errors_are_messages_not_tracebacks(tmp_path):
    out = octoc("run", str(tmp_path / "missing.octo"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert octoc("status", str(tmp_path)).returncode == 2
    assert octoc("run").returncode == 2
    out, run_dir = start_run(tmp_path, SAILOR.format(seed=1, repeat=5))
    again, _ = start_run(tmp_path, SAILOR.format(seed=1, repeat=5))
    assert again.returncode == 2 and "--resume" in again.stderr


VALIDATED = """octo: 1
name: checked
units: {repeat: 6}
steps:
  dice:
    compute:
      roll: unit.repeat + 1
    validate:
      - rule: roll <= 4
        message: "rolled {{ roll }}, more than 4"
"""


def test_validate_rules_fail_units_with_their_message(tmp_path):
    out, run_dir = start_run(tmp_path, VALIDATED)
    assert out.returncode == 6, out.stdout + out.stderr
    rows = {json.loads(l)["unit"]: json.loads(l) for l in octoc("results", str(run_dir), "--step", "dice").stdout.splitlines()}
    assert [rows[f"r{i}"]["state"] for i in range(6)] == ["done"] * 4 + ["failed"] * 2
    assert rows["r5"]["reason"].startswith("rolled 6, more than 4 (validate: `roll <= 4`)")


def test_export_chooses_the_result_columns(tmp_path):
    text = SAILOR.format(seed=3, repeat=4) + "export:\n  scenario: unit.scenario.id\n  landed: walk.outcome\n  twice: walk.steps * 2\n"
    out, run_dir = start_run(tmp_path, text)
    assert out.returncode == 0, out.stdout
    rows = [json.loads(l) for l in octoc("results", str(run_dir)).stdout.splitlines()]
    assert len(rows) == 8 and set(rows[0]) == {"unit", "state", "reason", "scenario", "landed", "twice"}
    assert rows[0]["scenario"] == "middle" and rows[0]["landed"] in ("ship", "water") and rows[0]["twice"] % 2 == 0
    csv_text = octoc("results", str(run_dir), "--format", "csv").stdout
    assert csv_text.splitlines()[0] == "unit,state,reason,scenario,landed,twice"


def test_runtime_errors_outside_units_are_messages(tmp_path):
    where = "octo: 1\nunits: {repeat: 5, where: 1 / (unit.repeat - 2) > 0}\nsteps:\n  a: {compute: {x: unit.repeat}}\n"
    out, _ = start_run(tmp_path, where, "w.octo", "w")
    assert out.returncode == 1 and "E0504" in out.stdout and "'r2'" in out.stdout and "division by zero" in out.stdout
    agg = ("octo: 1\nunits: {repeat: 5}\nsteps:\n  a: {compute: {x: unit.repeat}}\n  s:\n    aggregate:\n"
           "      metrics: {m: mean(a.x), q: \"1 / (m - 2)\"}\n      expect: [\"q > 0\"]\n")
    out, run_dir = start_run(tmp_path, agg, "a.octo", "a")
    assert out.returncode == 7, out.stdout + out.stderr  # its expectation could not be evaluated: failed
    group = report_json(run_dir, 7)["aggregates"][0]["groups"][0]
    assert group["metrics"] == {"m": 2, "q": None}
    assert group["errors"][0]["metric"] == "q" and "division by zero" in group["errors"][0]["reason"]
    assert group["expects"][0]["passed"] is False
    out = octoc("run", str(tmp_path / "a.octo"), "--run-dir", "/proc/no-such-dir/run")
    assert out.returncode == 2 and "cannot create the run directory" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("content", ["{}", "not json", '{"format": "octo-plan", "version": 99}'])
def test_a_damaged_run_directory_is_a_message(tmp_path, content):
    (tmp_path / "plan.json").write_text(content)
    for command in (["status", str(tmp_path)], ["results", str(tmp_path)], ["report", str(tmp_path)],
                    ["tick", str(tmp_path)], ["run", "--resume", str(tmp_path)]):
        out = octoc(*command)
        assert out.returncode == 2, (command, out.stderr)
        assert "cannot read" in out.stderr and "internal error" not in out.stderr


def test_a_run_directory_without_its_store_is_a_message(tmp_path):
    out, run_dir = start_run(tmp_path, SAILOR.format(seed=1, repeat=3))
    (run_dir / "run.db").unlink()
    for command in (["status", str(run_dir)], ["report", str(run_dir)], ["tick", str(run_dir)]):
        out = octoc(*command)
        assert out.returncode == 2 and "no run store" in out.stderr, (command, out.stderr)
