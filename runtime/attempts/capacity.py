"""Organisation-wide capacity at a provider: backing off, smaller batches, a bound on what is enqueued.

A provider limits what one organisation may have queued for batch work at once
(docs/providers.md, "Limits and rules"): OpenAI the input tokens enqueued per
model (a batch over it fails as a whole with ``token_limit_exceeded``),
Gemini the tokens enqueued per model (a 429 ``RESOURCE_EXHAUSTED`` on
create), Anthropic the batch requests in its processing queue across all
models (a 429 ``rate_limit_error`` on create). Such a failure is no request's
fault, so it spends no unit's try (runtime/attempts/sending.py re-queues the attempts).
Here is what octo does about it, per (provider, model):

- a **bound** on what it has enqueued itself: batches are cut so that the
  estimated amount of the batches in flight (``intent`` or ``submitted``)
  stays under it (``--max-enqueued``, else ``QUEUES``' defaults). A request
  larger than the bound alone still goes, alone, when nothing else is in
  flight, so the bound never deadlocks;
- a **backoff** after each capacity failure: nothing more is submitted for
  ``base × 2^(strikes − 1)`` seconds (``base`` the poll interval, at least
  1 s, or 0.05 s on the built-in emulator), at most ``MAX_BACKOFF``;
- **smaller batches**: each failure halves the batch size (down to one
  request); each batch ingested normally doubles it back and clears the
  strikes.

State lives in the run store (tables ``capacity`` and ``enqueued``), written
in the transaction that records the failure or the batch's intent, so a kill
at any instruction resumes with the same backoff and the same amounts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS capacity (
    provider TEXT NOT NULL, model TEXT NOT NULL, size INTEGER, strikes INTEGER NOT NULL, until REAL NOT NULL,
    struck REAL NOT NULL, PRIMARY KEY (provider, model)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS enqueued (
    key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, amount INTEGER NOT NULL) WITHOUT ROWID;
"""

MAX_BACKOFF = 1800.0  # seconds: batches take minutes to hours to free a queue; waiting longer helps nobody
_FULL_SIZE = 100_000  # a batch size grown back this far is no limit any more (no provider takes more)


@dataclass(frozen=True)
class Queue:
    """How a provider counts what an organisation has enqueued, and octo's default bound on it."""

    unit: str        # "tokens" (estimated input tokens) or "requests"
    per_model: bool  # one queue per model, or one for all of the provider's models
    default: int     # the tier-1 limit (docs/providers.md): a run at a higher tier may raise it
    source: str


QUEUES = {
    "openai": Queue("tokens", True, 2_000_000,
                    "tier 1, gpt-4o-mini and gpt-4.1-mini: https://platform.openai.com/docs/guides/rate-limits"),
    "anthropic": Queue("requests", False, 100_000,
                       "tier 1, Message Batches: https://platform.claude.com/docs/en/api/rate-limits"),
    "gemini": Queue("tokens", True, 3_000_000,
                    "tier 1, Gemini 2.5 Flash: https://ai.google.dev/gemini-api/docs/rate-limits#batch-api"),
}
_ANY_MODEL = "*"  # the model column of a queue shared by all of a provider's models


