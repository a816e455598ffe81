"""`octoc run`'s flags, end to end through `octoc`: checked before anything is created; with `--resume`,
each one taken and recorded in the run or refused with its reason; `--max-units` smoke runs.

Usage errors run `python -m octo` in a subprocess whose working directory is the test's own, so that
a run directory created by mistake (the default `runs/...` included) is seen. Runs go through
tests/octoproc.py (a fork of a process that imported the SDKs once), on the built-in emulator or, for a
run "at OpenAI", on an emulator in this process reached through OPENAI_BASE_URL with the real SDK.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import octoc as octoc_subprocess
from octo.cli.exitcodes import OK, USAGE
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octoproc import run as octoc

TOPICS = ", ".join(f"{{id: t{i}, name: topic{i}}}" for i in range(10))
PIPELINE = f"""octo: 1
name: flags
data:
  topics: [{TOPICS}]
units:
  for: {{topic: topics}}
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write a title about {{{{ unit.topic.name }}}}."
      output: {{title: str}}
"""
TIMEOUT = 120


@pytest.fixture
def pipeline(tmp_path):
    f = tmp_path / "p.octo"
    f.write_text(PIPELINE)
    return f


def created_nothing(tmp_path) -> bool:
    """Nothing but the pipeline (and the outputs of octoproc) in the test's directory: no run directory."""
    return not (tmp_path / "runs").exists() and not (tmp_path / "r").exists()


def usage_error(tmp_path, *argv) -> str:
    out = octoc_subprocess(*map(str, argv), cwd=tmp_path)
    assert out.returncode == USAGE, out.stdout + out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    return out.stderr


