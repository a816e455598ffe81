"""The Gemini Developer API (generativelanguage) wire format of the emulator.

Speaks what google-genai 3.4 sends and parses, under both ``/v1beta`` and ``/v1``:

- ``POST /v1beta/models/{model}:generateContent`` — one realtime request;
- ``POST /v1beta/models/{model}:batchGenerateContent`` — a batch, inline
  (``batch.inputConfig.requests.requests[i].{request, metadata}``) or from an
  uploaded JSONL file (``batch.inputConfig.fileName``, lines ``{"key", "request"}``);
- ``GET /v1beta/batches/{id}`` (each poll advances the batch), ``POST …:cancel``,
  ``DELETE``, ``GET /v1beta/batches`` (``pageSize``/``pageToken``);
- the resumable upload (``POST /upload/v1beta/files`` with ``X-Goog-Upload-Command:
  start``, then ``upload, finalize`` on the URL handed back in ``x-goog-upload-url``;
  a client may name the file, ``file.name``), ``GET /v1beta/files/{id}``,
  ``GET /v1beta/files/{id}:download?alt=media`` and ``DELETE /v1beta/files/{id}``.

A batch is a long-running Operation: ``{"name": "batches/ID", "metadata": {state:
BATCH_STATE_*, batchStats (int64s as strings), displayName, output?}, "done"?,
"response"?, "error"?}``; the SDK reads ``metadata`` and maps BATCH_STATE_* to
JOB_STATE_*. Results come in request order: inline responses
(``output.inlinedResponses.inlinedResponses[i].{response|error, metadata}``) or a
generated responses file (``output.responsesFile``, lines ``{"key", "response"|"error"}``)
— unless the ``shuffle`` fault reorders them or ``nokeys`` drops the metadata and keys,
as the real service has been seen to do (googleapis/python-genai #1909, #2008).
A ``batchGenerateContent`` body over ``Limits.gemini_inline_bytes`` is refused with
400 INVALID_ARGUMENT "Request payload size exceeds the limit", an uploaded file
over ``gemini_file_bytes`` with 400 too.
Requests a batch never ran (expired, cancelled) have no entry. Per-request errors
are ``google.rpc.Status`` objects, whose ``code`` is the gRPC code, not the HTTP one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
import time
import uuid
from datetime import datetime, timezone

from . import param_rules
from . import capacity
from .core import EmuAnswer, EmuBatch, EmuRequest, Emulator
from .server import HttpCall, HttpReply, Route

PROVIDER = "gemini"

_V = r"/(?P<version>v1beta|v1)"
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
_DEFAULT_MAX_TOKENS = 8192
_MODEL_PREFIXES = ("gemini-", "gemma-")  # anything else is a 404, as the real API answers unknown models

# HTTP status → (gRPC code, canonical status name): errors carry both.
_STATUS = {400: (3, "INVALID_ARGUMENT"), 401: (16, "UNAUTHENTICATED"), 403: (7, "PERMISSION_DENIED"),
           404: (5, "NOT_FOUND"), 408: (4, "DEADLINE_EXCEEDED"), 409: (10, "ABORTED"),
           429: (8, "RESOURCE_EXHAUSTED"), 500: (13, "INTERNAL"), 503: (14, "UNAVAILABLE"),
           504: (4, "DEADLINE_EXCEEDED")}

_STATE = {"completed": "BATCH_STATE_SUCCEEDED", "expired": "BATCH_STATE_EXPIRED",
          "failed": "BATCH_STATE_FAILED", "cancelled": "BATCH_STATE_CANCELLED"}

# Resumable uploads in progress, by upload id. The chunk requests carry no API key
# (the upload URL itself authorises them, as Google's does), so the key given at
# `start` is remembered here for key_of. Ids are random, so emulators never collide.
_UPLOADS: dict[str, dict] = {}
_UPLOADS_LOCK = threading.Lock()


# --- errors and authentication -----------------------------------------------------------

def error_reply(status: int, message: str) -> HttpReply:
    _, name = _STATUS.get(status, (2, "UNKNOWN"))
    return HttpReply(status, {"error": {"code": status, "message": message, "status": name}})


def key_of(call: HttpCall) -> str | None:
    key = call.headers.get("x-goog-api-key") or call.query.get("key")
    if key:
        return key
    session = _UPLOADS.get(call.query.get("upload_id", ""))
    return session["key"] if session else None


def _rpc_status(status: int, message: str) -> dict:
    """A per-request error as the batch output carries it: google.rpc.Status."""
    code, _ = _STATUS.get(status, (2, "UNKNOWN"))
    return {"code": code, "message": message}


def _not_found(what: str) -> HttpReply:
    return error_reply(404, f"{what} not found.")


def _unknown_model(call: HttpCall) -> HttpReply:
    return error_reply(404, f"models/{call.params['model']} is not found for API version {call.params['version']}, "
                            "or is not supported for generateContent.")


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- decoding requests -------------------------------------------------------------------

def _model(call: HttpCall) -> str | None:
    """The model named in the path, or None when the real API would not know it."""
    model = call.params["model"]
    return model if model.startswith(_MODEL_PREFIXES) else None


def _texts(content) -> str:
    if isinstance(content, str):
        return content
    parts = (content or {}).get("parts") or []
    return "".join(part.get("text", "") for part in parts if isinstance(part, dict) and not part.get("thought"))


def _lower_types(schema):
    """OpenAPI-style ``responseSchema`` spells types in capitals (OBJECT, STRING); JSON Schema does not."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    return schema


