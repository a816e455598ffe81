"""Every example in examples/ checks clean: no errors and no warnings.

The examples are the language's showcase (and what users copy from), so a
change to the checker that starts rejecting or warning about one of them is
either a regression or a deliberate change that must update the example too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from octo.compiler.check import check_file
from octo.compiler.render import render_text
from octo.stdlib import default_language

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))


def test_examples_are_present():
    names = {p.name for p in EXAMPLES}
    assert {"drunken_sailor.octo", "npc_dialogue.octo", "blackjack.octo", "support_replies.octo"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_checks_clean(path: Path):
    result = check_file(str(path), default_language())
    rendered = "\n\n".join(render_text(d) for d in result.diagnostics)
    assert result.diagnostics == [], f"{path.name} is not clean:\n\n{rendered}"
    assert result.ok
    assert result.program is not None and result.program.steps


def _octoc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "octo", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_octoc_check_all_examples_exits_zero():
    proc = _octoc("check", *(str(p.relative_to(ROOT)) for p in EXAMPLES))
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    assert "internal error" not in output
    assert proc.returncode == 0, output
    assert "error[" not in proc.stdout and "warning[" not in proc.stdout, output


def test_octoc_check_all_examples_json_has_no_diagnostics():
    proc = _octoc("check", "--format", "json", *(str(p.relative_to(ROOT)) for p in EXAMPLES))
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["diagnostics"] == []
