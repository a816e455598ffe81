"""The Anthropic wire format of the emulator: the Messages API and Message Batches, as the SDK speaks them.

Owns decoding ``POST /v1/messages`` and ``POST /v1/messages/batches`` bodies into
``EmuRequest``s and encoding answers the way api.anthropic.com does, so the real
``anthropic`` SDK parses them:

- realtime ``POST /v1/messages`` answers a ``message`` object, or (with
  ``"stream": true``) the same message as server-sent events;
- batches: create, retrieve (each retrieve is one poll and advances the batch),
  list (newest first, ``limit`` / ``after_id`` / ``before_id``), cancel, delete,
  and the results JSONL at the batch's **absolute** ``results_url``, which points
  back at this emulator;
- errors in Anthropic's shape ``{"type": "error", "error": {"type", "message"}}``;
- the limits of the real API: a batch's ``custom_id`` must match
  ``^[a-zA-Z0-9_-]{1,64}$`` and be unique (400 ``invalid_request_error``), a batch
  holds at most ``Limits.anthropic_batch_requests`` requests (400) and its body
  ``anthropic_batch_bytes`` bytes (413 ``request_too_large``), a message body
  ``anthropic_message_bytes`` (413).

Batch fates map onto what Anthropic can report, since it has no batch-level
failure: ``expired`` → half the results are ``expired``; ``failed`` (nothing run)
→ every result is ``expired`` (a batch the service never got to within its
window); ``cancelled`` → every unrun result is ``canceled``.

Structured output arrives as ``output_config.format.schema``. The SDK's
``transform_schema`` moves keywords the API does not enforce (``minimum``,
``maxLength``, …) into the description as ``{minimum: 1, maximum: 10}``; the
emulator reads them back so its answers honour them, as a model reading the
hint would. A schema that still carries one of them (sent without the transform)
is refused as the API refuses it (``schema_limits``): a 400 for a realtime call,
an errored result in a batch (the refused request fails alone; the others are
answered).
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone

from . import capacity, synth
from . import param_rules
from .schema_limits import anthropic_refusal, restore_hints as _restore_hints
from .core import EmuAnswer, EmuBatch, Emulator, EmuRequest
from .server import HttpCall, HttpReply, Route

PROVIDER = "anthropic"
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # the batch create reference's pattern for custom_id
BATCH_WINDOW = timedelta(hours=24)

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                403: "permission_error", 404: "not_found_error", 408: "timeout_error",
                413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error",
                504: "timeout_error", 529: "overloaded_error"}


def key_of(call: HttpCall) -> str | None:
    """The SDK sends ``Authorization: Bearer``; curl users and older SDKs send ``x-api-key``."""
    if call.headers.get("x-api-key"):
        return call.headers["x-api-key"]
    scheme, _, token = call.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str) -> dict:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def error_reply(status: int, message: str) -> HttpReply:
    return HttpReply(status, error_body(status, message))


# --- decoding -------------------------------------------------------------------------------

def _text_of(content) -> str:
    """A message's or system prompt's text: a string, or the text blocks of a block list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TypeError("content must be a string or a list of content blocks")
    return "".join(block["text"] for block in content if isinstance(block, dict) and block.get("type") == "text")


def _settings(params: dict) -> dict:
    """What a request carried of sampling and reasoning (``thinking`` and ``output_config.effort`` as sent)."""
    return param_rules.received([(k, params.get(k)) for k in ("temperature", "top_p", "top_k", "thinking")]
                                + [("effort", (params.get("output_config") or {}).get("effort"))])


def _cache_marked(system) -> bool:
    """Does the system prompt mark a prefix for prompt caching (a block with ``cache_control``)?"""
    return isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system)


def _schema_of(params: dict) -> dict | None:
    """The schema as sent (``transform_schema``'s output, when the client used it)."""
    fmt = (params.get("output_config") or {}).get("format")
    if not fmt:
        return None
    if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise ValueError("output_config.format must be {\"type\": \"json_schema\", \"schema\": {...}}")
    return fmt["schema"]


def decode(params: dict, custom_id: str | None = None) -> EmuRequest:
    """One Messages API request body (or a batch request's ``params``) as an ``EmuRequest``, its answer
    bounded by the model's context window (param_rules.anthropic_window)."""
    request = _decode_params(params, custom_id)
    room, too_long = param_rules.anthropic_window(request.model, synth.tokens(request.system) +
                                                  synth.tokens(request.prompt), request.max_tokens)
    if room >= request.max_tokens:
        return request
    return dataclasses.replace(request, max_tokens=max(room, 1), refusal=request.refusal or too_long,
                               settings={**request.settings, "context_window_cut": True})


