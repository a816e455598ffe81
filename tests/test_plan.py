"""`octoc plan`: unit counts, ids, the Plan IR, estimates and the budget verdict."""

import json
import re

import pytest

from conftest import octoc
from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.compiler.frontend.unitspace import Selection
from octo.compiler.planning.ir import Plan
from octo.compiler.planning.planner import build_plan, unit_space


def plan_of(text: str, language, **kw):
    result = check_source(Source("t.octo", text), language)
    assert result.ok, [d.message for d in result.diagnostics]
    reporter = Reporter()
    return build_plan(result.program, language, reporter, **kw), reporter.sorted()


PEOPLE = "data:\n  people: [" + ", ".join(f"p{i}" for i in range(22)) + "]\n"


def units_of(units_yaml: str, language, data: str = PEOPLE) -> int:
    text = f"octo: 1\nseed: 7\n{data}units:\n{units_yaml}\nsteps:\n  s: {{compute: {{x: 'unit.id'}}}}\n"
    plan, _ = plan_of(text, language)
    return plan.data["units"]["selected"]


def test_cross_product_of_three_tables(language):
    data = "data:\n  a: [1, 2, 3, 4, 5]\n  b: [w, x, y, z]\n  c: [k, l, m]\n"
    assert units_of("  for: {a: a, b: b, c: c}", language, data) == 60


def test_permutations_and_combinations(language):
    assert units_of("  for: {trio: 'permutations(people, 3)'}", language) == 9240
    assert units_of("  for: {pair: 'combinations(people, 2)'}", language) == 231


def test_repeat_where_sample_limit_compose(language):
    assert units_of("  for: {p: people}\n  repeat: 10", language) == 220
    assert units_of("  for: {p: people}\n  repeat: 10\n  where: unit.repeat < 3", language) == 66
    assert units_of("  for: {p: people}\n  repeat: 10\n  where: unit.repeat < 3\n  sample: 50", language) == 50
    assert units_of("  for: {p: people}\n  repeat: 10\n  where: unit.repeat < 3\n  sample: 50\n  limit: 7", language) == 7
    assert units_of("  for: {p: people}\n  limit: 1000", language) == 22
    assert units_of("  repeat: 5", language) == 5


def test_sample_is_seeded_and_where_applies_first(language):
    text = ("octo: 1\nseed: 7\n" + PEOPLE + "units:\n  for: {p: people}\n  repeat: 10\n  where: 'unit.p != \"p0\"'\n  sample: 30\n"
            "steps:\n  s: {compute: {x: 'unit.id'}}\n")
    result = check_source(Source("t.octo", text), language)
    program = result.program
    from octo.compiler.planning.planner import _where, PlanContext
    ctx = PlanContext(program, language, Reporter(), lambda e: __import__("octo.compiler.expressions.codegen", fromlist=["x"]).compile_expression(e, language.functions).evaluate, {})
    sel = Selection(unit_space(program), _where(ctx), 30, None, 7)
    first, second = list(sel.indices()), list(sel.indices())
    assert first == second and len(first) == 30
    assert all(unit_space(program).unit(i)["p"] != "p0" for i in first)
    other = Selection(unit_space(program), _where(ctx), 30, None, 8)
    assert list(other.indices()) != first


def test_unit_ids_are_valid_unique_and_stable(language):
    data = "data:\n  t:\n    - {id: 'a b', v: 1}\n    - {id: 'a_b', v: 2}\n    - {id: " + "x" * 70 + ", v: 3}\n"
    text = f"octo: 1\n{data}units: {{for: {{r: t}}, repeat: 3}}\nsteps:\n  s: {{compute: {{x: 'unit.id'}}}}\n"
    program = check_source(Source("t.octo", text), language).program
    space = unit_space(program)
    ids = [space.unit(i)["id"] for i in range(space.total)]
    assert len(set(ids)) == len(ids) == 9
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
    assert "a_b-r0" in ids  # readable where it is unambiguous
    assert ids == [unit_space(program).unit(i)["id"] for i in range(space.total)]


def test_permutation_ids_are_unique(language):
    program = check_source(Source("t.octo", "octo: 1\n" + PEOPLE + "units: {for: {trio: 'permutations(people, 3)'}}\n"
                                  "steps:\n  s: {compute: {x: 'unit.id'}}\n"), language).program
    space = unit_space(program)
    ids = {space.unit(i)["id"] for i in range(space.total)}
    assert len(ids) == 9240


