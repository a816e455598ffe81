"""A checked program → the Plan: units, the DAG, and the cost preview.

Nothing is sent anywhere. Unit counts are exact when they can be computed
(cross products, `repeat`, `sample`, `limit` by arithmetic; `where` and
unit-only `when` conditions by evaluating them, on every unit up to
``EXACT_LIMIT`` and on a uniform sample beyond); conditions that read step
outputs cannot be known before a run, so every unit is counted (an upper
bound) and the plan says so.
"""

from __future__ import annotations

import random
from pathlib import Path

from ..base.diagnostics import Reporter
from ..base.yamlnodes import YMap
from ..expressions import ast
from ..expressions.ast import free_names
from ..expressions.evalsupport import unit_stream
from ..frontend.fanouts import ScopeCounts
from ..frontend.kinds import expr_ir
from ..frontend.language import Language
from ..frontend.loops import loops_ir
from ..frontend.model_settings import check_model_settings
from ..frontend.program import Program, Step
from ..frontend.unitspace import MAX_UNITS, Selection, TableSpace, UnitSpace, row_key
from .budget import budget_verdict
from .diskspace import estimate_bytes, free_bytes, size_text
from .estimate import DEFAULT_RETRIES
from .ir import PLAN_FORMAT, PLAN_VERSION, Plan
from .plan_models import effective_model
from .plan_steps import PlanContext, Reach, graph_ir, prices_used, step_ir, totals

EXACT_LIMIT = 200_000  # evaluate conditions on every unit up to this many; sample beyond
ESTIMATION_SAMPLE = 20_000


def build_plan(program: Program, language: Language, reporter: Reporter, *, provider: str | None = None,
               prices: dict | None = None, run_root: Path | None = None, max_units: int | None = None) -> Plan:
    """The Plan; ``run_root`` is the folder the run will be created in (default `runs`), whose free space is checked;
    ``max_units`` (`--max-units`, a smoke run) keeps only the first N selected units, on top of `units.limit`."""
    from ..expressions.codegen import compile_expression  # the planner evaluates `where` and `when`

    def compile_(expr):
        return compile_expression(expr, language.functions).evaluate

    ctx = PlanContext(program, language, reporter, compile_, prices or dict(language.prices), provider)
    ctx.data_env = {name: t.rows for name, t in program.data.items()}
    space = unit_space(program)
    where_bounded = _where_is_bounded(program, space, reporter)
    where = _where(ctx) if where_bounded else None
    limit = _limit(program.units.limit, max_units)
    selection = Selection(space, where, program.units.sample, limit, program.seed)
    count = selection.count() if selection.where is None else None
    sample, exact, counted = estimation_sample(selection, count)
    count = counted if count is None else count
    units_ok = _check_unit_count(program, count, reporter) and where_bounded
    units = [space.unit(i) for i in sample] if _needs_units(ctx) else [{}] * len(sample)
    reach = _reaches(ctx, units, exact)
    counts = ScopeCounts(program, language, count)  # the units of each scope: the run's, and fan-outs' children
    steps = []
    for name in program.order:
        steps.append(step_ir(ctx, program.steps[name], counts.of(name), reach, units))
        counts.record(program.steps[name], steps[-1])
    plan = {
        "format": PLAN_FORMAT, "version": PLAN_VERSION,
        "pipeline": {"name": program.name, "source": program.source.path, "seed": program.seed,
                     "description": _text(program.root.get("description"))},
        "data": {name: {"file": t.file, "rows": t.rows} for name, t in program.data.items()},
        "units": _units_ir(program, space, count, limit, max_units),
        "steps": steps,
        "export": [[column, expr_ir(expr)] for column, expr in program.export] if program.root.get("export") is not None else None,
        "loops": loops_ir(program),
        "graph": graph_ir(program, ctx),
        "prices": prices_used(ctx, steps),
        "budget": {"max_usd": program.budget_usd},
        "totals": totals(steps),
        "assumptions": _assumptions(),
    }
    if program.export_file is not None:  # only then: a plan without export settings keeps its shape
        f = program.export_file
        plan["export_file"] = {"where": expr_ir(f.where) if f.where is not None else None, "file": f.file,
                               "units": f.units, "reads": list(f.reads)}
    if provider:  # every step sent to another model: what that model refuses is refused here, at its setting
        check_model_settings(program, language, reporter,
                             lambda step: [effective_model(ctx, m) for m in (step.models or [step.model or ""])])
    plan["budget"].update(budget_verdict(program, plan, reporter))
    per_unit = {name for name, step in program.steps.items() if language.kinds[step.kind].per_unit}
    plan["disk"] = {"estimated_bytes": estimate_bytes(program, plan, per_unit)}
    if units_ok:  # a disk estimate for too many units would only repeat E0505
        _check_disk(program, plan["disk"]["estimated_bytes"], Path("runs") if run_root is None else run_root, reporter)
    return Plan(plan)


