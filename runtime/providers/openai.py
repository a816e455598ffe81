"""The OpenAI adapter: requests as Batch API lines or realtime calls, on the official ``openai`` SDK.

Owns how a ``Request`` becomes an OpenAI request body for either endpoint
(``endpoint="chat"``: ``/v1/chat/completions``, the default; ``"responses"``:
``/v1/responses``), how batches are submitted (a JSONL file uploaded with
``purpose=batch``, then ``batches.create`` with ``metadata={"octo_key": key}``
so ``find(key)`` can list it back after a crash), and how output/error file
lines and realtime replies become ``Outcome``s and ``Usage``.

Outcome rules:
- a line the batch never ran (``response: null``, e.g. ``batch_expired``), or a
  request missing from both files (cancelled) → retryable error;
- a non-200 line → error, retryable only for 408/409/429/5xx;
- an answer cut off at ``max_tokens`` (chat ``finish_reason="length"``,
  responses ``status="incomplete"``) → error, not retryable (the same limit
  cuts it again), with the partial text and the billed usage kept;
- a refusal or content filter → error, not retryable.

SDK retries stay on (``max_retries=2``) for 408/409/429/5xx and connection
errors; what is left after them becomes a ``ProviderError``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import openai

from .base import BatchStatus, Outcome, ProviderError, Request, Usage, redact, register_secret
from .matching import attach_stream
from .openai_schema import strict_schema

KEY_ENV = "OPENAI_API_KEY"
METADATA_KEY = "octo_key"
ENDPOINTS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
ENDED = {"completed", "failed", "expired", "cancelled"}
_RETRYABLE_STATUS = {408, 409, 429}
CAPACITY_CODES = {"token_limit_exceeded"}  # a batch failed for an organisation-wide limit, not for its requests
_OPTIONS = {"endpoint", "max_retries", "timeout", "organization", "project"}
_CHUNK = 1 << 20  # bytes read at a time from a result file


class OpenAIAdapter:
    provider = "openai"
    max_batch_requests = 50_000
    max_batch_bytes = 200_000_000  # "200 MB" (the batch create reference), not MiB: the smaller reading

    def __init__(self, api_key: str, base_url: str | None = None, **options):
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ValueError(f"unknown openai option(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(_OPTIONS))}")
        endpoint = options.get("endpoint", "chat")
        if endpoint not in ENDPOINTS:
            raise ValueError(f"openai option endpoint must be 'chat' or 'responses', not {endpoint!r}")
        register_secret(api_key)
        self.endpoint = endpoint
        self.url = ENDPOINTS[endpoint]
        client_options = {k: options[k] for k in ("timeout", "organization", "project") if k in options}
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=options.get("max_retries", 2),
                                    **client_options)
        self._uploads: dict[str, str] = {}  # batch key → input file id, until a batch is created from it

    # --- request bodies ----------------------------------------------------------------------

    def body(self, request: Request) -> dict:
        """The JSON body of ``request`` for this adapter's endpoint."""
        return _chat_body(request) if self.endpoint == "chat" else _responses_body(request)

    def line(self, request: Request) -> dict:
        return {"custom_id": request.custom_id, "method": "POST", "url": self.url, "body": self.body(request)}

    def jsonl(self, request: Request) -> bytes:
        """The request's line of the batch input file, as uploaded: compact UTF-8 JSON and a newline
        (UTF-8 rather than ``\\uXXXX`` escapes, which would make non-ASCII text up to three times larger)."""
        return json.dumps(self.line(request), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    def request_bytes(self, request: Request) -> int:
        return len(self.jsonl(request))

    # --- batches -----------------------------------------------------------------------------

    def submit(self, key: str, requests: Iterable[Request]) -> str:
        """Write the requests' lines to a temporary file as they come and upload that file (the SDK streams it
        from disk), so a batch of 50,000 requests is never held in memory."""
        with tempfile.TemporaryFile() as spool:
            count, size = 0, 0
            for request in requests:
                size += spool.write(self.jsonl(request))
                count += 1
            if not count:
                raise ValueError("an openai batch needs at least one request")
            if count > self.max_batch_requests:
                raise ValueError(f"an openai batch holds at most {self.max_batch_requests} requests, not {count}")
            if size > self.max_batch_bytes:
                raise ValueError(f"the openai batch file is {size} bytes; the limit is {self.max_batch_bytes}")
            spool.flush()  # the upload's Content-Length is the file's size on disk
            return self._create(key, spool)

    def _create(self, key: str, spool) -> str:
        with _translated("uploading the batch file", capacity=True):
            upload = self.client.files.create(file=(f"octo-{key}.jsonl", spool), purpose="batch")
        self._uploads[key] = upload.id  # if no batch comes of it, find(key) deletes it
        with _translated("creating the batch", capacity=True):
            batch = self.client.batches.create(input_file_id=upload.id, endpoint=self.url, completion_window="24h",
                                               metadata={METADATA_KEY: key})
        self._uploads.pop(key, None)
        return batch.id

    def find(self, key: str, custom_ids: list[str] | None = None, claimed: frozenset = frozenset()) -> str | None:
        with _translated("listing batches"):
            for batch in self.client.batches.list(limit=100):  # newest first; the SDK fetches further pages
                if (batch.metadata or {}).get(METADATA_KEY) == key:
                    self._uploads.pop(key, None)
                    return batch.id
        orphan = self._uploads.pop(key, None)
        if orphan is not None:  # uploaded by this process for a batch that was never created: nothing uses it
            self._delete_file(orphan, f"deleting the unused batch file {orphan}")
        return None

    def poll(self, batch_id: str) -> BatchStatus:
        with _translated(f"polling batch {batch_id}"):
            batch = self.client.batches.retrieve(batch_id)
        counts = batch.request_counts
        count_map = {"total": counts.total, "completed": counts.completed, "failed": counts.failed} if counts else {}
        return BatchStatus(ended=batch.status in ENDED, state=batch.status, failed=_why_failed(batch, count_map),
                           counts=count_map, capacity=_over_capacity(batch))

    def results(self, batch_id: str, custom_ids: list[str]) -> list[Outcome]:
        return list(self.results_stream(batch_id, custom_ids))

    def results_stream(self, batch_id: str, custom_ids: Iterable[str]) -> Iterator[Outcome]:
        """The outcomes, in ``custom_ids`` order, of result files read line by line as they download: no more
        than a page of them in memory at once (matching.attach_stream)."""
        with _translated(f"reading the results of batch {batch_id}"):
            batch = self.client.batches.retrieve(batch_id)
            answers = ((_custom_id(line), _outcome_of_line(line))
                       for file_id in (batch.output_file_id, batch.error_file_id) if file_id
                       for line in self._lines_of(file_id))
            never_run = f"the batch ended ({batch.status}) without running this request"
            # by custom_id only: a line whose id is not the batch's, or is on two lines, is attached to nothing
            return attach_stream(answers, custom_ids, lambda cid: Outcome(cid, error=never_run, retryable=True),
                                 "openai")

    def _lines_of(self, file_id: str) -> Iterator[dict]:
        """The file's JSON lines, decoded one at a time as they are downloaded (the file is never held whole)."""
        with self.client.files.with_streaming_response.content(file_id) as response:
            yield from _jsonl(response.iter_bytes(_CHUNK))

    def cancel(self, batch_id: str) -> None:
        with _translated(f"cancelling batch {batch_id}", conflict_ok=True):  # 409: it already ended
            self.client.batches.cancel(batch_id)

    def delete_input(self, batch_id: str) -> None:
        """Delete the batch's uploaded input file, and its output and error files (their answers are in the run
        store once it is ingested); a batch or file already gone is fine."""
        try:
            with _translated(f"reading batch {batch_id}"):
                batch = self.client.batches.retrieve(batch_id)
        except ProviderError as err:
            if err.kind == "not_found":
                return
            raise
        for what, file_id in (("input", batch.input_file_id), ("output", batch.output_file_id),
                              ("error", batch.error_file_id)):
            if file_id:
                self._delete_file(file_id, f"deleting the {what} file {file_id} of batch {batch_id}")

    def _delete_file(self, file_id: str, doing: str) -> None:
        try:
            with _translated(doing):
                self.client.files.delete(file_id)
        except ProviderError as err:
            if err.kind != "not_found":
                raise

    # --- realtime ----------------------------------------------------------------------------

    def call(self, request: Request) -> Outcome:
        try:
            with _translated("calling the model", per_request=True):
                if self.endpoint == "chat":
                    reply = self.client.chat.completions.create(**self.body(request))
                else:
                    reply = self.client.responses.create(**self.body(request))
        except _RequestRefused as refused:
            return Outcome(request.custom_id, error=refused.message, retryable=False)
        return _outcome_of_body(request.custom_id, reply.model_dump())


# --- bodies --------------------------------------------------------------------------------------

def _chat_body(request: Request) -> dict:
    messages = ([{"role": "system", "content": request.system}] if request.system else []) + \
               [{"role": "user", "content": request.prompt}]
    # max_completion_tokens, not the deprecated max_tokens that reasoning models refuse
    body = {"model": request.model, "messages": messages, "max_completion_tokens": request.max_tokens}
    body.update(_sampling(request))
    if request.seed is not None:
        body["seed"] = request.seed
    if request.reasoning_effort is not None:
        body["reasoning_effort"] = request.reasoning_effort
    if request.schema is not None:
        strict = is_strict_compatible(request.schema)
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "output", "schema": _sent_schema(request.schema, strict), "strict": strict}}
    return body


