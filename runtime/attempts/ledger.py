"""The provider side of the run store: attempts and batches.

Tables (in the same SQLite database as ``store``):
- ``attempts``  one row per request sent (or to be sent) for a (step, unit):
                its round and try, state, the request, the raw answer,
                the provider's error, usage and cost, and what was decided;
- ``batches``   one row per batch: the client key written *before* the
                provider is called, the provider's id written after.
- ``unmatched`` one row per attempt sent again because no answer came back
                under its key (runtime/attempts/unmatched.py).
- ``spend``     per step: the answers stored so far and their cost, added to in
                the transaction that stores each answer. An answer's cost never
                changes once stored, so the budget check before every send and the
                progress display read a row per step instead of summing every
                attempt of the run each time (which made a long realtime run, or
                any run with a budget, quadratic).

(A verdict sending a loop back is recorded in ``reruns``, runtime/work/loops.py:
an attempt's round is its step's round there.)

- ``requeues``  one row per (step, unit) put back by `octoc retry` or
                `octoc revalidate` (runtime/fixing/withdraw.py): the attempts up to
                ``after`` (an attempt id) are behind it. A unit's tries count
                from there, so it gets its step's `retries` afresh; an attempt
                of those still open is discarded when it is decided; and when
                ``stale`` (what the step read changed) their answers no longer
                answer the step's question.

Attempt states: ``queued`` (to send) → ``sent`` (in a batch or a realtime
call) → ``answered`` (the answer is stored) → ``settled`` (turned into a
result or a new attempt). Batch states: ``intent`` → ``submitted`` →
``ingested``; or ``unsent`` / ``failed`` / ``lost``, whose attempts went back
to ``queued``. Each transition is one transaction, which is what makes
submission and ingestion exactly-once across kills.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

from ..work.loops import SCHEMA as LOOPS_SCHEMA
from .unmatched import SCHEMA as UNMATCHED_SCHEMA
from ..providers.base import redact
from ..base.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step TEXT NOT NULL, unit INTEGER NOT NULL, round INTEGER NOT NULL, try INTEGER NOT NULL,
    state TEXT NOT NULL, mode TEXT NOT NULL, batch TEXT, request TEXT NOT NULL,
    text TEXT, error TEXT, retryable INTEGER, usage TEXT, cost REAL, list_cost REAL, verdict TEXT);
CREATE INDEX IF NOT EXISTS attempts_by_state ON attempts(step, state);
CREATE INDEX IF NOT EXISTS attempts_by_unit ON attempts(step, unit);
CREATE INDEX IF NOT EXISTS attempts_by_batch ON attempts(batch);
CREATE TABLE IF NOT EXISTS requeues (
    step TEXT NOT NULL, unit INTEGER NOT NULL, after INTEGER NOT NULL, stale INTEGER NOT NULL, why TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (step, unit, after)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend (
    step TEXT PRIMARY KEY, answers INTEGER NOT NULL, cost REAL NOT NULL, list_cost REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches (
    key TEXT PRIMARY KEY, step TEXT NOT NULL, provider TEXT NOT NULL, provider_id TEXT,
    state TEXT NOT NULL, created REAL NOT NULL, requests INTEGER NOT NULL, polled REAL, detail TEXT);
"""

OPEN = ("queued", "sent", "answered")


@dataclass(frozen=True)
class Attempt:
    id: int
    step: str
    unit: int
    round: int
    try_: int
    mode: str
    request: dict
    text: str | None = None
    error: str | None = None
    retryable: bool = True


