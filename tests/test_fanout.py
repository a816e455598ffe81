"""Fan-out: a `fanout` step expands a list into child units; the steps that read it run over them.

Runs are driven in this process (``octo.cli.main.main``) on small local pipelines, and in
subprocesses where a test kills the process (``OCTO_CRASHPOINT``, runtime/base/crashpoints.py).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys

import pytest

from conftest import ROOT
from octo.cli.exitcodes import DONE
from octo.cli.main import main
from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.render import render_text
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime.work import fanout
from octo.runtime.base.encoding import decode_output
from octo.runtime.work.fanout import child_id, child_ids
from octo.runtime.base.store import Store
from octo.stdlib import default_language

# tides: 3 ideas; knots: an empty list; gulls: skipped by `when`; storms: 7 ideas, over `max`; calm: a null list.
# `scene` fans out again from each of the first two stories of a topic.
LOCAL = """octo: 1
name: fan
seed: {seed}
data:
  topics:
    - {{id: tides, name: the tides, n: 3}}
    - {{id: knots, name: knots, n: 0}}
    - {{id: gulls, name: gulls, n: 2}}
    - {{id: storms, name: storms, n: 7}}
    - {{id: calm, name: calm, n: -1}}
units:
  for: {{topic: topics}}
steps:
  ideas:
    compute:
      list: "[unit.topic.name + ' ' + str(i) for i in range(unit.topic.n)] if unit.topic.n >= 0 else null"
      label: upper(unit.topic.name)
  idea:
    fanout:
      each: ideas.list
      max: 5
    when: unit.topic.id != 'gulls'
  story:
    compute:
      text: "idea.item + ' by ' + ideas.label"
      who: unit.id
      topic: unit.topic.name
      parent: idea.parent
      roll: randint(1, 1000000)
  scene:
    fanout:
      each: "[story.text + '/' + str(j) for j in range(2)]"
      max: 2
    when: idea.index < 2
  line:
    compute:
      s: "scene.item + ' @ ' + idea.item + ' # ' + unit.id + ' ^ ' + scene.parent"
  per_topic:
    aggregate:
      by: [idea.parent]
      metrics:
        stories: count()
        rolls: sum(story.roll)
  lines_per_topic:
    aggregate:
      by: [unit.topic.id]
      metrics: {{lines: count()}}