def _responses_body(request: Request) -> dict:
    body = {"model": request.model, "input": [{"role": "user", "content": request.prompt}],
            "max_output_tokens": request.max_tokens}
    if request.system:
        body["instructions"] = request.system
    body.update(_sampling(request))  # no seed: the Responses API has none (docs/providers.md)
    if request.reasoning_effort is not None:
        body["reasoning"] = {"effort": request.reasoning_effort}
    if request.schema is not None:
        strict = is_strict_compatible(request.schema)
        body["text"] = {"format": {"type": "json_schema", "name": "output",
                                   "schema": _sent_schema(request.schema, strict), "strict": strict}}
    return body


def _sampling(request: Request) -> dict:
    """temperature and top_p, where the request carries them (runtime/attempts/modelsettings.py left out the refused)."""
    return {k: v for k, v in (("temperature", request.temperature), ("top_p", request.top_p)) if v is not None}


def _sent_schema(schema: dict, strict: bool) -> dict:
    """What goes on the wire: under strict mode, without the keywords it refuses (openai_schema.py)."""
    return strict_schema(schema) if strict else schema


def is_strict_compatible(schema) -> bool:
    """Whether OpenAI's strict mode accepts ``schema`` as it is: an object at the root, and every
    object closed (``additionalProperties: false``) with all its properties required."""
    return isinstance(schema, dict) and _is_object(schema) and _all_objects_closed(schema)


