"""API keys from a `.env` file next to the pipeline, end to end through `octoc` with the real OpenAI SDK
against an emulator in this process that accepts only one key (``valid_keys``): a run succeeds only
with the key it was meant to use. The keys are marker strings; every file of the run directory and
everything octoc printed is searched for them, so a key that leaks anywhere fails the test.
"""

from __future__ import annotations

import pytest

from conftest import octoc as octoc_subprocess
from octo.cli.exitcodes import OK, PROVIDER, USAGE
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octoproc import run as octoc

GOOD = "sk-MARKERgood0123456789abcdef"
BAD = "sk-MARKERbad0123456789abcdef"
PIPELINE = """octo: 1
name: keys
data:
  topics: [{id: a, name: apples}, {id: b, name: boats}, {id: c, name: clouds}]
units:
  for: {topic: topics}
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write a title about {{ unit.topic.name }}."
      output: {title: str}
"""
TIMEOUT = 120


@pytest.fixture
def emu():
    emulator = Emulator(seed=3, valid_keys={GOOD})
    with EmulatorServer(emulator):
        yield emulator


@pytest.fixture
def pipeline(tmp_path):
    f = tmp_path / "pipelines" / "p.octo"
    f.parent.mkdir()
    f.write_text(PIPELINE)
    return f


def env_for(emu, key: str = "") -> dict:
    """The SDK pointed at the emulator; the key in the environment ("" is none: the .env file's is used)."""
    return {"OPENAI_BASE_URL": f"{emu.url}/v1", "OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": "", "GEMINI_API_KEY": "",
            "GOOGLE_API_KEY": ""}


def leaks(run_dir, outputs, *markers) -> list[str]:
    """Where any marker appears: a file of the run directory (any byte of it) or an output."""
    found = [str(p) for p in run_dir.rglob("*") if p.is_file() and any(m.encode() in p.read_bytes() for m in markers)]
    return found + [f"output {i}" for i, text in enumerate(outputs) if any(m in text for m in markers)]


def test_a_key_from_dotenv_runs_and_appears_in_no_file_and_no_output(tmp_path, pipeline, emu):
    (pipeline.parent / ".env").write_text(f"# keys\nOTHER_TOOL_SETTING=1\nnot a line of a .env\nOPENAI_API_KEY={GOOD}\n")
    run_dir = tmp_path / "r"
    out = octoc(["run", pipeline, "--run-dir", run_dir, "--poll-interval", "0"], tmp_path, TIMEOUT, env=env_for(emu))
    assert out.code == OK, out.stdout + out.stderr
    assert sum(len(b.requests) for b in emu.batches.values()) == 3  # the emulator took the key from the file
    reads = [octoc_subprocess(*argv) for argv in (["status", str(run_dir), "--format", "json"],
                                                  ["report", str(run_dir)], ["results", str(run_dir)])]
    assert all(r.returncode == OK for r in reads)
    assert leaks(run_dir, [out.stdout, out.stderr, *(r.stdout + r.stderr for r in reads)], GOOD) == []


def test_the_environment_wins_over_the_dotenv_file(tmp_path, pipeline, emu):
    (pipeline.parent / ".env").write_text(f"OPENAI_API_KEY={BAD}\n")  # the emulator would refuse this one
    run_dir = tmp_path / "r"
    out = octoc(["run", pipeline, "--run-dir", run_dir, "--poll-interval", "0"], tmp_path, TIMEOUT, env=env_for(emu, GOOD))
    assert out.code == OK, out.stdout + out.stderr
    assert leaks(run_dir, [out.stdout, out.stderr], GOOD, BAD) == []


def test_a_refused_key_from_dotenv_stops_the_run_and_the_fixed_file_is_read_on_resume(tmp_path, pipeline, emu):
    key_file = pipeline.parent / ".env"
    key_file.write_text(f"OPENAI_API_KEY={BAD}\n")
    run_dir = tmp_path / "r"
    stopped = octoc(["run", pipeline, "--run-dir", run_dir, "--poll-interval", "0"], tmp_path, TIMEOUT, env=env_for(emu))
    assert stopped.code == PROVIDER, stopped.stdout + stopped.stderr
    assert "rejected the API key" in stopped.stderr and f"octoc run --resume {run_dir}" in stopped.stderr
    key_file.write_text(f"export OPENAI_API_KEY='{GOOD}'\n")  # fixed; the resume reads the run's .env again
    resumed = octoc(["run", "--resume", run_dir], tmp_path, TIMEOUT, env=env_for(emu), name="resumed")
    assert resumed.code == OK, resumed.stdout + resumed.stderr
    outputs = [stopped.stdout, stopped.stderr, resumed.stdout, resumed.stderr]
    assert leaks(run_dir, outputs, GOOD, BAD) == []


def test_a_missing_key_names_the_variable_and_the_dotenv_file_and_creates_nothing(tmp_path, pipeline, emu):
    (pipeline.parent / ".env").write_text("OPENAI_API_KEY=\nOPENAI_API_KEY sk-no-equals-sign\n")
    out = octoc(["run", pipeline, "--run-dir", tmp_path / "r"], tmp_path, TIMEOUT, env=env_for(emu))
    assert out.code == USAGE, out.stdout + out.stderr
    assert (f"openai: no API key — set OPENAI_API_KEY in the environment or in {pipeline.parent / '.env'} "
            "(line 2 of it is not NAME=value, ignored)") in out.stderr
    assert not (tmp_path / "r").exists()