"""


def run(tmp_path, text: str, name: str = "run", *args: str):
    (tmp_path / name).mkdir()
    source = tmp_path / name / "run.octo"  # one file name: reasons quote where the pipeline is
    source.write_text(text)
    run_dir = tmp_path / name / "run"
    assert main(["run", str(source), "--run-dir", str(run_dir), *args]) in DONE  # finished (units may fail)
    return run_dir


def read(run_dir, *args: str, capsys) -> str:
    capsys.readouterr()
    code = main([*args[:1], str(run_dir), *args[1:]])
    assert code in DONE if args[0] == "report" else code == 0  # report exits with the run's verdict
    return capsys.readouterr().out


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def stored(run_dir, step: str) -> dict[str, tuple]:
    """unit id → (state, output, reason) of ``step``, as stored."""
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute("SELECT u.id, r.state, r.output, r.reason FROM results r JOIN units u ON u.pos = r.unit "
                          "WHERE r.step = ?", (step,)).fetchall()
        return {uid: (state, decode_output(output) if output is not None else None, reason)
                for uid, state, output, reason in rows}
    finally:
        db.close()


def units(run_dir) -> list[tuple]:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute("SELECT pos, idx, id, origin, parent FROM units ORDER BY pos").fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return run(tmp_path_factory.mktemp("fan"), LOCAL.format(seed=5))


# --- ids ----------------------------------------------------------------------------------------

SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_child_ids_are_readable_stable_unique_and_safe():
    assert child_id("tides", "idea", 2) == "tides-idea-2"
    assert child_id("tides-idea-2", "scene", 0) == "tides-idea-2-scene-0"
    long_parent = "x" * 60
    ids = {child_id(p, f, i) for p in ("tides", long_parent, long_parent + "y", "a" * 64)
           for f in ("idea", "idea_1", "i" * 40) for i in range(300)}
    assert len(ids) == 4 * 3 * 300  # no two (parent, fan-out, index) share an id
    assert all(SAFE_ID.match(i) for i in ids)
    assert child_id(long_parent, "idea", 7) == child_id(long_parent, "idea", 7)  # a pure function: same on resume
    assert child_id(long_parent, "idea", 7).startswith("x" * 40) and len(child_id(long_parent, "idea", 7)) == 64


def test_a_child_id_the_run_already_has_takes_its_hashed_form():
    # Unreachable with ids octo makes (a unit of the run has as many `-` parts as every other one, a child two
    # more than its parent): the guard that keeps the store's unique ids from ever stopping a fan-out.
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE units (pos INTEGER PRIMARY KEY, idx INTEGER, id TEXT UNIQUE, origin TEXT, parent INTEGER)")
    db.execute("INSERT INTO units VALUES (0, 0, 'a-idea-1', '', NULL)")
    ids, others = child_ids(db, "idea", [("a", 3), ("b", 2)])
    assert ids[0] == "a-idea-0" and ids[2] == "a-idea-2" and others == ["b-idea-0", "b-idea-1"]
    assert ids[1] != "a-idea-1" and SAFE_ID.match(ids[1]) and ids[1] == child_id("a", "idea", 1, 1)
    db.execute("INSERT INTO units VALUES (1, 0, ?, '', NULL)", (ids[1],))
    again = child_ids(db, "idea", [("a", 3)])[0][1]
    assert again not in ("a-idea-1", ids[1]) and SAFE_ID.match(again)


# --- what children see, and what runs over them -------------------------------------------------------


def test_children_carry_the_parents_fields_and_see_its_outputs_as_their_own(local_run):
    stories = stored(local_run, "story")
    assert sorted(stories) == ["tides-idea-0", "tides-idea-1", "tides-idea-2"]  # one per item, nothing for the others
    state, out, _ = stories["tides-idea-1"]
    assert state == "done"
    assert out["text"] == "the tides 1 by THE TIDES"  # its item, and its parent's `ideas` as its own
    assert out["who"] == "tides-idea-1" and out["topic"] == "the tides" and out["parent"] == "tides"
    items = stored(local_run, "idea")
    assert items["tides-idea-2"][1] == {"item": "the tides 2", "index": 2, "parent": "tides"}
    assert items["tides"][1] == {"children": 3}


def test_a_nested_fanout_expands_each_child_and_reads_every_level(local_run):
    lines = stored(local_run, "line")
    assert sorted(lines) == ["tides-idea-0-scene-0", "tides-idea-0-scene-1", "tides-idea-1-scene-0", "tides-idea-1-scene-1"]
    assert lines["tides-idea-1-scene-0"][1]["s"] == ("the tides 1 by THE TIDES/0 @ the tides 1 # tides-idea-1-scene-0"
                                                    " ^ tides-idea-1")
    assert stored(local_run, "scene")["tides-idea-2"][0] == "skipped"  # its `when` (idea.index < 2) reads its parent


def test_child_units_are_stored_with_their_origin_parent_and_the_parents_place(local_run):
    rows = {uid: (pos, idx, origin, parent) for pos, idx, uid, origin, parent in units(local_run)}
    tides = rows["tides"]
    assert tides[2:] == ("", None)
    for i in range(3):
        pos, idx, origin, parent = rows[f"tides-idea-{i}"]
        assert (idx, origin, parent) == (tides[1], "idea", tides[0])
    first = rows["tides-idea-0"][0]
    assert [rows[f"tides-idea-{i}"][0] for i in range(3)] == [first, first + 1, first + 2]  # in item order
    assert rows["tides-idea-0-scene-1"][2:] == ("scene", rows["tides-idea-0"][0])


def test_aggregates_group_children_by_parent(local_run, capsys):
    data = json.loads(read(local_run, "report", "--format", "json", capsys=capsys))
    per_topic = next(a for a in data["aggregates"] if a["step"] == "per_topic")
    assert [(g["by"], g["units"], g["metrics"]["stories"]) for g in per_topic["groups"]] == [({"parent": "tides"}, 3, 3)]
    rolls = [out["roll"] for _, out, _ in stored(local_run, "story").values()]
    assert per_topic["groups"][0]["metrics"]["rolls"] == sum(rolls)
    assert len(set(rolls)) == 3  # each child draws from its own stream


def test_a_parent_that_fails_or_is_skipped_has_no_children_and_is_reported(local_run, capsys):
    idea = stored(local_run, "idea")
    assert idea["knots"] == ("done", {"children": 0}, None)  # an empty list: no children, not a failure
    assert idea["gulls"][0] == "skipped" and idea["calm"][0] == "skipped"  # `when` false; a null list
    state, _, reason = idea["storms"]
    assert state == "failed" and reason.startswith("`each` gave 7 items, more than `max: 5` in `ideas.list` at ")
    assert reason.endswith("run.octo:20:13")  # where `each` is written
    assert not [u for u in units(local_run) if u[2].startswith(("knots-", "gulls-", "storms-", "calm-"))]
    data = json.loads(read(local_run, "report", "--format", "json", capsys=capsys))
    assert data["units"] == 5 and data["states"] == {"done": 4, "failed": 1, "pending": 0}
    assert data["fanouts"][0] == {"step": "idea", "children": 3, "units": {"done": 2, "failed": 1, "skipped": 2,
                                  "blocked": 0, "pending": 0}, "states": {"done": 3, "failed": 0, "pending": 0}}
    text = read(local_run, "report", capsys=capsys)
    assert "idea: 3 child units of 2 units — 3 done, 0 failed, 0 pending (2 units skipped, 1 unit failed: no children)" in text
    assert "1 × idea: fan-out: more items than `max: 5` from `ideas.list` at " in text
    assert "      storms: `each` gave 7 items, more than `max: 5`\n" in text


VALIDATED = """octo: 1
name: fan-rules
seed: 1
data:
  topics: [{id: ok, words: [a, b]}, {id: long, words: [a, bbbb, c]}]
