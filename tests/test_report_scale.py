"""`octoc report` at scale: failures grouped by step, kind and rule (examples kept, three per group), an
aggregate no unit reached says why, and `--format markdown`. End to end through `octoc` in a subprocess,
on the emulator (`--provider emulator --faults ...`), with `validate` messages that quote per-unit values
so that hundreds of units fail with hundreds of distinct reasons.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from conftest import octoc
from octo.runtime.reading.failures import classify, mask_ids

SCALE = """octo: 1
name: scale
seed: 7
units:
  repeat: 300
steps:
  roll:
    compute:
      v: (unit.repeat * 37) % 101
    validate:
      - rule: v < 50
        message: "rolled {{ v }} on hand {{ unit.repeat }}"
  ratio:
    compute:
      s: 100 / (unit.repeat % 7)
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "A number for hand {{ unit.repeat }}"
      output: {n: int, word: str}
    validate:
      - rule: n < 0
        message: "{{ n }} ({{ word }}) is not negative"
    retries: 0
  never:
    compute:
      x: unit.repeat
    validate:
      - rule: x < 0
        message: "x is {{ x }}"
  lost:
    aggregate:
      metrics:
        mean_x: mean(never.x)
  totals:
    aggregate:
      metrics:
        hands: count()
        mean_v: mean(roll.v)
      expect:
        - mean_v < 25
        - hands > 100
"""

FAULTS = "invalid=0.05,malformed=0.05,errored=0.03"


def _run(tmp, name: str, text: str, *extra) -> object:
    f = tmp / f"{name}.octo"
    f.write_text(text)
    out = octoc("run", f.name, "--provider", "emulator", "--run-dir", name, *extra, cwd=tmp)  # positions: NAME.octo:L:C
    assert out.returncode in (0, 6), out.stdout + out.stderr  # finished; 6: some units failed
    return tmp / name


def _report(run_dir, *fmt) -> str:
    out = octoc("report", run_dir.name, *fmt, cwd=run_dir.parent)
    assert out.returncode not in (2, 3) and out.stderr == "", out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def scale_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("scale"), "scale", SCALE, "--faults", FAULTS)


def test_hundreds_of_distinct_reasons_are_a_few_groups_with_three_examples_each(scale_run, snapshot):
    with sqlite3.connect(scale_run / "run.db") as db:
        stored = {(step, uid): reason for step, uid, reason in db.execute(
            "SELECT r.step, u.id, r.reason FROM results r JOIN units u ON u.pos = r.unit WHERE r.state = 'failed'")}
    assert len(set(stored.values())) > 600  # grouped by their text, the report would have had a line for each
    data = json.loads(_report(scale_run, "--format", "json"))
    groups = data["failures"]
    assert 5 <= len(groups) <= 10
    assert sum(g["units"] for g in groups) == len(stored)
    for g in groups:
        assert set(g) == {"step", "kind", "rule", "label", "units", "examples"}
        assert len(g["examples"]) == min(3, g["units"])
        for e in g["examples"]:  # each example is a unit of the group, with its own reason as stored
            assert stored[(g["step"], e["unit"])] == e["reason"]
    by_rule = {(g["step"], g["kind"], g["rule"]): g for g in groups}
    never = by_rule[("never", "validate", "`x < 0` at scale.octo:29:15")]
    assert never["units"] == 300 and [e["unit"] for e in never["examples"]] == ["r0", "r1", "r2"]
    # a provider step's rule is placed in the file although its reason does not say where it is
    assert ("ask", "validate", "`n < 0` at scale.octo:22:15") in by_rule
    assert ("roll", "validate", "`v < 50` at scale.octo:11:15") in by_rule
    assert by_rule[("ratio", "expression", "`100 / (unit.repeat % 7)` at scale.octo:15:10")]["units"] == 43
    assert {k for _, k, _ in by_rule} >= {"validate", "expression", "schema", "not-json", "provider"}
    text = _report(scale_run)
    assert len(text.splitlines()) < 60
    assert text == snapshot


def test_an_aggregate_no_unit_reached_says_why(scale_run):
    data = json.loads(_report(scale_run, "--format", "json"))
    lost, totals = data["aggregates"]
    assert lost["groups"] == [] and lost["computed"] is True
    assert lost["unreached"] == {"units": 300, "failed": 300, "at": {"never": 300},
                                 "note": "no unit reached this aggregate: all 300 units failed at step 'never'"}
    assert totals["unreached"] is None and totals["groups"][0]["units"] == 149
    text = _report(scale_run)
    assert "lost:\n  no unit reached this aggregate: all 300 units failed at step 'never'\n" in text
    assert "not computed yet" not in text


def test_markdown_for_a_pull_request(scale_run, snapshot):
    md = _report(scale_run, "--format", "markdown")
    assert md.startswith("## scale\n")
    assert "*No unit reached this aggregate: all 300 units failed at step 'never'.*" in md
    assert "| 300 | never | validate rule `x < 0` at scale.octo:29:15 | r0: x is 0<br>r1: x is 1<br>r2: x is 2<br>… and 297 more |" in md
    for table in re.findall(r"(?:^\|.*\|\n)+", md, re.M):  # every row of a table has as many cells as its header
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table
    assert md == snapshot


SHAPES = """octo: 1
name: shapes
units:
  repeat: 4
