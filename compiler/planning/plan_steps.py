"""One row of the plan per step: its compiled config, units, requests, tokens, cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..base.diagnostics import Reporter
from ..base.yamlnodes import YScalar
from ..frontend.capabilities import expected_reasoning_tokens
from ..frontend.digraph import DiGraph
from ..frontend.fanouts import ScopeCount, merge_worst
from ..frontend.kinds import expr_ir, template_lines
from ..frontend.language import REQUEST_SETTINGS, Language
from ..frontend.loops import waits_for
from ..frontend.program import Program, Step
from .estimate import (DEFAULT_RETRIES, Tries, cost, judge_tries, output_tokens, price_of, prompt_tokens,
                       typical_value, validation_tries)
from .plan_models import split_count, step_models

PROMPT_SAMPLE = 12  # units whose prompts are rendered and counted, per step


@dataclass
class Reach:
    """Which of the estimation-sample units a step runs for."""

    runs: list[bool]
    exact: bool
    notes: list[str] = field(default_factory=list)

    def count(self, total: int) -> int:
        if not self.runs:
            return 0
        return round(total * sum(self.runs) / len(self.runs))


@dataclass
class PlanContext:
    program: Program
    language: Language
    reporter: Reporter
    compile: Callable  # expression → evaluate(env) callable
    prices: dict
    provider: str | None = None
    data_env: dict = field(default_factory=dict)


def step_ir(ctx: PlanContext, step: Step, base: ScopeCount, reach: dict[str, Reach], units: list[dict]) -> dict:
    """``base``: the units of the step's scope (the run's, or a fan-out's children: expected and at worst)."""
    kind = ctx.language.kinds[step.kind]
    r = reach[step.name]
    count = base.expected
    row = {
        "name": step.name, "kind": step.kind, "runs": kind.runs,
        "at": f"{step.name_span.path}:{step.name_span.line}:{step.name_span.column}",
        "depends_on": sorted(step.deps), "waits_for": waits_for(ctx.program, step.name), "when": expr_ir(step.when),
        "config": kind.plan_config(step),
        "output": {n: t.describe() for n, t in step.output.fields} if step.output else {},
        "validate": [{"rule": expr_ir(rule), "message": msg.value if msg is not None else None,
                      "message_lines": template_lines(msg) if msg is not None else None}
                     for rule, msg in step.validate],
        "scope": base.name,
        "units": {"count": r.count(count) if kind.per_unit else count, "exact": r.exact and base.exact,
                  "worst": r.count(base.worst) if kind.per_unit else base.worst},
        "notes": list(dict.fromkeys(r.notes)),
    }
    if step.unique_by is not None:  # the key only: the plan of a step without it keeps its shape
        row["unique_by"] = expr_ir(step.unique_by)
        row["units"]["exact"] = False
        row["notes"].append(f"deduplicated by `{step.unique_by.span.text()}`: duplicates are known only during "
                            "a run, so every unit is counted (an upper bound)")
    if kind.runs == "provider":
        reached = [u for u, run in zip(units, r.runs) if run]
        fields = _provider_fields(ctx, step, row, reached)
        if row["units"]["worst"] != row["units"]["count"]:  # in a fan-out: the worst case has more units
            shadow = {**row, "units": {**row["units"], "count": row["units"]["worst"]}, "notes": []}
            fields = merge_worst(fields, _provider_fields(ctx, step, shadow, reached))
        row.update(fields)
    return row


def _setting(step: Step, name: str, defaults: dict, fallback):
    node = step.settings.get(name)
    value = node.value if isinstance(node, YScalar) and node.value is not None else defaults.get(name, fallback)
    if isinstance(fallback, int) and isinstance(value, float) and value.is_integer():
        return int(value)  # `retries: 1.0` passes the schema (JSON Schema's integers include 1.0): a count is an int
    return value