units:
  for: {topic: topics}
steps:
  idea:
    fanout: {each: unit.topic.words}
    validate:
      - {rule: "len(item) < 3", message: "{{ item }} from {{ parent }} is too long"}
"""


def test_an_item_that_breaks_a_validate_rule_fails_its_parent_with_the_items_index_and_the_rule(tmp_path):
    run_dir = run(tmp_path, VALIDATED)
    idea = stored(run_dir, "idea")
    assert idea["ok"] == ("done", {"children": 2}, None)
    state, _, reason = idea["long"]
    assert state == "failed"
    assert reason.startswith("item 1: bbbb from long is too long (validate: `len(item) < 3`)")
    assert reason.endswith("run.octo:12:17")  # where the rule is written
    assert not [u for u in units(run_dir) if u[2].startswith("long-")]


def test_status_counts_each_step_over_the_units_it_runs_over(local_run, capsys):
    data = json.loads(read(local_run, "status", "--format", "json", capsys=capsys))
    steps = {s["name"]: s for s in data["steps"]}
    assert data["units"] == 5 and data["state"] == "done"
    assert {k: steps["idea"][k] for k in ("units", "done", "failed", "skipped", "pending", "children")} == \
        {"units": 5, "done": 2, "failed": 1, "skipped": 2, "pending": 0, "children": 3}
    assert (steps["story"]["units"], steps["story"]["done"], steps["story"]["pending"]) == (3, 3, 0)
    assert (steps["scene"]["units"], steps["scene"]["done"], steps["scene"]["skipped"], steps["scene"]["children"]) == (3, 2, 1, 4)
    assert (steps["line"]["units"], steps["line"]["done"]) == (4, 4)
    assert "3 child units" in read(local_run, "status", capsys=capsys)


def test_results_have_a_row_per_leaf_unit_with_its_ancestors_steps(local_run, capsys):
    rows = jsonl(read(local_run, "results", capsys=capsys))
    assert [r["unit"] for r in rows] == ["tides-idea-0-scene-0", "tides-idea-0-scene-1", "tides-idea-1-scene-0",
                                         "tides-idea-1-scene-1", "tides-idea-2", "knots", "gulls", "storms", "calm"]
    leaf = rows[0]["steps"]
    assert list(leaf) == ["ideas", "idea", "story", "scene", "line"]
    assert leaf["ideas"]["output"]["label"] == "THE TIDES" and leaf["idea"]["output"]["item"] == "the tides 0"
    assert leaf["scene"]["output"] == {"item": "the tides 0 by THE TIDES/1", "index": 1, "parent": "tides-idea-0"} or \
        rows[1]["steps"]["scene"]["output"]["index"] == 1
    assert rows[4]["steps"]["scene"] == {"state": "skipped", "output": None, "reason": None}
    assert list(rows[5]["steps"]) == ["ideas", "idea"] and rows[5]["steps"]["idea"]["output"] == {"children": 0}
    assert rows[7]["state"] == "failed" and rows[7]["reason"].startswith("idea: `each` gave 7 items")
    by_step = jsonl(read(local_run, "results", "--step", "idea", capsys=capsys))
    assert [r["unit"] for r in by_step] == ["tides", "knots", "gulls", "storms", "calm"]
    assert by_step[0]["children"] == 3
    assert [r["unit"] for r in jsonl(read(local_run, "results", "--step", "story", capsys=capsys))] == \
        ["tides-idea-0", "tides-idea-1", "tides-idea-2"]


def test_export_columns_are_evaluated_on_the_leaf_rows(tmp_path, capsys):
    text = LOCAL.format(seed=5) + "export:\n  topic: unit.topic.id\n  idea: idea.item\n  line: line.s\n"
    rows = jsonl(read(run(tmp_path, text), "results", capsys=capsys))
    assert [(r["unit"], r["topic"], r["idea"]) for r in rows[3:6]] == [
        ("tides-idea-1-scene-1", "tides", "the tides 1"), ("tides-idea-2", "tides", "the tides 2"), ("knots", "knots", None)]
    assert rows[0]["line"].startswith("the tides 0 by THE TIDES/0 @ ") and rows[4]["line"] is None


def test_same_seed_same_children_and_results(tmp_path, capsys):
    a = run(tmp_path, LOCAL.format(seed=5), "a")
    b = run(tmp_path, LOCAL.format(seed=5), "b")
    c = run(tmp_path, LOCAL.format(seed=6), "c")
    def results(run_dir):  # reasons name the file: the same one in each folder
        return read(run_dir, "results", capsys=capsys).replace(str(run_dir.parent), "DIR")

    assert results(a) == results(b)
    assert results(a) != results(c)  # the stories' rolls


# --- crash safety -----------------------------------------------------------------------------------

MANY = """octo: 1
name: many
seed: 3
data:
  topics: [{id: a, n: 1}, {id: b, n: 2}, {id: c, n: 3}]
