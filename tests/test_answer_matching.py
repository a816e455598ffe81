"""An answer is attached to a request only when its key proves it; what cannot be attached is sent again.

Issue 12, Why-2: Gemini answers can come back without their keys (googleapis/python-genai
#2008) and out of order (#1909); octo matched them by position when a key was missing.
The emulator's ``nokeys`` and ``shuffle`` faults do both, through the real SDKs. Every
responder here answers with the request's own prompt, so an answer attached to the wrong
request shows.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import Outcome, Request, Usage
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.matching import attach, sum_usage
from octo.runtime.providers.openai import OpenAIAdapter
from octo.runtime.attempts.unmatched import FREE_RESENDS

KEY = "test-key-1234"


def echo(request, n):
    """The answer names the request it answers."""
    return {"said": request.prompt} if request.schema else request.prompt


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(Emulator()) as running:
        yield running


@pytest.fixture
def emulator(server):
    def make(faults: str | None = None) -> Emulator:
        emu = Emulator(seed=5, faults=faults, responder=echo)
        emu.url = server.url
        server.emulator = emu
        return emu

    return make


def prompts(n: int, model: str) -> list[Request]:
    return [Request(f"t0-a{i}", model, f"p{i}", max_tokens=16) for i in range(n)]


def ended(adapter, batch: list[Request], key: str = "octo-t0-b1") -> list[Outcome]:
    batch_id = adapter.submit(key, batch)
    assert adapter.poll(batch_id).ended
    return adapter.results(batch_id, [r.custom_id for r in batch])


def billed(emu: Emulator) -> Usage:
    """Every answer the emulator gave, as the provider bills it."""
    answers = [a for b in emu.batches.values() for a in b.answers if a is not None and a.error is None]
    return sum_usage(Usage(a.usage.input - a.usage.cached, a.usage.cached, a.usage.output + a.usage.reasoning,
                           a.usage.reasoning) for a in answers)


# --- the rule, on its own ------------------------------------------------------------------------------

def answer(text: str, tokens: int = 10) -> Outcome:
    return Outcome("", text=text, usage=Usage(input=tokens, output=tokens))


def never(cid: str) -> Outcome:
    return Outcome(cid, error="never ran")


def test_answers_are_attached_by_key_in_any_order_and_never_by_position():
    answers = [("c", answer("C")), ("a", answer("A"))]
    out = attach(answers, ["a", "b", "c"], never, "gemini")
    assert [(o.custom_id, o.text, o.error, o.unmatched) for o in out] == [
        ("a", "A", None, False), ("b", None, "never ran", False), ("c", "C", None, False)]


@pytest.mark.parametrize("strays", [
    [(None, answer("?"))],                          # no key
    [("stranger", answer("?"))],                    # a key not in the batch
    [("b", answer("B1")), ("b", answer("B2"))],     # one key on two answers: neither is proven
])
def test_an_answer_that_no_key_proves_is_attached_to_nothing(strays):
    out = attach([("a", answer("A")), *strays], ["a", "b"], never, "openai")
    assert (out[0].text, out[0].unmatched) == ("A", False)
    assert (out[1].text, out[1].unmatched, out[1].retryable) == (None, True, True)
    assert "octo attaches an answer only by its key" in out[1].error


def test_the_stray_answers_usage_is_shared_out_whole_over_the_unmatched_requests():
    strays = [(None, answer("?", 7)), (None, answer("?", 4))]
    out = attach(strays, ["a", "b", "c"], never, "gemini")
    assert sum_usage(o.usage for o in out) == Usage(input=11, output=11)
    assert [o.usage.input for o in out] == [4, 4, 3]


# --- Gemini, through google-genai ------------------------------------------------------------------

@pytest.mark.parametrize("faults", ["shuffle=1", "nokeys=1,shuffle=1"])
def test_ten_thousand_gemini_answers_out_of_order_are_each_attached_to_their_own_request(server, emulator, faults):
    """10,000 requests as a file (the size at which upstream saw disorder): shuffled answers with keys all
    reach their own request; shuffled answers without keys reach none, and every request is unmatched."""
    emu = emulator(faults)
    batch = prompts(10_000, "gemini-2.0-flash")
    out = ended(GeminiAdapter(KEY, server.url, retry_delay=0.001, inline_limit_bytes=1), batch)
    assert [o.custom_id for o in out] == [r.custom_id for r in batch]
    if "nokeys" in faults:
        assert all(o.unmatched and o.text is None for o in out)
    else:
        assert [o.text for o in out] == [r.prompt for r in batch]
    assert sum_usage(o.usage for o in out) == billed(emu)  # every answer billed is counted, once


def test_inline_answers_without_keys_are_attached_to_nothing_and_the_model_goes_to_files(server, emulator):
    emu = emulator("nokeys=1,shuffle=1")
    adapter = GeminiAdapter(KEY, server.url, retry_delay=0.001)
    first = ended(adapter, prompts(500, "gemini-2.0-flash"))
    assert all(o.unmatched for o in first) and "gemini.file_upload" not in emu.calls
    again = ended(adapter, prompts(500, "gemini-2.0-flash"), key="octo-t0-b2")
    assert emu.calls["gemini.file_upload"] == 2  # this model's batches now go as files, whose lines carry keys
    assert [o.text for o in again] == [f"p{i}" for i in range(500)]
    other = ended(adapter, prompts(3, "gemini-2.5-flash"), key="octo-t0-b3")  # another model: still inline
    assert emu.calls["gemini.file_upload"] == 2 and [o.text for o in other] == ["p0", "p1", "p2"]


# --- OpenAI and Anthropic: by custom_id only -------------------------------------------------------

def test_openai_lines_with_a_duplicated_or_foreign_custom_id_are_attached_to_nothing(server, emulator):
    emu = emulator()
    adapter = OpenAIAdapter(KEY, base_url=f"{server.url}/v1")
    batch = prompts(3, "gpt-4.1-mini")
    batch_id = adapter.submit("octo-t0-b1", batch)
    assert adapter.poll(batch_id).ended
    output = emu.files[emu.batches[batch_id].extra["output_file_id"]]
    lines = [json.loads(line) for line in Path(output["path"]).read_text().splitlines()]
    twin = {**lines[1], "response": {**lines[1]["response"], "body": {**lines[1]["response"]["body"], "choices": [
        {**lines[1]["response"]["body"]["choices"][0], "message": {"role": "assistant", "content": "p0"}}]}}}
    stranger = {**lines[2], "custom_id": "someone-else"}
    Path(output["path"]).write_text("".join(json.dumps(x) + "\n" for x in (lines[0], lines[1], twin, stranger)))
    out = adapter.results(batch_id, [r.custom_id for r in batch])
    assert out[0].text == "p0"
    assert out[1].unmatched and out[1].text is None  # two lines claim it: neither is proven
    assert out[2].unmatched and out[2].text is None  # its line came back under another id


def test_anthropic_results_with_a_duplicated_or_foreign_custom_id_are_attached_to_nothing(server, emulator):
    emu = emulator()
    adapter = AnthropicAdapter(KEY, base_url=server.url)
    batch = prompts(3, "claude-haiku-4-5")
    batch_id = adapter.submit("octo-t0-b1", batch)
    assert adapter.poll(batch_id).ended
    held = emu.batches[batch_id]
    held.requests[2] = dataclasses.replace(held.requests[2], custom_id="someone-else")
    held.requests.append(held.requests[1])
    held.answers.append(held.answers[0])
    out = adapter.results(batch_id, [r.custom_id for r in batch])
    assert out[0].text == "p0" and not out[0].unmatched
    assert [(o.text, o.unmatched) for o in out[1:]] == [(None, True), (None, True)]


# --- whole runs ---------------------------------------------------------------------------------------

PIPELINE = """octo: 1
name: keys
seed: 3
data:
  names: [{names}]
