"""Hints for a name read the wrong way: a bare field, table or row name, and a compute step's private `_name`.

Shared by expressions (typecheck) and templates, so `{{ topic.name }}` and `topic.name` get the same
"did you mean 'unit.topic'?" (the Octobatch habit of naming a row bare).
"""

from __future__ import annotations

from .scope import Binding, Scope
from .types import ListT, RecordT, strip


def qualified_hint(name: str, scope: Scope) -> str:
    """'start' → "did you mean 'unit.scenario.start'?" when a field of that name exists; a data table's name →
    the unit's row of it (``unit.topic`` for ``topics``) and the whole table (``data.topics``)."""
    rows = _rows_of_table(name, scope)
    if rows:
        return f"did you mean '{rows[0]}' (this unit's row of {name}) or 'data.{name}' (the whole table)?"
    found = []
    for root in sorted(scope.names()):
        binding = scope.lookup(root)
        t = strip(binding.type) if binding else None
        if not isinstance(t, RecordT):
            continue
        for field, ft in t.fields:
            if field == name:
                found.append(f"{root}.{name}")
            inner = strip(ft)
            if root == "unit" and isinstance(inner, RecordT) and inner.field(name) is not None:
                found.append(f"unit.{field}.{name}")
    return f"did you mean '{found[0]}'?" if found else ""


def _rows_of_table(name: str, scope: Scope) -> list[str]:
    """``unit.topic`` when ``name`` is a data table whose rows the unit draws under ``topic``."""
    data, unit = scope.lookup("data"), scope.lookup("unit")
    tables = strip(data.type) if data else None
    table = strip(tables.field(name)) if isinstance(tables, RecordT) and tables.field(name) is not None else None
    unit_t = strip(unit.type) if unit else None
    if not isinstance(table, ListT) or not isinstance(unit_t, RecordT):
        return []
    row = strip(table.elem)
    return [f"unit.{field}" for field, ft in unit_t.fields
            if isinstance(row, RecordT) and isinstance(strip(ft), RecordT) and strip(ft).fields == row.fields]


def private_read(binding: Binding | None, attr: str) -> tuple[str, str] | None:
    """(message, hint) when ``attr`` is a private `_name` of the step ``binding`` names; else None."""
    if binding is None or attr not in binding.private:
        return None
    return (f"'{attr}' is private to {binding.what}: names that start with '_' are not outputs",
            f"later values and `validate` rules of {binding.what} read it; to read it here, "
            f"rename it without the '_' (it then becomes an output)")
