"""`octoc revalidate`: check the answers a run has bought against its (possibly edited) rules, calling no provider.

Every provider step, in plan order, chunk by chunk (one transaction each),
unit by unit where it has a result. The answers considered are those of the
unit's current round (runtime/work/loops.py) that answered the step's question as
it stands — none from before an upstream result changed (a stale ``requeues``
row, runtime/attempts/ledger.py) — latest first:

- a `done` result: its answer is parsed and checked again (the output schema,
  the `validate` rules, a judge's `pass`). Still passing with the same output:
  nothing changes. Failing now: the latest other answer of the round that
  passes takes its place — an answer already bought is never bought again;
  with none, the step is asked again at once, with the reason (as a retry of a
  bad answer is), and with fresh tries;
- a `failed` result: the latest answer that passes now becomes the result, and
  a judge's verdict then decides as it does on any answer (passed, or its loop
  sent back if it has rounds left). With none, the unit stays failed, its
  reason the last answer's under the rules as they are;
- `skipped` and `blocked` results have no answer of their own.

A local step whose `validate` rules the edit changed (runtime/fixing/planedit.py) is
computed again (free) over its stored inputs, and compared likewise. Whatever
followed from a result that changed is withdrawn (runtime/fixing/withdraw.py) and
computed, or asked, again when the run goes on. An attempt whose answer is
used now, or no longer, has its verdict rewritten to say so, with what it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..base.crashpoints import crashpoint
from ..attempts.dispatch import _retry_request  # the request a bad answer is retried with, note and all
from ..base.encoding import UnstorableValue, encode_output
from ..attempts.ledger import Attempt, Ledger
from ..attempts.prompting import AnswerError, StepRequests
from .withdraw import Withdrawal

CHUNK = 500  # units per transaction
WHY = "octoc revalidate"


@dataclass
class Answer:
    id: int
    unit: int
    round: int
    try_: int
    mode: str
    request: dict
    text: str
    verdict: str


def revalidate(engine, fix: dict) -> dict[str, dict[str, int]]:
    """Re-check every provider step's answers and recompute the local steps ``fix`` names; per step, what changed."""
    return Revalidation(engine, fix).run()


