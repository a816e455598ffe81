"""`units:` — which tables the units are drawn from, and the type of `unit`."""

from __future__ import annotations

from ..base.diagnostics import Reporter
from ..base.suggest import did_you_mean
from ..base.yamlnodes import YMap, YNode, YScalar
from ..expressions import ast
from ..expressions.exprparse import Origin, parse_expression
from ..expressions.types import ANY, INT, STR, ListT, RecordT, Type
from .program import DataTable, UnitsSpec, UnitTable

ARRANGEMENTS = ("permutations", "combinations")
UNIT_BUILTINS = ("id", "repeat")


def read_units(node: YNode | None, tables: dict[str, DataTable], reporter: Reporter) -> UnitsSpec:
    spec = UnitsSpec(tables=[])
    if not isinstance(node, YMap):
        spec.unit_type = _unit_type(spec, tables)
        return spec
    for_node = node.get("for")
    broken: list[str] = []  # fields whose table is in error: typed `any`, so no cascade
    if isinstance(for_node, YMap):
        for key, value in for_node.items:
            table = _unit_table(key, value, tables, reporter)
            if table is not None:
                spec.tables.append(table)
            elif key.value not in UNIT_BUILTINS:
                broken.append(key.value)
    for name in ("repeat", "sample", "limit"):
        v = node.get(name)
        if isinstance(v, YScalar) and isinstance(v.value, int) and not isinstance(v.value, bool):
            setattr(spec, name, v.value)
    spec.unit_type = _unit_type(spec, tables, broken)
    return spec


def _unit_table(key: YScalar, value: YNode, tables: dict[str, DataTable], reporter: Reporter) -> UnitTable | None:
    if key.value in UNIT_BUILTINS:
        reporter.report("E0109", key.span, f"'unit.{key.value}' is built in; choose another name for this table")
        return None
    if not isinstance(value, YScalar) or not value.is_str:
        return None
    expr = parse_expression(value.value, Origin(value), reporter)
    if expr is None:
        return None
    if isinstance(expr, ast.Name):
        if _known(expr.id, expr, tables, reporter):
            return UnitTable(key.value, expr.id, "rows", 1, value.span)
        return None
    if isinstance(expr, ast.Call) and expr.func in ARRANGEMENTS:
        if len(expr.args) != 2:
            reporter.report("E0205", expr.span, f"{expr.func}() takes 2 arguments (a table and a count)",
                            label=f"usage: {expr.func}(table, k)")
            return None
        table, k = expr.args
        if not isinstance(table, ast.Name):
            reporter.report("E0304", table.span, f"the first argument of {expr.func}() must be a data table name")
            return None
        if not (isinstance(k, ast.Literal) and isinstance(k.value, int) and not isinstance(k.value, bool) and k.value >= 1):
            reporter.report("E0304", k.span, f"the second argument of {expr.func}() must be a whole number of at least 1")
            return None
        if not _known(table.id, table, tables, reporter):
            return None
        rows = tables[table.id].rows
        if rows is not None and k.value > len(rows):
            reporter.report("E0304", k.span, f"{expr.func}() of {len(rows)} rows taken {k.value} at a time is empty",
                            hint=f"use at most {len(rows)}")
        return UnitTable(key.value, table.id, expr.func, k.value, value.span)
    reporter.report("E0304", expr.span, "a unit table is a data table's name, or permutations(table, k) or combinations(table, k)",
                    hint="filter units with `units.where`, not here")
    return None


def _known(name: str, node: ast.Node, tables: dict[str, DataTable], reporter: Reporter) -> bool:
    if name in tables:
        return True
    hint = did_you_mean(name, tables) or (f"tables: {', '.join(tables)}" if tables else "declare it under `data:`")
    reporter.report("E0202", node.span, f"unknown data table '{name}'", label="not under `data:`", hint=hint)
    return False


def _unit_type(spec: UnitsSpec, tables: dict[str, DataTable], broken: list[str] = ()) -> RecordT:
    fields: dict[str, Type] = {"id": STR, "repeat": INT}
    fields.update({name: ANY for name in broken})
    for t in spec.tables:
        row = tables[t.table].row_type
        fields[t.field] = row if t.arrangement == "rows" else ListT(row)
    return RecordT(tuple(fields.items()), "the unit")