units:
  for: {topic: topics}
  repeat: 400
steps:
  idea:
    fanout:
      each: "[str(unit.repeat) + ':' + str(i) for i in range((unit.repeat + unit.topic.n) % 4)]"
      max: 3
  story:
    compute:
      text: "idea.item + '/' + unit.topic.id"
      roll: randint(1, 1000000)
"""


def _octoc(*args, crashpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OCTO_CRASHPOINT"}
    if crashpoint:
        env["OCTO_CRASHPOINT"] = crashpoint
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


class Interrupted(Exception):
    pass


def test_a_kill_during_fanout_resumes_with_no_child_lost_or_duplicated(tmp_path, monkeypatch, capsys):
    source = tmp_path / "many.octo"
    source.write_text(MANY)
    reference = run(tmp_path, MANY, "reference")
    expected = read(reference, "results", capsys=capsys)
    killed = tmp_path / "killed"

    # 1. killed inside the first fan-out transaction: none of it is there
    out = _octoc("run", source, "--run-dir", killed, crashpoint="during-fanout")
    assert out.returncode == 137, out.stdout + out.stderr
    assert len(units(killed)) == 1200 and stored(killed, "idea") == {}

    # 2. one transaction of parents and children committed, the next one interrupted before its commit
    from octo.runtime.engine import Engine

    monkeypatch.setattr(fanout, "PARENTS_PER_TRANSACTION", 100)
    calls = []

    def stop_second(name):
        calls.append(name)
        if len(calls) == 2:
            raise Interrupted

    monkeypatch.setattr(fanout, "crashpoint", stop_second)
    engine = Engine(killed)
    with pytest.raises(Interrupted):
        engine.tick()
    engine.close()
    parents = {u for u, (state, _, _) in stored(killed, "idea").items() if "-idea-" not in u}
    children = [u for u in units(killed) if u[3] == "idea"]
    assert len(parents) == 100 and 0 < len(children) < 300

    # 3. killed again, inside the first fan-out transaction of the resumed run: the committed ones stay, once
    out = _octoc("run", "--resume", killed, crashpoint="during-fanout")
    assert out.returncode == 137, out.stdout + out.stderr
    assert [u for u in units(killed) if u[3] == "idea"] == children

    # 4. resumed to the end: the same children, ids and results as a run never killed
    out = _octoc("run", "--resume", killed)
    assert out.returncode == 0, out.stdout + out.stderr
    ids = [u[2] for u in units(killed)]
    assert len(ids) == len(set(ids)) == len(units(reference))
    assert sorted(ids) == sorted(u[2] for u in units(reference))
    assert read(killed, "results", capsys=capsys) == expected
    assert stored(killed, "story") == stored(reference, "story")


def test_a_store_made_before_fanout_gets_the_lineage_columns(tmp_path):
    path = tmp_path / "run.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE units (pos INTEGER PRIMARY KEY, idx INTEGER NOT NULL, id TEXT NOT NULL UNIQUE)")
    db.execute("INSERT INTO units VALUES (0, 0, 'a')")
    db.commit()
    db.close()
    store = Store(path)
    assert store.db.execute("SELECT pos, idx, id, origin, parent FROM units").fetchall() == [(0, 0, "a", "", None)]
    store.close()


# --- the plan ------------------------------------------------------------------------------------------

PLANNED = """octo: 1
defaults: {{model: openai:gpt-4.1-mini}}
data:
  topics: [{{id: a}}, {{id: b}}, {{id: c}}, {{id: d}}]
