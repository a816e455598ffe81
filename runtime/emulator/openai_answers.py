"""The OpenAI wire's answers: response bodies (realtime and batch), error bodies, and a batch's result files.

A batch is answered a line at a time (batchfile_openai.py decodes its input file again as it runs): each
answer becomes a line of its output file (status 200) or error file (non-200 lines, and lines an expired batch
never ran, with ``response: null`` and ``error.code = "batch_expired"``), written straight to disk in the
emulator's directory (files.py) and stored in ``Emulator.files`` when the batch ends. A batch being answered
holds one decoded request and one answer at a time; its result files are never in memory whole.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from . import batchfile_openai as batchfile
from . import files
from .core import EmuAnswer, EmuBatch, EmuRequest, Emulator

PROVIDER = "openai"
CHAT, RESPONSES = "/v1/chat/completions", "/v1/responses"

_ERROR_KIND = {  # HTTP status → (error.type, error.code) as OpenAI sends them
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    409: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
_finishing = threading.Lock()  # one thread writes a batch's output files


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    kind, default_code = _ERROR_KIND.get(status, ("server_error", None) if status >= 500 else ("invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code or default_code}}


def request_id() -> str:
    return f"req_{time.time_ns():x}"


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


ECHOED = ("instructions", "max_output_tokens", "metadata", "temperature", "top_p", "text")


def echoed(body: dict) -> dict:
    """What ``responses_body`` reads of the request it answers: a batch keeps this much of each request's body."""
    return {k: body[k] for k in ECHOED if k in body}


def answer_body(endpoint: str, request: EmuRequest, answer: EmuAnswer, sent: dict) -> dict:
    now = int(time.time())
    return chat_body(request, answer, now) if endpoint == CHAT else responses_body(request, answer, now, sent)


# --- result files ---------------------------------------------------------------------------

class Tally:
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


class ResultLines:
    """A batch's sink (core.EmuBatch.sink): each answer, as it comes, becomes a line of its output file (200)
    or error file (failed, or never run when the batch expired), encoded and written to disk at once; counts
    and usage are summed."""

    def __init__(self, emu: Emulator, endpoint: str, bodies: "batchfile.InputLines | list[dict]"):
        self.emu, self.endpoint, self.bodies = emu, endpoint, bodies  # each request's body: the file, or kept
        self.tally = Tally()
        self.files: dict[str, tuple[Path, object]] = {}  # "output" | "error" → (path, open file), once written to
        self.batch: EmuBatch | None = None

    def __call__(self, index: int, request: EmuRequest, answer: EmuAnswer | None) -> None:
        batch = self.batch
        self.tally.add(answer, batch.fate == "expired")
        line = result_line(batch, index, request, answer, self._sent(index))
        if line is not None:
            ok = line["response"] and line["response"]["status_code"] == 200
            self._file("output" if ok else "error").write(json.dumps(line).encode() + b"\n")

    def _file(self, name: str):
        if name not in self.files:
            path = self.emu.disk.new(f"{self.batch.id}-{name}-")
            self.files[name] = (path, open(path, "wb"))
        return self.files[name][1]

    def close(self) -> dict[str, Path]:
        """name → path of the files written (an empty one is not made)."""
        for _, handle in self.files.values():
            handle.close()
        return {name: path for name, (path, _) in self.files.items()}

    def _sent(self, index: int) -> dict:
        """What a Responses answer echoes of its request's body (chat answers echo none)."""
        if self.endpoint != RESPONSES:
            return {}
        if isinstance(self.bodies, batchfile.InputLines):
            return echoed(self.bodies.body)  # the line being answered
        return echoed(self.bodies[index])


def store_file(emu: Emulator, name: str, purpose: str, path: Path) -> str:
    """Enter the file at ``path`` (in the emulator's directory) in ``Emulator.files``; its id."""
    file_id = emu.new_id("file-")
    emu.files[file_id] = {"name": name, "purpose": purpose, "path": str(path), "bytes": path.stat().st_size,
                          "created": int(time.time()), "provider": PROVIDER}
    return file_id


def write_result_files(emu: Emulator, batch: EmuBatch) -> None:
    """Once per ended batch: store the output file (200 lines) and the error file (failed or never-run lines)
    its sink wrote as it was answered."""
    with _finishing:
        if batch.extra.get("files_written"):
            return
        sink = batch.sink
        if sink is not None:
            for name, path in sink.close().items():
                batch.extra[f"{name}_file_id"] = store_file(emu, f"batch_{batch.id}_{name}.jsonl", "batch_output", path)
            batch.extra["summary"] = {"model": batch.model, "counts": sink.tally.counts(len(batch.requests)),
                                      "usage": sink.tally.usage()}
        else:  # failed validation: never ran
            batch.extra["summary"] = summary(batch)
        batch.extra["files_written"] = True
        batch.sink = None
        if isinstance(batch.requests, batchfile.InputLines):  # the batch's own link to its input file
            files.remove(batch.requests.path)
        # What OpenAI keeps of an ended batch: its metadata, counts and usage; its requests and answers live on
        # only in its files, until they are deleted (octo deletes them once ingested). Without this, a
        # long-running emulator would hold every request it was ever sent (unless it keeps them for an audit).
        if not emu.keep_history:
            batch.requests, batch.answers = [], []


def summary(batch: EmuBatch) -> dict:
    """Model, request counts and usage: of a batch still running, or failed at validation (never run)."""
    tally = Tally()
    return {"model": batch.model, "counts": tally.counts(len(batch.requests)),
            "usage": tally.usage() if batch.status == "ended" else None}


def result_line(batch: EmuBatch, index: int, request: EmuRequest, answer: EmuAnswer | None,
                 sent: dict) -> dict | None:
    line = {"id": f"batch_req_{batch.id.removeprefix('batch_')}_{index}", "custom_id": request.custom_id}
    if answer is None:
        if batch.fate != "expired":  # a cancelled batch simply has no line for what it never ran
            return None
        return {**line, "response": None, "error": {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired."}}
    if answer.error is not None:
        response = {"status_code": answer.error.status, "request_id": request_id(),
                    "body": error_body(answer.error.status, answer.error.message, answer.error.param,
                                       answer.error.code)}
    else:
        response = {"status_code": 200, "request_id": request_id(),
                    "body": answer_body(batch.meta["endpoint"], request, answer, sent)}
    return {**line, "response": response, "error": None}
