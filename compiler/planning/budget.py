"""The budget verdict: expected cost over `budget.max_usd` is an error, worst case a warning."""

from __future__ import annotations

from ..base.diagnostics import Reporter
from ..base.yamlnodes import YMap
from ..frontend.program import Program


def budget_verdict(program: Program, plan: dict, reporter: Reporter) -> dict:
    totals = plan["totals"]
    planned = totals["as_planned"]
    for name in totals["unknown_cost_steps"]:
        step = program.steps[name]
        record = next(s for s in plan["steps"] if s["name"] == name)
        node = step.settings.get("model")
        for model in (m["model"] for m in record["per_model"] if not m["price_known"]):  # each model of the step
            part = "" if record["model_from"] is None else f" on the units that run '{model}'"
            reporter.report("W0503", node.span if node is not None else step.name_span,
                            f"the cost of step '{name}' is unknown{part}: no price for '{model}'",
                            hint="add the model to a prices file (octoc plan --prices FILE); totals leave it out")
    limit = program.budget_usd
    if limit is None:
        return {"verdict": "none"}
    budget = program.root.get("budget")
    span = budget.get("max_usd").span if isinstance(budget, YMap) and budget.get("max_usd") is not None else None
    if planned["expected"] > limit:
        reporter.report("E0501", span, f"expected cost ${planned['expected']:.2f} is over the budget of ${limit:.2f}",
                        hint="raise budget.max_usd, use batch mode or a cheaper model, or run fewer units (units.limit)")
        return {"verdict": "over"}
    if planned["worst"] > limit:
        reporter.report("W0502", span, f"worst-case cost ${planned['worst']:.2f} is over the budget of ${limit:.2f}",
                        hint="the run stops when it reaches the budget; retries are what could take it there")
        return {"verdict": "worst case over"}
    return {"verdict": "within"}
