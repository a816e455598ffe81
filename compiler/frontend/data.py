"""Data tables: inline rows or files (YAML, JSON, JSONL, CSV), with inferred or declared column types."""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any, Callable

import yaml

from ..base.diagnostics import Reporter
from ..base.source import Source, Span, decode_text
from ..base.yamlnodes import YMap, YNode, YScalar, YSeq, to_python
from ..expressions.types import ANY, BOOL, FLOAT, INT, STR, RecordT, Type, join, optional, value_type
from .columns import DECLARABLE, Cell, CellMismatch, csv_cells, declared_value, infer_csv_columns
from .datapath import DataPathError, clip, read_data_file, resolve_data_path
from .program import DataTable

FORMATS = (".yaml", ".yml", ".json", ".jsonl", ".csv")


class _Malformed(Exception):
    def __init__(self, message: str, line: int = 1, col: int = 1):
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


def load_table(name: str, key: YScalar, node: YNode, base_dir: Path, reporter: Reporter) -> DataTable:
    if isinstance(node, YSeq):
        rows = [to_python(item) for item in node.items]
        spans = [item.span for item in node.items]
        return _table(name, key, rows, spans, None, reporter, "inline")
    if isinstance(node, YMap) and isinstance(node.get("file"), YScalar) and node.get("file").is_str:
        declared = _declared_types(node.get("types"), reporter)
        return _load_file(name, key, node.get("file"), declared, base_dir, reporter)
    return DataTable(name, key.span, ANY, None)


def _declared_types(node: YNode | None, reporter: Reporter) -> dict[str, tuple[YScalar, YScalar]]:
    """`types: {column: str | int | float | bool}`: column → (its key, its type); E0112 for another type name
    (the shape is the schema's)."""
    if not isinstance(node, YMap):
        return {}
    out = {}
    for k, v in node.items:
        if isinstance(v, YScalar) and v.value in DECLARABLE:
            out[str(k.value)] = (k, v)
        else:
            shown = clip(str(v.value)) if isinstance(v, YScalar) else "a " + type(v).__name__[1:].lower()
            reporter.report("E0112", v.span, f"'{shown}' is not a column type",
                            hint="a data file's column is declared str, int, float or bool")
    return out


