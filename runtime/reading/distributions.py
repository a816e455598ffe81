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
Z95 = 1.96  # as `wilson()`'s default (stdlib/reduction_impls.py), so both give one interval
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
        fields = [(f, k) for f, t in (step.get("output") or {}).items() if (k := kind_of(str(t))) is not None]
        if not fields:
            continue
        done = store.db.execute("SELECT count(*) FROM results WHERE step = ? AND state = 'done'",
                                (step["name"],)).fetchone()[0]
        together = _value_counts(store, step["name"], fields, DISTINCT)  # one pass over the step for all its fields
        for i, (field, kind) in enumerate(fields):
            counts = (_column(together, i) if together is not None  # an enum's or a bool's values are few: no limit
                      else _value_counts(store, step["name"], [(field, kind)], DISTINCT if kind in NUMBERS else None))
            if kind in NUMBERS:
                drawn = (_numeric_counts(counts, done) if counts is not None
                         else _numeric(store, step["name"], value_sql(field, kind)))
            else:
                drawn = _categories(counts, done)
            out.append({"step": step["name"], "output": field, "kind": kind, **drawn})
    return out


NUMBERS = ("number", "integer")
DISTINCT = 5000  # distinct combinations of values read in one pass at most; past it, a field is read by itself


def _value_counts(store: Store, step: str, fields: list[tuple[str, str]], most: int | None) -> list[tuple] | None:
    """Each distinct combination of the fields' values among the step's done results with its count (a GROUP BY,
    the store's one pass), or None when there are more than ``most`` of them (floats, many fields)."""
    values = ", ".join(f"{value_sql(f, k)} AS v{i}" for i, (f, k) in enumerate(fields))
    group = ", ".join(f"v{i}" for i in range(len(fields)))
    rows = store.db.execute(f"SELECT {group}, count(*) FROM (SELECT {values} FROM results WHERE step = ? AND "
                            f"state = 'done') GROUP BY {group}" + (f" LIMIT {most + 1}" if most else ""), (step,)).fetchall()
    return rows if most is None or len(rows) <= most else None


def _column(rows: list[tuple], i: int) -> list[tuple]:
    """(value, count) of the i-th field, from counts of combinations."""
    counts: dict = {}
    for row in rows:
        counts[row[i]] = counts.get(row[i], 0) + row[-1]
    return list(counts.items())


def _path(field: str) -> str:
    return '$."' + field.replace('"', '""') + '"'


def value_sql(field: str, kind: str) -> str:
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


def _numeric_counts(counts: list[tuple], done: int) -> dict:
    """A numeric field's summary and bins from its (value, count) pairs."""
    pairs = [(v, c) for v, c in counts if v is not None]
    n = sum(c for _, c in pairs)
    if not n:
        return {"units": 0, "missing": done, "min": None, "max": None, "mean": None, "bins": []}
    low, high = min(v for v, _ in pairs), max(v for v, _ in pairs)
    summary = {"units": n, "missing": done - n, "min": low, "max": high, "mean": sum(v * c for v, c in pairs) / n}
    if high == low:
        return {**summary, "bins": [{"low": low, "high": high, "count": n}]}
    start, width, count = _binning(low, high, all(float(v).is_integer() for v, _ in pairs))
    bins = [0] * count
    for v, c in pairs:
        bins[min(count - 1, max(0, int((v - start) / width)))] += c
    return {**summary, "bins": _bins(start, width, bins)}


def _binning(low: float, high: float, integral: bool) -> tuple[float, float, int]:
    """(start, width, count) of the bins: whole numbers in bins of whole widths centred on them (one each over a
    small range), anything else in BINS equal bins."""
    if integral:
        width = max(1, math.ceil((high - low + 1) / BINS))
        return low - 0.5, float(width), math.ceil((high - low + 1) / width)
    return low, (high - low) / BINS, BINS


def _bins(start: float, width: float, counts: list[int]) -> list[dict]:
    return [{"low": start + i * width, "high": start + (i + 1) * width, "count": c} for i, c in enumerate(counts)]


