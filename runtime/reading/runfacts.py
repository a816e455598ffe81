"""What the HTML report adds to the report's data about the run itself (docs/run.md, "octoc report --html").

- ``run``: seed, state, elapsed seconds, description;
- ``funnel``: per per-unit step in plan (DAG) order, the units it runs over and how they left it (done, failed,
  skipped, blocked, pending) and how many were retried (a provider request sent again, or a loop's rerun);
- ``spending``: per step, provider and model, requests, cost, list cost and tokens (uncached input, cached
  input, output, reasoning);
- ``batches``: per provider step, each ended batch's latency (submitted → ingested) in seconds, binned;
- ``tries``: per provider step, units by how many requests they took;
- ``graph``: the plan's DAG (steps, data and retry edges, loops), each step with its layer (its longest path
  from a step that reads no other).

Every count is one SQL query over the store (no output is decoded), so a run of a million units reads in
seconds; nothing here is per unit, so the rendered page stays small.
"""

from __future__ import annotations

from pathlib import Path

from ..base.store import STATES, Store
from ..rundirs.liveness import run_state
from ..work.scopes import Scopes

BINS = 20  # a latency histogram's bins at most


def run_header(run_dir: Path, store: Store, plan) -> dict:
    live = run_state(run_dir, store)
    created = float(store.get("created", "0"))
    pipeline = plan.data["pipeline"]
    return {"seed": pipeline.get("seed"), "description": pipeline.get("description"), "state": live["state"],
            "elapsed_s": round(max(0.0, live["active_until"] - created), 3) if created else 0.0}


def funnel(store: Store, plan, scopes: Scopes) -> list[dict]:
    rows = []
    for step in plan.steps:
        if step["kind"] == "aggregate":
            continue
        name = step["name"]
        counts = scopes.counts(store, name)
        total = scopes.unit_total(store, scopes.scope[name])
        rows.append({"step": name, "kind": step["kind"], "runs": step["runs"], "units": total,
                     **{k: counts.get(k, 0) for k in STATES}, "pending": max(0, total - sum(counts.values())),
                     "retried": _retried(store, name)})
    return rows


def _retried(store: Store, step: str) -> int:
    parts, args = [], []
    if store.has_table("attempts"):
        parts.append("SELECT unit FROM attempts WHERE step = ? AND (try > 1 OR round > 1)")
        args.append(step)
    if store.has_table("reruns"):
        parts.append("SELECT unit FROM reruns WHERE step = ?")
        args.append(step)
    if not parts:
        return 0
    return store.db.execute(f"SELECT count(DISTINCT unit) FROM ({' UNION '.join(parts)})", args).fetchone()[0]


def spending(store: Store) -> list[dict]:
    if not store.has_table("attempts"):
        return []
    rows = store.db.execute(
        "SELECT step, json_extract(request, '$.provider'), json_extract(request, '$.model'), count(*), "
        "coalesce(sum(cost), 0), coalesce(sum(list_cost), 0), coalesce(sum(json_extract(usage, '$.input')), 0), "
        "coalesce(sum(json_extract(usage, '$.cached_input')), 0), coalesce(sum(json_extract(usage, '$.output')), 0), "
        "coalesce(sum(json_extract(usage, '$.reasoning')), 0) FROM attempts WHERE state != 'queued' "
        "GROUP BY 1, 2, 3 ORDER BY min(id)")
    return [{"step": step, "provider": provider, "model": model, "requests": n, "cost_usd": round(cost, 6),
             "list_cost_usd": round(listed, 6),
             "tokens": {"uncached": int(inp - cached), "cached": int(cached), "output": int(out),
                        "reasoning": int(reasoning)}}
            for step, provider, model, n, cost, listed, inp, cached, out, reasoning in rows]


