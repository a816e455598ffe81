"""Item counts (`list[T][min, max]`) at the providers: what each adapter sends through its real SDK,
what the emulator refuses as the real service does, synthetic answers within the counts, and an
answer outside them retried in a run."""

from __future__ import annotations

import json
import random
import sqlite3

import anthropic
import pytest

from octo.runtime.emulator import synth
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.schema_limits import anthropic_refusal
from octo.runtime.emulator.server import EmulatorServer, _Handler
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter

# The schema `output: {titles: list[str][4, 6], picks: list[int[1, 9]][1, ]}` compiles to.
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["titles", "picks"], "properties": {
    "titles": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 6},
    "picks": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 9}, "minItems": 1}}}
MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


class _Quick(_Handler):
    disable_nagle_algorithm = True  # headers and body go out in two writes: no delayed-ACK wait


@pytest.fixture
def emulator():
    """An emulator that records every request it decodes, serving all three wires."""
    seen = []

    def record(request, n):
        seen.append(request)
        return None

    emu = Emulator(seed=4, responder=record)
    emu.seen = seen
    server = EmulatorServer(emu)
    server.RequestHandlerClass = _Quick
    with server:
        yield emu


def adapter_for(provider: str, url: str):
    if provider == "openai":
        return OpenAIAdapter("sk-test", base_url=url + "/v1")
    if provider == "anthropic":
        return AnthropicAdapter("test-key", base_url=url)
    return GeminiAdapter("test-key", url, retry_delay=0.001)


def _counts_ok(output: dict) -> bool:
    return 4 <= len(output["titles"]) <= 6 and len(output["picks"]) >= 1 and all(1 <= p <= 9 for p in output["picks"])


@pytest.mark.parametrize("provider", list(MODELS))
def test_each_adapter_sends_counts_the_provider_takes_and_answers_keep_them(emulator, provider):
    adapter = adapter_for(provider, emulator.url)
    for i in range(6):
        outcome = adapter.call(Request(f"a{i}", MODELS[provider], f"Story ideas, set {i}.", schema=SCHEMA))
        assert outcome.error is None, outcome.error
        assert _counts_ok(json.loads(outcome.text))
    decoded = emulator.seen[0]
    assert decoded.refusal is None
    # what the emulator read back: the counts, whether sent as keywords or (Anthropic) as description hints
    assert decoded.schema["properties"]["titles"]["minItems"] == 4
    assert decoded.schema["properties"]["titles"]["maxItems"] == 6


def test_openai_and_gemini_get_the_counts_as_keywords_anthropic_as_hints():
    request = Request("a", "m", "Story ideas.", schema=SCHEMA)
    chat = OpenAIAdapter("sk-test", base_url="http://127.0.0.1:9/v1").body(request)["response_format"]["json_schema"]
    assert chat["strict"] is True and chat["schema"] == SCHEMA
    titles = AnthropicAdapter("k", base_url="http://127.0.0.1:9").params(request)["output_config"]["format"]["schema"]
    titles = titles["properties"]["titles"]
    assert "minItems" not in titles and "maxItems" not in titles
    assert "maxItems: 6" in titles["description"] and "minItems: 4" in titles["description"]
    picks = AnthropicAdapter("k", base_url="http://127.0.0.1:9").params(request)["output_config"]["format"]["schema"]
    assert picks["properties"]["picks"]["minItems"] == 1  # 0 and 1 are the minItems Anthropic takes


