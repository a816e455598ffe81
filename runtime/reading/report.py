"""`octoc results` and `octoc report`: what a run produced, per unit and per group.

Shapes (documented in docs/run.md):
- results, one JSON object per unit: ``{"unit", "state", "reason", "steps": {step: {"state", "output", "reason"}}}``
  (or, with ``--step S``, that step's ``{"unit", "state", "reason", **output}``), plus ``"synthetic": true``
  on every row of a run on the emulator;
- report: ``{"pipeline", "units", "synthetic", "cost_usd", "list_cost_usd", "states", "fanouts",
  "aggregates": [{"step", "computed", "unreached", "groups": [{"by", "units", "metrics",
  "expects": [{"text", "at", "passed", "values"}]}]}], "expectations": {"passed", "failed"},
  "failures": [{"step", "kind", "rule", "label", "units", "examples": [{"unit", "reason"}]}],
  "blocked": [{"step", "upstream", "units", "examples"}]}``. Failures are grouped by step, kind and
  rule (runtime/reading/failures.py); the Markdown form is runtime/reading/reportmd.py.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator

from .failures import failure_groups, failure_lines, unreached, upstream_step
from .lineage import result_rows
from ..rundirs.rundir import open_plan, open_store
from ..work.scopes import ROOT, Scopes, unit_states
from ..base.store import Store
from ..work.units import data_env, unit_space


def _scopes(plan) -> Scopes:
    from octo.stdlib import default_language

    return Scopes(plan, default_language())


def _per_unit_steps(plan) -> list[str]:
    return [s["name"] for s in plan.steps if s["kind"] != "aggregate"]


def unit_rows(run_dir: Path, step: str | None = None) -> Iterator[dict]:
    plan = open_plan(run_dir)
    store = open_store(run_dir, readonly=True)
    try:
        names = [step] if step else _per_unit_steps(plan)
        results = {n: {u: (s, o, r) for u, s, o, r in store.all_results(n)} for n in names}
        export = _export_columns(plan) if step is None else None
        space = unit_space(plan) if export else None
        data = data_env(plan) if export else None
        mark = {"synthetic": True} if json.loads(store.get("settings") or "{}").get("emulator") else {}
        models = {n: _models_used(store, n) for n in names if plan.step(n).get("model_from")}
        # a row per unit; with a fan-out, per leaf unit, each step read where it is stored for it (runtime/reading/lineage.py)
        for pos, idx, uid, where in result_rows(store, _scopes(plan), names, step):
            if export:
                steps = {n: dict(zip(("state", "output", "reason"), results[n].get(at, ("pending", None, None))))
                         for n, at in where.items()}
                env = {**dict.fromkeys(names), "unit": space.unit(idx, uid), "data": data,
                       **{n: s["output"] for n, s in steps.items()}}
                yield {"unit": uid, "state": _unit_state(steps), "reason": _first_reason(steps),
                       **{column: _safe(expr, env) for column, expr in export}, **mark}
                continue
            if step:
                state, output, reason = results[step].get(where[step], ("pending", None, None))
                keys = _ROW_KEYS + (("model",) if step in models else ())
                fields = {(f"{step}.{k}" if k in keys else k): v for k, v in (output or {}).items()}
                model = {"model": models[step].get(where[step])} if step in models else {}
                yield {"unit": uid, "state": state, "reason": reason, **model, **fields, **mark}
                continue
            steps = {n: dict(zip(("state", "output", "reason"), results[n].get(at, ("pending", None, None))))
                     for n, at in where.items()}
            for n in (m for m in models if m in where):  # which model answered, for a step that reads its model from the unit
                steps[n]["model"] = models[n].get(where[n])
            yield {"unit": uid, "state": _unit_state(steps), "reason": _first_reason(steps), "steps": steps, **mark}
    finally:
        store.close()


_ROW_KEYS = ("unit", "state", "reason", "synthetic")  # an output field of these names is prefixed by its step


def _models_used(store: Store, step: str) -> dict[int, str]:
    """unit → the `provider:model` of the step's last request for it, as sent (a step with a model per unit)."""
    try:
        rows = store.db.execute("SELECT unit, json_extract(request, '$.provider') || ':' || json_extract(request, '$.model') "
                                "FROM attempts WHERE step = ? ORDER BY id", (step,))
        return dict(rows.fetchall())
    except sqlite3.OperationalError:  # no provider step has run yet: there is no ledger
        return {}