def batch_latencies(store: Store, plan) -> list[dict]:
    """Per provider step: ``{"step", "batches", "open", "seconds": {"min", "median", "max"}, "bins"}``."""
    if not store.has_table("batches"):
        return []
    times: dict[str, dict[str, float]] = {}
    for kind, at, key in store.db.execute(
            "SELECT kind, at, json_extract(detail, '$.batch') FROM events WHERE kind IN ('submitted', 'ingested') "
            "ORDER BY seq"):
        times.setdefault(key, {}).setdefault(kind, at)  # the first submission and the first ingestion
    out = []
    for step in (s["name"] for s in plan.steps if s["runs"] == "provider"):
        keys = [k for (k,) in store.db.execute("SELECT key FROM batches WHERE step = ? ORDER BY created", (step,))]
        seconds = sorted(t["ingested"] - t["submitted"] for t in (times.get(k, {}) for k in keys)
                         if "submitted" in t and "ingested" in t)
        out.append({"step": step, "batches": len(keys), "ended": len(seconds),
                    "seconds": ({"min": round(seconds[0], 3), "median": round(seconds[len(seconds) // 2], 3),
                                 "max": round(seconds[-1], 3)} if seconds else None),
                    "bins": binned(seconds)})
    return out


def binned(values: list[float], bins: int = BINS) -> list[dict]:
    """Sorted values in at most ``bins`` equal bins: ``[{"low", "high", "count"}]`` (one bin when all are equal)."""
    if not values:
        return []
    low, high = values[0], values[-1]
    bins = min(bins, len(values))
    if high <= low:
        return [{"low": low, "high": high, "count": len(values)}]
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return [{"low": low + i * width, "high": low + (i + 1) * width, "count": c} for i, c in enumerate(counts)]


def tries_per_unit(store: Store, plan) -> list[dict]:
    """Per provider step: ``{"step", "units": {tries: units}}`` (a judge's loop reruns counted as tries too)."""
    if not store.has_table("attempts"):
        return []
    out = []
    for step in (s["name"] for s in plan.steps if s["runs"] == "provider"):
        rows = store.db.execute("SELECT n, count(*) FROM (SELECT count(*) AS n FROM attempts WHERE step = ? "
                                "AND state != 'queued' GROUP BY unit) GROUP BY n ORDER BY n", (step,))
        out.append({"step": step, "units": {str(n): units for n, units in rows}})
    return out


def graph(plan, funnel_rows: list[dict]) -> dict:
    """The DAG with each step's layer and counts: ``{"steps": [{"step", "kind", "layer", "counts"}], "edges",
    "loops"}``. The layer is the longest chain of data edges above a step (retry edges point back)."""
    g = plan.data.get("graph") or {"nodes": [s["name"] for s in plan.steps], "edges": []}
    data_edges = [(e["from"], e["to"]) for e in g["edges"] if e.get("kind", "data") != "retry"]
    layer: dict[str, int] = {}
    for name in _topological(g["nodes"], data_edges):
        layer[name] = 1 + max((layer[a] for a, b in data_edges if b == name), default=-1)
    kinds = {s["name"]: s["kind"] for s in plan.steps}
    counts = {r["step"]: {k: r[k] for k in ("done", "failed", "skipped", "blocked", "pending")} for r in funnel_rows}
    return {"steps": [{"step": n, "kind": kinds.get(n, ""), "layer": layer[n], "counts": counts.get(n)}
                      for n in g["nodes"]],
            "edges": [{"from": e["from"], "to": e["to"], "kind": e.get("kind", "data")} for e in g["edges"]],
            "loops": [{"verdict": lp["verdict"], "of": lp["of"], "body": lp["body"], "attempts": lp.get("attempts")}
                      for lp in plan.data.get("loops") or ()]}


def _topological(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Kahn's order, ties in the plan's order (a cycle's rest appended in that order: the plan has none)."""
    indegree = {n: 0 for n in nodes}
    for _, b in edges:
        indegree[b] = indegree.get(b, 0) + 1
    order, ready = [], [n for n in nodes if indegree[n] == 0]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for a, b in edges:
            if a == n:
                indegree[b] -= 1
                if indegree[b] == 0:
                    ready.append(b)
    return order + [n for n in nodes if n not in order]
