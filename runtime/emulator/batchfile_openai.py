"""Validating an OpenAI batch input file as the Batch API does before it runs anything.

A file with bad lines makes the batch fail validation: status ``failed`` with
``errors.data[]`` of ``{code, line, param, message}`` naming each line, in
OpenAI's codes. The wire module (openai_wire.py) owns the routes; this module
only reads the lines.
"""

from __future__ import annotations

import json
from typing import Callable

from .core import EmuRequest


class LineError(ValueError):
    """A line the batch's validation refuses, with OpenAI's code for it."""

    def __init__(self, code: str, param: str | None, message: str):
        super().__init__(message)
        self.code, self.param = code, param


def read_lines(data: bytes, endpoint: str, max_requests: int, decode: Callable[[dict, str], EmuRequest]
               ) -> tuple[list[EmuRequest], list[dict], list[dict]]:
    """(requests, their bodies, validation errors) of a batch input file. The errors are what a real batch
    reports when it fails validation: ``errors.data[]`` of ``{code, line, param, message}``, with the codes
    OpenAI uses (``invalid_json_line``, ``duplicate_custom_id``, ``url_mismatch``, ``model_mismatch``,
    ``empty_file``, ``too_many_tasks``). ``decode`` turns a line's body into the request (per endpoint)."""
    requests, bodies, errors, seen = [], [], [], set()
    for number, raw in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            custom_id, body = _line(raw, endpoint, seen)
            requests.append(decode(body, custom_id))
            bodies.append(body)
        except LineError as err:
            errors.append({"code": err.code, "line": number, "param": err.param, "message": str(err)})
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            errors.append({"code": "invalid_request", "line": number, "param": None,
                           "message": f"Invalid line {number}: {err}"})
    if not requests and not errors:
        errors.append({"code": "empty_file", "line": None, "param": None, "message": "The input file has no requests."})
    if len(requests) > max_requests:
        errors.append({"code": "too_many_tasks", "line": None, "param": None,
                       "message": f"The input file holds {len(requests)} requests; a batch takes at most {max_requests}."})
    if len({r.model for r in requests}) > 1:
        errors.append({"code": "model_mismatch", "line": None, "param": "body.model",
                       "message": "All requests in a batch must use the same model."})
    return requests, bodies, errors


def _line(raw: str, endpoint: str, seen: set) -> tuple[str, dict]:
    """(custom_id, body) of one input line; a LineError for what the batch's validation refuses."""
    try:
        line = json.loads(raw)
    except ValueError:
        raise LineError("invalid_json_line", None, "This line is not parseable as valid JSON.") from None
    custom_id, body = line["custom_id"], line["body"]
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
