"""A corpus of invalid programs (tests/invalid/NNN_name.octo), checked and snapshotted.

Each file's first line names the codes it must produce::

    # expect: E0203 E0211

The test asserts those codes appear (that is what keeps the corpus honest: a
snapshot alone would happily record a wrong answer), then snapshots the text
rendering and the JSON report with syrupy. Update the snapshots with::

    .venv/bin/pytest tests/test_invalid_programs.py --snapshot-update

and read the diff in tests/__snapshots__/test_invalid_programs.ambr.

EXACT_SPANS pins where some carets must land (inside block scalars, folded
scalars, escaped strings, templates). KNOWN_BUGS lists files where octoc
currently crashes, misses an expected code or puts a caret in the wrong place.
They are reported as xfail (never snapshotted, so the wrong output is not
approved); once the checker is fixed they fail loudly until the entry is
removed and the snapshots are regenerated.
"""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from octo.compiler.base.codes import REGISTRY
from octo.compiler.base.render import render_text, report_json
from octo.compiler.frontend import datapath
from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language

ROOT = Path(__file__).resolve().parent.parent
INVALID = ROOT / "tests" / "invalid"
FILES = sorted(INVALID.glob("*.octo"))
HEADER = re.compile(r"^# expect:((?:\s+[EW]\d{4})+)\s*$")

# file stem -> the checker bug that makes it fail today (a crash, a missing
# expected code, a span outside the file, or an internal name in a message)
KNOWN_BUGS: dict[str, str] = {}

# Where the caret must land: (code, the exact source text under it). These pin positions inside
# block scalars, folded scalars, escaped strings and templates, where an offset can drift.
EXACT_SPANS: dict[str, list[tuple[str, str]]] = {
    "005_expression_starts_with_quote": [("E0005", "'ship' if position >= 10 else 'water'")],
    "029_c_style_operators": [("E0201", "!"), ("E0201", "&&")],
    "032_unknown_field_in_block_template": [("E0203", "unit.book.auther")],
    "043_unknown_template_filter": [("E0214", "uppercase")],
    "057_block_scalar_expression_error": [("E0201", "or")],
    "058_block_scalar_unknown_name": [("E0202", "sucess"), ("E0203", "shoot.misses")],
    "059_folded_scalar_expression": [("E0206", "unit.parcel.zone < 3")],
    "060_escaped_quotes_in_prompt": [("E0203", "unit.quote.speeker")],
    "080_template_references_twice_on_line": [("E0203", "unit.pair.rigth")],
    "092_unknown_name_in_template": [("E0202", "unt")],
    "120_data_path_outside_folder": [("E0010", "../shared/scores.csv")],
    "121_data_path_is_a_directory": [("E0011", "data")],
    "122_data_file_too_large": [("E0012", "data/oversized.csv")],
    "170_list_item_counts": [("E0221", "[5, 2]"), ("E0221", "-1"), ("E0221", "1.5"), ("E0221", "[,]"),
                             ("E0221", "2000000")],
    "171_list_counts_without_element": [("E0222", "list[3, 3]")],
    "230_invalid_regex": [("E0223", "#([0-9]+"), ("E0223", "z-a")],
    "231_regex_feature_not_supported": [("E0224", "(?!"), ("E0224", "\\1"), ("E0224", "++")],
    "250_string_lengths": [("E0230", "[280, 10]"), ("E0230", "-1"), ("E0230", "1.5"), ("E0230", "[,]"),
                           ("E0216", "[,]")],
    "271_private_compute_value_in_template": [("E0234", "stats._lowered")],
    "272_bare_row_name_in_template": [("E0202", "topic"), ("E0202", "topics")],
}

# Corpus files checked with the data file size limit lowered to this many bytes
# (a file over the real limit, 64 MiB, has no place in the repository).
DATA_FILE_LIMITS: dict[str, int] = {"122_data_file_too_large": 100}

# Internal names that must never reach a user: Lark terminals and reprs, tracebacks.
_TERMINALS = ("NAME NUMBER STRING SIGNED_NUMBER LPAR RPAR LSQB RSQB LBRACE RBRACE COMMA COLON DOT "
              "PLUS MINUS STAR SLASH DSLASH PERCENT POW QMARK BAR EQ NE LE GE LT GT").split()
_LEAKS = re.compile(r"Token\(|Tree\(|__ANON|\$END|Traceback|<scalar>|<block|\bat 0x|\b(?:"
                    + "|".join(_TERMINALS) + r")\b")


