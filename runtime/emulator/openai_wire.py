"""The OpenAI wire format of the emulator: files, batches, chat completions and responses.

Owns the translation between OpenAI's HTTP API (as the ``openai`` SDK speaks
it) and the emulator core:

- ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET /v1/files/{id}``,
  ``GET /v1/files/{id}/content``, ``DELETE /v1/files/{id}``;
- ``POST /v1/batches`` (input file, endpoint ``/v1/chat/completions`` or
  ``/v1/responses``, metadata), ``GET /v1/batches/{id}`` (each poll advances
  the batch one step), ``POST /v1/batches/{id}/cancel``, ``GET /v1/batches``
  (newest first, ``after``/``limit`` cursor pagination);
- ``POST /v1/chat/completions`` and ``POST /v1/responses`` (realtime).

When a batch ends its output file (status-200 lines) and error file (non-200
lines, and lines an expired batch never ran, with ``response: null`` and
``error.code = "batch_expired"``) are written into ``Emulator.files``: a batch
in flight holds its input file, not its decoded requests, and is answered a
line at a time (batchfile_openai.py), each answer encoded as it comes.
A batch whose input file has bad lines fails validation as the real API does:
status ``failed`` with ``errors.data`` naming the lines (a duplicated ``custom_id``,
more requests than ``Limits.openai_batch_requests``, …); a ``purpose=batch`` upload
over ``Limits.openai_file_bytes`` is refused at once, 400 "File is too large.".
A batch over the organisation's enqueued-token limit (``capacity.py``) fails
with ``token_limit_exceeded``.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import io
import json
import threading
import time

from . import batchfile_openai as batchfile
from . import capacity, param_rules
from .core import EmuAnswer, EmuBatch, EmuRequest, Emulator
from .server import HttpCall, HttpReply, Route
from .schema_limits import openai_strict_refusal, restore_hints

PROVIDER = "openai"

CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"
ENDPOINTS = (CHAT, RESPONSES)
COMPLETION_WINDOW_SECONDS = 24 * 3600
DEFAULT_MAX_TOKENS = 16_384   # the real APIs default to "up to the context window"; the emulator needs a number

_ERROR_KIND = {  # HTTP status → (error.type, error.code) as OpenAI sends them
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
_finishing = threading.Lock()  # one thread writes a batch's output files


# --- authentication and errors -------------------------------------------------------------

def key_of(call: HttpCall) -> str | None:
    scheme, _, token = call.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    kind, default_code = _ERROR_KIND.get(status, ("server_error", None) if status >= 500 else ("invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code or default_code}}


def error_reply(status: int, message: str, param: str | None = None, code: str | None = None) -> HttpReply:
    return HttpReply(status, error_body(status, message, param, code), headers={"x-request-id": _request_id()})


def _request_id() -> str:
    return f"req_{time.time_ns():x}"


# --- decoding requests -----------------------------------------------------------------------

def _text_of(content) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, dict) and part.get("type") in ("text", "input_text"))
    raise TypeError(f"message content must be a string or a list of parts, not {type(content).__name__}")


def _split_messages(messages: list) -> tuple[str | None, str]:
    """(system prompt, user prompt) of a message list: system/developer turns vs user turns."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    system = [_text_of(m["content"]) for m in messages if m.get("role") in ("system", "developer")]
    user = [_text_of(m["content"]) for m in messages if m.get("role") == "user"]
    return ("\n".join(system) if system else None), "\n".join(user)


def decode_chat(body: dict, custom_id: str | None = None) -> EmuRequest:
    system, prompt = _split_messages(body["messages"])
    response_format = body.get("response_format") or {}
    schema = response_format["json_schema"]["schema"] if response_format.get("type") == "json_schema" else None
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    return _with_rules(EmuRequest(PROVIDER, _model(body), prompt, system, schema, int(max_tokens), custom_id),
                       body, responses=False)


