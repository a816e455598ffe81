"""One bad unit never kills a run (issue 9: A, B, C, M).

Each test drives a real run in this process (``octo.cli.main.main``) on a small
pipeline, provider steps on the built-in emulator, and checks what the user
sees: the unit failed with a reason in words and its file:line:col, the other
units finished, and the run reached `done`.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octo.cli.exitcodes import DONE, EXPECT_FAILED, UNITS_FAILED
from octo.cli.main import main
from octo.runtime.base.encoding import decode_output, encode_output


def run(tmp_path, text: str, *args: str, name: str = "p.octo") -> tuple[int, object]:
    source = tmp_path / name
    source.write_text(text)
    run_dir = tmp_path / "run"
    return main(["run", str(source), "--run-dir", str(run_dir), *args]), run_dir


def results(run_dir, step: str) -> dict[str, tuple]:
    """unit id → (state, output, reason) of ``step``, as stored."""
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute("SELECT u.id, r.state, r.output, r.reason FROM results r JOIN units u ON u.pos = r.unit "
                          "WHERE r.step = ?", (step,)).fetchall()
        return {uid: (state, decode_output(output) if output is not None else None, reason)
                for uid, state, output, reason in rows}
    finally:
        db.close()


def run_state(run_dir) -> str:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0]
    finally:
        db.close()


def report(run_dir, capsys, code) -> dict:
    capsys.readouterr()
    assert main(["report", str(run_dir), "--format", "json"]) == code  # the run's verdict
    return json.loads(capsys.readouterr().out)


EMULATED = ("--provider", "emulator", "--mode", "realtime")


# --- A: templates, rules and messages that raise for one unit ---------------------------

SHARE = """octo: 1
name: share
seed: 1
units:
  repeat: 3
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Share {{ 100 / unit.repeat }} percent"
"""


def test_a_prompt_that_raises_for_one_unit_fails_that_unit_and_the_run_finishes(tmp_path):
    code, run_dir = run(tmp_path, SHARE, *EMULATED)
    assert code == UNITS_FAILED
    rows = results(run_dir, "write")
    state, _, reason = rows["r0"]  # unit.repeat is 0 for the first replica
    assert state == "failed"
    assert reason == (f"the prompt did not render: division by zero in `{{{{ 100 / unit.repeat }}}}` "
                      f"at {tmp_path / 'p.octo'}:10:22")
    assert rows["r1"][0] == rows["r2"][0] == "done"
    assert run_state(run_dir) == "done"
    assert main(["run", "--resume", str(run_dir)]) == UNITS_FAILED  # and every resume agrees


SANDBOX = """octo: 1
name: sandbox
seed: 1
units:
  repeat: 3
steps:
  dice:
    compute:
      roll: unit.repeat + 1
    validate:
      - rule: roll <= 2
        message: "too big: {{ '{0.__class__}'.format(roll) }}"
  story:
    generate:
      model: openai:gpt-4.1-mini
      prompt: |
        Tell a story.

        Count: {% for i in range(10**9 if dice.roll == 2 else 3) %}{{ i }}{% endfor %}
      output: {n: "int[1, 5]"}
    retries: 0
    validate:
      - rule: n > 100
        message: "{{ 'x' if dice.roll == 1 else '{0.__class__}'.format(n) }}"