def _provider_fields(ctx: PlanContext, step: Step, row: dict, units: list[dict]) -> dict:
    defaults = ctx.program.defaults
    mode = _setting(step, "mode", defaults, "batch")
    retries = _setting(step, "retries", {}, DEFAULT_RETRIES)
    cfg = row["config"]
    for key in REQUEST_SETTINGS:  # resolve `defaults` so the runtime needs nothing else
        if cfg.get(key) is None and defaults.get(key) is not None:
            cfg[key] = defaults[key]
    tries = _tries(ctx, step, retries)
    models = step_models(ctx, step, units)
    n = row["units"]["count"]
    counts = [n] if models.model is not None else split_count(n, [len(models.units[m]) for m in models.models])
    per_model = []
    for model, count in zip(models.models, counts):  # each model costed on its own units, at its own price
        price = price_of(model, ctx.prices)
        estimate, notes = _estimate(ctx, step, cfg, count, tries, models.units[model], price, model)
        row["notes"] += [note for note in dict.fromkeys(notes) if note not in row["notes"]]
        shares = {"count": count, "exact": row["units"]["exact"]}
        if "worst" in row["units"]:  # in a fan-out, estimated again with the worst count (compiler/frontend/fanouts.py)
            shares["worst"] = count
        per_model.append({"model": model, "units": shares, "price_known": price is not None, "estimate": estimate})
    return {"model": models.model, "model_from": models.model_from, "model_map": models.model_map,
            "models": models.models, "mode": mode, "retries": retries,
            "tries_per_unit": {"expected": round(tries.expected, 3), "worst": tries.worst},
            "estimate": per_model[0]["estimate"] if len(per_model) == 1 else _combined([m["estimate"] for m in per_model], n, tries),
            "price_known": all(m["price_known"] for m in per_model), "per_model": per_model}


def _estimate(ctx: PlanContext, step: Step, cfg: dict, n: int, tries: Tries, units: list[dict],
              price: dict | None, model: str = "") -> tuple[dict, list[str]]:
    """Requests, tokens and cost of ``n`` units at ``price``, prompts rendered for (a sample of) ``units``."""
    contexts = _prompt_contexts(ctx, step, units)
    prompt = prompt_tokens(cfg["prompt"]["text"] if cfg["prompt"] else "", (cfg.get("system") or {}).get("text"),
                           step.output_schema, contexts)
    out_expected, out_worst = output_tokens(step.output_schema, cfg.get("max_tokens"))
    reasoning = _reasoning_tokens(ctx, model, cfg)
    out_expected, out_worst = _with_reasoning(out_expected, out_worst, reasoning, cfg.get("max_tokens"))
    requests = Tries(n * tries.expected, n * tries.worst)
    discount = ctx.prices.get("batch_discount", 0.5)
    return {
        "requests": {"expected": round(requests.expected, 1), "worst": requests.worst},
        "tokens_per_request": {"input": prompt.mean, "output_expected": out_expected, "output_worst": out_worst,
                               "reasoning_expected": reasoning},
        "tokens": {"input_expected": round(requests.expected * prompt.mean), "output_expected": round(requests.expected * out_expected),
                   "input_worst": requests.worst * prompt.mean, "output_worst": requests.worst * out_worst},
        "cost_usd": {m: {"expected": _money(cost(requests.expected * prompt.mean, requests.expected * out_expected, price, d)),
                         "worst": _money(cost(requests.worst * prompt.mean, requests.worst * out_worst, price, d))}
                     for m, d in (("batch", discount), ("realtime", 1.0))},
        "prompt_sample": len(prompt.tokens),
    }, prompt.notes


def _reasoning_tokens(ctx: PlanContext, model: str, cfg: dict) -> int:
    """The reasoning tokens expected per answer of ``model`` (the capability table's estimate, for the step's
    `reasoning`): billed as output, so the plan counts them in each answer's output tokens."""
    table = ctx.language.capabilities
    if table is None or not model:
        return 0
    reasoning = cfg.get("reasoning") or {}
    return expected_reasoning_tokens(table.find(model), reasoning.get("effort"), reasoning.get("budget"))


def _with_reasoning(expected: int, worst: int, reasoning: int, max_tokens: int | None) -> tuple[int, int]:
    """(expected, worst) output tokens with reasoning: within ``max_tokens`` when the step sets it (reasoning
    counts toward it), else on top of the answer."""
    if not reasoning:
        return expected, worst
    if max_tokens:
        return min(expected + reasoning, max_tokens), worst
    return expected + reasoning, max(worst, expected + reasoning)


