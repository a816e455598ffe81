"""`octoc run --provider emulator --answers FILE`: a dry run whose `validate` rules random answers cannot meet
(runtime/answersfile.py, runtime/scripted.py; docs/run.md "Scripted answers"). Each run goes through octoc, the
real SDKs and the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from octo.cli.main import main

ROOT = Path(__file__).resolve().parent.parent

PIPELINE = """octo: 1
name: questions
seed: 5
data:
  topics: [tide, lantern, harbour, gull, keel, rope]
units:
  for: {topic: topics}
steps:
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Ask one question about the {{ unit.topic }}."
      output: {question: str}
    retries: 1
    validate:
      - rule: len(question) > 1 and question[len(question) - 1] == '?'
        message: "a question ends with '?': {{ question }}"
  grade:
    judge:
      of: ask
      model: anthropic:claude-haiku-4-5
      prompt: "Is this a good question about the {{ unit.topic }}? {{ ask.question }}"
      output: {good: bool, why: str}
      pass: good
      attempts: 2
  greet:
    generate:
      model: gemini:gemini-2.5-flash
      prompt: "Greet the {{ unit.topic }} in one word."
    validate:
      - rule: text in ['Ahoy!', 'Hello!']
"""

ANSWERS = """# every question ends with '?', every grade passes, greetings drawn from two
ask:
  template: |
    {"question": "Who keeps the {{ unit.topic }} {{ 'tonight' if attempt.try == 1 else 'now' }}?"}
grade:
  answer: {good: true, why: clear and short}
greet:
  choose: ["Ahoy!", "Hello!"]
"""


def write(tmp_path: Path, answers: str = ANSWERS) -> tuple[Path, Path]:
    pipeline, script = tmp_path / "questions.octo", tmp_path / "answers.yaml"
    pipeline.write_text(PIPELINE)
    script.write_text(answers)
    return pipeline, script


def status(run_dir: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["status", str(run_dir), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def requests_per_step(run_dir: Path) -> dict:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return dict(db.execute("SELECT step, count(*) FROM attempts GROUP BY step").fetchall())
    finally:
        db.close()


@pytest.mark.parametrize("mode", ["batch", "realtime"])
def test_a_pipeline_random_answers_cannot_pass_ends_with_every_unit_done(tmp_path, capsys, mode):
    pipeline, script = write(tmp_path)
    code = main(["run", str(pipeline), "--provider", "emulator", "--answers", str(script), "--mode", mode,
                 "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    data = status(tmp_path / "run", capsys)
    assert data["state"] == "done" and data["failed_units"] == 0
    assert all(s["done"] == 6 for s in data["steps"]), data["steps"]
    assert requests_per_step(tmp_path / "run") == {"ask": 6, "grade": 6, "greet": 6}  # nothing retried
    assert main(["results", str(tmp_path / "run"), "--step", "ask"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["question"] for r in rows) == sorted(f"Who keeps the {t} tonight?" for t in
                                                         ["tide", "lantern", "harbour", "gull", "keel", "rope"])


def test_without_the_answers_the_same_pipeline_fails_its_units(tmp_path, capsys):
    pipeline, _ = write(tmp_path)
    assert main(["run", str(pipeline), "--provider", "emulator", "--mode", "realtime",
                 "--run-dir", str(tmp_path / "run")]) == 6  # UNITS_FAILED: random prose never ends with '?'
    assert status(tmp_path / "run", capsys)["failed_units"] == 6


def test_the_example_answers_file_dry_runs_support_replies_with_every_unit_done(tmp_path, capsys):
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    shutil.copy(ROOT / "examples" / "support_replies.octo", tmp_path)
    code = main(["run", str(tmp_path / "support_replies.octo"), "--provider", "emulator",
                 "--answers", str(ROOT / "examples" / "support_replies.answers.yaml"), "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err  # every expectation met, too
    data = status(tmp_path / "run", capsys)
    assert data["state"] == "done" and data["failed_units"] == 0 and data["units"] == 12


def test_the_answers_are_kept_on_resume_and_a_template_failing_for_one_unit_fails_only_it(tmp_path, capsys):
    broken = ANSWERS.replace("{{ 'tonight' if attempt.try == 1 else 'now' }}",
                             "{{ 'tonight' if unit.topic != 'gull' else 1 // 0 }}")
    pipeline, script = write(tmp_path, broken)
    run_dir = tmp_path / "run"
    assert main(["run", str(pipeline), "--provider", "emulator", "--answers", str(script), "--mode", "realtime",
                 "--max-in-flight", "1", "--run-dir", str(run_dir)]) == 6
    data = status(run_dir, capsys)
    assert data["failed_units"] == 1  # the gull's template divided by zero: its unit failed, the run went on
    assert main(["show", str(run_dir), "gull", "--format", "json"]) == 0
    shown = capsys.readouterr().out
    assert "division by zero" in shown.lower() and "answers.yaml:4:" in shown  # where in the file
    settings = json.loads(sqlite3.connect(run_dir / "run.db").execute(
        "SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
    assert settings["answers"] == str(script.resolve())
    script.write_text(ANSWERS)  # fixed: a retry of the failed unit on resume uses the file again
    assert main(["retry", str(run_dir)]) == 0
    capsys.readouterr()
    assert status(run_dir, capsys)["failed_units"] == 0


@pytest.mark.parametrize("answers, expected", [
    ("asks:\n  answer: {question: 'Why?'}\n", "answers.yaml:1:1: 'asks' is not a step that asks a model; did you mean 'ask'?"),
    ("ask:\n  answer: '{not json'\n", "answers.yaml:2:11: the answer of step 'ask' is a string that does not parse as JSON"),
    ("ask:\n  template: '{{ unit.topic '\n", "answers.yaml:2:14: the template of step 'ask' does not compile"),
    ("ask:\n  answer: {question: x}\n  choose: []\n", "step 'ask' needs exactly one of"),
    ("ask: [1, 2\n", "E0001"),
    ("greet:\n  answer: {text: hi}\n", "answers.yaml:2:11: step 'greet' answers in free text"),
])
def test_a_bad_answers_file_is_refused_before_anything_runs(tmp_path, capsys, answers, expected):
    pipeline, script = write(tmp_path, answers)
    code = main(["run", str(pipeline), "--provider", "emulator", "--answers", str(script),
                 "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_answers_need_the_emulator_and_a_resume_takes_new_answers_only_on_it(tmp_path, capsys):
    pipeline, script = write(tmp_path)
    assert main(["run", str(pipeline), "--provider", "openai", "--answers", str(script)]) == 2
    assert "--answers needs --provider emulator" in capsys.readouterr().err
    run_dir = tmp_path / "run"
    assert main(["run", str(pipeline), "--provider", "emulator", "--run-dir", str(run_dir)]) == 6
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--answers", str(tmp_path / "nope.yaml")]) == 2
    assert "--answers: no file" in capsys.readouterr().err
    assert main(["run", "--resume", str(run_dir), "--answers", str(script)]) == 6  # taken; nothing left to run
    assert "--answers" in capsys.readouterr().out  # said on stdout, and kept for what the run does next
    assert main(["retry", str(run_dir)]) == 0  # the failed units asked again: the script answers them
    capsys.readouterr()
    assert status(run_dir, capsys)["failed_units"] == 0
