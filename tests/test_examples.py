"""Every example in examples/ checks clean (no errors and no warnings) and runs to the end on the emulator.

The examples are the language's showcase (and what users copy from), so a
change to the checker that starts rejecting or warning about one of them is
either a regression or a deliberate change that must update the example too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from octo.compiler.base.render import render_text
from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))


def test_examples_are_present():
    names = {p.name for p in EXAMPLES}
    assert {"drunken_sailor.octo", "npc_dialogue.octo", "blackjack.octo", "support_replies.octo",
            "draft_review.octo"} <= names


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


def test_idea_stories_plans_its_children_and_runs_to_the_end(tmp_path, capsys):
    """The two-stage fan-out: 4 topics × 3 to 5 ideas is 16 stories expected, 20 at worst; the run writes one
    story per idea the emulator suggested, grouped back by topic."""
    from octo.cli.main import main

    path = ROOT / "examples" / "idea_stories.octo"
    plan = json.loads(_octoc("plan", str(path.relative_to(ROOT)), "--format", "json").stdout)["plan"]
    steps = {s["name"]: s for s in plan["steps"]}
    assert steps["idea"]["fanout"]["children"] == {"expected": 16, "worst": 20}
    assert steps["story"]["scope"] == "idea" and steps["story"]["units"] == {"count": 16, "exact": False, "worst": 20}
    assert main(["run", str(path), "--provider", "emulator", "--run-dir", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    fanout = report["fanouts"][0]
    assert report["states"] == {"done": 4, "failed": 0, "pending": 0}
    assert 12 <= fanout["children"] <= 20 and fanout["states"]["done"] == fanout["children"]
    groups = report["aggregates"][0]["groups"]
    assert len(groups) == 4 and sum(g["metrics"]["stories"] for g in groups) == fanout["children"]
    assert all(3 <= g["metrics"]["stories"] <= 5 for g in groups)


def test_model_comparison_plans_each_model_and_runs_to_the_end(tmp_path, capsys):
    """The A/B evaluation: two models of two providers in ONE generate step, 8 questions each; the run sends one
    batch per model, answers each unit with its own contender's model, and the report compares the two."""
    import sqlite3

    from octo.cli.main import main

    path = ROOT / "examples" / "model_comparison.octo"
    plan = json.loads(_octoc("plan", str(path.relative_to(ROOT)), "--format", "json").stdout)["plan"]
    answer = next(s for s in plan["steps"] if s["name"] == "answer")
    models = ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]
    assert answer["models"] == models and answer["model_from"]["text"] == "unit.contender.model"
    assert [(m["model"], m["units"]["count"]) for m in answer["per_model"]] == [(models[0], 8), (models[1], 8)]
    assert main(["run", str(path), "--provider", "emulator", "--run-dir", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["results", str(tmp_path / "run")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 16 and all(r["state"] == "done" for r in rows)
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    try:
        sent = dict(db.execute("SELECT u.id, json_extract(a.request, '$.provider') || ':' || json_extract(a.request, '$.model') "
                               "FROM attempts a JOIN units u ON u.pos = a.unit WHERE a.step = 'answer'").fetchall())
        batches = sorted(db.execute("SELECT step, provider, requests FROM batches WHERE step = 'answer'").fetchall())
    finally:
        db.close()
    assert all(sent[r["unit"]] == r["model"] for r in rows)  # each unit asked its own contender's model
    assert batches == [("answer", "anthropic", 8), ("answer", "openai", 8)]  # one batch per model
    assert main(["report", str(tmp_path / "run"), "--format", "json"]) == 0
    groups = json.loads(capsys.readouterr().out)["aggregates"][0]["groups"]
    assert sorted((g["by"]["model"], g["units"]) for g in groups) == sorted((m, 8) for m in models)


def _fewer_replicas(text: str, most: int = 20) -> str:
    """The example with at most ``most`` replicas per row: the same pipeline, run in seconds."""
    return re.sub(r"^(\s*repeat:\s*)(\d+)", lambda m: m.group(1) + str(min(int(m.group(2)), most)), text, flags=re.M)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_to_the_end_on_the_emulator(path: Path, tmp_path: Path, capsys):
    """In this process (the SDKs are imported once for all examples), every step of every unit finished."""
    from octo.cli.exitcodes import DONE
    from octo.cli.main import main

    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")  # its data files, beside it as in examples/
    copy = tmp_path / path.name
    copy.write_text(_fewer_replicas(path.read_text()))
    code = main(["run", str(copy), "--provider", "emulator", "--mode", "realtime", "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert code in DONE, out.out + out.err  # synthetic answers may fail units and expectations: the run still ends
    assert main(["status", str(tmp_path / "run"), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "done"
    assert all(step.get("pending", 0) == 0 for step in status["steps"]), status["steps"]
