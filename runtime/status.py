"""`octoc status`: units per step and state, elapsed time, cost so far."""

from __future__ import annotations

import time
from pathlib import Path

from .rundir import open_plan, open_store
from .store import STATES, Store


def run_status(run_dir: Path) -> dict:
    plan = open_plan(run_dir)
    store = open_store(run_dir)
    try:
        units = store.unit_count()
        created = float(store.get("created", "0"))
        finished = store.get("finished")
        steps = []
        for step in plan.steps:
            if step["kind"] == "aggregate":
                groups = store.db.execute("SELECT count(*) FROM groups WHERE step = ?", (step["name"],)).fetchone()[0]
                steps.append({"name": step["name"], "kind": step["kind"],
                              "state": "done" if store.get(f"aggregated:{step['name']}") else "pending", "groups": groups})
                continue
            counts = store.counts(step["name"])
            steps.append({"name": step["name"], "kind": step["kind"], "units": units, **counts,
                          "pending": units - sum(counts.values())})
        failed_units = store.db.execute(
            "SELECT count(DISTINCT unit) FROM results WHERE state = 'failed'").fetchone()[0]
        return {
            "run": str(run_dir), "pipeline": plan.data["pipeline"]["name"], "state": store.get("state"),
            "units": units, "failed_units": failed_units,
            "elapsed_s": round((float(finished) if finished else time.time()) - created, 3),
            "cost_usd": 0.0, "steps": steps,
        }
    finally:
        store.close()


def render_status(data: dict) -> str:
    lines = [f"{data['pipeline']}: {data['state']} — {data['units']:,} units, {data['failed_units']:,} failed, "
             f"{data['elapsed_s']:.1f}s, ${data['cost_usd']:.2f} spent", ""]
    for s in data["steps"]:
        if s["kind"] == "aggregate":
            lines.append(f"  {s['name']:<16} {s['state']} ({s['groups']} groups)")
        else:
            parts = [f"{s[k]:,} {k}" for k in (*STATES, "pending") if s[k] or k in ("done", "pending")]
            lines.append(f"  {s['name']:<16} " + ", ".join(parts))
    return "\n".join(lines) + "\n"
