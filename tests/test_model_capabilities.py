"""Model capabilities (issue 12): what each model refuses or ignores, caught by `octoc check`, never sent, and
refused by the emulator as the real services refuse it — through the real SDKs over 127.0.0.1.

Each mismatch the issue names has a test that fails on the code before the capability table:
- OpenAI Responses `max_output_tokens` < 16: `test_max_tokens_under_16_is_refused_at_check` (E0121) and
  `test_emulator_refuses_what_openai_refuses` (the 400 the API answers);
- `temperature` on a reasoning model: `test_temperature_on_a_reasoning_model_is_refused_at_its_value` (E0120),
  `test_a_refused_temperature_is_never_sent` (a plan that asks for it anyway sends none);
- Anthropic's `temperature`, dropped without a word: `test_anthropic_temperature_is_said_to_be_ignored` (W0409);
- Anthropic's `model_context_window_exceeded` taken as a success: `test_context_window_stop_is_a_failure_of_the_unit`.
The new settings reaching each wire: `test_new_settings_reach_the_wire_*`, and through a whole `octoc run`
(plan, prompting, the ledger, the adapters): `test_a_run_sends_each_model_what_it_takes_and_stores_it`.
"""

from __future__ import annotations

import fnmatch

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from hypothesis import given, settings
from hypothesis import strategies as st

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.frontend.capabilities import glob_matches
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime.emulator import server as server_module
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.attempts.prompting import StepRequests
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter
from octo.stdlib import default_language

KEY = "emulator-test-key"


# --- octoc check -------------------------------------------------------------------------------

def check(text: str):
    return check_source(Source("p.octo", text), default_language()).diagnostics


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def at(diagnostics, code: str) -> list[tuple[int, int, str]]:
    return [(d.span.line, d.span.column, d.span.text()) for d in diagnostics if d.code == code]


def test_max_tokens_under_16_is_refused_at_check():
    found = check("octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-4.1-mini\n"
                  "      prompt: hi\n      max_tokens: 15\n")
    assert at(found, "E0121") == [(7, 19, "15")]
    assert "at least 16" in next(d.message for d in found if d.code == "E0121")
    assert codes(check("octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-4.1-mini\n"
                       "      prompt: hi\n      max_tokens: 16\n")) == []


def test_temperature_on_a_reasoning_model_is_refused_at_its_value():
    step = "octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-5-mini\n      prompt: hi\n"
    found = check(step + "      temperature: 0.2\n")
    assert at(found, "E0120") == [(7, 20, "0.2")]
    assert "accepts only 1" in found[0].message
    assert codes(check(step + "      temperature: 1\n")) == []  # the default value is taken


def test_a_defaults_value_is_checked_for_every_model_a_step_may_use():
    found = check("""octo: 1
defaults:
  temperature: 0.7
data:
  contenders: [{id: a, model: "openai:gpt-4.1-mini"}, {id: b, model: "openai:o4-mini"}]
units:
  for: {contender: contenders}
steps:
  answer:
    generate:
      model: unit.contender.model
      prompt: hi
export:
  model: unit.contender.model
""")
    assert at(found, "E0120") == [(3, 16, "0.7")]
    assert "openai:o4-mini" in found[0].message and "o4-mini" in found[0].label and "defaults" in found[0].label


def test_anthropic_temperature_is_said_to_be_ignored():
    found = check("octo: 1\nsteps:\n  s:\n    generate:\n      model: anthropic:claude-haiku-4-5\n"
                  "      prompt: hi\n      temperature: 0\n")
    assert at(found, "W0409") == [(7, 20, "0")]
    assert "does not send it" in found[0].message


def test_an_unknown_model_is_never_refused_only_warned_about():
    found = check("octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-9-preview\n      prompt: hi\n"
                  "      temperature: 0.1\n      top_p: 0.5\n      reasoning: {effort: max, budget: 99999}\n"
                  "      max_tokens: 5\n")
    assert not any(d.severity.value == "error" for d in found)
    assert codes(found).count("W0410") == 3
    # what a provider never takes is said as such, known model or not
    found = check("octo: 1\nsteps:\n  s:\n    generate:\n      model: anthropic:claude-fable-9\n      prompt: hi\n"
                  "      temperature: 0.1\n")
    assert sorted(codes(found)) == ["W0401", "W0409"]


