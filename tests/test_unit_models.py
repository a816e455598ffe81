"""A model per unit (`model: unit.contender.model`): checked per data row, planned per model, run per model.

The runs go through `octoc` in a subprocess with the real SDKs over HTTP against an emulator in this
process (as tests/test_provider_runs.py does), so what each provider received — one batch per
(provider, model), the right model in every request — is read from the emulator's own records, and the
answers, which the emulator writes as the model that gave them, show they reached the right units.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.render import render_text
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octo.stdlib import default_language

from test_provider_runs import PRICES, octoc

LANGUAGE = default_language()

CONTENDERS = [("mini", "openai:gpt-4.1-mini"), ("big", "openai:gpt-4.1"), ("haiku", "anthropic:claude-haiku-4-5"),
              ("flash", "gemini:gemini-2.5-flash")]


def pipeline(contenders=CONTENDERS, questions=3, model="unit.contender.model", extra="") -> str:
    rows = "\n".join(f'    - {{id: {i}, model: "{m}"}}' for i, m in contenders)
    qs = ", ".join(f"{{id: q{n}, text: 'Question {n}?'}}" for n in range(questions))
    return f"""octo: 1
name: ab
seed: 5
data:
  contenders:
{rows}
  questions: [{qs}]
units:
  for: {{contender: contenders, question: questions}}
steps:
  answer:
    generate:
      model: {model}
      prompt: "{{{{ unit.question.text }}}} ({{{{ unit.contender.id }}}})"
      output: {{said_by: str}}
    retries: 1
{extra}"""


def check(text: str, name: str = "p.octo"):
    return check_source(Source(name, text), LANGUAGE)


def plan_of(text: str, provider: str | None = None):
    result = check(text)
    assert result.ok, "\n".join(render_text(d) for d in result.diagnostics)
    reporter = Reporter()
    return build_plan(result.program, LANGUAGE, reporter, provider=provider).data, reporter.sorted()


# --- the checker ----------------------------------------------------------------------------------

ACCEPTED = {
    "a column of a table of rows": pipeline(),
    "a table of plain strings": """octo: 1
data:
  models: ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"]
units:
  for: {model: models}
steps:
  s: {generate: {model: unit.model, prompt: Hello.}}
""",
    "defaults.model from the unit": """octo: 1
defaults: {model: unit.c.model}
data:
  cs: [{id: a, model: "openai:gpt-4.1-mini"}, {id: b, model: "emulator:anything"}]
units:
  for: {c: cs}
steps:
  s: {generate: {prompt: Hello.}}
  t: {generate: {prompt: "Again: {{ s.text }}"}}
""",
}

REFUSED = {
    "an expression": pipeline(model="\"unit.contender.model + 'x'\""),
    "the whole unit": pipeline(model="unit"),
    "a built-in field": pipeline(model="unit.repeat"),
    "an index": pipeline(model="\"unit.contender['model']\""),
    "a whole row": pipeline(model="unit.contender"),
    "an unknown field": pipeline(model="unit.contender.modle"),
    "a step's output": pipeline(model="pick.model"),
    "a list of rows": """octo: 1
data:
  cs: [{id: a, model: "openai:gpt-4.1-mini"}, {id: b, model: "openai:gpt-4.1"}]
units:
  for: {pair: "combinations(cs, 2)"}
steps:
  s: {generate: {model: unit.pair.model, prompt: Hello.}}
