"""`octoc status`: units per step and state, elapsed time, cost so far."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .ledger import Ledger
from .rundir import open_plan, open_store
from .scopes import ROOT, Scopes
from .store import STATES, Store


def run_status(run_dir: Path) -> dict:
    plan = open_plan(run_dir)
    store = open_store(run_dir, readonly=True)
    try:
        scopes = _scopes(plan)
        units = scopes.unit_total(store, ROOT)  # the run's own; a fan-out's children are counted on its row
        created = float(store.get("created", "0"))
        finished = store.get("finished")
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
            "run": str(run_dir), "pipeline": plan.data["pipeline"]["name"], "state": store.get("state"),
            "units": units, "failed_units": failed_units,
            "elapsed_s": round((float(finished) if finished else time.time()) - created, 3),
            "cost_usd": round(cost, 6), "list_cost_usd": round(listed, 6),
            "synthetic": bool(settings.get("emulator")), "steps": steps,
            "batches": dict(store.db.execute("SELECT state, count(*) FROM batches GROUP BY state").fetchall())
            if store.has_table("batches") else {},
        }
    finally:
        store.close()


def _scopes(plan) -> Scopes:
    from octo.stdlib import default_language

    return Scopes(plan, default_language())


def spent(store: Store) -> tuple[float, float]:
    """(cost, cost at list prices) so far; a store made before every run had the provider tables has spent nothing."""
    cost, listed = Ledger(store).spent() if store.has_table("attempts") else (0, 0)
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
             f"{data['elapsed_s']:.1f}s, {money}", ""]
    if data["state"] != "done" and data["state"] != "running":  # creating, or a creation that never began
        lines[-1:] = [f"  the run's creation is not finished; complete it with: octoc run --resume {data['run']}", ""]
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