def decode_responses(body: dict, custom_id: str | None = None) -> EmuRequest:
    given = body["input"]
    if isinstance(given, str):
        system, prompt = None, given
    else:
        system, prompt = _split_messages([item for item in given if item.get("type", "message") == "message"])
    if body.get("instructions"):
        system = body["instructions"] + ("\n" + system if system else "")
    text_format = (body.get("text") or {}).get("format") or {}
    schema = text_format["schema"] if text_format.get("type") == "json_schema" else None
    max_tokens = body.get("max_output_tokens") or DEFAULT_MAX_TOKENS
    return _with_rules(EmuRequest(PROVIDER, _model(body), prompt, system, schema, int(max_tokens), custom_id),
                       body, responses=True)


def _with_rules(request: EmuRequest, body: dict, responses: bool) -> EmuRequest:
    """The request with what it carried of sampling and reasoning, and OpenAI's refusal of it, if any."""
    effort = (body.get("reasoning") or {}).get("effort") if responses else body.get("reasoning_effort")
    settings = param_rules.received([(k, body.get(k)) for k in ("temperature", "top_p", "seed")]
                                    + [("reasoning_effort", effort)])
    refusal = param_rules.openai_refusal(body, responses) or _strict_schema_refusal(body, responses)
    message, param, code = refusal or (None, None, None)
    schema = restore_hints(request.schema) if request.schema is not None else None
    return dataclasses.replace(request, schema=schema, settings=settings, refusal=request.refusal or message,
                               refusal_param=param, refusal_code=code)


def _strict_schema_refusal(body: dict, responses: bool) -> tuple[str, str, None] | None:
    """OpenAI's 400 for a strict-mode schema with a keyword strict mode refuses (schema_limits)."""
    if responses:
        fmt, where, param = (body.get("text") or {}).get("format") or {}, "text.format", "text.format.schema"
    else:
        fmt = (body.get("response_format") or {}).get("json_schema") or {}
        where, param = "response_format", "response_format"
    if not fmt.get("strict") or not isinstance(fmt.get("schema"), dict):
        return None
    message = openai_strict_refusal(fmt["schema"], str(fmt.get("name", "")), where)
    return (message, param, None) if message else None


def _model(body: dict) -> str:
    model = body["model"]
    if not isinstance(model, str) or not model:
        raise ValueError("'model' must be a non-empty string")
    return model


DECODERS = {CHAT: decode_chat, RESPONSES: decode_responses}


# --- encoding answers ------------------------------------------------------------------------

def chat_body(request: EmuRequest, answer: EmuAnswer, now: int) -> dict:
    usage = answer.usage
    return {
        "id": f"chatcmpl-{time.time_ns():x}", "object": "chat.completion", "created": now, "model": request.model,
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "length" if answer.truncated else "stop",
                     "message": {"role": "assistant", "content": answer.text, "refusal": None, "annotations": []}}],
        "usage": {
            "prompt_tokens": usage.input, "completion_tokens": usage.output + usage.reasoning,
            "total_tokens": usage.input + usage.output + usage.reasoning,
            "prompt_tokens_details": {"cached_tokens": usage.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default", "system_fingerprint": None,
    }


def responses_body(request: EmuRequest, answer: EmuAnswer, now: int, sent: dict) -> dict:
    usage = answer.usage
    stamp = f"{time.time_ns():x}"
    output = [{"id": f"rs_{stamp}", "type": "reasoning", "summary": []}] if usage.reasoning else []
    output.append({"id": f"msg_{stamp}", "type": "message", "role": "assistant",
                   "status": "incomplete" if answer.truncated else "completed",
                   "content": [{"type": "output_text", "text": answer.text, "annotations": []}]})
    return {
        "id": f"resp_{stamp}", "object": "response", "created_at": now, "completed_at": now,
        "status": "incomplete" if answer.truncated else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if answer.truncated else None,
        "error": None, "model": request.model, "output": output,
        "instructions": sent.get("instructions"), "max_output_tokens": sent.get("max_output_tokens"),
        "metadata": sent.get("metadata") or {}, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "temperature": sent.get("temperature", 1.0), "top_p": sent.get("top_p", 1.0),
        "text": sent.get("text") or {"format": {"type": "text"}}, "truncation": "disabled",
        "usage": {
            "input_tokens": usage.input,
            "input_tokens_details": {"cached_tokens": usage.cached, "cache_write_tokens": 0},
            "output_tokens": usage.output + usage.reasoning,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning},
            "total_tokens": usage.input + usage.output + usage.reasoning,
        },
    }