def settings(run_dir) -> dict:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return json.loads(db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
    finally:
        db.close()


# --- checked before anything is created ---------------------------------------------------------

@pytest.mark.parametrize("provider, says", [
    ("emulatr", "unknown provider 'emulatr'; did you mean 'emulator'?"),
    ("opnai:gpt-4.1-mini", "unknown provider 'opnai'; did you mean 'openai'?"),
    ("openai:", "'openai:' names no model"),
    ("gemini:models/../x", "is not a model name"),
    ("openai:gpt 4", "'gpt 4' is not a model name"),
    ("emulator:gpt-4.1-mini", "the emulator takes no model"),
    ("", "names no provider"),
])
def test_a_provider_no_run_could_use_is_a_usage_error_before_any_run_directory(tmp_path, pipeline, provider, says):
    run_dir = ["--run-dir", "r"] if provider.startswith("opnai") else []  # else the default one, runs/NAME-TIMESTAMP
    assert says in usage_error(tmp_path, "run", pipeline, "--provider", provider, *run_dir)
    assert created_nothing(tmp_path), "a run directory was created for a provider that cannot run"
    assert says in usage_error(tmp_path, "plan", pipeline, "--provider", provider)


def test_a_model_without_a_price_is_a_warning_with_a_did_you_mean(tmp_path, pipeline):
    out = octoc_subprocess("plan", str(pipeline), "--provider", "openai:gpt-4.1-mni", cwd=tmp_path)
    assert out.returncode == OK, out.stderr
    assert "warning: --provider: unknown model 'openai:gpt-4.1-mni'; did you mean 'openai:gpt-4.1-mini'?" in out.stderr


@pytest.mark.parametrize("argv, says", [
    (["--faults", "errored=0.1"], "--faults needs --provider emulator"),
    (["--provider", "openai", "--faults", "errored=0.1"], "--faults needs --provider emulator"),
    (["--provider", "emulator", "--faults", "bogus=1"], "--faults: unknown fault 'bogus=1'"),
    (["--provider", "emulator", "--faults", "errored=2"], "--faults:"),
])
def test_faults_that_cannot_work_are_refused_before_any_run_directory(tmp_path, pipeline, argv, says):
    assert says in usage_error(tmp_path, "run", pipeline, *argv)
    assert created_nothing(tmp_path)


# --- --max-units ---------------------------------------------------------------------------------

def test_max_units_plans_and_runs_only_the_first_n_units_and_a_resume_keeps_them(tmp_path, pipeline):
    full = json.loads(octoc_subprocess("plan", str(pipeline), "--format", "json").stdout)["plan"]
    smoke = json.loads(octoc_subprocess("plan", str(pipeline), "--format", "json", "--max-units", "3").stdout)["plan"]
    assert (full["units"]["selected"], smoke["units"]["selected"]) == (10, 3)
    assert smoke["units"]["max_units"] == 3 and full["units"]["max_units"] is None
    assert smoke["totals"]["batch"]["expected"] < full["totals"]["batch"]["expected"]  # the cost shown is for 3

    run_dir = tmp_path / "r"
    out = octoc(["run", pipeline, "--provider", "emulator", "--max-units", "3", "--run-dir", run_dir], tmp_path, TIMEOUT)
    assert out.code == OK, out.stdout + out.stderr
    assert "smoke run (--max-units 3): the first 3 units" in out.stdout
    ids = [json.loads(line)["unit"] for line in octoc_subprocess("results", str(run_dir)).stdout.splitlines()]
    assert ids == ["t0", "t1", "t2"]
    assert json.loads((run_dir / "plan.json").read_text())["units"]["max_units"] == 3  # recorded in the run

    refused = octoc(["run", "--resume", run_dir, "--max-units", "5"], tmp_path, TIMEOUT, name="more")
    assert refused.code == USAGE
    assert "a run's units are fixed when it is created; this run has 3" in refused.stderr
    assert f"octoc run {pipeline} --max-units 5" in refused.stderr
    same = octoc(["run", "--resume", run_dir, "--max-units", "3"], tmp_path, TIMEOUT, name="same")
    assert same.code == OK, same.stderr
    assert "nothing to change" in same.stdout


# --- flags given with --resume -------------------------------------------------------------------

def test_resume_takes_the_sending_flags_records_them_and_says_so(tmp_path, pipeline):
    """A run killed with requests queued for a batch, resumed with `--mode realtime`: the flags are
    stored and announced, and the requests queued for a batch go out as realtime calls (none is stranded)."""
    run_dir = tmp_path / "r"
    killed = octoc(["run", pipeline, "--provider", "emulator", "--run-dir", run_dir], tmp_path, TIMEOUT,
                   env={"OCTO_CRASHPOINT": "before-submit"})
    assert killed.code == 137, killed.stdout + killed.stderr
    flags = ["--mode", "realtime", "--batch-size", "7", "--max-usd", "5", "--poll-interval", "0.01"]
    resumed = octoc(["run", "--resume", run_dir, *flags], tmp_path, TIMEOUT, name="resumed")
    assert resumed.code == OK, resumed.stdout + resumed.stderr
    assert ("changed for this run, and kept when it is resumed again: --mode realtime (was each step's own mode), "
            "--batch-size 7 (was the provider's limit), --poll-interval 0.01 (was 0.05, the emulator's), "
            "--max-usd 5 (was no limit)") in resumed.stdout
    stored = settings(run_dir)
    assert (stored["mode"], stored["batch_size"], stored["max_usd"], stored["poll_interval"]) == ("realtime", 7, 5, 0.01)
    db = sqlite3.connect(run_dir / "run.db")
    assert db.execute("SELECT DISTINCT mode, state FROM attempts").fetchall() == [("realtime", "settled")]
    db.close()
    again = octoc(["run", "--resume", run_dir, *flags], tmp_path, TIMEOUT, name="again")
    assert again.code == OK and "changed for this run" not in again.stdout  # already the run's own


def test_resume_refuses_a_new_run_dir_and_faults_on_a_run_at_a_provider(tmp_path, pipeline):
    run_dir = tmp_path / "r"
    out = octoc(["run", pipeline, "--provider", "emulator", "--max-units", "1", "--run-dir", run_dir], tmp_path, TIMEOUT)
    assert out.code == OK, out.stderr
    err = usage_error(tmp_path, "run", "--resume", run_dir, "--run-dir", tmp_path / "elsewhere")
    assert "--run-dir says where a new run is created" in err and not (tmp_path / "elsewhere").exists()
    taken = octoc(["run", "--resume", run_dir, "--faults", "errored=0.5"], tmp_path, TIMEOUT, name="faults")
    assert taken.code == OK and "--faults errored=0.5 (was none)" in taken.stdout
    assert settings(run_dir)["faults"] == "errored=0.5"


def test_resume_on_the_emulator_refuses_a_real_provider_and_keeps_its_own(tmp_path, pipeline):
    run_dir = tmp_path / "r"
    out = octoc(["run", pipeline, "--provider", "emulator", "--max-units", "1", "--run-dir", run_dir], tmp_path, TIMEOUT)
    assert out.code == OK, out.stderr
    before = settings(run_dir)
    err = usage_error(tmp_path, "run", "--resume", run_dir, "--provider", "openai", "--max-usd", "9")
    assert "this run is on the emulator, so its answers so far are synthetic" in err
    assert f"octoc run {pipeline} --provider openai" in err
    assert settings(run_dir) == before  # refused: nothing of it is taken, --max-usd neither
    assert "did you mean 'emulator'?" in usage_error(tmp_path, "run", "--resume", run_dir, "--provider", "emulatr")
    same = octoc(["run", "--resume", run_dir, "--provider", "emulator"], tmp_path, TIMEOUT, name="same")
    assert same.code == OK and "nothing to change" in same.stdout


@pytest.fixture
def emu():
    emulator = Emulator(seed=3)
    with EmulatorServer(emulator):
        yield emulator


def test_resume_of_a_run_with_a_batch_out_at_openai_refuses_the_emulator_and_another_model(tmp_path, pipeline, emu):
    """A run at "OpenAI" (the real SDK, against an emulator server) killed right after its batch was
    accepted: switching it to the emulator would orphan that batch; to another model, mix two models."""
    env = {"OPENAI_BASE_URL": f"{emu.url}/v1", "OPENAI_API_KEY": "sk-test-flags-0123456789"}
    run_dir = tmp_path / "r"
    killed = octoc(["run", pipeline, "--run-dir", run_dir, "--poll-interval", "0"], tmp_path, TIMEOUT,
                   env={**env, "OCTO_CRASHPOINT": "after-submit"})
    assert killed.code == 137, killed.stdout + killed.stderr
    assert len(emu.batches) == 1

    to_emulator = octoc(["run", "--resume", run_dir, "--provider", "emulator"], tmp_path, TIMEOUT, env=env, name="e")
    assert to_emulator.code == USAGE
    assert "1 batch out at openai could never be collected, though they are paid for" in to_emulator.stderr
    assert f"octoc run {pipeline} --provider emulator" in to_emulator.stderr
    other = octoc(["run", "--resume", run_dir, "--provider", "anthropic"], tmp_path, TIMEOUT, env=env, name="a")
    assert other.code == USAGE
    assert "this run runs on openai:gpt-4.1-mini" in other.stderr and "mix answers of two models" in other.stderr
    same = octoc(["run", "--resume", run_dir, "--provider", "openai"], tmp_path, TIMEOUT, env=env, name="o")
    assert same.code == OK, same.stdout + same.stderr  # its own provider: the batch out is collected, the run ends
    assert "this run already runs on openai:gpt-4.1-mini; nothing to change" in same.stdout
    assert len(emu.batches) == 1  # the batch out was collected, not sent again
