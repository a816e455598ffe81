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

Files live on disk in the emulator's directory (files.py): an upload is copied
there from the spooled request body, a download is sent from there a piece at a
time. A batch in flight holds its input file's path, not its decoded requests,
and is answered a line at a time (batchfile_openai.py), each answer written to
its output or error file as it comes (openai_answers.py).
A batch whose input file has bad lines fails validation as the real API does:
status ``failed`` with ``errors.data`` naming the lines (a duplicated ``custom_id``,
more requests than ``Limits.openai_batch_requests``, …); a ``purpose=batch`` upload
over ``Limits.openai_file_bytes`` is refused at once, 400 "File is too large.".
A batch over the organisation's enqueued-token limit (``capacity.py``) fails
with ``token_limit_exceeded``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from . import batchfile_openai as batchfile
from . import capacity, files, param_rules
from . import openai_answers as answers
from .core import EmuBatch, EmuRequest, Emulator
from .openai_answers import CHAT, PROVIDER, RESPONSES, answer_body, error_body
from .server import HttpCall, HttpReply, Route
from .schema_limits import openai_strict_refusal, restore_hints

ENDPOINTS = (CHAT, RESPONSES)
COMPLETION_WINDOW_SECONDS = 24 * 3600
DEFAULT_MAX_TOKENS = 16_384   # the real APIs default to "up to the context window"; the emulator needs a number


# --- authentication and errors -------------------------------------------------------------

def key_of(call: HttpCall) -> str | None:
    scheme, _, token = call.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def error_reply(status: int, message: str, param: str | None = None, code: str | None = None) -> HttpReply:
    return HttpReply(status, error_body(status, message, param, code), headers={"x-request-id": answers.request_id()})


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
        return HttpReply(200, answer_body(endpoint, request, answer, body), headers={"x-request-id": answers.request_id()})
    return handle


# --- files -----------------------------------------------------------------------------------

def _file_json(file_id: str, entry: dict) -> dict:
    return {"id": file_id, "object": "file", "bytes": entry["bytes"], "created_at": entry["created"],
            "filename": entry["name"], "purpose": entry["purpose"], "status": "processed",
            "expires_at": None, "status_details": None}


def _file_of(emu: Emulator, call: HttpCall) -> tuple[str, dict | None]:
    file_id = call.params["file_id"]
    entry = emu.files.get(file_id)
    return file_id, entry if entry is not None and entry.get("provider") == PROVIDER else None


def upload_file(emu: Emulator, call: HttpCall) -> HttpReply:
    """The upload's file field is copied from the spooled body into a file of the emulator's (files.py), a piece
    at a time: an upload is never held in memory whole."""
    fields = files.multipart_fields(call.content, call.headers.get("content-type", ""))
    if "file" not in fields:
        raise ValueError("missing the 'file' field")
    purpose_field = fields.get("purpose")
    purpose = files.read_range(call.content, *purpose_field[1:]).decode() if purpose_field else ""
    if purpose not in ("batch", "user_data", "assistants", "fine-tune", "vision", "evals"):
        raise ValueError(f"'{purpose}' is not a valid purpose")
    filename, start, end = fields["file"]
    if purpose == "batch" and end - start > emu.limits.openai_file_bytes:  # refused at upload, as OpenAI does
        return error_reply(400, "File is too large.")
    path = emu.disk.new("upload-")
    files.copy_range(call.content, start, end, path)
    file_id = answers.store_file(emu, filename or "upload", purpose, path)
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
    return HttpReply(200, Path(entry["path"]), content_type="application/octet-stream")  # sent a piece at a time


def delete_file(emu: Emulator, call: HttpCall) -> HttpReply:
    file_id, entry = _file_of(emu, call)
    if entry is None:
        return error_reply(404, f"No such File object: {file_id}")
    del emu.files[file_id]
    files.remove(entry["path"])
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
    checked = batchfile.check(source["path"], endpoint, emu.limits.openai_batch_requests, DECODERS[endpoint],
                              capacity.tokens, keep=emu.keep_history)
    errors = checked.errors
    if not errors:  # over the organisation's enqueued-token limit: taken, then failed as a whole (capacity.py)
        over = capacity.refusal(emu, PROVIDER, checked.model, checked.tokens)
        errors = capacity.openai_errors(over) if over else []
    # the batch holds its input file's bytes and decodes its requests again, one at a time, when it runs
    # (a link of its own to the file: the client may delete the input file before the batch runs)
    requests = checked.requests if emu.keep_history else batchfile.InputLines(
        str(emu.disk.link(source["path"], "input-")), endpoint, DECODERS[endpoint], checked.count)
    if errors:  # fails validation without running or using up injected batch faults
        batch = EmuBatch(emu.new_id("batch_"), PROVIDER, requests, meta, fate="failed", status="ended",
                         ended_at=time.time(), extra={"errors": errors}, model=checked.model)
        emu.batches[batch.id] = batch
    else:
        sink = answers.ResultLines(emu, endpoint, requests if isinstance(requests, batchfile.InputLines) else checked.bodies)
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
        answers.write_result_files(emu, batch)
    summary = batch.extra.get("summary") or answers.summary(batch)
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


def _errors(batch: EmuBatch) -> dict | None:
    """Why a failed batch failed: its validation errors, or the injected failure."""
    if batch.status != "ended" or batch.fate != "failed":
        return None
    data = batch.extra.get("errors") or [{"code": "batch_failed", "line": None, "param": None,
                                          "message": "The batch failed before running any request (injected fault)."}]
    return {"object": "list", "data": data}


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