_ECHOED = ("instructions", "max_output_tokens", "metadata", "temperature", "top_p", "text")


def _echoed(body: dict) -> dict:
    """What ``responses_body`` reads of the request it answers: a batch keeps this much of each request's body."""
    return {k: body[k] for k in _ECHOED if k in body}


def answer_body(endpoint: str, request: EmuRequest, answer: EmuAnswer, sent: dict) -> dict:
    now = int(time.time())
    return chat_body(request, answer, now) if endpoint == CHAT else responses_body(request, answer, now, sent)


# --- realtime --------------------------------------------------------------------------------

def _realtime(endpoint: str):
    def handle(emu: Emulator, call: HttpCall) -> HttpReply:
        body = call.json()
        if body.get("stream"):
            raise ValueError("the emulator does not stream; send stream=false")
        request = DECODERS[endpoint](body)
        answer = emu.answer(request, "realtime")
        if answer.error is not None:
            return error_reply(answer.error.status, answer.error.message, answer.error.param, answer.error.code)
        return HttpReply(200, answer_body(endpoint, request, answer, body), headers={"x-request-id": _request_id()})
    return handle


# --- files -----------------------------------------------------------------------------------

def _multipart_fields(call: HttpCall) -> dict[str, tuple[str | None, bytes]]:
    """name → (filename, bytes) of a multipart/form-data body. Each part's headers are parsed as a message; its
    content is sliced out of the body once (parsing the whole body as a message would copy a batch file of
    hundreds of MB several times over)."""
    content_type = call.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ValueError("files must be uploaded as multipart/form-data")
    head = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    boundary = head.get_param("boundary")
    if not boundary:
        raise ValueError("the multipart/form-data body has no boundary")
    delimiter = b"--" + boundary.encode()
    body, fields = call.body, {}
    start = body.find(delimiter)
    while start >= 0 and not body.startswith(b"--", start + len(delimiter)):
        headers_at = body.find(b"\r\n", start) + 2
        content_at = body.find(b"\r\n\r\n", headers_at)
        end = body.find(b"\r\n" + delimiter, content_at)
        if headers_at < 2 or content_at < 0 or end < 0:
            raise ValueError("the multipart/form-data body is cut off")
        part = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(body[headers_at:content_at + 4])
        fields[part.get_param("name", header="content-disposition")] = (part.get_filename(), body[content_at + 4:end])
        start = end + 2
    return fields


def _store_file(emu: Emulator, name: str, purpose: str, data: bytes) -> str:
    file_id = emu.new_id("file-")
    emu.files[file_id] = {"name": name, "purpose": purpose, "data": data, "created": int(time.time()),
                          "provider": PROVIDER}
    return file_id


def _file_json(file_id: str, entry: dict) -> dict:
    return {"id": file_id, "object": "file", "bytes": len(entry["data"]), "created_at": entry["created"],
            "filename": entry["name"], "purpose": entry["purpose"], "status": "processed",
            "expires_at": None, "status_details": None}


def _file_of(emu: Emulator, call: HttpCall) -> tuple[str, dict | None]:
    file_id = call.params["file_id"]
    entry = emu.files.get(file_id)
    return file_id, entry if entry is not None and entry.get("provider") == PROVIDER else None


def upload_file(emu: Emulator, call: HttpCall) -> HttpReply:
    fields = _multipart_fields(call)
    if "file" not in fields:
        raise ValueError("missing the 'file' field")
    purpose = fields.get("purpose", (None, b""))[1].decode()
    if purpose not in ("batch", "user_data", "assistants", "fine-tune", "vision", "evals"):
        raise ValueError(f"'{purpose}' is not a valid purpose")
    filename, data = fields["file"]
    if purpose == "batch" and len(data) > emu.limits.openai_file_bytes:  # refused at upload, as OpenAI does
        return error_reply(400, "File is too large.")
    file_id = _store_file(emu, filename or "upload", purpose, data)
    return HttpReply(200, _file_json(file_id, emu.files[file_id]))


