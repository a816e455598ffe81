"""`unique_by: EXPR` on a per-unit step: the first unit (in unit order) with a given key runs, later ones are skipped.

Here the setting is parsed and checked; the run keeps the keys it has seen (runtime/work/dedup.py). The key is any
value that can be stored, drawn from no random stream (a duplicate must be one whatever the seed's streams), on a
step that runs per unit (E0313) outside a loop (E0314: a unit sent back would be judged against its own old key).
"""

from __future__ import annotations

from ..expressions.ast import free_names
from .kinds import StepContext
from .program import Program, Step


def parse_unique_by(step: Step, ctx: StepContext) -> None:
    step.unique_by = ctx.expr(step.settings.get("unique_by"), "`unique_by`")


def check_unique_by(step: Step, program: Program, ctx: StepContext) -> None:
    if step.unique_by is None:
        return
    kind = ctx.language.kinds[step.kind]
    key = step.setting_keys["unique_by"]
    if not kind.per_unit or kind.expands:
        what = "reduces groups of units" if not kind.per_unit else "makes child units"
        article = "an" if kind.name[0] in "aeiou" else "a"
        ctx.reporter.report("E0313", key.span, f"{article} {kind.name} step {what}: it has no units of its own to skip",
                            label="not a per-unit step",
                            hint="put `unique_by` on the first per-unit step that should see each key once")
        return
    loops = program.loops.containing(step.name) if program.loops is not None else []
    loops = [loop for loop in loops if _sends_back(program, loop)]  # `attempts: 1` never runs a unit again
    if loops:
        ctx.reporter.report("E0314", key.span, f"step '{step.name}' is in a loop, so its units may run more than once",
                            label=f"in the loop '{loops[0].verdicts[0]}' sends back to '{loops[0].target}'",
                            hint="deduplicate before the loop: put `unique_by` on a step that runs before it")
        return
    checker = ctx.checker()
    checker.allow_random = False  # a duplicate is a duplicate whatever the unit's random stream draws
    checker.check(step.unique_by, ctx.scope())
    if not any(name == "unit" or name in program.steps for name, _ in free_names(step.unique_by)):
        ctx.reporter.report("W0415", step.unique_by.span, "this key is the same for every unit: only the first unit runs",
                            label="reads no `unit` field and no step",
                            hint="key on what makes units duplicates, e.g. `unique_by: lower(strip(ask.question))`")


def _sends_back(program, loop) -> bool:
    """Can ``loop`` run its body again for a unit (a verdict with more than one attempt)?"""
    return any(getattr(program.steps[v].parsed, "attempts", 1) > 1 for v in loop.verdicts)
