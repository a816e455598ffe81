"""Retry loops at run time: rounds, feedback, and sending a loop's body back for a unit.

The Plan's `loops` (compiler/frontend/loops.py) name, per verdict step (a `judge` on the
provider side, a `gate` computed locally), the step it may send back and the
loop's body: every step on a path from that step to the verdict. A failed
verdict with rounds left sends the body back for the unit in one transaction:
the body's results are deleted, each body step gets a `reruns` row (its next
round, with the verdict's outputs as `feedback`), and attempts of body steps
still queued for the unit are withdrawn (never sent, never paid). An attempt
already at the provider is answered, paid for, and discarded as stale when its
round is no longer the step's round.

Nothing outside the body can have read what is withdrawn: a step outside the
body that reads the body waits for every verdict of the loop (`waits_for`), and
the deciding verdict has no result yet. A verdict's final result is withdrawn
only by a loop containing it, which (loops are disjoint or nested, E0306)
contains the whole loop, and the reader waits for that loop's verdicts too.

Table ``reruns`` (step, unit, round, feedback, loop): one row per body step and
send-back. A step's round for a unit is its latest row's (1 without one), and
`feedback` the row's: the outputs of the verdict that last sent the step back.
A provider step's attempts carry its round, so its `retries` apply per round.
A loop's own round counts its send-backs since the last send-back of a loop
around it (an inner loop starts again at round 1 in each round of the outer).

Random streams: a local step in a body draws from the same (seed, unit, step)
stream in every round, so a round differs from the one before only by what
the models answered (a gate cannot pass by drawing again), and a run killed
and resumed recomputes every round identically.
"""

from __future__ import annotations

import json
import sqlite3

from ..base.crashpoints import crashpoint
from ..base.encoding import decode_output

SCHEMA = """
CREATE TABLE IF NOT EXISTS reruns (
    step TEXT NOT NULL, unit INTEGER NOT NULL, round INTEGER NOT NULL, feedback TEXT, loop TEXT NOT NULL,
    PRIMARY KEY (step, unit, round)) WITHOUT ROWID;
"""

PASSED = "passed"


class RunLoops:
    def __init__(self, plan, store):
        self.store = store
        self.db = store.db
        self.on_send_back = lambda steps, unit: None  # told which results go: the engine's marks (runtime/work/frontier.py)
        if plan.data["loops"]:  # made with the ledger's tables when the run is created (runtime/rundirs/rundir.py)
            self.db.executescript(SCHEMA)
        steps = {s["name"]: s for s in plan.steps}
        self.by_verdict = {entry["verdict"]: entry for entry in plan.data["loops"]}
        self.local_verdicts = {v for v in self.by_verdict if steps[v]["runs"] == "local"}
        self._over: dict[str, list[str]] = {}  # step → verdicts of every loop whose body holds it
        for entry in plan.data["loops"]:
            for step in entry["body"]:
                self._over.setdefault(step, []).append(entry["verdict"])
        self._fields = {name: list(dict.fromkeys(f for v in verdicts for f in steps[v]["output"] if f != PASSED))
                        for name, verdicts in self._over.items()}

    def in_loop(self, step: str) -> bool:
        return step in self._over

    def verdicts_over(self, step: str) -> list[str]:
        """The verdicts that may withdraw ``step``'s results: those of every loop whose body holds it."""
        return self._over.get(step, [])

    # --- rounds and feedback ---------------------------------------------------------------

    def round_of(self, step: str, unit: int) -> tuple[int, dict | None]:
        """The unit's current round of ``step`` (1 = first) and the feedback that started it."""
        if step not in self._over:
            return 1, None
        row = self.db.execute("SELECT round, feedback FROM reruns WHERE step = ? AND unit = ? ORDER BY round DESC LIMIT 1",
                              (step, unit)).fetchone()
        return (row[0], json.loads(row[1])) if row else (1, None)

    def feedback(self, step: str, unit: int) -> tuple[int, dict | None]:
        """(round, `feedback`) for ``step``'s templates: every field the checker typed it with is there
        (null when the verdict that sent it back has no such field)."""
        round_, feedback = self.round_of(step, unit)
        if feedback is None:
            return round_, None
        return round_, {**dict.fromkeys(self._fields.get(step, ())), **feedback}

    def loop_round(self, target: str, unit: int) -> int:
        """The round of the loop of ``target``: 1 + its own send-backs since a loop around it last sent it back."""
        return 1 + self.db.execute(
            "SELECT count(*) FROM reruns WHERE step = ? AND unit = ? AND loop = ? AND round > "
            "coalesce((SELECT max(round) FROM reruns WHERE step = ? AND unit = ? AND loop != ?), 0)",
            (target, unit, target, target, unit, target)).fetchone()[0]

    # --- sending back ------------------------------------------------------------------------

    def send_back(self, verdict: str, unit: int, output: dict, db: sqlite3.Connection) -> int | None:
        """Send the loop of ``verdict`` back for ``unit`` if it has rounds left: the loop's new round, else None.

        Part of the caller's transaction, which also settles the verdict: a kill anywhere in it loses
        the whole decision, and the verdict is decided again, identically, on resume."""
        entry = self.by_verdict[verdict]
        target, body = entry["of"], entry["body"]
        round_ = self.loop_round(target, unit)
        if round_ >= entry["attempts"]:
            return None
        feedback = json.dumps({k: v for k, v in output.items() if k != PASSED})
        db.executemany("INSERT OR IGNORE INTO reruns(step, unit, round, feedback, loop) VALUES (?, ?, ?, ?, ?)",
                       [(step, unit, self.round_of(step, unit)[0] + 1, feedback, target) for step in body])
        marks = ",".join("?" * len(body))
        self.on_send_back([*body, verdict], unit)  # the verdict too: its unit is decided again after the new round
        db.execute(f"DELETE FROM results WHERE unit = ? AND step IN ({marks})", (unit, *body))
        if self.store.has_table("attempts"):  # queued, never sent: withdrawn without a cost
            db.execute(f"UPDATE attempts SET state = 'settled', verdict = ? WHERE unit = ? AND state = 'queued' "
                       f"AND step IN ({marks})", (f"withdrawn: '{verdict}' sent '{target}' back", unit, *body))
        crashpoint("during-send-back")
        return round_ + 1

    def decide_local(self, name: str, rows: list, db: sqlite3.Connection) -> list:
        """A chunk of a local verdict's result rows, less those whose failed verdict sent their loop back."""
        if name not in self.local_verdicts:
            return rows
        kept = []
        for row in rows:
            pos, state, output, _ = row
            if state == "done":
                verdict = decode_output(output)
                if not verdict[PASSED] and self.send_back(name, pos, verdict, db) is not None:
                    continue
            kept.append(row)
        return kept