def _load_file(name: str, key: YScalar, file_node: YScalar, declared: dict[str, tuple[YScalar, YScalar]], base_dir: Path,
               reporter: Reporter) -> DataTable:
    rel = file_node.value
    unread = DataTable(name, key.span, ANY, None, rel)
    try:
        resolve_data_path(base_dir, rel)  # first: what the path is matters more than its extension
        suffix = PurePath(rel).suffix.lower()
        if suffix not in FORMATS:
            reporter.report("E0007", file_node.span, f"unsupported data file type '{clip(suffix or rel)}'",
                            hint="data files are .yaml, .yml, .json, .jsonl or .csv")
            return unread
        text = decode_text(read_data_file(base_dir, rel))
    except DataPathError as err:
        reporter.report(err.code, file_node.span, err.message, hint=err.hint)
        return unread
    except (OSError, UnicodeDecodeError) as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else (
            "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else (err.strerror or type(err).__name__).lower())
        reporter.report("E0006", file_node.span, f"cannot read data file '{clip(rel)}': {reason}",
                        label=f"looked for {clip(str(base_dir / rel))}", hint="paths are relative to the .octo file")
        return unread
    source = _ClippedSource(str(Path(file_node.span.path).parent / rel) if file_node.span.path else rel, text)
    try:
        rows, cells = _parse(suffix, text)
    except _Malformed as err:
        off = source.offset_of(err.line, err.col)
        reporter.report("E0007", Span(source, off, min(len(text), off + 1)), f"data file '{clip(rel)}': {err.message}")
        return unread

    def at(i: int, col: str | None = None) -> Span:
        """Where row ``i`` (its cell ``col``) is: in the data file when known, else the `file:` value."""
        cell = cells[i].get(col) or cells[i].get(None) if i < len(cells) else None
        if cell is None:
            return file_node.span
        off = source.offset_of(cell.line, cell.col)
        return Span(source, off, min(len(text), off + 1))

    fmt = "csv" if suffix == ".csv" else "yaml" if suffix in (".yaml", ".yml") else "json"
    if not _apply_declared(name, rows, declared, fmt == "csv", at, reporter):
        return unread
    if fmt == "csv":
        infer_csv_columns(rows, skip=declared)
    return _table(name, key, rows, [at(i) for i in range(len(rows))], rel, reporter, fmt)


def _apply_declared(name: str, rows: list[Any], declared: dict[str, tuple[YScalar, YScalar]], from_csv: bool,
                    at: Callable[[int, str | None], Span], reporter: Reporter) -> bool:
    """Turn the cells of declared columns into their type, in place; False (reported) when one cannot be."""
    ok = True
    for col, (col_node, type_node) in declared.items():
        if not any(isinstance(r, dict) and col in r for r in rows):
            reporter.report("E0113", col_node.span, f"'{name}' has no column '{clip(col)}'",
                            hint="`types:` names columns of the file's header (CSV) or keys of its rows")
            ok = False
            continue
        for i, row in enumerate(rows):
            if isinstance(row, dict) and col in row:
                try:
                    row[col] = declared_value(row[col], type_node.value, from_csv)
                except CellMismatch as err:
                    reporter.report("E0114", at(i, col), f"column '{clip(col)}' of '{name}', row {i + 1}: {err.message}",
                                    hint="fix the cell, or declare the type all its cells have (float holds whole numbers too; "
                                         "str keeps every cell as written)")
                    ok = False
                    break
    return ok


class _ClippedSource(Source):
    """A data file as a diagnostic shows it: a long line is cut, never echoed whole."""

    def line_text(self, line: int) -> str:
        return clip(super().line_text(line))


def _parse(suffix: str, text: str) -> tuple[list[Any], list[dict]]:
    """The rows, and per row where it (None) or its cells (by column) are in the file, as far as known."""
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            raise _Malformed(f"invalid YAML: {clip(str(err.problem))}",
                             mark.line + 1 if mark else 1, mark.column + 1 if mark else 1)
        return _must_be_list(data), []
    if suffix == ".json":
        try:
            return _must_be_list(json.loads(text)), []
        except json.JSONDecodeError as err:
            raise _Malformed(f"invalid JSON: {err.msg}", err.lineno, err.colno)
    if suffix == ".jsonl":
        rows, cells = [], []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise _Malformed(f"invalid JSON on line {i}: {err.msg}", i, err.colno)
                cells.append({None: Cell(i, 1)})
        return rows, cells
    try:
        _, parsed = csv_cells(text)
    except ValueError as err:
        raise _Malformed(err.args[0], err.args[1])
    return [row for row, _ in parsed], [{None: next(iter(where.values()), None), **where} for _, where in parsed]


def _must_be_list(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise _Malformed(f"expected a list of rows, found {type(data).__name__}")
    return data


def _table(name: str, key: YScalar, rows: list[Any], spans: list[Span], file: str | None,
           reporter: Reporter, fmt: str) -> DataTable:
    if not rows:
        reporter.report("E0108", key.span, f"data table '{name}' has no rows", hint="a unit table needs at least one row")
        return DataTable(name, key.span, ANY, rows, file)
    maps = [isinstance(r, dict) for r in rows]
    if any(maps) and not all(maps):
        i = maps.index(not maps[0])
        reporter.report("E0108", spans[i], f"data table '{name}' mixes mappings and plain values",
                        hint="every row is a mapping ({id: a, x: 1}) or every row is a plain value")
        return DataTable(name, key.span, ANY, rows, file)
    if not maps[0]:
        return DataTable(name, key.span, _column_type(name, "value", rows, spans, reporter, fmt) or ANY, rows, file)
    _check_ids(name, rows, spans, reporter)
    return DataTable(name, key.span, _row_type(name, rows, spans, reporter, fmt), rows, file)


def _check_ids(name: str, rows: list[dict], spans: list[Span], reporter: Reporter) -> None:
    """Row ids name units (and groups), so they must be unique."""
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if "id" not in row or row["id"] is None:
            continue
        rid = str(row["id"])
        if rid in seen:
            reporter.report("E0108", spans[i],
                            f"row id '{clip(rid)}' appears twice in '{name}' (rows {seen[rid] + 1} and {i + 1})",
                            hint="unit ids are made from row ids, so each row needs its own")
            return
        seen[rid] = i


def _row_type(name: str, rows: list[dict], spans: list[Span], reporter: Reporter, fmt: str) -> RecordT:
    columns: dict[str, None] = {}
    for row in rows:
        for col in row:
            columns.setdefault(str(col), None)
    fields: dict[str, Type] = {}
    for col in columns:
        values = [row.get(col) for row in rows]
        t = _column_type(name, col, values, spans, reporter, fmt) or ANY
        if any(col not in row for row in rows):
            t = optional(t)
        fields[col] = t
    return RecordT(tuple(fields.items()), f"a row of '{name}'")


# what makes a number text, where numbers and text mix in a column: per format, as its author writes it
_TEXT_HINT = {
    "inline": "; quote numbers meant as text, e.g. '2'",
    "yaml": "; quote numbers meant as text, e.g. '2', or declare the column: `{file: ..., types: {COL: str}}`",
    "json": "; write numbers meant as text as JSON strings (\"2\"), or declare the column: "
            "`{file: ..., types: {COL: str}}`",
}


def _column_type(table: str, col: str, values: list[Any], spans: list[Span], reporter: Reporter,
                 fmt: str) -> Type | None:
    t: Type | None = None
    for i, v in enumerate(values):
        vt = value_type(v)
        j = vt if t is None else join(t, vt)
        if j is None:
            reporter.report("E0108", spans[i],
                            f"column '{clip(col)}' of '{table}' mixes {t.describe()} and {vt.describe()}",
                            hint="give every row the same kind of value in this column"
                                 + (_TEXT_HINT.get(fmt, "").replace("COL", clip(col)) if STR in (t, vt) else ""))
            return ANY
        t = j
    return t


__all__ = ["load_table", "resolve_data_path", "read_data_file", "DataPathError", "FORMATS", "STR", "INT", "FLOAT", "BOOL"]