def _numeric(store: Store, step: str, value: str) -> dict:
    """A numeric field of many distinct values: its summary in one pass, its bins in a second (SQL)."""
    rows = f"(SELECT {value} AS v FROM results WHERE step = ? AND state = 'done')"
    done, n, low, high, mean, fractional = store.db.execute(
        f"SELECT count(*), count(v), min(v), max(v), avg(v), coalesce(sum(v != CAST(v AS INTEGER)), 0) FROM {rows}",
        (step,)).fetchone()
    summary = {"units": n, "missing": done - n, "min": low, "max": high, "mean": mean}
    if not n or not (math.isfinite(low) and math.isfinite(high)):
        return {**summary, "bins": []}
    if high == low:
        return {**summary, "bins": [{"low": low, "high": high, "count": n}]}
    start, width, count = _binning(low, high, fractional == 0)
    counts = [0] * count
    for b, c in store.db.execute(f"SELECT CAST((v - ?) / ? AS INTEGER), count(*) FROM {rows} WHERE v IS NOT NULL "
                                 f"GROUP BY 1", (start, width, step)):
        counts[min(count - 1, max(0, b))] += c
    return {**summary, "bins": _bins(start, width, counts)}


def _categories(counts: list[tuple], done: int) -> dict:
    values = sorted(((str(v), c) for v, c in counts if v is not None), key=lambda vc: (-vc[1], vc[0]))
    n = sum(c for _, c in values)
    return {"units": n, "missing": done - n, "values": [{"value": v, "count": c} for v, c in values[:CATEGORIES]],
            "others": sum(c for _, c in values[CATEGORIES:])}


# --- intervals of metrics ----------------------------------------------------------------------

def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a share of ``n`` trials (docs/design.md: why Wilson, not p ± z·se)."""
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def metric_intervals(step: dict, groups: list[dict], moments: dict | None = None) -> dict[str, list]:
    """metric → per group ``{"estimate", "low", "high", "method"}`` or None, for the metrics that have one.
    ``moments``: (step, output) → group label → ``{"n", "mean", "sd"}`` of outputs read per group
    (runtime/reading/groupdists.py), for a normal interval of ``mean(step.output)``."""
    from .groupdists import group_label

    shares = {name for name, record in step["config"]["metrics"] if _is_share(record.get("ast") or {})}
    means = {name: read for name, record in step["config"]["metrics"]
             if (read := _mean_of_output(record.get("ast") or {})) in (moments or {})}
    out: dict[str, list] = {}
    for name, _ in step["config"]["metrics"]:
        if name in means:
            per = moments[means[name]]
            row = [_normal(g["metrics"].get(name), per.get(group_label(g["by"]))) for g in groups]
        else:
            row = [_interval(g["metrics"].get(name), g["units"], name in shares) for g in groups]
        if any(r is not None for r in row):
            out[name] = row
    return out


def _mean_of_output(node: dict) -> tuple[str, str] | None:
    """(step, output) of ``mean(step.output)``."""
    if node.get("node") != "Call" or node.get("func") != "mean" or len(node.get("args") or ()) != 1:
        return None
    arg = node["args"][0]
    if arg.get("node") == "Attribute" and (arg.get("obj") or {}).get("node") == "Name":
        return arg["obj"]["id"], arg["attr"]
    return None


def _normal(value, m: dict | None) -> dict | None:
    """mean ± z·sd/√n, when the store's mean of the group's values is the metric (else the aggregate read other
    units than the store's group holds, and the interval would be of something else)."""
    if not (_finite(value) and m and m["sd"] is not None and _finite(m["mean"])):
        return None
    if abs(m["mean"] - value) > 1e-9 * max(1.0, abs(value)):
        return None
    half = Z95 * m["sd"] / math.sqrt(m["n"])
    return {"estimate": value, "low": value - half, "high": value + half, "method": "normal 95%"}


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
