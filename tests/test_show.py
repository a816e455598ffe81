"""`octoc show DIR UNIT`: one unit's attempts, end to end through `octoc` in a subprocess.

The provider steps run on the real OpenAI SDK against an emulator in this process whose scripted
responder decides every answer, so a test knows which try fails which rule, which verdict sends
the loop back and with what feedback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from octo.runtime.emulator.core import Emulator, EmuError
from octo.runtime.emulator.server import EmulatorServer

KEY = "sk-test-show-0123456789abcdef"

LOOP = """octo: 1
name: show
seed: 1
units:
  repeat: 2
steps:
  draft:
    generate:
      model: openai:gpt-4.1-mini
      system: You write one short sentence.
      prompt: "Write about {{ unit.repeat }}.{% if feedback %} Rejected: {{ feedback.reason }}{% endif %}"
      output: {s: str}
    validate:
      - rule: len(s) > 3
        message: "'{{ s }}' is too short"
  chars:
    compute:
      n: len(draft.s)
  review:
    judge:
      of: draft
      model: openai:gpt-4.1-mini
      prompt: "Review ({{ chars.n }} chars): {{ draft.s }}"
      output: {ok: bool, reason: str}
      pass: ok
      attempts: 2
"""


def loop_answers(request, nth):
    """r0: the first draft breaks the rule (retried with a note), the second is too plain for the reviewer
    (sent back), the third passes. r1: the provider refuses its draft, quoting the key."""
    p = request.prompt
    if p.startswith("Write about 1"):
        raise EmuError(400, f"this request is invalid for key {KEY}")
    if p.startswith("Write about"):
        if "Rejected: too plain" in p:
            return {"s": "the sea at dawn, grey and wide"}
        return {"s": "sea"} if "could not be used" not in p else {"s": "the sea"}
    return {"ok": "dawn" in p, "reason": "too plain"}


def octoc(*args, emulator=None):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "OCTO_CRASHPOINT"}
    if emulator is not None:
        env.update({"OPENAI_BASE_URL": f"{emulator.url}/v1", "OPENAI_API_KEY": KEY})
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("show")
    f = tmp / "p.octo"
    f.write_text(LOOP)
    emulator = Emulator(seed=1, responder=loop_answers)
    with EmulatorServer(emulator):
        out = octoc("run", f, "--run-dir", tmp / "r", "--mode", "batch", "--poll-interval", "0", emulator=emulator)
    assert out.returncode in (0, 6), out.stdout + out.stderr  # r1 fails: 6 once exit codes say so
    return tmp / "r"


def test_show_prints_every_attempt_with_its_prompts_answer_check_decision_and_cost(loop_run, snapshot):
    out = octoc("show", loop_run, "r0")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    # the request as sent: system and user prompt; the try after a broken rule carries the note
    assert "system prompt:\n      │ You write one short sentence." in text
    assert "user prompt:\n      │ Write about 0.\n" in text
    assert text.count("\n  attempt ") == 5  # draft: 2 tries in round 1, 1 in round 2; review: 1 per round
    # the raw answer, how it was checked, what was decided
    assert '│ {"s": "sea"}' in text
    assert "check: validate rule `len(s) > 3` failed: 'sea' is too short" in text
    assert "decision: retried; the next try was sent the same prompt with this note:" in text
    assert "│ (Your previous answer could not be used: 'sea' is too short (validate: `len(s) > 3`)." in text
    # the judge's send-back, its feedback, and the round it started
    assert "check: ok — parsed as JSON, matches the output schema, no validate rules; verdict: not passed" in text
    assert "decision: sent 'draft' back for round 2, with feedback:" in text
    assert '"reason": "too plain"' in text
    assert "round 2: 'review' sent 'draft' back with feedback" in text
    assert "│ Write about 0. Rejected: too plain" in text
    assert "verdict: passed" in text
    # tokens and cost of every answered attempt (list prices: this run is not on `--provider emulator`)
    assert text.count("tokens: ") == 5
    assert "cost $0.0000" in text and "cost unknown" not in text
    # the local step in the loop: its output
    assert 'chars (compute) — done\n' in text and 'output: {"n": 30}' in text
    # batch ids differ from run to run
    assert re.sub(r"octo-[0-9a-f]+-b\d+|batch_\d+", "…", text) == snapshot


def test_show_json_has_each_attempt_for_tools(loop_run):
    out = octoc("show", loop_run, "r0", "--step", "review", "--format", "json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert view["unit"] == "r0" and view["state"] == "done" and view["fields"] == {"repeat": 0}
    (review,) = view["steps"]
    assert review["step"] == "review" and review["output"]["passed"] is True
    first, last = review["attempts"]
    assert (first["round"], first["try"], last["round"], last["try"]) == (1, 1, 2, 1)
    assert first["decision"] == {"verdict": "sent back", "target": "draft", "round": 2,
                                 "feedback": {"ok": False, "reason": "too plain"}}
    assert first["check"]["ok"] is True and first["check"]["passed"] is False
    assert last["decision"] == {"verdict": "done"} and last["check"]["passed"] is True
    for a in (first, last):
        assert a["mode"] == "batch" and a["batch"] and a["provider_batch"]
        assert a["model"] == "openai:gpt-4.1-mini" and a["prompt"].startswith("Review (")
        assert set(a["usage"]) == {"input", "cached_input", "output", "reasoning"} and a["usage"]["input"] > 0
        assert a["cost_usd"] > 0 and a["list_cost_usd"] > 0


def test_show_a_provider_error_and_never_a_key(loop_run):
    out = octoc("show", loop_run, "r1", "--step", "draft")
    assert out.returncode == 0, out.stderr
    assert "provider error:\n      │ HTTP 400: this request is invalid for key [redacted]" in out.stdout
    assert "check: no answer to check" in out.stdout and "decision: failed" in out.stdout
    # no key anywhere: not in the output, not in any file of the run directory
    assert KEY not in out.stdout
    for path in loop_run.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_an_unknown_unit_or_step_is_a_usage_error_with_what_there_is(loop_run):
    out = octoc("show", loop_run, "r00")
    assert out.returncode == 2 and out.stdout == ""
    assert "no unit 'r00'" in out.stderr and "did you mean 'r0'" in out.stderr
    assert f"octoc results {loop_run}" in out.stderr
    out = octoc("show", loop_run, "r0", "--step", "reveiw")
    assert out.returncode == 2 and "did you mean 'review'?" in out.stderr
    assert "Traceback" not in out.stderr
    out = octoc("show", loop_run.parent / "nowhere", "r0")
    assert out.returncode == 2 and "is not a run directory" in out.stderr


FANOUT = """octo: 1
name: show-fanout
units:
  repeat: 2