def _decode_params(params: dict, custom_id: str | None = None) -> EmuRequest:
    max_tokens = params["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError("max_tokens: must be a positive integer")
    user_turns = [m for m in params["messages"] if m.get("role") == "user"]
    if not user_turns:
        raise ValueError("messages: at least one user message is required")
    system = params.get("system")
    schema = _schema_of(params)
    # A schema with a keyword the API refuses fails this request alone (in a batch, in its result).
    return EmuRequest(provider=PROVIDER, model=str(params["model"]),
                      prompt="\n\n".join(_text_of(m["content"]) for m in user_turns),
                      system=_text_of(system) if system else None,
                      schema=_restore_hints(schema) if schema is not None else None,
                      max_tokens=max_tokens, custom_id=custom_id,
                      refusal=param_rules.anthropic_param_refusal(params) or anthropic_refusal(schema),
                      settings=_settings(params),
                      cache_marked=_cache_marked(system))


# --- encoding -------------------------------------------------------------------------------

def _stamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def usage_json(usage: synth.EmuUsage) -> dict:
    body = {"input_tokens": usage.input - usage.cached, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage.cached, "output_tokens": usage.output + usage.reasoning,
            "service_tier": "standard"}
    if usage.reasoning:
        body["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return body


def message_json(emu: Emulator, request: EmuRequest, answer: EmuAnswer) -> dict:
    return {"id": emu.new_id("msg_emu"), "type": "message", "role": "assistant", "model": request.model,
            "content": [{"type": "text", "text": answer.text}],
            "stop_reason": _stop_reason(request, answer), "stop_sequence": None,
            "usage": usage_json(answer.usage)}


def _stop_reason(request: EmuRequest, answer: EmuAnswer) -> str:
    """Cut off by the context window (decode), by max_tokens, or ended."""
    if not answer.truncated:
        return "end_turn"
    return "model_context_window_exceeded" if request.settings.get("context_window_cut") else "max_tokens"


def _sse(message: dict) -> str:
    """The message as the event stream ``"stream": true`` asks for: start, one text block, delta, stop."""
    opening = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events = [
        ("message_start", {"type": "message_start", "message": opening}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": message["content"][0]["text"]}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                           "usage": message["usage"]}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def _counts(batch: EmuBatch) -> dict:
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if batch.status != "ended":
        counts["processing"] = len(batch.requests)
        return counts
    for answer in batch.answers:
        counts[_result_type(batch, answer)] += 1
    return counts


def _result_type(batch: EmuBatch, answer: EmuAnswer | None) -> str:
    if answer is None:
        return "canceled" if batch.fate == "cancelled" else "expired"
    return "errored" if answer.error else "succeeded"


def batch_json(emu: Emulator, batch: EmuBatch) -> dict:
    ended = batch.status == "ended"
    cancel_at = batch.extra.get("cancel_initiated_at")
    canceling = cancel_at is not None and not batch.extra.get("cancel_seen")
    return {
        "id": batch.id, "type": "message_batch",
        # A cancel is reported as "canceling" once, as the real API does before it ends the batch.
        "processing_status": "canceling" if canceling else ("ended" if ended else "in_progress"),
        "request_counts": _counts(batch) if not canceling else
        {"processing": len(batch.requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": _stamp(batch.created), "expires_at": _stamp(batch.created + BATCH_WINDOW.total_seconds()),
        "ended_at": _stamp(batch.ended_at) if ended and not canceling else None,
        "cancel_initiated_at": _stamp(cancel_at), "archived_at": None,
        "results_url": f"{emu.url}/v1/messages/batches/{batch.id}/results" if ended and not canceling else None,
    }


def _result_line(emu: Emulator, batch: EmuBatch, request: EmuRequest, answer: EmuAnswer | None) -> dict:
    kind = _result_type(batch, answer)
    if kind == "succeeded":
        result = {"type": "succeeded", "message": message_json(emu, request, answer)}
    elif kind == "errored":
        result = {"type": "errored", "error": {**error_body(answer.error.status, answer.error.message),
                                               "request_id": emu.new_id("req_emu")}}
    else:
        result = {"type": kind}
    return {"custom_id": request.custom_id, "result": result}


# --- handlers -------------------------------------------------------------------------------

def _batch(emu: Emulator, call: HttpCall) -> EmuBatch | None:
    batch = emu.batches.get(call.params["batch_id"])
    return batch if batch is not None and batch.provider == PROVIDER else None


def _not_found(call: HttpCall) -> HttpReply:
    return error_reply(404, f"No message batch with id '{call.params['batch_id']}'.")


def create_message(emu: Emulator, call: HttpCall) -> HttpReply:
    if len(call.body) > emu.limits.anthropic_message_bytes:
        return _too_large()
    body = call.json()
    request = decode(body)
    answer = emu.answer(request, "realtime")
    if answer.error:
        return error_reply(answer.error.status, answer.error.message)
    message = message_json(emu, request, answer)
    if body.get("stream"):
        return HttpReply(200, _sse(message), content_type="text/event-stream")
    return HttpReply(200, message)


def create_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    if len(call.body) > emu.limits.anthropic_batch_bytes:  # the body as sent, before anything is read
        return _too_large()
    entries = call.json()["requests"]
    if not isinstance(entries, list) or not entries:
        raise ValueError("requests: must be a non-empty list")
    if len(entries) > emu.limits.anthropic_batch_requests:
        raise ValueError(f"requests: a Message Batch holds at most {emu.limits.anthropic_batch_requests} "
                         f"requests, not {len(entries)}")
    custom_ids = [entry["custom_id"] for entry in entries]
    for i, custom_id in enumerate(custom_ids):
        if not isinstance(custom_id, str) or not _CUSTOM_ID.fullmatch(custom_id):
            raise ValueError(f"requests.{i}.custom_id: String should match pattern '{_CUSTOM_ID.pattern}'")
    if len(set(custom_ids)) != len(custom_ids):
        raise ValueError("requests: custom_id values must be unique within a batch")
    requests = [decode(entry["params"], entry["custom_id"]) for entry in entries]
    adding = capacity.amount(PROVIDER, requests)
    over = capacity.refusal(emu, PROVIDER, requests[0].model, adding)
    if over:  # the organisation's processing queue is full (capacity.py)
        return _capacity_reply(over)
    batch = emu.create_batch(PROVIDER, requests, meta={}, prefix="msgbatch_emu", enqueued=adding)
    capacity.accepted(emu, PROVIDER, requests[0].model)
    return HttpReply(200, batch_json(emu, batch))


def _too_large() -> HttpReply:
    return error_reply(413, "Request exceeds the maximum allowed number of bytes.")


def _capacity_reply(message: str) -> HttpReply:
    reply = error_reply(429, message)
    reply.headers["retry-after"] = "0"  # the real one asks for seconds; the emulator's tests need none
    return reply


def retrieve_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(call)
    if batch.extra.get("cancel_initiated_at") is not None:
        batch.extra["cancel_seen"] = True
    return HttpReply(200, batch_json(emu, emu.advance(batch)))


def list_batches(emu: Emulator, call: HttpCall) -> HttpReply:
    limit = int(call.query.get("limit", 20))
    if not 1 <= limit <= 1000:
        raise ValueError("limit: must be between 1 and 1000")
    newest_first = sorted((b for b in emu.batches.values() if b.provider == PROVIDER),
                          key=lambda b: (b.created, b.id), reverse=True)
    ids = [b.id for b in newest_first]
    if call.query.get("after_id") in ids:
        newest_first = newest_first[ids.index(call.query["after_id"]) + 1:]
        page = newest_first[:limit]
    elif call.query.get("before_id") in ids:
        newest_first = newest_first[:ids.index(call.query["before_id"])]
        page = newest_first[-limit:]
    else:
        page = newest_first[:limit]
    return HttpReply(200, {"data": [batch_json(emu, b) for b in page], "has_more": len(newest_first) > len(page),
                           "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None})


def cancel_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(call)
    if batch.status != "ended":
        batch.extra["cancel_initiated_at"] = datetime.now(timezone.utc).timestamp()
        emu.cancel(batch)
    return HttpReply(200, batch_json(emu, batch))


def delete_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(call)
    if batch.status != "ended":
        return error_reply(400, f"Message batch {batch.id} is still processing; cancel it before deleting it.")
    del emu.batches[batch.id]
    return HttpReply(200, {"id": batch.id, "type": "message_batch_deleted"})


def batch_results(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(call)
    if batch.status != "ended":
        return error_reply(400, f"Message batch {batch.id} has not ended; its results are not available yet.")
    lines = (json.dumps(_result_line(emu, batch, request, answer)) + "\n"
             for request, answer in zip(batch.requests, batch.answers))
    return HttpReply(200, "".join(lines), content_type="application/binary")


_BATCH = r"/v1/messages/batches/(?P<batch_id>[A-Za-z0-9_\-]+)"

ROUTES = [
    Route("POST", r"/v1/messages", "anthropic.messages.create", create_message, fault="call"),
    Route("POST", r"/v1/messages/batches", "anthropic.batches.create", create_batch, fault="submit"),
    Route("GET", r"/v1/messages/batches", "anthropic.batches.list", list_batches),
    Route("GET", _BATCH, "anthropic.batches.retrieve", retrieve_batch, fault="poll"),
    Route("POST", _BATCH + r"/cancel", "anthropic.batches.cancel", cancel_batch),
    Route("DELETE", _BATCH, "anthropic.batches.delete", delete_batch),
    Route("GET", _BATCH + r"/results", "anthropic.batches.results", batch_results),
]
