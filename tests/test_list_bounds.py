"""Item counts on list types, `list[T][min, max]`: parsing, describe, JSON Schema, typing, estimates.

The provider side (what each provider is sent, answers outside the counts retried) is in
tests/test_list_bounds_run.py; the diagnostics' snapshots are tests/invalid/170_*, 171_*.
"""

from __future__ import annotations

import json

import pytest

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.expressions.exprparse import Origin, parse_type
from octo.compiler.expressions.types import INT, STR, ListT, TypeDeclError, declared, join, optional, stored_type
from octo.compiler.frontend.check import check_source
from octo.compiler.planning import estimate


def _declare(text: str):
    """(static type, JSON Schema) of a type string, or the TypeDeclError it raises."""
    source = Source("t.octo", f"x: {json.dumps(text)}\n")
    from octo.compiler.base.yamlnodes import YScalar  # the type string as the checker sees it: a YAML scalar
    from octo.compiler.frontend.loader import load

    scalar = load(source, Reporter()).items[0][1]
    assert isinstance(scalar, YScalar)
    reporter = Reporter()
    tree = parse_type(text, Origin(scalar), reporter)
    assert tree is not None, [d.message for d in reporter.sorted()]
    return declared(tree)


@pytest.mark.parametrize("text, described, schema", [
    ("list[str][2, 10]", "list[str][2, 10]",
     {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 10}),
    ("list[str][1, ]", "list[str][1, ]", {"type": "array", "items": {"type": "string"}, "minItems": 1}),
    ("list[str][ , 5]", "list[str][, 5]", {"type": "array", "items": {"type": "string"}, "maxItems": 5}),
    ("list[int][0, 0]", "list[int][0, 0]", {"type": "array", "items": {"type": "integer"}, "minItems": 0, "maxItems": 0}),
    ("list[str][0, ]", "list[str]", {"type": "array", "items": {"type": "string"}}),  # no bound at all
    ("list[str][+2, 1e1]", "list[str][2, 10]",
     {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 10}),
    ("list[list[int][1, 3]][, 4]?", "list[list[int][1, 3]][, 4]?",
     {"anyOf": [{"type": "array", "maxItems": 4,
                 "items": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}},
                {"type": "null"}]}),
    ("list[a | b][3, 3]", "list['a' | 'b'][3, 3]",
     {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 3, "maxItems": 3}),
])
def test_item_counts_parse_describe_and_reach_the_schema(text, described, schema):
    t, got = _declare(text)
    assert t.describe() == described
    assert got == schema


def test_list_without_counts_is_unchanged():
    t, schema = _declare("list[str]")
    assert t == ListT(STR) and (t.min_items, t.max_items) == (None, None)
    assert schema == {"type": "array", "items": {"type": "string"}}


@pytest.mark.parametrize("text, code, under", [
    ("list[str][5, 2]", "E0221", "[5, 2]"),
    ("list[str][-1, 4]", "E0221", "-1"),
    ("list[str][1, 2.5]", "E0221", "2.5"),
    ("list[str][,]", "E0221", "[,]"),
    ("list[str][1, 1e999]", "E0221", "1e999"),
    ("list[str][1000001, ]", "E0221", "1000001"),
    ("list[1, 5]", "E0222", "list[1, 5]"),
    ("int[,]", "E0216", "[,]"),
    ("float[0, 1e999]", "E0216", "1e999"),
])
def test_bad_counts_are_diagnostics_on_the_bound_at_fault(text, code, under):
    with pytest.raises(TypeDeclError) as err:
        _declare(text)
    assert err.value.code == code
    assert err.value.node.span.text() == under
    assert err.value.hint or code == "E0216"


def test_join_holds_both_lists_counts():
    a, b = ListT(STR, 2, 5), ListT(STR, 1, 3)
    assert join(a, b) == ListT(STR, 1, 5)
    assert join(a, ListT(STR)) == ListT(STR)  # a list without counts: any count
    assert join(ListT(STR, None, 3), ListT(STR, 2, None)) == ListT(STR)
    assert join(ListT(STR, None, 3), ListT(STR, 2, 4)) == ListT(STR, 0, 4)
    assert join(optional(a), a) == optional(a)
    assert join(ListT(STR, 1, 2), ListT(INT, 1, 2)) is None


def test_stored_type_keeps_the_counts():
    assert stored_type(ListT(STR, 2, 5)) == ListT(STR, 2, 5)


PROGRAM = """\
octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  ideas:
    generate:
      prompt: Give story ideas.
      output:
        titles: list[str][2, 5]
        groups: "list[list[str][1, 3]][, 4]?"
  use:
    compute:
      same: ideas.titles
      first: ideas.titles[0]
      inner: ideas.groups[0]
      both: ideas.titles + ideas.titles
      twice: ideas.titles * 2
      part: ideas.titles[1:]
      either: "ideas.titles if len(ideas.titles) > 2 else ideas.groups[0]"
      upper: "[upper(t) for t in ideas.titles]"
"""


