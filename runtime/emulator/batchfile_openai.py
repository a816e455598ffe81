"""Reading an OpenAI batch input file: validating it as the Batch API does, and decoding it line by line.

A file with bad lines makes the batch fail validation: status ``failed`` with
``errors.data[]`` of ``{code, line, param, message}`` naming each line, in
OpenAI's codes. Validation decodes every line at create time but keeps none
of them (``check``): a batch in flight holds its input file's path (the file is
on disk, files.py), and its requests are decoded again, one at a time, when it
runs (``InputLines``). The
wire module (openai_wire.py) owns the routes; this module only reads the lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .core import EmuRequest

Decode = Callable[[dict, str], EmuRequest]


class LineError(ValueError):
    """A line the batch's validation refuses, with OpenAI's code for it."""

    def __init__(self, code: str, param: str | None, message: str):
        super().__init__(message)
        self.code, self.param = code, param


@dataclass
class Checked:
    """What validating an input file found: the errors, and of its requests only what the batch needs
    before it runs (their number, model and enqueued tokens), plus the decoded requests and bodies when asked
    to keep them (an emulator that keeps its history for audits)."""

    count: int = 0
    model: str | None = None  # the first request's
    models: set = field(default_factory=set)
    tokens: int = 0
    errors: list[dict] = field(default_factory=list)
    requests: list[EmuRequest] | None = None
    bodies: list[dict] | None = None


def check(path: str, endpoint: str, max_requests: int, decode: Decode, tokens: Callable[[EmuRequest], int],
          keep: bool = False) -> Checked:
    """Validate the batch input file at ``path`` line by line. The errors are what a real batch reports when it fails
    validation: ``errors.data[]`` of ``{code, line, param, message}``, with the codes OpenAI uses
    (``invalid_json_line``, ``duplicate_custom_id``, ``url_mismatch``, ``model_mismatch``, ``empty_file``,
    ``too_many_tasks``). ``decode`` turns a line's body into the request (per endpoint); ``tokens`` counts what
    a request adds to the organisation's queue (capacity.py)."""
    out, seen = Checked(), set()
    if keep:
        out.requests, out.bodies = [], []
    for number, raw in _numbered(path):
        try:
            custom_id, body = _line(raw, endpoint, seen)
            request = decode(body, custom_id)
        except LineError as err:
            out.errors.append({"code": err.code, "line": number, "param": err.param, "message": str(err)})
            continue
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            out.errors.append({"code": "invalid_request", "line": number, "param": None,
                               "message": f"Invalid line {number}: {err}"})
            continue
        out.count += 1
        out.model = out.model or request.model
        out.models.add(request.model)
        out.tokens += tokens(request)
        if keep:
            out.requests.append(request)
            out.bodies.append(body)
    if not out.count and not out.errors:
        out.errors.append({"code": "empty_file", "line": None, "param": None,
                           "message": "The input file has no requests."})
    if out.count > max_requests:
        out.errors.append({"code": "too_many_tasks", "line": None, "param": None,
                           "message": f"The input file holds {out.count} requests; a batch takes at most {max_requests}."})
    if len(out.models) > 1:
        out.errors.append({"code": "model_mismatch", "line": None, "param": "body.model",
                           "message": "All requests in a batch must use the same model."})
    return out


class InputLines:
    """The requests of a validated input file, decoded again one at a time as they are iterated: what a
    batch in flight holds instead of its decoded requests (each with its own copy of the schema)."""

    def __init__(self, path: str, endpoint: str, decode: Decode, count: int):
        self.path, self.endpoint, self.decode, self.count = path, endpoint, decode, count
        self.body: dict | None = None  # the body of the request iterated last (a Responses answer echoes some)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[EmuRequest]:
        return (request for request, _ in self.with_bodies())

    def with_bodies(self) -> Iterator[tuple[EmuRequest, dict]]:
        """(request, body) per line; the file was validated, so every non-blank line decodes."""
        for _, raw in _numbered(self.path):
            custom_id, self.body = _line(raw, self.endpoint, None)
            yield self.decode(self.body, custom_id), self.body


def _numbered(path: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the file's non-blank lines, split on newlines only and read one at a time (a
    JSON line never holds a raw newline)."""
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield number, raw


def _line(raw: bytes, endpoint: str, seen: set | None) -> tuple[str, dict]:
    """(custom_id, body) of one input line; a LineError for what the batch's validation refuses. ``seen``: the
    custom ids read so far (None: the file was validated already)."""
    try:
        line = json.loads(raw)
    except ValueError:
        raise LineError("invalid_json_line", None, "This line is not parseable as valid JSON.") from None
    custom_id, body = line["custom_id"], line["body"]
    if seen is None:
        return custom_id, body
    if not isinstance(custom_id, str) or not custom_id:
        raise LineError("invalid_request", "custom_id", "The custom_id must be a non-empty string.")
    if line.get("method", "POST") != "POST" or line.get("url") != endpoint:
        raise LineError("url_mismatch", "url", f"The line's method and url must be POST {endpoint}, "
                                                "the batch's endpoint.")
    if custom_id in seen:  # "Must be unique for each request in a batch"
        raise LineError("duplicate_custom_id", "custom_id", f"The custom_id '{custom_id}' is a duplicate of "
                                                             "another request's; each must be unique in a batch.")
    seen.add(custom_id)
    return custom_id, body