units:
  for: {{name: names}}
steps:
  echo:
    generate:
      model: gemini:gemini-2.0-flash
      prompt: "Say the name {{{{ unit.name }}}}."
      output: {{said: str}}
    retries: 1
"""
NAMES = [f"n{i:02d}" for i in range(24)]


CACHE = tempfile.TemporaryDirectory(prefix="octo-cache-")


def octoc(*args, emulator=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "XDG_CACHE_HOME": CACHE.name}  # parsers cached outside the checkout
    if emulator is not None:
        env.update(GOOGLE_GEMINI_BASE_URL=emulator.url, GEMINI_API_KEY=KEY)
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def pipeline(tmp_path):
    source = tmp_path / "keys.octo"
    source.write_text(PIPELINE.format(names=", ".join(NAMES)))
    return source


def results(run_dir) -> dict[str, str]:
    out = octoc("results", run_dir)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {row["state"] for row in rows} == {"done"}
    return {row["unit"]: row["steps"]["echo"]["output"]["said"] for row in rows}


def test_a_run_whose_gemini_answers_lose_their_keys_ends_with_every_unit_answered_by_its_own_answer(tmp_path):
    """Two batches without keys and shuffled: their requests are sent again (inline, then as files) without
    spending a try; every unit ends done with the answer to its own prompt, and the run's cost is what the
    provider billed, every answer counted once (the stray ones shared out)."""
    emu = Emulator(seed=3, faults="nokeys=2,shuffle=3", responder=echo)
    with EmulatorServer(emu):
        out = octoc("run", pipeline(tmp_path), "--run-dir", tmp_path / "run", "--batch-size", "10",
                    "--poll-interval", "0", emulator=emu)
    assert out.returncode == 0, out.stdout + out.stderr
    assert results(tmp_path / "run") == {name: f"Say the name {name}." for name in NAMES}
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    assert db.execute("SELECT count(*), max(try) FROM attempts").fetchone() == (len(NAMES), 1)  # one try each
    assert db.execute("SELECT count(*) FROM unmatched").fetchone()[0] > 0
    prices = json.loads((ROOT / "stdlib" / "prices.json").read_text())
    price = prices["models"]["gemini:gemini-2.0-flash"]
    listed = sum(row[0] for row in db.execute("SELECT list_cost FROM attempts"))
    assert listed == pytest.approx(billed(emu).cost(price, True, prices.get("batch_discount", 0.5)))


def test_a_provider_that_never_echoes_keys_fails_each_unit_after_a_bounded_number_of_sends(tmp_path):
    """``nokeys`` on every batch, through `octoc run --faults`: each unit is sent FREE_RESENDS times without a
    try, then spends its tries (retries: 1), and fails saying why — no loop, no answer guessed."""
    run_dir = tmp_path / "run"
    out = octoc("run", pipeline(tmp_path), "--provider", "emulator", "--faults", "nokeys=1000000000",
                "--batch-size", "10", "--run-dir", run_dir)
    assert out.returncode == 6, out.stdout + out.stderr  # units failed
    assert "no answer came back under this request's key" in out.stdout
    db = sqlite3.connect(run_dir / "run.db")
    sends = dict(db.execute("SELECT a.unit, count(*) + coalesce(sum(u.times), 0) FROM attempts a "
                            "LEFT JOIN unmatched u ON u.attempt = a.id GROUP BY a.unit"))
    assert set(sends.values()) == {FREE_RESENDS + 2}  # free re-sends, then the first try and one retry
    assert db.execute("SELECT count(*) FROM attempts WHERE text IS NOT NULL").fetchone()[0] == 0


def test_the_faults_are_spelled_in_octoc_emulator_help_and_refused_when_wrong(tmp_path):
    out = octoc("run", pipeline(tmp_path), "--provider", "emulator", "--faults", "nokeys=some")
    assert out.returncode == 2 and re.search(r"fault 'nokeys' needs a whole number", out.stderr)