""",
    "every bad row": pipeline(contenders=[("ok", "openai:gpt-4.1-mini"), ("bare", "gpt-4o"), ("typo", "opnai:gpt-4o"),
                                          ("name", "gemini:gemini 2.5"), ("future", "anthropic:claude-9"),
                                          ("again", "gpt-4o")]),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_the_checker_accepts_unit_paths_into_a_data_table(name):
    result = check(ACCEPTED[name])
    assert result.diagnostics == [], "\n".join(render_text(d) for d in result.diagnostics)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_checker_refuses_what_it_cannot_enumerate_with_a_caret_and_a_hint(name, snapshot):
    result = check(REFUSED[name])
    assert not result.ok
    assert "\n\n".join(render_text(d, colour=False) for d in result.diagnostics) == snapshot


def test_each_possible_model_is_checked_at_its_own_row():
    text = pipeline(contenders=[("ok", "openai:gpt-4.1-mini"), ("bare", "gpt-4o"), ("typo", "opnai:gpt-4o"),
                                ("name", "gemini:gemini 2.5"), ("future", "anthropic:claude-9"), ("again", "gpt-4o")])
    found = {(d.code, d.span.line) for d in check(text).diagnostics}
    row = {i: 6 + n for n, (i, _) in enumerate([("ok", 0), ("bare", 0), ("typo", 0), ("name", 0), ("future", 0)])}
    # each value once, at the first row that holds it: `gpt-4o` is reported at 'bare', not again at 'again'
    assert found == {("E0312", row["bare"]), ("E0104", row["typo"]), ("E0111", row["name"]), ("W0401", row["future"])}


def test_a_model_in_a_data_file_is_checked_with_its_row_number(tmp_path):
    (tmp_path / "models.csv").write_text("id,model\na,openai:gpt-4.1-mini\nb,anthropic:claude-9\nc,\n")
    text = pipeline().replace('''  contenders:
    - {id: mini, model: "openai:gpt-4.1-mini"}
    - {id: big, model: "openai:gpt-4.1"}
    - {id: haiku, model: "anthropic:claude-haiku-4-5"}
    - {id: flash, model: "gemini:gemini-2.5-flash"}''', "  contenders: {file: models.csv}")
    (tmp_path / "p.octo").write_text(text)
    from octo.compiler.frontend.check import check_file

    diags = check_file(str(tmp_path / "p.octo"), LANGUAGE).diagnostics
    assert {(d.code, d.label) for d in diags} == {("W0401", "row 2 of models.csv"), ("E0312", "row 3 of models.csv")}
    assert all(d.span.text() == "models.csv" for d in diags)


def test_defaults_model_from_the_unit_is_checked_once_for_every_step():
    text = ACCEPTED["defaults.model from the unit"].replace('"emulator:anything"', '"openai:gpt-9"')
    result = check(text)
    assert [d.code for d in result.diagnostics] == ["W0401"]  # two steps use it: one warning
    assert [s.models for s in result.program.steps.values()] == [["openai:gpt-4.1-mini", "openai:gpt-9"]] * 2


def test_export_that_leaves_out_the_model_is_warned_and_one_that_keeps_it_is_not():
    missing = pipeline(extra="export:\n  q: unit.question.id\n  said: answer.said_by\n")
    kept = pipeline(extra="export:\n  m: unit.contender.model\n  said: answer.said_by\n")
    whole = pipeline(extra="export:\n  u: unit\n  said: answer.said_by\n")
    assert [d.code for d in check(missing).diagnostics] == ["W0408"]
    assert check(kept).diagnostics == [] and check(whole).diagnostics == []


# --- the plan ----------------------------------------------------------------------------------------

def test_the_plan_costs_each_model_on_its_own_units_and_the_step_is_their_sum():
    text = pipeline(questions=5).replace("units:\n  for: {contender: contenders, question: questions}",
                                         "units:\n  for: {contender: contenders, question: questions}\n"
                                         "  where: unit.contender.id != 'big' or unit.question.id < 'q2'")
    plan, diags = plan_of(text)
    assert diags == []
    step = plan["steps"][0]
    assert step["model"] is None and step["model_from"]["text"] == "unit.contender.model"
    assert step["models"] == [m for _, m in CONTENDERS]
    assert step["model_map"] == {m: m for _, m in CONTENDERS}
    per = {m["model"]: m for m in step["per_model"]}
    assert {m: p["units"]["count"] for m, p in per.items()} == {
        "openai:gpt-4.1-mini": 5, "openai:gpt-4.1": 2, "anthropic:claude-haiku-4-5": 5, "gemini:gemini-2.5-flash": 5}
    assert step["units"]["count"] == 17 and all(p["units"]["exact"] for p in per.values())
    for model, p in per.items():  # each at its own price
        e, price = p["estimate"], PRICES[model]
        expected = (e["tokens"]["input_expected"] * price["input"] + e["tokens"]["output_expected"] * price["output"]) / 1e6
        assert e["cost_usd"]["realtime"]["expected"] == pytest.approx(expected, rel=0.01)  # tokens are rounded
    for key in ("input_expected", "output_expected", "input_worst", "output_worst"):
        assert step["estimate"]["tokens"][key] == sum(p["estimate"]["tokens"][key] for p in per.values())
    assert step["estimate"]["cost_usd"]["batch"]["worst"] == pytest.approx(
        sum(p["estimate"]["cost_usd"]["batch"]["worst"] for p in per.values()), abs=1e-6)
    assert plan["totals"]["as_planned"]["expected"] == step["estimate"]["cost_usd"]["batch"]["expected"]
    assert set(plan["prices"]["models"]) == set(per)


def test_the_plan_text_shows_a_row_per_model():
    from octo.compiler.planning.ir import Plan
    from octo.compiler.planning.plan_render import render_plan

    plan, _ = plan_of(pipeline(questions=2))
    lines = render_plan(Plan(plan)).splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("answer"))
    assert "4 models from unit.contender.model (batch)" in lines[head]
    for line, (_, model) in zip(lines[head + 1:head + 5], CONTENDERS):
        assert line.split()[:3] == ["·", model, "2"]


def test_the_budget_verdict_counts_every_model():
    cheap = pipeline(contenders=[("mini", "openai:gpt-4.1-mini")], questions=40)
    both = pipeline(contenders=[("mini", "openai:gpt-4.1-mini"), ("opus", "anthropic:claude-opus-4-1")], questions=20)
    plan, _ = plan_of(cheap)
    limit = plan["totals"]["as_planned"]["expected"] * 2  # the cheap model alone, for as many units, fits
    for text, over in ((cheap, False), (both, True)):  # 40 units either way: the second has an expensive model
        plan, diags = plan_of(text + f"budget: {{max_usd: {limit}}}\n")
        assert plan["units"]["selected"] == 40
        assert (plan["budget"]["verdict"] == "over") == over
        assert ("E0501" in {d.code for d in diags}) == over


def test_a_model_without_a_price_is_named_and_left_out_of_the_step_cost():
    plan, diags = plan_of(pipeline(contenders=[("mini", "openai:gpt-4.1-mini"), ("new", "openai:gpt-9")]))
    step = plan["steps"][0]
    assert [d.code for d in diags] == ["W0503"] and "'openai:gpt-9'" in diags[0].message
    assert step["price_known"] is False and plan["totals"]["unknown_cost_steps"] == ["answer"]
    known = next(m for m in step["per_model"] if m["model"] == "openai:gpt-4.1-mini")
    assert step["estimate"]["cost_usd"]["batch"]["expected"] == known["estimate"]["cost_usd"]["batch"]["expected"]


@pytest.mark.parametrize("provider, models, per_unit", [
    ("emulator", ["emulator:gpt-4.1-mini", "emulator:gpt-4.1", "emulator:claude-haiku-4-5", "emulator:gemini-2.5-flash"], True),
    ("anthropic", ["anthropic:claude-haiku-4-5"], False),
    ("openai:gpt-5-mini", ["openai:gpt-5-mini"], False),
])
def test_provider_overrides_apply_to_every_model(provider, models, per_unit):
    plan, _ = plan_of(pipeline(), provider=provider)
    step = plan["steps"][0]
    assert step["models"] == models and [m["model"] for m in step["per_model"]] == models
    assert (step["model_from"] is not None) == per_unit
    assert step["model"] == (None if per_unit else models[0])
    if per_unit:
        assert list(step["model_map"].values()) == models and all(m["units"]["count"] == 3 for m in step["per_model"])


# --- the run ----------------------------------------------------------------------------------------------

def said_by(request, nth):
    """The emulator's answer names the model that gave it, so results show which model answered each unit."""
    return {"said_by": f"{request.provider}:{request.model.removeprefix('models/')}"} if request.schema else None