units:
  for: {{topic: topics}}
  repeat: 25
{budget}
steps:
  ideas:
    generate:
      prompt: "Ideas about {{{{ unit.topic.id }}}}"
      output:
        ideas: {ideas}
  idea:
    fanout:
      each: ideas.ideas
{max}
  story:
    generate:
      prompt: "A story on {{{{ idea.item }}}}"
      output: {{text: str, parts: "list[str][2, 2]"}}
      max_tokens: 500
  scene:
    fanout:
      each: story.parts
  line:
    compute: {{s: scene.item}}
"""


def plan(text: str):
    result = check_source(Source("p.octo", text), default_language())
    assert result.ok, [render_text(d) for d in result.diagnostics]
    reporter = Reporter()
    planned = build_plan(result.program, default_language(), reporter)
    return {s["name"]: s for s in planned.data["steps"]}, planned.data, result.diagnostics + reporter.sorted()


def test_the_plan_expects_the_middle_of_the_item_counts_and_the_worst_case_their_upper_bound():
    steps, data, diags = plan(PLANNED.format(ideas="list[str][3, 5]", max="", budget=""))
    assert not diags
    assert steps["idea"]["fanout"] == {"per_unit": {"min": 3, "max": 5, "expected": 4.0, "worst": 5},
                                       "children": {"expected": 400, "worst": 500}}
    assert (steps["idea"]["scope"], steps["story"]["scope"], steps["line"]["scope"]) == ("", "idea", "scene")
    assert steps["story"]["units"] == {"count": 400, "exact": False, "worst": 500}
    estimate = steps["story"]["estimate"]
    assert estimate["requests"]["worst"] == 500 * steps["story"]["tries_per_unit"]["worst"]
    assert estimate["requests"]["expected"] == pytest.approx(400 * steps["story"]["tries_per_unit"]["expected"], abs=0.5)
    assert estimate["tokens"]["output_worst"] == estimate["requests"]["worst"] * 500  # max_tokens at worst
    assert steps["scene"]["fanout"]["children"] == {"expected": 800, "worst": 1000}  # nested: 2 per story
    assert steps["line"]["units"] == {"count": 800, "exact": False, "worst": 1000}
    assert steps["ideas"]["units"] == {"count": 100, "exact": True, "worst": 100}


def test_max_bounds_the_children_and_no_bound_is_a_warning_and_a_million_at_worst():
    steps, _, diags = plan(PLANNED.format(ideas="list[str]", max="      max: 20", budget=""))
    assert not diags
    assert steps["idea"]["fanout"]["per_unit"] == {"min": 0, "max": 20, "expected": 10.0, "worst": 20}
    steps, _, diags = plan(PLANNED.format(ideas="list[str][2, 8]", max="      max: 4", budget=""))
    assert steps["idea"]["fanout"]["per_unit"] == {"min": 2, "max": 4, "expected": 3.0, "worst": 4}
    result = check_source(Source("p.octo", PLANNED.format(ideas="list[str][2, ]", max="", budget="")), default_language())
    assert [d.code for d in result.diagnostics] == ["W0407"]
    steps, _, _ = plan(PLANNED.format(ideas="list[str][2, ]", max="", budget=""))
    assert steps["idea"]["fanout"]["per_unit"] == {"min": 2, "max": None, "expected": 3.0, "worst": 1_000_000}
    assert steps["idea"]["fanout"]["children"] == {"expected": 300, "worst": 100_000_000}


def test_the_budget_verdict_is_the_expected_children_against_the_limit_and_the_worst_a_warning():
    _, data, _ = plan(PLANNED.format(ideas="list[str][3, 5]", max="", budget=""))
    expected, worst = data["totals"]["as_planned"]["expected"], data["totals"]["as_planned"]["worst"]
    assert worst > 1.2 * expected  # the worst case counts 5 children a topic, the expected one 4
    between = (expected + worst) / 2
    _, data, diags = plan(PLANNED.format(ideas="list[str][3, 5]", max="", budget=f"budget: {{max_usd: {between}}}"))
    assert data["budget"]["verdict"] == "worst case over" and [d.code for d in diags] == ["W0502"]
    _, data, diags = plan(PLANNED.format(ideas="list[str][3, 5]", max="", budget=f"budget: {{max_usd: {expected / 2}}}"))
    assert data["budget"]["verdict"] == "over" and [d.code for d in diags] == ["E0501"]


def test_the_plan_text_shows_children_expected_and_at_worst(tmp_path):
    source = tmp_path / "p.octo"
    source.write_text(PLANNED.format(ideas="list[str][3, 5]", max="", budget=""))
    out = _octoc("plan", source, "--color", "never")
    assert out.returncode == 0, out.stderr
    assert "idea: 100 units → 400 child units expected (4 per unit), 500 at worst (3 to 5 per unit)" in out.stdout
    assert re.search(r"story\s+generate\s+\S+ \(batch\)\s+400~ / 500 ", out.stdout)


def test_a_plan_without_fanout_runs_every_step_over_the_runs_units():
    steps, _, _ = plan(PLANNED.format(ideas="list[str][3, 5]", max="", budget="").split("  idea:")[0])
    assert steps["ideas"]["scope"] == "" and steps["ideas"]["units"]["worst"] == steps["ideas"]["units"]["count"]


# --- diagnostics -------------------------------------------------------------------------------------------

BAD = {
    "two_fanouts": """octo: 1
