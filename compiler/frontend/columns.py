"""Column types of data files: CSV cells read as a whole column, and `types:` declarations.

A CSV cell has no type of its own (quotes are lost by the time a cell is read), so
a column is typed as a whole: bools, ints or numbers when *every* non-empty cell
reads as one, text otherwise — a free-text column that is sometimes numeric stays
text. `types: {column: str | int | float | bool}` on a file table overrides that
(and, for JSON, JSONL and YAML, turns a number in a `str` column into its text).
A cell that does not fit its declared type is E0114 at the cell.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from ..base.records import record_class

DECLARABLE = ("str", "int", "float", "bool")


@record_class(frozen=True)
class Cell:
    """Where a value sits in its data file: 1-based line and column (None when unknown)."""

    line: int
    col: int


class CellMismatch(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _as_bool(text: str) -> bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise ValueError(text)


_CSV_READERS: list[tuple[str, Callable[[str], Any]]] = [("bool", _as_bool), ("int", int), ("float", float)]


def infer_csv_columns(rows: list[dict[str, Any]], skip: Iterable[str] = ()) -> None:
    """Type each CSV column but those in ``skip`` as a whole, in place: the first of bool, int, float every
    non-empty cell reads as, else text (cells kept as written). An empty cell is null whatever the column."""
    columns = dict.fromkeys(col for row in rows for col in row if col not in skip)
    for col in columns:
        cells = [row[col] for row in rows if col in row and row[col] is not None]
        for _, conv in _CSV_READERS:
            try:
                converted = [conv(c.strip()) for c in cells]
            except ValueError:
                continue
            it = iter(converted)
            for row in rows:
                if col in row and row[col] is not None:
                    row[col] = next(it)
            break


def declared_value(value: Any, declared: str, from_csv: bool) -> Any:
    """``value`` as a cell of a column declared ``declared``; CellMismatch when it cannot be one."""
    if value is None:
        return None
    text = value.strip() if from_csv and isinstance(value, str) else value
    if declared == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CellMismatch(f"{_kind(value)} in a column declared str")
        return str(value)
    if declared == "bool":
        if isinstance(text, bool):
            return text
        if from_csv and isinstance(text, str) and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise CellMismatch(f"{_shown(value)} in a column declared bool (true or false)")
    if isinstance(text, bool):
        raise CellMismatch(f"{_shown(value)} in a column declared {declared}")
    if from_csv and isinstance(text, str):
        try:
            return int(text) if declared == "int" else float(text)
        except ValueError:
            raise CellMismatch(f"{_shown(value)} in a column declared {declared}") from None
    if declared == "int" and isinstance(text, int):
        return text
    if declared == "float" and isinstance(text, (int, float)):
        return float(text)
    raise CellMismatch(f"{_shown(value)} in a column declared {declared}")


def _kind(value: Any) -> str:
    return {bool: "a bool", list: "a list", dict: "a mapping"}.get(type(value), _shown(value))


def _shown(value: Any) -> str:
    from .datapath import clip

    return f"'{clip(value, 40)}'" if isinstance(value, str) else clip(repr(value), 40)


def csv_cells(text: str) -> tuple[list[str], list[tuple[dict[str, str | None], dict[str, Cell]]]]:
    """The header and, per row, its cells (an empty cell as None) and where each starts in the file.

    Raises ValueError (the message, the line) for a row that is not CSV or whose cell count is wrong."""
    import csv  # here: a pipeline without a CSV file is checked without it (startup)

    lines = text.splitlines()
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        return [], []
    names = [h.strip() for h in header]
    out = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            first, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise ValueError(f"row has {len(cells)} cells but the header has {len(header)}", reader.line_num)
            where = _cell_starts("\n".join(lines[first - 1:reader.line_num]), len(cells), first)
            row = {n: (c if c.strip() else None) for n, c in zip(names, cells)}
            out.append((row, dict(zip(names, where))))
    except csv.Error as err:
        raise ValueError(f"invalid CSV: {err}", reader.line_num) from None
    return names, out


def _cell_starts(record: str, count: int, line: int) -> list[Cell]:
    """Where each of ``count`` cells of a CSV record (the raw text of its lines) starts."""
    starts, i = [], 0
    for _ in range(count):
        starts.append(i)
        if i < len(record) and record[i] == '"':
            i += 1
            while i < len(record):
                if record[i] == '"' and record[i + 1:i + 2] == '"':
                    i += 2
                elif record[i] == '"':
                    break
                else:
                    i += 1
        comma = record.find(",", i)
        i = len(record) if comma < 0 else comma + 1
    out = []
    for s in starts:
        before = record[:s]
        out.append(Cell(line + before.count("\n"), s - (before.rfind("\n") + 1) + 1))
    return out
