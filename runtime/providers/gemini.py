"""The Gemini adapter: octo requests through google-genai's Developer API (batch and realtime).

Owns the translation between ``Request``/``Outcome`` and the Gemini API as the
google-genai SDK speaks it:

- a batch goes inline (``batches.create(src=[{contents, config, metadata}])``) while
  the body the SDK will send stays within ``inline_limit_bytes`` (default
  20,000,000, the API's inline ceiling read as the smaller of 20 MB and 20 MiB),
  otherwise as an uploaded JSONL file of ``{"key", "request"}`` lines
  (``files.upload`` then ``batches.create(src="files/ID")``). The body is measured
  as the SDK writes it: ``json.dumps`` with its defaults, so every non-ASCII
  character is a ``\\uXXXX`` escape, 6 bytes (12 for an emoji) where UTF-8 takes
  2 to 4 (``_inline_bytes``);
- the batch's ``display_name`` is octo's batch key: ``find(key)`` lists the
  account's batches and picks the newest one with that name;
- results: the inline responses, or the responses file downloaded with
  ``files.download``. Each inline request carries ``metadata={"key": custom_id}``
  and each file line its ``key``; an answer is attached to a request only when
  its key proves it (matching.py), never by position: the service may answer out
  of order or without the keys (googleapis/python-genai #1909, #2008). Requests
  left without a proven answer come back ``unmatched`` (sent again without
  spending a try) and, after an inline batch whose answers lacked keys, the
  model's later batches go as files, whose lines carry ``key``. Requests with no
  answer in a batch whose answers all carry keys were never run: retryable;
- structured output uses JSON-Schema mode
  (``response_mime_type="application/json"``, ``response_json_schema=schema``);
- usage: ``prompt_token_count`` includes cached tokens, so uncached input is the
  difference; thinking tokens (``thoughts_token_count``) are billed as output;
- google-genai does not retry by default: the client is built with
  ``HttpRetryOptions`` retrying 408/429/5xx ``retry_attempts - 1`` times after
  ``retry_delay`` seconds (doubling). The SDK ignores ``retry-after``.

The SDK's ``BatchJob`` drops the API's ``batchStats``, so ``poll`` counts come from
the inline results when there are any.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
import re
from contextlib import contextmanager

from .base import BatchStatus, Outcome, ProviderError, Request, Usage, redact, register_secret
from .matching import attach

_KEY_ENV = "GEMINI_API_KEY (or GOOGLE_API_KEY)"
_RETRY_STATUSES = [408, 429, 500, 502, 503, 504]
_ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
          "JOB_STATE_PARTIALLY_SUCCEEDED"}
# gRPC codes (google.rpc.Status, as per-request batch errors carry them) for which sending
# the same request again cannot help: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
# PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED, UNAUTHENTICATED.
_FINAL_RPC_CODES = {3, 5, 6, 7, 9, 11, 12, 16}
# What a model name may be: it becomes a segment of the request's URL path, so `?`, `#`, `/..`
# and the like are refused before any URL is built (the SDK would raise a bare ValueError).
_MODEL_NAME = re.compile(r"(?:models/|tunedModels/)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REFUSED_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
                   "IMAGE_SAFETY", "MALFORMED_FUNCTION_CALL"}


# Gemini 3's thinking levels (google-genai's ThinkingLevel); on 2.5 models an effort arrives as the budget
# Google maps it to (runtime/attempts/modelsettings.py), so only a model the capability table does not know sends one.
_THINKING_LEVELS = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "XHIGH"}


def _thinking(request: Request) -> dict:
    """``thinking_config`` of a request: its thinking budget, or its effort as a thinking level ("none": budget 0)."""
    if request.thinking_budget is not None:
        return {"thinking_budget": request.thinking_budget}
    if request.reasoning_effort == "none":
        return {"thinking_budget": 0}
    level = _THINKING_LEVELS.get(request.reasoning_effort or "")
    if level is None or level not in _sdk_levels():
        return {}  # no such level (XHIGH came in google-genai 3.x; the floor, 1.56.0, has MINIMAL to HIGH)
    return {"thinking_level": level}


def _sdk_levels() -> set[str]:
    from google.genai import types

    return set(types.ThinkingLevel.__members__)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level failures of whichever httpx flavour the SDK runs on."""
    found = []
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


