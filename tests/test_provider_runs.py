"""`octoc run` with provider steps, end to end: the real SDKs, over HTTP on 127.0.0.1, against the emulator.

Most tests start an emulator in this process and run `octoc` in a subprocess
pointed at it through the SDKs' base-URL variables, exactly as a user would
point it at a proxy: the run believes it talks to OpenAI, Anthropic or Gemini,
prices its usage at their list prices, and the emulator's own records are the
truth the run is checked against (requests sent, usage reported).
"""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from conftest import ROOT
from octo.cli.exitcodes import DONE, PROVIDER
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer

PIPELINE = """octo: 1
name: topics
seed: 7
data:
  topics: [{{id: a, name: apples}}, {{id: b, name: boats}}, {{id: c, name: clouds}}]
units:
  for: {{topic: topics}}
  repeat: {repeat}
steps:
  write:
    generate:
      model: {model}
      system: You write short, vivid notes for a children's encyclopedia about everyday things.
      prompt: "Write about {{{{ unit.topic.name }}}}.{{% if feedback %}} Fix: {{{{ feedback.reason }}}}{{% endif %}}"
      output: {{title: str, words: "int[1, 50]"}}
    retries: 2
  grade:
    judge:
      of: write
      model: {judge_model}
      prompt: "Grade {{{{ write.title }}}}"
      output: {{score: "float[0, 1]", reason: str}}
      pass: score >= 0.3
      attempts: 2
  summary:
    aggregate:
      by: [unit.topic.id]
      metrics:
        n: count(unit.id)
        mean_words: mean(write.words)
"""

SECRET = "sk-test-0123456789abcdefSECRET"


def pipeline(tmp_path, model="openai:gpt-4.1-mini", judge_model=None, repeat=4):
    f = tmp_path / "p.octo"
    f.write_text(PIPELINE.format(model=model, judge_model=judge_model or model, repeat=repeat))
    return f


def octoc(*args, env=None, emulator=None, key=SECRET):
    """Run octoc in a subprocess; with ``emulator``, every provider's base URL points at it."""
    full = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "OCTO_CRASHPOINT"}
    if emulator is not None:
        full.update({"OPENAI_BASE_URL": f"{emulator.url}/v1", "ANTHROPIC_BASE_URL": emulator.url,
                     "GOOGLE_GEMINI_BASE_URL": emulator.url, "OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": key,
                     "GEMINI_API_KEY": key})
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=full, timeout=120)


@pytest.fixture
def emu():
    emulator = Emulator(seed=3)
    with EmulatorServer(emulator):
        yield emulator


