"""Data tables: inline rows or files (YAML, JSON, JSONL, CSV), with inferred column types."""

from __future__ import annotations

import csv
import json
from pathlib import Path, PurePath
from typing import Any

import yaml

from ..base.diagnostics import Reporter
from ..base.source import Source, Span, decode_text
from ..base.yamlnodes import YMap, YNode, YScalar, YSeq, to_python
from ..expressions.types import ANY, BOOL, FLOAT, INT, STR, RecordT, Type, join, optional, value_type
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
        return _table(name, key, rows, spans, None, reporter)
    if isinstance(node, YMap) and isinstance(node.get("file"), YScalar) and node.get("file").is_str:
        file_node = node.get("file")
        return _load_file(name, key, file_node, base_dir, reporter)
    return DataTable(name, key.span, ANY, None)


def _load_file(name: str, key: YScalar, file_node: YScalar, base_dir: Path, reporter: Reporter) -> DataTable:
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
    try:
        rows = _parse(suffix, text)
    except _Malformed as err:
        source = _ClippedSource(str(Path(file_node.span.path).parent / rel) if file_node.span.path else rel, text)
        off = source.offset_of(err.line, err.col)
        reporter.report("E0007", Span(source, off, min(len(text), off + 1)), f"data file '{clip(rel)}': {err.message}")
        return unread
    spans = [file_node.span] * len(rows)
    return _table(name, key, rows, spans, rel, reporter)


class _ClippedSource(Source):
    """A data file as a diagnostic shows it: a long line is cut, never echoed whole."""

    def line_text(self, line: int) -> str:
        return clip(super().line_text(line))


def _parse(suffix: str, text: str) -> list[Any]:
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            raise _Malformed(f"invalid YAML: {clip(str(err.problem))}",
                             mark.line + 1 if mark else 1, mark.column + 1 if mark else 1)
        return _must_be_list(data)
    if suffix == ".json":
        try:
            return _must_be_list(json.loads(text))
        except json.JSONDecodeError as err:
            raise _Malformed(f"invalid JSON: {err.msg}", err.lineno, err.colno)
    if suffix == ".jsonl":
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise _Malformed(f"invalid JSON on line {i}: {err.msg}", i, err.colno)
        return rows
    return _parse_csv(text)


def _must_be_list(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise _Malformed(f"expected a list of rows, found {type(data).__name__}")
    return data


def _parse_csv(text: str) -> list[dict]:
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader, None)
        if not header:
            return []
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise _Malformed(f"row has {len(cells)} cells but the header has {len(header)}", reader.line_num)
            rows.append({h.strip(): _csv_value(c) for h, c in zip(header, cells)})
        return rows
    except csv.Error as err:
        raise _Malformed(f"invalid CSV: {err}", reader.line_num)


def _csv_value(cell: str) -> Any:
    c = cell.strip()
    if c == "":
        return None
    if c.lower() in ("true", "false"):
        return c.lower() == "true"
    for conv in (int, float):
        try:
            return conv(c)
        except ValueError:
            pass
    return cell


def _table(name: str, key: YScalar, rows: list[Any], spans: list[Span], file: str | None,
           reporter: Reporter) -> DataTable:
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
        return DataTable(name, key.span, _column_type(name, "value", rows, spans, reporter) or ANY, rows, file)
    _check_ids(name, rows, spans, reporter)
    return DataTable(name, key.span, _row_type(name, rows, spans, reporter), rows, file)


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


def _row_type(name: str, rows: list[dict], spans: list[Span], reporter: Reporter) -> RecordT:
    columns: dict[str, None] = {}
    for row in rows:
        for col in row:
            columns.setdefault(str(col), None)
    fields: dict[str, Type] = {}
    for col in columns:
        values = [row.get(col) for row in rows]
        t = _column_type(name, col, values, spans, reporter) or ANY
        if any(col not in row for row in rows):
            t = optional(t)
        fields[col] = t
    return RecordT(tuple(fields.items()), f"a row of '{name}'")


def _column_type(table: str, col: str, values: list[Any], spans: list[Span], reporter: Reporter) -> Type | None:
    t: Type | None = None
    for i, v in enumerate(values):
        vt = value_type(v)
        j = vt if t is None else join(t, vt)
        if j is None:
            reporter.report("E0108", spans[i],
                            f"column '{clip(col)}' of '{table}' mixes {t.describe()} and {vt.describe()}",
                            hint="give every row the same kind of value in this column"
                                 + ("; quote numbers meant as text, e.g. '2'" if STR in (t, vt) else ""))
            return ANY
        t = j
    return t


__all__ = ["load_table", "resolve_data_path", "read_data_file", "DataPathError", "FORMATS", "STR", "INT", "FLOAT", "BOOL"]