def _decode(body: dict, model: str, custom_id: str | None) -> EmuRequest:
    """A GenerateContentRequest (REST JSON) as an EmuRequest; malformed ones raise (→ 400)."""
    contents = body["contents"]
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise ValueError("contents must be a non-empty list")
    prompt = "\n".join(_texts(c) for c in contents if not isinstance(c, dict) or c.get("role", "user") == "user")
    system = body.get("systemInstruction") or body.get("system_instruction")
    config = body.get("generationConfig") or {}
    schema = config.get("responseJsonSchema")
    if schema is None and config.get("responseSchema") is not None:
        schema = _lower_types(config["responseSchema"])
    return EmuRequest(provider=PROVIDER, model=model, prompt=prompt, system=_texts(system) if system else None,
                      schema=schema, max_tokens=int(config.get("maxOutputTokens") or _DEFAULT_MAX_TOKENS),
                      custom_id=custom_id, refusal=param_rules.gemini_refusal(model, config),
                      settings=param_rules.received([(k, config.get(k)) for k in ("temperature", "topP", "seed")]
                                                    + [("thinkingConfig", param_rules.gemini_thinking(config) or None)]))


# --- encoding answers --------------------------------------------------------------------

def _usage(answer: EmuAnswer) -> dict:
    usage = answer.usage
    body = {"promptTokenCount": usage.input, "candidatesTokenCount": usage.output,
            "totalTokenCount": usage.input + usage.output + usage.reasoning}
    if usage.cached:
        body["cachedContentTokenCount"] = usage.cached
    if usage.reasoning:
        body["thoughtsTokenCount"] = usage.reasoning
    return body


def _response(answer: EmuAnswer, model: str, response_id: str) -> dict:
    """A GenerateContentResponse for a successful answer."""
    candidate = {"content": {"parts": [{"text": answer.text or ""}], "role": "model"},
                 "finishReason": "MAX_TOKENS" if answer.truncated else "STOP", "index": 0}
    return {"candidates": [candidate], "usageMetadata": _usage(answer), "modelVersion": model,
            "responseId": response_id}


# --- realtime ----------------------------------------------------------------------------

def _generate(emu: Emulator, call: HttpCall) -> HttpReply:
    model = _model(call)
    if model is None:
        return _unknown_model(call)
    answer = emu.answer(_decode(call.json(), model, None), "realtime")
    if answer.error is not None:
        return error_reply(answer.error.status, answer.error.message)
    return HttpReply(200, _response(answer, model, emu.new_id("resp")))


# --- batches -----------------------------------------------------------------------------

def _create_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    if len(call.body) > emu.limits.gemini_inline_bytes:  # the whole body, as sent: the inline ceiling
        return _too_large(emu.limits.gemini_inline_bytes)
    model = _model(call)
    if model is None:
        return _unknown_model(call)
    batch_body = call.json()["batch"]
    source = batch_body["inputConfig"]
    if "fileName" in source:
        requests, extra = _file_requests(emu, source["fileName"], model)
    else:
        requests, extra = _inline_requests(source["requests"]["requests"], model)
    if not requests:
        raise ValueError("the batch has no requests")
    adding = capacity.amount(PROVIDER, requests)
    over = capacity.refusal(emu, PROVIDER, requests[0].model, adding)
    if over:  # the project's batch quota (tokens enqueued for the model): capacity.py
        return error_reply(429, over)
    batch = emu.create_batch(PROVIDER, requests, {"displayName": batch_body.get("displayName", "")}, prefix="b",
                             enqueued=adding)
    capacity.accepted(emu, PROVIDER, model)
    batch.extra.update(extra, model=f"models/{model}", version=call.params["version"],
                       nokeys=emu.faults.take("nokeys"), shuffle=emu.faults.take("shuffle"))
    return HttpReply(200, _operation(emu, batch))


