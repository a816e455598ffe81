"""One process per run directory: a second `octoc run --resume` (or `tick`) on a run in use refuses at once.

The race test runs two resumes of one run at the same moment, on the emulator
(in this process, reached through the SDKs' base URLs, as in
test_provider_runs.py) with faults, 20 times. Each resume is a separate
process forked from tests/octoproc.py's forkserver, running octoc's ``main``
with ``run --resume DIR`` — the same code as the `octoc` command, without its
seconds of imports — so the 20 rounds take seconds. The emulator holds every batch
until one of the two processes has exited, so both are certainly alive
together: the one that exits first must be the loser (exit 2, naming the
holder), and once the emulator lets the batches end, the winner completes
the run. The emulator's records then prove that no custom id was submitted
twice, and the ledgers that every attempt reached the provider exactly once.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from octo.cli.exitcodes import DONE, WAITING
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer

RACE = """octo: 1
name: race
seed: 5
units: {repeat: 3}
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "A line about the number {{ unit.repeat }}."
      output: {line: str}
    retries: 3
"""

ROUNDS = 20
AT_ONCE = 10  # rounds raced at the same time (each on its own run)
HELD = 10**9  # polls a batch needs while the emulator holds it: never, in practice


def _env(emulator) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "OCTO_CRASHPOINT"}
    env.update({"OPENAI_BASE_URL": f"{emulator.url}/v1", "OPENAI_API_KEY": "k", "OCTO_WORKERS": "1"})
    return env


def _octoc(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "octo", *map(str, args)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _plan(tmp_path, text):
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.stdlib import default_language

    f = tmp_path / "p.octo"
    f.write_text(text)
    result = check_file(str(f), default_language())
    assert result.ok, result.diagnostics
    return build_plan(result.program, default_language(), Reporter())


def _release(emulator) -> None:
    """Let every batch end at its next poll (again and again: a batch may be being created right now)."""
    emulator.faults.slow = 1
    with emulator._lock:
        for batch in emulator.batches.values():
            batch.polls_left = min(batch.polls_left, 1)


def _first_to_exit(procs, guard_s=120):
    deadline = time.monotonic() + guard_s  # a hang guard, not a timing assertion
    while time.monotonic() < deadline:
        done = [p for p in procs if not p.alive()]
        if done:
            return done[0]
        time.sleep(0.02)
    for p in procs:
        p.kill()
    pytest.fail("neither process exited: both are driving the run")


def _wait_released(proc, emulator, guard_s=120):
    deadline = time.monotonic() + guard_s
    while proc.alive() and time.monotonic() < deadline:
        _release(emulator)
        time.sleep(0.02)
    if proc.alive():
        proc.kill()
        pytest.fail("the winner did not finish the run")


def _ledger(run_dir):
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute("SELECT state, batch FROM attempts").fetchall()
    finally:
        db.close()


def _race(run_dirs, emulator, env, out_dir) -> None:
    """Two resumes of each run at once; the first of a pair to exit must be refused; then the other completes."""
    from octoproc import OctocProcess

    emulator.faults.slow = HELD  # batches in flight stay in flight while both processes of a pair live
    pairs = [(run_dir, [OctocProcess(["run", "--resume", run_dir], out_dir, f"{run_dir.name}-{i}", env)
                        for i in range(2)]) for run_dir in run_dirs]
    winners = []
    for run_dir, procs in pairs:
        loser = _first_to_exit(procs)
        winner = procs[1] if loser is procs[0] else procs[0]
        err = loser.stderr()
        assert loser.wait() == 2, err
        assert f"'{run_dir}' is in use by another octoc (process {winner.pid} on " in err, err
        assert f"octoc run --resume {run_dir}" in err and "Traceback" not in err
        winners.append(winner)
    for winner in winners:
        _wait_released(winner, emulator)
        assert winner.wait() in DONE, winner.stdout() + winner.stderr()  # faults may fail a unit


def test_two_resumes_at_once_never_submit_an_id_twice_and_the_loser_names_the_holder(tmp_path):
    from octo.runtime.rundirs.rundir import create_run

    plan = _plan(tmp_path, RACE)
    emulator = Emulator(seed=2, faults="errored=0.2,malformed=0.1")
    runs = [create_run(plan, tmp_path / f"r{n}", {"poll_interval": 0.02, "batch_size": 2}) for n in range(ROUNDS)]
    with EmulatorServer(emulator):
        for group in range(0, ROUNDS, AT_ONCE):  # rounds on separate runs are independent: a few at a time
            _race(runs[group:group + AT_ONCE], emulator, _env(emulator), tmp_path)
    sent = [r.custom_id for b in emulator.batches.values() for r in b.requests]
    assert len(sent) == len(set(sent)), "a custom id was submitted twice"
    attempts = [row for run_dir in runs for row in _ledger(run_dir)]
    assert {state for state, _ in attempts} == {"settled"}
    assert len(attempts) == len(sent)  # every attempt reached the provider exactly once, in one batch
    assert any(a is not None and a.error for b in emulator.batches.values() for a in b.answers or ())  # faults hit
    for run_dir in runs:
        db = sqlite3.connect(run_dir / "run.db")
        try:
            assert db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone() == ("done",)
            assert db.execute("SELECT count(*) FROM results WHERE step = 'write'").fetchone() == (3,)
        finally:
            db.close()


def test_tick_refuses_a_run_in_use_and_reading_commands_do_not_wait(tmp_path):
    from octoproc import run as octoc_run
    from octo.runtime.rundirs.rundir import create_run
    from octo.runtime.rundirs.runlock import run_lock

    run_dir = create_run(_plan(tmp_path, RACE), tmp_path / "r")
    with run_lock(run_dir):  # this test process holds the run, as a running `octoc run` would
        tick = subprocess.run([sys.executable, "-m", "octo", "tick", str(run_dir)], capture_output=True, text=True,
                              cwd=ROOT)  # the `octoc` command itself, imports and all
        assert tick.returncode == 2 and f"process {os.getpid()} on " in tick.stderr, tick.stderr
        for command in ("status", "results", "report"):
            out = octoc_run([command, run_dir], tmp_path, timeout=60, name=command)
            assert out.code == (WAITING if command == "report" else 0), (command, out.stderr)  # report: not done yet
    holder = json.loads((run_dir / "run.lock").read_text())
    assert holder["pid"] == os.getpid() and holder["host"] and holder["since"] > 0


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    from octoproc import OctocProcess
    from octo.runtime.rundirs.rundir import create_run

    emulator = Emulator(seed=1, faults=f"slow={HELD}")
    with EmulatorServer(emulator):
        run_dir = create_run(_plan(tmp_path, RACE), tmp_path / "r", {"poll_interval": 0.02})
        proc = OctocProcess(["run", "--resume", run_dir], tmp_path, "killed", _env(emulator))
        deadline = time.monotonic() + 60  # a hang guard
        while not emulator.batches and time.monotonic() < deadline and proc.alive():
            time.sleep(0.02)
        assert emulator.batches, "the run should be waiting on a batch"
        proc.kill()  # SIGKILL: no cleanup at all
        _release(emulator)
        resumed = OctocProcess(["run", "--resume", run_dir], tmp_path, "resumed", _env(emulator))
        assert resumed.wait(120) == 0, resumed.stdout() + resumed.stderr()


def test_a_forked_worker_does_not_keep_a_dead_parents_lock(tmp_path):
    import fcntl
    import signal

    from octo.runtime.rundirs.rundir import create_run
    from octo.runtime.rundirs.runlock import run_lock

    run_dir = create_run(_plan(tmp_path, RACE), tmp_path / "r")
    started, ready = os.pipe()
    with run_lock(run_dir):
        worker = os.fork()  # as the worker processes of a large local step are forked
        if worker == 0:
            os.write(ready, b"!")  # the child runs (its at-fork hooks have run)
            time.sleep(60)
            os._exit(0)
    os.read(started, 1)
    try:  # the parent let go (as its death would); the worker still lives
        fd = os.open(run_dir / "run.lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if the worker kept the lock
        os.close(fd)
    finally:
        os.kill(worker, signal.SIGKILL)
        os.waitpid(worker, 0)
