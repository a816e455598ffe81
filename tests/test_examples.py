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
from planvsemu import cut_data_files
from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))


def test_examples_are_present():
    names = {p.name for p in EXAMPLES}
    assert {"drunken_sailor.octo", "npc_dialogue.octo", "blackjack.octo", "support_replies.octo",
            "draft_review.octo", "synthetic_qa.octo", "ab_evaluation.octo", "classify_documents.octo"} <= names


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
    cut_data_files(tmp_path / "data")  # classify_documents on its first 200 documents (all 5,000: a test below)
    copy = tmp_path / path.name
    copy.write_text(_fewer_replicas(path.read_text()))
    code = main(["run", str(copy), "--provider", "emulator", "--mode", "realtime", "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert code in DONE, out.out + out.err  # synthetic answers may fail units and expectations: the run still ends
    assert main(["status", str(tmp_path / "run"), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["state"] == "done"
    assert all(step.get("pending", 0) == 0 for step in status["steps"]), status["steps"]


def _run_with_answers(name: str, tmp_path: Path, capsys, *extra: str) -> Path:
    """Run examples/NAME.octo on the emulator with its scripted answers (examples/NAME.answers.yaml)."""
    from octo.cli.exitcodes import DONE
    from octo.cli.main import main

    run = tmp_path / "run"
    code = main(["run", str(ROOT / "examples" / f"{name}.octo"), "--provider", "emulator",
                 "--answers", str(ROOT / "examples" / f"{name}.answers.yaml"), "--run-dir", str(run), *extra])
    out = capsys.readouterr()
    assert code in DONE, out.out + out.err
    return run


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_synthetic_qa_skips_duplicates_and_exports_accepted_pairs_as_chat(tmp_path, capsys):
    """6 topics × 4 candidates; candidates 2 and 3 repeat 0 and 1 in other letter case, so `unique_by` skips 12 of
    24 answers; the grader fails the 2 about backups, so train.jsonl holds the 10 accepted pairs, in chat format."""
    from octo.cli.main import main

    run = _run_with_answers("synthetic_qa", tmp_path, capsys)
    assert main(["results", str(run), "--step", "answer"]) == 0
    rows = {r["unit"]: r for r in _json_lines(capsys.readouterr().out)}
    skipped = {u: r["reason"] for u, r in rows.items() if r["state"] == "skipped"}
    topics = ("refunds", "export", "sso", "invoices", "seats", "backups")
    assert skipped == {f"{t}-r{n}": f"duplicate of {t}-r{n - 2}" for t in topics for n in (2, 3)}
    assert sum(r["state"] == "done" for r in rows.values()) == 12
    assert main(["results", str(run), "--export"]) == 0
    capsys.readouterr()
    pairs = _json_lines((run / "train.jsonl").read_text())
    assert len(pairs) == 10 and all(list(p) == ["messages"] for p in pairs)
    assert all([m["role"] for m in p["messages"]] == ["system", "user", "assistant"] for p in pairs)
    assert not any("backups" in p["messages"][1]["content"] for p in pairs)  # graded 2: left out by `where`


def test_ab_evaluation_keeps_numeric_references_as_text_and_compares_the_variants(tmp_path, capsys):
    """The CSV's `reference` column mixes numbers and words and is declared `str`: "8" stays text and an exact
    match works for every row. Variant a misses its 5 word answers (accuracy 0.5, its target), b none."""
    from octo.cli.main import main

    run = _run_with_answers("ab_evaluation", tmp_path, capsys)
    assert main(["results", str(run)]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert len(rows) == 20 and all(r["state"] == "done" for r in rows)
    spider = next(r for r in rows if r["question"] == "q01")
    assert spider["reference"] == "8" and spider["exact"] is True
    assert main(["report", str(run), "--format", "json"]) == 0
    groups = json.loads(capsys.readouterr().out)["aggregates"][0]["groups"]
    accuracy = {g["by"]["variant"]: g["metrics"]["accuracy"] for g in groups}
    assert accuracy == {"a": 0.5, "b": 1.0}
    assert all(e["passed"] for g in groups for e in g["expects"])
    assert groups[0]["expects"][0]["values"] == {"accuracy": 0.5, "target": 0.5}  # `target` is a `by` key


def test_classify_documents_labels_5000_documents(tmp_path, capsys):
    """All 5,000 documents: regex and word counts run locally on each, the ones marked spam send no request, the
    rest are labelled in one batch with every validate rule met; the groups add up to 5,000."""
    import sqlite3

    from octo.cli.main import main

    data = ROOT / "examples" / "data" / "documents.jsonl"
    assert len(data.read_text(encoding="utf-8").splitlines()) == 5000
    run = _run_with_answers("classify_documents", tmp_path, capsys)
    assert main(["report", str(run), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["states"] == {"done": 5000, "failed": 0, "pending": 0}
    groups = {g["by"]["label"]: g["metrics"]["documents"] for g in report["aggregates"][0]["groups"]}
    assert sum(groups.values()) == 5000 and set(groups) == {"billing", "bug", "feature", "praise", "spam"}
    db = sqlite3.connect(run / "run.db")
    try:
        sent = db.execute("SELECT COUNT(DISTINCT unit) FROM attempts WHERE step = 'label'").fetchone()[0]
    finally:
        db.close()
    assert sent == 5000 - groups["spam"]  # spam is found by the regex checks and never sent


def test_documents_jsonl_is_what_its_script_writes(tmp_path):
    """examples/data/documents.jsonl is generated (deterministically) by the script beside it."""
    script = ROOT / "examples" / "data" / "make_documents.py"
    copy = tmp_path / "make_documents.py"
    shutil.copy(script, copy)
    subprocess.run([sys.executable, str(copy)], check=True, timeout=60)
    assert (tmp_path / "documents.jsonl").read_bytes() == (ROOT / "examples" / "data" / "documents.jsonl").read_bytes()
