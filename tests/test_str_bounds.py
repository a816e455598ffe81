"""Lengths and one-sided bounds in types: `str[min, max]`, `int[0, ]`, `float[, 1]`, `list[T][1, ]`.

Parsing, the JSON Schema, typing (a bounded str is a str), estimates, what each provider is sent,
what the emulator refuses as the real service does, and an answer outside a bound retried with a
note naming it. The diagnostics' snapshot is tests/invalid/250_string_lengths.octo.
"""

from __future__ import annotations

import json
import sqlite3

import anthropic
import openai
import pytest

from octo.compiler.base.source import Source
from octo.compiler.expressions.types import FLOAT, INT, STR, ListT, TypeDeclError
from octo.compiler.frontend.check import check_source
from octo.compiler.planning import estimate
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.schema_limits import anthropic_refusal, openai_strict_refusal
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter
from test_list_bounds import _declare
from test_list_bounds_run import _Quick


@pytest.mark.parametrize("text, static, schema", [
    ("str[1, 280]", STR, {"type": "string", "minLength": 1, "maxLength": 280}),
    ("str[, 280]", STR, {"type": "string", "maxLength": 280}),
    ("str[1, ]", STR, {"type": "string", "minLength": 1}),
    ("str[0, ]", STR, {"type": "string"}),  # no bound at all
    ("str[3, 3]", STR, {"type": "string", "minLength": 3, "maxLength": 3}),
    ("int[0, ]", INT, {"type": "integer", "minimum": 0}),
    ("int[, -1]", INT, {"type": "integer", "maximum": -1}),
    ("float[, 1]", FLOAT, {"type": "number", "maximum": 1}),
    ("float[0.5, ]", FLOAT, {"type": "number", "minimum": 0.5}),
    ("int[1, 10]", INT, {"type": "integer", "minimum": 1, "maximum": 10}),
    ("list[str[1, 20]][1, ]", ListT(STR, 1, None),
     {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 20}, "minItems": 1}),
])
def test_bounds_reach_the_schema_and_the_static_type_is_plain(text, static, schema):
    t, got = _declare(text)
    assert t == static
    assert got == schema


def test_an_optional_bounded_str():
    t, schema = _declare("str[, 5]?")
    assert t.describe() == "str?"
    assert schema == {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]}


@pytest.mark.parametrize("text, code, under", [
    ("str[10, 2]", "E0230", "[10, 2]"),
    ("str[-1, 4]", "E0230", "-1"),
    ("str[1, 2.5]", "E0230", "2.5"),
    ("str[,]", "E0230", "[,]"),
    ("str[1, 1e999]", "E0230", "1e999"),
    ("str[, 100000001]", "E0230", "100000001"),
    ("int[,]", "E0216", "[,]"),
    ("float[, 1e999]", "E0216", "1e999"),
    ("int[0.5, ]", "E0216", "int[0.5, ]"),
    ("int[5, 1]", "E0216", "int[5, 1]"),
    ("bool[0, 1]", "E0216", "bool[0, 1]"),
])
def test_bad_bounds_are_diagnostics_on_the_bound_at_fault(text, code, under):
    with pytest.raises(TypeDeclError) as err:
        _declare(text)
    assert err.value.code == code
    assert err.value.node.span.text() == under
    assert err.value.hint or text in ("int[0.5, ]", "bool[0, 1]")


PROGRAM = """\
octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  post:
    generate:
      prompt: Write a post.
      output:
        text: "str[, 280]"
        title: "str[1, 60]?"
        score: "int[0, ]"
        share: "float[, 1]"
        tags: "list[str[1, 20]][1, ]"
  use:
    compute:
      n: len(post.text)
      up: upper(post.text)
      both: post.text + post.tags[0]
      same: post.text == 'hello'
      title: post.title
      half: post.score / 2
      either: "post.text if post.score > 1 else post.tags[0]"
"""


