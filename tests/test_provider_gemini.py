"""The Gemini adapter driving the real google-genai SDK against the emulator's Gemini wire."""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest

from octo.runtime.emulator import synth
from octo.runtime.emulator.core import Emulator, EmuError
from octo.runtime.emulator.server import EmulatorServer, _Handler
from octo.runtime.providers.base import ProviderError, Request
from octo.runtime.providers.gemini import GeminiAdapter

MODEL = "gemini-2.5-flash"          # a thinking model: the emulator bills reasoning tokens
PLAIN_MODEL = "gemini-2.0-flash"    # no thinking tokens
SYSTEM = "You are a careful annotator of harbour logbooks. Answer in the requested shape."
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "score": {"type": "integer", "minimum": 0, "maximum": 10}},
    "required": ["label", "score"],
    "additionalProperties": False,
}
KEY = "good-key-1234"


class _PromptHandler(_Handler):
    # Headers and body go out in separate writes; with Nagle on, the client's delayed ACK
    # adds ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True


@pytest.fixture
def gemini():
    """Start an emulator and build an adapter on it: ``gemini(**emulator_options, inline_limit_bytes=…)``."""
    servers = []

    def start(seed: int = 7, faults: str | None = None, responder=None, valid_keys=None, api_key: str = KEY,
              **adapter_options):
        emulator = Emulator(seed=seed, faults=faults, responder=responder, valid_keys=valid_keys)
        server = EmulatorServer(emulator)
        server.RequestHandlerClass = _PromptHandler
        # serve_forever's default 0.5 s poll would make every teardown wait that long
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        adapter = GeminiAdapter(api_key, server.url, retry_delay=0.001, **adapter_options)
        return adapter, emulator

    yield start
    for server in servers:
        server.stop()


def recording(seen: list):
    """A responder that records each request the emulator decoded, then lets it synthesise."""
    def responder(request, n):
        seen.append(request)
        return None
    return responder


def requests(n: int = 10, schema: dict | None = SCHEMA, model: str = MODEL, system: str | None = SYSTEM,
             max_tokens: int = 1024) -> list[Request]:
    return [Request(f"req-{i}", model, f"Classify logbook entry {i}: fog at dawn, {i} ships.", system=system,
                    schema=schema, max_tokens=max_tokens) for i in range(n)]


def run_batch(adapter: GeminiAdapter, batch: list[Request], key: str = "run1-step1-b0", max_polls: int = 10):
    batch_id = adapter.submit(key, batch)
    for _ in range(max_polls):
        status = adapter.poll(batch_id)
        if status.ended:
            return batch_id, status, adapter.results(batch_id, [r.custom_id for r in batch])
    raise AssertionError("the batch never ended")


def expected_usage(request: Request, text: str):
    usage = synth.EmuUsage.of("gemini", request.model, request.system, request.prompt, request.schema, text,
                               max_tokens=request.max_tokens)
    return (usage.input - usage.cached, usage.cached, usage.output + usage.reasoning, usage.reasoning)


def as_tuple(usage):
    return (usage.input, usage.cached_input, usage.output, usage.reasoning)


def never_run(outcome) -> bool:
    return outcome.error is not None and "before this request ran" in outcome.error and outcome.retryable


@pytest.mark.parametrize("inline_limit", [20_000_000, 1], ids=["inline", "file"])
def test_structured_batch_round_trip(gemini, inline_limit):
    seen = []
    adapter, emulator = gemini(responder=recording(seen), inline_limit_bytes=inline_limit)
    batch = requests()
    batch_id, status, outcomes = run_batch(adapter, batch)

    assert status.state == "JOB_STATE_SUCCEEDED" and status.failed is None
    assert [o.custom_id for o in outcomes] == [r.custom_id for r in batch]
    for request, outcome in zip(batch, outcomes):
        assert outcome.error is None
        jsonschema.validate(json.loads(outcome.text), SCHEMA)
        assert as_tuple(outcome.usage) == expected_usage(request, outcome.text)
        assert outcome.usage.reasoning > 0  # a reasoning model thinks by default; cached input: tests/test_emulator_usage.py
    assert [r.schema for r in seen] == [SCHEMA] * len(batch)
    assert {r.system for r in seen} == {SYSTEM}
    assert sorted(r.prompt for r in seen) == sorted(r.prompt for r in batch)
    uploads = emulator.calls.get("gemini.file_upload", 0)
    assert uploads == (2 if inline_limit == 1 else 0)  # file mode: resumable start + upload/finalize
    if inline_limit == 1:
        assert emulator.calls["gemini.file_download"] == 1
        assert sorted(r.custom_id for r in seen) == sorted(r.custom_id for r in batch)