def _export_columns(plan):
    """`export:` as (column, compiled expression) pairs, or None to export every step's outputs."""
    if not plan.data.get("export"):
        return None
    from octo.stdlib import default_language
    from octo.stdlib.execution import compiled

    functions = default_language().functions
    return [(column, compiled(record, functions)) for column, record in plan.data["export"]]


def _safe(expr, env):
    from octo.compiler.expressions.codegen import EvalError

    try:
        return expr.evaluate(env)
    except EvalError:
        return None  # the unit's own failure is reported under `reason`


def _unit_state(steps: dict) -> str:
    states = {s["state"] for s in steps.values()}
    if "failed" in states or "blocked" in states:
        return "failed"
    return "pending" if "pending" in states else "done"


def _first_reason(steps: dict) -> str | None:
    return next((f"{n}: {s['reason']}" for n, s in steps.items() if s["state"] == "failed"), None)


def _in_scope(plan, scopes: Scopes, scope: str) -> list[str]:
    """The per-unit steps that run over the units of ``scope``."""
    return [n for n in _per_unit_steps(plan) if scopes.scope[n] == scope]


def _fanout(store: Store, plan, scopes: Scopes, name: str) -> dict:
    """A fan-out in the report: its units by state (a parent skipped or failed has no children), its children
    and their states over the steps that run over them."""
    parents = scopes.counts(store, name)
    parents["pending"] = scopes.unit_total(store, scopes.scope[name]) - sum(parents.values())
    return {"step": name, "units": parents, "children": scopes.unit_total(store, name),
            "states": unit_states(store, scopes, name, _in_scope(plan, scopes, name))}


def report(run_dir: Path, detail: bool = False) -> dict:
    """The report's data; with ``detail`` also what the HTML report draws (runtime/reading/runfacts.py,
    runtime/reading/distributions.py): a few more SQL queries, none per unit."""
    plan = open_plan(run_dir)
    store = open_store(run_dir, readonly=True)
    try:
        scopes = _scopes(plan)
        states = unit_states(store, scopes, ROOT, _in_scope(plan, scopes, ROOT))  # counted in SQL: no output is decoded
        aggregates = []
        for step in (s for s in plan.steps if s["kind"] == "aggregate"):
            groups = []
            for key, units, metrics in store.db.execute(
                    "SELECT key, units, metrics FROM groups WHERE step = ? ORDER BY key", (step["name"],)):
                data = json.loads(metrics)
                expects = [{"text": t, "at": at, "passed": bool(p), "values": json.loads(d)} for t, at, p, d in store.db.execute(
                    "SELECT text, at, passed, detail FROM expects WHERE step = ? AND key = ? ORDER BY n", (step["name"], key))]
                for e in expects:
                    if "error" in e["values"]:
                        e["error"] = e["values"].pop("error")
                groups.append({"by": data["by"], "units": units, "metrics": data["metrics"], "expects": expects,
                               "errors": data.get("errors", [])})
            computed = store.get(f"aggregated:{step['name']}") is not None
            aggregates.append({"step": step["name"], "groups": groups, "computed": computed,
                               "unreached": None if groups or not computed else unreached(store, plan, scopes, step)})
        verdicts = [e["passed"] for a in aggregates for g in a["groups"] for e in g["expects"]]
        failures = failure_groups(store, plan)
        blocked = failure_groups(store, plan, "blocked")
        examples = sorted({pos for g in failures + blocked for pos, _ in g.examples})
        ids = {pos: uid for pos, _, uid in store.units(examples)} if examples else {}
        from .status import spent

        cost, listed = spent(store)
        data = {
            "pipeline": plan.data["pipeline"]["name"], "units": scopes.unit_total(store, ROOT),
            "synthetic": bool(json.loads(store.get("settings") or "{}").get("emulator")),
            "cost_usd": round(cost, 6), "list_cost_usd": round(listed, 6),
            "states": {k: states.get(k, 0) for k in ("done", "failed", "pending")},
            "fanouts": [_fanout(store, plan, scopes, f) for f in (s["name"] for s in plan.steps) if f in scopes.fanouts],
            "aggregates": aggregates,
            "expectations": {"passed": sum(verdicts), "failed": len(verdicts) - sum(verdicts)},
            "failures": [{"step": g.step, "kind": g.failure.kind, "rule": g.failure.rule, "label": g.failure.label,
                          "units": g.units, "examples": [{"unit": ids[p], "reason": r} for p, r in g.examples]}
                         for g in failures],
            "blocked": [{"step": g.step, "upstream": upstream_step(g), "units": g.units,
                         "examples": [ids[p] for p, _ in g.examples]} for g in blocked],
        }
        return {**data, **_detail(run_dir, store, plan, scopes, aggregates)} if detail else data
    finally:
        store.close()


