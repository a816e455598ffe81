"""The Anthropic adapter against the emulator's Anthropic wire, through the real ``anthropic`` SDK.

Every test starts an emulator on 127.0.0.1, points ``AnthropicAdapter`` at it and
checks what comes back — so the SDK's own request building, retries and parsing
are exercised, and the emulator's encoding is checked against the SDK that
reads it.
"""

from __future__ import annotations

import dataclasses
import json
import threading

import jsonschema
import pytest

from octo.runtime.emulator import synth
from octo.runtime.emulator import usage as emulator_usage
from octo.runtime.emulator.core import Emulator, EmuError
from octo.runtime.emulator import server as server_module
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import ProviderError, Request

MODEL = "claude-sonnet-5-5"
SYSTEM = "You rate harbour reports. Answer with the fields asked for, nothing else."
SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "summary": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["tide", "storm", "calm"]}},
    },
    "required": ["score", "summary", "tags"],
}


class Recorder:
    """A responder that lets the emulator synthesise answers and remembers every request it saw."""

    def __init__(self):
        self.requests = []

    def __call__(self, request, n):
        self.requests.append(request)
        return None


@pytest.fixture
def start(monkeypatch):
    """start(faults=..., seed=..., responder=..., valid_keys=...) → (emulator, adapter on it)."""
    # The handler writes headers and body separately; without TCP_NODELAY every reply waits ~40 ms
    # for a delayed ACK. (To drop once the server sets it itself.)
    monkeypatch.setattr(server_module._Handler, "disable_nagle_algorithm", True)
    servers = []

    def run(faults=None, seed=7, responder=None, valid_keys=None, key="test-key", **options):
        emu = Emulator(seed=seed, faults=faults, responder=responder, valid_keys=valid_keys)
        server = EmulatorServer(emu)
        # A short poll interval so stopping the server does not wait half a second per test.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return emu, AnthropicAdapter(key, base_url=server.url, **options)

    yield run
    for server in servers:
        server.stop()


def requests_for(n: int, schema=SCHEMA, model=MODEL, system=SYSTEM, max_tokens=1024) -> list[Request]:
    return [Request(f"att-{i:03d}", model, f"Report {i}: the tide came in early.", system=system, schema=schema,
                    max_tokens=max_tokens) for i in range(n)]


def run_to_end(adapter: AnthropicAdapter, batch_id: str, limit: int = 10):
    for _ in range(limit):
        status = adapter.poll(batch_id)
        if status.ended:
            return status
    raise AssertionError(f"batch {batch_id} did not end in {limit} polls")


def expected_usage(seen, text: str):
    """The emulator's usage rule for the request it saw (the schema as sent), mapped the Anthropic way (input
    billed uncached, reasoning inside output)."""
    usage = emulator_usage.of_request(seen, text)
    return usage.input - usage.cached, usage.cached, usage.output + usage.reasoning, usage.reasoning


# --- batches --------------------------------------------------------------------------------

def test_schema_batch_answers_every_request_with_valid_json_and_mapped_usage(start):
    recorder = Recorder()
    emu, adapter = start(responder=recorder)
    requests = requests_for(10)
    batch_id = adapter.submit("run1-b1", requests)
    status = run_to_end(adapter, batch_id)
    assert status.failed is None and status.counts["succeeded"] == 10
    outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
    assert [o.custom_id for o in outcomes] == [r.custom_id for r in requests]
    seen = {r.custom_id: r for r in recorder.requests}
    for request, outcome in zip(requests, outcomes):
        assert outcome.error is None
        jsonschema.validate(json.loads(outcome.text), SCHEMA)
        usage = outcome.usage
        assert (usage.input, usage.cached_input, usage.output, usage.reasoning) == \
            expected_usage(seen[request.custom_id], outcome.text)
        assert usage.cached_input == 0  # octo marks nothing for Anthropic's prompt cache (tests/test_emulator_usage.py)


def test_schema_reaches_the_emulator_with_constraints_the_sdk_moved_into_descriptions(start):
    recorder = Recorder()
    emu, adapter = start(responder=recorder)
    run_to_end(adapter, adapter.submit("k", requests_for(2)))
    schema = recorder.requests[0].schema
    assert schema["additionalProperties"] is False  # transform_schema made it API-acceptable
    assert schema["properties"]["score"]["minimum"] == 1 and schema["properties"]["score"]["maximum"] == 5
    assert set(schema["required"]) == {"score", "summary", "tags"}
    assert recorder.requests[0].system == SYSTEM and recorder.requests[0].prompt.startswith("Report 0")