def test_reasoning_is_checked_per_model():
    def reasoning(model: str, value: str, extra: str = ""):
        return codes(check(f"octo: 1\nsteps:\n  s:\n    generate:\n      model: {model}\n      prompt: hi\n"
                           f"      reasoning: {value}\n{extra}"))

    assert reasoning("openai:gpt-5", "minimal") == []
    assert reasoning("openai:gpt-5", "{budget: 2048}") == ["E0122"]          # OpenAI takes an effort
    assert reasoning("openai:gpt-4.1", "low") == ["E0122"]                   # not a reasoning model
    assert reasoning("gemini:gemini-2.5-pro", "none") == ["E0122"]           # cannot turn thinking off
    assert reasoning("gemini:gemini-2.5-flash", "{budget: 30000}") == ["E0122"]
    assert reasoning("anthropic:claude-sonnet-4-5", "{budget: 1000}") == ["E0122"]  # under 1,024
    assert reasoning("anthropic:claude-sonnet-4-5", "{budget: 2048}", "      max_tokens: 2048\n") == ["E0123"]
    assert reasoning("anthropic:claude-sonnet-4-5", "{budget: 2048}") == []  # the default makes room


def octoc(capsys, *args: str) -> tuple[int, str, str]:
    """octoc in this process: (exit code, stdout, stderr)."""
    from octo.cli.main import main

    code = main([*args, "--color", "never"] if args[0] in ("check", "plan") else list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plan_under_provider_checks_the_model_the_steps_run_on(tmp_path, capsys):
    path = tmp_path / "p.octo"
    path.write_text("octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-4.1-mini\n      prompt: hi\n"
                    "      temperature: 0.2\n")
    assert octoc(capsys, "plan", str(path))[0] == 0
    code, out, _ = octoc(capsys, "plan", str(path), "--provider", "openai:gpt-5")
    assert code == 1 and "E0120" in out and "openai:gpt-5" in out


def test_a_models_file_describes_a_model_octo_does_not_know(tmp_path, capsys):
    path = tmp_path / "p.octo"
    path.write_text("octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-9-preview\n      prompt: hi\n"
                    "      top_p: 0.5\n")
    models = tmp_path / "models.json"
    models.write_text('{"families": [{"provider": "openai", "match": "gpt-9*", "top_p": "refused"}]}')
    assert "W0410" in octoc(capsys, "check", str(path))[1]
    code, out, _ = octoc(capsys, "check", str(path), "--models", str(models))
    assert code == 1 and "E0120" in out
    code, out, _ = octoc(capsys, "plan", str(path), "--models", str(models))
    assert code == 1 and "E0120" in out
    models.write_text('{"families": [{"provider": "openai"}]}')
    code, _, err = octoc(capsys, "check", str(path), "--models", str(models))
    assert code == 2 and "needs \"provider\"" in err


# --- what a request carries ---------------------------------------------------------------------

def plan_step(text: str) -> dict:
    """The plan record of the file's first provider step, built even when the check has errors: a plan
    made before the table knew better, or edited by hand, is what the run-time guard is for."""
    result = check_source(Source("p.octo", text), default_language())
    plan = build_plan(result.program, default_language(), Reporter())
    return next(s for s in plan.data["steps"] if s["kind"] in ("generate", "judge"))


def test_model_settings_leave_out_what_the_model_refuses_or_ignores():
    from octo.runtime.attempts.modelsettings import model_settings

    sent = model_settings("openai:gpt-5", 0.2, {"top_p": 0.5, "seed": 3}, {"effort": "low"})
    assert sent["temperature"] is None and "top_p" not in sent and sent["seed"] == 3
    assert sent["reasoning_effort"] == "low"
    sent = model_settings("anthropic:claude-haiku-4-5", 0.2, {"top_p": 0.5, "seed": 3}, {"budget": 2048})
    assert sent["temperature"] is None and "top_p" not in sent and "seed" not in sent
    assert sent["thinking_budget"] == 2048 and sent["max_tokens"] == 1024 + 2048  # room made for thinking
    sent = model_settings("gemini:gemini-2.5-flash", 0.2, {"top_p": 0.5, "seed": 3}, {"effort": "low"})
    assert (sent["temperature"], sent["top_p"], sent["seed"], sent["thinking_budget"]) == (0.2, 0.5, 3, 1024)
    sent = model_settings("openai:gpt-9-preview", 0.2, {"top_p": 0.5}, {"effort": "max"}, max_tokens=5)
    assert (sent["temperature"], sent["top_p"], sent["reasoning_effort"], sent["max_tokens"]) == (0.2, 0.5, "max", 5)


@pytest.fixture(scope="module")
def server():
    # One server for the module (stopping one waits out serve_forever's poll); each test brings its emulator.
    handler = server_module._Handler
    before = handler.disable_nagle_algorithm
    handler.disable_nagle_algorithm = True
    with EmulatorServer(Emulator()) as running:
        yield running
    handler.disable_nagle_algorithm = before


class Recorder:
    """A responder that lets the emulator answer and keeps every request it saw (with what came over the wire)."""

    def __init__(self, answer: str | None = None):
        self.requests, self.answer = [], answer

    def __call__(self, request, n):
        self.requests.append(request)
        return self.answer


@pytest.fixture
def emulator(server):
    url = server.url  # the address the server listens on (each emulator it serves is told it)

    def start(answer: str | None = None) -> tuple[Emulator, Recorder]:
        recorder = Recorder(answer)
        emu = Emulator(seed=5, responder=recorder)
        emu.url = url
        server.emulator = emu
        return emu, recorder
    start.url = url
    return start


def test_a_refused_temperature_is_never_sent(emulator):
    step = plan_step("octo: 1\ndefaults:\n  temperature: 0.2\n  top_p: 0.5\nsteps:\n  s:\n    generate:\n"
                     "      model: openai:gpt-5\n      prompt: Say hi.\n      reasoning: low\n")
    request = StepRequests(step, default_language().functions).request({"unit": {"id": "u1"}, "data": {}})
    assert request["temperature"] is None and "top_p" not in request
    _, recorder = emulator()
    outcome = OpenAIAdapter(KEY, base_url=f"{emulator.url}/v1").call(Request("c1", **{
        k: v for k, v in request.items() if k != "provider"}))
    assert outcome.error is None  # the emulator refuses temperature 0.2 for gpt-5: it was not sent
    assert recorder.requests[0].settings == {"reasoning_effort": "low"}


def test_context_window_stop_is_a_failure_of_the_unit(emulator):
    emulator()
    adapter = AnthropicAdapter(KEY, base_url=emulator.url)
    # a prompt that fills the model's 200,000-token window but for a few tokens: the answer hits the window
    prompt = "tide " * 159_990
    outcome = adapter.call(Request("c1", "claude-haiku-4-5", prompt, max_tokens=4000))
    assert outcome.error and "model_context_window_exceeded" in outcome.error and outcome.retryable is False
    assert outcome.text is not None  # the partial text and its usage are kept, as for max_tokens


# --- the emulator refuses what the real services refuse ---------------------------------------------

def test_emulator_refuses_what_openai_refuses(emulator):
    emulator()
    client = openai.OpenAI(api_key=KEY, base_url=f"{emulator.url}/v1", max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    cases = [
        (lambda: client.chat.completions.create(model="gpt-5", messages=messages, temperature=0.2),
         "temperature", "unsupported_value"),
        (lambda: client.chat.completions.create(model="o4-mini", messages=messages, top_p=0.5),
         "top_p", "unsupported_parameter"),
        (lambda: client.chat.completions.create(model="gpt-5.1", messages=messages, reasoning_effort="minimal"),
         "reasoning_effort", "unsupported_value"),
        (lambda: client.chat.completions.create(model="gpt-4.1", messages=messages, reasoning_effort="low"),
         "reasoning_effort", "unsupported_parameter"),
        (lambda: client.responses.create(model="gpt-4.1-mini", input="hi", max_output_tokens=15),
         "max_output_tokens", "integer_below_min_value"),
        (lambda: client.responses.create(model="gpt-5", input="hi", reasoning={"effort": "none"}),
         "reasoning.effort", "unsupported_value"),
    ]
    for call, param, code in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            call()
        assert (refused.value.param, refused.value.code, refused.value.type) == (param, code, "invalid_request_error")
    assert client.chat.completions.create(model="gpt-5", messages=messages, temperature=1).choices  # 1 is taken
    assert client.responses.create(model="gpt-4.1-mini", input="hi", max_output_tokens=16).output


def test_emulator_refuses_a_refused_parameter_in_a_batch_line_alone(emulator):
    emu, _ = emulator()
    adapter = OpenAIAdapter(KEY, base_url=f"{emulator.url}/v1")
    good, bad = Request("ok", "gpt-5", "hi"), Request("bad", "gpt-5", "hi", temperature=0.2)
    batch = adapter.submit("k1", [good, bad])
    while not adapter.poll(batch).ended:
        pass
    ok, refused = adapter.results(batch, ["ok", "bad"])
    assert ok.error is None and ok.text
    assert "temperature" in refused.error and "400" in refused.error and refused.retryable is False


def test_emulator_refuses_what_anthropic_refuses(emulator):
    emulator()
    client = anthropic.Anthropic(api_key=KEY, base_url=emulator.url, max_retries=0)
    base = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    cases = [
        ({**base, "max_tokens": 500, "extra_body": {"temperature": 1.0}}, "temperature: Extra inputs are not permitted"),
        ({**base, "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 500}}, "greater than or equal to 1024"),
        ({**base, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 2000}}, "must be greater than"),
        ({**base, "max_tokens": 100_000, "timeout": 30}, "maximum allowed number of output tokens"),
        ({**base, "max_tokens": 500, "output_config": {"effort": "low"}}, "output_config.effort"),
    ]
    for params, says in cases:
        with pytest.raises(anthropic.BadRequestError) as refused:
            client.messages.create(**params)
        assert refused.value.body["error"]["type"] == "invalid_request_error" and says in refused.value.message
    taken = client.messages.create(**base, max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2048})
    assert taken.stop_reason == "end_turn"
    # in a batch, the refused request is an errored result; the other is answered
    lines = [{"custom_id": "ok", "params": {**base, "max_tokens": 500}},
             {"custom_id": "bad", "params": {**base, "max_tokens": 500, "top_p": 0.5}}]
    batch = client.messages.batches.create(requests=lines)
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        pass
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["ok"].type == "succeeded"
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "invalid_request_error"


def test_emulator_refuses_what_gemini_refuses(emulator):
    emulator()
    client = genai.Client(api_key=KEY, http_options=genai_types.HttpOptions(base_url=emulator.url,
                                                                             api_version="v1beta"))
    for model, budget, says in (("gemini-2.5-pro", 0, "only works in thinking mode"),
                                ("gemini-2.5-flash", 40_000, "is invalid"),
                                ("gemini-2.0-flash", 1024, "not supported")):
        config = genai_types.GenerateContentConfig(thinking_config=genai_types.ThinkingConfig(thinking_budget=budget))
        with pytest.raises(genai_errors.ClientError) as refused:
            client.models.generate_content(model=model, contents="hi", config=config)
        assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT") and says in refused.value.message
    ok = genai_types.GenerateContentConfig(thinking_config=genai_types.ThinkingConfig(thinking_budget=0))
    assert client.models.generate_content(model="gemini-2.5-flash", contents="hi", config=ok).text


def test_emulator_refuses_a_gemini_request_in_a_batch_alone(emulator):
    emulator()
    adapter = GeminiAdapter(KEY, emulator.url, retry_delay=0.001)
    batch = adapter.submit("k1", [Request("ok", "gemini-2.5-pro", "hi", thinking_budget=1024),
                                  Request("bad", "gemini-2.5-pro", "hi", thinking_budget=0)])
    while not adapter.poll(batch).ended:
        pass
    ok, refused = adapter.results(batch, ["ok", "bad"])
    assert ok.error is None and "thinking mode" in refused.error and refused.retryable is False


# --- the new settings reach each wire ---------------------------------------------------------------

def test_new_settings_reach_the_wire_openai_chat_and_responses(emulator):
    _, recorder = emulator()
    chat = OpenAIAdapter(KEY, base_url=f"{emulator.url}/v1")
    chat.call(Request("a", "gpt-4.1", "hi", temperature=0.3, top_p=0.8, seed=11))
    chat.call(Request("b", "gpt-5", "hi", seed=11, reasoning_effort="minimal"))
    responses = OpenAIAdapter(KEY, base_url=f"{emulator.url}/v1", endpoint="responses")
    responses.call(Request("c", "gpt-5", "hi", seed=11, reasoning_effort="high"))
    got = [r.settings for r in recorder.requests]
    assert got == [{"temperature": 0.3, "top_p": 0.8, "seed": 11}, {"seed": 11, "reasoning_effort": "minimal"},
                   {"reasoning_effort": "high"}]  # the Responses API has no seed


def test_new_settings_reach_the_wire_anthropic(emulator):
    _, recorder = emulator()
    adapter = AnthropicAdapter(KEY, base_url=emulator.url)
    assert adapter.call(Request("a", "claude-sonnet-4-5", "hi", max_tokens=4000, thinking_budget=2048,
                                temperature=0.5)).error is None
    assert adapter.call(Request("b", "claude-opus-4-5", "hi", max_tokens=4000, reasoning_effort="low",
                                thinking_budget=0)).error is None
    got = [r.settings for r in recorder.requests]
    assert got == [{"thinking": {"type": "enabled", "budget_tokens": 2048}},
                   {"thinking": {"type": "disabled"}, "effort": "low"}]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "file"])