steps:
  lists:
    compute: {a: "[1, 2]", b: "['x', 'y']"}
  num:
    fanout: {each: lists.a, max: 2}
  word:
    fanout: {each: lists.b, max: 2}
  both:
    compute:
      pair: str(num.item) + word.item
""",
    "export_two_fanouts": """octo: 1
steps:
  lists:
    compute: {a: "[1, 2]", b: "['x', 'y']"}
  num:
    fanout: {each: lists.a, max: 2}
  word:
    fanout: {each: lists.b, max: 2}
export:
  n: num.item
  w: word.item
""",
    "verdict_across": """octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  draft:
    generate:
      prompt: "Three taglines."
      output:
        lines: list[str][3, 3]
  line:
    fanout: {each: draft.lines}
  review:
    judge:
      of: draft
      prompt: "Is this good: {{ line.item }}?"
      output: {ok: bool}
      pass: ok
      attempts: 2
""",
    "not_a_list": """octo: 1
steps:
  total:
    compute: {n: 3}
  each_n:
    fanout:
      each: total.n
""",
    "max_below_the_fewest": """octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  ideas:
    generate:
      prompt: "Ideas."
      output:
        ideas: list[str][3, 5]
  idea:
    fanout:
      each: ideas.ideas
      max: 2
""",
    "unbounded": """octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  ideas:
    generate:
      prompt: "Ideas."
      output:
        ideas: list[str]
  idea:
    fanout:
      each: ideas.ideas
