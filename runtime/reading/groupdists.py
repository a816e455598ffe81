"""Distributions per group of an aggregate, for the HTML report (docs/run.md, "octoc report --html").

A unit is in the group the aggregate put it in: the aggregate's own runner (stdlib/aggregate_run.py,
``AggregateRunner.group_of``) gives each unit's group, the units streamed as the engine streams them into
the aggregate (runtime/work/unitwork.py ``stream_units``: only units whose upstream steps succeeded, only
those whose `when` holds, a fan-out's children for an aggregate over them). So any `by` works — table
fields, a step's output, `data`, an expression of them — with or without `when`. A unit whose `by` or
`when` raises is in no group (as the aggregate leaves it out); it is counted under ``left_out``.

One pass over the aggregate's units for all the outputs its metrics read (``walk.steps`` in
``mean(walk.steps)``): per group, counts per bin (on the edges of the run-wide histogram, so that groups
compare) or per value, and a numeric output's count, mean and spread (Welford's) for the normal interval.
Nothing per unit is kept: at most ``MOST_TRACKED`` groups, each a few counters.
"""

from __future__ import annotations

import math

from .distributions import NUMBERS, kind_of
from ..base.store import Store
from ..work.scopes import Scopes
from ..work.unitwork import stream_units
from ..work.units import data_env, unit_space

CHUNK = 2_000        # units read from the store at a time (as the engine streams an aggregate)
MOST_GROUPS = 8      # groups drawn at most per output
MOST_TRACKED = 1_000  # groups counted at most per aggregate; past it, the aggregate gets no per-group drawing


def group_distributions(store: Store, plan, scopes: Scopes, distributions: list[dict]) -> list[dict]:
    """``[{"aggregate", "step", "output", "kind", "groups": [{"group", "units", "bins" | "values"}],
    "left_out", "moments": {group: {"n", "mean", "sd"}}}]`` (moments of a numeric output: its normal interval)."""
    from octo.stdlib import default_language
    from octo.stdlib.execution import compiled

    language = default_language()
    overall = {(d["step"], d["output"]): d for d in distributions}
    steps = {s["name"]: s for s in plan.steps}
    space, data = unit_space(plan), data_env(plan)
    out = []
    for agg in (s for s in plan.steps if s["kind"] == "aggregate"):
        if store.get(f"aggregated:{agg['name']}") is None:
            continue  # not computed: its upstream steps may have units still to run
        read = [(st, o, overall[(st, o)]) for st, o in _outputs_read(agg, steps)
                if st in agg["depends_on"] and (overall.get((st, o)) or {}).get("units")]
        if not read:
            continue
        runner = language.kinds[agg["kind"]].runner(agg["config"], language.functions)
        counter = _GroupCounter(runner, read)
        when, scope, start = compiled(agg["when"], language.functions), scopes.scope[agg["name"]], 0
        try:
            while counter.tracked and (units := scopes.unit_chunk(store, scope, start, CHUNK)):
                upstream = scopes.upstream(store, scope, agg["depends_on"], [pos for pos, _, _ in units])
                stream_units(counter, when, units, upstream, space, data)  # as the engine streams the aggregate
                start = units[-1][0] + 1
        except KeyError:
            continue  # an upstream result missing under a computed aggregate (a store being fixed): no drawing per group
        if counter.tracked:
            out += counter.drawn(agg["name"])
    return out