def _units_span(program: Program):
    key = program.root.key("units")
    return key.span if key is not None else None


def _where_is_bounded(program: Program, space: UnitSpace, reporter: Reporter) -> bool:
    """`units.where` is evaluated on every unit of the space: refuse (E0505) a space too big for that."""
    if program.units.where is None or space.total <= MAX_UNITS:
        return True
    reporter.report("E0505", program.units.where.span,
                    f"`units.where` would be evaluated on {space.total:,} units, more than the {MAX_UNITS:,} a run may have",
                    label="evaluated on every unit of the tables and `repeat`",
                    hint="draw from smaller tables or a smaller `repeat`, or split the pipeline")
    return False


def _check_unit_count(program: Program, count: int, reporter: Reporter) -> bool:
    """False, after reporting E0505, when the run would have more units than a run may have."""
    if count <= MAX_UNITS:
        return True
    reporter.report("E0505", _units_span(program), f"this run would have {count:,} units, more than the {MAX_UNITS:,} a run may have",
                        label="the units", path=program.source.path,
                        hint="select fewer with `units.limit` or `units.sample`, or split the pipeline")
    return False


def _check_disk(program: Program, needed: int, run_root: Path, reporter: Reporter) -> None:
    folder, free = free_bytes(run_root)
    if free is not None and needed > free:
        reporter.report("E0506", _units_span(program), f"the run needs about {size_text(needed)} of disk, "
                        f"but {folder} has {size_text(free)} free", path=program.source.path,
                        hint="free some space, create the run elsewhere (octoc run --run-dir DIR), "
                             "or run fewer units first (`units.limit`)")


def _needs_units(ctx: PlanContext) -> bool:
    """Unit records are needed to evaluate unit-only `when`s and to render prompts."""
    kinds = ctx.language.kinds
    return any(kinds[s.kind].runs == "provider" or s.when is not None for s in ctx.program.steps.values())


def unit_space(program: Program) -> UnitSpace:
    tables = []
    for t in program.units.tables:
        rows = tuple(program.data[t.table].rows or ())
        tables.append(TableSpace(t.field, rows, tuple(row_key(r, i) for i, r in enumerate(rows)), t.arrangement, t.k))
    return UnitSpace(tuple(tables), program.units.repeat)


def _where(ctx: PlanContext):
    """The `units.where` predicate; a unit it fails for is reported once (E0504) and left out."""
    expr = ctx.program.units.where
    if expr is None:
        return None
    from ..expressions.codegen import EvalError

    evaluate = ctx.compile(expr)
    failed: list[str] = []

    def keep(unit) -> bool:
        try:
            return bool(evaluate({"unit": unit, "data": ctx.data_env}))
        except EvalError as err:
            if not failed:
                failed.append(unit["id"])
                ctx.reporter.report("E0504", expr.span, f"`units.where` fails for unit '{unit['id']}': {err.message}",
                                    hint="make the condition safe for every unit, e.g. guard a division with `x != 0 and ...`")
            return False

    return keep


