"""The Anthropic adapter: octo requests as Message Batches and Messages API calls, through the ``anthropic`` SDK.

Owns building ``messages.create`` parameters from a ``Request``, submitting and
polling Message Batches, reading their results stream back into ``Outcome``s,
and turning SDK exceptions into ``ProviderError``s that never show the key.

Structured output: ``output_config={"format": {"type": "json_schema", "schema": ...}}``
with the schema passed through the SDK's own ``transform_schema``, which makes it
acceptable to the API (``additionalProperties: false`` on objects; keywords the
API does not enforce, such as ``minimum``, are moved into the description as a
hint). The runtime still validates answers against the original schema.

Finding a batch after a crash. Anthropic batches carry no metadata or name, and
a batch's requests can be read only once it has ended (through its results), so
the key cannot be stored on the batch. ``find`` therefore identifies a batch by
its requests: it needs the ``custom_ids`` that were submitted under the key
(the runtime records them with the intent, before submitting). It lists batches
created in the last ``find_window_days`` (default 29, how long results are
kept), keeps those with the same number of requests, polls those not yet ended,
and for each ended one reads the first lines of its results: a batch whose custom_ids are exactly ours is the
one. This relies on custom_ids being unique to the run (they embed an attempt
id). A candidate still in progress cannot be checked yet; rather than answer
"not found" and have the requests paid for twice, ``find`` raises a transient
``ProviderError`` so the caller asks again later (batches end within 24 hours).
Batch ids the caller already owns can be passed as ``claimed`` so they are not
taken for candidates. Within one process, ``submit`` remembers key → custom_ids
before sending and key → id once accepted, so ``find(key)`` answers without
``custom_ids`` for keys this process submitted (including a submission whose
reply was lost); otherwise ``find`` without ``custom_ids`` is a ``ProviderError``
rather than a "not found" that would pay for the requests twice.

Large ``max_tokens``: the SDK refuses non-streaming ``messages.create`` calls it
expects to run past ten minutes (``max_tokens`` above about 21,000, less for some
models). ``call`` then streams the same request and collects the final message,
so the answer is not cut short. Batch requests have no such limit.

Sampling: ``Request.temperature``, ``top_p`` and ``seed`` are not sent. The SDK
(2.x, ``anthropic/types/message_create_params.py``) has no such arguments and
the API version it speaks (2026-10-21, ``anthropic/_constants.py``) answers a
body that carries them with a 400 ``Extra inputs are not permitted``; the
checker says so where they are written (W0409). Reasoning:
``reasoning_effort`` → ``output_config.effort``; ``thinking_budget`` →
``thinking: {type: enabled, budget_tokens}`` (0: ``{type: disabled}``).

Stop reasons: ``end_turn`` and ``stop_sequence`` are answers; ``max_tokens``
and ``model_context_window_exceeded`` (the prompt and the answer outgrew the
model's context window: the same request would again) cut the answer off, and
``refusal`` refuses it — each fails the unit, not retryable; ``pause_turn`` and
``tool_use`` (octo sends no tools) leave the turn unfinished: retryable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

from .base import BatchStatus, Outcome, ProviderError, Request, Usage, redact, register_secret
from .matching import attach

KEY_ENV = "ANTHROPIC_API_KEY"
_BODY_OVERHEAD = len('{"requests":[]}') - 1  # the wrapping around the lines, less the last line's missing comma

# Error types (the ``error.type`` of an errored batch result) that another attempt may get past.
_RETRYABLE_TYPES = {"rate_limit_error", "timeout_error", "api_error", "overloaded_error"}
# HTTP statuses for which a realtime failure belongs to the request itself, not to the account or service.
_REQUEST_STATUSES = {400, 413, 422}


class AnthropicAdapter:
    provider = "anthropic"
    max_batch_requests = 100_000
    # 256 MB for the whole request body (read as 256,000,000 bytes, the smaller reading), less the
    # body's own wrapping: request_bytes counts each line with its comma (see _BODY_OVERHEAD).
    max_batch_bytes = 256_000_000 - _BODY_OVERHEAD

    def __init__(self, api_key: str, base_url: str | None = None, **options):
        """Options: ``max_retries`` (SDK retries of 429/5xx, default 2), ``timeout`` (seconds),
        ``find_window_days`` (how far back ``find`` looks). Others are ignored: the runtime
        passes one option set to every provider."""
        import anthropic

        register_secret(api_key)
        self._sdk = anthropic
        client_options = {"max_retries": options.get("max_retries", 2)}
        if options.get("timeout") is not None:
            client_options["timeout"] = options["timeout"]
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url, **client_options)
        self._find_window = timedelta(days=options.get("find_window_days", 29))
        self._submitted: dict[str, str] = {}  # key → batch id, for batches this process created
        self._sent_ids: dict[str, list[str]] = {}  # key → custom_ids, for batches this process tried to create

    # --- building requests ---------------------------------------------------------------

    def params(self, request: Request) -> dict:
        """The Messages API parameters for ``request`` (a batch line's ``params``; ``messages.create`` kwargs)."""
        params: dict = {"model": request.model, "max_tokens": request.max_tokens,
                        "messages": [{"role": "user", "content": request.prompt}]}
        if request.system:
            params["system"] = request.system
        output_config = {}
        if request.schema is not None:
            output_config["format"] = {"type": "json_schema", "schema": self._api_schema(request.schema)}
        if request.reasoning_effort is not None:
            output_config["effort"] = request.reasoning_effort
        if output_config:
            params["output_config"] = output_config
        if request.thinking_budget is not None:
            params["thinking"] = ({"type": "enabled", "budget_tokens": request.thinking_budget}
                                  if request.thinking_budget else {"type": "disabled"})
        return params

    def _api_schema(self, schema: dict) -> dict:
        try:
            return self._sdk.transform_schema(schema)
        except (ValueError, TypeError, AssertionError):
            # A schema the helper cannot rewrite (e.g. a sub-schema without a type) goes as written;
            # if the API refuses it, that request's error says why.
            return schema

    def request_bytes(self, request: Request) -> int:
        """The request's share of the ``messages.batches.create`` body as the SDK sends it: its line in
        compact UTF-8 JSON and the comma after it (anthropic/_utils/_json.py: ``ensure_ascii=False``,
        ``separators=(",", ":")``)."""
        return len(_compact({"custom_id": request.custom_id, "params": self.params(request)})) + 1

    # --- batches ---------------------------------------------------------------------------

    def submit(self, key: str, requests: Iterable[Request]) -> str:
        requests = list(requests)  # one body (or inline list) holds them all: the SDK sends it whole
        lines = [{"custom_id": r.custom_id, "params": self.params(r)} for r in requests]
        size = len(_compact({"requests": lines}))
        if len(lines) > self.max_batch_requests or size > self.max_batch_bytes + _BODY_OVERHEAD:
            raise ValueError(f"an anthropic batch holds at most {self.max_batch_requests} requests and "
                             f"{self.max_batch_bytes + _BODY_OVERHEAD} bytes, not {len(lines)} and {size}")
        # Remembered before sending: if the reply is lost (timeout), find(key) can still recognise the batch.
        self._sent_ids[key] = [r.custom_id for r in requests]
        batch = self._sdk_call("submitting a batch", lambda: self._client.messages.batches.create(requests=lines),
                               missing="error", capacity=True)
        self._submitted[key] = batch.id
        return batch.id

    def find(self, key: str, custom_ids: list[str] | None = None,
             claimed: set[str] | frozenset = frozenset()) -> str | None:
        """The batch submitted under ``key``, recognised by its ``custom_ids`` (see the module docstring)."""
        if key in self._submitted:
            return self._submitted[key]
        custom_ids = custom_ids if custom_ids is not None else self._sent_ids.get(key)
        if custom_ids is None:
            raise ProviderError(f"anthropic: cannot look for batch {key} without the custom_ids submitted under it "
                                "(Anthropic batches carry no metadata to find them by)")
        wanted = set(custom_ids)
        undecided = []
        for batch in self._recent_batches():
            if batch.id in claimed or sum(batch.request_counts.to_dict().values()) != len(wanted):
                continue
            if batch.processing_status != "ended":
                batch = self._retrieve(batch.id)  # fresher than the listing; also what moves an emulated batch on
            if batch.processing_status != "ended":
                undecided.append(batch.id)
            elif self._holds_exactly(batch.id, wanted):
                return batch.id
        if undecided:
            raise ProviderError(f"anthropic: cannot tell yet whether batch {', '.join(undecided)} was submitted "
                                f"under key {key}: an Anthropic batch's requests can be read only once it has "
                                "ended; ask again later", transient=True)
        return None

    def _recent_batches(self) -> list:
        since = datetime.now(timezone.utc) - self._find_window
        return self._sdk_call("listing batches",
                              lambda: list(_until_older(self._client.messages.batches.list(limit=1000), since)))

    def _holds_exactly(self, batch_id: str, wanted: set[str]) -> bool:
        """Do the batch's results name exactly ``wanted``? Stops at the first stranger, usually the first line."""
        def read() -> bool:
            seen = set()
            stream = self._client.messages.batches.results(batch_id)
            try:
                for line in stream:
                    if line.custom_id not in wanted:
                        return False
                    seen.add(line.custom_id)
            finally:
                stream.close()
            return seen == wanted
        return self._sdk_call(f"reading the results of batch {batch_id}", read)

    def _retrieve(self, batch_id: str):
        return self._sdk_call(f"polling batch {batch_id}", lambda: self._client.messages.batches.retrieve(batch_id))

    def poll(self, batch_id: str) -> BatchStatus:
        batch = self._retrieve(batch_id)
        counts = batch.request_counts.to_dict()
        ended = batch.processing_status == "ended"
        return BatchStatus(ended=ended, state=batch.processing_status, failed=_nothing_ran(counts) if ended else None,
                           counts=counts)

    def results_stream(self, batch_id: str, custom_ids: Iterable[str]) -> Iterator[Outcome]:
        return iter(self.results(batch_id, list(custom_ids)))

    def results(self, batch_id: str, custom_ids: list[str]) -> list[Outcome]:
        def read() -> list[tuple[str | None, Outcome]]:
            return [(line.custom_id, self._outcome_of(line)) for line in self._client.messages.batches.results(batch_id)]

        answers = self._sdk_call(f"reading the results of batch {batch_id}", read)
        never_ran = f"anthropic: batch {batch_id} has no result for this request (it was never run)"
        # by custom_id only: a result whose id is not the batch's, or is on two results, is attached to nothing
        return attach(answers, custom_ids, lambda cid: Outcome(cid, error=never_ran, retryable=True), "anthropic")

    def cancel(self, batch_id: str) -> None:
        self._sdk_call(f"cancelling batch {batch_id}", lambda: self._client.messages.batches.cancel(batch_id))

    def delete_input(self, batch_id: str) -> None:
        """Nothing to delete: an Anthropic batch carries its requests in the create call, no file is uploaded."""

    # --- realtime -------------------------------------------------------------------------

    def call(self, request: Request) -> Outcome:
        params = self.params(request)
        try:
            message = self._create(params)
        except self._sdk.APIStatusError as err:
            if err.status_code in _REQUEST_STATUSES:
                return Outcome(request.custom_id, error=f"anthropic: {_status_message(err)}", retryable=False)
            raise self._provider_error(err, "calling the Messages API", missing="model") from None
        except self._sdk.AnthropicError as err:
            raise self._provider_error(err, "calling the Messages API", missing="model") from None
        return _outcome_of_message(request.custom_id, message)

    def _create(self, params: dict):
        try:
            return self._client.messages.create(**params)
        except ValueError as err:
            # Raised before any HTTP request when the SDK wants streaming for this max_tokens.
            if "Streaming is required" not in str(err):
                raise
        with self._client.messages.stream(**params) as stream:
            return stream.get_final_message()

    # --- results and errors ---------------------------------------------------------------

    def _outcome_of(self, line) -> Outcome:
        result = line.result
        if result.type == "succeeded":
            return _outcome_of_message(line.custom_id, result.message)
        if result.type == "errored":
            kind, message = _error_parts(result.error)
            return Outcome(line.custom_id, error=f"anthropic: {kind}: {message}", retryable=kind in _RETRYABLE_TYPES)
        if result.type == "canceled":
            return Outcome(line.custom_id, error="anthropic: the batch was cancelled before this request ran",
                           retryable=True)
        return Outcome(line.custom_id, error="anthropic: this request expired before it ran (the batch reached its "
                                             "24-hour limit)", retryable=True)

    def _sdk_call(self, doing: str, action, missing: str = "not_found", capacity: bool = False):
        try:
            return action()
        except self._sdk.AnthropicError as err:
            raise self._provider_error(err, doing, missing, capacity) from None

    def _provider_error(self, err: Exception, doing: str, missing: str = "not_found",
                        capacity: bool = False) -> ProviderError:
        """``missing``: the ProviderError kind a 404 means here ("model" for a call, "not_found" for a batch).
        ``capacity``: a 429 left after the SDK's retries is the organisation's batch limits (requests in the
        processing queue across all models, or batch calls per minute): kind "capacity", spending no try."""
        sdk = self._sdk
        if isinstance(err, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
            return ProviderError(f"anthropic: the API key was refused while {doing} ({_status_message(err)}); "
                                 f"check {KEY_ENV}", kind="auth")
        if isinstance(err, sdk.NotFoundError):
            what = "check the model name" if missing == "model" else "the provider does not know it"
            return ProviderError(f"anthropic: not found while {doing} ({_status_message(err)}); {what}", kind=missing)
        if isinstance(err, sdk.APIConnectionError):
            return ProviderError(f"anthropic: could not reach the API while {doing}: {err}", transient=True)
        if isinstance(err, sdk.APIStatusError) and err.status_code == 429 and capacity:
            return ProviderError(f"anthropic: the batch was refused for an organisation-wide limit while {doing} "
                                 f"(HTTP 429, after retries): {_status_message(err)}", transient=True, kind="capacity")
        if isinstance(err, sdk.APIStatusError):
            transient = err.status_code in (408, 409, 429) or err.status_code >= 500
            return ProviderError(f"anthropic: HTTP {err.status_code} while {doing}: {_status_message(err)}",
                                 transient=transient)
        return ProviderError(f"anthropic: {doing} failed: {err}")


def _compact(value) -> bytes:
    """JSON as the anthropic SDK writes a request body."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _until_older(page, since: datetime):
    """Batches from a newest-first listing (all pages) until one created before ``since``."""
    for batch in page:  # iterating a SyncPage fetches the following pages
        if batch.created_at < since:
            return
        yield batch


def _nothing_ran(counts: dict) -> str | None:
    """Why an ended batch as a whole failed: none of its requests was run (all expired or cancelled)."""
    if counts.get("succeeded", 0) or counts.get("errored", 0):
        return None
    expired, canceled = counts.get("expired", 0), counts.get("canceled", 0)
    if expired:
        return f"the batch ended without running any request ({expired} expired, {canceled} cancelled)"
    return f"the batch was cancelled before any request ran ({canceled} cancelled)"


def _outcome_of_message(custom_id: str, message) -> Outcome:
    text = "".join(block.text for block in message.content if block.type == "text")
    usage = _usage_of(message.usage)
    stopped = _STOPS.get(message.stop_reason)
    if stopped is not None:
        error, retryable = stopped
        return Outcome(custom_id, text, usage, error=f"anthropic: {error}", retryable=retryable)
    return Outcome(custom_id, text, usage)


# Stop reasons that are not an answer: (what to say, may the same request succeed another time?).
# `end_turn` and `stop_sequence` are answers; a reason this SDK does not know yet is taken as one too.
_STOPS = {
    "max_tokens": ("the answer was cut off at max_tokens", False),
    "model_context_window_exceeded": ("the answer was cut off: the prompt and the answer outgrew the model's "
                                      "context window (stop reason model_context_window_exceeded)", False),
    "refusal": ("the model refused to answer", False),
    "pause_turn": ("the model paused its turn before answering (stop reason pause_turn)", True),
    "tool_use": ("the model asked to use a tool instead of answering (stop reason tool_use)", True),
}


def _usage_of(usage) -> Usage:
    # Writing to the prompt cache is billed as (dearer) uncached input, so it counts as input here.
    details = getattr(usage, "output_tokens_details", None)
    return Usage(input=usage.input_tokens + (usage.cache_creation_input_tokens or 0),
                 cached_input=usage.cache_read_input_tokens or 0,
                 output=usage.output_tokens,
                 reasoning=(details.thinking_tokens if details is not None else 0) or 0)


def _error_parts(response) -> tuple[str, str]:
    """(type, message) of an errored result's ``ErrorResponse``, tolerating types the SDK does not model."""
    inner = getattr(response, "error", None)
    if isinstance(inner, dict):
        return inner.get("type", "error"), inner.get("message", "")
    return getattr(inner, "type", "error"), getattr(inner, "message", str(response))


def _status_message(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return redact(body["error"].get("message") or err.message)
    return redact(getattr(err, "message", str(err)))