def test_a_bounded_str_is_a_str_everywhere_else(language):
    result = check_source(Source("t.octo", PROGRAM), language)
    assert result.ok, [d.message for d in result.diagnostics]
    post = dict(result.program.steps["post"].output.fields)
    assert post["text"] == STR and post["score"] == INT and post["share"] == FLOAT
    use = dict(result.program.steps["use"].output.fields)
    assert use["n"] == INT and use["up"] == STR and use["both"] == STR and use["either"] == STR
    assert use["title"].describe() == "str?"


def test_a_bounded_str_reads_as_str_in_messages(language):
    result = check_source(Source("t.octo", PROGRAM + "      bad: post.text + 1\n"), language)
    messages = [d.message for d in result.diagnostics]
    assert "'+' cannot combine str and int" in messages, messages


# --- estimates --------------------------------------------------------------------------------

def test_a_string_is_estimated_from_its_lengths():
    plain = estimate.output_tokens({"type": "string"}, None)[0]
    assert plain == estimate.STR_FIELD_TOKENS
    short = estimate.output_tokens({"type": "string", "maxLength": 20}, None)[0]
    tweet = estimate.output_tokens({"type": "string", "maxLength": 280}, None)[0]
    essay = estimate.output_tokens({"type": "string", "minLength": 1000, "maxLength": 3000}, None)[0]
    assert short < plain and short < tweet < essay
    # the midpoint of the characters, at the token rule's rate on prose
    assert tweet == pytest.approx(140 * estimate._PROSE_TOKENS_PER_CHAR, abs=1)
    assert estimate.output_tokens({"type": "string", "minLength": 4000}, None)[0] > plain  # the minimum's
    assert estimate.output_tokens({"type": "string", "minLength": 5}, None)[0] == plain
    assert estimate.output_tokens({"type": "string", "maxLength": 1e999}, None)[0] > 0  # a schema file's


def test_plan_estimates_a_bounded_str_from_its_bound(language):
    from test_plan import plan_of

    def tokens_out(text_type: str) -> float:
        program = ("octo: 1\ndefaults: {model: openai:gpt-4.1-mini}\nsteps:\n  post:\n    generate:\n"
                   f"      prompt: Write.\n      output: {{text: \"{text_type}\"}}\n")
        plan, _ = plan_of(program, language)
        return plan.data["steps"][0]["estimate"]["tokens_per_request"]["output_expected"]

    assert tokens_out("str[, 40]") < tokens_out("str") < tokens_out("str[, 2000]")


# --- providers ----------------------------------------------------------------------------------

# The schema `output: {text: str[, 280], title: str[1, 60]?, score: int[0, ]}` compiles to.
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["text", "title", "score"], "properties": {
    "text": {"type": "string", "maxLength": 280},
    "title": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 60}, {"type": "null"}]},
    "score": {"type": "integer", "minimum": 0}}}
MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


def test_openai_strict_mode_gets_the_lengths_as_hints_the_rest_as_keywords():
    request = Request("a", "m", "Write.", schema=SCHEMA)
    adapter = OpenAIAdapter("sk-test", base_url="http://127.0.0.1:9/v1")
    chat = adapter.body(request)["response_format"]["json_schema"]
    assert chat["strict"] is True
    text = chat["schema"]["properties"]["text"]
    assert "maxLength" not in text and text["description"] == "{maxLength: 280}"
    title = chat["schema"]["properties"]["title"]["anyOf"][0]
    assert "minLength" not in title and title["description"] == "{minLength: 1, maxLength: 60}"
    assert chat["schema"]["properties"]["score"] == {"type": "integer", "minimum": 0}  # strict mode takes it
    assert openai_strict_refusal(chat["schema"]) is None and openai_strict_refusal(SCHEMA) is not None
    assert SCHEMA["properties"]["text"] == {"type": "string", "maxLength": 280}  # the step's schema untouched


def test_anthropic_gets_hints_and_gemini_the_keywords():
    request = Request("a", "m", "Write.", schema=SCHEMA)
    sent = AnthropicAdapter("k", base_url="http://127.0.0.1:9").params(request)["output_config"]["format"]["schema"]
    assert anthropic_refusal(SCHEMA) is not None and anthropic_refusal(sent) is None
    assert "maxLength: 280" in sent["properties"]["text"]["description"]
    gemini = GeminiAdapter("k", "http://127.0.0.1:9", retry_delay=0.001)
    assert gemini._config(request).response_json_schema == SCHEMA  # sent as written


