"""The OpenAI adapter driving the real ``openai`` SDK against the emulator's OpenAI wire.

Every test runs both ends for real: ``OpenAIAdapter`` → openai SDK → HTTP on
127.0.0.1 → ``openai_wire`` → ``Emulator``. Both endpoints (chat completions
and responses) are covered in batch and realtime.
"""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from octo.runtime.emulator import synth
from octo.runtime.emulator.core import EmuError, Emulator
from octo.runtime.emulator import server as emulator_server
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.providers.base import ProviderError, Request, Usage
from octo.runtime.providers.openai import OpenAIAdapter, is_strict_compatible

ENDPOINTS = ["chat", "responses"]
MODEL = "gpt-5-mini"            # a reasoning model: the emulator adds reasoning tokens
SYSTEM = "You label harbour logbook entries. Answer with the requested JSON only, nothing else."
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["calm", "storm"]},
                   "wind": {"type": "integer", "minimum": 0, "maximum": 12},
                   "notes": {"type": "array", "items": {"type": "string"}}},
    "required": ["label", "wind", "notes"],
    "additionalProperties": False,
}


class Recorder:
    """A responder that lets the emulator synthesise answers but remembers what each request carried."""

    def __init__(self, fail_prompts: dict[str, EmuError] | None = None):
        self.requests = []
        self.fail_prompts = fail_prompts or {}

    def __call__(self, request, n):
        self.requests.append(request)
        if request.prompt in self.fail_prompts:
            raise self.fail_prompts[request.prompt]
        return None


class LongAnswers(Recorder):
    """Answers far longer than 16 tokens, so a request's max_tokens cuts them off."""

    def __call__(self, request, n):
        super().__call__(request, n)
        return '{"label": "calm", "notes": "' + "the harbour lay quiet under the lanterns " * 10 + '"}'


@pytest.fixture(scope="module")
def server():
    # One server for the module: stopping one waits out serve_forever's 0.5 s poll, too slow per test.
    # The handler writes headers and body separately, so Nagle + delayed ACK cost 40 ms a request;
    # until server.py sets this itself, set it here (and put it back).
    handler = emulator_server._Handler
    before = handler.disable_nagle_algorithm
    handler.disable_nagle_algorithm = True
    with EmulatorServer(Emulator()) as running:
        yield running
    handler.disable_nagle_algorithm = before


@pytest.fixture
def start(server):
    """start(faults=..., endpoint=..., key=...) → (adapter, emulator, recorder), on a fresh emulator."""

    def run(faults: str | None = None, endpoint: str = "chat", key: str = "sk-test-key-000",
            valid_keys: set[str] | None = None, recorder: Recorder | None = None, seed: int = 7):
        recorder = recorder or Recorder()
        emulator = Emulator(seed=seed, faults=faults, responder=recorder, valid_keys=valid_keys)
        emulator.url = server.url
        server.emulator = emulator  # the server answers each HTTP request from its current emulator
        adapter = OpenAIAdapter(key, base_url=f"{server.url}/v1", endpoint=endpoint)
        return adapter, emulator, recorder

    return run


def requests(n: int = 10, schema: dict | None = SCHEMA, **overrides) -> list[Request]:
    fields = {"model": MODEL, "system": SYSTEM, "schema": schema, **overrides}
    return [Request(custom_id=f"unit-{i:03d}", prompt=f"Entry {i}: the wind rose after noon.", **fields)
            for i in range(n)]


def run_batch(adapter: OpenAIAdapter, reqs: list[Request], key: str = "step-1") -> tuple[str, list]:
    """Submit, poll until ended (counting polls), return (batch id, statuses seen)."""
    batch_id = adapter.submit(key, reqs)
    statuses = [adapter.poll(batch_id)]
    while not statuses[-1].ended:
        assert len(statuses) < 20, "the batch never ended"
        statuses.append(adapter.poll(batch_id))
    return batch_id, statuses


def expected_usage(request: Request, text: str) -> Usage:
    emu = synth.EmuUsage.of("openai", request.model, request.system, request.prompt, request.schema, text,
                               max_tokens=request.max_tokens)
    return Usage(input=emu.input - emu.cached, cached_input=emu.cached, output=emu.output + emu.reasoning,
                 reasoning=emu.reasoning)