def test_reasoning_tokens_are_billed_as_output_and_reported(start):
    emu, adapter = start()
    requests = [dataclasses.replace(r, thinking_budget=2048, max_tokens=4096)
                for r in requests_for(2, model="claude-sonnet-4-5")]  # thinking on: half the budget is billed
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    for request, outcome in zip(requests, adapter.results(batch_id, [r.custom_id for r in requests])):
        assert outcome.usage.reasoning == 1024
        assert outcome.usage.output == synth.tokens(outcome.text) + 1024


def test_free_text_requests_send_no_output_format(start):
    recorder = Recorder()
    emu, adapter = start(responder=recorder)
    requests = requests_for(3, schema=None, system=None)
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
    assert all(r.schema is None for r in recorder.requests)
    assert all(o.error is None and o.text.startswith("[synthetic]") for o in outcomes)
    assert all(o.usage.cached_input == 0 for o in outcomes)


def test_results_follow_the_callers_order_not_the_files(start):
    emu, adapter = start()
    requests = requests_for(4)
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    wanted = [requests[2].custom_id, requests[0].custom_id, "att-missing"]
    outcomes = adapter.results(batch_id, wanted)
    assert [o.custom_id for o in outcomes] == wanted
    assert outcomes[0].error is None and outcomes[1].error is None
    assert outcomes[2].error and outcomes[2].retryable


def test_slow_batch_needs_that_many_polls(start):
    emu, adapter = start(faults="slow=3")
    batch_id = adapter.submit("k", requests_for(2))
    states = [adapter.poll(batch_id) for _ in range(3)]
    assert [s.ended for s in states] == [False, False, True]
    assert states[0].state == "in_progress" and states[0].counts["processing"] == 2


def test_find_after_submit_in_the_same_process(start):
    emu, adapter = start()
    batch_id = adapter.submit("run1-b1", requests_for(2))
    assert adapter.find("run1-b1") == batch_id


def test_find_after_a_crash_recognises_the_batch_by_its_custom_ids(start):
    emu, adapter = start()
    mine, other = requests_for(3), [Request(f"other-{i}", MODEL, "x") for i in range(3)]
    other_id = adapter.submit("other", other)
    batch_id = adapter.submit("mine", mine)
    for bid in (other_id, batch_id):
        run_to_end(adapter, bid)
    fresh = AnthropicAdapter("test-key", base_url=emu.url)  # a new process knows nothing of its submissions
    ids = [r.custom_id for r in mine]
    assert fresh.find("mine", ids) == batch_id
    assert fresh.find("mine", ids, claimed={batch_id}) is None
    assert fresh.find("never-submitted", ["att-x", "att-y", "att-z"]) is None
    assert fresh.find("never-submitted", ["att-x"]) is None
    with pytest.raises(ProviderError, match="custom_ids"):
        fresh.find("mine")


def test_find_after_a_failed_submit_in_the_same_process_needs_no_custom_ids(start):
    emu, adapter = start(faults="submit_5xx=3")
    with pytest.raises(ProviderError) as caught:
        adapter.submit("lost", requests_for(2))
    assert caught.value.transient
    assert adapter.find("lost") is None  # looked for by the custom_ids it tried to send; none was created


def test_find_while_a_same_sized_batch_is_in_progress_asks_to_wait_until_it_ends(start):
    emu, adapter = start(faults="slow=3")
    mine = requests_for(3)
    batch_id = adapter.submit("mine", mine)
    fresh = AnthropicAdapter("test-key", base_url=emu.url)
    ids = [r.custom_id for r in mine]
    for _ in range(2):  # each look polls the candidate once; the emulator ends it on the third poll
        with pytest.raises(ProviderError) as caught:
            fresh.find("mine", ids)
        assert caught.value.transient and "ended" in caught.value.message
    assert fresh.find("mine", ids) == batch_id
    assert fresh.find("mine", ["a", "b"]) is None  # a different size cannot be ours


def test_cancel_ends_the_batch_with_nothing_run(start):
    emu, adapter = start(faults="slow=5")
    requests = requests_for(3)
    batch_id = adapter.submit("k", requests)
    adapter.cancel(batch_id)
    status = run_to_end(adapter, batch_id)
    assert status.state == "ended" and status.counts["canceled"] == 3
    assert status.failed and "cancelled" in status.failed
    outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
    assert all(o.error and "cancelled" in o.error and o.retryable for o in outcomes)
    assert not [entry for entry in emu.log if entry[1] == "batch"]  # nothing was run