@pytest.fixture
def emulator():
    seen = []

    def record(request, n):
        seen.append(request)
        return None

    emu = Emulator(seed=5, responder=record)
    emu.seen = seen
    server = EmulatorServer(emu)
    server.RequestHandlerClass = _Quick
    with server:
        yield emu


def test_the_emulator_refuses_lengths_under_openai_strict_mode(emulator):
    client = openai.OpenAI(api_key="sk-test", base_url=emulator.url + "/v1", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=MODELS["openai"], messages=[{"role": "user", "content": "Hi."}],
                                       response_format={"type": "json_schema", "json_schema": {
                                           "name": "output", "schema": SCHEMA, "strict": True}})
    assert "In context=('properties', 'text'), 'maxLength' is not permitted." in str(err.value)
    # without strict mode the schema is only a guide, and is taken
    reply = client.chat.completions.create(model=MODELS["openai"], messages=[{"role": "user", "content": "Hi."}],
                                           response_format={"type": "json_schema", "json_schema": {
                                               "name": "output", "schema": SCHEMA, "strict": False}})
    assert reply.choices[0].message.content


@pytest.mark.parametrize("provider", list(MODELS))
def test_each_adapter_is_answered_within_the_bounds(emulator, provider):
    adapter = {"openai": lambda: OpenAIAdapter("sk-test", base_url=emulator.url + "/v1"),
               "anthropic": lambda: AnthropicAdapter("test-key", base_url=emulator.url),
               "gemini": lambda: GeminiAdapter("test-key", emulator.url, retry_delay=0.001)}[provider]()
    for i in range(5):
        outcome = adapter.call(Request(f"a{i}", MODELS[provider], f"Write post {i}.", schema=SCHEMA))
        assert outcome.error is None, outcome.error
        output = json.loads(outcome.text)
        assert len(output["text"]) <= 280 and output["score"] >= 0
        assert output["title"] is None or 1 <= len(output["title"]) <= 60
    assert emulator.seen[0].schema["properties"]["text"]["maxLength"] == 280  # read back, hint or keyword


PIPELINE = """\
octo: 1
name: posts
units: {repeat: 2}
steps:
  post:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write post {{ unit.id }}."
      output:
        text: "str[, 10]"
        score: "int[0, ]"
    retries: 2
"""


@pytest.mark.parametrize("first, note", [
    ({"text": "x" * 25, "score": 1}, "25 characters where the output declares at most 10 characters"),
    ({"text": "ok", "score": -3}, "-3 where the output declares at least 0"),
])
def test_an_answer_outside_a_bound_is_retried_with_a_note_naming_it(tmp_path, first, note):
    from test_provider_runs import octoc

    def outside_first(request, n):  # a retry carries a note saying what was wrong: then synthesise
        return first if "could not be used" not in request.prompt else None

    emu = Emulator(seed=2, responder=outside_first)
    program = tmp_path / "posts.octo"
    program.write_text(PIPELINE)
    server = EmulatorServer(emu)
    server.RequestHandlerClass = _Quick
    with server:
        out = octoc("run", program, "--run-dir", tmp_path / "r", "--poll-interval", "0", emulator=emu)
    assert out.returncode == 0, out.stdout + out.stderr
    db = sqlite3.connect(tmp_path / "r" / "run.db")
    try:
        verdicts = [v for (v,) in db.execute("SELECT verdict FROM attempts WHERE step = 'post' ORDER BY id")]
        results = db.execute("SELECT state, output FROM results WHERE step = 'post'").fetchall()
    finally:
        db.close()
    retried = [v for v in verdicts if v.startswith("retried")]
    assert len(retried) == 2 and all(note in v for v in retried), verdicts
    assert all(state == "done" and len(json.loads(output)["text"]) <= 10 for state, output in results), results
