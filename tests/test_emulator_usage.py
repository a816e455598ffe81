"""The emulator bills tokens like a provider: system prompt, output schema, message overheads, prompt caching
only where the provider caches (runtime/emulator/usage.py, docs/providers.md "Usage rule"). Through each real
SDK over HTTP, against the emulator on 127.0.0.1."""

from __future__ import annotations

import anthropic
import openai
import pytest

from octo.runtime.emulator import usage
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.providers.anthropic import AnthropicAdapter, _usage_of
from octo.runtime.providers.base import Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter

SCHEMA = {"type": "object", "properties": {"verse": {"type": "string"}, "mood": {"type": "string", "enum": ["grim", "comic"]}},
          "required": ["verse", "mood"], "additionalProperties": False}
SHORT = "You write sea shanties."
LONG = "You write sea shanties for a crew of tired sailors. " * 120  # about 1,600 tokens: a cacheable prefix


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(Emulator()) as running:
        yield running


@pytest.fixture
def emulator(server):
    emu = Emulator(seed=3)
    emu.url = server.url
    server.emulator = emu
    return emu


def test_text_tokens_weigh_characters_by_their_utf8_length():
    assert usage.tokens("") == 0
    assert usage.tokens("abcd" * 10) == 10                       # ASCII: 4 characters a token
    assert usage.tokens("船は夜明けに港を出た") == 10                 # CJK and kana: a token each (bytes/4 said 8)
    assert usage.tokens("café") == 2                              # é: ½ token
    assert usage.tokens("⚓🌊🚢👍") == 7                             # emoji 2 each, ⚓ (3 bytes) 1
    assert usage.cut("港を出た sea", 2) == "港を"
    assert usage.tokens(usage.cut("x" * 100, 7)) == 7


def test_an_openai_request_bills_its_schema_and_message_overheads(emulator, server):
    """Before, a request's schema cost nothing and the messages 3 tokens in all; OpenAI bills the schema it
    writes into the prompt and 3 tokens per message plus 3 priming the reply."""
    client = openai.OpenAI(api_key="sk-test", base_url=server.url + "/v1")
    prompt = "Write a verse about the tide."
    plain = client.chat.completions.create(model="gpt-4.1-mini", messages=[
        {"role": "system", "content": SHORT}, {"role": "user", "content": prompt}])
    shaped = client.chat.completions.create(model="gpt-4.1-mini", messages=[
        {"role": "system", "content": SHORT}, {"role": "user", "content": prompt}],
        response_format={"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}})
    text_only = usage.tokens(SHORT) + usage.tokens(prompt)
    assert plain.usage.prompt_tokens == text_only + 3 * 2 + 3
    schema = usage.tokens('{"type":"object","properties":{"verse":{"type":"string"},'
                          '"mood":{"type":"string","enum":["grim","comic"]}}}') + 9
    assert shaped.usage.prompt_tokens == text_only + 9 + schema
    assert shaped.usage.prompt_tokens_details.cached_tokens == 0  # under OpenAI's 1,024-token minimum


def test_openai_and_gemini_cache_a_long_shared_prefix_in_128_token_steps(emulator, server):
    request = Request("a-1", "gpt-4.1-mini", "Write a verse.", system=LONG, schema=SCHEMA)
    outcome = OpenAIAdapter("sk-test", base_url=server.url + "/v1").call(request)
    prefix = usage.message_tokens(LONG) + usage.tokens(LONG) + usage.schema_tokens(SCHEMA)
    assert outcome.usage.cached_input == prefix // 128 * 128 > 0
    assert outcome.usage.input + outcome.usage.cached_input == prefix + usage.tokens("Write a verse.")
    gemini = GeminiAdapter("test-key", server.url, retry_delay=0.001)
    short = gemini.call(Request("g-1", "gemini-2.0-flash", "Write a verse.", system=LONG, schema=SCHEMA))
    assert short.usage.cached_input == 0  # Gemini caches from 2,048 tokens
    longer = gemini.call(Request("g-2", "gemini-2.0-flash", "Write a verse.", system=LONG * 2, schema=SCHEMA))
    assert longer.usage.cached_input > 2048


def test_anthropic_caches_only_a_prefix_the_request_marks(emulator, server):
    """octo never marks one, so its Anthropic requests read nothing from the cache; a marked one does, and the
    adapter maps the read to cached input."""
    adapter = AnthropicAdapter("test-key", base_url=server.url)
    outcome = adapter.call(Request("c-1", "claude-sonnet-4-5", "Write a verse.", system=LONG, schema=SCHEMA))
    assert outcome.usage.cached_input == 0
    client = anthropic.Anthropic(api_key="test-key", base_url=server.url)
    marked = client.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": "hi"}],
                                    system=[{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}])
    assert marked.usage.cache_read_input_tokens == usage.message_tokens(LONG) + usage.tokens(LONG)
    assert _usage_of(marked.usage).cached_input == marked.usage.cache_read_input_tokens