SHANTY = """octo: 1
seed: 3
data:
  scenarios: [{id: a, start: 5}, {id: b, start: 8}]
units: {for: {scenario: scenarios}, repeat: 100}
steps:
  walk: {compute: {steps: 'unit.scenario.start * 2'}}
  shanty:
    generate:
      model: openai:gpt-4.1-mini
      prompt: |
        The sailor walked {{ walk.steps }} steps from {{ unit.scenario.start }}.
      output: {verse: str, mood: hopeful | grim}
      max_tokens: 200
    when: unit.repeat < 10
  check:
    judge:
      of: shanty
      model: anthropic:claude-haiku-4-5
      prompt: "Rate {{ shanty.verse }}"
      output: {score: 'float[0, 1]'}
      pass: score > 0.5
      attempts: 3
"""


def test_when_on_unit_fields_is_counted_exactly(language):
    plan, _ = plan_of(SHANTY, language)
    assert plan.step("walk")["units"] == {"count": 200, "exact": True, "worst": 200}
    assert plan.step("shanty")["units"] == {"count": 20, "exact": True, "worst": 20}
    assert plan.step("check")["units"]["count"] == 20


def test_judge_attempts_and_retries_bound_the_requests(language):
    plan, _ = plan_of(SHANTY, language)
    shanty, check = plan.step("shanty"), plan.step("check")
    assert shanty["estimate"]["requests"]["worst"] == 20 * 3 * 3  # 3 tries × (1 + 2 retries)
    assert check["estimate"]["requests"]["worst"] == 20 * 3 * 3
    assert 20 < shanty["estimate"]["requests"]["expected"] < 20 * 1.4
    assert shanty["estimate"]["tokens_per_request"]["output_worst"] == 200


def test_batch_costs_half_of_realtime(language):
    plan, _ = plan_of(SHANTY, language)
    cost = plan.step("shanty")["estimate"]["cost_usd"]
    assert cost["batch"]["expected"] == pytest.approx(cost["realtime"]["expected"] / 2, rel=1e-3)
    assert 0 < cost["batch"]["expected"] <= cost["batch"]["worst"]


def test_when_reading_a_step_is_an_upper_bound(language):
    text = SHANTY.replace("when: unit.repeat < 10", "when: walk.steps > 12")
    plan, _ = plan_of(text, language)
    assert plan.step("shanty")["units"] == {"count": 200, "exact": False, "worst": 200}
    assert any("known only during a run" in n for n in plan.step("shanty")["notes"])


def test_unknown_model_costs_unknown_never_zero(language):
    plan, diags = plan_of(SHANTY.replace("openai:gpt-4.1-mini", "openai:gpt-9"), language)
    cost = plan.step("shanty")["estimate"]["cost_usd"]
    assert cost["batch"]["expected"] is None and cost["realtime"]["worst"] is None
    assert plan.data["totals"]["unknown_cost_steps"] == ["shanty"]
    assert [d.code for d in diags] == ["W0503"]


def test_provider_override(language):
    plan, _ = plan_of(SHANTY, language, provider="emulator")
    assert plan.step("shanty")["model"] == "emulator:gpt-4.1-mini"
    assert plan.data["totals"]["as_planned"] == {"expected": 0, "worst": 0}
    plan, _ = plan_of(SHANTY, language, provider="gemini")
    assert {plan.step("shanty")["model"], plan.step("check")["model"]} == {"gemini:gemini-2.5-flash"}


def test_budget_verdicts(language):
    _, diags = plan_of(SHANTY + "budget: {max_usd: 0.000001}\n", language)
    assert [d.code for d in diags] == ["E0501"]
    plan, _ = plan_of(SHANTY + "budget: {max_usd: 1000}\n", language)
    assert plan.data["budget"]["verdict"] == "within"
    expected = plan.data["totals"]["as_planned"]["expected"]
    worst = plan.data["totals"]["as_planned"]["worst"]
    _, diags = plan_of(SHANTY + f"budget: {{max_usd: {(expected + worst) / 2}}}\n", language)
    assert [d.code for d in diags] == ["W0502"]


def test_plan_round_trips_through_json(language, root):
    for path in sorted((root / "examples").glob("*.octo")):
        result = check_source(Source(str(path.relative_to(root)), path.read_text()), language)
        plan = build_plan(result.program, language, Reporter())
        again = Plan.from_json(plan.to_json())
        assert again == plan
        assert again.to_json() == plan.to_json()
        assert json.loads(plan.to_json()) == plan.data


def test_plan_expressions_rebuild_without_the_parser(language):
    from octo.compiler.expressions.astjson import from_record
    from octo.compiler.expressions.codegen import compile_expression

    plan, _ = plan_of(SHANTY, language)
    (name, record), = plan.step("walk")["config"]["values"]
    expr = from_record(record)
    assert compile_expression(expr, language.functions).evaluate({"unit": {"scenario": {"start": 4}}}) == 8


