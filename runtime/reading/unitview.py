"""`octoc show DIR UNIT`: everything the store knows about one unit, read-only.

For the unit: its fields, where it comes from (a fan-out's child: its parent and the fan-out), and
its children. Per step stored at the unit: its state, output or reason, and — for a step in a
loop — the rounds a verdict started, with their feedback. Per provider step every attempt in the
order it was made (runtime/attempts/ledger.py): round and try, mode, batch, the request as sent (model,
system and user prompt, schema, limits), the raw answer or the provider's error, how the answer
was checked (parsed, the schema, the `validate` rules: which one failed and its message), what
was decided (done; retried, and the note the next try was sent; the loop sent back, with the
verdict's feedback; stale; withdrawn; failed), the tokens as stored and the cost.

The decision is read from the attempt's ``verdict`` as dispatch (runtime/attempts/dispatch.py) and loops
(runtime/work/loops.py) write it: ``done``, ``retried: WHY``, ``failed: WHY``, ``sent 'S' back for
round N``, ``stale: ...``, ``withdrawn: ...``; any other ``WORD: TEXT`` is shown as it is.

No API key is ever stored (requests hold no key; provider errors are redacted when stored): the
store holds nothing to hide. What is shown is what is stored.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
from pathlib import Path

from ..base.encoding import decode_output
from .failures import classify
from ..rundirs.rundir import open_plan, open_store
from ..work.scopes import ROOT, Scopes
from ..work.units import unit_space

CHILDREN_LISTED = 10
RETRY_NOTE = "\n\n(Your previous answer could not be used:"  # runtime/attempts/dispatch.py's _retry_request


class UnknownUnit(Exception):
    """No unit of that id: the message says which ids are close, and how to list them."""


class UnknownStep(Exception):
    """No such step for this unit, with what there is instead."""


def unit_view(run_dir: Path, unit_id: str, only: str | None = None) -> dict:
    plan = open_plan(run_dir)
    store = open_store(run_dir, readonly=True)
    try:
        return _view(run_dir, plan, store, unit_id, only)
    finally:
        store.close()


def _view(run_dir: Path, plan, store, unit_id: str, only: str | None) -> dict:
    from octo.stdlib import default_language

    row = store.db.execute("SELECT pos, idx, origin, parent FROM units WHERE id = ?", (unit_id,)).fetchone()
    if row is None:
        raise UnknownUnit(_unknown_unit(store, run_dir, unit_id))
    pos, idx, origin, parent = row
    scopes = Scopes(plan, default_language())
    steps = {s["name"]: s for s in plan.steps}
    here = [n for n, s in steps.items() if s["kind"] != "aggregate"
            and (scopes.scope[n] == origin or (n == origin and n in scopes.fanouts))]
    if only is not None:
        _check_step(only, steps, here, scopes, store, pos, parent, run_dir)
        here = [only]
    ledger = store.has_table("attempts")
    reruns = store.has_table("reruns")
    view = {"unit": unit_id, "fields": _fields(plan, idx, unit_id), **_lineage(store, origin, parent, pos),
            "state": _unit_state(store, pos, [n for n in steps if steps[n]["kind"] != "aggregate"
                                              and scopes.scope[n] == origin]),
            "steps": []}
    for name in here:
        step = steps[name]
        state, output, reason = _result(store, name, pos)
        entry = {"step": name, "kind": step["kind"], "runs": step["runs"], "state": state, "output": output,
                 "reason": reason}
        if reruns:
            entry["rounds"] = _rounds(store, plan, name, pos)
        if step["runs"] == "provider":
            entry["validate"] = [v["rule"]["text"] for v in step.get("validate") or ()]
            entry["attempts"] = _attempts(store, name, pos, entry) if ledger else []
        view["steps"].append(entry)
    return view


def _fields(plan, idx: int, unit_id: str) -> dict:
    return {k: v for k, v in unit_space(plan).unit(idx, unit_id).items() if k != "id"}


def _lineage(store, origin: str, parent: int | None, pos: int) -> dict:
    """The unit's parent and fan-out (a child), and its children per fan-out (a parent)."""
    out: dict = {"fanout": origin or None, "parent": None, "children": {}}
    if parent is not None:
        out["parent"] = store.db.execute("SELECT id FROM units WHERE pos = ?", (parent,)).fetchone()[0]
    for fanout, n in store.db.execute("SELECT origin, count(*) FROM units WHERE parent = ? GROUP BY origin", (pos,)):
        ids = [r[0] for r in store.db.execute("SELECT id FROM units WHERE parent = ? AND origin = ? ORDER BY pos LIMIT ?",
                                              (pos, fanout, CHILDREN_LISTED))]
        out["children"][fanout] = {"units": n, "first": ids}
    return out


def _unit_state(store, pos: int, steps: list[str]) -> str:
    """failed (a step failed or was blocked), done (every step has a result) or pending, over the unit's steps."""
    if not steps:
        return "done"
    marks = ",".join("?" * len(steps))
    states = [s for s, in store.db.execute(f"SELECT state FROM results WHERE unit = ? AND step IN ({marks})",
                                           (pos, *steps))]
    if {"failed", "blocked"} & set(states):
        return "failed"
    return "done" if len(states) == len(steps) else "pending"