def status(run_dir):
    out = octoc("status", run_dir, "--format", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def attempts(run_dir):
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute("SELECT id, step, unit, state, verdict, usage, cost, batch FROM attempts ORDER BY id").fetchall()
    finally:
        db.close()


def run_cost(run_dir) -> float:
    """What the run recorded as paid, unrounded, from its store."""
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute("SELECT sum(cost) FROM attempts").fetchone()[0]
    finally:
        db.close()


def emulator_usage_cost(emulator, price, batch=True, discount=0.5):
    """What the run should have paid: every answer the emulator gave, billed as the provider bills it."""
    answers = [a for b in emulator.batches.values() for a in b.answers if a is not None] if batch else emulator.realtime_answers
    usd = 0.0
    for a in answers:
        u = a.usage
        usd += ((u.input - u.cached) * price["input"] + u.cached * price["cached_input"]
                + (u.output + u.reasoning) * price["output"]) / 1e6
    return usd * (discount if batch else 1.0)


PRICES = json.loads((ROOT / "stdlib" / "prices.json").read_text())["models"]


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash"])
def test_multi_batch_run_accounts_for_every_unit_and_costs_what_the_emulator_reported(tmp_path, emu, model):
    out = octoc("run", pipeline(tmp_path, model, repeat=5), "--run-dir", tmp_path / "r", "--batch-size", "4",
                "--poll-interval", "0", emulator=emu)
    assert out.returncode == 0, out.stdout + out.stderr
    data = status(tmp_path / "r")
    for step in data["steps"][:2]:
        assert step["done"] + step["failed"] + step["skipped"] + step["blocked"] == 15 and step["pending"] == 0
    assert len(emu.batches) >= 8  # 15 units in batches of at most 4, for two steps
    assert all(len(b.requests) <= 4 for b in emu.batches.values())
    expected = emulator_usage_cost(emu, PRICES[model])
    assert expected > 0 and run_cost(tmp_path / "r") == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("model", ["openai:gpt-5-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash"])
def test_realtime_run_costs_what_the_emulator_reported(tmp_path, model):
    emulator = Emulator(seed=5)
    emulator.realtime_answers = []
    answer = emulator.answer

    def recording(request, how):  # the test's own record of realtime answers, to price them independently
        result = answer(request, how)
        if how == "realtime":
            emulator.realtime_answers.append(result)
        return result

    emulator.answer = recording
    with EmulatorServer(emulator):
        out = octoc("run", pipeline(tmp_path, model, repeat=3), "--run-dir", tmp_path / "r", "--mode", "realtime",
                    emulator=emulator)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not emulator.batches and len(emulator.realtime_answers) >= 18
    data = status(tmp_path / "r")
    assert run_cost(tmp_path / "r") == pytest.approx(emulator_usage_cost(emulator, PRICES[model], batch=False), rel=1e-9)


def test_faults_leave_every_unit_done_or_failed_and_resend_only_affected_units(tmp_path):
    emulator = Emulator(seed=12, faults="errored=0.05,malformed=0.05,expire=1,submit_429=2")
    with EmulatorServer(emulator):
        f = tmp_path / "p.octo"
        f.write_text(PIPELINE.format(model="openai:gpt-4.1-mini", judge_model="openai:gpt-4.1-mini", repeat=30)
                     .replace("attempts: 2", "attempts: 1"))
        out = octoc("run", f, "--run-dir", tmp_path / "r", "--batch-size", "25", "--poll-interval", "0",
                    emulator=emulator)
    assert out.returncode == 0, out.stdout + out.stderr
    data = status(tmp_path / "r")
    for step in data["steps"][:2]:
        assert step["done"] + step["failed"] + step["blocked"] == 90 and step["pending"] == 0
    assert emulator.calls["openai.batches.create"] == len(emulator.batches) + 2  # two 429s, retried
    sent = [r.custom_id for b in emulator.batches.values() for r in b.requests]
    assert len(sent) == len(set(sent))  # no request was submitted twice
    affected = sum(1 for b in emulator.batches.values() for r, a in zip(b.requests, b.answers)
                   if a is None or a.error is not None or not _usable(a.text))
    assert affected > 5  # the faults really happened: an expired batch alone leaves half its requests unrun
    rows = attempts(tmp_path / "r")
    retried = [r for r in rows if (r[4] or "").startswith("retried")]
    # every re-sent request answers one affected request, and no unaffected unit was sent again
    assert len(sent) == 180 + len(retried) and len(retried) <= affected
    reasons = [s for s in octoc("results", tmp_path / "r", "--step", "write").stdout.splitlines()]
    for line in map(json.loads, reasons):
        assert line["state"] == "done" or line["reason"]


def _usable(text):
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return False
    return isinstance(value, dict) and {"title", "words"} <= set(value) or {"score", "reason"} <= set(value)


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash"])
@pytest.mark.parametrize("point", ["before-submit", "after-submit", "during-ingest"])
def test_a_kill_at_each_boundary_resumes_without_double_submission_or_double_counting(tmp_path, emu, point, model):
    f = pipeline(tmp_path, model, repeat=4)
    killed = octoc("run", f, "--run-dir", tmp_path / "r", "--batch-size", "5", "--poll-interval", "0",
                   emulator=emu, env={"OCTO_CRASHPOINT": point})
    assert killed.returncode == 137, killed.stdout + killed.stderr
    resumed = octoc("run", "--resume", tmp_path / "r", emulator=emu)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    sent = [r.custom_id for b in emu.batches.values() for r in b.requests]
    assert len(sent) == len(set(sent)), "a request was submitted twice"
    rows = attempts(tmp_path / "r")
    assert {r[3] for r in rows} == {"settled"}
    assert len(rows) == len(sent)  # every attempt the run made reached the provider exactly once
    data = status(tmp_path / "r")
    assert data["steps"][0]["done"] == 12 and data["steps"][1]["done"] + data["steps"][1]["failed"] == 12
    assert run_cost(tmp_path / "r") == pytest.approx(emulator_usage_cost(emu, PRICES[model]), rel=1e-9)


def test_missing_key_stops_before_anything_is_sent(tmp_path):
    out = octoc("run", pipeline(tmp_path), "--run-dir", tmp_path / "r")
    assert out.returncode == 2
    assert "OPENAI_API_KEY" in out.stderr and "--provider emulator" in out.stderr
    assert not (tmp_path / "r").exists() and "Traceback" not in out.stderr


def test_a_refused_key_stops_with_a_message_without_the_key_and_the_run_resumes(tmp_path):
    emulator = Emulator(seed=1, valid_keys={"the-right-key"})
    with EmulatorServer(emulator):
        out = octoc("run", pipeline(tmp_path), "--run-dir", tmp_path / "r", "--poll-interval", "0", emulator=emulator)
        assert out.returncode == PROVIDER, out.stdout + out.stderr
        assert "OPENAI_API_KEY" in out.stderr and "--resume" in out.stderr and "Traceback" not in out.stderr
        assert SECRET not in out.stdout + out.stderr
        fixed = octoc("run", "--resume", tmp_path / "r", emulator=emulator, key="the-right-key")
    assert fixed.returncode in DONE, fixed.stdout + fixed.stderr
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes() and b"the-right-key" not in path.read_bytes()


def test_provider_outage_leaves_the_run_resumable(tmp_path):
    out = octoc("run", pipeline(tmp_path), "--run-dir", tmp_path / "r", "--poll-interval", "0",
                "--outage-timeout", "1", env={"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert out.returncode == PROVIDER, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "--resume" in out.stdout + out.stderr
    assert SECRET not in out.stdout + out.stderr


def test_emulator_runs_the_support_example_end_to_end_with_no_key(tmp_path):
    out = octoc("run", ROOT / "examples" / "support_replies.octo", "--provider", "emulator", "--run-dir", tmp_path / "r")
    assert out.returncode in DONE, out.stdout + out.stderr  # synthetic answers fail some units and expectations
    data = status(tmp_path / "r")
    assert data["synthetic"] and data["cost_usd"] == 0 and data["list_cost_usd"] > 0
    for step in data["steps"]:
        if "pending" in step:
            assert step["pending"] == 0
    rows = [json.loads(line) for line in octoc("results", tmp_path / "r").stdout.splitlines()]
    assert rows and all(row["synthetic"] for row in rows)


def test_readme_command_runs_the_drunken_sailor_and_shows_the_aggregate_table(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "octoc run examples/drunken_sailor.octo --provider emulator" in readme
    text = (ROOT / "examples" / "drunken_sailor.octo").read_text().replace("repeat: 10000", "repeat: 300")
    f = tmp_path / "drunken_sailor.octo"
    f.write_text(text)
    out = octoc("run", f, "--provider", "emulator", "--run-dir", tmp_path / "r")
    assert out.returncode in DONE, out.stdout + out.stderr  # 300 walks may miss an expectation's tolerance
    assert "odds:" in out.stdout and "p_ship" in out.stdout and "expect" in out.stdout


def test_octoc_emulator_serves_the_real_sdks_until_ctrl_c():
    import re
    import signal

    from octo.runtime.providers.base import Request
    from octo.runtime.providers.openai import OpenAIAdapter

    proc = subprocess.Popen([sys.executable, "-m", "octo", "emulator", "--port", "0", "--faults", "slow=2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        assert "slow=2" in first
        adapter = OpenAIAdapter("any-key", base_url=f"{url}/v1")
        outcome = adapter.call(Request("r1", "gpt-4.1-mini", "Say hi.", schema={
            "type": "object", "properties": {"hi": {"type": "string"}}, "required": ["hi"], "additionalProperties": False}))
        assert outcome.error is None and "hi" in json.loads(outcome.text)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_bad_fault_spec_is_a_message(tmp_path):
    out = octoc("run", pipeline(tmp_path), "--provider", "emulator", "--faults", "errored=2")
    assert out.returncode == 2 and "needs a fraction from 0 to 1, not '2'" in out.stderr and "Traceback" not in out.stderr
    out = octoc("run", pipeline(tmp_path), "--faults", "errored=0.1")
    assert out.returncode == 2 and "--provider emulator" in out.stderr


def _wait_for_submitted_batch(run_dir, proc, timeout=60):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "run.db").exists():
            try:
                db = sqlite3.connect(run_dir / "run.db")
                n = db.execute("SELECT count(*) FROM batches WHERE state = 'submitted'").fetchone()[0]
                db.close()
                if n:
                    return True
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5", "gemini:gemini-2.5-flash"])
def test_a_batch_the_provider_no_longer_knows_is_sent_again_on_resume(tmp_path, model):
    import signal

    slow = Emulator(seed=1, faults="slow=1000000")  # never ends: the run is killed while waiting on it
    with EmulatorServer(slow):
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update({"OPENAI_BASE_URL": f"{slow.url}/v1", "ANTHROPIC_BASE_URL": slow.url,
                    "GOOGLE_GEMINI_BASE_URL": slow.url, "OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k",
                    "GEMINI_API_KEY": "k"})
        proc = subprocess.Popen([sys.executable, "-m", "octo", "run", str(pipeline(tmp_path, model)), "--run-dir",
                                 str(tmp_path / "r"), "--poll-interval", "0"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert _wait_for_submitted_batch(tmp_path / "r", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    fresh = Emulator(seed=2)  # knows nothing of the first emulator's batches
    with EmulatorServer(fresh):
        out = octoc("run", "--resume", tmp_path / "r", emulator=fresh)
    assert out.returncode in DONE, out.stdout + out.stderr
    assert status(tmp_path / "r")["batches"].get("lost", 0) >= 1


def test_resuming_without_a_key_is_a_message(tmp_path, emu):
    killed = octoc("run", pipeline(tmp_path), "--run-dir", tmp_path / "r", emulator=emu,
                   env={"OCTO_CRASHPOINT": "before-submit"})
    assert killed.returncode == 137
    out = octoc("run", "--resume", tmp_path / "r")
    assert out.returncode == PROVIDER and "OPENAI_API_KEY" in out.stderr and "Traceback" not in out.stderr
    assert octoc("tick", tmp_path / "r").returncode == PROVIDER


def test_the_budget_stops_sending_and_max_usd_on_resume_allows_more(tmp_path, emu):
    f = tmp_path / "p.octo"
    f.write_text(PIPELINE.format(model="openai:gpt-4.1-mini", judge_model="openai:gpt-4.1-mini", repeat=10)
                 .replace("seed: 7", "seed: 7\nbudget:\n  max_usd: 1"))
    out = octoc("run", f, "--run-dir", tmp_path / "r", "--batch-size", "10", "--poll-interval", "0",
                "--max-usd", "0.0000001", emulator=emu)
    assert out.returncode == PROVIDER and "budget is spent" in out.stderr and "--max-usd" in out.stderr
    spent = run_cost(tmp_path / "r")
    assert spent > 0 and len(emu.batches) == 3  # one step's batches, then nothing more was sent
    more = octoc("run", "--resume", tmp_path / "r", "--max-usd", "5", emulator=emu)
    assert more.returncode in DONE, more.stdout + more.stderr