def estimation_sample(selection: Selection, count: int | None) -> tuple[list[int], bool, int]:
    """Unit indices to evaluate conditions and render prompts on (exact when it is every unit), and the unit count.

    ``count`` is None when only a pass over the units can tell (a `where`): that one pass both
    counts and samples them.
    """
    if count is None and selection.space.total <= EXACT_LIMIT:  # a `where` over a small space: every unit
        indices = list(selection.indices())
        return indices, True, len(indices)
    if count is not None and count <= EXACT_LIMIT:
        return list(selection.indices()), True, count
    rng = random.Random(f"{selection.seed}:plan.estimate")
    if selection.where is None and selection.sample is None:
        n = count if count is not None else selection.space.total
        return sorted(rng.sample(range(n), min(ESTIMATION_SAMPLE, n))), False, n
    reservoir: list[int] = []
    seen = 0
    for seen, i in enumerate(selection.indices(), 1):
        if seen <= ESTIMATION_SAMPLE:
            reservoir.append(i)
        elif (j := rng.randrange(seen)) < ESTIMATION_SAMPLE:
            reservoir[j] = i
    return sorted(reservoir), False, seen


def _reaches(ctx: PlanContext, units: list[dict], exact: bool) -> dict[str, Reach]:
    out: dict[str, Reach] = {}
    for name in ctx.program.order:
        step = ctx.program.steps[name]
        reach = _when_reach(ctx, step, units, exact)
        of = step.parsed.of if ctx.language.kinds[step.kind].verdict else None
        if of in out:  # a verdict runs only where its step ran
            reach = Reach([a and b for a, b in zip(reach.runs, out[of].runs)], reach.exact and out[of].exact,
                          reach.notes + out[of].notes)
        out[name] = reach
    return out


def _when_reach(ctx: PlanContext, step: Step, units: list[dict], exact: bool) -> Reach:
    if step.when is None:
        return Reach([True] * len(units), exact)
    roots = {n for n, _ in free_names(step.when)}
    if not roots <= {"unit", "data"}:
        reads = ", ".join(sorted(roots - {"unit", "data"}))
        return Reach([True] * len(units), False, [f"`when` reads {reads}, known only during a run: every unit counted"])
    evaluate = ctx.compile(step.when)
    seed = ctx.program.seed
    draws = _draws(step.when, ctx.language.functions)
    runs = []
    for unit in units:
        try:
            rng = unit_stream(seed, unit["id"], step.name) if draws else None
            runs.append(bool(evaluate({"unit": unit, "data": ctx.data_env}, rng)))
        except Exception:  # the run will fail this unit with its reason; count it as running
            runs.append(True)
    return Reach(runs, exact)


def _draws(expr, functions) -> bool:
    """Whether ``expr`` calls a random built-in. Only then does it need each unit's stream, which costs a
    SHA-256 and a seeding per unit: most of `plan`'s time on a `when` like `unit.repeat < 20`."""
    return any(isinstance(node, ast.Call) and getattr(functions.get(node.func), "random", True)
               for node in ast.walk(expr))


def _limit(limit: int | None, max_units: int | None) -> int | None:
    """The first how many selected units the run keeps: the smaller of `units.limit` and `--max-units`."""
    return min((n for n in (limit, max_units) if n is not None), default=None)


def _units_ir(program: Program, space: UnitSpace, count: int, limit: int | None, max_units: int | None) -> dict:
    """`limit` is the one the run applies (so the runtime needs nothing else); `max_units` says a smoke run set it."""
    u = program.units
    return {
        "tables": [{"field": t.field, "table": t.table, "arrangement": t.arrangement, "k": t.k, "size": ts.size}
                   for t, ts in zip(u.tables, space.tables)],
        "repeat": u.repeat, "where": expr_ir(u.where), "sample": u.sample, "limit": limit,
        "max_units": max_units, "total": space.total, "selected": count,
        "order": "replica-major: unit i is replica i // base of combination i % base; the last table varies fastest",
    }


def _text(node) -> str:
    return node.value if node is not None and isinstance(getattr(node, "value", None), str) else ""


def _assumptions() -> dict:
    from . import estimate

    return {"judge_fail_rate": estimate.JUDGE_FAIL_RATE, "invalid_output_rate": estimate.INVALID_OUTPUT_RATE,
            "default_retries": DEFAULT_RETRIES, "tokens": "octo's offline estimate (docs/plan.md)"}


