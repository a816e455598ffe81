"""Run states and exit codes, end to end: `octoc run`, `tick`, `report`, `status` and `runs` in separate processes.

Each `octoc` is a real process (tests/octoproc.py forks it from a process that
has imported octo once, so it starts in milliseconds; the SIGPIPE test starts
the `octoc` command itself, as a shell pipeline would). Provider runs talk to
an emulator in this test process through the SDKs' base URLs, as in
tests/test_lock.py: holding its batches keeps a run waiting for as long as a
test needs it alive, and releasing them lets it finish — no sleeps, no timing.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from octo.cli import exitcodes
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octoproc import OctocProcess, run as octoc

VERDICTS = """octo: 1
name: verdicts
seed: 1
units: {{repeat: 5}}
steps:
  a:
    compute: {{x: "10 / (unit.repeat - {zero_at})"}}
  total:
    aggregate:
      metrics: {{n: count(a.x)}}
      expect:
        - n >= {least}
"""

WRITE = """octo: 1
name: write
seed: 5
units: {repeat: 3}
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "A line about the number {{ unit.repeat }}."
      output: {line: str}
"""

HELD = 10**9  # polls a batch needs while the emulator holds it: never, in practice
GUARD_S = 120  # hang guards, not timing assertions


def _file(tmp_path, text, name="p.octo") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def _status(run_dir, tmp_path) -> dict:
    out = octoc(["status", run_dir, "--format", "json"], tmp_path, GUARD_S, name="status")
    assert out.code == 0, out.stderr
    return json.loads(out.stdout)


def _env(emulator) -> dict:
    return {"OPENAI_BASE_URL": f"{emulator.url}/v1", "OPENAI_API_KEY": "k", "OCTO_WORKERS": "1"}


def _release(emulator) -> None:
    """Let every batch end at its next poll."""
    emulator.faults.slow = 1
    with emulator._lock:
        for batch in emulator.batches.values():
            batch.polls_left = min(batch.polls_left, 1)


def _until(condition, proc=None, what="the condition"):
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if proc is not None and not proc.alive():
            pytest.fail(f"the run ended before {what}: {proc.stdout()}{proc.stderr()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} never came")
        time.sleep(0.02)


def _waiting_run(tmp_path, emulator, name="r") -> tuple[OctocProcess, Path]:
    """`octoc run` of WRITE, alive and waiting on a batch the emulator holds."""
    run_dir = tmp_path / name
    emulator.faults.slow = HELD
    proc = OctocProcess(["run", _file(tmp_path, WRITE, f"{name}.octo"), "--run-dir", run_dir, "--poll-interval", "0.02"],
                        tmp_path, name, _env(emulator))
    _until(lambda: emulator.batches, proc, "a batch at the provider")
    return proc, run_dir


@pytest.fixture
def emulator():
    emu = Emulator(seed=3)
    with EmulatorServer(emu):
        yield emu


# --- exit codes of a finished run: run, run --resume, tick, report ----------------------------------


@pytest.mark.parametrize("zero_at, least, code", [
    (99, 0, exitcodes.OK),  # no unit fails, the expectation passes
    (3, 0, exitcodes.UNITS_FAILED),  # one unit fails (10 / 0), the expectation passes
    (99, 100, exitcodes.EXPECT_FAILED),  # every unit passes, the expectation fails
    (3, 100, exitcodes.EXPECT_FAILED),  # both: the failed expectation wins
])
def test_run_resume_tick_and_report_exit_with_the_runs_verdict(tmp_path, zero_at, least, code):
    run_dir = tmp_path / "r"
    out = octoc(["run", _file(tmp_path, VERDICTS.format(zero_at=zero_at, least=least)), "--run-dir", run_dir],
                tmp_path, GUARD_S)
    assert out.code == code, out.stdout + out.stderr
    assert "done." in out.stdout and "Traceback" not in out.stderr
    for command in (["run", "--resume", run_dir], ["tick", run_dir], ["report", run_dir],
                    ["report", run_dir, "--format", "json"]):
        again = octoc(command, tmp_path, GUARD_S, name=command[0])
        assert again.code == code, (command, again.stdout, again.stderr)
    assert _status(run_dir, tmp_path)["state"] == "done"


# --- running, stopped, interrupted, waiting, done ---------------------------------------------------


def test_a_live_run_is_running_and_a_second_process_is_refused_naming_the_holder(tmp_path, emulator):
    proc, run_dir = _waiting_run(tmp_path, emulator)
    status = _status(run_dir, tmp_path)
    assert status["state"] == "running" and status["holder"]["pid"] == proc.pid
    assert status["holder"]["host"] == socket.gethostname()
    text = octoc(["status", run_dir], tmp_path, GUARD_S, name="status-text").stdout
    assert f"driven by process {proc.pid} on {socket.gethostname()} since " in text
    second = octoc(["run", "--resume", run_dir], tmp_path, GUARD_S, name="second", env=_env(emulator))
    assert second.code == exitcodes.USAGE
    assert f"in use by another octoc (process {proc.pid} on {socket.gethostname()}, running since " in second.stderr
    assert f"octoc run --resume {run_dir}" in second.stderr and "Traceback" not in second.stderr
    tick = octoc(["tick", run_dir], tmp_path, GUARD_S, name="tick", env=_env(emulator))
    assert tick.code == exitcodes.USAGE and f"process {proc.pid}" in tick.stderr
    report = octoc(["report", run_dir], tmp_path, GUARD_S, name="report")
    assert report.code == exitcodes.WAITING, report.stderr  # not finished: come back later
    _release(emulator)
    assert proc.wait(GUARD_S) == exitcodes.OK, proc.stdout() + proc.stderr()
    done = _status(run_dir, tmp_path)
    assert done["state"] == "done" and "holder" not in done


def test_after_kill_9_the_run_is_interrupted_its_elapsed_time_frozen_and_it_resumes(tmp_path, emulator):
    proc, run_dir = _waiting_run(tmp_path, emulator)
    proc.kill()  # SIGKILL: the process records nothing
    first = _status(run_dir, tmp_path)
    assert first["state"] == "interrupted" and "ended" not in first and first["batches_out"] == 1
    time.sleep(0.05)  # whatever time passes, a run nobody drives does not age
    assert _status(run_dir, tmp_path)["elapsed_s"] == first["elapsed_s"]
    text = octoc(["status", run_dir], tmp_path, GUARD_S, name="text").stdout
    assert "interrupted" in text and "ended without stopping" in text and f"octoc run --resume {run_dir}" in text
    assert octoc(["report", run_dir], tmp_path, GUARD_S, name="report").code == exitcodes.INTERRUPTED
    _release(emulator)
    resumed = octoc(["run", "--resume", run_dir], tmp_path, GUARD_S, name="resumed", env=_env(emulator))
    assert resumed.code == exitcodes.OK, resumed.stdout + resumed.stderr
    assert _status(run_dir, tmp_path)["state"] == "done"


@pytest.mark.parametrize("signum, said", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_and_sigterm_stop_the_run_which_reads_as_stopped_by_the_user(tmp_path, emulator, signum, said):
    proc, run_dir = _waiting_run(tmp_path, emulator)
    os.kill(proc.pid, signum)
    assert proc.wait(GUARD_S) == exitcodes.INTERRUPTED, proc.stderr()
    assert f"stopped ({said}). Resume with: octoc run --resume {run_dir}" in proc.stdout()
    first = _status(run_dir, tmp_path)
    assert first["state"] == "stopped" and first["stopped_by"] == "the user"
    assert first["ended"]["how"] == "stopped" and first["ended"]["message"] == said
    time.sleep(0.05)
    assert _status(run_dir, tmp_path)["elapsed_s"] == first["elapsed_s"]  # frozen
    assert octoc(["report", run_dir], tmp_path, GUARD_S, name="report").code == exitcodes.INTERRUPTED


def test_tick_waits_while_batches_are_out_then_exits_with_the_verdict(tmp_path, emulator):
    proc, run_dir = _waiting_run(tmp_path, emulator)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(GUARD_S) == exitcodes.INTERRUPTED
    tick = octoc(["tick", run_dir], tmp_path, GUARD_S, name="tick", env=_env(emulator))
    assert tick.code == exitcodes.WAITING, tick.stdout + tick.stderr
    assert "waiting for write" in tick.stdout
    status = _status(run_dir, tmp_path)
    assert status["state"] == "waiting" and status["batches_out"] == 1
    assert octoc(["report", run_dir], tmp_path, GUARD_S, name="report").code == exitcodes.WAITING
    _release(emulator)
    for n in range(50):  # a few ticks: poll, ingest, finish
        tick = octoc(["tick", run_dir], tmp_path, GUARD_S, name=f"tick{n}", env=_env(emulator))
        if tick.code != exitcodes.WAITING:
            break
    assert tick.code == exitcodes.OK, tick.stdout + tick.stderr
    assert _status(run_dir, tmp_path)["state"] == "done"


def test_a_provider_stop_exits_provider_and_reads_as_stopped_by_a_provider(tmp_path):
    emulator = Emulator(seed=1, valid_keys={"the-right-key"})
    with EmulatorServer(emulator):
        run_dir = tmp_path / "r"
        out = octoc(["run", _file(tmp_path, WRITE), "--run-dir", run_dir, "--poll-interval", "0"], tmp_path, GUARD_S,
                    env=_env(emulator))
        assert out.code == exitcodes.PROVIDER, out.stdout + out.stderr
        assert f"octoc run --resume {run_dir}" in out.stderr
        status = _status(run_dir, tmp_path)
        assert status["state"] == "stopped" and status["stopped_by"] == "a provider"
        assert "OPENAI_API_KEY" in status["ended"]["message"]
        assert octoc(["report", run_dir], tmp_path, GUARD_S, name="report").code == exitcodes.PROVIDER
        tick = octoc(["tick", run_dir], tmp_path, GUARD_S, name="tick", env=_env(emulator))
        assert tick.code == exitcodes.PROVIDER, tick.stderr


def test_an_outage_exits_provider(tmp_path):
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OCTO_WORKERS": "1"}  # nobody listens
    run_dir = tmp_path / "r"
    out = octoc(["run", _file(tmp_path, WRITE), "--run-dir", run_dir, "--poll-interval", "0", "--outage-timeout", "1"],
                tmp_path, GUARD_S, env=env)
    assert out.code == exitcodes.PROVIDER, out.stdout + out.stderr
    assert "has been failing for" in out.stderr and f"octoc run --resume {run_dir}" in out.stderr
    assert _status(run_dir, tmp_path)["stopped_by"] == "a provider"


def test_a_stuck_run_exits_stuck_and_reads_as_stuck(tmp_path):
    """A plan octoc would never make (`a` waits for `b`, which reads `a`), written into a created run."""
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.ir import Plan
    from octo.compiler.planning.planner import build_plan
    from octo.runtime.rundirs.rundir import create_run
    from octo.stdlib import default_language

    f = _file(tmp_path, "octo: 1\nname: s\nunits: {repeat: 3}\nsteps:\n  a:\n    compute: {x: 1}\n"
                        "  b:\n    compute: {y: a.x}\n")
    plan = build_plan(check_file(str(f), default_language()).program, default_language(), Reporter()).data
    plan["steps"][0]["waits_for"] = ["b"]
    run_dir = create_run(Plan(plan), tmp_path / "r", {})
    out = octoc(["run", "--resume", run_dir], tmp_path, GUARD_S)
    assert out.code == exitcodes.STUCK, out.stderr
    assert _status(run_dir, tmp_path)["state"] == "stuck"
    assert octoc(["report", run_dir], tmp_path, GUARD_S, name="report").code == exitcodes.STUCK


# --- a closed stdout ------------------------------------------------------------------------------


def test_a_closed_stdout_stops_the_run_with_the_resume_hint_on_stderr(tmp_path, emulator):
    """`octoc run FILE | head -2`: the reader goes away while the run waits on a held batch."""
    emulator.faults.slow = HELD
    run_dir = tmp_path / "r"
    env = {**{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}, **_env(emulator)}
    proc = subprocess.Popen([sys.executable, "-m", "octo", "run", str(_file(tmp_path, WRITE)), "--run-dir", str(run_dir),
                             "--poll-interval", "0.02"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # "run directory: ..."
        proc.stdout.readline()
        _until(lambda: emulator.batches, what="a batch at the provider")
        proc.stdout.close()  # as `head -2` exits
        stderr = proc.communicate(timeout=GUARD_S)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == exitcodes.INTERRUPTED, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr
    assert f"stopped (its standard output was closed). Resume with: octoc run --resume {run_dir}" in stderr
    status = _status(run_dir, tmp_path)
    assert status["state"] == "stopped" and status["ended"]["message"] == "its standard output was closed"
    _release(emulator)
    resumed = octoc(["run", "--resume", run_dir], tmp_path, GUARD_S, name="resumed", env=_env(emulator))
    assert resumed.code == exitcodes.OK, resumed.stdout + resumed.stderr


# --- octoc runs --------------------------------------------------------------------------------------


def test_runs_lists_each_run_with_its_state_and_what_is_wrong_with_broken_ones(tmp_path):
    runs = tmp_path / "runs"
    for name, zero_at in (("good", 99), ("bad", 3)):
        out = octoc(["run", _file(tmp_path, VERDICTS.format(zero_at=zero_at, least=0), f"{name}.octo"),
                     "--run-dir", runs / name], tmp_path, GUARD_S, name=name)
        assert out.code in (exitcodes.OK, exitcodes.UNITS_FAILED), out.stderr
    (runs / "empty").mkdir()
    (runs / "damaged").mkdir()
    (runs / "damaged" / "run.db").write_bytes(b"this is not a database" * 100)
    (runs / "halfway").mkdir()
    (runs / "halfway" / "plan.json").write_text("{}")  # a plan, but no store

    listed = octoc(["runs", runs, "--format", "json"], tmp_path, GUARD_S, name="runs")
    assert listed.code == exitcodes.OK and "Traceback" not in listed.stderr, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"good", "bad", "empty", "damaged", "halfway"}
    assert (rows["good"]["state"], rows["good"]["units"], rows["good"]["failed"]) == ("done", 5, 0)
    assert (rows["bad"]["state"], rows["bad"]["units"], rows["bad"]["failed"]) == ("done", 5, 1)
    assert rows["good"]["cost_usd"] == 0 and rows["good"]["problem"] is None
    assert "empty" in rows["empty"]["problem"] and "damaged" in rows["damaged"]["problem"]
    assert "no run store" in rows["halfway"]["problem"]
    names = [r["name"] for r in json.loads(listed.stdout)]
    assert names.index("bad") < names.index("good")  # the youngest first

    text = octoc(["runs", runs], tmp_path, GUARD_S, name="runs-text")
    assert text.code == exitcodes.OK and "Traceback" not in text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["RUN", "STATE", "UNITS", "FAILED", "COST", "AGE"]
    assert next(l for l in lines if l.startswith("bad ")).split()[1:4] == ["done", "5", "1"]
    assert "is damaged" in next(l for l in lines if l.startswith("damaged "))

    missing = octoc(["runs", tmp_path / "nowhere"], tmp_path, GUARD_S, name="missing")
    assert missing.code == exitcodes.USAGE and "is not a directory" in missing.stderr


def test_status_json_has_the_fields_docs_run_md_shows(tmp_path, emulator):
    """docs/run.md's `octoc status --format json` example names the fields a finished run's status has."""
    text = (ROOT / "docs" / "run.md").read_text(encoding="utf-8")
    block = text.split("## `octoc status --format json`", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    out = octoc(["run", _file(tmp_path, WRITE), "--run-dir", tmp_path / "r", "--poll-interval", "0.02"],
                tmp_path, GUARD_S, name="run", env=_env(emulator))
    assert out.code == exitcodes.OK, out.stdout + out.stderr
    status = _status(tmp_path / "r", tmp_path)
    assert set(documented) <= set(status) and set(status) - set(documented) <= {"holder", "stopped_by", "ended"}
    generate = next(s for s in documented["steps"] if s["kind"] == "generate")
    assert set(status["steps"][0]) == set(generate)