def test_field_access_keeps_the_declared_counts_and_new_lists_have_none(language):
    result = check_source(Source("t.octo", PROGRAM), language)
    assert result.ok, [d.message for d in result.diagnostics]
    use = dict(result.program.steps["use"].output.fields)
    assert use["same"].describe() == "list[str][2, 5]"
    assert use["first"] == STR
    assert use["inner"].describe() == "list[str][1, 3]"
    assert use["either"].describe() == "list[str][1, 5]"
    for name in ("both", "twice", "part", "upper"):
        assert use[name] == ListT(STR), name


def test_messages_show_the_counts(language):
    text = PROGRAM + "      bad: ideas.titles + 1\n"
    result = check_source(Source("t.octo", text), language)
    messages = [d.message for d in result.diagnostics]
    assert any("list[str][2, 5]" in m for m in messages), messages


def test_a_schema_file_gives_its_counts(language, tmp_path):
    (tmp_path / "out.json").write_text(json.dumps({
        "type": "object", "required": ["a", "b", "c"], "additionalProperties": False,
        "properties": {"a": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
                       "b": {"type": "array", "items": {"type": "string"}, "minItems": 5, "maxItems": 1},
                       "c": {"type": "array", "items": {"type": "string"}, "maxItems": 3.0}}}))
    text = ("octo: 1\ndefaults: {model: openai:gpt-4.1-mini}\nsteps:\n"
            "  s:\n    generate:\n      prompt: Hi.\n      schema: out.json\n")
    result = check_source(Source(str(tmp_path / "t.octo"), text), language)
    assert result.ok, [d.message for d in result.diagnostics]
    fields = dict(result.program.steps["s"].output.fields)
    assert fields["a"] == ListT(STR, 2, 4)
    assert fields["b"] == ListT(STR)  # counts no list meets: none taken
    assert fields["c"] == ListT(STR, None, 3)


# --- estimates --------------------------------------------------------------------------------

def test_expected_items_is_the_midpoint_of_the_counts():
    assert estimate.expected_items(None, None) == 3  # no counts: today's guess
    assert estimate.expected_items(10, 20) == 15
    assert estimate.expected_items(None, 5) == 2.5
    assert estimate.expected_items(0, 0) == 0
    assert estimate.expected_items(8, None) == 8  # no maximum: the minimum when it is more than 3
    assert estimate.expected_items(1, None) == 3


def test_typical_value_holds_the_expected_count_and_stays_small():
    assert len(estimate.typical_value(ListT(STR, 10, 20))) == 15
    assert len(estimate.typical_value(ListT(STR))) == 3
    assert estimate.typical_value(ListT(STR, 0, 0)) == []
    huge = estimate.typical_value(ListT(ListT(INT, 1000, 1000), 1000, 1000))
    assert sum(len(inner) for inner in huge) <= estimate.TYPICAL_VALUE_ITEMS


def test_output_tokens_count_the_expected_items():
    item = {"type": "integer"}  # 3 tokens, plus 1 for the comma
    assert estimate.output_tokens({"type": "array", "items": item}, None)[0] == 2 + 3 * 4
    assert estimate.output_tokens({"type": "array", "items": item, "minItems": 10, "maxItems": 20}, None)[0] == 2 + 15 * 4
    assert estimate.output_tokens({"type": "array", "items": item, "maxItems": 1e999}, None)[0] > 0  # a schema file's


PLANNED = """\
octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  ideas:
    generate:
      prompt: Give story ideas.
      output:
        titles: %s
  stories:
    generate:
      prompt: "Write a story about {{ ideas.titles | join(', ') }}."
      output: {story: str}
"""


def _tokens(language, titles: str) -> dict[str, dict]:
    from test_plan import plan_of

    plan, _ = plan_of(PLANNED % titles, language)
    return {s["name"]: s["estimate"]["tokens_per_request"] for s in plan.data["steps"]}


def test_plan_estimates_from_the_counts(language):
    plain, counted = _tokens(language, "list[str]"), _tokens(language, "list[str][10, 20]")
    # 15 items expected instead of 3: about five times the list's tokens, in the answer and downstream
    assert 4 * plain["ideas"]["output_expected"] < counted["ideas"]["output_expected"] < 6 * plain["ideas"]["output_expected"]
    assert counted["stories"]["input"] > 3 * plain["stories"]["input"]
    few = _tokens(language, "list[str][, 1]")
    assert few["ideas"]["output_expected"] < plain["ideas"]["output_expected"]