def _too_large(limit: int) -> HttpReply:
    """Google's refusal of a body over its size limit (a 400, not a 413)."""
    return error_reply(400, f"Request payload size exceeds the limit: {limit} bytes.")


def _inline_requests(items: list, model: str) -> tuple[list[EmuRequest], dict]:
    metadata = [item.get("metadata") for item in items]
    requests = [_decode(item["request"], model, (meta or {}).get("key") or str(i))
                for i, (item, meta) in enumerate(zip(items, metadata))]
    return requests, {"mode": "inline", "metadata": metadata}


def _file_requests(emu: Emulator, file_name: str, model: str) -> tuple[list[EmuRequest], dict]:
    stored = emu.files.get(file_name.removeprefix("files/"))
    if stored is None or stored.get("provider") != PROVIDER:
        raise KeyError(f"file {file_name} does not exist")
    lines = [json.loads(line) for line in stored["data"].decode("utf-8").splitlines() if line.strip()]
    keys = [line.get("key") for line in lines]
    requests = [_decode(line["request"], model, key or str(i)) for i, (line, key) in enumerate(zip(lines, keys))]
    return requests, {"mode": "file", "keys": keys}


def _batch(emu: Emulator, call: HttpCall) -> EmuBatch | None:
    batch = emu.batches.get(call.params["id"])
    return batch if batch is not None and batch.provider == PROVIDER else None


def _get_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(f"batches/{call.params['id']}")
    batch.extra["polled"] = True  # pending until someone looks, running from then on
    return HttpReply(200, _operation(emu, emu.advance(batch)))


def _cancel_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(f"batches/{call.params['id']}")
    emu.cancel(batch)
    return HttpReply(200, {})


def _delete_batch(emu: Emulator, call: HttpCall) -> HttpReply:
    batch = _batch(emu, call)
    if batch is None:
        return _not_found(f"batches/{call.params['id']}")
    emu.batches.pop(batch.id, None)
    return HttpReply(200, {})


def _list_batches(emu: Emulator, call: HttpCall) -> HttpReply:
    """Newest first, ``pageSize`` at a time; ``pageToken`` is the offset of the next page."""
    mine = sorted((b for b in list(emu.batches.values()) if b.provider == PROVIDER),
                  key=lambda b: (b.created, b.id), reverse=True)
    start = int(call.query.get("pageToken") or 0)
    size = max(1, min(int(call.query.get("pageSize") or 50), 1000))
    page = mine[start:start + size]
    body: dict = {"operations": [_operation(emu, b) for b in page]}
    if start + size < len(mine):
        body["nextPageToken"] = str(start + size)
    return HttpReply(200, body)


def _operation(emu: Emulator, batch: EmuBatch) -> dict:
    """The batch as the long-running Operation the API returns."""
    name = f"batches/{batch.id}"
    ended = batch.status == "ended"
    state = _STATE[batch.fate] if ended else ("BATCH_STATE_RUNNING" if batch.extra.get("polled") else "BATCH_STATE_PENDING")
    metadata = {"@type": _BATCH_TYPE, "name": name, "model": batch.extra["model"],
                "displayName": batch.meta.get("displayName", ""), "createTime": _timestamp(batch.created),
                "updateTime": _timestamp(batch.ended_at or batch.created), "batchStats": _stats(batch),
                "state": state}
    operation: dict = {"name": name, "metadata": metadata}
    if not ended:
        return operation
    operation["done"] = True
    if batch.fate == "failed":
        operation["error"] = {"code": 13, "message": "The batch failed (injected fault): none of its requests ran."}
        return operation
    output = _output(emu, batch)
    metadata["output"] = output
    operation["response"] = {"@type": _OUTPUT_TYPE, **output}
    return operation


