"""Provider steps in the tick: queue attempts for ready units, send them, take answers, decide.

One call of ``ProviderSteps.advance(step)`` is one tick's work on a provider
step, in the order ARCHITECTURE.md gives: reconcile batches whose submission
was interrupted → poll submitted batches and ingest what ended → decide per
answered attempt (done, retry that unit, judge sends it back, failed) → queue
attempts for newly ready units → submit batches (or make realtime calls) →
decide on realtime answers. Sending lives in ``sending``; this module owns
units and decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..work.dedup import StepDedup, in_unit_order
from ..base.encoding import UnstorableValue, encode_output
from ..work.frontier import QUEUED
from .ledger import Attempt, Ledger
from .prompting import AnswerError, PromptError, StepRequests
from .sending import ProviderStop, Sender  # noqa: F401  (ProviderStop is part of this module's interface)

CHUNK = 500  # units queued or decided per transaction
OPEN = "('queued', 'sent', 'answered')"  # an attempt in one of these states is the unit's request in progress


@dataclass
class DispatchOptions:
    batch_size: int | None = None   # requests per batch; None: the provider's limit
    max_in_flight: int = 8          # batches per provider waiting at once
    concurrency: int = 8            # realtime calls at once
    poll_interval: float = 30.0     # seconds between two polls of one batch
    mode: str | None = None         # "batch" | "realtime": overrides every step's mode
    outage_timeout: float = 600.0   # seconds of a provider failing before `octoc run` stops (resumable)
    max_usd: float | None = None    # overrides the plan's budget.max_usd (set on resume to allow more)
    max_enqueued: dict | None = None  # provider → bound on what it has enqueued (runtime/attempts/capacity.py); else defaults
    keep_files: bool = False        # keep batches' uploaded input files (runtime/attempts/inputfiles.py)


class ProviderSteps:
    def __init__(self, engine, providers, options: DispatchOptions):
        self.engine = engine
        self.store = engine.store
        self.ledger = Ledger(engine.store)
        self.options = options
        self.sender = Sender(self.ledger, providers, options, engine.plan, engine.run_tag)
        self._requests: dict[str, StepRequests] = {}
        self.sender.recover_realtime()

    def requests(self, step: dict) -> StepRequests:
        if step["name"] not in self._requests:
            self._requests[step["name"]] = StepRequests(step, self.engine.language.functions)
        return self._requests[step["name"]]

    def advance(self, step: dict, should_stop) -> int:
        """One tick's work on ``step``; how many things happened (0: nothing to do right now)."""
        req = self.requests(step)
        done = self.sender.reconcile(step["name"])  # each batch at its own provider (a step may use several)
        done += self.sender.poll(step["name"])
        done += self._decide(step)
        done += self._queue_ready(step, should_stop)
        if not should_stop():
            done += self.sender.send(step, req, self._mode(step))
            done += self._decide(step)
        return done

    def close(self) -> None:
        self.sender.close()

    def trouble(self) -> dict[str, tuple[float, str]]:
        """Providers failing with transient errors, or refusing batches for an organisation-wide limit the run
        did not reach itself, right now: since when, and the last error."""
        return {**self.sender.stalled, **self.sender.trouble}

    def busy(self, step: str) -> bool:
        """Does ``step`` have requests out at the provider (so waiting makes sense)?"""
        return self.ledger.has_open(step)

    def _mode(self, step: dict) -> str:
        return self.options.mode or step.get("mode") or "batch"

    # --- queueing -------------------------------------------------------------------------

    def _queue_ready(self, step: dict, should_stop) -> int:
        name, queued = step["name"], 0
        dedup = self.engine.dedup_of(step)
        start = self._unqueued(name)  # below it every unit has a result or an open attempt (runtime/work/frontier.py)
        while start is not None and not should_stop():
            positions = self._ready(name, start)
            if dedup is not None:  # units in unit order only: a unit waits for every unit before it (runtime/work/dedup.py)
                positions = in_unit_order(self.store, self.engine.scopes, name, positions, start)
            if not positions:
                break
            self._queue(step, positions, dedup)
            queued += len(positions)
            start = positions[-1] + 1  # the units skipped before it wait for upstream results: not this tick
        return queued

    def _unqueued(self, name: str) -> int | None:
        """The first unit of ``name``'s scope with neither a result nor an open attempt (None: there is none)."""
        return self.engine.frontiers.first(
            QUEUED, name, "NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? AND r.unit = u.pos) AND NOT EXISTS "
            f"(SELECT 1 FROM attempts a WHERE a.step = ? AND a.unit = u.pos AND a.state IN {OPEN})", (name, name))

    def _ready(self, name: str, start: int) -> list[int]:
        """Units from ``start`` with no result and no open attempt for ``name`` whose upstream steps all have results."""
        # the units of its scope (a fan-out's children, or the run's), each upstream step found where it is stored
        dep_clause, deps = self.engine.scopes.ready_filter(self.store, name, self.engine.deps[name])
        sql = ("SELECT pos FROM units u WHERE u.pos >= ? AND NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? "
               f"AND r.unit = u.pos) AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.step = ? AND a.unit = u.pos "
               f"AND a.state IN {OPEN})" + dep_clause + f" ORDER BY pos LIMIT {CHUNK}")
        return [r[0] for r in self.store.db.execute(sql, (start, name, name, *deps))]

    def _queue(self, step: dict, positions: list[int], dedup: StepDedup | None = None) -> None:
        name, req = step["name"], self.requests(step)
        results, attempts = [], []
        if dedup is not None:
            dedup.begin(positions)
        for pos, env, blocked, skipped in self.engine.unit_envs(name, positions):
            if blocked:
                results.append((pos, "blocked", None, blocked))
                continue
            if req.judge and step["config"]["of"] in skipped:  # nothing to judge
                results.append((pos, "skipped", None, None))
                continue
            outcome = self._first_request(step, req, pos, env, dedup)
            (attempts if isinstance(outcome, tuple) and len(outcome) == 6 else results).append(outcome)
        with self.store.transaction() as db:  # the keys claimed, with the results and attempts they decided
            self.store.add_results(name, results, db)
            self.ledger.add_attempts(attempts, db)
            if dedup is not None:
                dedup.write(db)

    def _first_request(self, step: dict, req: StepRequests, pos: int, env: dict, dedup: StepDedup | None = None):
        """A new attempt row for the unit, or a result (skipped by `when` or as a duplicate, failed prompt)."""
        name = step["name"]
        try:
            when = self.engine.when_of(step)
            if when is not None and not when.evaluate(env, self.engine.rng_for(name, env["unit"]["id"], when)):
                return (pos, "skipped", None, None)
            duplicate = dedup.admit(pos, env["unit"]["id"], env) if dedup is not None else None
            if duplicate is not None:
                return (pos, "skipped", None, duplicate)
        except Exception as err:  # EvalError from `when` or the `unique_by` key
            return (pos, "failed", None, self.engine.reason(err))
        round_, feedback = self.engine.loops.feedback(name, pos)  # tries count per round (runtime/work/loops.py)
        try:
            request = req.request({**env, "feedback": feedback})
        except PromptError as err:
            return (pos, "failed", None, str(err))
        return (name, pos, round_, self.ledger.tries(name, pos, round_) + 1, self._mode(step), request)

    # --- deciding -----------------------------------------------------------------------------

    def _decide(self, step: dict) -> int:
        decided = 0
        while True:
            answered = self.ledger.attempts(step["name"], "answered", limit=CHUNK)
            if not answered:
                return decided
            units = sorted({a.unit for a in answered})
            envs = {pos: env for pos, env, _, _ in self.engine.unit_envs(step["name"], units)}
            put_back = self.ledger.requeued(step["name"], units)  # by `octoc retry` / `revalidate` (runtime/fixing/withdraw.py)
            with self.store.transaction() as db:
                for attempt in answered:
                    if attempt.id <= put_back.get(attempt.unit, 0) or attempt.unit not in envs:
                        self.engine.frontiers.lower([step["name"]], attempt.unit)  # to be queued again
                        self.ledger.settle(attempt.id, "stale: the unit was put back (octoc retry or revalidate) "
                                                       "while this answer was on its way", db)
                        continue
                    self._decide_one(step, attempt, envs[attempt.unit], db)
            decided += len(answered)

    def _decide_one(self, step: dict, a: Attempt, env: dict, db) -> None:
        name, req = step["name"], self.requests(step)
        retries = step.get("retries", 2)
        loops = self.engine.loops
        if loops.in_loop(name) and a.round != loops.round_of(name, a.unit)[0]:  # its loop was sent back meanwhile
            self.engine.frontiers.lower([name], a.unit)  # to be queued again, for its new round
            self.ledger.settle(a.id, f"stale: answered for round {a.round}, after '{name}' was sent back", db)
            return
        try:
            if a.error is not None:
                raise AnswerError(f"the provider answered with an error: {a.error}")
            output = req.output(a.text, env)
        except AnswerError as err:
            if (a.error is None or a.retryable) and a.try_ <= retries:
                self.ledger.add_attempts([(name, a.unit, a.round, a.try_ + 1, a.mode, _retry_request(a, err))], db)
                self.ledger.settle(a.id, f"retried: {err}", db)
            else:
                self._fail(name, a, f"{err} (after {a.try_} {'try' if a.try_ == 1 else 'tries'})", db)
            return
        except Exception as err:  # checking the answer went wrong in a way octo did not put in words: still this unit's
            self._fail(name, a, f"the answer could not be checked ({type(err).__name__}: {err}); please report it", db)
            return
        if req.judge and not output["passed"] and self._send_back(step, a, output, db):
            return
        try:
            stored = encode_output(output)
        except UnstorableValue as err:  # parsed JSON always can be; if it ever cannot, it is this unit's failure
            self._fail(name, a, f"the answer cannot be stored: {err}", db)
            return
        self.store.add_encoded_results(name, [(a.unit, "done", stored, None)], db)
        self.ledger.settle(a.id, "done", db)

    def _fail(self, name: str, a: Attempt, reason: str, db) -> None:
        self.store.add_encoded_results(name, [(a.unit, "failed", None, reason)], db)
        self.ledger.settle(a.id, f"failed: {reason}", db)

    def _send_back(self, step: dict, a: Attempt, output: dict, db) -> bool:
        """A failed verdict sends its loop back for this unit, if it has rounds left (runtime/work/loops.py)."""
        round_ = self.engine.loops.send_back(step["name"], a.unit, output, db)
        if round_ is None:
            return False
        self.ledger.settle(a.id, f"sent '{step['config']['of']}' back for round {round_}", db)
        return True


def _retry_request(a: Attempt, err: AnswerError) -> dict:
    """The same request, told why its last answer could not be used (a provider error needs no note)."""
    request = dict(a.request)
    if a.error is None:
        base = request["prompt"].split("\n\n(Your previous answer could not be used:")[0]
        request["prompt"] = (f"{base}\n\n(Your previous answer could not be used: {err}. "
                             f"Answer again, exactly in the required format.)")
    return request
