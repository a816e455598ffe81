"""`export` with settings (docs/language.md, "Export"): `where:` filters rows, `octoc results DIR --export [PATH]`
writes JSONL or CSV through a temporary file and a rename, and units that failed or were skipped at a step the
export reads are left out unless `--all-units` (or `units: all`) asks for them. The chat-format fine-tuning
file is one `export` section."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from octo.compiler.frontend.check import check_file
from octo.runtime.reading import exportfile
from octo.stdlib import default_language

PIPELINE = """octo: 1
data:
  topics:
    - {id: rivers, n: 2}
    - {id: tides, n: 0}     # ratio divides by zero: the unit fails
    - {id: comets, n: 1}    # polish is skipped (`when`), and the export reads polish
    - {id: stars, n: 3}     # the scripted answer says keep: false
units:
  for: {topic: topics}
steps:
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "One question about {{ unit.topic.id }}."
      output: {question: str, answer: str, keep: bool}
  ratio:
    compute: {r: 1 / unit.topic.n}
  polish:
    when: unit.topic.n != 1
    compute: {text: "ask.answer + ' (' + str(ratio.r) + ')'"}
export:
  columns:
    messages: "[{'role': 'user', 'content': ask.question}, {'role': 'assistant', 'content': polish.text}]"
  where: ask.keep
  file: data/train.jsonl
UNITS"""

ANSWERS = """ask:
  template: |
    {"question": "Why {{ unit.topic.id }}?", "answer": "Because.", "keep": {{ 'false' if unit.topic.id == 'stars' else 'true' }}}
"""


def octoc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "octo", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    (folder / "qa.octo").write_text(PIPELINE.replace("UNITS", ""), encoding="utf-8")
    (folder / "answers.yaml").write_text(ANSWERS, encoding="utf-8")
    done = octoc("run", "qa.octo", "--provider", "emulator", "--answers", "answers.yaml", "--run-dir", "run", cwd=folder)
    assert (folder / "run" / "plan.json").is_file(), done.stderr
    return folder / "run"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_chat_format_file_from_one_export_section(run):
    out = octoc("results", "run", "--export", cwd=run.parent)
    assert out.returncode == 0, out.stderr
    assert "1 row written to run/data/train.jsonl" in out.stderr
    assert lines(run / "data" / "train.jsonl") == [
        {"messages": [{"role": "user", "content": "Why rivers?"}, {"role": "assistant", "content": "Because. (0.5)"}]}]


def test_failed_and_skipped_units_only_when_asked(run):
    out = octoc("results", "run", "--export", "all.jsonl", "--all-units", cwd=run.parent)
    assert out.returncode == 0, out.stderr
    rows = lines(run.parent / "all.jsonl")
    assert [r["messages"][0]["content"] for r in rows] == ["Why rivers?", "Why tides?", "Why comets?"]
    assert rows[1]["messages"][1]["content"] is None  # failed at ratio: no polish
    assert rows[2]["messages"][1]["content"] is None  # skipped at polish


def test_results_without_export_still_lists_every_unit(run):
    out = octoc("results", "run", cwd=run.parent)
    assert [json.loads(line)["state"] for line in out.stdout.splitlines()] == ["done", "failed", "done", "done"]


def test_csv_export_puts_lists_in_a_cell_as_json(run):
    out = octoc("results", "run", "--export", "out/train.csv", cwd=run.parent)
    assert out.returncode == 0, out.stderr
    [row] = list(csv.DictReader((run.parent / "out" / "train.csv").open(encoding="utf-8")))
    assert json.loads(row["messages"])[0] == {"role": "user", "content": "Why rivers?"}


def test_a_crash_while_writing_leaves_the_old_file(run, monkeypatch):
    target = run.parent / "keep.jsonl"
    target.write_text("old\n", encoding="utf-8")

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exportfile.os, "replace", crash)
    with pytest.raises(OSError):
        exportfile.write_export(run, target)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in run.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("args, says", [
    (["--export", "x.txt"], "must end in .jsonl or .csv"),
    (["--all-units"], "--all-units goes with --export"),
    (["--export", "--step", "ask"], "does not go with --step"),
])
def test_export_usage_errors(run, args, says):
    out = octoc("results", "run", *args, cwd=run.parent)
    assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr


def test_units_all_setting_keeps_every_unit(tmp_path):
    (tmp_path / "qa.octo").write_text(PIPELINE.replace("UNITS", "  units: all\n").replace("  where: ask.keep\n", ""),
                                      encoding="utf-8")
    done = octoc("run", "qa.octo", "--provider", "emulator", "--run-dir", "run", cwd=tmp_path)
    assert (tmp_path / "run" / "plan.json").is_file(), done.stderr
    assert len(list(exportfile.export_rows(tmp_path / "run"))) == 4


def codes(tmp_path: Path, export: str) -> list[str]:
    text = PIPELINE.split("export:")[0] + "export:\n" + export
    (tmp_path / "p.octo").write_text(text, encoding="utf-8")
    return [d.code for d in check_file(str(tmp_path / "p.octo"), default_language()).diagnostics]


@pytest.mark.parametrize("file", ["/tmp/train.jsonl", "../train.jsonl", "train.txt"])
def test_export_file_outside_the_run_or_of_another_format_is_e0115(tmp_path, file):
    assert "E0115" in codes(tmp_path, f"  columns: [ask.question]\n  file: '{file}'\n")


def test_where_must_be_a_bool(tmp_path):
    assert "E0207" in codes(tmp_path, "  columns: [ask.question]\n  where: ask.question\n")


def test_a_column_named_columns_in_the_plain_form_is_still_a_column(tmp_path):
    assert [c for c in codes(tmp_path, "  columns: ask.question\n") if c.startswith("E")] == []


def test_export_without_a_path_needs_a_file_setting(tmp_path):
    (tmp_path / "qa.octo").write_text(PIPELINE.replace("UNITS", "").replace("  file: data/train.jsonl\n", ""),
                                      encoding="utf-8")
    octoc("run", "qa.octo", "--provider", "emulator", "--run-dir", "run", cwd=tmp_path)
    out = octoc("results", "run", "--export", cwd=tmp_path)
    assert out.returncode == 2 and "say where to write" in out.stderr and not (tmp_path / "run" / "data").exists()


def test_export_of_a_pipeline_without_export_is_a_usage_error(tmp_path):
    (tmp_path / "p.octo").write_text("octo: 1\nunits: {repeat: 2}\nsteps:\n  s: {compute: {x: 1}}\n", encoding="utf-8")
    octoc("run", "p.octo", "--run-dir", "run", cwd=tmp_path)
    out = octoc("results", "run", "--export", "x.jsonl", cwd=tmp_path)
    assert out.returncode == 2 and "no `export` section" in out.stderr and not (tmp_path / "x.jsonl").exists()


def test_where_reads_one_fan_out_like_the_columns(tmp_path):
    text = """octo: 1
defaults:
  model: openai:gpt-4.1-mini
steps:
  lists:
    generate:
      prompt: "Three ideas and three names."
      output: {ideas: "list[str][3, 3]", names: "list[str][3, 3]"}
  idea:
    fanout: {each: lists.ideas}
  name:
    fanout: {each: lists.names}
export:
  columns: [idea.item]
  where: name.item != ''
"""
    (tmp_path / "p.octo").write_text(text, encoding="utf-8")
    assert "E0308" in [d.code for d in check_file(str(tmp_path / "p.octo"), default_language()).diagnostics]