def expected_codes(path: Path) -> list[str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("latin-1").rstrip("\r")
    m = HEADER.match(first)
    assert m, f"{path.name}: the first line must be '# expect: CODE ...', not {first!r}"
    return m.group(1).split()


def relpath(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run_check(path: Path):
    """The diagnostics of one corpus file, or the exception the checker raised."""
    limit = DATA_FILE_LIMITS.get(path.stem, datapath.MAX_DATA_FILE_BYTES)
    try:
        with mock.patch.object(datapath, "MAX_DATA_FILE_BYTES", limit):
            return check_file(relpath(path), default_language()).diagnostics
    except Exception as err:  # noqa: BLE001 - a crash is a checker bug, reported as such
        return err


def missing_codes(path: Path, diags) -> list[str]:
    codes = {d.code for d in diags}
    return [f"expected {c}, got {sorted(codes) or 'nothing'}" for c in expected_codes(path) if c not in codes]


def _inside(text: str, line: int, col: int) -> bool:
    lines = text.split("\n")
    return 1 <= line <= len(lines) and 1 <= col <= len(lines[line - 1]) + 1


def span_problems(path: Path, diags) -> list[str]:
    """Empty messages, and spans (primary and labels) that do not lie inside their file."""
    out = []
    if not diags:
        out.append("no diagnostics at all")
    for d in diags:
        if not d.message.strip():
            out.append(f"{d.code} has an empty message")
        if d.span is None:
            if d.file != relpath(path):
                out.append(f"{d.code} has no span and names {d.file!r}")
            continue
        for span in [d.span, *(lab.span for lab in d.labels)]:
            file = ROOT / span.path
            if not file.is_file() or not (file == path or file.parent == INVALID / "data"):
                out.append(f"{d.code} points into {span.path}, which is not this file or its data")
                continue
            text = file.read_text(encoding="utf-8")
            end_line, end_col = span.end_line_col()
            if not (0 <= span.start <= span.end <= len(text)):
                out.append(f"{d.code} span {span} (offsets {span.start}-{span.end}) runs outside the "
                           f"{len(text)} characters of {span.path}")
            elif not (_inside(text, span.line, span.column) and _inside(text, end_line, end_col)):
                out.append(f"{d.code} span {span} is not inside {span.path}")
    return out


def exact_span_problems(path: Path, diags) -> list[str]:
    found = [(d.code, d.span.text()) for d in diags if d.span is not None]
    return [f"no {code} on {text!r} (carets: {[t for c, t in found if c == code]})"
            for code, text in EXACT_SPANS.get(path.stem, []) if (code, text) not in found]


def leaks(diags) -> list[str]:
    out = []
    for d in diags:
        for text in (d.message, d.label, d.hint, *(lab.message for lab in d.labels)):
            if _LEAKS.search(text or ""):
                out.append(f"{d.code}: internal name in {text!r}")
    return out


def crash(result) -> list[str]:
    return [f"the checker crashed: {type(result).__name__}: {result}"] if isinstance(result, Exception) else []


def expect_clean(path: Path, problems: list[str]) -> None:
    """Assert no problems; for a KNOWN_BUGS file, xfail while its bug reproduces."""
    if path.stem in KNOWN_BUGS and problems:
        pytest.xfail(f"known bug: {KNOWN_BUGS[path.stem]} -- " + "; ".join(problems))
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invalid_program(path: Path, at_root, snapshot):
    result = run_check(path)
    if path.stem in KNOWN_BUGS:
        problems = crash(result) or (missing_codes(path, result) + span_problems(path, result)
                                     + exact_span_problems(path, result) + leaks(result))
        expect_clean(path, problems)  # xfails while the bug is there; a known bug is never snapshotted
        pytest.fail(f"{path.stem} is clean now: remove it from KNOWN_BUGS and run with --snapshot-update")
    expect_clean(path, crash(result))
    diags = result
    expect_clean(path, missing_codes(path, diags))

    text = "\n\n".join(render_text(d, colour=False) for d in diags)
    data = report_json(diags, [relpath(path)])
    assert text == snapshot(name="text")
    assert data == snapshot(name="json")


def test_corpus_covers_every_code():
    assert len(FILES) >= 48
    covered = {c for p in FILES for c in expected_codes(p)}
    unknown = covered - set(REGISTRY)
    assert not unknown, f"headers name codes that are not in the registry: {sorted(unknown)}"
    plan_codes = {c for c in REGISTRY if c[1:3] == "05"}  # reported by `octoc plan`: see tests/test_plan.py
    missing = set(REGISTRY) - covered - plan_codes
    assert not missing, f"no corpus file expects {sorted(missing)}"


def test_corpus_file_names():
    assert all(re.fullmatch(r"\d{3}_[a-z0-9_]+\.octo", p.name) for p in FILES)
    numbers = [p.name[:3] for p in FILES]
    assert len(set(numbers)) == len(numbers), "two corpus files share a number"
    assert set(KNOWN_BUGS) <= {p.stem for p in FILES}, "KNOWN_BUGS names a file that does not exist"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_messages_and_spans(path: Path, at_root):
    result = run_check(path)
    expect_clean(path, crash(result) or span_problems(path, result) + exact_span_problems(path, result))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_no_internal_names_leak(path: Path, at_root):
    result = run_check(path)
    expect_clean(path, crash(result) or leaks(result))
