"""`octoc retry`: put a run's failed units back, with fresh tries.

A unit's failed result at a step — at one step only with `--step`, only those
whose reason contains a text with `--reason` — is withdrawn together with what
followed from it (runtime/fixing/withdraw.py: the `blocked` results downstream, the
aggregates, fan-out children that were never made), and the unit is ready for
that step again. A provider step then sends it a fresh request, and its tries
count from the retry on (``requeues``): it gets the step's full `retries`
again. A local step is computed again (free; from the same inputs it fails
the same way, unless what it depends on changed, e.g. ``OCTO_CPU_SECONDS``).

Each chunk of units is withdrawn in one transaction, and the whole retry is a
fix (runtime/fixes.py): a kill leaves a record that the next process driving
the run completes first. A chunk is idempotent — a withdrawn result is no
longer failed, so it is never counted or withdrawn twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..base.crashpoints import crashpoint
from .withdraw import Withdrawal

CHUNK = 500  # units withdrawn per transaction
SCAN = 2_000  # failed results read at a time


@dataclass(frozen=True)
class Failures:
    """Which failed results to retry: of one step or every per-unit step; with a reason containing a text, or any."""

    step: str | None = None
    reason: str | None = None

    def matches(self, reason: str | None) -> bool:
        return self.reason is None or self.reason.casefold() in (reason or "").casefold()

    def to_json(self) -> dict:
        return {"step": self.step, "reason": self.reason}

    @staticmethod
    def from_json(data: dict) -> "Failures":
        return Failures(data.get("step"), data.get("reason"))


def steps_to_retry(engine, failures: Failures) -> list[str]:
    """The per-unit steps whose failures are retried, in plan order."""
    kinds = engine.language.kinds
    return [name for name, step in engine.steps.items()
            if kinds[step["kind"]].per_unit and failures.step in (None, name)]


def count_failed(engine, failures: Failures) -> dict[str, int]:
    """Per step (plan order), how many of its failed results match."""
    counts = {}
    for step in steps_to_retry(engine, failures):
        n = sum(len(units) for units in _matching(engine.store, step, failures))
        if n:
            counts[step] = n
    return counts


def withdraw_failed(engine, failures: Failures) -> dict[str, int]:
    """Withdraw every matching failed result and what followed from it, CHUNK units a transaction."""
    withdrawal = Withdrawal(engine)
    done: dict[str, int] = {}
    for step in steps_to_retry(engine, failures):
        pending: list[int] = []
        for units in _matching(engine.store, step, failures):
            pending.extend(units)
            while len(pending) >= CHUNK:
                _withdraw(engine, withdrawal, step, pending[:CHUNK])
                done[step] = done.get(step, 0) + CHUNK
                pending = pending[CHUNK:]
        if pending:
            _withdraw(engine, withdrawal, step, pending)
            done[step] = done.get(step, 0) + len(pending)
    return done


def _withdraw(engine, withdrawal: Withdrawal, step: str, units: list[int]) -> None:
    with engine.store.transaction() as db:
        withdrawal.withdraw(step, units, "octoc retry", stale=False, db=db)
        crashpoint("during-retry")


def _matching(store, step: str, failures: Failures):
    """The units whose failed result at ``step`` matches, a scan at a time (positions in order).

    The scan ends before the caller's first write: each batch is read whole before it is yielded."""
    after = -1
    while True:
        rows = store.db.execute("SELECT unit, reason FROM results WHERE step = ? AND state = 'failed' AND unit > ? "
                                "ORDER BY unit LIMIT ?", (step, after, SCAN)).fetchall()
        if not rows:
            return
        after = rows[-1][0]
        yield [unit for unit, reason in rows if failures.matches(reason)]
