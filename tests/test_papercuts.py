"""Issue 13, point 6: private names in `compute`, `expect` reading an aggregate's `by` keys, and "did you mean
'unit.X'" for a table or row named bare (Octobatch style) in a template or an expression."""

from __future__ import annotations

import json
from pathlib import Path

from octo.cli.exitcodes import EXPECT_FAILED
from octo.cli.main import main
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.stdlib import default_language

ORDERS = """octo: 1
data:
  orders:
    - {id: o1, items: [3.5, 4.0, 12.0]}
    - {id: o2, items: [9.99, 30, 40]}
units:
  for: {order: orders}
steps:
  totals:
    compute:
      _subtotal: sum(unit.order.items)
      _tax: _subtotal * 0.2
      total: round(_subtotal + _tax, 2)
    validate:
      - rule: _subtotal < 50
        message: "subtotal {{ _subtotal }} too big"
  after:
    compute:
      double: totals.total * 2
"""


def _check(text: str):
    return check_source(Source("p.octo", text), default_language())


def _diagnostics(text: str) -> list[tuple[str, str, str]]:
    return [(d.code, d.span.text(), d.hint) for d in _check(text).diagnostics]


def test_private_names_are_read_by_later_values_and_validate_but_are_not_outputs():
    result = _check(ORDERS)
    assert result.diagnostics == []
    totals = result.program.steps["totals"]
    assert totals.output.names() == ["total"]
    assert sorted(totals.private) == ["_subtotal", "_tax"]


def test_a_step_downstream_reading_a_private_name_is_E0234_with_a_hint():
    text = ORDERS.replace("double: totals.total * 2", "double: totals._subtotal * 2")
    [(code, where, hint)] = _diagnostics(text)
    assert (code, where) == ("E0234", "totals._subtotal")
    assert "rename it without the '_'" in hint


def test_a_template_or_export_reading_a_private_name_is_E0234():
    prompt = ORDERS + """  note:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Total {{ totals.total }} from {{ totals._tax }}"
export:
  - totals._subtotal
"""
    assert sorted((c, w) for c, w, _ in _diagnostics(prompt) if c.startswith("E")) == [("E0234", "totals._subtotal"),
                                                                  ("E0234", "totals._tax")]


def test_a_run_stores_no_private_value_and_its_validate_rules_see_them(tmp_path: Path, capsys):
    (tmp_path / "p.octo").write_text(ORDERS)
    main(["run", str(tmp_path / "p.octo"), "--provider", "emulator", "--run-dir", str(tmp_path / "run")])
    capsys.readouterr()
    assert main(["results", str(tmp_path / "run")]) == 0
    rows = {r["unit"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    steps = rows["o1"]["steps"]
    assert steps["totals"]["output"] == {"total": 23.4}  # no _subtotal, no _tax
    assert steps["after"]["output"] == {"double": 46.8}
    assert rows["o2"]["state"] == "failed" and "subtotal 79.99 too big" in rows["o2"]["reason"]


ARMS = """octo: 1
data:
  arms: [{id: a, p: 0.3}, {id: b, p: 0.5}]
units:
  for: {arm: arms}
  repeat: 50
steps:
  pull:
    compute:
      win: bernoulli(unit.arm.p)
  per_arm:
    aggregate:
      by: {arm: unit.arm.id, p: unit.arm.p}
      metrics:
        win_rate: share(pull.win)
      expect:
        - arm == 'a'
        - p < 1
"""


def test_expect_reads_the_by_keys_by_name(tmp_path: Path, capsys):
    assert _check(ARMS).diagnostics == []
    (tmp_path / "p.octo").write_text(ARMS)
    main(["run", str(tmp_path / "p.octo"), "--provider", "emulator", "--run-dir", str(tmp_path / "run")])
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--format", "json"]) == EXPECT_FAILED  # arm == 'a' fails for b
    groups = json.loads(capsys.readouterr().out)["aggregates"][0]["groups"]
    verdicts = {g["by"]["arm"]: [e["passed"] for e in g["expects"]] for g in groups}
    assert verdicts == {"a": [True, True], "b": [False, True]}  # each group's own key
    b = next(g for g in groups if g["by"]["arm"] == "b")
    assert [e["values"] for e in b["expects"]] == [{"arm": "b"}, {"p": 0.5}]  # a verdict quotes the keys it read


def test_metrics_still_read_a_key_by_its_expression():
    text = ARMS.replace("win_rate: share(pull.win)", "win_rate: share(pull.win)\n        off: win_rate - p")
    [(code, where, _)] = _diagnostics(text)
    assert (code, where) == ("E0202", "p")


TOPICS = """octo: 1
defaults:
  model: openai:gpt-4.1-mini
data:
  topics:
    - {id: t1, name: rivers}
units:
  for: {topic: topics}
steps:
  ask:
    generate:
      prompt: "PROMPT"
    output:
      question: str
"""


def test_a_bare_row_name_in_a_template_suggests_the_unit_path():
    [(code, where, hint)] = _diagnostics(TOPICS.replace("PROMPT", "Ask about {{ topic.name }}"))
    assert (code, where, hint) == ("E0202", "topic", "did you mean 'unit.topic'?")


def test_a_bare_table_name_suggests_the_units_row_and_the_whole_table():
    want = "did you mean 'unit.topic' (this unit's row of topics) or 'data.topics' (the whole table)?"
    assert _diagnostics(TOPICS.replace("PROMPT", "Ask about {{ topics }}")) == [("E0202", "topics", want)]
    in_expression = TOPICS + "    when: len(topics) > 0\n"
    assert _diagnostics(in_expression.replace("PROMPT", "Ask")) == [("E0202", "topics", want)]


def test_a_step_and_a_table_may_have_a_built_in_functions_name(tmp_path, capsys):
    """Functions are only called and names only read, so `title`, `words` or `sum` may name a step or a table,
    and a new built-in never breaks a pipeline that used its name (E0109 is for reserved words only)."""
    source = tmp_path / "names.octo"
    source.write_text("""octo: 1
name: names
data:
  words: [{text: "tide and harbour"}, {text: "a gull"}]
units:
  for: {row: words}
steps:
  title:
    compute:
      text: title(unit.row.text)
      n: len(words(unit.row.text))
  sum:
    compute:
      total: sum([title.n, 1])
""")
    run_dir = tmp_path / "r"
    assert main(["run", str(source), "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["results", str(run_dir)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["steps"]["title"]["output"]["text"], r["steps"]["sum"]["output"]["total"]) for r in rows] == [
        ("Tide And Harbour", 4), ("A Gull", 3)]
