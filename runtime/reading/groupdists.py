"""Distributions per group of an aggregate, for the HTML report (docs/run.md, "octoc report --html").

Which group a unit is in is known only by evaluating the aggregate's `by` for it. When every `by` reads
nothing but the unit's table fields (``unit.scenario.id``, the common case), it depends only on the unit's
combination of table rows — ``idx % base`` in the unit space — so `by` is evaluated once per combination
(not per unit) and the store is read with one SQL pass per output: counts per (combination, bin or value),
summed into groups here. Outputs drawn are those the aggregate's metrics read (``walk.steps`` in
``mean(walk.steps)``), binned on the edges of the run-wide histogram so that groups compare. An aggregate
whose `by` reads a step's output or the replica, or a run with a fan-out, gets none.
"""

from __future__ import annotations

import math

from .distributions import NUMBERS, value_sql, kind_of
from ..base.store import Store
from ..work.units import data_env, unit_space

MOST_COMBINATIONS = 10_000  # `by` evaluated this many times at most
MOST_GROUPS = 8             # groups drawn at most per output


def group_distributions(store: Store, plan, scopes, distributions: list[dict]) -> list[dict]:
    """``[{"aggregate", "step", "output", "kind", "groups": [{"group", "units", "bins" | "values"}],
    "moments": {group: {"n", "mean", "sd"}}}]`` (moments of a numeric output: its normal interval)."""
    if scopes.active:
        return []
    fields = {t["field"] for t in plan.data["units"]["tables"]}
    overall = {(d["step"], d["output"]): d for d in distributions}
    steps = {s["name"]: s for s in plan.steps}
    out = []
    for agg in (s for s in plan.steps if s["kind"] == "aggregate"):
        by = agg["config"]["by"]
        if agg.get("when") is not None or not all(_reads_only_tables(rec.get("ast") or {}, fields) for _, rec in by):
            continue  # an aggregate's `when` leaves units out that the store's counts would have in
        groups = _combination_groups(plan, by)
        if groups is None:
            continue
        for step, output in _outputs_read(agg, steps):
            d = overall.get((step, output))
            if d is None or not d.get("units"):
                continue
            drawn, moments = _per_group(store, step, output, d, groups, unit_space(plan).base)
            out.append({"aggregate": agg["name"], "step": step, "output": output, "kind": d["kind"],
                        "groups": drawn if len(drawn) > 1 else [], "moments": moments})
    return out


def _reads_only_tables(node: dict, fields: set[str]) -> bool:
    """Whether an expression reads no name but ``unit.<table field>`` (and ``data``, and literals)."""
    if node.get("node") == "Name":
        return node.get("id") == "data"
    if node.get("node") == "Attribute" and (node.get("obj") or {}).get("node") == "Name":
        obj = node["obj"].get("id")
        return (obj == "unit" and node.get("attr") in fields) or obj == "data"
    children = [v for v in node.values() if isinstance(v, dict)]
    children += [x for v in node.values() if isinstance(v, list) for x in v if isinstance(x, dict)]
    return all(_reads_only_tables(c, fields) for c in children)


def _combination_groups(plan, by: list) -> dict[int, str] | None:
    """Combination of table rows → its group's label (``middle``; ``id=a, size=3``; ``all units`` without
    `by`), None when too many."""
    from octo.compiler.expressions.codegen import EvalError
    from octo.stdlib import default_language
    from octo.stdlib.execution import compiled

    space = unit_space(plan)
    if not 0 < space.base <= MOST_COMBINATIONS:
        return None
    functions = default_language().functions
    exprs = [(name, compiled(rec, functions)) for name, rec in by]
    data = data_env(plan)
    out = {}
    for c in range(space.base):
        env = {"unit": space.unit(c, ""), "data": data}
        try:
            values = [(name, expr.evaluate(env)) for name, expr in exprs]
        except EvalError:
            continue  # the aggregate leaves such units out of every group
        out[c] = group_label(dict(values))
    return out