def test_new_settings_reach_the_wire_gemini_batches(emulator, inline):
    _, recorder = emulator()
    adapter = GeminiAdapter(KEY, emulator.url, retry_delay=0.001, inline_limit_bytes=20_000_000 if inline else 1)
    batch = adapter.submit("k1", [Request("a", "gemini-2.5-flash", "hi", temperature=0.4, top_p=0.9, seed=5,
                                          thinking_budget=512)])
    while not adapter.poll(batch).ended:
        pass
    assert adapter.results(batch, ["a"])[0].error is None
    assert recorder.requests[0].settings == {"temperature": 0.4, "topP": 0.9, "seed": 5,
                                             "thinkingConfig": {"thinkingBudget": 512}}


def test_new_settings_reach_the_wire_gemini_realtime(emulator):
    _, recorder = emulator()
    adapter = GeminiAdapter(KEY, emulator.url, retry_delay=0.001)
    assert adapter.call(Request("a", "gemini-2.5-flash-lite", "hi", top_p=0.25, seed=9,
                                reasoning_effort="none")).error is None
    assert recorder.requests[0].settings == {"topP": 0.25, "seed": 9, "thinkingConfig": {"thinkingBudget": 0}}


# --- a whole run -----------------------------------------------------------------------------------

RUN = """octo: 1
name: settings
data:
  topics: [{id: a, name: tides}]
units:
  for: {topic: topics}
steps:
  brief:
    generate:
      model: openai:gpt-5-mini
      prompt: "Explain {{ unit.topic.name }}."
      reasoning: low
      seed: 7
  deep:
    generate:
      model: anthropic:claude-sonnet-4-5
      prompt: "Explain {{ brief.text }} more deeply."
      reasoning: {budget: 2048}
  check:
    generate:
      model: gemini:gemini-2.5-flash
      prompt: "Is this right? {{ deep.text }}"
      top_p: 0.9
      seed: 7
      reasoning: none
"""


