"""`octoc status`: the run's state (runtime/rundirs/liveness.py), units per step and state, elapsed time, cost so far."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..rundirs.liveness import run_state
from ..rundirs.rundir import open_plan, open_store
from ..work.scopes import ROOT, Scopes
from ..base.store import STATES, Store


def run_status(run_dir: Path) -> dict:
    plan = open_plan(run_dir)
    store = open_store(run_dir, readonly=True)
    try:
        scopes = _scopes(plan)
        units = scopes.unit_total(store, ROOT)  # the run's own; a fan-out's children are counted on its row
        created = float(store.get("created", "0"))
        live = run_state(run_dir, store)  # its clock stops when nobody drives it
        steps = []
        for step in plan.steps:
            if step["kind"] == "aggregate":
                groups = store.db.execute("SELECT count(*) FROM groups WHERE step = ?", (step["name"],)).fetchone()[0]
                steps.append({"name": step["name"], "kind": step["kind"],
                              "state": "done" if store.get(f"aggregated:{step['name']}") else "pending", "groups": groups})
                continue
            counts = scopes.counts(store, step["name"])
            total = scopes.unit_total(store, scopes.scope[step["name"]])  # the units it runs over
            row = {"name": step["name"], "kind": step["kind"], "units": total, **counts,
                   "pending": total - sum(counts.values())}
            if step["name"] in scopes.fanouts:
                row["children"] = scopes.unit_total(store, step["name"])
            if step["runs"] == "provider":
                row.update(_requests(store, step["name"]))
            steps.append(row)
        failed_units = store.db.execute(
            "SELECT count(DISTINCT unit) FROM results WHERE state = 'failed'").fetchone()[0]
        cost, listed = spent(store)
        settings = json.loads(store.get("settings") or "{}")
        return {
            "run": str(run_dir), "pipeline": plan.data["pipeline"]["name"], "state": live["state"],
            **{k: live[k] for k in ("holder", "stopped_by", "ended") if k in live},
            "batches_out": live["batches_out"], "units": units, "failed_units": failed_units,
            "elapsed_s": round(max(0.0, live["active_until"] - created), 3),
            "cost_usd": round(cost, 6), "list_cost_usd": round(listed, 6),
            "synthetic": bool(settings.get("emulator")), "steps": steps,
            "batches": dict(store.db.execute("SELECT state, count(*) FROM batches GROUP BY state").fetchall())
            if store.has_table("batches") else {},
            "capacity_failures": store.db.execute("SELECT count(*) FROM events WHERE kind = 'capacity'").fetchone()[0],
        }
    finally:
        store.close()


def _scopes(plan) -> Scopes:
    from octo.stdlib import default_language

    return Scopes(plan, default_language())


def spent(store: Store) -> tuple[float, float]:
    """(cost, cost at list prices) so far; a store made before every run had the provider tables has spent nothing."""
    cost, listed = _spent(store)
    return float(cost), float(listed)


def _requests(store: Store, step: str) -> dict:
    """Requests of a provider step: sent in all, waiting at the provider, and answers that were retried."""
    row = store.db.execute(
        "SELECT count(*), coalesce(sum(state IN ('sent')), 0), coalesce(sum(verdict LIKE 'retried%'), 0), "
        "coalesce(sum(cost), 0) FROM attempts WHERE step = ? AND state != 'queued'", (step,)).fetchone()
    return {"requests": row[0], "in_flight": row[1], "retried": row[2], "cost_usd": round(row[3], 6)}


def render_status(data: dict) -> str:
    money = (f"$0 (emulator, synthetic outputs; ${data['list_cost_usd']:.4f} at list prices)" if data["synthetic"]
             else f"${data['cost_usd']:.4f} spent")
    lines = [f"{data['pipeline']}: {data['state']} — {data['units']:,} units, {data['failed_units']:,} failed, "
             f"{data['elapsed_s']:.1f}s, {money}", f"  {explain_state(data)}", *_batch_trouble(data), ""]
    for s in data["steps"]:
        if s["kind"] == "aggregate":
            lines.append(f"  {s['name']:<16} {s['state']} ({s['groups']} groups)")
        else:
            parts = [f"{s[k]:,} {k}" for k in (*STATES, "pending") if s[k] or k in ("done", "pending")]
            if "children" in s:
                parts.append(f"{s['children']:,} child units")
            if "requests" in s:
                parts.append(f"{s['requests']:,} requests ({s['in_flight']:,} at the provider, {s['retried']:,} retried)")
            lines.append(f"  {s['name']:<16} " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def _batch_trouble(data: dict) -> list[str]:
    """A line on batches a provider failed, refused or lost as a whole (their requests were sent again), if any."""
    said, batches = [], data["batches"]
    if data.get("capacity_failures"):
        said.append(f"{data['capacity_failures']:,} failed or refused for an organisation-wide limit "
                    f"(sent again later, smaller; no unit's try spent)")
    if batches.get("lost"):
        said.append(f"{batches['lost']:,} lost by the provider (their requests sent again)")
    return [f"  batches: {'; '.join(said)}"] if said else []


def explain_state(data: dict) -> str:
    """One line: what the state means here, and what to do (docs/run.md#run-states)."""
    run, state, out = data["run"], data["state"], data.get("batches_out", 0)
    resume = f"octoc run --resume {run}"
    at_provider = f"; {out:,} batches are at a provider" if out else ""
    if state == "running":
        who = data.get("holder") or {}
        if not who:
            return "a process is starting to drive it"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(who.get("since", 0)))
        return f"driven by process {who.get('pid')} on {who.get('host')} since {since}: {who.get('command')}"
    if state == "done":
        return f"results: octoc results {run}   report: octoc report {run}"
    if state == "creating":
        return f"the run's creation is not finished; complete it with: {resume}"
    ended = data.get("ended") or {}
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ended.get("at", 0)))
    why = f" ({ended['message']})" if ended.get("message") else ""
    if state == "interrupted":
        return f"its process ended without stopping (killed?){at_provider}; resume with: {resume}"
    if state == "waiting":
        return f"the last tick ended at {when}{why}{at_provider}; tick again (octoc tick {run}) or: {resume}"
    if state == "stuck":
        return f"it cannot go on (since {when}): see the message of: {resume}"
    return f"stopped by {data.get('stopped_by', 'the user')} at {when}{why}{at_provider}; resume with: {resume}"


def _spent(store) -> tuple[float, float]:
    """(cost, list cost) of the run's attempts; a run without provider steps has none (and needs no ledger)."""
    if not store.has_table("attempts"):
        return 0, 0
    from ..attempts.ledger import Ledger

    return Ledger(store).spent()