# --- batches ---------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_batch_answers_each_custom_id_with_schema_valid_json_and_mapped_usage(start, endpoint):
    adapter, emulator, recorder = start(endpoint=endpoint)
    reqs = requests(10)
    batch_id, statuses = run_batch(adapter, reqs)
    assert statuses[-1].state == "completed" and statuses[-1].failed is None
    assert statuses[-1].counts == {"total": 10, "completed": 10, "failed": 0}

    asked = [r.custom_id for r in reversed(reqs)]  # outcomes follow the order asked, not the file's
    outcomes = adapter.results(batch_id, asked)
    assert [o.custom_id for o in outcomes] == asked
    by_id = {r.custom_id: r for r in reqs}
    for outcome in outcomes:
        assert outcome.error is None
        jsonschema.validate(json.loads(outcome.text), SCHEMA)
        usage = expected_usage(by_id[outcome.custom_id], outcome.text)
        assert outcome.usage == usage
        assert usage.reasoning > 0  # a reasoning model thinks by default; cached input: tests/test_emulator_usage.py
    assert [r.schema for r in recorder.requests] == [SCHEMA] * 10
    assert {r.system for r in recorder.requests} == {SYSTEM}
    assert {r.custom_id for r in recorder.requests} == set(by_id)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_free_text_batch_sends_no_schema(start, endpoint):
    adapter, _, recorder = start(endpoint=endpoint)
    batch_id, _ = run_batch(adapter, requests(3, schema=None, model="gpt-4o-mini"))
    outcomes = adapter.results(batch_id, [f"unit-{i:03d}" for i in range(3)])
    assert all(o.error is None and o.text.startswith("[synthetic]") for o in outcomes)
    assert all(o.usage.reasoning == 0 for o in outcomes)
    assert [r.schema for r in recorder.requests] == [None] * 3


def test_find_lists_the_batch_back_by_key_across_pages(start):
    adapter, emulator, _ = start()
    ids = [adapter.submit(f"key-{i}", requests(1)) for i in range(3)]
    listed = [b.id for b in adapter.client.batches.list(limit=1)]
    assert listed == list(reversed(ids))  # newest first, one per page, has_more and after= honoured
    assert emulator.calls["openai.batches.list"] == 3
    assert adapter.find("key-0") == ids[0] and adapter.find("key-2") == ids[2]
    assert adapter.find("key-never-used") is None


def test_slow_batch_ends_after_the_given_number_of_polls(start):
    adapter, _, _ = start(faults="slow=3")
    _, statuses = run_batch(adapter, requests(2))
    assert [s.ended for s in statuses] == [False, False, True]
    assert statuses[0].state in ("validating", "in_progress")


def test_cancel_ends_the_batch_and_its_requests_come_back_retryable(start):
    adapter, _, recorder = start(faults="slow=5")
    batch_id = adapter.submit("k", requests(4))
    adapter.cancel(batch_id)
    status = adapter.poll(batch_id)
    assert status.ended and status.state == "cancelled" and status.failed
    outcomes = adapter.results(batch_id, [f"unit-{i:03d}" for i in range(4)])
    assert all(o.error and o.retryable and o.text is None for o in outcomes)
    assert recorder.requests == []  # nothing ran
    adapter.cancel(batch_id)  # cancelling an ended batch is harmless


def test_errored_lines_are_retryable_errors_and_the_rest_succeed(start):
    adapter, _, _ = start(faults="errored=0.3")
    batch_id, statuses = run_batch(adapter, requests(10))
    outcomes = adapter.results(batch_id, [f"unit-{i:03d}" for i in range(10)])
    failed = [o for o in outcomes if o.error]
    assert 0 < len(failed) < 10
    assert all(o.retryable and "HTTP 500" in o.error and o.text is None for o in failed)
    assert statuses[-1].counts["failed"] == len(failed)
    assert all(json.loads(o.text) for o in outcomes if not o.error)


def test_a_request_the_api_refuses_in_a_batch_is_not_retryable(start):
    bad = "Entry 3: the wind rose after noon."
    adapter, _, _ = start(recorder=Recorder({bad: EmuError(400, "Invalid 'messages': too long.")}))
    batch_id, _ = run_batch(adapter, requests(5))
    outcomes = {o.custom_id: o for o in adapter.results(batch_id, [f"unit-{i:03d}" for i in range(5)])}
    assert outcomes["unit-003"].error == "HTTP 400: Invalid 'messages': too long."
    assert outcomes["unit-003"].retryable is False
    assert all(outcomes[f"unit-{i:03d}"].error is None for i in (0, 1, 2, 4))


def test_malformed_and_invalid_answers_reach_the_caller_as_text(start):
    adapter, _, _ = start(faults="malformed=0.4,invalid=0.4")
    batch_id, _ = run_batch(adapter, requests(10))
    texts = [o.text for o in adapter.results(batch_id, [f"unit-{i:03d}" for i in range(10)])]

    def kind(text):
        try:
            jsonschema.validate(json.loads(text), SCHEMA)
            return "valid"
        except json.JSONDecodeError:
            return "malformed"
        except jsonschema.ValidationError:
            return "invalid"

    assert {"malformed", "invalid"} <= {kind(t) for t in texts}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_expired_batch_returns_the_half_that_ran_and_retryable_errors_for_the_rest(start, endpoint):
    adapter, _, _ = start(faults="expire=1", endpoint=endpoint)
    batch_id, statuses = run_batch(adapter, requests(10))
    assert statuses[-1].state == "expired" and "expired" in statuses[-1].failed
    outcomes = adapter.results(batch_id, [f"unit-{i:03d}" for i in range(10)])
    never_run = [o for o in outcomes if o.error]
    assert len(never_run) == 5 and all(o.retryable and "batch_expired" in o.error for o in never_run)
    assert all(o.text for o in outcomes if not o.error)