class GeminiAdapter:
    provider = "gemini"
    max_batch_requests = 100_000        # no documented count limit; keeps one results file manageable
    max_batch_bytes = 2_000_000_000     # input files up to 2 GB

    def __init__(self, api_key: str, base_url: str | None = None, *, inline_limit_bytes: int = 20_000_000,
                 retry_attempts: int = 3, retry_delay: float = 1.0, timeout: float = 600.0, **options):
        from google import genai
        from google.genai import errors, types

        register_secret(api_key)
        self._types, self._errors = types, errors
        self._transport = _transport_errors()
        self.inline_limit_bytes = inline_limit_bytes
        self._file_only: set[str] = set()  # models whose inline answers came back without keys: files from now on
        self.base_url = base_url or "https://generativelanguage.googleapis.com"
        retry = types.HttpRetryOptions(attempts=max(1, retry_attempts), initial_delay=retry_delay,
                                       max_delay=retry_delay * 8, exp_base=2, jitter=retry_delay / 4,
                                       http_status_codes=_RETRY_STATUSES)
        http_options = types.HttpOptions(api_version="v1beta", base_url=base_url, retry_options=retry,
                                         timeout=int(timeout * 1000))  # milliseconds
        # Keep the client: it closes its HTTP connections when garbage-collected.
        self._client = genai.Client(api_key=api_key, http_options=http_options)
        self._options = options
        self._inputs: dict[str, str | None] = {}  # batch name → its uploaded file (None: inline), this process's

    # --- building requests -----------------------------------------------------------------

    def _config(self, request: Request):
        config = {"max_output_tokens": request.max_tokens}
        if request.system:
            config["system_instruction"] = request.system
        if request.temperature is not None:
            config["temperature"] = request.temperature
        config.update({k: v for k, v in (("top_p", request.top_p), ("seed", request.seed)) if v is not None})
        thinking = _thinking(request)
        if thinking:
            config["thinking_config"] = thinking
        if request.schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = request.schema
        return self._types.GenerateContentConfig(**config)

    @staticmethod
    def _contents(request: Request) -> list[dict]:
        return [{"role": "user", "parts": [{"text": request.prompt}]}]

    def _rest_request(self, request: Request) -> dict:
        """The GenerateContentRequest as REST JSON, for a file-mode line (the SDK converts inline ones)."""
        generation = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            generation["temperature"] = float(request.temperature)  # as the SDK's float field sends it: 1 → 1.0
        if request.top_p is not None:
            generation["topP"] = float(request.top_p)
        if request.seed is not None:
            generation["seed"] = request.seed
        thinking = _thinking(request)
        if thinking:  # as the SDK sends a ThinkingConfig: its own (snake_case) field names, which the API takes
            generation["thinkingConfig"] = thinking
        if request.schema is not None:
            generation.update(responseMimeType="application/json", responseJsonSchema=request.schema)
        body: dict = {"contents": self._contents(request)}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}], "role": "user"}
        body["generationConfig"] = generation
        return body

    def _line(self, request: Request) -> bytes:
        line = {"key": request.custom_id, "request": self._rest_request(request)}
        return json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"

    def request_bytes(self, request: Request) -> int:
        """The request's line in the JSONL file (a batch over the inline limit goes as that file)."""
        return len(self._line(request))

    def _inline_bytes(self, key: str, requests: list[Request]) -> int:
        """The size of the body ``batches.create`` sends for these requests inline, exactly: google-genai
        converts each inline request into the same REST JSON as a file line's ``request`` and posts
        ``json.dumps(body)`` with its defaults (``_api_client.py``: ASCII only, non-ASCII as ``\\uXXXX``)."""
        items = [{"request": self._rest_request(r), "metadata": {"key": r.custom_id}} for r in requests]
        return len(json.dumps({"batch": {"inputConfig": {"requests": {"requests": items}}, "displayName": key}}))

    # --- batches -----------------------------------------------------------------------------

    def submit(self, key: str, requests: Iterable[Request]) -> str:
        requests = list(requests)  # one body (or inline list) holds them all: the SDK sends it whole
        if not requests:
            raise ValueError("a batch needs at least one request")
        models = {r.model for r in requests}
        if len(models) != 1:
            raise ValueError(f"a Gemini batch runs one model; got {sorted(models)}")
        model = _checked_model(models.pop())
        inline = model not in self._file_only and self._inline_bytes(key, requests) <= self.inline_limit_bytes
        with self._guard("submitting a batch", capacity=True):
            if inline:
                source = [{"contents": self._contents(r), "config": self._config(r),
                           "metadata": {"key": r.custom_id}} for r in requests]
            else:
                source = self._upload(key, b"".join(self._line(r) for r in requests))
            job = self._client.batches.create(model=model, src=source, config={"display_name": key})
        self._inputs[job.name] = None if inline else _file_name(key)
        return job.name

    def _upload(self, key: str, data: bytes) -> str:
        import io

        # named after the key, so the file can be found (and deleted) from the key alone, after a kill too
        uploaded = self._client.files.upload(file=io.BytesIO(data), config={
            "mime_type": "application/jsonl", "display_name": f"{key}.jsonl", "name": _file_name(key)})
        return uploaded.name

    def find(self, key: str, custom_ids: list[str] | None = None, claimed: frozenset = frozenset()) -> str | None:
        with self._guard("listing batches"):
            matches = [job for job in self._client.batches.list(config={"page_size": 100})
                       if job.display_name == key]
        if not matches:
            self._delete_file(_file_name(key))  # an input uploaded for a batch that was never created, if any
            return None
        newest = max(matches, key=lambda job: (job.create_time is not None, job.create_time or 0))
        return newest.name

    def poll(self, batch_id: str) -> BatchStatus:
        with self._guard(f"polling batch {batch_id}"):
            job = self._client.batches.get(name=batch_id)
        state = job.state.name if job.state is not None else "JOB_STATE_UNSPECIFIED"
        inlined = job.dest.inlined_responses if job.dest is not None else None
        counts = {}
        if inlined is not None:
            errored = sum(1 for entry in inlined if entry.error is not None)
            counts = {"succeeded": len(inlined) - errored, "errored": errored}
        return BatchStatus(ended=state in _ENDED, state=state, failed=self._failure(state, job), counts=counts)

    @staticmethod
    def _failure(state: str, job) -> str | None:
        if state == "JOB_STATE_FAILED":
            return "the Gemini batch failed as a whole; none of its requests were answered"
        if state == "JOB_STATE_EXPIRED":
            return "the Gemini batch expired before all of its requests ran"
        nothing_ran = job.dest is None or not (job.dest.inlined_responses or job.dest.file_name)
        if state == "JOB_STATE_CANCELLED" and nothing_ran:
            return "the Gemini batch was cancelled before any of its requests ran"
        return None

    def results_stream(self, batch_id: str, custom_ids: Iterable[str]) -> Iterator[Outcome]:
        return iter(self.results(batch_id, list(custom_ids)))

    def results(self, batch_id: str, custom_ids: list[str]) -> list[Outcome]:
        with self._guard(f"fetching the results of batch {batch_id}"):
            job = self._client.batches.get(name=batch_id)
            entries = self._entries(job)
        state = job.state.name if job.state is not None else "JOB_STATE_UNSPECIFIED"
        answers = [(entry["key"], self._outcome(entry["key"] or "", entry, state)) for entry in entries]
        outcomes = attach(answers, custom_ids, lambda cid: self._outcome(cid, None, state), "gemini")
        if job.dest is not None and job.dest.inlined_responses is not None and any(o.unmatched for o in outcomes):
            self._file_only.add((job.model or "").removeprefix("models/"))  # file lines carry their key
        return outcomes

    def _entries(self, job) -> list[dict]:
        """The batch's answers in order, each ``{"key"?, "response"?: GenerateContentResponse, "error"?: dict}``."""
        dest = job.dest
        if dest is None:
            return []
        if dest.inlined_responses is not None:
            return [{"key": _key((entry.metadata or {}).get("key")), "response": entry.response,
                     "error": entry.error.model_dump(exclude_none=True) if entry.error is not None else None}
                    for entry in dest.inlined_responses]
        if dest.file_name:
            data = self._client.files.download(file=dest.file_name)
            return [self._file_entry(json.loads(line)) for line in data.decode("utf-8").splitlines() if line.strip()]
        return []

    def _file_entry(self, line: dict) -> dict:
        response = line.get("response")
        if response is not None:
            response = self._types.GenerateContentResponse.model_validate(response)
        return {"key": _key(line.get("key")), "response": response, "error": line.get("error")}

    def _outcome(self, custom_id: str, entry: dict | None, state: str) -> Outcome:
        if entry is None:
            return Outcome(custom_id, error=f"gemini: the batch ended ({state}) before this request ran",
                           retryable=True)
        if entry["error"] is not None or entry["response"] is None:
            error = entry["error"] or {}
            code = error.get("code")
            return Outcome(custom_id, error=redact(f"gemini: the request failed (code {code}): "
                                                   f"{error.get('message', 'no answer')}"),
                           retryable=_retryable_code(code))
        return self._answer(custom_id, entry["response"])

    def _answer(self, custom_id: str, response) -> Outcome:
        """An Outcome from a GenerateContentResponse (batch or realtime)."""
        usage = _usage(response.usage_metadata)
        if not response.candidates:
            feedback = response.prompt_feedback
            reason = feedback.block_reason.name if feedback is not None and feedback.block_reason else "no candidates"
            return Outcome(custom_id, usage=usage, error=f"gemini: no answer ({reason})", retryable=False)
        candidate = response.candidates[0]
        parts = candidate.content.parts if candidate.content is not None and candidate.content.parts else []
        text = "".join(part.text for part in parts if part.text is not None and not part.thought)
        finish = candidate.finish_reason.name if candidate.finish_reason is not None else "STOP"
        if finish == "MAX_TOKENS":
            # The partial text is kept for inspection; re-sending the same request would stop at the same place.
            return Outcome(custom_id, text=text or None, usage=usage, retryable=False,
                           error="gemini: the answer was cut off at max_tokens (finish reason MAX_TOKENS)")
        if finish in _REFUSED_FINISH:
            return Outcome(custom_id, text=text or None, usage=usage, retryable=False,
                           error=f"gemini: the model stopped without a usable answer (finish reason {finish})")
        return Outcome(custom_id, text=text, usage=usage)

    def cancel(self, batch_id: str) -> None:
        with self._guard(f"cancelling batch {batch_id}"):
            self._client.batches.cancel(name=batch_id)

    def delete_input(self, batch_id: str) -> None:
        """Delete the file a batch above the inline limit was uploaded as (named after its key, the batch's
        display name); an inline batch has none, and a batch or file already gone is fine."""
        if batch_id in self._inputs:  # submitted by this process: known without asking
            if self._inputs[batch_id] is not None:
                self._delete_file(self._inputs[batch_id])
            return
        try:
            with self._guard(f"reading batch {batch_id}"):
                key = self._client.batches.get(name=batch_id).display_name
        except ProviderError as err:
            if err.kind == "not_found":
                return
            raise
        if key:
            self._delete_file(_file_name(key))

    def _delete_file(self, name: str) -> None:
        try:
            with self._guard(f"deleting the batch file {name}"):
                self._client.files.delete(name=name)
        except ProviderError as err:
            if err.kind != "not_found":
                raise

    # --- realtime ------------------------------------------------------------------------------

    def call(self, request: Request) -> Outcome:
        _checked_model(request.model)
        try:
            with self._guard(f"calling {request.model}", per_request=True):
                response = self._client.models.generate_content(
                    model=request.model, contents=self._contents(request), config=self._config(request))
        except _RequestRefused as refused:
            return Outcome(request.custom_id, error=refused.message, retryable=False)
        return self._answer(request.custom_id, response)

    # --- errors ----------------------------------------------------------------------------------

    @contextmanager
    def _guard(self, doing: str, per_request: bool = False, capacity: bool = False):
        """SDK exceptions as ProviderError (or, for one realtime request's own 4xx, _RequestRefused).
        ``capacity``: a 429 ``RESOURCE_EXHAUSTED`` left after retries is the project's batch limits (tokens
        enqueued per model, concurrent batches): kind "capacity", so the sender backs off spending no try."""
        try:
            yield
        except self._errors.APIError as err:
            if capacity and err.code == 429:
                raise ProviderError(f"gemini: the batch was refused for an organisation-wide limit while {doing} "
                                    f"({err.code} {err.status or ''}: {err.message or err}), after retries",
                                    transient=True, kind="capacity") from None
            raise self._api_failure(err, doing, per_request) from None
        except self._transport as err:
            raise ProviderError(f"gemini: cannot reach {self.base_url} while {doing}: "
                                f"{type(err).__name__}: {err}", transient=True) from None

    def _api_failure(self, err, doing: str, per_request: bool) -> Exception:
        code, status, message = err.code or 0, err.status or "", err.message or str(err)
        said = f"{code} {status}: {message}".strip()
        if code in (401, 403) or "API key" in message or "API_KEY" in str(err.details):
            return ProviderError(f"gemini: the API key was refused while {doing} ({said}). "
                                 f"Check {_KEY_ENV}.", kind="auth")
        if code == 404:
            if "batch" in doing or "file" in doing:  # a batch the provider no longer has
                return ProviderError(f"gemini: not found while {doing} ({said}).", kind="not_found")
            return ProviderError(f"gemini: not found while {doing} ({said}). Check the model name.", kind="model")
        if code in _RETRY_STATUSES or code >= 500:
            return ProviderError(f"gemini: the service kept failing while {doing}, after retries ({said})",
                                 transient=True)
        if per_request:
            return _RequestRefused(redact(f"gemini: the request was refused ({said})"))
        return ProviderError(f"gemini: the request was refused while {doing} ({said})")