def get_file(emu: Emulator, call: HttpCall) -> HttpReply:
    file_id, entry = _file_of(emu, call)
    if entry is None:
        return error_reply(404, f"No such File object: {file_id}")
    return HttpReply(200, _file_json(file_id, entry))


def file_content(emu: Emulator, call: HttpCall) -> HttpReply:
    file_id, entry = _file_of(emu, call)
    if entry is None:
        return error_reply(404, f"No such File object: {file_id}")
    return HttpReply(200, entry["data"], content_type="application/octet-stream")


def delete_file(emu: Emulator, call: HttpCall) -> HttpReply:
    file_id, entry = _file_of(emu, call)
    if entry is None:
        return error_reply(404, f"No such File object: {file_id}")
    del emu.files[file_id]
    return HttpReply(200, {"id": file_id, "object": "file", "deleted": True})


# --- batches ---------------------------------------------------------------------------------

def create_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    sent = call.json()
    endpoint, window = sent["endpoint"], sent.get("completion_window")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"the emulator runs batches for {' and '.join(ENDPOINTS)}, not {endpoint}")
    if window != "24h":
        raise ValueError("completion_window must be '24h'")
    source = emu.files.get(sent["input_file_id"])
    if source is None or source.get("provider") != PROVIDER or source["purpose"] != "batch":
        return error_reply(400, f"Input file {sent['input_file_id']} does not exist "
                                "or was not uploaded with purpose 'batch'.")
    meta = {"metadata": sent.get("metadata") or {}, "input_file_id": sent["input_file_id"], "endpoint": endpoint}
    # validated line by line, keeping no decoded request unless the emulator keeps its history for audits
    checked = batchfile.check(source["data"], endpoint, emu.limits.openai_batch_requests, DECODERS[endpoint],
                              capacity.tokens, keep=emu.keep_history)
    errors = checked.errors
    if not errors:  # over the organisation's enqueued-token limit: taken, then failed as a whole (capacity.py)
        over = capacity.refusal(emu, PROVIDER, checked.model, checked.tokens)
        errors = capacity.openai_errors(over) if over else []
    # the batch holds its input file's bytes and decodes its requests again, one at a time, when it runs
    requests = checked.requests if emu.keep_history else batchfile.InputLines(
        source["data"], endpoint, DECODERS[endpoint], checked.count)
    if errors:  # fails validation without running or using up injected batch faults
        batch = EmuBatch(emu.new_id("batch_"), PROVIDER, requests, meta, fate="failed", status="ended",
                         ended_at=time.time(), extra={"errors": errors}, model=checked.model)
        emu.batches[batch.id] = batch
    else:
        sink = _ResultLines(endpoint, requests if isinstance(requests, batchfile.InputLines) else checked.bodies)
        batch = emu.create_batch(PROVIDER, requests, meta, "batch_", enqueued=checked.tokens, model=checked.model,
                                 sink=sink)
        sink.batch = batch
        capacity.accepted(emu, PROVIDER, checked.model)
    return HttpReply(200, batch_json(emu, batch, fresh=True))


def _batch_of(emu: Emulator, call: HttpCall) -> EmuBatch | None:
    batch = emu.batches.get(call.params["batch_id"])
    return batch if batch is not None and batch.provider == PROVIDER else None


def get_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch_of(emu, call)
    if batch is None:
        return error_reply(404, f"No batch found with id '{call.params['batch_id']}'.")
    return HttpReply(200, batch_json(emu, emu.advance(batch)))


def cancel_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch_of(emu, call)
    if batch is None:
        return error_reply(404, f"No batch found with id '{call.params['batch_id']}'.")
    was_running = batch.status != "ended"
    emu.cancel(batch)
    # the real API answers "cancelling" and reports "cancelled" on later polls
    return HttpReply(200, batch_json(emu, batch, cancelling=was_running))