def test_failed_batch_says_so_when_polled(start):
    adapter, emulator, recorder = start(faults="fail=1")
    batch_id, statuses = run_batch(adapter, requests(3))
    assert statuses[-1].ended and statuses[-1].state == "failed"
    assert "injected fault" in statuses[-1].failed
    assert recorder.requests == []
    assert all(o.error and o.retryable for o in adapter.results(batch_id, ["unit-000", "unit-001", "unit-002"]))


def test_a_rate_limited_submission_succeeds_on_the_sdk_retry(start):
    adapter, emulator, _ = start(faults="submit_429=1")
    batch_id = adapter.submit("k", requests(2))
    assert batch_id.startswith("batch_")
    assert emulator.calls["openai.batches.create"] == 2


def test_polling_beyond_the_sdk_retries_is_a_transient_provider_error(start):
    adapter, _, _ = start(faults="poll_5xx=3")
    batch_id = adapter.submit("k", requests(1))
    with pytest.raises(ProviderError) as caught:
        adapter.poll(batch_id)
    assert caught.value.transient and "503" in caught.value.message


def test_submission_limits_and_request_bytes(start):
    adapter, _, _ = start()
    request = requests(1)[0]
    line = json.dumps(adapter.line(request), ensure_ascii=False, separators=(",", ":")).encode()
    assert adapter.request_bytes(request) == len(line) + 1  # the file's own bytes: tests/test_wire_limits.py
    assert (adapter.max_batch_requests, adapter.max_batch_bytes) == (50_000, 200_000_000)
    with pytest.raises(ValueError):
        adapter.submit("k", [])


# --- realtime --------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_realtime_call_returns_schema_valid_json_with_mapped_usage(start, endpoint):
    adapter, emulator, recorder = start(endpoint=endpoint)
    request = requests(1)[0]
    outcome = adapter.call(request)
    assert outcome.error is None and outcome.custom_id == request.custom_id
    jsonschema.validate(json.loads(outcome.text), SCHEMA)
    assert outcome.usage == expected_usage(request, outcome.text)
    assert recorder.requests[0].schema == SCHEMA and recorder.requests[0].system == SYSTEM
    route = "openai.chat.completions" if endpoint == "chat" else "openai.responses"
    assert emulator.calls == {route: 1}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_realtime_free_text(start, endpoint):
    adapter, _, recorder = start(endpoint=endpoint)
    outcome = adapter.call(Request("one", "gpt-4o-mini", "Describe the harbour."))
    assert outcome.error is None and outcome.text.startswith("[synthetic]")
    assert recorder.requests[0].schema is None and recorder.requests[0].system is None


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_truncated_answer_is_a_non_retryable_error_keeping_text_and_usage(start, endpoint):
    adapter, _, _ = start(endpoint=endpoint, recorder=LongAnswers())
    outcome = adapter.call(requests(1, max_tokens=16)[0])  # 16: the least the Responses API takes
    assert outcome.error and "max_tokens" in outcome.error and outcome.retryable is False
    assert outcome.text and outcome.usage.output > 0


def test_truncated_answer_in_a_batch(start):
    adapter, _, _ = start(endpoint="responses", recorder=LongAnswers())
    batch_id, _ = run_batch(adapter, requests(2, max_tokens=16))
    assert all("max_tokens" in o.error and not o.retryable for o in adapter.results(batch_id, ["unit-000", "unit-001"]))


def test_server_errors_beyond_the_sdk_retries_raise_a_transient_provider_error(start):
    adapter, emulator, _ = start(faults="call_5xx=3")
    with pytest.raises(ProviderError) as caught:
        adapter.call(requests(1)[0])
    assert caught.value.transient and "openai" in caught.value.message
    assert emulator.calls["openai.chat.completions"] == 3  # the first try and two SDK retries


def test_a_request_the_api_refuses_in_realtime_is_an_outcome_not_an_exception(start):
    adapter, _, _ = start(recorder=Recorder({"bad": EmuError(400, "Invalid 'max_completion_tokens'.")}))
    outcome = adapter.call(Request("r1", MODEL, "bad"))
    assert outcome.error == "HTTP 400: Invalid 'max_completion_tokens'." and outcome.retryable is False