steps:
  ideas:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Ideas for {{ unit.repeat }}"
      output: {ideas: "list[str][1, 3]"}
  idea:
    fanout:
      each: ideas.ideas
  story:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "A story on {{ idea.item }} ({{ idea.index + 1 }} of {{ ideas.ideas | length }})"
      output: {title: str}
  per_unit:
    aggregate:
      by: [unit.repeat]
      metrics:
        stories: count()
"""


def fanout_answers(request, nth):
    if request.prompt.startswith("Ideas for"):
        n = request.prompt[-1]
        return {"ideas": [f"gulls {n}", f"tides {n}", f"knots {n}"]}
    return {"title": "On " + request.prompt.split(" on ", 1)[1].split(" (")[0]}


def test_show_a_fan_out_child_and_its_parent(tmp_path):
    f = tmp_path / "p.octo"
    f.write_text(FANOUT)
    emulator = Emulator(seed=1, responder=fanout_answers)
    with EmulatorServer(emulator):
        out = octoc("run", f, "--run-dir", tmp_path / "r", "--mode", "realtime", emulator=emulator)
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = tmp_path / "r"
    child = octoc("show", run_dir, "r1-idea-2")
    assert child.returncode == 0, child.stderr
    text = child.stdout
    assert text.startswith("unit r1-idea-2 — done\n")
    assert f"child of unit r1 (fan-out 'idea'); the parent's steps: octoc show {run_dir} r1" in text
    assert '"item": "knots 1"' in text and '"index": 2' in text
    assert "story (generate) — done" in text and "│ A story on knots 1 (3 of 3)" in text
    assert '│ {"title": "On knots 1"}' in text and "ideas (generate)" not in text  # the parent's step is the parent's
    parent = octoc("show", run_dir, "r1")
    assert "children of fan-out 'idea': 3 — r1-idea-0, r1-idea-1, r1-idea-2" in parent.stdout
    assert "│ Ideas for 1" in parent.stdout and 'output: {"children": 3}' in parent.stdout
    asked = octoc("show", run_dir, "r1-idea-2", "--step", "ideas")
    assert asked.returncode == 2 and f"octoc show {run_dir} r1 --step ideas" in asked.stderr
    asked = octoc("show", run_dir, "r1", "--step", "story")
    assert asked.returncode == 2 and f"octoc show {run_dir} r1-idea-0 --step story" in asked.stderr
    asked = octoc("show", run_dir, "r1", "--step", "per_unit")
    assert asked.returncode == 2 and "is an aggregate" in asked.stderr


def test_a_provider_error_is_stored_redacted(tmp_path):
    from octo.runtime.attempts.ledger import Ledger
    from octo.runtime.base.store import Store

    store = Store(tmp_path / "run.db")
    ledger = Ledger(store)
    with store.transaction() as db:
        ledger.add_attempts([("s", 0, 1, 1, "batch", {"prompt": "p"})], db)
        ledger.mark_sent([1], None, db)
        ledger.answer(1, None, "HTTP 401: bad key sk-live-abcdefgh12345678", False, {}, None, None, db)
    (error,) = store.db.execute("SELECT error FROM attempts").fetchone()
    assert error == "HTTP 401: bad key [redacted]"
    store.close()


def test_show_marks_where_octoc_retry_put_the_unit_back(loop_run, tmp_path):
    run_dir = tmp_path / "r"
    shutil.copytree(loop_run, run_dir)
    emulator = Emulator(seed=1, responder=loop_answers)  # r1's draft is refused again
    with EmulatorServer(emulator):
        out = octoc("retry", run_dir, "--step", "draft", emulator=emulator)
    assert out.returncode == 6, out.stdout + out.stderr
    text = octoc("show", run_dir, "r1", "--step", "draft").stdout
    first, second = text.split("\n  attempt ")[1:]
    assert first.startswith("1 · round 1, try 1") and "\n    then put back: octoc retry" in first
    assert second.startswith("2 · round 1, try 1") and "put back" not in second


REVALIDATE = """octo: 1
name: show-revalidate
units:
  repeat: 2