steps:
  tall:
    compute:
      big: 10 ** (5000 if unit.repeat == 1 else 1)
  checked:
    compute:
      v: unit.repeat
    validate:
      - rule: v != 2
        message: "{{ 6 / (v - 2) }}"
  items:
    fanout:
      each: "[unit.repeat, unit.repeat + 1]"
    validate:
      - rule: item != 4
        message: "item {{ item }} of {{ parent }} is four"
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Say {{ 10 / (unit.repeat % 2) }}"
      output: {ok: bool}
  later:
    compute:
      w: ask.ok
  grade:
    judge:
      of: ask
      model: openai:gpt-4.1-mini
      prompt: "Grade {{ ask.ok }}"
      output: {score: int}
      pass: 1 / (score - score) > 0
"""


def test_each_kind_of_reason_is_grouped_by_its_rule(tmp_path):
    """The reasons as the runtime writes them (templating, unitwork, fanout, prompting, dispatch), each read
    back into its kind and rule: if a producer's wording changes, this fails."""
    run_dir = _run(tmp_path, "shapes", SHAPES)
    data = json.loads(_report(run_dir, "--format", "json"))
    got = {(g["step"], g["kind"], g["rule"]): [e["unit"] for e in g["examples"]] for g in data["failures"]}
    assert got == {
        ("tall", "unstorable", "output 'big' at shapes.octo:8:12"): ["r1"],
        ("checked", "validate", "`v != 2` at shapes.octo:13:15"): ["r2"],
        ("items", "validate", "`item != 4` at shapes.octo:19:15"): ["r3"],
        ("ask", "template", "the prompt at shapes.octo:24:20"): ["r0", "r2"],
        ("grade", "pass", "at shapes.octo:35:13"): ["r1", "r3"],
    }
    assert data["blocked"] == [{"step": "later", "upstream": "ask", "units": 2, "examples": ["r0", "r2"]},
                               {"step": "grade", "upstream": "ask", "units": 2, "examples": ["r0", "r2"]}]
    text = _report(run_dir)
    assert "  2 × grade: judge's `pass` did not evaluate at shapes.octo:35:13\n      r1: division by zero in " in text
    assert "not run, as a step they read failed:\n  2 × later: step 'ask' failed (e.g. r0, r2)\n" in text


def test_a_reason_of_no_known_shape_groups_by_its_text_without_its_values():
    a = classify("something odd happened to 'alpha' after 12 steps")
    b = classify("something odd happened to 'beta' after 7 steps")
    assert a.kind == b.kind == "other" and a.rule == b.rule == "something odd happened to … after … steps"
    assert a.detail == "something odd happened to 'alpha' after 12 steps"
    assert mask_ids("HTTP 500: batch batch_6789abcdef012345 failed") == "HTTP 500: batch … failed"
    err = classify("the provider answered with an error: not run (expired): request req_0a1b2c3d4e5f6a7b (after 3 tries)")
    assert (err.kind, err.rule) == ("provider", "not run (expired): request …")


def test_markdown_escapes_what_a_unit_wrote():
    from octo.runtime.reading.reportmd import cell, text

    assert text("a | b `c` *d* <script> _e_ snake_case [l](u)\nnext") == \
        "a \\| b \\`c\\` \\*d\\* \\<script> \\_e\\_ snake_case [l\\](u) next"
    assert cell("validate rule `a | b` at x.octo:1:2, 'n*'") == "validate rule `a \\| b` at x.octo:1:2, 'n\\*'"
