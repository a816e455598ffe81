"""Requests whose answer could not be proven theirs: sent again without spending a try, a bounded number of times.

A provider may answer a batch without echoing the keys (or out of order, with
keys that no longer prove anything): providers/matching.py then attaches
nothing and returns such requests as ``Outcome(unmatched=True)``. The request
was not wrong and no answer was judged, so the sender puts the attempt back in
the queue as it is (same attempt, same custom id, same try) — up to
``FREE_RESENDS`` times per unit and step, over all its attempts. After that an
unmatched answer is recorded as a retryable error, which spends a try like any
provider error: a provider that never echoes keys cannot keep a unit going
forever (at most ``FREE_RESENDS + retries + 1`` sends), and the unit fails
after its tries with a message that says why.

The answers that could not be attached were billed all the same: their share
of the stray answers' usage (matching.py) is priced like any answer and kept
here per attempt, then added to the attempt's cost when it is answered, so
the run's cost stays what the provider charged, counted once.

Table ``unmatched`` (made with the run's other tables, runtime/attempts/ledger.py): one
row per attempt that came back unmatched at least once.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS unmatched (
    attempt INTEGER PRIMARY KEY, times INTEGER NOT NULL, cost REAL, list_cost REAL);
"""

# Re-sends without a try, per unit and step. Two: the first re-send of a Gemini model's requests after
# an inline batch without keys goes as a file, whose lines carry keys; the second covers one more bad batch.
FREE_RESENDS = 2


def note(db: sqlite3.Connection, attempt_id: int, cost: float | None, list_cost: float | None) -> int:
    """Count one more unmatched answer for the attempt, with what its share cost; the count so far."""
    row = db.execute("SELECT times, cost, list_cost FROM unmatched WHERE attempt = ?", (attempt_id,)).fetchone()
    if row is None:
        db.execute("INSERT INTO unmatched(attempt, times, cost, list_cost) VALUES (?, 1, ?, ?)",
                   (attempt_id, cost, list_cost))
        return 1
    db.execute("UPDATE unmatched SET times = ?, cost = ?, list_cost = ? WHERE attempt = ?",
               (row[0] + 1, add(row[1], cost), add(row[2], list_cost), attempt_id))
    return row[0] + 1


def paid(db: sqlite3.Connection, attempt_id: int) -> tuple[float | None, float | None]:
    """(cost, list cost) of the attempt's unmatched answers so far; (0, 0) when it had none."""
    row = db.execute("SELECT cost, list_cost FROM unmatched WHERE attempt = ?", (attempt_id,)).fetchone()
    return (row[0], row[1]) if row else (0.0, 0.0)


def add(a: float | None, b: float | None) -> float | None:
    """Money that may be unknown (no price): unknown stays unknown."""
    return None if a is None or b is None else a + b


def resent(db: sqlite3.Connection, step: str, unit: int) -> int:
    """How many times the unit's attempts at ``step`` have been sent again for coming back unmatched."""
    return db.execute("SELECT coalesce(sum(u.times), 0) FROM unmatched u JOIN attempts a ON a.id = u.attempt "
                      "WHERE a.step = ? AND a.unit = ?", (step, unit)).fetchone()[0]
