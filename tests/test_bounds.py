"""Every input `octoc check` and `octoc plan` read is bounded (issue 9: "Resources", and K at plan time).

Where the failure mode is memory or endless work, the proof is a subprocess under a resource limit
(RLIMIT_AS of 1 GiB, RLIMIT_CPU) that must finish normally — never a timed assertion. Each bound is
documented in docs/language.md ("Limits"), and the last test keeps that table in step with the code.
"""

from __future__ import annotations

import collections
import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.expressions.codegen import EvalError
from octo.compiler.expressions.exprparse import MAX_EXPRESSION_DEPTH
from octo.compiler.expressions.templatebounds import (CALL_WORK, MAX_TEMPLATE_CHARS, MAX_TEMPLATE_DIGITS,
                                                      MAX_TEMPLATE_OUTPUT, MAX_TEMPLATE_WORK, TemplateLimitError)
from octo.compiler.expressions.templates import MAX_TEMPLATE_DEPTH, MAX_TEMPLATE_LOOPS, make_environment
from octo.compiler.frontend.check import check_source
from octo.compiler.frontend.language import MAX_OUTPUT_TOKENS
from octo.compiler.frontend.loader import ALIAS_BUDGET, MAX_YAML_DEPTH
from octo.compiler.frontend.unitspace import MAX_UNITS
from octo.compiler.planning import diskspace
from octo.compiler.planning.planner import build_plan
from octo.stdlib import default_language
from octo.stdlib.execution import compiled
from octo.stdlib.simulate import MAX_ITERATIONS

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30
LANGUAGE = default_language()


def check(text: str):
    return check_source(Source("t.octo", text), LANGUAGE)


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def plan(text: str, run_root: Path | None = None):
    result = check(text)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    reporter = Reporter()
    built = build_plan(result.program, LANGUAGE, reporter, run_root=run_root)
    return built, reporter.sorted()


def octoc_limited(*args: str, cwd: Path, memory: int = GIB, cpu_seconds: int = 120) -> subprocess.CompletedProcess:
    """`octoc ARGS` in a process that cannot have more than ``memory`` bytes nor ``cpu_seconds`` of CPU."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))

    return subprocess.run([sys.executable, "-m", "octo", *args], capture_output=True, text=True, cwd=cwd,
                          preexec_fn=limits)


# --- 1. YAML aliases and nesting ----------------------------------------------------------------

def billion_laughs(levels: int = 9) -> str:
    lines = ["octo: 1", "lol:", "  a: &a [x, x, x, x, x, x, x, x, x]"]
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join(lines + ["steps:", "  s:", "    compute: {x: 1}"]) + "\n"


def test_a_billion_laughs_under_an_unknown_key_is_refused_at_an_alias_within_a_gibibyte(tmp_path):
    (tmp_path / "laughs.octo").write_text(billion_laughs(9))
    done = octoc_limited("check", "laughs.octo", "--color", "never", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error[E0013]: YAML aliases copy more than 100,000 values in this file" in done.stdout
    assert re.search(r"--> laughs\.octo:\d+:\d+", done.stdout)  # at the alias that passes the budget


def test_the_alias_budget_is_the_number_of_values_copied():
    item = "[" + ", ".join(["v"] * 999) + "]"  # 1,000 values: the list and its items
    copies = ALIAS_BUDGET // 1000
    within = f"octo: 1\nshared: &s {item}\nuses: [{', '.join(['*s'] * copies)}]\nsteps:\n  s:\n    compute: {{x: 1}}\n"
    assert "E0013" not in codes(check(within).diagnostics)
    over = within.replace("uses: [", "uses: [*s, ")
    diagnostics = check(over).diagnostics
    assert codes(diagnostics) == ["E0013"]
    assert diagnostics[0].span.line == 3 and diagnostics[0].span.text() == "*"


def test_an_alias_inside_its_own_anchor_is_refused():
    diagnostics = check("octo: 1\nx: &a [1, *a]\nsteps:\n  s:\n    compute: {x: 1}\n").diagnostics
    assert codes(diagnostics) == ["E0013"]
    assert (diagnostics[0].span.line, diagnostics[0].span.column) == (2, 11)
    assert "inside its own anchor" in diagnostics[0].message


def test_aliases_for_shared_settings_still_work():
    text = ("octo: 1\ndefaults: {model: openai:gpt-4.1-mini}\nsteps:\n"
            "  a:\n    generate: &g {prompt: Write a haiku., max_tokens: 100}\n"
            "  b:\n    generate: *g\n")
    assert check(text).ok


def test_yaml_nested_ten_thousand_deep_is_a_diagnostic_with_a_position():
    text = "octo: 1\nnotes: " + "[" * 10_000 + "]" * 10_000 + "\nsteps:\n  s:\n    compute: {x: 1}\n"
    diagnostics = check(text).diagnostics
    assert codes(diagnostics) == ["E0014"]
    assert diagnostics[0].span.line == 2 and diagnostics[0].span.column == 8 + MAX_YAML_DEPTH - 1


def test_yaml_nested_to_the_limit_checks_and_plans():
    rows = "[" * (MAX_YAML_DEPTH - 2) + "1" + "]" * (MAX_YAML_DEPTH - 2)  # the file's mapping and `data` are 2
    built, diagnostics = plan(f"octo: 1\ndata:\n  t: {rows}\nsteps:\n  s:\n    compute: {{n: len(data.t)}}\n")
    assert not [d for d in diagnostics if d.severity.value == "error"]
    json.dumps(built.data)


# --- 2. templates: check never evaluates them; rendering is bounded -----------------------------

HUGE_TEMPLATES = """\
octo: 1
defaults: {model: openai:gpt-4.1-mini}
steps:
  a:
    generate:
      prompt: "{{ 'x' * 2 * 10**9 }}"
  b:
    generate:
      prompt: "{{ 'x' | center(2000000000) }}"
  c:
    generate:
      prompt: "{{ '%2000000000s' | format(1) }}"
  d:
    generate:
      prompt: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