def _combined(estimates: list[dict], n: int, tries: Tries) -> dict:
    """A step's estimate over its models (``n`` units): their sums; a cost leaves out the models without a price."""
    worst = n * tries.worst
    tokens = {k: sum(e["tokens"][k] for e in estimates) for k in estimates[0]["tokens"]}
    per_request = dict(estimates[0]["tokens_per_request"])
    if worst:
        per_request["input"] = round(tokens["input_worst"] / worst)
    return {
        "requests": {"expected": round(n * tries.expected, 1), "worst": worst},
        "tokens_per_request": per_request, "tokens": tokens,
        "cost_usd": {m: {case: _known_sum([e["cost_usd"][m][case] for e in estimates]) for case in ("expected", "worst")}
                     for m in ("batch", "realtime")},
        "prompt_sample": sum(e["prompt_sample"] for e in estimates),
    }


def _known_sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _money(sum(known)) if known else None


def _money(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _tries(ctx: PlanContext, step: Step, retries: int) -> Tries:
    """Requests per unit: rounds of the loops the step is in (compiler/frontend/loops.py) × re-tries of invalid
    outputs."""
    return loop_rounds(ctx.program, step.name) * validation_tries(retries)


def loop_rounds(program: Program, name: str) -> Tries:
    """How many rounds ``name`` runs per unit: the product over the loops holding it (nested loops
    multiply) of the rounds of each, which lasts as long as its verdict with the most `attempts` allows."""
    rounds = Tries(1, 1)
    for loop in program.loops.containing(name) if program.loops is not None else ():
        rounds = rounds * judge_tries(max(program.steps[v].parsed.attempts for v in loop.verdicts))
    return rounds


def _prompt_contexts(ctx: PlanContext, step: Step, units: list[dict]) -> list[dict]:
    if not units:
        return []
    stride = max(1, len(units) // PROMPT_SAMPLE)
    chosen = units[::stride][:PROMPT_SAMPLE]
    upstream = {}
    for name, other in ctx.program.steps.items():
        if other.output is not None and name != step.name:
            provider = ctx.language.kinds[other.kind].runs == "provider"
            upstream[name] = typical_value(other.output, provider_output=provider)
    return [{**upstream, "unit": u, "data": ctx.data_env, "feedback": None} for u in chosen]


def graph_ir(program: Program, ctx: PlanContext) -> dict:
    g = dependency_graph(program)
    return {"nodes": list(g.nodes),
            "edges": [{"from": a, "to": b, **d} for a, b, d in g.edges(data=True)]}


def dependency_graph(program: Program) -> DiGraph:
    """Data edges (a feeds b), and each judge's bounded retry back-edge to the step it judges."""
    g = DiGraph()
    g.add_nodes_from(program.order)
    for name in program.order:
        for dep in sorted(program.steps[name].deps):
            g.add_edge(dep, name, kind="data")
    for judged, judges in program.judges.items():
        for judge in judges:
            attempts = program.steps[judge].parsed.attempts
            if attempts > 1:
                g.add_edge(judge, judged, kind="retry", max_reruns=attempts - 1)
    return g


def prices_used(ctx: PlanContext, steps: list[dict]) -> dict:
    models = sorted({m for s in steps for m in s.get("models", ())})
    return {"as_of": ctx.prices.get("as_of"), "currency": ctx.prices.get("currency", "USD"),
            "per": ctx.prices.get("per", "1M tokens"), "batch_discount": ctx.prices.get("batch_discount", 0.5),
            "models": {m: price_of(m, ctx.prices) for m in models}}


def totals(steps: list[dict]) -> dict:
    out = {}
    for mode in ("batch", "realtime"):
        for case in ("expected", "worst"):
            values = [s["estimate"]["cost_usd"][mode][case] for s in steps if "estimate" in s]
            known = [v for v in values if v is not None]
            out.setdefault(mode, {})[case] = round(sum(known), 6)
    provider = [s for s in steps if "estimate" in s]
    out["requests"] = {"expected": round(sum(s["estimate"]["requests"]["expected"] for s in provider), 1),
                       "worst": sum(s["estimate"]["requests"]["worst"] for s in provider)}
    out["unknown_cost_steps"] = [s["name"] for s in provider if not s["price_known"]]
    out["as_planned"] = {case: round(sum((s["estimate"]["cost_usd"][s["mode"]][case] or 0) for s in provider), 6)
                         for case in ("expected", "worst")}
    return out