def _detail(run_dir: Path, store: Store, plan, scopes: Scopes, aggregates: list[dict]) -> dict:
    from . import distributions as dist, runfacts
    from .groupdists import group_distributions

    steps = {s["name"]: s for s in plan.steps}
    rows = runfacts.funnel(store, plan, scopes)
    drawn = dist.distributions(store, plan)
    moments: dict[str, dict] = {}
    for d in group_distributions(store, plan, scopes, drawn):
        moments.setdefault(d["aggregate"], {})[(d["step"], d["output"])] = d.pop("moments")
        if d["groups"]:
            next(a for a in aggregates if a["step"] == d["aggregate"]).setdefault("distributions", []).append(d)
    for agg in aggregates:
        agg["intervals"] = dist.metric_intervals(steps[agg["step"]], agg["groups"], moments.get(agg["step"]))
    return {"run": runfacts.run_header(run_dir, store, plan), "funnel": rows, "spending": runfacts.spending(store),
            "batches": runfacts.batch_latencies(store, plan), "tries": runfacts.tries_per_unit(store, plan),
            "distributions": drawn, "graph": runfacts.graph(plan, rows)}


def _show(v) -> str:
    if isinstance(v, dict) and {"estimate", "low", "high"} <= set(v):
        return f"{_show(v['estimate'])} [{_show(v['low'])}, {_show(v['high'])}]" if v["estimate"] is not None else "null"
    if isinstance(v, float):
        return f"{v:.4g}"
    return "null" if v is None else str(v)


def _fanout_line(f: dict) -> str:
    """``idea: 17 child units of 5 units — 15 done, 2 failed, 0 pending (1 unit failed: no children)``."""
    units, c = f["units"], f["states"]
    none = [f"{units[k]:,} {'unit' if units[k] == 1 else 'units'} {k}" for k in ("skipped", "failed", "blocked", "pending")
            if units[k]]
    return (f"{f['step']}: {f['children']:,} child units of {units['done']:,} units — {c['done']:,} done, "
            f"{c['failed']:,} failed, {c['pending']:,} pending" + (f" ({', '.join(none)}: no children)" if none else ""))


def render_report(data: dict) -> str:
    s = data["states"]
    lines = [f"{data['pipeline']}: {data['units']:,} units — {s['done']:,} done, {s['failed']:,} failed, {s['pending']:,} pending"]
    lines += [_fanout_line(f) for f in data.get("fanouts", [])]
    if data["synthetic"]:
        lines.append(f"synthetic: every model output came from the emulator (cost $0; ${data['list_cost_usd']:.4f} at list prices)")
    elif data["cost_usd"]:
        lines.append(f"cost: ${data['cost_usd']:.4f}")
    lines.append("")
    for agg in data["aggregates"]:
        lines.append(f"{agg['step']}:")
        if not agg["groups"]:
            lines.append(f"  {agg['unreached']['note']}" if agg.get("unreached") else "  (not computed yet)")
        for g in agg["groups"]:
            key = ", ".join(f"{k}={_show(v)}" for k, v in g["by"].items()) or "all units"
            lines.append(f"  {key}  ({g['units']:,} units)")
            for name, value in g["metrics"].items():
                lines.append(f"    {name:<16} {_show(value)}")
            for err in g.get("errors", []):
                lines.append(f"    ! {err['metric']}: {err['reason']}")
            for e in g["expects"]:
                values = ", ".join(f"{k} = {_show(v)}" for k, v in e["values"].items())
                detail = f"   ({e['error']})" if e.get("error") else (f"   ({values})" if values else "")
                lines.append(f"    {'✓' if e['passed'] else '✗'} expect {e['text']}" + detail)
        lines.append("")
    ex = data["expectations"]
    if ex["passed"] or ex["failed"]:
        lines.append(f"expectations: {ex['passed']} passed, {ex['failed']} failed")
    lines += failure_lines(data["failures"], data.get("blocked", []))
    return "\n".join(lines).rstrip() + "\n"
