"""A provider step's models in the plan: which model each unit runs on, and how many units each model gets.

A step's model is fixed (`model: openai:gpt-4.1-mini`) or read from the unit (`model: unit.contender.model`,
compiler/frontend/models.py). `--provider` maps every model the same way (`effective_model`). The units of the
estimation sample are split by the model they run on, so each model is costed on its own units and at its own price.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..frontend.kinds import expr_ir
from ..frontend.program import Step


@dataclass
class StepModels:
    model: str | None  # the one model every unit runs on; None when it is read from the unit
    model_from: dict | None  # the unit path, as an expression record
    model_map: dict[str, str]  # each value of the path → the model it runs on ({} for a fixed model)
    models: list[str]  # every model the step may use, in the order of the table's rows
    units: dict[str, list[dict]] = field(default_factory=dict)  # model → the sample units that run on it


def effective_model(ctx, model: str) -> str:
    """The model a step written with ``model`` runs on, under `--provider` (ctx.provider)."""
    target = ctx.provider
    if not target:
        return model
    if ":" in target:
        return target
    if target == "emulator":
        return f"emulator:{model.partition(':')[2] or model}"
    return ctx.prices.get("default_models", {}).get(target, f"{target}:{model.partition(':')[2]}")


def step_models(ctx, step: Step, units: list[dict]) -> StepModels:
    """The step's models, and the sample ``units`` (those that reach the step) split by model."""
    written = step.models or [step.model or ""]
    model_map = {value: effective_model(ctx, value) for value in written}
    models = list(dict.fromkeys(model_map.values()))
    if step.model_from is None or (ctx.provider and len(models) == 1):
        return StepModels(models[0], None, {}, models[:1], {models[0]: list(units)})  # every unit, one model
    by_model: dict[str, list[dict]] = {m: [] for m in models}
    evaluate = ctx.compile(step.model_from)
    for unit in units:
        try:
            model = model_map.get(evaluate({"unit": unit, "data": ctx.data_env}))
        except Exception:  # the checker enumerated the values; a unit without one fails at run time
            continue
        if model is not None:
            by_model[model].append(unit)
    return StepModels(None, expr_ir(step.model_from), model_map, models, by_model)


def split_count(total: int, sizes: list[int]) -> list[int]:
    """``total`` units shared in proportion to the sample ``sizes`` (largest remainders), summing to ``total``."""
    seen = sum(sizes)
    if seen == 0:
        return [0] * len(sizes)
    exact = [total * s / seen for s in sizes]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
