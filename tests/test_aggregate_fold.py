"""The generated fold of an aggregate over one step's chunks (stdlib/aggregate_fold.py) must keep
exactly what AggregateRunner.add_all keeps, unit for unit: the same groups in the same order, the
same values appended in the same order (floats are summed in that order), the same first unit,
the same counts, and for a unit whose `by` or reduced argument raises, the same reason and example."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime.base.encoding import encode_output
from octo.runtime.work.unitwork import UnitWork
from octo.stdlib import default_language
from octo.stdlib.aggregate_fold import chunk_folder

PIPELINE = """octo: 1
name: fold
seed: 1
data:
  scenarios:
    - {{id: middle, start: 5}}
    - {{id: near_ship, start: 8}}
units:
  for: {{scenario: scenarios}}
  repeat: 3
steps:
  walk:
    compute: {{k: unit.scenario.id, x: "unit.repeat * 0.5", b: "unit.repeat % 2 == 0"}}
  odds:
    aggregate:
{by}      metrics:
        mean_x: mean(walk.x)
        total: sum(walk.x)
        halves: sum(walk.x // 2)
        yes: share(walk.b)
        big: max(walk.x)
        n: count()
        first: min(unit.repeat)
"""

BYS = {"none": "", "unit": "      by: [unit.scenario.id]\n", "output": "      by: [walk.k]\n",
       "two": "      by: [walk.k, unit.scenario.id]\n"}


def unit_work(by: str) -> UnitWork:
    language = default_language()
    text = PIPELINE.format(by=BYS[by])
    checked = check_source(Source("p.octo", text), language)
    assert checked.ok, [d.message for d in checked.diagnostics]
    return UnitWork(build_plan(checked.program, language, Reporter()), language)


WORKS = {by: unit_work(by) for by in BYS}

scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, width=16) | st.sampled_from(["a", "b"])
outputs = st.fixed_dictionaries({}, optional={"k": scalars | st.lists(st.integers(0, 2), max_size=2),
                                              "x": scalars, "b": scalars}) | st.none() | st.sampled_from(["text", 3])


states = st.sampled_from(["done", "done", "done", "failed", "blocked", "skipped"])
units = st.lists(st.tuples(outputs, states, st.booleans()), max_size=12)  # output, state, kept or only stored


def folded_and_generic(by: str, drawn: list) -> tuple[dict, dict]:
    """UnitWork.fold's part of a chunk, with the generated fold and with add_all (the folder switched off)."""
    work = WORKS[by]
    space = work.space
    chunk = [(pos, pos % space.total, space.unit_id(pos % space.total)) for pos in range(len(drawn))]
    rows, pairs = [], []
    for (pos, idx, uid), (value, state, kept) in zip(chunk, drawn):
        stored = encode_output(value) if state == "done" and value is not None else None
        rows.append((pos, state, stored, "why" if state == "failed" else None))
        pairs.append((space.unit(idx, uid), value if state == "done" and (kept or stored is None) else None))
    work._aggregators.pop("odds", None)
    work._folders.clear()
    assert work._folder("odds", "walk") is not None, "these expressions are plain enough to be inlined"
    folded = work.fold("odds", "walk", chunk, pairs, rows)
    work._folders[("odds", "walk")] = None
    try:
        return folded, work.fold("odds", "walk", chunk, pairs, rows)
    finally:
        work._folders.clear()


@pytest.mark.parametrize("by", sorted(BYS))
@settings(max_examples=60, deadline=None)
@given(drawn=units)
@example(drawn=[])  # no group at all
@example(drawn=[({"k": "a", "x": 0.1, "b": True}, "done", True), ({"k": "a", "x": 0.2, "b": False}, "done", False),
                ({"k": "a", "x": 0.3}, "done", True)])  # the order of a sum; an output decoded from its JSON
@example(drawn=[({"k": [1], "x": 1, "b": True}, "done", True), (None, "skipped", True), ("text", "done", True),
                ({"k": "b"}, "failed", True), ({"k": "b", "x": 2}, "blocked", False)])  # list key, failing units
def test_the_generated_fold_keeps_what_add_all_keeps(by, drawn):
    folded, generic = folded_and_generic(by, drawn)
    assert repr(folded) == repr(generic)  # repr: -0.0 and 0.0, 1 and 1.0 and True told apart


def test_the_sailors_aggregate_is_folded_by_generated_code():
    """The shape of the benchmark's aggregate: `by` a unit field, means of an output's fields."""
    work = WORKS["unit"]
    folder = work._folder("odds", "walk")
    assert folder is not None and "_feeds[1][0](" in folder.source and "str_keys.get(" in folder.source


@pytest.mark.parametrize("by", sorted(BYS))
def test_units_the_inlined_code_handles_never_take_the_slow_path(by):
    """The generated fold must do the work itself: were its code to raise for every unit (a name its
    namespace lacks, say), each unit would go through AggregateRunner.add and the results would stay
    right, the speed lost. Units whose `by` and reduced arguments all evaluate must not reach ``add``."""
    work = WORKS[by]
    space = work.space
    chunk = [(pos, pos, space.unit_id(pos)) for pos in range(space.total)]
    outputs = [{"k": "ab"[pos % 2], "x": pos * 0.5, "b": pos % 3 == 0} for pos in range(space.total)]
    rows = [(pos, "done", encode_output(value), None) for pos, value in enumerate(outputs)]
    pairs = [(space.unit(pos, uid), value) for (pos, _, uid), value in zip(chunk, outputs)]
    work._aggregators.pop("odds", None)
    work._folders.clear()
    runner = work._aggregator("odds")[0]
    slow = []
    runner.add = lambda env, unit=None: slow.append(env)  # what the fold's `slow` calls
    try:
        part = work.fold("odds", "walk", chunk, pairs, rows)
    finally:
        work._aggregators.pop("odds", None)
        work._folders.clear()
    assert slow == [] and sum(g["n"] for g in part["groups"].values()) == space.total


def test_generated_code_reading_an_unbound_name_is_refused_when_loaded():
    from octo.compiler.expressions.generated import load_generated

    with pytest.raises(RuntimeError, match="reads str"):
        load_generated("def f(x):\n    return type(x) is str\n", "<t>", {"__builtins__": {}, "type": type}, "f")


@pytest.mark.parametrize("metric", ["mean(walk.x * 2)", "mean(abs(walk.x))", "mean([walk.x][0])"])
def test_an_expression_calling_a_helper_or_a_function_is_left_to_add_all(metric):
    """Anything that reads a global name (a helper, a built-in's implementation, a constant) or loops is not
    inlined: the generic path keeps its CPU budget and size checks."""
    language = default_language()
    text = PIPELINE.format(by=BYS["unit"]).replace("mean(walk.x)", metric)
    checked = check_source(Source("p.octo", text), language)
    assert checked.ok, [d.message for d in checked.diagnostics]
    work = UnitWork(build_plan(checked.program, language, Reporter()), language)
    runner = work.language.kinds["aggregate"].runner(work.steps["odds"]["config"], work.language.functions)
    source = next(args[0].source for name, _, args in runner.reductions if args)
    assert chunk_folder(runner, "walk") is None, source