def test_free_text_batch_has_no_schema_and_no_thinking(gemini):
    seen = []
    adapter, _ = gemini(responder=recording(seen))
    batch = requests(3, schema=None, model=PLAIN_MODEL, system=None)
    _, _, outcomes = run_batch(adapter, batch)
    assert all(r.schema is None for r in seen)
    for request, outcome in zip(batch, outcomes):
        assert outcome.text.startswith("[synthetic]")
        assert as_tuple(outcome.usage) == expected_usage(request, outcome.text)
        assert outcome.usage.reasoning == 0 and outcome.usage.cached_input == 0


def test_find_lists_the_batch_back_by_its_key(gemini):
    adapter, _ = gemini()
    batch_id = adapter.submit("run7-classify-b3", requests(2))
    assert adapter.find("run7-classify-b3") == batch_id
    assert adapter.find("run7-classify-b4") is None


def test_list_pages_through_every_batch(gemini):
    adapter, _ = gemini()
    ids = [adapter.submit(f"key-{i}", requests(1)) for i in range(3)]
    listed = [job.name for job in adapter._client.batches.list(config={"page_size": 2})]
    assert sorted(listed) == sorted(ids)


def test_slow_batch_needs_that_many_polls(gemini):
    adapter, _ = gemini(faults="slow=3")
    batch_id = adapter.submit("slow", requests(2))
    states = [adapter.poll(batch_id) for _ in range(3)]
    assert [s.ended for s in states] == [False, False, True]
    assert states[0].state == "JOB_STATE_RUNNING"
    assert states[-1].counts == {"succeeded": 2, "errored": 0}


def test_cancelled_batch_ends_with_nothing_run(gemini):
    adapter, emulator = gemini(faults="slow=5")
    batch = requests(4)
    batch_id = adapter.submit("to-cancel", batch)
    adapter.cancel(batch_id)
    status = adapter.poll(batch_id)
    assert status.ended and status.state == "JOB_STATE_CANCELLED" and "cancelled" in status.failed
    outcomes = adapter.results(batch_id, [r.custom_id for r in batch])
    assert all(never_run(o) for o in outcomes)
    assert not any(how == "batch" for _, how, _ in emulator.log)


def test_errored_requests_come_back_as_retryable_errors(gemini):
    adapter, _ = gemini(seed=3, faults="errored=0.3")
    _, status, outcomes = run_batch(adapter, requests(10))
    errors = [o for o in outcomes if o.error is not None]
    assert 0 < len(errors) < 10
    assert all(o.retryable and "code 13" in o.error for o in errors)
    assert status.counts == {"succeeded": 10 - len(errors), "errored": len(errors)}


def test_requests_refused_by_the_model_are_not_retryable(gemini):
    def refuse_odd(request, n):
        if request.prompt.split(":")[0].endswith(("1", "3")):
            raise EmuError(400, "Request contains an invalid argument.")
        return None

    adapter, _ = gemini(responder=refuse_odd)
    _, _, outcomes = run_batch(adapter, requests(4))
    assert [o.error is None for o in outcomes] == [True, False, True, False]
    assert not outcomes[1].retryable and "invalid argument" in outcomes[1].error


def test_malformed_and_invalid_answers_reach_the_caller_as_text(gemini):
    adapter, _ = gemini(seed=11, faults="malformed=0.5,invalid=0.5")
    _, _, outcomes = run_batch(adapter, requests(10))
    unparsable, violating = 0, 0
    for outcome in outcomes:
        assert outcome.error is None
        try:
            value = json.loads(outcome.text)
        except json.JSONDecodeError:
            unparsable += 1
            continue
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, SCHEMA)
        violating += 1
    assert unparsable > 0 and violating > 0


@pytest.mark.parametrize("inline_limit", [20_000_000, 1], ids=["inline", "file"])
def test_expired_batch_leaves_half_never_run(gemini, inline_limit):
    adapter, _ = gemini(faults="expire=1", inline_limit_bytes=inline_limit)
    batch = requests(10)
    _, status, outcomes = run_batch(adapter, batch)
    assert status.state == "JOB_STATE_EXPIRED" and "expired" in status.failed
    assert [never_run(o) for o in outcomes] == [False] * 5 + [True] * 5
    assert all(json.loads(o.text) for o in outcomes[:5])


def test_failed_batch_is_reported_by_poll(gemini):
    adapter, _ = gemini(faults="fail=1")
    batch = requests(3)
    _, status, outcomes = run_batch(adapter, batch)
    assert status.state == "JOB_STATE_FAILED" and "failed" in status.failed
    assert all(never_run(o) for o in outcomes)