""",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_fanout_diagnostics(name, snapshot):
    diags = check_source(Source(f"{name}.octo", BAD[name]), default_language()).diagnostics
    codes = {"two_fanouts": "E0308", "export_two_fanouts": "E0308", "verdict_across": "E0309", "not_a_list": "E0310",
             "max_below_the_fewest": "E0310", "unbounded": "W0407"}
    assert codes[name] in [d.code for d in diags]
    assert "\n\n".join(render_text(d) for d in diags) == snapshot


# --- fan-out and verdicts ---------------------------------------------------------------------------

JUDGED = """octo: 1
name: judged
seed: 9
defaults: {model: openai:gpt-4.1-mini}
data:
  topics: [{id: a, name: apples}, {id: b, name: boats}, {id: c, name: clouds}, {id: d, name: dunes}]
units:
  for: {topic: topics}
  repeat: 2
steps:
  ideas:
    generate:
      prompt: "Ideas about {{ unit.topic.name }}.{% if feedback %} Fix: {{ feedback.reason }}{% endif %}"
      output:
        ideas: list[str][2, 3]
  check:
    judge:
      of: ideas
      prompt: "Grade {{ ideas.ideas }}"
      output: {score: "float[0, 1]", reason: str}
      pass: score >= 0.5
      attempts: 3
  idea:
    fanout:
      each: ideas.ideas
  story:
    generate:
      prompt: "A story on {{ idea.item }} ({{ unit.topic.name }}).{% if feedback %} Fix: {{ feedback.why }}{% endif %}"
      output: {text: str}
  review:
    judge:
      of: story
      prompt: "Review {{ story.text }}"
      output: {ok: bool, why: str}
      pass: ok
      attempts: 2
"""


def test_a_fanout_waits_for_the_final_verdict_and_a_verdict_inside_it_sends_back_per_child(tmp_path):
    run_dir = run(tmp_path, JUDGED, "run", "--provider", "emulator")
    db = sqlite3.connect(run_dir / "run.db")
    reruns = dict(db.execute("SELECT step, count(*) FROM reruns GROUP BY step").fetchall())
    db.close()
    assert reruns.get("ideas", 0) > 0 and reruns.get("story", 0) > 0  # ideas were sent back, and stories were
    ideas = {u: out["ideas"] for u, (_, out, _) in stored(run_dir, "ideas").items()}
    children: dict[str, list] = {}
    for uid, (_, out, _) in stored(run_dir, "idea").items():
        if "item" in out:
            children.setdefault(out["parent"], []).append((out["index"], out["item"]))
    assert set(children) == set(ideas)
    for parent, items in children.items():  # made from the answer the verdicts kept, never from one sent back
        assert [item for _, item in sorted(items)] == ideas[parent]
    reviews = stored(run_dir, "review")
    assert sorted(reviews) == sorted(f"{p}-idea-{i}" for p, items in children.items() for i, _ in items)