def expected_model(unit_id: str) -> str:
    return dict(CONTENDERS)[unit_id.split("-")[0]]


def ledger(run_dir):
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return {"attempts": db.execute("SELECT id, unit, request, cost, list_cost, batch FROM attempts").fetchall(),
                "batches": db.execute("SELECT key, provider, requests FROM batches").fetchall(),
                "units": dict(db.execute("SELECT pos, id FROM units").fetchall())}
    finally:
        db.close()


def results(run_dir, *args):
    out = octoc("results", run_dir, *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def check_answers_and_costs(run_dir, answers_seen, batch: bool, contenders=CONTENDERS):
    """Every unit answered by its own model, costed at that model's price (from the emulator's usage)."""
    rows = results(run_dir, "--step", "answer")
    assert len(rows) == len(contenders) * 3
    for row in rows:
        assert row["state"] == "done" and row["said_by"] == expected_model(row["unit"]) == row["model"], row
    full = results(run_dir)
    assert all(r["steps"]["answer"]["model"] == expected_model(r["unit"]) for r in full)
    store = ledger(run_dir)
    spent: dict[str, float] = {}
    for _, unit, request, cost, listed, _ in store["attempts"]:
        request = json.loads(request)
        spent[f"{request['provider']}:{request['model']}"] = spent.get(f"{request['provider']}:{request['model']}", 0) + cost
    paid: dict[str, float] = {}
    for model, usage in answers_seen:
        price = PRICES[model]
        usd = ((usage.input - usage.cached) * price["input"] + usage.cached * price["cached_input"]
               + (usage.output + usage.reasoning) * price["output"]) / 1e6
        paid[model] = paid.get(model, 0) + usd * (0.5 if batch else 1.0)
    assert set(spent) == set(paid) == {m for _, m in contenders}
    for model in paid:
        assert spent[model] == pytest.approx(paid[model], rel=1e-9), model


def recording_emulator(seed=3, faults=None):
    emulator = Emulator(seed=seed, faults=faults, responder=said_by)
    emulator.seen = []
    answer = emulator.answer

    def recording(request, how):  # what each provider was asked, and the usage it reported for it
        result = answer(request, how)
        model = f"{request.provider}:{request.model.removeprefix('models/')}"
        emulator.seen.append((model, how, result.usage))
        return result

    emulator.answer = recording
    return emulator


def test_a_batch_run_sends_one_batch_per_provider_and_model_with_the_right_model_in_each_request(tmp_path):
    (tmp_path / "p.octo").write_text(pipeline())
    emulator = recording_emulator()
    with EmulatorServer(emulator):
        out = octoc("run", tmp_path / "p.octo", "--run-dir", tmp_path / "r", "--poll-interval", "0", emulator=emulator)
    assert out.returncode == 0, out.stdout + out.stderr
    batches = list(emulator.batches.values())
    models = [{f"{b.provider}:{r.model.removeprefix('models/')}" for r in b.requests} for b in batches]
    assert all(len(m) == 1 for m in models)  # one model per batch
    assert sorted(m.pop() for m in models) == sorted(m for _, m in CONTENDERS)  # and one batch per model
    store = ledger(tmp_path / "r")
    assert sorted((p, n) for _, p, n in store["batches"]) == sorted((m.partition(":")[0], 3) for _, m in CONTENDERS)
    for _, unit, request, _, _, _ in store["attempts"]:  # each unit's request carried its own model
        request = json.loads(request)
        assert f"{request['provider']}:{request['model']}" == expected_model(store["units"][unit])
    check_answers_and_costs(tmp_path / "r", [(m, u) for m, how, u in emulator.seen if how == "batch"], batch=True)


TWO_PROVIDERS = CONTENDERS[:3]  # the SDKs' imports are most of a run's time: the tests below leave Gemini out


def test_a_realtime_run_calls_each_units_own_model(tmp_path):
    (tmp_path / "p.octo").write_text(pipeline(TWO_PROVIDERS))
    emulator = recording_emulator()
    with EmulatorServer(emulator):
        out = octoc("run", tmp_path / "p.octo", "--run-dir", tmp_path / "r", "--mode", "realtime", emulator=emulator)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not emulator.batches
    assert sorted(m for m, how, _ in emulator.seen) == sorted(m for _, m in TWO_PROVIDERS for _ in range(3))
    check_answers_and_costs(tmp_path / "r", [(m, u) for m, how, u in emulator.seen], False, TWO_PROVIDERS)


def test_a_kill_after_one_models_batch_is_submitted_resumes_by_finding_it_at_its_own_provider(tmp_path):
    (tmp_path / "p.octo").write_text(pipeline(TWO_PROVIDERS))
    emulator = recording_emulator()
    with EmulatorServer(emulator):
        killed = octoc("run", tmp_path / "p.octo", "--run-dir", tmp_path / "r", "--poll-interval", "0",
                       emulator=emulator, env={"OCTO_CRASHPOINT": "after-submit"})
        assert killed.returncode == 137, killed.stdout + killed.stderr
        assert len(emulator.batches) == 1  # one model's batch was taken, and its id never written down
        resumed = octoc("run", "--resume", tmp_path / "r", emulator=emulator)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    sent = [r.custom_id for b in emulator.batches.values() for r in b.requests]
    assert len(sent) == len(set(sent)) == len(TWO_PROVIDERS) * 3  # adopted, not sent again
    check_answers_and_costs(tmp_path / "r", [(m, u) for m, how, u in emulator.seen if how == "batch"], True, TWO_PROVIDERS)


def test_a_step_that_fails_to_read_its_model_fails_that_unit_only():
    from octo.runtime.attempts.prompting import PromptError, StepRequests

    plan, _ = plan_of(pipeline(contenders=CONTENDERS[:2]))
    step = plan["steps"][0]
    requests = StepRequests(step, LANGUAGE.functions)
    unit = {"id": "mini-q0", "contender": {"id": "mini", "model": "openai:gpt-4.1-mini"},
            "question": {"id": "q0", "text": "Q?"}}
    assert requests.request({"unit": unit, "feedback": None})["provider"] == "openai"
    with pytest.raises(PromptError, match="not one of the plan's models"):
        requests.request({"unit": {**unit, "contender": {"id": "x", "model": "openai:gpt-4o"}}, "feedback": None})
