"""What every provider adapter speaks: requests in, outcomes out, batches in between.

An adapter turns ``Request``s into one provider's batch lines or realtime calls
through that provider's official SDK, and turns what comes back into
``Outcome``s. It knows nothing of steps, units or the run store; the runtime's
dispatcher does the bookkeeping.

Errors: an adapter raises ``ProviderError`` for anything that is not one
request's own failure (authentication, unknown model, outage, rate limit). Its
message is written for the user and never holds an API key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator
from typing import Protocol


@dataclass(frozen=True)
class Request:
    custom_id: str            # the attempt's key: ^[A-Za-z0-9_-]{1,64}$, unique per batch
    model: str                # the provider's own model name (no "openai:" prefix)
    prompt: str
    system: str | None = None
    schema: dict | None = None  # JSON Schema of the output (an object); None asks for free text
    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    reasoning_effort: str | None = None   # "minimal" | "low" | "medium" | "high" (None: the model's default)
    thinking_budget: int | None = None    # reasoning tokens allowed (Anthropic, Gemini); None: not sent


@dataclass(frozen=True)
class Usage:
    """Tokens as billed. ``output`` includes reasoning/thinking tokens; ``reasoning`` says how many of them."""

    input: int = 0            # uncached input tokens
    cached_input: int = 0     # input tokens read from the provider's cache
    output: int = 0
    reasoning: int = 0

    def cost(self, price: dict | None, batch: bool, batch_discount: float) -> float | None:
        """USD for these tokens at ``price`` (per 1M tokens: input, cached_input, output); None if unknown."""
        if price is None:
            return None
        usd = (self.input * price["input"] + self.cached_input * price.get("cached_input", price["input"])
               + self.output * price["output"]) / 1_000_000
        return usd * batch_discount if batch else usd

    def to_json(self) -> dict:
        return {"input": self.input, "cached_input": self.cached_input, "output": self.output,
                "reasoning": self.reasoning}


@dataclass(frozen=True)
class Outcome:
    """What became of one request: the model's text, or the provider's error for it."""

    custom_id: str
    text: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None  # set when the provider did not answer this request
    retryable: bool = True    # may sending it again help? (False: e.g. the request itself is invalid)
    # The provider returned no answer this request's key proves (an answer without a key, or none):
    # the sender queues it again without spending a try (bounded, see docs/providers.md).
    unmatched: bool = False


@dataclass(frozen=True)
class BatchStatus:
    """A submitted batch as the provider reports it."""

    ended: bool               # no more work will happen on it; results (if any) can be fetched
    state: str                # the provider's own word for it, for messages
    failed: str | None = None  # the batch as a whole failed or expired: why (its requests must be re-sent)
    counts: dict = field(default_factory=dict)
    # The batch failed as a whole for an organisation-wide limit (e.g. OpenAI's enqueued-token limit),
    # not for anything in its requests: they are sent again later without spending a try.
    capacity: bool = False


class ProviderError(Exception):
    """A failure of the provider call itself. ``transient``: worth retrying later.

    ``kind`` says what a caller may do about it: "auth" (fix the key), "model"
    (fix the model name), "not_found" (the batch or file is unknown to the
    provider), "capacity" (a submission refused for an organisation-wide
    limit, such as too many tokens or batches enqueued: always transient; the
    sender backs off and sends smaller batches, spending no unit's try), or
    "error" (anything else).
    """

    def __init__(self, message: str, transient: bool = False, kind: str = "error"):
        super().__init__(redact(message))
        self.message = redact(message)
        self.transient = transient
        self.kind = kind


class Adapter(Protocol):
    provider: str             # "openai", "anthropic", "gemini"
    max_batch_requests: int
    max_batch_bytes: int

    def request_bytes(self, request: Request) -> int:
        """The size of the request's line in a batch payload (to keep batches under the byte limit)."""

    def submit(self, key: str, requests: Iterable[Request]) -> str:
        """Create a batch carrying ``key`` (metadata or display name); return the provider's batch id.
        ``requests`` is iterated once (the sender reads them from the run store as they are written out)."""

    def find(self, key: str, custom_ids: list[str] | None = None, claimed: frozenset = frozenset()) -> str | None:
        """The id of a batch created under ``key``, by listing the provider's batches; None if there is none.

        ``custom_ids``: the batch's requests, for providers whose batches carry no metadata (Anthropic);
        ``claimed``: ids of batches the run already knows, which cannot be the one sought."""

    def poll(self, batch_id: str) -> BatchStatus: ...

    def results(self, batch_id: str, custom_ids: list[str]) -> list[Outcome]:
        """An outcome per request of an ended batch (``custom_ids`` in submission order, for providers
        that answer by position). Requests the provider never ran come back as retryable errors."""

    def results_stream(self, batch_id: str, custom_ids: Iterable[str]) -> Iterator[Outcome]:
        """``results`` as it is taken into the run store: ``custom_ids`` is iterated once, and the outcomes
        come in its order (a provider whose results download as a file holds no more than a page of them)."""

    def cancel(self, batch_id: str) -> None: ...

    def delete_input(self, batch_id: str) -> None:
        """Delete the input file uploaded for the batch, if any (idempotent: a file already gone is fine).
        Providers that upload nothing do nothing."""

    def call(self, request: Request) -> Outcome:
        """One realtime request."""


_KNOWN_SECRETS: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a key in use, so ``redact`` removes it wherever it turns up."""
    if value and len(value) >= 4:
        _KNOWN_SECRETS.add(value)


_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|(?i:bearer)\s+\S+|(?i:api[_-]?key)[=:]\s*\S+)")


def redact(text: str) -> str:
    """Remove anything that looks like an API key from a message."""
    text = str(text)
    for secret in _KNOWN_SECRETS:
        text = text.replace(secret, "[redacted]")
    return _SECRET.sub("[redacted]", text)
