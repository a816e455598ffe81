"""What the HTML report adds to the report's data about per-unit outputs and metrics (docs/run.md).

- ``distributions``: per per-unit step, each numeric output (``int``, ``float``) as a histogram of at most
  ``BINS`` bins (integers of a small range one bin per value), each ``bool`` or enum output as counts per value;
  with how many done units had no finite number there (NaN, an infinity, null, another type);
- ``intervals``: per aggregate, group and metric, a 95% interval where one exists: the metric's own
  (``wilson(...)``), or Wilson's for a share (``mean`` or ``share`` of a condition) over the group's units.

Read with SQL aggregates (count, min, max, a GROUP BY per bin), never an output decoded in Python, so a
million units cost a few queries and the page holds bins, not units. SQLite's JSON functions refuse a
stored output holding NaN or an infinity (Python writes them, JSON has no form for them): such a unit is
counted as having no finite number, guarded by ``json_valid`` inside a CASE, which SQLite evaluates lazily.
"""

from __future__ import annotations

import math
import re

from ..base.store import Store

BINS = 24
CATEGORIES = 30  # values of an enum shown at most; the rest are counted together
Z95 = 1.96  # as `wilson()`'s default (stdlib/builtin_impls.py), so both give one interval
_ENUM = re.compile(r"^'[^']*'(?:\s*\|\s*'[^']*')*$")
_NUMERIC = re.compile(r"^(int|float)(\[.*\])?$")


def kind_of(type_text: str) -> str | None:
    """``number``, ``integer``, ``bool``, ``enum`` or None (not drawn) for an output's type as the plan writes it."""
    t = type_text.strip().removesuffix("?").strip()
    if m := _NUMERIC.match(t):
        return "integer" if m.group(1) == "int" else "number"
    if t == "bool":
        return "bool"
    return "enum" if _ENUM.match(t) else None


def distributions(store: Store, plan) -> list[dict]:
    out = []
    for step in plan.steps:
        if step["kind"] in ("aggregate", "fanout"):
            continue
        for field, type_text in (step.get("output") or {}).items():
            kind = kind_of(str(type_text))
            if kind is None:
                continue
            value = _value_sql(field, kind)
            if kind in ("number", "integer"):
                out.append({"step": step["name"], "output": field, "kind": kind, **_numeric(store, step["name"], value)})
            else:
                out.append({"step": step["name"], "output": field, "kind": kind, **_categories(store, step["name"], value)})
    return out


def _path(field: str) -> str:
    return '$."' + field.replace('"', '""') + '"'


def _value_sql(field: str, kind: str) -> str:
    """SQL for the field's value in a done result, NULL when it is none of the kind (or the output is unreadable)."""
    path = _path(field).replace("'", "''")
    if kind in ("number", "integer"):
        return (f"CASE WHEN json_valid(output) THEN CASE WHEN json_type(output, '{path}') IN ('integer', 'real') "
                f"THEN json_extract(output, '{path}') END END")
    if kind == "bool":
        return (f"CASE WHEN json_valid(output) THEN CASE json_type(output, '{path}') WHEN 'true' THEN 'true' "
                f"WHEN 'false' THEN 'false' END END")
    return (f"CASE WHEN json_valid(output) THEN CASE WHEN json_type(output, '{path}') = 'text' "
            f"THEN json_extract(output, '{path}') END END")


def _numeric(store: Store, step: str, value: str) -> dict:
    done, n, low, high, mean = store.db.execute(
        f"SELECT count(*), count(v), min(v), max(v), avg(v) FROM (SELECT {value} AS v FROM results "
        f"WHERE step = ? AND state = 'done')", (step,)).fetchone()
    summary = {"units": n, "missing": done - n, "min": low, "max": high, "mean": mean}
    if not n or not (math.isfinite(low) and math.isfinite(high)):
        return {**summary, "bins": []}
    integral = all(float(x).is_integer() for x in (low, high)) and high - low < BINS
    if high == low:
        return {**summary, "bins": [{"low": low, "high": high, "count": n}]}
    if integral and _all_integral(store, step, value):
        width, start, count = 1.0, low - 0.5, int(high - low) + 1
    else:
        width, start, count = (high - low) / BINS, low, BINS
    counts = [0] * count
    for b, c in store.db.execute(f"SELECT CAST((v - ?) / ? AS INTEGER), count(*) FROM (SELECT {value} AS v FROM "
                                 f"results WHERE step = ? AND state = 'done') WHERE v IS NOT NULL GROUP BY 1",
                                 (start, width, step)):
        counts[min(count - 1, max(0, b))] += c
    return {**summary, "bins": [{"low": start + i * width, "high": start + (i + 1) * width, "count": c}
                                for i, c in enumerate(counts)]}


def _all_integral(store: Store, step: str, value: str) -> bool:
    return store.db.execute(f"SELECT NOT EXISTS (SELECT 1 FROM (SELECT {value} AS v FROM results WHERE step = ? "
                            f"AND state = 'done') WHERE v IS NOT NULL AND v != CAST(v AS INTEGER))", (step,)).fetchone()[0] == 1


def _categories(store: Store, step: str, value: str) -> dict:
    rows = store.db.execute(f"SELECT v, count(*) FROM (SELECT {value} AS v FROM results WHERE step = ? AND "
                            f"state = 'done') GROUP BY v ORDER BY count(*) DESC, v", (step,)).fetchall()
    missing = sum(c for v, c in rows if v is None)
    values = [(str(v), c) for v, c in rows if v is not None]
    shown = values[:CATEGORIES]
    return {"units": sum(c for _, c in values), "missing": missing,
            "values": [{"value": v, "count": c} for v, c in shown],
            "others": sum(c for _, c in values[CATEGORIES:])}


# --- intervals of metrics ----------------------------------------------------------------------

def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a share of ``n`` trials (docs/design.md: why Wilson, not p ± z·se)."""
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def metric_intervals(step: dict, groups: list[dict]) -> dict[str, list]:
    """metric → per group ``{"estimate", "low", "high", "method"}`` or None, for the metrics that have one."""
    shares = {name for name, record in step["config"]["metrics"] if _is_share(record.get("ast") or {})}
    out: dict[str, list] = {}
    for name, _ in step["config"]["metrics"]:
        row = [_interval(g["metrics"].get(name), g["units"], name in shares) for g in groups]
        if any(r is not None for r in row):
            out[name] = row
    return out


def _interval(value, units: int, share: bool) -> dict | None:
    if isinstance(value, dict) and {"estimate", "low", "high"} <= set(value):
        if all(_finite(value[k]) for k in ("estimate", "low", "high")):
            return {"estimate": value["estimate"], "low": value["low"], "high": value["high"], "method": "its own"}
        return None
    if share and _finite(value) and 0 <= value <= 1 and units > 0:
        low, high = wilson_interval(value * units, units)
        return {"estimate": value, "low": low, "high": high, "method": "Wilson 95%"}
    return None


def _is_share(node: dict) -> bool:
    """``mean(COND)`` or ``share(COND)``: a condition's share over the group's units."""
    if node.get("node") != "Call" or len(node.get("args") or ()) != 1:
        return False
    if node.get("func") == "share":
        return True
    return node.get("func") == "mean" and _is_condition(node["args"][0])


def _is_condition(node: dict) -> bool:
    kind = node.get("node")
    if kind == "Compare":
        return True
    if kind == "BoolOp":
        return _is_condition(node.get("left") or {}) and _is_condition(node.get("right") or {})
    return kind == "Unary" and node.get("op") == "not"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