def _result(store, name: str, pos: int) -> tuple[str, object, str | None]:
    row = store.db.execute("SELECT state, output, reason FROM results WHERE step = ? AND unit = ?", (name, pos)).fetchone()
    if row is None:
        return "pending", None, None
    state, output, reason = row
    return state, decode_output(output) if output is not None else None, reason


def _rounds(store, plan, name: str, pos: int) -> list[dict]:
    """The rounds a verdict started for this step and unit (round 1 has no row): which loop, and its feedback."""
    verdicts: dict[str, list[str]] = {}  # a loop's target → the verdicts that may send it back
    for entry in plan.data.get("loops") or ():
        verdicts.setdefault(entry["of"], []).append(entry["verdict"])
    rows = store.db.execute("SELECT round, feedback, loop FROM reruns WHERE step = ? AND unit = ? ORDER BY round",
                            (name, pos))
    return [{"round": r, "sent_back_by": " or ".join(verdicts.get(loop, [])) or None, "loop": loop,
             "feedback": json.loads(feedback) if feedback else None} for r, feedback, loop in rows]


# --- attempts ------------------------------------------------------------------------------------

def _attempts(store, name: str, pos: int, step: dict) -> list[dict]:
    rows = store.db.execute(
        "SELECT a.id, a.round, a.try, a.state, a.mode, a.batch, b.provider_id, a.request, a.text, a.error, "
        "a.usage, a.cost, a.list_cost, a.verdict FROM attempts a LEFT JOIN batches b ON b.key = a.batch "
        "WHERE a.step = ? AND a.unit = ? ORDER BY a.id", (name, pos)).fetchall()
    out = []
    for i, (_, round_, try_, state, mode, batch, provider_batch, request, text, error, usage, cost, listed,
            verdict) in enumerate(rows):
        req = json.loads(request)
        nxt = json.loads(rows[i + 1][7]) if i + 1 < len(rows) else None
        decision = _decision(state, verdict, req, nxt, step, store, pos, round_)
        out.append({"round": round_, "try": try_, "state": state, "mode": mode, "batch": batch,
                    "provider_batch": provider_batch,
                    "model": f"{req.get('provider')}:{req.get('model')}", "system": req.get("system"),
                    "prompt": req.get("prompt"), "schema": req.get("schema"), "max_tokens": req.get("max_tokens"),
                    "temperature": req.get("temperature"),
                    **{k: req[k] for k in ("top_p", "seed", "reasoning_effort", "thinking_budget") if k in req},
                    "answer": text, "error": error,
                    "check": _check(text, error, decision, req, step),
                    "decision": decision, "usage": json.loads(usage) if usage else None,
                    "cost_usd": cost, "list_cost_usd": listed})
    _put_back(store, name, pos, [r[0] for r in rows], out)
    final = [a for a in out if a["decision"]["verdict"] == "done"]
    if step["kind"] == "judge" and step["state"] == "done" and final and isinstance(step["output"], dict):
        final[-1]["check"]["passed"] = step["output"].get("passed")  # the verdict that stands
    return out


def _put_back(store, name: str, pos: int, ids: list[int], attempts: list[dict]) -> None:
    """Mark the last attempt before each time `octoc retry` or `revalidate` put the unit back (``requeues``)."""
    if not store.has_table("requeues"):
        return
    try:
        rows = store.db.execute("SELECT after, why FROM requeues WHERE step = ? AND unit = ? ORDER BY after",
                                (name, pos)).fetchall()
    except sqlite3.OperationalError:  # a table of another shape: nothing to say
        return
    for after, why in rows:
        before = [i for i, attempt_id in enumerate(ids) if attempt_id <= after]
        if before:
            attempts[before[-1]].setdefault("put_back", []).append(why)


_SENT_BACK = re.compile(r"^sent '(.+)' back for round (\d+)$")
_REVALIDATED = re.compile(r"^(.*?) \(revalidated; was: (.*)\)$", re.S)
_NOW_FAILS = re.compile(r"^revalidated: (.*?) \(was: (.*)\)$", re.S)


def _decision(state: str, verdict: str | None, req: dict, nxt: dict | None, step: dict, store, pos: int,
              round_: int) -> dict:
    """What was decided on an attempt, from its stored verdict."""
    if verdict is None:
        return {"verdict": {"queued": "queued", "sent": "at the provider", "answered": "answered, to be decided"}
                .get(state, state)}
    if m := _REVALIDATED.match(verdict):  # `octoc revalidate` made this answer the one used (runtime/fixing/revalidate.py)
        return {**_decision(state, m.group(1), req, nxt, step, store, pos, round_), "revalidated_was": m.group(2)}
    if m := _NOW_FAILS.match(verdict):  # ... or found it failing the rules as they are now
        return {"verdict": "revalidated", "why": m.group(1), "revalidated_was": m.group(2)}
    if verdict == "done":
        return {"verdict": "done"}
    if m := _SENT_BACK.match(verdict):
        target, new_round = m.group(1), int(m.group(2))
        row = store.db.execute("SELECT feedback FROM reruns WHERE step = ? AND unit = ? AND round = ?",
                               (target, pos, new_round)).fetchone() if store.has_table("reruns") else None
        return {"verdict": "sent back", "target": target, "round": new_round,
                "feedback": json.loads(row[0]) if row and row[0] else None}
    word, _, why = verdict.partition(": ")
    out = {"verdict": word, "why": why}
    if word == "retried" and nxt is not None:  # the note the next try was sent with (none after a provider error)
        note = nxt.get("prompt", "")
        at = note.find(RETRY_NOTE)
        out["note"] = note[at:].strip() if at >= 0 else None
    return out