def test_a_run_sends_each_model_what_it_takes_and_stores_it(tmp_path, emulator, capsys):
    import json
    import os
    import sqlite3
    import subprocess
    import sys

    from conftest import ROOT

    _, recorder = emulator()
    (tmp_path / "p.octo").write_text(RUN)
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update({"OPENAI_BASE_URL": f"{emulator.url}/v1", "ANTHROPIC_BASE_URL": emulator.url,
                "GOOGLE_GEMINI_BASE_URL": emulator.url, "OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY,
                "GEMINI_API_KEY": KEY})
    run = subprocess.run([sys.executable, "-m", "octo", "run", str(tmp_path / "p.octo"), "--run-dir",
                          str(tmp_path / "r"), "--mode", "realtime", "--poll-interval", "0"], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    received = {(r.provider, r.model): (r.settings, r.max_tokens) for r in recorder.requests}
    assert received == {
        ("openai", "gpt-5-mini"): ({"seed": 7, "reasoning_effort": "low"}, 4096 + 512),  # room for reasoning
        ("anthropic", "claude-sonnet-4-5"): ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, 4096 + 2048),
        ("gemini", "gemini-2.5-flash"): ({"topP": 0.9, "seed": 7, "thinkingConfig": {"thinkingBudget": 0}}, 4096),
    }
    db = sqlite3.connect(tmp_path / "r" / "run.db")
    stored = {json.loads(r)["model"]: json.loads(r) for (r,) in db.execute("SELECT request FROM attempts")}
    assert stored["gpt-5-mini"]["reasoning_effort"] == "low" and stored["claude-sonnet-4-5"]["thinking_budget"] == 2048
    assert "top_p" not in stored["gpt-5-mini"] and stored["gemini-2.5-flash"]["top_p"] == 0.9
    for request in stored.values():  # a stored request is a Request again, with or without the new fields
        Request(custom_id="c", **{k: v for k, v in request.items() if k != "provider"})
    old = {k: v for k, v in stored["gpt-5-mini"].items() if k not in ("seed", "reasoning_effort", "provider")}
    assert Request(custom_id="c", **old).reasoning_effort is None  # a row from before the fields existed
    code, shown, _ = octoc(capsys, "show", str(tmp_path / "r"), "a", "--step", "brief")
    assert code == 0 and "gpt-5-mini · max_tokens 4608, seed 7, reasoning low" in shown


@settings(max_examples=500, deadline=None)
@given(name=st.text(alphabet="ab-.*?[]!", max_size=8), pattern=st.text(alphabet="ab-.*?[]!", max_size=6))
def test_glob_matches_is_fnmatchcase(name, pattern):
    # the families' globs are matched without compiling a regular expression (capabilities.glob_matches)
    assert glob_matches(name, pattern) == fnmatch.fnmatchcase(name, pattern)