"""


def test_check_never_evaluates_a_template(tmp_path):
    (tmp_path / "huge.octo").write_text(HUGE_TEMPLATES)
    done = octoc_limited("check", "huge.octo", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_plan_renders_templates_within_the_bounds(tmp_path):
    (tmp_path / "huge.octo").write_text(HUGE_TEMPLATES)
    done = octoc_limited("plan", "huge.octo", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    notes = {s["name"]: " ".join(s["notes"]) for s in json.loads(done.stdout)["plan"]["steps"]}
    assert all("TemplateLimitError" in notes[name] for name in "abcd"), notes


@pytest.mark.parametrize("template, says", [
    ("{{ 'x' * 2 * 10**9 }}", "'*' would build 2,000,000,000 characters"),
    ("{{ [0] * 1000000 * 2 }}", "'*' would build 2,000,000"),
    ("{% set a = [0] * 1000 %}{% set b = [a] * 1000 %}{{ [b] * 2 }}", "'*' would build"),
    ("{{ 2 ** 100000 }}", "more than 10,000 digits"),
    ("{{ ('x' * 1000000) + 'y' }}", "'+' would build 1,000,001"),
    ("{% set ns = namespace(a='x' * 600000) %}{{ ns.a ~ ns.a }}", "'~' would build 1,200,000"),
    ("{{ '%999999999d' % 1 }}", "a '%' format would build 999,999,999"),
    ("{{ 'x' | center(2000000000) }}", "center() would build"),
    ("{{ 'a\nb' | indent(100000000) }}", "indent() would build"),
    ("{{ '%2000000000s' | format(1) }}", "a '%' format would build"),
    ("{{ ('x' * 1000000) | replace('x', 'yy') }}", "replace() would build 2,000,000"),
    ("{{ range(100000) | join('x' * 1000) }}", "join() would build"),
    ("{{ [1] | batch(1000000000, 0) | list }}", "batch() would build"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "too much work"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}", "too much work"),
    ("{% for i in range(20000) %}{{ 'x' * 1000 }}{% endfor %}", "prints more than 10,000,000 characters"),
])
def test_rendering_stops_at_a_bound(template, says):
    with pytest.raises(TemplateLimitError, match=re.escape(says)):
        make_environment().from_string(template).render()


@pytest.mark.parametrize("template, rendered", [
    ("{{ 'ab' * 3 }}|{{ 2 ** 10 }}|{{ 'a' + 'b' }}|{{ 'a' ~ 1 }}|{{ '%03d' % 7 }}", "ababab|1024|ab|a1|007"),
    ("{{ 'x' | center(5) }}|{{ 'a\nb' | indent(2) }}|{{ '%s-%s' | format(1, 2) }}", "  x  |a\n  b|1-2"),
    ("{{ 'aXa' | replace('X', '-') }}|{{ range(3) | join(',') }}|{{ [1, 2, 3] | batch(2) | list }}", "a-a|0,1,2|[[1, 2], [3]]"),
    ("{% for i in range(3) %}{{ loop.index }}{% else %}none{% endfor %}|{{ none }}|{{ [1, 'a'] }}", "123|None|[1, 'a']"),
])
def test_templates_within_the_bounds_render_as_before(template, rendered):
    assert make_environment().from_string(template).render() == rendered


def test_the_bounds_are_per_rendering():
    template = make_environment().from_string("{% for i in range(1000) %}{% for j in range(600) %}{% endfor %}{% endfor %}ok")
    assert [template.render() for _ in range(3)] == ["ok"] * 3  # about 600k of work in each, 1.8M in all


# --- 3. max_iterations ----------------------------------------------------------------------------

def simulate(max_iterations: str) -> str:
    return ("octo: 1\nsteps:\n  walk:\n    simulate:\n      init: {x: 0}\n      each: {x: x + 1}\n"
            f"      until: x >= 3\n      max_iterations: {max_iterations}\n")


def test_max_iterations_has_a_documented_maximum():
    diagnostics = check(simulate("1000000000000000000000")).diagnostics
    assert codes(diagnostics) == ["E0104"]
    assert f"must be at most {MAX_ITERATIONS:,}, not 1000000000000000000000" in diagnostics[0].message
    assert check(simulate(str(MAX_ITERATIONS))).ok


@pytest.mark.parametrize("value", ["{}", "[]", "true", "'many'"])
def test_max_iterations_of_the_wrong_kind_is_a_structure_diagnostic(value):
    assert codes(check(simulate(value)).diagnostics) == ["E0103"]


# --- 4. check is near-linear in the number of steps ---------------------------------------------

def chained(n: int) -> str:
    lines = ["octo: 1", "steps:", "  s0:", "    compute: {x: 1}"]
    for i in range(1, n):
        lines += [f"  s{i}:", f"    compute: {{x: s{i - 1}.x + 1}}", f"    when: s{i - 1}.x > 0"]
    return "\n".join(lines) + "\nexport: []\n"  # every step but the last unused: a warning each


def judged(n: int) -> str:
    lines = ["octo: 1", "defaults: {model: openai:gpt-4.1-mini}", "steps:"]
    for i in range(n // 2):
        lines += [f"  g{i}:", "    generate:", f"      prompt: \"Say {{{{ unit.repeat }}}} {i}\"",
                  f"  j{i}:", "    judge:", f"      of: g{i}", f"      prompt: \"Is {{{{ g{i}.text }}}} ok?\"",
                  "      output: {ok: bool}", "      pass: ok"]
    return "\n".join(lines) + "\n"


def calls_per_function(text: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()

    def profile(frame, event, arg):
        if event == "call":
            counts[(frame.f_code.co_filename, frame.f_code.co_firstlineno, frame.f_code.co_name)] += 1

    sys.setprofile(profile)
    try:
        check(text)
    finally:
        sys.setprofile(None)
    return counts


@pytest.mark.parametrize("make", [chained, judged], ids=["chained", "judged"])
def test_no_function_is_called_more_than_linearly_in_the_steps(make):
    """Work, counted in calls, not time: doubling the steps may double each function's calls, not quadruple them.

    (Before: every step rebuilt the scope of every step, and each diagnostic was compared with all
    earlier ones. bench/bench_check.py measures the time.)"""
    check(make(10))  # warm up
    small, large = calls_per_function(make(60)), calls_per_function(make(120))
    grown = {name: (small.get(key, 0), n) for key, n in large.items()
             if n > 2.5 * small.get(key, 0) + 10 and (name := f"{Path(key[0]).name}:{key[2]}")}
    assert not grown, f"called super-linearly often (60 steps, 120 steps): {grown}"


# --- 5. deep nesting --------------------------------------------------------------------------------

def expressions(depth: int) -> dict[str, str]:
    """Expressions nested about ``depth`` levels deep, one per construct."""
    half = depth // 2
    return {
        "parentheses": "(" * (depth - 1) + "1" + ")" * (depth - 1),
        "lists": "[" * (depth - 1) + "1" + "]" * (depth - 1),
        "not": "not " * (depth - 1) + "true",
        "minus": "-(" * (half - 1) + "-1" + ")" * (half - 1),
        "sum": " + ".join(["1"] * depth),
        "and": " and ".join(["true"] * depth),
        "power": " ** ".join(["1"] * depth),
        "calls": "abs(" * (half - 1) + "1" + ")" * (half - 1),
        "conditional": " if true else ".join(["1"] * half),
        "dicts": "{'a': " * (half - 1) + "1" + "}" * (half - 1),
        "comprehension": "[x for x in " + "[" * (depth - 3) + "1" + "]" * (depth - 3) + "]",
        "attributes": "unit.id" + ".a" * (depth - 2),
        "indexes": "[1]" + "[0]" * (depth - 2),
    }


def compute(expression: str) -> str:
    return f"octo: 1\nsteps:\n  s:\n    compute:\n      x: |-\n        {expression}\n"


# The constructs issue 9 names are nested 10,000 deep; the others 1,000 deep (past the limit, and past
# where they ended in RecursionError before), which keeps the test fast.
TEN_THOUSAND = {"parentheses", "lists", "not", "minus", "attributes"}


@pytest.mark.parametrize("construct", sorted(expressions(10)))
def test_an_expression_ten_thousand_deep_is_a_diagnostic_with_a_position(construct):
    depth = 10_000 if construct in TEN_THOUSAND else 1_000
    diagnostics = check(compute(expressions(depth)[construct])).diagnostics
    assert codes(diagnostics) == ["E0219"], [(d.code, d.message) for d in diagnostics]
    assert diagnostics[0].span.line == 6
    assert f"nested more than {MAX_EXPRESSION_DEPTH} levels deep" in diagnostics[0].message


def test_a_type_ten_thousand_deep_is_a_diagnostic():
    text = ("octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-4.1-mini\n      prompt: hi\n"
            "      output: {x: \"" + "list[" * 10_000 + "int" + "]" * 10_000 + "\"}\n")
    diagnostics = check(text).diagnostics
    assert codes(diagnostics) == ["E0219"] and diagnostics[0].span.line == 7


LIMIT_SAFE = {"attributes", "indexes"}  # at the limit these are type errors (no such field, not a list): checked above


def test_expressions_at_the_limit_check_plan_compile_and_evaluate():
    chosen = {k: v for k, v in expressions(MAX_EXPRESSION_DEPTH).items() if k not in LIMIT_SAFE}
    text = "octo: 1\nsteps:\n  s:\n    compute:\n" + "".join(f"      v_{k}: |-\n        {v}\n" for k, v in chosen.items())
    built, diagnostics = plan(text)
    assert not [d for d in diagnostics if d.severity.value == "error"]
    env = {"unit": {"id": "r0", "repeat": 0}, "data": {}}
    for name, record in built.step("s")["config"]["values"]:  # as the runtime compiles them
        try:
            compiled(record, LANGUAGE.functions).evaluate(env)
        except EvalError as err:  # a value nested past its own bound fails the unit: not this test's concern
            assert "lists, sets and dicts would nest more than" in err.message, (name, err.message)


def test_octoc_run_evaluates_expressions_at_the_limit(tmp_path):
    chosen = {k: v for k, v in expressions(MAX_EXPRESSION_DEPTH).items() if k in ("parentheses", "not", "sum", "calls")}
    text = "octo: 1\nsteps:\n  s:\n    compute:\n" + "".join(f"      v_{k}: |-\n        {v}\n" for k, v in chosen.items())
    (tmp_path / "deep.octo").write_text(text)
    done = octoc_limited("run", "deep.octo", "--run-dir", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    results = octoc_limited("results", "run", cwd=tmp_path)
    assert json.loads(results.stdout.splitlines()[0])["state"] == "done"


def templates(depth: int) -> dict[str, str]:
    return {
        "parentheses": "{{ " + "(" * (depth - 1) + "1" + ")" * (depth - 1) + " }}",
        "lists": "{{ " + "[" * (depth - 1) + "1" + "]" * (depth - 1) + " }}",
        "not": "{{ " + "not " * (depth - 1) + "true }}",
        "sum": "{{ " + " + ".join(["1"] * depth) + " }}",
        "filters": "{{ 'a'" + " | upper" * (depth - 1) + " }}",
        "if": "{% if true %}" * (depth - 1) + "x" + "{% endif %}" * (depth - 1),
        "attributes": "{{ unit" + ".a" * (depth - 1) + " }}",
    }


def prompt(template: str) -> str:
    return (f"octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-4.1-mini\n"
            f"      prompt: |-\n        {template}\n")


@pytest.mark.parametrize("construct", sorted(templates(10)))
def test_a_template_ten_thousand_deep_is_a_diagnostic_with_a_position(construct):
    depth = 10_000 if construct in {"parentheses", "lists", "not", "if"} else 1_000
    diagnostics = check(prompt(templates(depth)[construct])).diagnostics
    assert codes(diagnostics) == ["E0220"], [(d.code, d.message) for d in diagnostics]
    assert diagnostics[0].span.line == 7


def test_loops_nest_at_most_ten_deep():
    loops = lambda n: "{% for i in [1] %}" * n + "x" + "{% endfor %}" * n  # noqa: E731
    assert check(prompt(loops(MAX_TEMPLATE_LOOPS))).ok
    diagnostics = check(prompt(loops(MAX_TEMPLATE_LOOPS + 1))).diagnostics
    assert codes(diagnostics) == ["E0220"] and "loops nested more than 10 deep" in diagnostics[0].message


@pytest.mark.parametrize("construct", sorted(set(templates(10)) - {"attributes"}))
def test_templates_at_the_limit_check_compile_and_render(construct):
    template = templates(MAX_TEMPLATE_DEPTH)[construct]
    assert check(prompt(template)).ok
    make_environment().from_string(template).render(unit={})


def schema_step(path: str) -> str:
    return f"octo: 1\nsteps:\n  s:\n    generate:\n      model: openai:gpt-4.1-mini\n      prompt: hi\n      schema: {path}\n"


def test_a_schema_file_is_read_like_a_data_file_within_a_gibibyte(tmp_path):
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    (tmp_path / "s.octo").write_text(schema_step("zero.json"))
    done = octoc_limited("check", "s.octo", "--color", "never", cwd=tmp_path)
    assert done.returncode == 1 and "error[E0010]" in done.stdout, done.stdout + done.stderr


def nested_objects(depth: int) -> str:
    schema: dict = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return json.dumps(schema)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, nested_objects(150)], ids=["brackets", "objects"])
def test_a_schema_file_nested_too_deep_is_a_diagnostic(tmp_path, text):
    (tmp_path / "deep.json").write_text(text)
    path = tmp_path / "s.octo"
    path.write_text(schema_step("deep.json"))
    from octo.compiler.frontend.check import check_file
    diagnostics = check_file(str(path), LANGUAGE).diagnostics
    assert codes(diagnostics) == ["E0007"] and "nests more than 100 levels deep" in diagnostics[0].message
    assert diagnostics[0].span.line == 7


# --- 6. unit counts and disk space ----------------------------------------------------------------

def test_units_past_the_ceiling_are_a_plan_error():
    text = ("octo: 1\ndata:\n  coins: [heads, tails]\nunits:\n  for: {coin: coins}\n  repeat: 100000000\n"
            "steps:\n  flip:\n    compute: {side: unit.coin}\n")
    built, diagnostics = plan(text)
    assert codes(diagnostics) == ["E0505"]
    assert "200,000,000 units, more than the 100,000,000" in diagnostics[0].message
    assert diagnostics[0].span.line == 4
    assert built.data["units"]["selected"] == 200_000_000


def test_a_repeat_past_the_ceiling_is_a_check_error():
    diagnostics = check("octo: 1\nunits: {repeat: 1000000000000}\nsteps:\n  s:\n    compute: {x: 1}\n").diagnostics
    assert codes(diagnostics) == ["E0104"] and f"at most {MAX_UNITS:,}" in diagnostics[0].message


def test_where_over_a_space_past_the_ceiling_is_refused_without_evaluating_it(tmp_path):
    (tmp_path / "where.octo").write_text(
        "octo: 1\ndata:\n  coins: [heads, tails]\nunits:\n  for: {coin: coins}\n  repeat: 100000000\n"
        "  where: unit.repeat % 1000 == 0\n  limit: 10\nsteps:\n  flip:\n    compute: {side: unit.coin}\n")
    done = octoc_limited("plan", "where.octo", "--color", "never", cwd=tmp_path, cpu_seconds=60)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    assert "error[E0505]: `units.where` would be evaluated on 200,000,000 units" in done.stdout


def test_the_plan_shows_a_disk_estimate(tmp_path):
    text = "octo: 1\nunits: {repeat: 1000}\nsteps:\n  s:\n    compute: {x: unit.repeat}\n"
    built, diagnostics = plan(text, run_root=tmp_path)
    assert not diagnostics
    expected = 1000 * diskspace.UNIT_ROW_BYTES + 1000 * (diskspace.RESULT_ROW_BYTES + len('{"x": 42}'))
    assert built.data["disk"] == {"estimated_bytes": expected}
    from octo.compiler.planning.plan_render import render_plan
    assert f"Disk: about {diskspace.size_text(expected)} for the run's store (estimate)" in render_plan(built)


def test_a_run_bigger_than_the_free_space_is_a_plan_error(tmp_path, monkeypatch):
    real = diskspace.shutil.disk_usage
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda p: real(p)._replace(free=100_000))
    text = "octo: 1\nunits: {repeat: 1000}\nsteps:\n  s:\n    compute: {x: unit.repeat}\n"
    _, diagnostics = plan(text, run_root=tmp_path / "runs" / "new")  # not made yet: its nearest folder counts
    assert codes(diagnostics) == ["E0506"]
    assert diagnostics[0].message == f"the run needs about 109.0 kB of disk, but {tmp_path.resolve()} has 100.0 kB free"


def test_a_prices_file_that_is_a_device_is_refused_within_a_gibibyte(tmp_path):
    (tmp_path / "prices.json").symlink_to("/dev/zero")
    (tmp_path / "p.octo").write_text("octo: 1\nsteps:\n  s:\n    compute: {x: 1}\n")
    done = octoc_limited("plan", "p.octo", "--prices", "prices.json", cwd=tmp_path)
    assert done.returncode == 2 and "is not a regular file" in done.stderr, done.stderr


@pytest.mark.parametrize("content, says", [
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ('{"models": {"openai:x": {"input": NaN, "output": 1}}}', "NaN is not a price"),
    ('{"models": {"openai:x": {"input": "1", "output": 1}}}', "\"input\" must be a number of at least 0"),
    ('{"models": {}, "batch_discount": 2}', "\"batch_discount\" must be a number from 0 to 1"),
], ids=["deep", "nan", "string", "discount"])
def test_a_prices_file_is_checked(tmp_path, content, says):
    from octo.cli.planning import UsageError, load_prices

    (tmp_path / "prices.json").write_text(content)
    with pytest.raises(UsageError, match=re.escape(says)):
        load_prices(str(tmp_path / "prices.json"), dict(LANGUAGE.prices))


# --- 7. numbers are finite ----------------------------------------------------------------------------

NUMBER_SETTINGS = {
    "defaults.temperature": "octo: 1\ndefaults: {model: openai:gpt-4.1-mini, temperature: VALUE}\nsteps:\n  s:\n    compute: {x: 1}\n",
    "defaults.max_tokens": "octo: 1\ndefaults: {max_tokens: VALUE}\nsteps:\n  s:\n    compute: {x: 1}\n",
    "budget.max_usd": "octo: 1\nbudget: {max_usd: VALUE}\nsteps:\n  s:\n    compute: {x: 1}\n",
    "seed": "octo: 1\nseed: VALUE\nsteps:\n  s:\n    compute: {x: 1}\n",
    "units.repeat": "octo: 1\nunits: {repeat: VALUE}\nsteps:\n  s:\n    compute: {x: 1}\n",
    "units.limit": "octo: 1\nunits: {limit: VALUE}\nsteps:\n  s:\n    compute: {x: 1}\n",
    "generate.temperature": "octo: 1\nsteps:\n  s:\n    generate: {model: openai:gpt-4.1-mini, prompt: hi, temperature: VALUE}\n",
    "generate.retries": "octo: 1\nsteps:\n  s:\n    generate: {model: openai:gpt-4.1-mini, prompt: hi, retries: VALUE}\n",
    "judge.attempts": ("octo: 1\ndefaults: {model: openai:gpt-4.1-mini}\nsteps:\n  g:\n    generate: {prompt: hi}\n"
                       "  j:\n    judge: {of: g, prompt: \"{{ g.text }}\", output: {ok: bool}, pass: ok, attempts: VALUE}\n"),
    "simulate.max_iterations": simulate("VALUE"),
    "simulate.until": simulate("5").replace("until: x >= 3", "until: VALUE"),
}


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("setting", sorted(NUMBER_SETTINGS))
def test_a_number_setting_is_never_nan_or_infinite(setting, value):
    diagnostics = [d for d in check(NUMBER_SETTINGS[setting].replace("VALUE", value)).diagnostics if d.code != "E0207"]
    assert codes(diagnostics) == ["E0110"], [(d.code, d.message) for d in diagnostics]
    assert diagnostics[0].span.text() == value
    assert diagnostics[0].message.endswith(("not NaN", "not infinity", "not minus infinity"))


def test_data_may_hold_nan():
    assert check("octo: 1\ndata:\n  t: [{id: a, x: .nan}]\nunits:\n  for: {r: t}\nsteps:\n  s:\n    compute: {x: unit.r.x}\n").ok


# --- 8. model names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, caret", [
    ("gemini:gemini-2.5-flash?x=1", "?"),
    ("gemini:../../files", ".."),
    ("gemini:gemini-2.5-flash/../../v1/files", "/"),
    ("gemini:gemini:generateContent", ":"),
    ("openai:gpt-4.1-mini#frag", "#"),
    ("anthropic:claude haiku", " "),
    ("openai:gpt-4.1-mini\u00e9", "\u00e9"),
    ("openai:-gpt", "-"),
    ("openai:" + "a" * 129, "a"),
])
def test_a_model_name_outside_the_documented_characters_is_an_error(model, caret):
    text = f'octo: 1\nsteps:\n  s:\n    generate:\n      model: "{model}"\n      prompt: hi\n'
    diagnostics = [d for d in check(text).diagnostics if d.code != "W0401"]
    assert codes(diagnostics) == ["E0111"], [(d.code, d.message) for d in diagnostics]
    assert diagnostics[0].span.text() == caret and diagnostics[0].span.line == 5


@pytest.mark.parametrize("model", ["openai:gpt-4.1-mini", "openai:ft:gpt-4o-mini:acme::abc123", "gemini:gemini-2.5-flash",
                                   "gemini:models/gemini-2.5-flash", "anthropic:claude-3-5-haiku-latest", "emulator:x_1.2"])
def test_model_names_of_the_providers_are_accepted(model):
    text = f'octo: 1\nsteps:\n  s:\n    generate:\n      model: "{model}"\n      prompt: hi\n'
    assert "E0111" not in codes(check(text).diagnostics)


# --- the documentation lists every bound --------------------------------------------------------------

def test_docs_list_every_bound_with_its_value():
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    limits = text.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    for value in (ALIAS_BUDGET, MAX_YAML_DEPTH, MAX_EXPRESSION_DEPTH, MAX_TEMPLATE_DEPTH, MAX_TEMPLATE_LOOPS, MAX_UNITS,
                  MAX_ITERATIONS, MAX_OUTPUT_TOKENS, MAX_TEMPLATE_CHARS, MAX_TEMPLATE_DIGITS, MAX_TEMPLATE_WORK,
                  MAX_TEMPLATE_OUTPUT):
        assert f"{value:,}" in limits, f"docs/language.md's Limits section does not give {value:,}"
    assert f"counting {CALL_WORK}" in limits
    for code in ("E0013", "E0014", "E0110", "E0111", "E0219", "E0220", "E0505", "E0506"):
        assert code in limits