def _check(text: str | None, error: str | None, decision: dict, req: dict, step: dict) -> dict | None:
    """How the answer was read: None before it is decided, or when it was not (stale, withdrawn)."""
    verdict = decision["verdict"]
    if error is not None:
        return {"ok": False, "kind": "provider", "rule": None, "message": error}
    if verdict in ("retried", "failed", "revalidated"):
        failure = classify(decision.get("why", ""))
        return {"ok": False, "kind": failure.kind, "rule": failure.rule or None, "message": failure.detail}
    if verdict not in ("done", "sent back"):
        return None
    rules = len(step.get("validate") or ())
    read = "parsed as JSON, matches the output schema" if req.get("schema") else "free text"
    passed = f"{rules} validate {'rule' if rules == 1 else 'rules'} passed" if rules else "no validate rules"
    out = {"ok": True, "kind": None, "rule": None, "message": f"{read}, {passed}"}
    if verdict == "sent back":
        out["passed"] = False
    return out


# --- what to say when the unit or step is not there -------------------------------------------------

def _unknown_unit(store, run_dir: Path, unit_id: str) -> str:
    close = _close_ids(store, unit_id)
    hint = f"; did you mean {_either(close)}?" if close else ""
    return f"no unit '{unit_id}' in {run_dir}{hint} (`octoc results {run_dir}` lists every unit with its id)"


def _either(ids: list[str]) -> str:
    quoted = [f"'{i}'" for i in ids]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _close_ids(store, unit_id: str, limit: int = 3) -> list[str]:
    """Ids like ``unit_id``: compared with the ids sharing its longest prefix that some id has (at most 20,000
    of them, found through the ids' unique index, so a run of millions of units answers at once)."""
    candidates: list[str] = []
    for length in range(min(len(unit_id), 8), -1, -1):
        prefix = unit_id[:length]
        candidates = [r[0] for r in store.db.execute("SELECT id FROM units WHERE id >= ? AND id < ? LIMIT 20000",
                                                     (prefix, prefix + "\U0010ffff"))]
        if candidates and (length == 0 or len(candidates) >= limit):
            break
    return difflib.get_close_matches(unit_id, candidates, n=limit, cutoff=0.6)


def _check_step(only: str, steps: dict, here: list[str], scopes: Scopes, store, pos: int, parent: int | None,
                run_dir: Path) -> None:
    if only in here:
        return
    if only not in steps:
        close = difflib.get_close_matches(only, list(steps), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UnknownStep(f"no step '{only}' in this run; {hint}(this unit's steps: {', '.join(here)})")
    if steps[only]["kind"] == "aggregate":
        raise UnknownStep(f"'{only}' is an aggregate: it has no result per unit (its groups: octoc report {run_dir})")
    while parent is not None:  # a step of an enclosing scope is stored at an ancestor
        ancestor, origin, parent_next = store.db.execute("SELECT id, origin, parent FROM units WHERE pos = ?",
                                                         (parent,)).fetchone()
        if scopes.scope[only] == origin or only == origin:
            raise UnknownStep(f"step '{only}' is stored at this unit's ancestor '{ancestor}': "
                              f"octoc show {run_dir} {ancestor} --step {only}")
        parent = parent_next
    scope = scopes.scope[only]
    where = "the run's own units" if scope == ROOT else f"the child units of fan-out '{scope}'"
    raise UnknownStep(f"step '{only}' runs over {where}, and this unit is not one of them "
                      f"(this unit's steps: {', '.join(here)}){_descendant(store, scopes, pos, scope, only, run_dir)}")


def _descendant(store, scopes: Scopes, pos: int, scope: str, only: str, run_dir: Path) -> str:
    """A hint naming this unit's first descendant that ``only`` runs over, if it has one."""
    if scope == ROOT:
        return ""
    chain = scopes.chain(scope)  # scope, its enclosing fan-outs, ..., ROOT
    at = pos
    for fanout in reversed(chain[:-1]):  # down from the unit's own scope, one fan-out at a time
        row = store.db.execute("SELECT pos, id FROM units WHERE parent = ? AND origin = ? ORDER BY pos LIMIT 1",
                               (at, fanout)).fetchone()
        if row is None:
            continue
        at, child = row
        if fanout == scope:
            return f"; its children do: octoc show {run_dir} {child} --step {only}"
    return ""
