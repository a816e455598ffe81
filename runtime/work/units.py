"""The units of a run, rebuilt from the Plan (never from the YAML)."""

from __future__ import annotations

import itertools
from typing import Iterator

from octo.compiler.expressions.evalsupport import unit_stream  # noqa: F401  (re-exported for the engine)
from octo.compiler.frontend.unitspace import Selection, TableSpace, UnitSpace, row_key
from octo.compiler.planning.ir import Plan
from octo.stdlib import default_language
from octo.stdlib.execution import compiled


def unit_space(plan: Plan) -> UnitSpace:
    data = plan.data["data"]
    tables = []
    for t in plan.data["units"]["tables"]:
        rows = tuple(data[t["table"]]["rows"] or ())
        tables.append(TableSpace(t["field"], rows, tuple(row_key(r, i) for i, r in enumerate(rows)), t["arrangement"], t["k"]))
    return UnitSpace(tuple(tables), plan.data["units"]["repeat"])


def data_env(plan: Plan) -> dict:
    return {name: t["rows"] for name, t in plan.data["data"].items()}


def selected_units(plan: Plan) -> Iterator[tuple[int, str]]:
    """(index in the unit space, unit id) of every selected unit, in order."""
    for indices, ids in selected_chunks(plan, 4096):
        yield from zip(indices, ids)


def selected_chunks(plan: Plan, size: int) -> Iterator[tuple[list[int], list[str]]]:
    """The selected units in order, ``size`` at a time: (indices in the unit space, their ids), the ids
    made together (UnitSpace.unit_ids)."""
    space = unit_space(plan)
    u = plan.data["units"]
    where = compiled(u["where"], default_language().functions)
    data = data_env(plan)
    predicate = (lambda unit: bool(where.evaluate({"unit": unit, "data": data}))) if where else None
    selection = Selection(space, predicate, u["sample"], u["limit"], plan.data["pipeline"]["seed"])
    indices = selection.indices()
    while True:
        chunk = list(itertools.islice(indices, size))
        if not chunk:
            return
        yield chunk, space.unit_ids(chunk)