def test_an_unknown_model_is_a_provider_error(start):
    adapter, _, _ = start(recorder=Recorder({"hi": EmuError(404, "The model `gpt-9` does not exist.")}))
    with pytest.raises(ProviderError) as caught:
        adapter.call(Request("r1", "gpt-9", "hi"))
    assert not caught.value.transient and "gpt-9" in caught.value.message


@pytest.mark.parametrize("action", ["call", "submit"])
def test_a_bad_key_names_the_env_var_and_never_the_key(start, action):
    key = "sk-wrong-secret-4242"
    adapter, _, _ = start(key=key, valid_keys={"good"})
    with pytest.raises(ProviderError) as caught:
        adapter.call(requests(1)[0]) if action == "call" else adapter.submit("k", requests(1))
    assert "OPENAI_API_KEY" in str(caught.value) and key not in str(caught.value)
    assert not caught.value.transient


def test_an_unreachable_server_is_a_transient_provider_error():
    adapter = OpenAIAdapter("sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(ProviderError) as caught:
        adapter.call(requests(1)[0])
    assert caught.value.transient


# --- request bodies --------------------------------------------------------------------------

def test_strict_mode_only_for_schemas_strict_mode_accepts():
    assert is_strict_compatible(SCHEMA)
    open_object = {**SCHEMA, "additionalProperties": True}
    optional_field = {**SCHEMA, "required": ["label"]}
    nested_open = {**SCHEMA, "properties": {**SCHEMA["properties"], "where": {"type": "object", "properties": {}}},
                   "required": [*SCHEMA["required"], "where"]}
    for schema in (open_object, optional_field, nested_open, {"type": "array", "items": SCHEMA}):
        assert not is_strict_compatible(schema)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_bodies_carry_the_schema_in_the_endpoints_json_schema_setting(start, endpoint):
    adapter, _, _ = start(endpoint=endpoint)
    lenient = {"type": "object", "properties": {"a": {"type": "string"}}}
    strict_body, lenient_body = (adapter.body(requests(1, schema=s)[0]) for s in (SCHEMA, lenient))
    if endpoint == "chat":
        formats = [b["response_format"]["json_schema"] for b in (strict_body, lenient_body)]
        assert strict_body["messages"][0] == {"role": "system", "content": SYSTEM}
    else:
        formats = [b["text"]["format"] for b in (strict_body, lenient_body)]
        assert strict_body["instructions"] == SYSTEM
    assert [(f["schema"], f["strict"]) for f in formats] == [(SCHEMA, True), (lenient, False)]


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="endpoint"):
        OpenAIAdapter("sk-x", endpoint="completions")
    with pytest.raises(ValueError, match="unknown"):
        OpenAIAdapter("sk-x", endpont="chat")


# --- the emulator's wire, checked by the SDK's own models -------------------------------------

def test_emulator_replies_validate_against_the_sdk_models(start):
    adapter, _, _ = start(faults="expire=1")
    strict = openai.OpenAI(api_key="k", base_url=str(adapter.client.base_url), max_retries=0,
                           _strict_response_validation=True)
    for endpoint in ENDPOINTS:  # realtime replies of both endpoints
        body = OpenAIAdapter("k", endpoint=endpoint).body(requests(1)[0])
        reply = (strict.chat.completions.create(**body) if endpoint == "chat" else strict.responses.create(**body))
        assert reply.usage.total_tokens > 0
    line = json.dumps(adapter.line(requests(1)[0])).encode()
    upload = strict.files.create(file=("in.jsonl", line), purpose="batch")
    batch = strict.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"octo_key": "x"})
    batch = strict.batches.retrieve(batch.id)
    assert batch.status == "expired" and batch.error_file_id and batch.metadata == {"octo_key": "x"}
    assert strict.files.retrieve(batch.error_file_id).purpose == "batch_output"
    assert [b.id for b in strict.batches.list()] == [batch.id]


def test_emulator_fails_a_batch_whose_input_lines_are_invalid(start):
    adapter, _, recorder = start()
    good = adapter.line(requests(1)[0])
    wrong_url = {**good, "custom_id": "other", "url": "/v1/embeddings"}
    data = "\n".join([json.dumps(good), "{not json", json.dumps(wrong_url), json.dumps(good)]).encode()
    upload = adapter.client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = adapter.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
    status = adapter.poll(batch.id)
    assert status.ended and status.state == "failed"
    assert [e.line for e in adapter.client.batches.retrieve(batch.id).errors.data] == [2, 3, 4]
    assert recorder.requests == []


def test_a_client_gone_mid_request_leaves_no_traceback(capfd):
    """A killed `octoc run` resets its connections; the emulator carries on without a word on stderr."""
    import socket
    import struct
    import time

    from octo.runtime.emulator.core import Emulator
    from octo.runtime.emulator.server import EmulatorServer

    server = EmulatorServer(Emulator(seed=0)).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
            s.close()
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as s:  # still serving
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.")
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err