steps:
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "A number for {{ unit.repeat }}"
      output: {n: int}
    validate:
      - rule: n < 0
        message: "{{ n }} is not negative"
    retries: 0
"""


def test_show_says_what_octoc_revalidate_changed(tmp_path):
    f = tmp_path / "p.octo"
    f.write_text(REVALIDATE)
    out = octoc("run", f, "--provider", "emulator", "--run-dir", tmp_path / "r")
    assert out.returncode == 6, out.stdout + out.stderr  # the emulator's numbers are never negative
    edited = tmp_path / "edited.octo"
    edited.write_text(REVALIDATE.replace("n < 0", "n >= 0"))
    out = octoc("revalidate", tmp_path / "r", edited)
    assert out.returncode == 0, out.stdout + out.stderr
    text = octoc("show", tmp_path / "r", "r1").stdout
    assert "ask (generate) — done" in text and "decision: done\n" in text
    assert "(by octoc revalidate; before, it was: failed: " in text and "is not negative (validate: `n < 0`)" in text
    view = json.loads(octoc("show", tmp_path / "r", "r1", "--format", "json").stdout)
    (attempt,) = view["steps"][0]["attempts"]
    assert attempt["decision"]["verdict"] == "done" and attempt["decision"]["revalidated_was"].startswith("failed: ")
