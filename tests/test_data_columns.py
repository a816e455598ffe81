"""Column types of data files (docs/language.md, "Column types" and "Data files"): CSV columns typed as a
whole, `types:` declarations, E0112–E0114 at the cell, and the E0108 hint per file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language

PIPELINE = """octo: 1
data:
  t: {TABLE}
units:
  for: {r: t}
steps:
  s:
    compute: {x: unit.r}
"""


def check(tmp_path: Path, name: str, content: str, table: str = ""):
    (tmp_path / name).write_text(content, encoding="utf-8")
    octo = tmp_path / "p.octo"
    octo.write_text(PIPELINE.replace("{TABLE}", table or f"{{file: {name}}}"), encoding="utf-8")
    return check_file(str(octo), default_language())


def rows_and_type(result):
    table = result.program.data["t"]
    return table.rows, dict((k, t.describe()) for k, t in table.row_type.fields)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics if d.code.startswith("E")]


def test_a_free_text_csv_column_that_is_sometimes_numeric_is_text(tmp_path):
    result = check(tmp_path, "x.csv", "id,reference,n\na,42,1\nb,see page 3,2\nc,,3\n")
    assert codes(result) == []
    rows, types = rows_and_type(result)
    assert [r["reference"] for r in rows] == ["42", "see page 3", None]
    assert types["reference"] == "str?" and types["n"] == "int"


def test_csv_columns_typed_whole_when_every_cell_reads_the_same(tmp_path):
    rows, types = rows_and_type(check(tmp_path, "x.csv", "id,a,b,c\nx,1,1,TRUE\ny,2.5,2,false\n"))
    assert types == {"id": "str", "a": "float", "b": "int", "c": "bool"}
    assert rows[0]["a"] == 1.0 and rows[1]["c"] is False


def test_declared_str_keeps_42_as_text(tmp_path):
    result = check(tmp_path, "x.csv", "id,reference\na,42\nb,007\n", "{file: x.csv, types: {reference: str}}")
    rows, types = rows_and_type(result)
    assert [r["reference"] for r in rows] == ["42", "007"] and types["reference"] == "str"


def test_declared_str_turns_a_json_number_into_its_text(tmp_path):
    result = check(tmp_path, "x.jsonl", '{"id": "a", "ref": 42}\n{"id": "b", "ref": "x"}\n',
                   "{file: x.jsonl, types: {ref: str}}")
    assert codes(result) == []
    assert [r["ref"] for r in rows_and_type(result)[0]] == ["42", "x"]


def test_declared_int_with_a_non_numeric_cell_is_e0114_at_the_cell(tmp_path):
    result = check(tmp_path, "x.csv", 'id,note,score\na,"quoted, comma",1\nb,x,n/a\n',
                   "{file: x.csv, types: {score: int}}")
    [diag] = result.diagnostics
    assert diag.code == "E0114" and "'n/a' in a column declared int" in diag.message
    assert diag.span.path.endswith("x.csv")
    assert diag.span.source.line_col(diag.span.start) == (3, 5)


def test_cell_position_after_a_quoted_cell_with_a_comma_and_a_line_break(tmp_path):
    result = check(tmp_path, "x.csv", 'id,note,score\na,"two\nlines, ""q""",oops\n', "{file: x.csv, types: {score: float}}")
    [diag] = result.diagnostics
    assert diag.code == "E0114" and diag.span.source.line_col(diag.span.start) == (3, 15)


def test_jsonl_cell_mismatch_points_at_its_line(tmp_path):
    result = check(tmp_path, "x.jsonl", '{"id": "a", "n": 1}\n\n{"id": "b", "n": "two"}\n', "{file: x.jsonl, types: {n: int}}")
    [diag] = result.diagnostics
    assert diag.code == "E0114" and diag.span.source.line_col(diag.span.start) == (3, 1)


def test_unknown_type_and_unknown_column(tmp_path):
    result = check(tmp_path, "x.csv", "id,a\nx,1\n", "{file: x.csv, types: {a: integer, b: int}}")
    assert sorted(codes(result)) == ["E0112", "E0113"]


@pytest.mark.parametrize("name, content, says", [
    ("x.jsonl", '{"id": "a", "c": 1}\n{"id": "b", "c": "one"}\n', 'JSON strings ("2")'),
    ("x.json", '[{"id": "a", "c": 1}, {"id": "b", "c": "one"}]', 'JSON strings ("2")'),
    ("x.yaml", "- {id: a, c: 1}\n- {id: b, c: one}\n", "quote numbers meant as text"),
])
def test_e0108_hint_tells_the_truth_per_format(tmp_path, name, content, says):
    [diag] = check(tmp_path, name, content).diagnostics
    assert diag.code == "E0108" and says in diag.hint and "types: {c: str}" in diag.hint