def test_plan_cli_exit_codes_and_graphs(tmp_path):
    f = tmp_path / "p.octo"
    f.write_text(SHANTY + "budget: {max_usd: 0.000001}\n")
    out = octoc("plan", str(f))
    assert out.returncode == 1 and "E0501" in out.stdout and "Traceback" not in out.stderr
    f.write_text(SHANTY)
    out = octoc("plan", str(f), "--graph", "dot")
    assert out.returncode == 0 and out.stdout.startswith("digraph") and '"check" -> "shanty" [style=dashed' in out.stdout
    out = octoc("plan", str(f), "--graph", "mermaid")
    assert out.stdout.startswith("flowchart LR") and "walk --> shanty" in out.stdout
    assert octoc("plan", str(tmp_path / "missing.octo")).returncode == 2
    assert octoc("plan", str(f), "--provider", "nope").returncode == 2


def test_plan_resolves_defaults_and_export(language):
    text = SHANTY.replace("      max_tokens: 200\n", "") + "defaults: {temperature: 0.3, max_tokens: 77}\nexport: [unit.id, shanty.verse]\n"
    plan, _ = plan_of(text, language)
    cfg = plan.step("shanty")["config"]
    assert (cfg["temperature"], cfg["max_tokens"]) == (0.3, 77)
    assert plan.step("shanty")["estimate"]["tokens_per_request"]["output_worst"] == 77
    assert [c for c, _ in plan.data["export"]] == ["unit.id", "shanty.verse"]


def test_user_prices_file_overrides_and_adds_models(tmp_path):
    f = tmp_path / "p.octo"
    f.write_text(SHANTY.replace("openai:gpt-4.1-mini", "openai:my-finetune"))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"as_of": "2027-01-01", "models": {
        "openai:my-finetune": {"input": 1.0, "output": 2.0},
        "anthropic:claude-haiku-4-5": {"input": 0.0, "output": 0.0}}}))
    data = json.loads(octoc("plan", str(f), "--format", "json", "--prices", str(prices)).stdout)["plan"]
    shanty = next(s for s in data["steps"] if s["name"] == "shanty")
    check = next(s for s in data["steps"] if s["name"] == "check")
    assert shanty["price_known"] and shanty["estimate"]["cost_usd"]["realtime"]["expected"] > 0
    assert check["estimate"]["cost_usd"]["realtime"]["worst"] == 0
    assert data["prices"]["as_of"] == "2027-01-01"
    prices.write_text("{not json")
    out = octoc("plan", str(f), "--prices", str(prices))
    assert out.returncode == 2 and "cannot read prices file" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("setting", ["seed: 7.0", "seed: 7"])
def test_a_whole_number_written_as_a_float_is_that_number(language, setting):
    """`seed: 7.0` passes the schema (JSON Schema's integers include 7.0): it is seed 7, with seed 7's streams,
    and `retries: 1.0` is one retry."""
    text = (f"octo: 1\n{setting}\nsteps:\n  s: {{compute: {{x: 'unit.id'}}}}\n"
            "  g: {generate: {model: openai:gpt-4.1-mini, prompt: hi}, retries: 1.0}\n")
    plan, _ = plan_of(text, language)
    seed = plan.data["pipeline"]["seed"]
    assert seed == 7 and type(seed) is int
    (g,) = [s for s in plan.steps if s["name"] == "g"]
    assert json.dumps(g).count('"retries": 1,') + json.dumps(g).count('"retries": 1}') >= 1


WHEN = """octo: 1
name: when-streams
units: {{repeat: 50}}
steps:
  pick:
    compute: {{x: unit.repeat}}
    when: {when}
"""


@pytest.mark.parametrize("when, streams", [("unit.repeat < 20", 0), ("random() < 0.5", 50)])
def test_plan_makes_unit_streams_only_for_a_when_that_draws(language, monkeypatch, when, streams):
    # a stream is a SHA-256 and a seeding per unit: most of `plan`'s time on the drunken sailor's `when`
    import octo.compiler.planning.planner as planner

    made = []
    real = planner.unit_stream
    monkeypatch.setattr(planner, "unit_stream", lambda *a: made.append(a) or real(*a))
    plan, _ = plan_of(WHEN.format(when=when), language)
    assert len(made) == streams
    if not streams:
        assert plan.data["steps"][0]["units"] == {"count": 20, "exact": True, "worst": 20}