"""


def test_a_sandbox_refusal_or_a_huge_range_fails_the_unit_where_it_is_written(tmp_path):
    code, run_dir = run(tmp_path, SANDBOX, *EMULATED)
    assert code == UNITS_FAILED
    where = tmp_path / "p.octo"
    dice, story = results(run_dir, "dice"), results(run_dir, "story")
    # a local step's `validate` message that the sandbox refuses (r2 rolls 3)
    assert dice["r2"][0] == "failed"
    assert dice["r2"][2] == (f"validate rule `roll <= 2` at {where}:11:15 is false for this unit, and its message did "
                             f"not render: the template sandbox does not allow this (access to attribute '__class__' "
                             f"of a whole number is unsafe) in `{{{{ '{{0.__class__}}'.format(roll) }}}}` at {where}:12:28")
    # a range the sandbox refuses, on line 3 of a block-scalar prompt: file line 19, where the line starts
    assert story["r1"] == ("failed", None, "the prompt did not render: a range of more than 100,000 numbers "
                                           f"(the template sandbox's limit) at {where}:19:9")
    # a provider step's `validate` message that renders for r0 (its rule is false: the unit fails with the message)
    assert story["r0"][0] == "failed" and story["r0"][2].startswith("x (validate: `n > 100`)")
    assert story["r2"][0] == "blocked"
    assert "SecurityError" not in json.dumps([dice, story]) and "OverflowError" not in json.dumps([dice, story])
    assert run_state(run_dir) == "done"


def test_a_provider_validate_message_the_sandbox_refuses_fails_the_unit(tmp_path):
    text = SANDBOX.replace("dice.roll == 1", "dice.roll == 0")  # now r0's message is refused too
    code, run_dir = run(tmp_path, text, *EMULATED)
    assert code == UNITS_FAILED
    state, _, reason = results(run_dir, "story")["r0"]
    assert state == "failed"
    assert reason.startswith(f"validate rule `n > 100` at {tmp_path / 'p.octo'}:23:15 is false for this unit, and its "
                             "message did not render: the template sandbox does not allow this")
    assert reason.endswith(f"at {tmp_path / 'p.octo'}:24:19 (after 1 try)")
    assert run_state(run_dir) == "done"


@pytest.mark.parametrize("template, env, reason", [
    ("a {{ foo.bar }}", {"foo": {}}, "a record has no field 'bar' in `{{ foo.bar }}` at f.octo:3:13"),
    ("{{ x.y.z }}", {"x": {"y": None}}, "null has no field 'z' in `{{ x.y.z }}` at f.octo:3:11"),
    ("{{ xs[5] }}", {"xs": [1]}, "a list has no element 5 in `{{ xs[5] }}` at f.octo:3:11"),
    ('{{ n + "a" }}', {"n": 1}, "cannot apply '+' to a whole number and a string in `{{ n + \"a\" }}` at f.octo:3:11"),
    ('{% include "x" %}', {}, 'a template cannot include, import or extend another template in `{% include "x" %}` at f.octo:3:11'),
    ("one\n  {% for i in range(10**6) %}{{ i }}{% endfor %}", {},
     "a range of more than 100,000 numbers (the template sandbox's limit) at f.octo:4:13"),
])
def test_a_template_failure_is_said_in_words_where_it_is_written(template, env, reason):
    from octo.runtime.work.templating import TemplateFailure, UnitTemplate

    with pytest.raises(TemplateFailure) as failure:  # a block scalar: line 1 at 3:11, line 2 at 4:11
        UnitTemplate.of({"text": template, "at": "f.octo:2:9", "lines": [[3, 11], [4, 11]]}).render(env)
    assert str(failure.value) == reason


# --- B: aggregates that raise -------------------------------------------------------------

AGGREGATES = """octo: 1
name: aggregates
seed: 1
units:
  repeat: 3
steps:
  s:
    compute:
      big: 1e308
  summary:
    aggregate:
      metrics:
        share_of: mean(10 / unit.repeat)
        n: count()
      expect:
        - share_of > 1
        - n == 3
  total:
    aggregate:
      metrics:
        m: mean(s.big)
  grouped:
    aggregate:
      by: {k: 6 / unit.repeat}
      metrics:
        n: count()
  huge_keys:
    aggregate:
      by: {k: "10 ** (5000 * unit.repeat)"}
      metrics:
        n: count()
"""


def test_an_aggregate_that_raises_gives_a_null_metric_with_its_reason_under_the_group(tmp_path, capsys):
    code, run_dir = run(tmp_path, AGGREGATES)
    assert code == EXPECT_FAILED
    assert run_state(run_dir) == "done"
    where = tmp_path / "p.octo"
    summary, total, grouped, huge_keys = (a["groups"] for a in report(run_dir, capsys, EXPECT_FAILED)["aggregates"])
    (group,) = summary
    assert group["metrics"] == {"share_of": None, "n": 3}
    reason = f"division by zero in `10 / unit.repeat` at {where}:13:24 (for 1 unit, e.g. r0)"
    assert group["errors"] == [{"metric": "share_of", "reason": reason}]
    assert [(e["passed"], e.get("error")) for e in group["expects"]] == [
        (False, f"metric 'share_of' is null: {reason}"), (True, None)]
    # a reduction's own failure (adding up 3 × 1e308 overflows)
    assert total[0]["metrics"] == {"m": None}
    assert total[0]["errors"] == [{"metric": "m", "reason": "the result is too large for a number (overflow) "
                                                            f"in `mean(s.big)` at {where}:21:12"}]
    # a unit whose `by` raises is left out of every group, and said why
    assert [(g["by"], g["units"]) for g in grouped] == [({"k": None}, 1), ({"k": 3.0}, 1), ({"k": 6.0}, 1)]
    assert grouped[0]["errors"] == [{"metric": "by", "reason": f"division by zero in `6 / unit.repeat` at {where}:24:15 "
                                                              "(for 1 unit, e.g. r0)"}]
    # a group key too long to write is the same: those units are left out, and said why
    assert [(g["by"], g["units"]) for g in huge_keys] == [({"k": None}, 2), ({"k": 1}, 1)]
    assert huge_keys[0]["errors"] == [{"metric": "by", "reason": "the group key holds a whole number of more than "
                                                                "4,300 digits (for 2 units, e.g. r1)"}]


# --- C: values JSON alone cannot store ------------------------------------------------------

STORED = """octo: 1
name: stored
seed: 1
units:
  repeat: 3
steps:
  s:
    compute:
      seen: "{3, unit.repeat, 1}"
      names: "set(['pear', 'apple', 'fig'])"
      by_number: "{1: 'one', 2: 'two', unit.repeat: 'mine'}"
      big: "10 ** (5000 * unit.repeat)"
    validate:
      - rule: names[0] == 'apple'
  t:
    compute:
      first: s.seen[0]
      one: s.by_number[1]
      mine: s.by_number[unit.repeat]