def test_submit_rate_limit_is_retried_by_the_sdk(gemini):
    adapter, emulator = gemini(faults="submit_429=1")
    batch_id = adapter.submit("retry-me", requests(2))
    assert batch_id.startswith("batches/")
    assert emulator.calls["gemini.batch_create"] == 2


def test_poll_outage_beyond_retries_is_transient(gemini):
    adapter, emulator = gemini(faults="poll_5xx=3")
    batch_id = adapter.submit("outage", requests(1))
    with pytest.raises(ProviderError) as raised:
        adapter.poll(batch_id)
    assert raised.value.transient
    assert adapter.poll(batch_id).ended  # the fourth GET gets through


def test_realtime_call_with_schema(gemini):
    seen = []
    adapter, emulator = gemini(responder=recording(seen))
    request = requests(1)[0]
    outcome = adapter.call(request)
    assert outcome.error is None and outcome.custom_id == request.custom_id
    jsonschema.validate(json.loads(outcome.text), SCHEMA)
    assert as_tuple(outcome.usage) == expected_usage(request, outcome.text)
    assert seen[0].schema == SCHEMA and seen[0].system == SYSTEM
    assert emulator.log == [("gemini", "realtime", None)]


def test_realtime_rate_limit_is_retried(gemini):
    adapter, emulator = gemini(faults="call_429=2")
    assert adapter.call(requests(1)[0]).error is None
    assert emulator.calls["gemini.generate"] == 3


def test_realtime_outage_beyond_retries_raises_transient(gemini):
    adapter, emulator = gemini(faults="call_5xx=5")
    with pytest.raises(ProviderError) as raised:
        adapter.call(requests(1)[0])
    assert raised.value.transient and "503" in raised.value.message
    assert emulator.calls["gemini.generate"] == 3  # retry_attempts=3


def test_realtime_refused_request_is_an_outcome(gemini):
    def refuse(request, n):
        raise EmuError(400, "Request contains an invalid argument.")

    adapter, _ = gemini(responder=refuse)
    outcome = adapter.call(requests(1)[0])
    assert outcome.text is None and not outcome.retryable and "invalid argument" in outcome.error


def test_bad_key_names_the_env_var_and_hides_the_key(gemini):
    secret = "AIzaWrongKey-0123456789"
    adapter, _ = gemini(valid_keys={KEY}, api_key=secret)
    for attempt in (lambda: adapter.call(requests(1)[0]), lambda: adapter.submit("k", requests(1))):
        with pytest.raises(ProviderError) as raised:
            attempt()
        assert "GEMINI_API_KEY" in raised.value.message and secret not in str(raised.value)
        assert not raised.value.transient


def test_unknown_model_is_a_provider_error(gemini):
    adapter, _ = gemini()
    with pytest.raises(ProviderError) as raised:
        adapter.call(requests(1, model="gpt-4o")[0])
    assert "not found" in raised.value.message and not raised.value.transient


def test_unreachable_endpoint_is_transient():
    adapter = GeminiAdapter(KEY, "http://127.0.0.1:9", retry_attempts=1, retry_delay=0.001)
    with pytest.raises(ProviderError) as raised:
        adapter.poll("batches/b000001")
    assert raised.value.transient and "cannot reach" in raised.value.message


def test_truncated_answer_is_flagged(gemini):
    adapter, _ = gemini()
    _, _, outcomes = run_batch(adapter, requests(2, schema=None, max_tokens=2))
    realtime = adapter.call(requests(1, schema=None, max_tokens=2)[0])
    for outcome in outcomes + [realtime]:
        assert "MAX_TOKENS" in outcome.error and not outcome.retryable
        assert outcome.text and synth.tokens(outcome.text) <= 2


def test_request_bytes_is_the_jsonl_line(gemini):
    adapter, _ = gemini()
    small, large = Request("r", MODEL, "x"), Request("r", MODEL, "x" * 5000)
    assert adapter.request_bytes(large) - adapter.request_bytes(small) == 4999
    line = adapter._line(requests(1)[0])
    assert adapter.request_bytes(requests(1)[0]) == len(line)
    assert json.loads(line)["request"]["generationConfig"]["responseJsonSchema"] == SCHEMA


def test_wire_accepts_api_version_v1_for_realtime(gemini):
    from google import genai
    from google.genai import types

    _, emulator = gemini()
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=emulator.url, api_version="v1"))
    response = client.models.generate_content(model=PLAIN_MODEL, contents="hello")
    assert response.text.startswith("[synthetic]")
    assert response.usage_metadata.prompt_token_count == synth.tokens("hello") + 6  # one message, reply priming