def estimate_tokens(request) -> int:
    """Input tokens of a ``Request``, deliberately high and cheap: UTF-8 bytes / 3 of the system prompt, the
    prompt and the schema, plus a few for the message frame (English runs near 4 bytes a token, CJK near 3)."""
    text = (request.system or "") + request.prompt
    size = len(text.encode("utf-8")) + (len(json.dumps(request.schema)) if request.schema is not None else 0)
    return -(-size // 3) + 8


class Capacity:
    def __init__(self, store, limits: dict | None, base_backoff: float):
        self.store, self.db = store, store.db
        self.limits = {**{p: q.default for p, q in QUEUES.items()}, **(limits or {})}
        self.base = base_backoff
        self.db.executescript(SCHEMA)

    # --- the bound ---------------------------------------------------------------------------

    def amount(self, provider: str, request) -> int:
        """What ``request`` adds to the provider's queue, in the provider's own unit."""
        queue = QUEUES.get(provider)
        return 1 if queue is None or queue.unit == "requests" else estimate_tokens(request)

    def room(self, provider: str, model: str) -> tuple[int | None, int]:
        """(what may still be enqueued, None when unbounded; what is in flight now) in the provider's queue."""
        limit = self.limits.get(provider)
        in_flight = self._in_flight(provider, self._queue_model(provider, model))
        return (None if limit is None else limit - in_flight), in_flight

    def enqueue(self, db: sqlite3.Connection, key: str, provider: str, model: str, amount: int) -> None:
        """Record a batch's amount, in the transaction that records its intent."""
        db.execute("INSERT OR REPLACE INTO enqueued(key, provider, model, amount) VALUES (?, ?, ?, ?)",
                   (key, provider, self._queue_model(provider, model), amount))

    def _in_flight(self, provider: str, model: str) -> int:
        return self.db.execute(
            "SELECT coalesce(sum(e.amount), 0) FROM enqueued e JOIN batches b ON b.key = e.key "
            "WHERE e.provider = ? AND e.model = ? AND b.state IN ('intent', 'submitted')", (provider, model)).fetchone()[0]

    def others_in_flight(self, provider: str, model: str, key: str) -> bool:
        """Has the run batches in the same queue in flight, besides ``key``? If not, a capacity failure
        is not of its own making (another user's load, or a request too large for the limit)."""
        return self.db.execute(
            "SELECT 1 FROM enqueued e JOIN batches b ON b.key = e.key WHERE e.provider = ? AND e.model = ? "
            "AND b.state IN ('intent', 'submitted') AND e.key != ? LIMIT 1",
            (provider, self._queue_model(provider, model), key)).fetchone() is not None

    @staticmethod
    def _queue_model(provider: str, model: str) -> str:
        queue = QUEUES.get(provider)
        return model if queue is None or queue.per_model else _ANY_MODEL

    def cut(self, provider: str, model: str, pairs, size: int, max_bytes: int, weigh):
        """Batches of (attempt id, request) pairs to submit now: at most ``size`` requests (or the smaller size
        a capacity failure left) and ``max_bytes`` each, and together within the queue's room; yields
        (attempt ids, amount), keeping no request (a batch of 50,000 is read again as it is sent). Stops when
        the room is used up; the rest waits for batches in flight to end."""
        size = min(size, self.size(provider, model) or size)
        pending = iter(pairs)
        item = next(pending, None)
        while item is not None:
            room, in_flight = self.room(provider, model)
            group, total, amount = [], 0, 0
            while item is not None:
                weight, cost = weigh(item[1]), self.amount(provider, item[1])
                if group and (len(group) >= size or total + weight > max_bytes):
                    break
                over = room is not None and amount + cost > room
                if over and (group or in_flight):
                    break
                group.append(item[0])
                total, amount = total + weight, amount + cost
                item = next(pending, None)
                if over:  # a request larger than the bound goes alone, when nothing else is in flight
                    break
            if not group:
                return
            yield group, amount

    # --- failures and successes --------------------------------------------------------------

    def size(self, provider: str, model: str) -> int | None:
        """The batch size a capacity failure left, None when there is no such limit now."""
        row = self.db.execute("SELECT size FROM capacity WHERE provider = ? AND model = ?",
                              (provider, self._queue_model(provider, model))).fetchone()
        return row[0] if row else None

    def waiting(self, provider: str, model: str) -> bool:
        """Is (provider, model) backing off after a capacity failure?"""
        row = self.db.execute("SELECT until FROM capacity WHERE provider = ? AND model = ?",
                              (provider, self._queue_model(provider, model))).fetchone()
        return row is not None and time.time() < row[0]

    def strike(self, db: sqlite3.Connection, provider: str, model: str, batch_size: int) -> tuple[float, int]:
        """A capacity failure of a batch of ``batch_size`` requests: back off longer, send smaller batches.
        Returns (seconds to wait, the new batch size)."""
        model = self._queue_model(provider, model)
        row = db.execute("SELECT size, strikes FROM capacity WHERE provider = ? AND model = ?",
                         (provider, model)).fetchone()
        size, strikes = (row[0], row[1]) if row else (None, 0)
        strikes += 1
        size = max(1, min(size or batch_size, batch_size) // 2)
        wait = min(MAX_BACKOFF, self.base * 2 ** (strikes - 1))
        now = time.time()
        db.execute("INSERT OR REPLACE INTO capacity(provider, model, size, strikes, until, struck) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (provider, model, size, strikes, now + wait, now))
        return wait, size

    def success(self, db: sqlite3.Connection, provider: str, model: str, key: str) -> None:
        """Batch ``key`` of (provider, model) ended normally: if it was created after the last capacity failure
        (one sent before proves nothing about the smaller size), the strikes are cleared and the batch size
        grows back."""
        model = self._queue_model(provider, model)
        row = db.execute("SELECT c.size FROM capacity c JOIN batches b ON b.key = ? WHERE c.provider = ? "
                         "AND c.model = ? AND b.created > c.struck", (key, provider, model)).fetchone()
        if row is None:
            return
        size = None if row[0] is None or row[0] * 2 >= _FULL_SIZE else row[0] * 2
        db.execute("UPDATE capacity SET strikes = 0, size = ? WHERE provider = ? AND model = ?", (size, provider, model))