"""


def test_sets_are_stored_as_sorted_lists_and_dict_keys_keep_their_types(tmp_path):
    code, run_dir = run(tmp_path, STORED)
    assert code == UNITS_FAILED
    s, t = results(run_dir, "s"), results(run_dir, "t")
    assert s["r0"] == ("done", {"seen": [0, 1, 3], "names": ["apple", "fig", "pear"],
                                "by_number": {1: "one", 2: "two", 0: "mine"}, "big": 1}, None)
    assert t["r0"] == ("done", {"first": 0, "one": "one", "mine": "mine"}, None)
    # what still cannot be stored fails its unit, with the output named and placed
    assert s["r1"][0] == "failed" and s["r1"][2] == ("output 'big' cannot be stored: a whole number has too many "
                                                     f"digits to be stored (4,300 at most) at {tmp_path / 'p.octo'}:12:13")
    assert t["r1"][0] == "blocked"
    assert run_state(run_dir) == "done"


def test_a_set_is_a_set_in_its_step_and_a_list_downstream(check_text):
    assert check_text(STORED) == []  # `s.seen[0]` downstream: a list
    in_step = STORED.replace("      big:", "      low: seen[0]\n      big:")
    assert [(d.code, d.message) for d in check_text(in_step)] == [("E0206", "cannot index set[int]")]


def test_encoding_keeps_key_types_and_tells_a_lookalike_apart():
    tricky = {"$octo.dict": [[1, 2]]}  # an ordinary dict that looks like the encoding's tag
    value = {"a": [{1: {None: True, 2.5: "x", "s": {"$octo.dict": 1}}}, tricky], "b": {False: 0}}
    assert decode_output(encode_output(value)) == value
    assert encode_output({"a": 1, "b": [1, "x"]}) == '{"a": 1, "b": [1, "x"]}'  # ordinary outputs: plain JSON


keys = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans(), st.none(), st.just("$octo.dict"))
values = st.recursive(st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none(), st.floats(allow_nan=False)),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=12)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=4), values, max_size=4))
def test_every_output_comes_back_as_it_was_stored(output):
    assert decode_output(encode_output(output)) == output


# --- M: a judge's retries are per round ---------------------------------------------------

ROUNDS = """octo: 1
name: rounds
seed: 1
units:
  repeat: 12
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write a title for story {{ unit.repeat }}.{% if feedback %} Fix: {{ feedback.reason }}{% endif %}"
      output: {title: str}
    retries: 0
  grade:
    judge:
      of: write
      model: openai:gpt-4.1-mini
      prompt: "Grade {{ write.title }}"
      output: {score: "float[0, 1]", reason: str}
      pass: score >= 0.7
      attempts: 3
    retries: 1
"""


def _judge_rounds(run_dir) -> list[tuple[int, list[str]]]:
    """Per unit, the judge's verdicts grouped by round of `write` (a round ends when the judge sends it back)."""
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute("SELECT unit, verdict FROM attempts WHERE step = 'grade' ORDER BY id").fetchall()
    finally:
        db.close()
    rounds: dict[int, list[list[str]]] = {}
    for unit, verdict in rows:
        per_unit = rounds.setdefault(unit, [[]])
        per_unit[-1].append(verdict)
        if verdict.startswith("sent 'write' back"):
            per_unit.append([])
    return [(n, r) for per_unit in rounds.values() for n, r in enumerate(per_unit, 1) if r]


def test_a_judge_gets_its_retries_in_every_round(tmp_path):
    code, run_dir = run(tmp_path, ROUNDS, *EMULATED, "--faults", "malformed=0.3")
    assert code in DONE
    rounds = _judge_rounds(run_dir)
    # the faults made a judge's first answer unusable in a round after a send-back
    assert any(n > 1 and not verdicts[0].startswith(("done", "sent")) for n, verdicts in rounds)
    failed = [verdicts for _, verdicts in rounds if verdicts[-1].startswith("failed")]
    assert failed and all(len(verdicts) == 2 for verdicts in failed)  # retries: 1 → two tries in that round
    for state, _, reason in results(run_dir, "grade").values():
        if state == "failed":
            assert reason.endswith("(after 2 tries)"), reason
    assert run_state(run_dir) == "done"


def test_a_template_cannot_change_the_data_other_units_see():
    """Templates render in Jinja2's immutable sandbox: `append`, `update`, `pop`... are refused, nothing changes."""
    from jinja2.sandbox import SecurityError

    from octo.compiler.expressions.templates import make_environment

    rows = [{"xs": [1, 2]}]
    env = make_environment()
    for text in ("{{ data.t[0].xs.append(7) }}", "{{ data.t[0].update({'xs': 0}) }}", "{{ data.t[0].xs.pop() }}"):
        with pytest.raises(SecurityError):
            env.from_string(text).render(data={"t": rows})
    assert rows == [{"xs": [1, 2]}]