def _key(value) -> str | None:
    """An echoed key as text (None when there is none); a key that is not text cannot be one of ours."""
    if value is None:
        return None
    return value if isinstance(value, str) else f"<not text: {value!r}>"


def _file_name(key: str) -> str:
    """The name of a batch's uploaded file: ``files/`` and an id of at most 40 lowercase letters, digits and
    dashes, not starting or ending with one (https://ai.google.dev/api/files#File)."""
    ident = re.sub(r"[^a-z0-9-]", "-", key.lower())[:40].strip("-") or "octo-batch"
    return f"files/{ident}"


def _checked_model(model: str) -> str:
    """``model`` when it is a name Gemini could have; a ProviderError (kind "model") otherwise."""
    if not isinstance(model, str) or not _MODEL_NAME.fullmatch(model) or ".." in model:
        raise ProviderError(f"gemini: {model!r} is not a model name (letters, digits, '.', '_' and '-', "
                            f"as in 'gemini-2.5-flash'). Check the model name.", kind="model")
    return model


class _RequestRefused(Exception):
    """A realtime request's own failure (a 4xx other than auth/not-found/rate limit)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _retryable_code(code) -> bool:
    """Whether a per-request error code (gRPC in batch output; HTTP tolerated) may succeed when re-sent."""
    if not isinstance(code, int):
        return True
    if code >= 100:  # an HTTP status
        return not (400 <= code < 500) or code in (408, 429)
    return code not in _FINAL_RPC_CODES


def _usage(metadata) -> Usage:
    if metadata is None:
        return Usage()
    prompt = metadata.prompt_token_count or 0
    cached = metadata.cached_content_token_count or 0
    thoughts = metadata.thoughts_token_count or 0
    answer = metadata.candidates_token_count or 0
    return Usage(input=prompt - cached, cached_input=cached, output=answer + thoughts, reasoning=thoughts)