# --- faults ---------------------------------------------------------------------------------

def test_errored_lines_are_retryable_errors_and_the_rest_succeed(start):
    emu, adapter = start(faults="errored=0.3", seed=3)
    requests = requests_for(20)
    batch_id = adapter.submit("k", requests)
    status = run_to_end(adapter, batch_id)
    outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
    errored = [o for o in outcomes if o.error]
    assert 0 < len(errored) < 20 and status.counts["errored"] == len(errored)
    assert all(o.retryable and "api_error" in o.error and o.text is None for o in errored)
    assert all(json.loads(o.text) for o in outcomes if not o.error)


def test_invalid_request_errors_in_a_batch_are_not_retryable(start):
    def refuse_odd(request, n):
        if request.prompt.startswith(("Report 1", "Report 3")):
            raise EmuError(400, "messages.0.content: too long")
        return None

    emu, adapter = start(responder=refuse_odd)
    requests = requests_for(4)
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
    assert [bool(o.error) for o in outcomes] == [False, True, False, True]
    assert not outcomes[1].retryable and "invalid_request_error" in outcomes[1].error


def test_malformed_answers_fail_json_parsing(start):
    emu, adapter = start(faults="malformed=1")
    requests = requests_for(4)
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    for outcome in adapter.results(batch_id, [r.custom_id for r in requests]):
        assert outcome.error is None
        with pytest.raises(json.JSONDecodeError):
            json.loads(outcome.text)


def test_invalid_answers_parse_but_violate_the_schema(start):
    emu, adapter = start(faults="invalid=1")
    requests = requests_for(4)
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    for outcome in adapter.results(batch_id, [r.custom_id for r in requests]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(outcome.text), SCHEMA)


def test_expired_batch_runs_half_and_the_rest_are_never_run_errors(start):
    emu, adapter = start(faults="expire=1")
    requests = requests_for(10)
    batch_id = adapter.submit("k", requests)
    status = run_to_end(adapter, batch_id)
    assert status.failed is None and status.counts["expired"] == 5 and status.counts["succeeded"] == 5
    outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
    never_run = [o for o in outcomes if o.error]
    assert len(never_run) == 5 and all("expired" in o.error and o.retryable for o in never_run)


def test_failed_batch_is_reported_failed_by_poll(start):
    emu, adapter = start(faults="fail=1")
    requests = requests_for(4)
    batch_id = adapter.submit("k", requests)
    status = run_to_end(adapter, batch_id)
    assert status.ended and status.failed and "without running any request" in status.failed
    assert all(o.error and o.retryable for o in adapter.results(batch_id, [r.custom_id for r in requests]))


def test_submit_429_is_retried_by_the_sdk(start):
    emu, adapter = start(faults="submit_429=1")
    batch_id = adapter.submit("k", requests_for(2))
    assert batch_id in emu.batches
    assert emu.calls["anthropic.batches.create"] == 2


def test_poll_503_is_retried_by_the_sdk(start):
    emu, adapter = start(faults="poll_5xx=2")
    batch_id = adapter.submit("k", requests_for(2))
    assert adapter.poll(batch_id).ended
    assert emu.calls["anthropic.batches.retrieve"] == 3


# --- realtime -------------------------------------------------------------------------------

def test_call_answers_with_valid_json_and_usage(start):
    recorder = Recorder()
    emu, adapter = start(responder=recorder)
    request = requests_for(1)[0]
    outcome = adapter.call(request)
    assert outcome.error is None and outcome.custom_id == request.custom_id
    jsonschema.validate(json.loads(outcome.text), SCHEMA)
    usage = outcome.usage
    assert (usage.input, usage.cached_input, usage.output, usage.reasoning) == \
        expected_usage(recorder.requests[0], outcome.text)
    assert recorder.requests[0].schema["properties"]["score"]["maximum"] == 5
    assert emu.log == [("anthropic", "realtime", None)]


def test_call_with_max_tokens_beyond_the_non_streaming_limit_streams(start):
    emu, adapter = start()
    # The SDK refuses this non-streaming (it expects it to run past 10 minutes); the adapter streams it.
    outcome = adapter.call(Request("att-big", MODEL, "Write at length.", system=SYSTEM, max_tokens=40_000))
    assert outcome.error is None and outcome.text.startswith("[synthetic]")
    assert outcome.usage.cached_input == 0  # nothing marked for the prompt cache
    assert outcome.usage.output == synth.tokens(outcome.text)