class _GroupCounter:
    """Stands in for the aggregate's runner where units are streamed (``stream_units``): each unit goes to the
    group the runner's `by` gives it, and the outputs read are counted there."""

    def __init__(self, runner, read: list[tuple[str, str, dict]]):
        from octo.compiler.expressions.codegen import EvalError

        self.runner, self.read, self._error, self._group_of = runner, read, EvalError, runner.group_of
        self.groups: dict[str, dict] = {}  # key → {"by", "n", "counts": [per output: bucket → n], "moments", "feeds"}
        self.left_out = 0
        self.tracked = True
        self._buckets = [(step, output, _bucketer(d), d["kind"] in NUMBERS) for step, output, d in read]

    def reads(self, name: str) -> bool:
        return self.runner.reads(name)

    def leave_out(self, what: str, err, unit_id: str) -> None:  # a unit whose `when` raised
        self.left_out += 1

    def add(self, env: dict, unit=None) -> None:
        try:
            key_values, key = self._group_of(env)
        except self._error:
            self.left_out += 1  # as the aggregate: in no group
            return
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MOST_TRACKED:
                self.tracked = False
                return
            group = self._new_group(key, key_values)
        group["n"] += 1
        for step, output, bucket_of, counts, moments in group["feeds"]:
            out = env.get(step)
            value = out.get(output) if out.__class__ is dict else None
            bucket = bucket_of(value)
            if bucket is not None:
                counts[bucket] = counts.get(bucket, 0) + 1
                if moments is not None:
                    _welford(moments, value)

    def _new_group(self, key: str, key_values: list) -> dict:
        counts = [{} for _ in self.read]
        moments = [[0, 0.0, 0.0] for _ in self.read]
        # per output read: where its value is, how it is bucketed, and where it is counted
        feeds = [(step, output, bucket_of, c, m if numeric else None)
                 for (step, output, bucket_of, numeric), c, m in zip(self._buckets, counts, moments)]
        group = self.groups[key] = {"by": dict(key_values), "n": 0, "counts": counts, "moments": moments,
                                    "feeds": feeds}
        return group

    def drawn(self, aggregate: str) -> list[dict]:
        """Per output read: its groups in the aggregate's order (by key), the first ``MOST_GROUPS`` drawn."""
        order = sorted(self.groups)
        out = []
        for i, (step, output, overall) in enumerate(self.read):
            numeric = overall["kind"] in NUMBERS
            groups = [_group(group_label(self.groups[k]["by"]), self.groups[k]["n"], self.groups[k]["counts"][i], overall)
                      for k in order[:MOST_GROUPS]]
            moments = ({group_label(self.groups[k]["by"]): _moments(*self.groups[k]["moments"][i]) for k in order}
                       if numeric else {})
            out.append({"aggregate": aggregate, "step": step, "output": output, "kind": overall["kind"],
                        "groups": groups if len(groups) > 1 else [], "left_out": self.left_out, "moments": moments})
        return out


def _bucketer(overall: dict):
    """value → its bin's index (a finite number), its shown value (a bool or an enum's text), or None."""
    if overall["kind"] in NUMBERS:
        bins = overall.get("bins") or []
        if not bins:
            return lambda v: None
        start, width, last = bins[0]["low"], (bins[0]["high"] - bins[0]["low"]) or 1.0, len(bins) - 1

        def bin_of(v):
            kind = v.__class__
            if kind is not int and kind is not float or v - v != 0:  # not a number (a bool, None), NaN, ±inf
                return None
            return min(last, max(0, int((v - start) / width)))
        return bin_of
    if overall["kind"] == "bool":
        return lambda v: ("true" if v else "false") if isinstance(v, bool) else None
    return lambda v: v if isinstance(v, str) else None


def _welford(m: list, value) -> None:
    """One more value into [n, mean, sum of squared deviations] (Welford's: no cancellation at large means)."""
    m[0] += 1
    delta = value - m[1]
    m[1] += delta / m[0]
    m[2] += delta * (value - m[1])


def _group(label: str, units: int, counts: dict, overall: dict) -> dict:
    """A group's drawing: ``units`` the group's (as the aggregate counts them), ``missing`` those of them
    with no value of the kind there."""
    missing = units - sum(counts.values())
    if overall["kind"] in NUMBERS:
        bins = overall["bins"]
        drawn = [counts.get(i, 0) for i in range(len(bins))]
        return {"group": label, "units": units, "missing": missing, "bins": [{**b, "count": n} for b, n in zip(bins, drawn)]}
    values = sorted(counts.items(), key=lambda vn: (-vn[1], vn[0]))
    return {"group": label, "units": units, "missing": missing, "values": [{"value": v, "count": n} for v, n in values]}


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


def _moments(n: int, mean: float, squares: float) -> dict:
    if n < 2:
        return {"n": n, "mean": mean if n else None, "sd": None}
    return {"n": n, "mean": mean, "sd": math.sqrt(squares / (n - 1))}
