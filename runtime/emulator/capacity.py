"""Organisation-wide batch limits in the emulator: the ``org_limit`` fault and the ``enqueued`` limit.

Each provider limits what an organisation may have queued for batch work, and
says so in its own way (docs/providers.md, "Limits and rules"); the wires turn
``refusal`` into that shape:

- OpenAI: input tokens enqueued per model; the batch is created and then fails
  as a whole with ``errors.data[0].code == "token_limit_exceeded"``;
- Anthropic: batch requests in the processing queue, across all models; the
  create call answers 429 ``rate_limit_error``;
- Gemini: tokens enqueued per model; the create call answers 429
  ``RESOURCE_EXHAUSTED``.

``org_limit=N`` refuses the first N batch creations whatever their size (each
HTTP call counts, so an SDK's own retries of a refused create use some up);
``enqueued=N`` refuses a batch when it, with the batches still running in the
same queue, would exceed N (tokens, or requests for Anthropic). The emulator
counts a request's tokens as it bills its input (usage.py: system prompt,
prompt, schema and message overheads), and keeps the largest amount it ever had queued per queue in
``Emulator.enqueued_peak`` (so a test can check a bound against what the
provider saw).
"""

from __future__ import annotations

from . import usage
from .core import Emulator, EmuRequest

_ALL_MODELS = "*"
_FAULT_LIMIT = 2_000_000  # the limit an injected org_limit names when no `enqueued` limit is set


def _per_model(provider: str) -> bool:
    return provider != "anthropic"


def amount(provider: str, requests: list[EmuRequest]) -> int:
    """What ``requests`` add to the provider's queue: input tokens, or requests at Anthropic."""
    if not _per_model(provider):
        return len(requests)
    return sum(tokens(r) for r in requests)


def tokens(request: EmuRequest) -> int:
    """The request's input tokens as the emulator bills them (usage.py): what the provider's queue counts."""
    return (usage.message_tokens(request.system) + usage.tokens(request.system) + usage.tokens(request.prompt)
            + usage.schema_tokens(request.schema))


def _queue(provider: str, model: str) -> tuple[str, str]:
    return provider, model if _per_model(provider) else _ALL_MODELS


def queued(emu: Emulator, provider: str, model: str) -> int:
    """What the batches still running in (provider, model)'s queue hold (each batch's ``enqueued``, counted
    when it was created: a batch in flight need not hold its decoded requests)."""
    queue = _queue(provider, model)
    return sum(b.enqueued for b in list(emu.batches.values())
               if b.status != "ended" and b.model is not None and _queue(b.provider, b.model) == queue)


def refusal(emu: Emulator, provider: str, model: str, adding: int) -> str | None:
    """Why a new batch of ``model`` requests adding ``adding`` to the queue (``amount``) is refused (or fails)
    for an organisation-wide limit; None to take it."""
    limit = emu.faults.enqueued
    if emu.faults.take("org_limit"):
        return _message(provider, model, limit or _FAULT_LIMIT)
    if limit and queued(emu, provider, model) + adding > limit:
        return _message(provider, model, limit)
    return None


def accepted(emu: Emulator, provider: str, model: str) -> None:
    """A batch was taken (created with its ``enqueued`` amount): remember the most the queue ever held."""
    queue = _queue(provider, model)
    emu.enqueued_peak[queue] = max(emu.enqueued_peak.get(queue, 0), queued(emu, provider, model))


def _message(provider: str, model: str, limit: int) -> str:
    if provider == "openai":  # as openai/openai-python#2084 quotes it
        return (f"Enqueued token limit reached for {model} in organization org-emulator. Limit: {limit:,} enqueued "
                "tokens. Please try again once some in_progress batches have been completed.")
    if provider == "anthropic":
        return (f"Number of batch requests in the processing queue would exceed your organization's limit of "
                f"{limit:,} (emulator). Wait for some batches to end, then try again.")
    return ("You exceeded your current quota, please check your plan and billing details. For more information on "
            "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")


def openai_errors(message: str) -> list[dict]:
    """``errors.data`` of an OpenAI batch failed for the enqueued-token limit."""
    return [{"code": "token_limit_exceeded", "line": None, "param": None, "message": message}]