class Revalidation:
    def __init__(self, engine, fix: dict):
        self.engine = engine
        self.store = engine.store
        self.ledger = Ledger(engine.store)
        self.withdrawal = Withdrawal(engine)
        self.local = set(fix.get("local", ()))
        self.aggregates = list(fix.get("aggregates", ()))
        self.tally: dict[str, dict[str, int]] = {}
        self._requests: dict[str, StepRequests] = {}

    def run(self) -> dict[str, dict[str, int]]:
        if self.aggregates:
            with self.store.transaction() as db:
                for name in self.aggregates:
                    self.withdrawal.drop_aggregate(name, db)
        for step in self.engine.plan.steps:
            if step["runs"] == "provider":
                self._each_chunk(step, self._provider_chunk)
            elif step["name"] in self.local:
                self._each_chunk(step, self._local_chunk)
        for step, n in self.withdrawal.withdrawn.items():
            self._count(step, "withdrawn", n)
        for step in self.withdrawal.dropped:
            self._count(step, "aggregate_dropped")
        return {step: self.tally[step] for step in self.engine.steps if self.tally.get(step)}

    def _count(self, step: str, what: str, n: int = 1) -> None:
        counts = self.tally.setdefault(step, {})
        counts[what] = counts.get(what, 0) + n

    def _each_chunk(self, step: dict, check) -> None:
        after = -1
        while True:
            positions = [r[0] for r in self.store.db.execute(
                "SELECT unit FROM results WHERE step = ? AND state IN ('done', 'failed') AND unit > ? "
                "ORDER BY unit LIMIT ?", (step["name"], after, CHUNK))]
            if not positions:
                return
            after = positions[-1]
            with self.store.transaction() as db:
                check(step, positions, db)
                crashpoint("during-revalidate")

    # --- provider steps ------------------------------------------------------------------------

    def _provider_chunk(self, step: dict, positions: list[int], db) -> None:
        name = step["name"]
        if name not in self._requests:
            self._requests[name] = StepRequests(step, self.engine.language.functions)
        req = self._requests[name]
        results = self.store.raw_results(name, positions)
        answers = self._answers(name, positions)
        envs = {pos: env for pos, env, _, _ in self.engine.unit_envs(name, positions)}
        for pos in positions:
            state, stored, _ = results[pos]
            if not answers.get(pos):
                continue  # no answer to check: its prompt failed, or the provider only ever answered with errors
            if state == "done":
                self._recheck_done(step, req, pos, stored, answers[pos], envs[pos], db)
            else:
                self._recheck_failed(step, req, pos, results[pos][2], answers[pos], envs[pos], db)

    def _answers(self, step: str, positions: list[int]) -> dict[int, list[Answer]]:
        """Per unit, the answers of its current round since what the step reads last changed, latest first."""
        out: dict[int, list[Answer]] = {}
        marks = ",".join("?" * len(positions))
        stale = dict(self.store.db.execute(
            f"SELECT unit, max(after) FROM requeues WHERE step = ? AND stale = 1 AND unit IN ({marks}) GROUP BY unit",
            (step, *positions)).fetchall())
        rows = self.store.db.execute(
            f"SELECT id, unit, round, try, mode, request, text, verdict FROM attempts WHERE step = ? AND unit IN ({marks}) "
            f"AND state = 'settled' AND text IS NOT NULL AND error IS NULL ORDER BY id DESC", (step, *positions))
        rounds: dict[int, int] = {}
        for row in rows:
            answer = Answer(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7] or "")
            if answer.unit not in rounds:
                rounds[answer.unit] = self.engine.loops.round_of(step, answer.unit)[0]
            if (answer.round == rounds[answer.unit] and answer.id > stale.get(answer.unit, 0)
                    and not answer.verdict.startswith(("stale", "withdrawn"))):
                out.setdefault(answer.unit, []).append(answer)
        return out

    def _recheck_done(self, step: dict, req: StepRequests, pos: int, stored: str, answers: list[Answer], env: dict,
                      db) -> None:
        name = step["name"]
        used = next((a for a in answers if a.verdict.startswith("done")), None)
        if used is None:
            return  # not an answer's (cannot happen for a provider step; nothing to check if it does)
        self._count(name, "checked")
        output, error = _check(req, used.text, env)
        if error is None and output == stored:
            self._count(name, "unchanged")
            return
        if error is None:
            self._accept(step, req, pos, used, output, env, db)
            self._count(name, "changed")
            return
        for other in answers:
            if other is not used:
                output, _ = _check(req, other.text, env)
                if output is not None:
                    self._verdict(used, f"revalidated: {error} (was: {used.verdict})", db)
                    self._accept(step, req, pos, other, output, env, db)
                    self._count(name, "now_fail_replaced")
                    return
        self._ask_again(step, req, pos, used, error, db)
        self._count(name, "now_fail")

    def _recheck_failed(self, step: dict, req: StepRequests, pos: int, reason: str | None, answers: list[Answer],
                        env: dict, db) -> None:
        name = step["name"]
        self._count(name, "checked")
        errors = []
        for answer in answers:
            output, error = _check(req, answer.text, env)
            if output is not None:
                self._accept(step, req, pos, answer, output, env, db)
                self._count(name, "now_pass")
                return
            errors.append(error)
        self._count(name, "still_fail")
        last = answers[0]
        if last.verdict.startswith("failed:"):  # the failure was this answer's: say why under the rules as they are
            now = f"{errors[0]} (after {last.try_} {'try' if last.try_ == 1 else 'tries'})"
            if now != reason:
                db.execute("UPDATE results SET reason = ? WHERE step = ? AND unit = ?", (now, name, pos))
                self._verdict(last, f"failed: {now}", db)

    def _accept(self, step: dict, req: StepRequests, pos: int, answer: Answer, output: str, env: dict, db) -> None:
        """``answer`` (whose stored output is ``output``) becomes the unit's result; what followed from the old one goes."""
        name = step["name"]
        self.withdrawal.withdraw_after(name, [pos], WHY, db)
        db.execute("DELETE FROM results WHERE step = ? AND unit = ?", (name, pos))
        was = f"(revalidated; was: {answer.verdict})"
        if req.judge:
            verdict = json.loads(output)
            if not verdict["passed"]:
                round_ = self.engine.loops.send_back(name, pos, verdict, db)
                if round_ is not None:
                    self._verdict(answer, f"sent '{step['config']['of']}' back for round {round_} {was}", db)
                    return
        self.store.add_encoded_results(name, [(pos, "done", output, None)], db)
        self._verdict(answer, f"done {was}", db)

    def _ask_again(self, step: dict, req: StepRequests, pos: int, answer: Answer, error: str, db) -> None:
        """The unit's answer fails now: withdraw the result and ask again at once, saying why, with fresh tries."""
        name = step["name"]
        self.withdrawal.withdraw(name, [pos], f"{WHY}: {error}", stale=False, db=db)
        self._verdict(answer, f"revalidated: {error} (was: {answer.verdict})", db)
        last = Attempt(answer.id, name, pos, answer.round, answer.try_, answer.mode, answer.request)
        request = {**_retry_request(last, AnswerError(error)), "schema": req.schema}  # the schema as it is now
        self.ledger.add_attempts([(name, pos, answer.round, 1, answer.mode, request)], db)

    def _verdict(self, answer: Answer, verdict: str, db) -> None:
        db.execute("UPDATE attempts SET verdict = ? WHERE id = ?", (verdict, answer.id))
        answer.verdict = verdict

    # --- local steps -----------------------------------------------------------------------------

    def _local_chunk(self, step: dict, positions: list[int], db) -> None:
        """Compute the step again over its stored inputs; a result that changed replaces the stored one."""
        name = step["name"]
        stored = self.store.raw_results(name, positions)
        upstream = self.engine.scopes.upstream(self.store, self.engine.scopes.scope[name], step["depends_on"], positions)
        rows = self.engine._unit_work().run(name, self.store.units(positions), upstream)
        changed = []
        for row in rows:
            pos, state, output, reason = row
            self._count(name, "recomputed")
            if (state, output) == stored[pos][:2]:
                if reason != stored[pos][2]:
                    db.execute("UPDATE results SET reason = ? WHERE step = ? AND unit = ?", (reason, name, pos))
                continue
            changed.append(row)
        if not changed:
            return
        units = [row[0] for row in changed]
        self.withdrawal.withdraw_after(name, units, WHY, db)
        marks = ",".join("?" * len(units))
        db.execute(f"DELETE FROM results WHERE step = ? AND unit IN ({marks})", (name, *units))
        self.store.add_encoded_results(name, self.engine.loops.decide_local(name, changed, db), db)
        self._count(name, "changed", len(changed))


def _check(req: StepRequests, text: str, env: dict) -> tuple[str | None, str | None]:
    """(the output as stored, None) if the answer passes the step's checks now, else (None, why not)."""
    try:
        return encode_output(req.output(text, env)), None
    except AnswerError as err:
        return None, str(err)
    except UnstorableValue as err:
        return None, f"the answer cannot be stored: {err}"
    except Exception as err:  # as dispatch does: checking went wrong in a way octo did not put in words
        return None, f"the answer could not be checked ({type(err).__name__}: {err}); please report it"