class Ledger:
    def __init__(self, store: Store):
        self.store = store
        self.db = store.db
        if not store.readonly:  # a reader creates nothing: a run made before a table existed is read without it
            # the loops' and unmatched answers' tables too: a run's tables are all made at creation
            self.db.executescript(_SCHEMA + LOOPS_SCHEMA + UNMATCHED_SCHEMA)
            self._sum_earlier_answers()

    def _sum_earlier_answers(self) -> None:
        """A run made before ``spend`` existed has answers it does not count yet: they are summed once, here.
        (In a run that has it, a step has a row from its first answer on, in that answer's transaction,
        so an empty ``spend`` means no answer is stored.)"""
        if self.db.execute("SELECT 1 FROM spend LIMIT 1").fetchone() is None:
            with self.store.transaction() as db:
                db.execute("INSERT INTO spend SELECT step, count(*), total(cost), total(list_cost) FROM attempts "
                           "WHERE usage IS NOT NULL GROUP BY step")

    # --- attempts ------------------------------------------------------------------------

    def add_attempts(self, rows: list[tuple[str, int, int, int, str, dict]], db: sqlite3.Connection) -> None:
        """Queue attempts: (step, unit, round, try, mode, request without custom_id)."""
        db.executemany("INSERT INTO attempts(step, unit, round, try, state, mode, request) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                       ((s, u, r, t, m, json.dumps(req)) for s, u, r, t, m, req in rows))

    def attempts(self, step: str, state: str, mode: str | None = None, limit: int = -1) -> list[Attempt]:
        sql = ("SELECT id, step, unit, round, try, mode, request, text, error, retryable FROM attempts "
               "WHERE step = ? AND state = ?" + (" AND mode = ?" if mode else "") + " ORDER BY id LIMIT ?")
        args = (step, state, mode, limit) if mode else (step, state, limit)
        return [Attempt(i, s, u, r, t, m, json.loads(q), x, e, bool(rt) if rt is not None else True)
                for i, s, u, r, t, m, q, x, e, rt in self.db.execute(sql, args)]

    def batch_attempts(self, key: str) -> list[Attempt]:
        """The attempts sent in batch ``key``, without their prompts (``batch_attempts_paged``)."""
        return list(self.batch_attempts_paged(key))

    def batch_attempts_paged(self, key: str, page: int = 1000):
        """The attempts sent in batch ``key``, in id order, read a page at a time, without their prompts:
        ``request`` holds only the ``model`` and (a model per unit) the ``provider``, which is all that taking
        the batch's answers needs. Decoding every request (schema included) of a batch of 50,000 would hold
        hundreds of MiB for nothing; even without prompts, the whole batch's attempts would hold ~20 MiB."""
        after = 0
        while True:
            rows = self.db.execute(
                "SELECT id, step, unit, round, try, mode, json_extract(request, '$.model'), "
                "json_extract(request, '$.provider') FROM attempts WHERE batch = ? AND id > ? ORDER BY id LIMIT ?",
                (key, after, page)).fetchall()
            if not rows:
                return
            for i, s, u, r, t, m, model, provider in rows:
                yield Attempt(i, s, u, r, t, m, {"model": model} if provider is None else {"model": model,
                                                                                          "provider": provider})
            after = rows[-1][0]

    def queued_models(self, step: str) -> list[tuple[str | None, str]]:
        """(the request's own provider or None, model) of the step's queued attempts, each pair once."""
        return self.db.execute("SELECT DISTINCT json_extract(request, '$.provider'), json_extract(request, '$.model') "
                               "FROM attempts WHERE step = ? AND state = 'queued'", (step,)).fetchall()

    def queued_pages(self, step: str, provider: str | None, model: str, page: int = 1000):
        """The step's queued attempts for one (request provider or None, model), in id order, a page at a time:
        a step's whole queue is never decoded at once."""
        after = 0
        while True:
            rows = self.db.execute(
                "SELECT id, step, unit, round, try, mode, request FROM attempts WHERE step = ? AND state = 'queued' "
                "AND id > ? AND json_extract(request, '$.model') = ? AND json_extract(request, '$.provider') IS ? "
                "ORDER BY id LIMIT ?", (step, after, model, provider, page)).fetchall()
            if not rows:
                return
            yield [Attempt(i, s, u, r, t, m, json.loads(q)) for i, s, u, r, t, m, q in rows]
            after = rows[-1][0]

    def requests_of(self, ids: list[int], page: int = 900):
        """(id, request) of the attempts ``ids``, in that order, decoded a page at a time."""
        for start in range(0, len(ids), page):
            chunk = ids[start:start + page]
            marks = ",".join("?" * len(chunk))
            found = dict(self.db.execute(f"SELECT id, request FROM attempts WHERE id IN ({marks})", chunk).fetchall())
            for i in chunk:
                yield i, json.loads(found[i])

    def tries(self, step: str, unit: int, round_: int) -> int:
        """The unit's tries of ``step`` in ``round_`` so far: since it was last put back, if it was (``requeues``)."""
        return self.db.execute("SELECT count(*) FROM attempts WHERE step = ? AND unit = ? AND round = ? AND id > "
                               "coalesce((SELECT max(after) FROM requeues WHERE step = ? AND unit = ?), 0)",
                               (step, unit, round_, step, unit)).fetchone()[0]

    def requeued(self, step: str, units: list[int]) -> dict[int, int]:
        """unit → the last attempt id behind its latest requeue, for those of ``units`` that were put back."""
        out = {}
        for i in range(0, len(units), 900):
            chunk = units[i:i + 900]
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT unit, max(after) FROM requeues WHERE step = ? AND unit IN ({marks}) "
                                       f"GROUP BY unit", (step, *chunk)).fetchall())
        return out

    def mark_sent(self, ids: list[int], batch: str | None, db: sqlite3.Connection) -> None:
        """Sent in ``batch``, or (None) as realtime calls: an attempt's mode is the way it was sent last (it was
        queued the way the run sent then; a resume may have changed `--mode` since)."""
        db.executemany("UPDATE attempts SET state = 'sent', batch = ?, mode = ? WHERE id = ? AND state = 'queued'",
                       ((batch, "realtime" if batch is None else "batch", i) for i in ids))

    def requeue(self, ids: list[int], db: sqlite3.Connection) -> None:
        db.executemany("UPDATE attempts SET state = 'queued', batch = NULL WHERE id = ? AND state = 'sent'",
                       ((i,) for i in ids))

    def answer(self, attempt_id: int, text: str | None, error: str | None, retryable: bool, usage: dict,
               cost: float | None, list_cost: float | None, db: sqlite3.Connection) -> None:
        """Store an answer once: an attempt already answered keeps its first answer. A provider's error is
        stored with anything like an API key in it redacted (`octoc show` prints it as stored)."""
        stored = db.execute(
            "UPDATE attempts SET state = 'answered', text = ?, error = ?, retryable = ?, usage = ?, cost = ?, "
            "list_cost = ? WHERE id = ? AND state = 'sent'",
            (text, redact(error) if error is not None else None, int(retryable), json.dumps(usage), cost,
             list_cost, attempt_id)).rowcount
        if stored:
            _add_spend(db, attempt_id)

    def refuse(self, attempt_id: int, error: str, db: sqlite3.Connection) -> None:
        """Answer a queued attempt that can never be sent (a request larger than a whole batch may be) with
        ``error``, not retryable and costing nothing: its unit fails there, the run goes on."""
        refused = db.execute(
            "UPDATE attempts SET state = 'answered', mode = 'batch', error = ?, retryable = 0, usage = ?, "
            "cost = 0, list_cost = 0 WHERE id = ? AND state = 'queued'",
            (error, json.dumps({"input": 0, "cached_input": 0, "output": 0, "reasoning": 0}), attempt_id)).rowcount
        if refused:
            _add_spend(db, attempt_id)

    def settle(self, attempt_id: int, verdict: str, db: sqlite3.Connection) -> None:
        db.execute("UPDATE attempts SET state = 'settled', verdict = ? WHERE id = ?", (verdict, attempt_id))

    def has_open(self, step: str) -> bool:
        return self.db.execute("SELECT 1 FROM attempts WHERE step = ? AND state IN ('queued', 'sent', 'answered') LIMIT 1",
                               (step,)).fetchone() is not None

    # --- batches ---------------------------------------------------------------------------

    def add_batch(self, key: str, step: str, provider: str, requests: int, db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO batches(key, step, provider, state, created, requests) VALUES (?, ?, ?, 'intent', ?, ?)",
                   (key, step, provider, time.time(), requests))

    def set_batch(self, key: str, state: str, db: sqlite3.Connection, provider_id: str | None = None,
                  detail: str | None = None) -> None:
        db.execute("UPDATE batches SET state = ?, provider_id = coalesce(?, provider_id), detail = coalesce(?, detail) "
                   "WHERE key = ?", (state, provider_id, detail, key))

    def polled(self, key: str) -> None:
        self.db.execute("UPDATE batches SET polled = ? WHERE key = ?", (time.time(), key))

    def batches(self, step: str, state: str) -> list[tuple[str, str | None, float | None, str]]:
        """(key, provider id, last polled, provider) of the step's batches in ``state``."""
        return self.db.execute("SELECT key, provider_id, polled, provider FROM batches WHERE step = ? AND state = ? "
                               "ORDER BY created", (step, state)).fetchall()

    def known_ids(self) -> frozenset[str]:
        """Every provider batch id this run has recorded."""
        return frozenset(r[0] for r in self.db.execute("SELECT provider_id FROM batches WHERE provider_id IS NOT NULL"))

    def in_flight(self, provider: str) -> int:
        return self.db.execute("SELECT count(*) FROM batches WHERE provider = ? AND state IN ('intent', 'submitted')",
                               (provider,)).fetchone()[0]

    def batch_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM batches").fetchone()[0]

    # --- money -----------------------------------------------------------------------------

    def spent(self) -> tuple[float, float]:
        """(cost, cost at list prices) of every answered attempt so far, in USD."""
        cost, listed = self.db.execute("SELECT total(cost), total(list_cost) FROM spend" if self.store.has_table("spend")
                                       else "SELECT total(cost), total(list_cost) FROM attempts").fetchone()
        return cost, listed


def _add_spend(db: sqlite3.Connection, attempt_id: int) -> None:
    """Count the answer just stored for ``attempt_id`` in its step's ``spend`` (same transaction)."""
    db.execute("INSERT INTO spend SELECT step, 1, coalesce(cost, 0), coalesce(list_cost, 0) FROM attempts WHERE id = ? "
               "ON CONFLICT (step) DO UPDATE SET answers = answers + 1, cost = cost + excluded.cost, "
               "list_cost = list_cost + excluded.list_cost", (attempt_id,))
