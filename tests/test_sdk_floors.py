"""The provider SDKs octo runs on have every parameter its adapters use, and pyproject.toml's floors say so.

The parameters are read from the adapters themselves — the request bodies, params and configs they build
for a request that sets every field — and looked up in the installed SDKs' own signatures and typed
params (``inspect``), so an adapter that starts sending something its SDK lacks fails here, and so does an
SDK upgrade that drops something the adapters send. The floors in pyproject.toml are the first releases
with all of it (docs/providers.md, "Limits and rules"; from each SDK's CHANGELOG and its tagged sources).
"""

from __future__ import annotations

import inspect
import re
import typing
from importlib import metadata

import anthropic
import openai
from google.genai import types as genai_types

from conftest import ROOT
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}
EVERYTHING = dict(system="be brief", schema=SCHEMA, max_tokens=4000, temperature=1.0, top_p=0.5, seed=3,
                  reasoning_effort="low", thinking_budget=2048)
UNREACHABLE = "http://127.0.0.1:9"  # the adapters are built, never called

# The first release with everything the adapters call (see the module docstring).
FLOORS = {"openai": "1.66.0", "anthropic": "2.0.0", "google-genai": "1.56.0"}


def parameters(method) -> set[str]:
    return set(inspect.signature(method).parameters)


def keys(typed_dict) -> set[str]:
    """A TypedDict's keys, its bases' included."""
    return set(typing.get_type_hints(typed_dict))


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


# --- OpenAI ------------------------------------------------------------------------------------

def test_openai_has_every_parameter_the_adapter_sends():
    client = openai.OpenAI(api_key="k", base_url=UNREACHABLE)
    chat = OpenAIAdapter("k", base_url=UNREACHABLE).body(Request("c", "gpt-5", "hi", **EVERYTHING))
    assert {"max_completion_tokens", "temperature", "top_p", "seed", "reasoning_effort", "response_format"} <= set(chat)
    assert set(chat) <= parameters(client.chat.completions.create)
    from openai.types.chat.completion_create_params import ResponseFormat  # noqa: F401  (the json_schema format)
    from openai.types.shared_params.response_format_json_schema import JSONSchema
    assert set(chat["response_format"]["json_schema"]) <= keys(JSONSchema)
    responses = OpenAIAdapter("k", base_url=UNREACHABLE, endpoint="responses").body(Request("c", "gpt-5", "hi",
                                                                                          **EVERYTHING))
    assert {"max_output_tokens", "instructions", "reasoning", "text", "top_p"} <= set(responses)
    assert set(responses) <= parameters(client.responses.create)
    from openai.types.shared_params.reasoning import Reasoning
    from openai.types.responses.response_format_text_json_schema_config_param import \
        ResponseFormatTextJSONSchemaConfigParam
    assert set(responses["reasoning"]) <= keys(Reasoning)
    assert set(responses["text"]["format"]) <= keys(ResponseFormatTextJSONSchemaConfigParam)


def test_openai_has_every_batch_and_file_call_the_adapter_makes():
    client = openai.OpenAI(api_key="k", base_url=UNREACHABLE)
    assert {"input_file_id", "endpoint", "completion_window", "metadata"} <= parameters(client.batches.create)
    assert {"file", "purpose"} <= parameters(client.files.create)
    assert "limit" in parameters(client.batches.list)
    for method in (client.batches.retrieve, client.batches.cancel, client.files.content, client.files.delete):
        assert callable(method)


# --- Anthropic ---------------------------------------------------------------------------------

def test_anthropic_has_every_parameter_the_adapter_sends():
    params = AnthropicAdapter("k", base_url=UNREACHABLE).params(Request("c", "claude-opus-4-5", "hi", **EVERYTHING))
    assert {"output_config", "thinking", "system"} <= set(params)
    assert "temperature" not in params and "top_p" not in params  # the API version the SDK speaks has none
    client = anthropic.Anthropic(api_key="k", base_url=UNREACHABLE)
    assert set(params) <= parameters(client.messages.create)
    assert set(params) <= parameters(client.messages.stream)
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
    from anthropic.types.output_config_param import OutputConfigParam
    from anthropic.types.thinking_config_enabled_param import ThinkingConfigEnabledParam
    assert set(params) <= keys(MessageCreateParamsNonStreaming)  # a batch line's `params`
    assert set(params["output_config"]) <= keys(OutputConfigParam)
    assert set(params["thinking"]) <= keys(ThinkingConfigEnabledParam)
    assert "transform_schema" in dir(anthropic)


def test_anthropic_has_every_batch_call_and_stop_reason_the_adapter_reads():
    client = anthropic.Anthropic(api_key="k", base_url=UNREACHABLE)
    assert "requests" in parameters(client.messages.batches.create)
    assert "limit" in parameters(client.messages.batches.list)
    for method in (client.messages.batches.retrieve, client.messages.batches.results, client.messages.batches.cancel):
        assert callable(method)
    from anthropic.types.stop_reason import StopReason
    from octo.runtime.providers.anthropic import _STOPS
    assert set(_STOPS) | {"end_turn", "stop_sequence"} == set(typing.get_args(StopReason))


# --- Gemini ------------------------------------------------------------------------------------

def test_gemini_has_every_field_the_adapter_sets():
    adapter = GeminiAdapter("k", UNREACHABLE)
    request = Request("c", "gemini-2.5-flash", "hi", **EVERYTHING)
    config = adapter._config(request)  # pydantic: a field the SDK lacks would not construct
    set_fields = {k for k, v in config.model_dump().items() if v is not None}
    assert {"max_output_tokens", "system_instruction", "temperature", "top_p", "seed", "thinking_config",
            "response_mime_type", "response_json_schema"} <= set_fields
    assert config.thinking_config.thinking_budget == 2048
    assert set(genai_types.ThinkingConfig.model_fields) >= {"thinking_budget", "thinking_level"}
    assert {"MINIMAL", "LOW", "MEDIUM", "HIGH"} <= set(genai_types.ThinkingLevel.__members__)
    assert {"contents", "config", "metadata"} <= set(genai_types.InlinedRequest.model_fields)
    assert {"name", "mime_type", "display_name"} <= set(genai_types.UploadFileConfig.model_fields)
    assert {"attempts", "initial_delay", "max_delay", "exp_base", "jitter", "http_status_codes"} <= set(
        genai_types.HttpRetryOptions.model_fields)
    assert {"api_version", "base_url", "retry_options", "timeout"} <= set(genai_types.HttpOptions.model_fields)
    client = adapter._client
    assert {"model", "src", "config"} <= parameters(client.batches.create)
    assert {"file", "config"} <= parameters(client.files.upload)
    assert {"model", "contents", "config"} <= parameters(client.models.generate_content)


# --- the floors ---------------------------------------------------------------------------------

def test_pyproject_floors_are_the_first_releases_with_what_the_adapters_call():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for package, floor in FLOORS.items():
        assert re.search(rf'"{re.escape(package)}>={re.escape(floor)}"', text), f"pyproject.toml: {package}>={floor}"


def test_the_installed_sdks_meet_the_floors():
    for package, floor in FLOORS.items():
        assert version(metadata.version(package)) >= version(floor), package