def _stats(batch: EmuBatch) -> dict:
    total = len(batch.requests)
    answers = [a for a in batch.answers if a is not None]
    failed = sum(1 for a in answers if a.error is not None)
    pending = total if batch.status != "ended" else 0
    # proto3 JSON writes int64 as strings
    return {"requestCount": str(total), "pendingRequestCount": str(pending),
            "successfulRequestCount": str(len(answers) - failed), "failedRequestCount": str(failed)}


def _entry(emu: Emulator, batch: EmuBatch, answer: EmuAnswer) -> dict:
    if answer.error is not None:
        return {"error": _rpc_status(answer.error.status, answer.error.message)}
    return {"response": _response(answer, batch.extra["model"].removeprefix("models/"), emu.new_id("resp"))}


def _output(emu: Emulator, batch: EmuBatch) -> dict:
    """The ended batch's results, built once: inline entries, or a generated responses file."""
    if "output" in batch.extra:
        return batch.extra["output"]
    run = [(i, a) for i, a in enumerate(batch.answers) if a is not None]
    if batch.extra.get("shuffle"):  # the `shuffle` fault: answers out of request order
        random.Random(f"{emu.seed}:{batch.id}").shuffle(run)
    keys = not batch.extra.get("nokeys")  # the `nokeys` fault: answers without the request's key
    if batch.extra["mode"] == "inline":
        entries = []
        for i, answer in run:
            entry = _entry(emu, batch, answer)
            if keys and batch.extra["metadata"][i] is not None:
                entry["metadata"] = batch.extra["metadata"][i]
            entries.append(entry)
        output = {"inlinedResponses": {"inlinedResponses": entries}}
    else:
        lines = []
        for i, answer in run:
            line = _entry(emu, batch, answer)
            if keys and batch.extra["keys"][i] is not None:
                line = {"key": batch.extra["keys"][i], **line}
            lines.append(json.dumps(line, ensure_ascii=False))
        data = ("\n".join(lines) + "\n" if lines else "").encode("utf-8")
        stored = _store_file(emu, data, f"batch-{batch.id}-responses", "application/jsonl", generated=True)
        output = {"responsesFile": stored["name"]}
    batch.extra["output"] = output
    return output


# --- files ---------------------------------------------------------------------------------

def _store_file(emu: Emulator, data: bytes, display_name: str, mime_type: str, generated: bool,
                file_id: str | None = None) -> dict:
    file_id = file_id or emu.new_id("batch-" if generated else "file-")
    now = time.time()
    stored = {"provider": PROVIDER, "name": f"files/{file_id}", "display_name": display_name, "purpose": "batch",
              "mime_type": mime_type, "data": data, "created": now, "generated": generated}
    emu.files[file_id] = stored
    return stored


def _file_json(emu: Emulator, stored: dict, version: str) -> dict:
    file_id = stored["name"].removeprefix("files/")
    body = {"name": stored["name"], "displayName": stored["display_name"], "mimeType": stored["mime_type"],
            "sizeBytes": str(len(stored["data"])), "createTime": _timestamp(stored["created"]),
            "updateTime": _timestamp(stored["created"]),
            "expirationTime": _timestamp(stored["created"] + 48 * 3600),
            "sha256Hash": base64.b64encode(hashlib.sha256(stored["data"]).digest()).decode(),
            "uri": f"{emu.url}/{version}/files/{file_id}", "state": "ACTIVE",
            "source": "GENERATED" if stored["generated"] else "UPLOADED"}
    if stored["generated"]:
        body["downloadUri"] = f"{emu.url}/download/{version}/files/{file_id}:download?alt=media"
    return body


def _upload(emu: Emulator, call: HttpCall) -> HttpReply:
    """Both halves of the resumable protocol share this path; the command header tells them apart."""
    command = call.headers.get("x-goog-upload-command", "")
    if "start" in command:
        return _upload_start(emu, call)
    return _upload_chunk(emu, call, command)


def _upload_start(emu: Emulator, call: HttpCall) -> HttpReply:
    described = call.json().get("file") or {}
    file_id = _chosen_id(described.get("name"))
    if file_id is not None and file_id in emu.files:
        return error_reply(409, f"files/{file_id} already exists.")
    token = uuid.uuid4().hex
    with _UPLOADS_LOCK:
        _UPLOADS[token] = {
            "key": key_of(call), "data": bytearray(), "id": file_id,
            "display_name": described.get("displayName") or described.get("display_name") or "",
            "mime_type": call.headers.get("x-goog-upload-header-content-type")
            or described.get("mimeType") or described.get("mime_type") or "application/octet-stream",
        }
    url = f"{emu.url}/upload/{call.params['version']}/files?upload_id={token}&upload_protocol=resumable"
    return HttpReply(200, "", {"x-goog-upload-url": url, "x-goog-upload-status": "active"}, "text/plain")