def group_label(by: dict) -> str:
    """A group's label, as the report's `by` values are shown: ``middle``; ``id=a, size=3``; ``all units``."""
    from .report import _show

    if len(by) == 1:
        return _show(next(iter(by.values())))
    return ", ".join(f"{k}={_show(v)}" for k, v in by.items()) or "all units"


def _outputs_read(agg: dict, steps: dict) -> list[tuple[str, str]]:
    """(step, output) of every ``step.output`` a metric names, for a drawn output of a per-unit step."""
    found: list[tuple[str, str]] = []

    def walk(node):
        if node.get("node") == "Attribute" and (node.get("obj") or {}).get("node") == "Name":
            step, output = node["obj"].get("id"), node.get("attr")
            spec = steps.get(step)
            if spec and spec["kind"] != "aggregate" and kind_of(str((spec.get("output") or {}).get(output, ""))):
                if (step, output) not in found:
                    found.append((step, output))
        for v in node.values():
            for x in (v if isinstance(v, list) else [v]):
                if isinstance(x, dict):
                    walk(x)

    for _, rec in agg["config"]["metrics"]:
        walk(rec.get("ast") or {})
    return found


def _per_group(store: Store, step: str, output: str, overall: dict, groups: dict[int, str],
               base: int) -> tuple[list[dict], dict]:
    value = value_sql(output, overall["kind"])
    numeric = overall["kind"] in NUMBERS
    bins = overall.get("bins") or []
    if numeric and bins:
        start, width = bins[0]["low"], (bins[0]["high"] - bins[0]["low"]) or 1.0
        bucket, args = "CAST((v - ?) / ? AS INTEGER)", (start, width)
    else:
        bucket, args = "v", ()
    sums = ", total(v), total(CAST(v AS REAL) * v)" if numeric else ", 0, 0"  # total(): a float, never an overflow
    rows = store.db.execute(
        f"SELECT c, {bucket}, count(*){sums} FROM (SELECT u.idx % ? AS c, {value} AS v FROM results r JOIN units u "
        f"ON u.pos = r.unit WHERE r.step = ? AND r.state = 'done') WHERE v IS NOT NULL GROUP BY 1, 2",
        (*args, base, step))  # the placeholders in the order they are written: the bucket's, then the inner query's
    return _summed(rows, groups, numeric, bins)


def _summed(rows, groups: dict[int, str], numeric: bool, bins: list[dict]) -> tuple[list[dict], dict]:
    """Counts per (combination, bin or value) summed per group, groups in order of first combination; and
    per group of a numeric output its count, mean and standard deviation."""
    per: dict[str, dict] = {}
    sums: dict[str, list[float]] = {}
    for c in sorted(set(groups)):
        per.setdefault(groups[c], {})
        sums.setdefault(groups[c], [0, 0.0, 0.0])
    for c, bucket, n, total, squares in rows:
        if c in groups:
            counts = per[groups[c]]
            counts[bucket] = counts.get(bucket, 0) + n
            s = sums[groups[c]]
            s[0], s[1], s[2] = s[0] + n, s[1] + total, s[2] + squares
    out = []
    for label, counts in list(per.items())[:MOST_GROUPS]:
        units = sum(counts.values())
        if numeric:
            drawn = [0] * len(bins)
            for b, n in counts.items():
                drawn[min(len(bins) - 1, max(0, b))] += n
            out.append({"group": label, "units": units, "bins": [{**b, "count": n} for b, n in zip(bins, drawn)]})
        else:
            values = sorted(((str(v), n) for v, n in counts.items()), key=lambda vn: (-vn[1], vn[0]))
            out.append({"group": label, "units": units, "values": [{"value": v, "count": n} for v, n in values]})
    moments = {label: _moments(*s) for label, s in sums.items()} if numeric else {}
    return out, moments


def _moments(n: int, total: float, squares: float) -> dict:
    if n < 2:
        return {"n": n, "mean": total / n if n else None, "sd": None}
    mean = total / n
    var = max(0.0, (squares - n * mean * mean) / (n - 1))
    return {"n": n, "mean": mean, "sd": math.sqrt(var)}
