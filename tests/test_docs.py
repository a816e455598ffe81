"""The documentation stays in step with the implementation.

* docs/diagnostics.md has one `### CODE — title` section per registered code
  (and none for codes that do not exist), and each section's example triggers
  its code;
* every ```octo block in docs/language.md is a complete program that checks
  with no diagnostics at all;
* docs/language.md's built-in table lists every built-in function with its
  signature and meaning exactly as stdlib/builtins.py declares them;
* every test docs/run.md's Guarantees section names exists.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from octo.compiler.base.codes import REGISTRY, Severity
from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language
from octo.stdlib.builtins import FUNCTIONS

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LANGUAGE = (DOCS / "language.md").read_text(encoding="utf-8")
DIAGNOSTICS = (DOCS / "diagnostics.md").read_text(encoding="utf-8")

HEADING = re.compile(r"^###\s+([EW]\d{4})\b(.*)$", re.M)
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _blocks(text: str, info: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == info]


def _sections(text: str) -> dict[str, str]:
    """`### CODE — title` section bodies, keyed by code."""
    parts = re.split(r"^(?=### )", text, flags=re.M)
    out = {}
    for part in parts:
        m = HEADING.match(part)
        if m:
            out[m.group(1)] = part
    return out


def _check(tmp_path: pathlib.Path, name: str, text: str, plan: bool = False):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = check_file(str(path), default_language())
    if not plan or not result.ok:
        return result.diagnostics
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.planning.planner import build_plan

    reporter = Reporter()
    build_plan(result.program, default_language(), reporter)  # budget and cost codes come from the plan
    return result.diagnostics + reporter.sorted()


# --- (a) diagnostics.md documents exactly the registry -----------------------------


def test_every_code_has_a_heading_with_its_registry_title():
    headings = {code: rest for code, rest in HEADING.findall(DIAGNOSTICS)}
    missing = [code for code in REGISTRY if code not in headings]
    assert not missing, f"docs/diagnostics.md has no section for {missing}"
    for code, entry in REGISTRY.items():
        expected = f"### {code} — {entry.title}"
        assert re.search(rf"^{re.escape(expected)}[ \t]*$", DIAGNOSTICS, re.M), (
            f"expected the heading '{expected}' in docs/diagnostics.md")


def test_no_heading_names_an_unknown_code():
    unknown = [code for code, _ in HEADING.findall(DIAGNOSTICS) if code not in REGISTRY]
    assert not unknown, f"docs/diagnostics.md documents codes that are not registered: {unknown}"


def test_each_code_is_documented_once():
    codes = [code for code, _ in HEADING.findall(DIAGNOSTICS)]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_section_states_the_severity(code):
    body = _sections(DIAGNOSTICS)[code]
    word = "Error" if REGISTRY[code].severity is Severity.ERROR else "Warning"
    assert f"**{word}" in body, f"the section of {code} should say it is an {word.lower()}"


def _example_needs(code: str, tmp_path: pathlib.Path, monkeypatch) -> None:
    """E0012's example reads a data file over the size limit: lower the limit rather than write 64 MiB."""
    if code == "E0012":
        monkeypatch.setattr("octo.compiler.frontend.datapath.MAX_DATA_FILE_BYTES", 16)
        (tmp_path / "big.csv").write_text("id\n" + "".join(f"r{i}\n" for i in range(10)), encoding="utf-8")
    if code in ("E0113", "E0114"):  # declared column types are checked against the file
        (tmp_path / "answers.csv").write_text("id,reference,score\na1,42,3\na2,see page 3,n/a\n", encoding="utf-8")


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_section_example_triggers_its_code(code, tmp_path, monkeypatch):
    _example_needs(code, tmp_path, monkeypatch)
    examples = _blocks(_sections(DIAGNOSTICS)[code], "yaml")
    assert examples, f"the section of {code} has no ```yaml example"
    found = {d.code for d in _check(tmp_path, "example.octo", examples[0], plan=code[1:3] == "05")}
    assert code in found, f"the example of {code} reports {sorted(found)} instead"


# --- (b) complete programs in language.md check clean ---------------------------------

OCTO_BLOCKS = _blocks(LANGUAGE, "octo")


def test_language_md_has_complete_programs():
    assert len(OCTO_BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(OCTO_BLOCKS)))
def test_octo_block_checks_clean(index, tmp_path):
    block = OCTO_BLOCKS[index]
    diags = _check(tmp_path, f"block{index}.octo", block)
    shown = "\n".join(f"{d.code} {d.span.line if d.span else '-'}:{d.span.column if d.span else '-'} {d.message}"
                      for d in diags)
    first = block.strip().splitlines()[0]
    assert not diags, f"```octo block {index} ({first!r}) is not clean:\n{shown}"


# --- (c) the built-in table -----------------------------------------------------------


def _builtin_section() -> str:
    assert "\n## Built-in functions\n" in LANGUAGE, "docs/language.md has no '## Built-in functions' section"
    return LANGUAGE.split("\n## Built-in functions\n", 1)[1].split("\n## ", 1)[0]


def _builtin_rows() -> dict[str, list[str]]:
    """`name` → the other cells of its row in the built-in table."""
    rows = {}
    for line in _builtin_section().splitlines():
        m = re.match(r"^\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
        if m:
            rows.setdefault(m.group(1), [c.strip() for c in m.group(2).split("|")])
    return rows


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_builtin_is_in_the_table(name):
    fn = FUNCTIONS[name]
    row = _builtin_rows().get(name)
    assert row is not None, f"built-in {name}() is missing from docs/language.md's table"
    assert row[0] == f"`{fn.signature}`", f"{name}: the table says {row[0]}, builtins.py says `{fn.signature}`"
    assert row[1] == fn.doc, f"{name}: the table says {row[1]!r}, builtins.py says {fn.doc!r}"


def test_table_names_no_unknown_function():
    named = re.findall(r"^\|\s*`(\w+)`\s*\|\s*`\w+\(", _builtin_section(), re.M)
    assert named, "no built-in table found under '## Built-in functions'"
    assert sorted(set(named) - set(FUNCTIONS)) == []


# --- cross references ------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_codes_named_in_the_docs_exist():
    for name in ("language.md", "cli.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        unknown = sorted(set(re.findall(r"\b([EW]0\d{3})\b", text)) - set(REGISTRY))
        assert not unknown, f"docs/{name} names codes that are not registered: {unknown}"


def test_links_into_diagnostics_md_resolve():
    anchors = {_slug(h) for h in re.findall(r"^#{1,6} (.*)$", DIAGNOSTICS, re.M)}
    for name in ("language.md", "cli.md", "diagnostics.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        prefix = "" if name == "diagnostics.md" else "diagnostics.md"
        for anchor in re.findall(rf"\]\({re.escape(prefix)}#([\w-]+)\)", text):
            assert anchor in anchors, f"docs/{name} links to diagnostics.md#{anchor}, which does not exist"


def test_links_inside_language_md_resolve():
    anchors = {_slug(h) for h in re.findall(r"^#{1,6} (.*)$", LANGUAGE, re.M)}
    for anchor in re.findall(r"\]\(#([\w-]+)\)", LANGUAGE):
        assert anchor in anchors, f"docs/language.md links to #{anchor}, which is not a heading"


def test_every_test_named_in_the_guarantees_exists():
    """docs/run.md's Guarantees section backs each promise with a named test: the names must be real."""
    text = (DOCS / "run.md").read_text(encoding="utf-8")
    section = text.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(test_\w+)`", section))
    assert len(named) > 30
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)\(", path.read_text(encoding="utf-8"), re.M))
    assert named - defined == set()