def list_batches(emu: Emulator, call: HttpCall) -> HttpReply:
    limit = min(max(int(call.query.get("limit", 20)), 1), 100)
    ours = sorted((b for b in list(emu.batches.values()) if b.provider == PROVIDER),
                  key=lambda b: (b.created, b.id), reverse=True)
    after = call.query.get("after")
    if after:
        ids = [b.id for b in ours]
        ours = ours[ids.index(after) + 1:] if after in ids else []
    page = [batch_json(emu, b) for b in ours[:limit]]
    return HttpReply(200, {"object": "list", "data": page, "has_more": len(ours) > limit,
                           "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None})


_STATUS_OF_FATE = {"completed": "completed", "expired": "expired", "failed": "failed", "cancelled": "cancelled"}
_ENDED_AT_FIELD = {"completed": "completed_at", "expired": "expired_at", "failed": "failed_at",
                   "cancelled": "cancelled_at"}


def batch_json(emu: Emulator, batch: EmuBatch, fresh: bool = False, cancelling: bool = False) -> dict:
    meta, created = batch.meta, int(batch.created)
    ended = batch.status == "ended"
    if ended:
        _write_result_files(emu, batch)
    summary = batch.extra.get("summary") or _summary(batch)
    status = ("validating" if fresh and not ended else "cancelling" if cancelling
              else _STATUS_OF_FATE[batch.fate] if ended else "in_progress")
    body = {
        "id": batch.id, "object": "batch", "endpoint": meta["endpoint"],
        "model": summary["model"],
        "input_file_id": meta["input_file_id"], "completion_window": "24h", "status": status,
        "output_file_id": batch.extra.get("output_file_id"), "error_file_id": batch.extra.get("error_file_id"),
        "created_at": created, "in_progress_at": None if fresh else created,
        "expires_at": created + COMPLETION_WINDOW_SECONDS,
        "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None,
        "cancelling_at": None, "cancelled_at": None,
        "request_counts": summary["counts"], "metadata": meta["metadata"], "usage": summary["usage"],
        "errors": _errors(batch),
    }
    if ended:
        body["finalizing_at"] = int(batch.ended_at)
        if batch.fate == "cancelled":
            body["cancelling_at"] = int(batch.ended_at)
        if not cancelling:
            body[_ENDED_AT_FIELD[batch.fate]] = int(batch.ended_at)
    return body


def _summary(batch: EmuBatch) -> dict:
    """Model, request counts and usage: of a batch still running, or failed at validation (never run)."""
    tally = _Tally()
    return {"model": batch.model, "counts": tally.counts(len(batch.requests)),
            "usage": tally.usage() if batch.status == "ended" else None}


def _errors(batch: EmuBatch) -> dict | None:
    """Why a failed batch failed: its validation errors, or the injected failure."""
    if batch.status != "ended" or batch.fate != "failed":
        return None
    data = batch.extra.get("errors") or [{"code": "batch_failed", "line": None, "param": None,
                                          "message": "The batch failed before running any request (injected fault)."}]
    return {"object": "list", "data": data}


class _Tally:
    """Request counts and usage of a batch's answers, summed as they come."""

    def __init__(self):
        self.completed = self.failed = 0
        self.input = self.cached = self.output = self.reasoning = 0

    def add(self, answer: EmuAnswer | None, expired: bool) -> None:
        if answer is None:
            self.failed += expired  # an expired batch's never-run requests go to the error file
        elif answer.error is not None:
            self.failed += 1
        else:
            self.completed += 1
            u = answer.usage
            self.input, self.cached = self.input + u.input, self.cached + u.cached
            self.output, self.reasoning = self.output + u.output + u.reasoning, self.reasoning + u.reasoning

    def counts(self, total: int) -> dict:
        return {"total": total, "completed": self.completed, "failed": self.failed}

    def usage(self) -> dict:
        return {"input_tokens": self.input, "input_tokens_details": {"cached_tokens": self.cached},
                "output_tokens": self.output, "output_tokens_details": {"reasoning_tokens": self.reasoning},
                "total_tokens": self.input + self.output}


class _ResultLines:
    """A batch's sink (core.EmuBatch.sink): each answer, as it comes, becomes a line of its output file (200)
    or error file (failed, or never run when the batch expired), encoded at once; counts and usage are summed.
    A batch being answered holds one decoded request and one answer at a time, plus the encoded lines."""

    def __init__(self, endpoint: str, bodies: "batchfile.InputLines | list[dict]"):
        self.endpoint, self.bodies = endpoint, bodies  # where each request's body is: the file, or kept bodies
        self.output, self.errors, self.tally = io.BytesIO(), io.BytesIO(), _Tally()
        self.batch: EmuBatch | None = None

    def __call__(self, index: int, request: EmuRequest, answer: EmuAnswer | None) -> None:
        batch = self.batch
        self.tally.add(answer, batch.fate == "expired")
        line = _result_line(batch, index, request, answer, self._sent(index))
        if line is not None:
            ok = line["response"] and line["response"]["status_code"] == 200
            (self.output if ok else self.errors).write(json.dumps(line).encode() + b"\n")

    def _sent(self, index: int) -> dict:
        """What a Responses answer echoes of its request's body (chat answers echo none)."""
        if self.endpoint != RESPONSES:
            return {}
        if isinstance(self.bodies, batchfile.InputLines):
            return _echoed(self.bodies.body)  # the line being answered
        return _echoed(self.bodies[index])


def _write_result_files(emu: Emulator, batch: EmuBatch) -> None:
    """Once per ended batch: store the output file (200 lines) and the error file (failed or never-run lines)
    its sink wrote as it was answered."""
    with _finishing:
        if batch.extra.get("files_written"):
            return
        sink = batch.sink
        if sink is not None:
            for name, lines in (("output", sink.output), ("error", sink.errors)):
                data = lines.getvalue()
                if data:
                    filename = f"batch_{batch.id}_{name}.jsonl"
                    batch.extra[f"{name}_file_id"] = _store_file(emu, filename, "batch_output", data)
            batch.extra["summary"] = {"model": batch.model, "counts": sink.tally.counts(len(batch.requests)),
                                      "usage": sink.tally.usage()}
        else:  # failed validation: never ran
            batch.extra["summary"] = _summary(batch)
        batch.extra["files_written"] = True
        batch.sink = None
        # What OpenAI keeps of an ended batch: its metadata, counts and usage; its requests and answers live on
        # only in its files, until they are deleted (octo deletes them once ingested). Without this, a
        # long-running emulator would hold every request it was ever sent (unless it keeps them for an audit).
        if not emu.keep_history:
            batch.requests, batch.answers = [], []


def _result_line(batch: EmuBatch, index: int, request: EmuRequest, answer: EmuAnswer | None,
                 sent: dict) -> dict | None:
    line = {"id": f"batch_req_{batch.id.removeprefix('batch_')}_{index}", "custom_id": request.custom_id}
    if answer is None:
        if batch.fate != "expired":  # a cancelled batch simply has no line for what it never ran
            return None
        return {**line, "response": None, "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired."}}
    if answer.error is not None:
        response = {"status_code": answer.error.status, "request_id": _request_id(),
                    "body": error_body(answer.error.status, answer.error.message, answer.error.param,
                                       answer.error.code)}
    else:
        response = {"status_code": 200, "request_id": _request_id(),
                    "body": answer_body(batch.meta["endpoint"], request, answer, sent)}
    return {**line, "response": response, "error": None}


ROUTES = [
    Route("POST", r"/v1/files", "openai.files.create", upload_file),
    Route("GET", r"/v1/files/(?P<file_id>[^/]+)", "openai.files.retrieve", get_file),
    Route("GET", r"/v1/files/(?P<file_id>[^/]+)/content", "openai.files.content", file_content),
    Route("DELETE", r"/v1/files/(?P<file_id>[^/]+)", "openai.files.delete", delete_file),
    Route("POST", r"/v1/batches", "openai.batches.create", create_batch, fault="submit"),
    Route("GET", r"/v1/batches", "openai.batches.list", list_batches),
    Route("GET", r"/v1/batches/(?P<batch_id>[^/]+)", "openai.batches.retrieve", get_batch, fault="poll"),
    Route("POST", r"/v1/batches/(?P<batch_id>[^/]+)/cancel", "openai.batches.cancel", cancel_batch),
    Route("POST", r"/v1/chat/completions", "openai.chat.completions", _realtime(CHAT), fault="call"),
    Route("POST", r"/v1/responses", "openai.responses", _realtime(RESPONSES), fault="call"),
]