def test_call_5xx_beyond_retries_raises_a_transient_provider_error(start):
    emu, adapter = start(faults="call_5xx=3")
    with pytest.raises(ProviderError) as caught:
        adapter.call(requests_for(1)[0])
    assert caught.value.transient and "anthropic" in caught.value.message
    assert emu.calls["anthropic.messages.create"] == 3  # the first try and the SDK's two retries


def test_call_429_within_retries_succeeds(start):
    emu, adapter = start(faults="call_429=2")
    assert adapter.call(requests_for(1)[0]).error is None


def test_call_refused_request_is_an_outcome_not_an_exception(start):
    def refuse(request, n):
        raise EmuError(400, "output_config.format.schema: unsupported keyword")

    emu, adapter = start(responder=refuse)
    outcome = adapter.call(requests_for(1)[0])
    assert outcome.error and "unsupported keyword" in outcome.error and not outcome.retryable


def test_unknown_model_raises_a_permanent_provider_error(start):
    def no_such_model(request, n):
        raise EmuError(404, f"model: {request.model}")

    emu, adapter = start(responder=no_such_model)
    with pytest.raises(ProviderError) as caught:
        adapter.call(requests_for(1)[0])
    assert not caught.value.transient and caught.value.kind == "model" and "model" in caught.value.message


def test_polling_an_unknown_batch_says_not_found(start):
    emu, adapter = start()
    with pytest.raises(ProviderError) as caught:
        adapter.poll("msgbatch_nope")
    assert caught.value.kind == "not_found" and not caught.value.transient


def test_bad_key_names_the_env_var_and_never_the_key(start):
    secret = "sk-ant-wrong-key-0123456789"
    emu, adapter = start(valid_keys={"good"}, key=secret)
    for attempt in (lambda: adapter.call(requests_for(1)[0]), lambda: adapter.submit("k", requests_for(1))):
        with pytest.raises(ProviderError) as caught:
            attempt()
        assert "ANTHROPIC_API_KEY" in caught.value.message and secret not in str(caught.value)
        assert not caught.value.transient and caught.value.kind == "auth"


def test_connection_refused_is_transient(start):
    emu, adapter = start()
    dead = AnthropicAdapter("test-key", base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(ProviderError) as caught:
        dead.call(requests_for(1)[0])
    assert caught.value.transient


def test_truncated_answers_keep_their_text_and_say_why(start):
    emu, adapter = start()
    requests = requests_for(2, max_tokens=3)
    realtime = adapter.call(requests[0])
    batch_id = adapter.submit("k", requests)
    run_to_end(adapter, batch_id)
    batched = adapter.results(batch_id, [r.custom_id for r in requests])
    for outcome in (realtime, *batched):
        assert outcome.error and "max_tokens" in outcome.error and not outcome.retryable
        assert outcome.text and len(outcome.text) <= 12
        assert outcome.usage.output == synth.tokens(outcome.text)


# --- the wire itself ------------------------------------------------------------------------

def test_request_bytes_is_the_size_of_the_batch_line(start):
    emu, adapter = start()
    request = requests_for(1)[0]
    line = json.dumps({"custom_id": request.custom_id, "params": adapter.params(request)}, separators=(",", ":"))
    assert adapter.request_bytes(request) == len(line) + 1  # and its comma: the body, in tests/test_wire_limits.py


def test_list_pages_newest_first_and_delete_needs_an_ended_batch(start):
    import anthropic

    emu, adapter = start(faults="slow=2")
    ids = [adapter.submit(f"k{i}", requests_for(1)) for i in range(5)]
    client = anthropic.Anthropic(api_key="test-key", base_url=emu.url, max_retries=0)
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # iterating follows the pages
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(ids[0])
    run_to_end(adapter, ids[0])
    assert client.messages.batches.delete(ids[0]).type == "message_batch_deleted"
    assert ids[0] not in emu.batches


def test_x_api_key_header_is_accepted(start):
    import urllib.request

    emu, adapter = start(valid_keys={"good"})
    body = json.dumps({"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}).encode()
    call = urllib.request.Request(emu.url + "/v1/messages", body, method="POST",
                                  headers={"x-api-key": "good", "anthropic-version": "2023-06-01",
                                           "content-type": "application/json"})
    with urllib.request.urlopen(call) as reply:
        message = json.loads(reply.read())
    assert message["type"] == "message" and message["content"][0]["type"] == "text"
    assert set(message["usage"]) >= {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                     "cache_creation_input_tokens"}