def test_the_emulator_refuses_counts_anthropic_refuses(emulator):
    client = anthropic.Anthropic(api_key="test-key", base_url=emulator.url, max_retries=0)
    params = {"model": MODELS["anthropic"], "max_tokens": 256, "messages": [{"role": "user", "content": "Ideas."}]}
    titles = {**SCHEMA, "required": ["titles"], "properties": {"titles": SCHEMA["properties"]["titles"]}}
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(**params, output_config={"format": {"type": "json_schema", "schema": titles}})
    assert "For 'array' type, property 'maxItems' is not supported" in str(err.value)
    # in a batch the refused request fails alone, in its result; the others are answered
    adapter = AnthropicAdapter("test-key", base_url=emulator.url)
    lines = [{"custom_id": "raw", "params": {**params, "output_config": {"format": {"type": "json_schema",
                                                                                   "schema": titles}}}},
             {"custom_id": "sdk", "params": adapter.params(Request("sdk", MODELS["anthropic"], "Ideas.", schema=SCHEMA))}]
    batch = client.messages.batches.create(requests=lines)
    while client.messages.batches.retrieve(batch.id).processing_status != "ended":
        pass
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["raw"].type == "errored" and results["raw"].error.error.type == "invalid_request_error"
    assert results["sdk"].type == "succeeded"


@pytest.mark.parametrize("schema, refused", [
    ({"type": "array", "items": {"type": "string"}, "minItems": 1}, None),
    ({"type": "array", "items": {"type": "string"}, "minItems": 0}, None),
    ({"type": "array", "items": {"type": "string"}, "minItems": 2}, "minItems"),
    ({"type": "array", "items": {"type": "string"}, "maxItems": 3}, "maxItems"),
    ({"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}}, "maximum"),
    ({"anyOf": [{"type": "array", "items": {"type": "string", "maxLength": 3}}, {"type": "null"}]}, "maxLength"),
])
def test_anthropic_limits(schema, refused):
    message = anthropic_refusal(schema)
    assert (message is None) if refused is None else (f"'{refused}'" in message)
    assert anthropic_refusal(anthropic.transform_schema(schema)) is None  # what the adapter sends is taken


def test_synthetic_answers_keep_every_count():
    rng = random.Random(0)
    schema = {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "minItems": 5,
              "maxItems": 7}
    for _ in range(200):
        value = json.loads(synth.answer_text(schema, rng))
        assert 5 <= len(value) <= 7 and all(len(inner) <= 2 for inner in value)
    assert json.loads(synth.answer_text({"type": "array", "items": {"type": "string"}, "minItems": 0, "maxItems": 0},
                                        rng)) == []


PIPELINE = """\
octo: 1
name: ideas
units: {repeat: 3}
steps:
  ideas:
    generate:
      model: PROVIDER_MODEL
      prompt: "Give story ideas, set {{ unit.id }}."
      output:
        titles: list[str][2, 3]
    retries: 2
  first:
    compute:
      title: ideas.titles[0]
"""


def test_an_answer_with_too_many_items_is_retried(tmp_path):
    # Anthropic: the counts travel as description hints, so this is the path where a count could be lost
    model = "anthropic:claude-haiku-4-5"
    from test_provider_runs import octoc

    def too_many_first(request, n):  # a retry carries a note saying what was wrong: then synthesise
        return {"titles": ["a", "b", "c", "d", "e"]} if "could not be used" not in request.prompt else None

    emu = Emulator(seed=2, responder=too_many_first)
    program = tmp_path / "ideas.octo"
    program.write_text(PIPELINE.replace("PROVIDER_MODEL", model))
    server = EmulatorServer(emu)
    server.RequestHandlerClass = _Quick
    with server:
        out = octoc("run", program, "--run-dir", tmp_path / "r", "--poll-interval", "0", emulator=emu)
    assert out.returncode == 0, out.stdout + out.stderr
    db = sqlite3.connect(tmp_path / "r" / "run.db")
    try:
        rows = db.execute("SELECT unit, verdict FROM attempts WHERE step = 'ideas' ORDER BY id").fetchall()
        results = db.execute("SELECT state, output FROM results WHERE step = 'ideas'").fetchall()
    finally:
        db.close()
    retried = [verdict for _, verdict in rows if verdict.startswith("retried")]
    assert len(retried) == 3 and len(rows) == 6  # each unit's first answer refused, its second taken
    assert all("5 items where the output declares at most 3" in v for v in retried), retried
    assert len(results) == 3, results
    assert all(state == "done" and 2 <= len(json.loads(output)["titles"]) <= 3 for state, output in results), results
