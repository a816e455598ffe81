"""Attaching a batch's answers to its requests: by key, and only by key.

Every provider's results name the request they answer: OpenAI and Anthropic
lines carry their ``custom_id``, Gemini's inline answers their ``metadata.key``
and its file lines their ``key``. An answer is attached to a request only when
its key proves it: the key is one of the batch's and no other answer carries
it. Nothing is attached by position, because a provider may answer out of
order, or drop the keys (googleapis/python-genai #1909, #2008).

What cannot be attached:
- an answer without a key, with a key not in the batch, or with a key two
  answers share is **stray**: it answers something, nobody can say what;
- a request with no answer proven to be its own is **unmatched** when the
  batch has stray answers (one of them may be its answer, unproven), and
  *never ran* when it has none.

An unmatched request comes back as ``Outcome(unmatched=True)``: the sender
sends it again without spending a try (bounded: runtime/attempts/unmatched.py). The
stray answers were billed all the same, so their usage is shared out over the
unmatched outcomes, and the run's cost stays what the provider charged.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Callable, Iterable, Iterator

from .base import Outcome, Usage


def attach(answers: list[tuple[str | None, Outcome]], custom_ids: list[str],
           never_ran: Callable[[str], Outcome], provider: str) -> list[Outcome]:
    """An outcome per custom id, in order: its own answer, an unmatched outcome, or ``never_ran(cid)``.

    ``answers``: (the key the provider echoed, or None; the outcome read from that answer)."""
    return list(attach_stream(answers, custom_ids, never_ran, provider))


def attach_stream(answers: Iterable[tuple[str | None, Outcome]], custom_ids: Iterable[str],
                  never_ran: Callable[[str], Outcome], provider: str) -> Iterator[Outcome]:
    """``attach`` for a batch of any size in a few MB: the answers and custom ids are each iterated once, as
    they come (a result file as it downloads, the batch's attempts page by page), into a private temporary
    SQLite database, and the outcomes read back from it in custom id order. Both are read before this
    returns (a download error is raised here, not while the outcomes are taken)."""
    db = sqlite3.connect("", isolation_level=None)  # "": a temporary file, removed when closed
    db.executescript(_SCRATCH)
    db.executemany("INSERT INTO answers (key, outcome, input, cached, output, reasoning) VALUES (?, ?, ?, ?, ?, ?)",
                   ((_key(key), _encoded(o), o.usage.input, o.usage.cached_input, o.usage.output,
                     o.usage.reasoning) for key, o in answers))
    db.executemany("INSERT INTO wanted (cid) VALUES (?)", ((cid,) for cid in custom_ids))
    db.executescript(_MATCHED)
    return _outcomes(db, never_ran, provider)


_SCRATCH = """
PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN;
CREATE TABLE answers (seq INTEGER PRIMARY KEY, key TEXT, outcome TEXT NOT NULL,
                      input INTEGER, cached INTEGER, output INTEGER, reasoning INTEGER);
CREATE TABLE wanted (pos INTEGER PRIMARY KEY, cid TEXT NOT NULL);
"""
_MATCHED = """
CREATE INDEX wanted_cid ON wanted (cid);
CREATE TABLE seen AS SELECT key, count(*) AS n FROM answers WHERE key IS NOT NULL GROUP BY key;
CREATE UNIQUE INDEX seen_key ON seen (key);
-- proven: the one answer carrying a key of the batch's
CREATE TABLE proven AS SELECT a.key, a.seq FROM answers a JOIN seen s ON s.key = a.key
    WHERE s.n = 1 AND a.key IN (SELECT cid FROM wanted);
CREATE UNIQUE INDEX proven_key ON proven (key);
"""


def _outcomes(db: sqlite3.Connection, never_ran: Callable[[str], Outcome], provider: str) -> Iterator[Outcome]:
    try:
        stray, *total = db.execute(
            "SELECT count(*), total(input), total(cached), total(output), total(reasoning) FROM answers "
            "WHERE seq NOT IN (SELECT seq FROM proven)").fetchone()
        unmatched = db.execute("SELECT count(*) FROM wanted WHERE cid NOT IN (SELECT key FROM proven)").fetchone()[0]
        usage = Usage(*map(int, total))
        why = _why_unmatched(db, provider) if stray else ""
        nth = 0  # of the unmatched outcomes, each with its share of the stray answers' usage
        after = 0
        while True:  # a page at a time: the connection stays free between pages
            rows = db.execute("SELECT w.pos, w.cid, a.outcome FROM wanted w LEFT JOIN proven p ON p.key = w.cid "
                              "LEFT JOIN answers a ON a.seq = p.seq WHERE w.pos > ? ORDER BY w.pos LIMIT 1000",
                              (after,)).fetchall()
            if not rows:
                return
            for pos, cid, outcome in rows:
                if outcome is not None:
                    yield _decoded(cid, outcome)
                elif stray:
                    yield Outcome(cid, usage=_share(usage, unmatched, nth), error=why, retryable=True, unmatched=True)
                    nth += 1
                else:
                    yield never_ran(cid)
            after = rows[-1][0]
    finally:
        db.close()


def _key(key) -> str | None:
    """A key as stored: a key that is not a string (a provider's oddity) can be no custom id's."""
    return key if key is None or isinstance(key, str) else f"\0{key!r}"


def _encoded(outcome: Outcome) -> str:
    return json.dumps([outcome.text, outcome.error, outcome.retryable, outcome.unmatched, outcome.usage.input,
                       outcome.usage.cached_input, outcome.usage.output, outcome.usage.reasoning])


def _decoded(cid: str, encoded: str) -> Outcome:
    text, error, retryable, unmatched, *usage = json.loads(encoded)
    return Outcome(cid, text, Usage(*usage), error, retryable, unmatched)


def _why_unmatched(db: sqlite3.Connection, provider: str) -> str:
    keyless, foreign = db.execute("SELECT count(*) FILTER (WHERE key IS NULL), count(*) FILTER (WHERE key IS NOT "
                                  "NULL AND key NOT IN (SELECT cid FROM wanted)) FROM answers").fetchone()
    shared = db.execute("SELECT count(*) FROM seen WHERE n > 1 AND key IN (SELECT cid FROM wanted)").fetchone()[0]
    parts = [f"{what}: {n}" for n, what in ((keyless, "without a key"), (foreign, "with a key not in the batch"),
                                           (shared, "keys on more than one answer")) if n]
    return (f"{provider}: no answer came back under this request's key (answers {'; '.join(parts)}); "
            "octo attaches an answer only by its key")


def sum_usage(usages) -> Usage:
    total = Usage()
    for u in usages:
        total = Usage(total.input + u.input, total.cached_input + u.cached_input, total.output + u.output,
                      total.reasoning + u.reasoning)
    return total


def _share(total: Usage, n: int, i: int) -> Usage:
    """The ``i``-th of ``n`` whole-token parts of ``total`` that add up to it exactly (the first ones take the
    remainder, a token each)."""
    parts = {}
    for name in ("input", "cached_input", "output", "reasoning"):
        whole, left = divmod(getattr(total, name), n)
        parts[name] = whole + (1 if i < left else 0)
    return Usage(**parts)