def _is_object(schema: dict) -> bool:
    kind = schema.get("type")
    return kind == "object" or (kind is None and "properties" in schema)


def _all_objects_closed(schema) -> bool:
    if isinstance(schema, list):
        return all(_all_objects_closed(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if _is_object(schema):
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(properties):
            return False
    children = [*schema.get("properties", {}).values(), *schema.get("$defs", {}).values(),
                *schema.get("definitions", {}).values(), schema.get("items"), schema.get("anyOf"),
                schema.get("prefixItems")]
    return all(_all_objects_closed(child) for child in children if child is not None)


# --- outcomes ------------------------------------------------------------------------------------

def _jsonl(chunks: Iterable[bytes]) -> Iterator[dict]:
    """The JSON lines of a file arriving in ``chunks``, split on newlines only (JSON escapes every newline in a
    string; a raw U+2028 inside one is text, not a line break)."""
    rest = b""
    for chunk in chunks:
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for raw in lines:
            if raw.strip():
                yield json.loads(raw)
    if rest.strip():
        yield json.loads(rest)


def _custom_id(line: dict) -> str | None:
    custom_id = line.get("custom_id")
    return custom_id if isinstance(custom_id, str) else None


def _outcome_of_line(line: dict) -> Outcome:
    custom_id, response = _custom_id(line) or "", line.get("response")
    if response is None:  # never run: the batch expired or the line could not be executed
        error = line.get("error") or {}
        return Outcome(custom_id, error=f"not run ({error.get('code', 'unknown')}): {error.get('message', '')}",
                       retryable=True)
    status, body = response.get("status_code"), response.get("body") or {}
    if status != 200:
        message = (body.get("error") or {}).get("message") or json.dumps(body)[:300]
        return Outcome(custom_id, error=f"HTTP {status}: {message}", retryable=_is_retryable_status(status))
    return _outcome_of_body(custom_id, body)


def _outcome_of_body(custom_id: str, body: dict) -> Outcome:
    """An Outcome from a 200 body of either endpoint (told apart by its ``object``)."""
    if body.get("object") == "response":
        return _responses_outcome(custom_id, body)
    return _chat_outcome(custom_id, body)


def _chat_outcome(custom_id: str, body: dict) -> Outcome:
    usage = _chat_usage(body.get("usage") or {})
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text, reason = message.get("content"), choice.get("finish_reason")
    if message.get("refusal"):
        return Outcome(custom_id, text, usage, f"the model refused: {message['refusal']}", retryable=False)
    if reason == "length":
        return Outcome(custom_id, text, usage, "the answer was cut off at max_tokens", retryable=False)
    if reason == "content_filter":
        return Outcome(custom_id, text, usage, "the answer was stopped by the content filter", retryable=False)
    if text is None:
        return Outcome(custom_id, None, usage, f"the answer has no text (finish_reason {reason})", retryable=False)
    return Outcome(custom_id, text, usage)


def _responses_outcome(custom_id: str, body: dict) -> Outcome:
    usage = _responses_usage(body.get("usage") or {})
    parts = [part for item in body.get("output") or [] if item.get("type") == "message"
             for part in item.get("content") or []]
    text = "".join(p.get("text") or "" for p in parts if p.get("type") == "output_text") if parts else None
    refusal = "".join(p.get("refusal") or "" for p in parts if p.get("type") == "refusal")
    status = body.get("status")
    if refusal:
        return Outcome(custom_id, text, usage, f"the model refused: {refusal}", retryable=False)
    if status == "incomplete":
        reason = (body.get("incomplete_details") or {}).get("reason")
        what = "cut off at max_tokens" if reason == "max_output_tokens" else f"incomplete ({reason})"
        return Outcome(custom_id, text, usage, f"the answer was {what}", retryable=False)
    if status == "failed":
        error = body.get("error") or {}
        return Outcome(custom_id, None, usage, f"the response failed: {error.get('message', error.get('code'))}",
                       retryable=error.get("code") in ("server_error", "rate_limit_exceeded"))
    if text is None:
        return Outcome(custom_id, None, usage, f"the response has no text (status {status})", retryable=False)
    return Outcome(custom_id, text, usage)


def _chat_usage(usage: dict) -> Usage:
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(input=usage.get("prompt_tokens", 0) - cached, cached_input=cached,
                 output=usage.get("completion_tokens", 0), reasoning=reasoning)


def _responses_usage(usage: dict) -> Usage:
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(input=usage.get("input_tokens", 0) - cached, cached_input=cached,
                 output=usage.get("output_tokens", 0), reasoning=reasoning)


def _over_capacity(batch) -> bool:
    """Did the batch fail for the organisation's enqueued-token limit of its model (``token_limit_exceeded``,
    openai/openai-python#2084), or the enqueued-request limit of embedding models ("Enqueued request limit
    reached")? Not for anything in its requests: they are sent again later."""
    if batch.status != "failed":
        return False
    errors = (batch.errors and batch.errors.data) or []
    return any(e.code in CAPACITY_CODES or (e.message or "").startswith("Enqueued ") for e in errors)


def _why_failed(batch, counts: dict) -> str | None:
    """Why the batch as a whole did not run, for BatchStatus.failed; None if it ran (or still runs)."""
    if batch.status == "failed":
        errors = [e.message or e.code or "?" for e in ((batch.errors and batch.errors.data) or [])]
        return "the batch failed" + (": " + "; ".join(errors[:5]) if errors else "")
    if batch.status == "expired":
        return "the batch expired (24h window) before all its requests ran"
    if batch.status == "cancelled" and not counts.get("completed") and not counts.get("failed"):
        return "the batch was cancelled before any request ran"
    return None


# --- errors ----------------------------------------------------------------------------------

def _is_retryable_status(status: int | None) -> bool:
    return status is None or status in _RETRYABLE_STATUS or status >= 500


class _RequestRefused(ProviderError):
    """A 4xx for one realtime request itself (bad parameters, too long…): that request's failure."""


@contextmanager
def _translated(doing: str, per_request: bool = False, conflict_ok: bool = False, capacity: bool = False):
    """Turn the SDK's exceptions into ProviderErrors with safe, user-facing messages.

    ``per_request``: a 4xx other than auth/404/408/409/429 is the request's own fault (_RequestRefused).
    ``conflict_ok``: a 409 means there is nothing to do (cancelling a batch that already ended).
    ``capacity``: a 429 left after the SDK's retries is an organisation-wide limit (batches created per hour,
    file storage): kind "capacity", so the sender backs off without spending a try."""
    try:
        yield
    except openai.AuthenticationError as err:
        raise ProviderError(f"openai rejected the API key while {doing} (HTTP {err.status_code}): "
                            f"{_message(err)}. Check {KEY_ENV}.", kind="auth") from None
    except openai.PermissionDeniedError as err:
        raise ProviderError(f"openai denied access while {doing} (HTTP 403): {_message(err)}. "
                            f"Check that the key in {KEY_ENV} may use this model and project.") from None
    except openai.NotFoundError as err:
        batchy = "batch" in doing or "file" in doing  # a batch the provider no longer has, or a model it never had
        raise ProviderError(f"openai found no such resource while {doing} (HTTP 404): {_message(err)}. "
                            + ("The batch is unknown to openai." if batchy else "Check the model name."),
                            kind="not_found" if batchy else "model") from None
    except openai.APIStatusError as err:
        status = err.status_code
        if status == 409 and conflict_ok:
            return
        if status == 429 and capacity:
            raise ProviderError(f"openai refused the batch for an organisation-wide limit while {doing} "
                                f"(HTTP 429, after retries): {_message(err)}", transient=True, kind="capacity") from None
        if _is_retryable_status(status):
            raise ProviderError(f"openai failed while {doing} (HTTP {status}, after retries): {_message(err)}",
                                transient=True) from None
        if per_request:
            raise _RequestRefused(f"HTTP {status}: {_message(err)}") from None
        raise ProviderError(f"openai refused the request while {doing} (HTTP {status}): {_message(err)}") from None
    except openai.APIConnectionError as err:  # includes timeouts
        raise ProviderError(f"could not reach openai while {doing}: {err}", transient=True) from None


def _message(err: openai.APIStatusError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    return redact(body.get("message") or err.message)