def _chosen_id(name) -> str | None:
    """The id a client asked its file to have (``File.name``), checked as the API checks it: up to 40
    lowercase letters, digits and dashes, not starting or ending with a dash; None to have one made."""
    if not name:
        return None
    ident = str(name).removeprefix("files/")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?", ident):
        raise ValueError(f"file name '{name}' must be files/ and up to 40 lowercase letters, digits or dashes, "
                         "not starting or ending with a dash")
    return ident


def _upload_chunk(emu: Emulator, call: HttpCall, command: str) -> HttpReply:
    token = call.query.get("upload_id", "")
    session = _UPLOADS.get(token)
    if session is None:
        reply = error_reply(404, "upload session not found")
        reply.headers["x-goog-upload-status"] = "final"  # so the SDK stops instead of retrying
        return reply
    offset = int(call.headers.get("x-goog-upload-offset") or len(session["data"]))
    del session["data"][offset:]
    session["data"] += call.body
    if "finalize" not in command:
        return HttpReply(200, "", {"x-goog-upload-status": "active"}, "text/plain")
    with _UPLOADS_LOCK:
        _UPLOADS.pop(token, None)
    if len(session["data"]) > emu.limits.gemini_file_bytes:
        reply = error_reply(400, f"File size {len(session['data'])} bytes exceeds the limit of "
                                 f"{emu.limits.gemini_file_bytes} bytes.")
        reply.headers["x-goog-upload-status"] = "final"
        return reply
    stored = _store_file(emu, bytes(session["data"]), session["display_name"], session["mime_type"], generated=False,
                         file_id=session.get("id"))
    return HttpReply(200, {"file": _file_json(emu, stored, call.params["version"])}, {"x-goog-upload-status": "final"})


def _stored(emu: Emulator, call: HttpCall) -> dict | None:
    stored = emu.files.get(call.params["id"])
    return stored if stored is not None and stored.get("provider") == PROVIDER else None


def _get_file(emu: Emulator, call: HttpCall) -> HttpReply:
    stored = _stored(emu, call)
    if stored is None:
        return _not_found(f"files/{call.params['id']}")
    return HttpReply(200, _file_json(emu, stored, call.params["version"]))


def _download_file(emu: Emulator, call: HttpCall) -> HttpReply:
    stored = _stored(emu, call)
    if stored is None:
        return _not_found(f"files/{call.params['id']}")
    return HttpReply(200, stored["data"], content_type=stored["mime_type"])


def _delete_file(emu: Emulator, call: HttpCall) -> HttpReply:
    if _stored(emu, call) is None:
        return _not_found(f"files/{call.params['id']}")
    emu.files.pop(call.params["id"], None)
    return HttpReply(200, {})


_ID = r"(?P<id>[A-Za-z0-9_-]+)"
_MODEL = r"/models/(?P<model>[A-Za-z0-9._-]+)"

ROUTES = [
    Route("POST", _V + _MODEL + r":generateContent", "gemini.generate", _generate, fault="call"),
    Route("POST", _V + _MODEL + r":batchGenerateContent", "gemini.batch_create", _create_batch, fault="submit"),
    Route("GET", _V + r"/batches/" + _ID, "gemini.batch_get", _get_batch, fault="poll"),
    Route("POST", _V + r"/batches/" + _ID + r":cancel", "gemini.batch_cancel", _cancel_batch),
    Route("DELETE", _V + r"/batches/" + _ID, "gemini.batch_delete", _delete_batch),
    Route("GET", _V + r"/batches", "gemini.batch_list", _list_batches),
    Route("POST", r"/upload" + _V + r"/files", "gemini.file_upload", _upload),
    Route("GET", _V + r"/files/" + _ID, "gemini.file_get", _get_file),
    Route("GET", r"(?:/download)?" + _V + r"/files/" + _ID + r":download", "gemini.file_download", _download_file),
    Route("DELETE", _V + r"/files/" + _ID, "gemini.file_delete", _delete_file),
]
