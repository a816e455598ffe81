"""Fuzzing `octoc run`: whatever a program that checks clean does per unit, the run never dies of it.

tests/test_fuzz.py fuzzes `octoc check`. This file runs what `check` accepts,
on the emulator: small pipelines (`units: {repeat: 3..5}`) assembled from
fuzzed templates (arithmetic on unit fields, division by zero, filters, loops,
ranges, attribute access, attributes the sandbox forbids), fuzzed compute
expressions, `validate` rules and messages and aggregate metrics; and the
examples with small mutations. Each run must

- never be an internal error (exit 3, "internal error", a traceback);
- end: done (exit 0), or stopped with a message (exit 1 or 2) — never hang
  (each run is a separate process, killed after ``RUN_TIMEOUT`` seconds);
- when done, have a state for every unit at every per-unit step, and every
  aggregate computed.

``OCTO_FUZZ_RUN_EXAMPLES`` sets the examples per test (default 10: about a
second per run, so the file takes well under a minute); ``OCTO_FUZZ_RUN_SHRINK=1`` lets hypothesis shrink a
failure to a minimal program (slow: each step is a run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import octoproc
from planvsemu import cut_data_files
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.stdlib import default_language

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))
RUN_TIMEOUT = 30.0
FINISHED = (0, 6, 7)  # done: everything passed, some units failed, an `expect` failed (docs/cli.md#exit-codes)
PHASES = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("OCTO_FUZZ_RUN_SHRINK") else [])
RUNS = settings(max_examples=int(os.environ.get("OCTO_FUZZ_RUN_EXAMPLES", "10")), deadline=None, phases=PHASES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LANGUAGE = default_language()

# --- what the generated pipelines are made of --------------------------------------------------

TEMPLATES = [
    "Tell me about unit {{ unit.id }}.",
    "{{ unit.repeat }} of them",
    "Share {{ 100 / unit.repeat }} percent",
    "{{ 100 // (unit.repeat - 1) }}",
    "{{ 7 % unit.repeat }}",
    "{{ unit.id | upper }} and {{ unit.id | length }}",
    "{{ unit.id | int }} {{ unit.id | float | round(2) }}",
    "{{ [1, 2, 3] | sum }} {{ [] | first }}",
    "{{ [1, 2, 3][unit.repeat] }}",
    "{{ {'a': unit.repeat}['b'] }}",
    "{{ unit.id | truncate(3) }} {{ unit.id | replace('r', '') }} {{ unit.id | default('x') }}",
    "{% for i in range(unit.repeat) %}{{ i }},{% endfor %}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(unit.repeat * 40000) %}{% endfor %}",
    "{{ range(unit.repeat) | list }}",
    "{{ unit.__class__ }}",  # the checker refuses it; the rest reach the sandbox at run time
    "{{ unit.id | attr('__class__') }}",
    "{{ unit | attr('__class__') | attr('__mro__') }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ joiner.__init__ }}",
    "{{ (unit.id | list)[unit.repeat] }}",
    "{{ calc.v }}",
    "{{ calc.v | int }}",
    "{% set k = unit.repeat %}{{ k / (k - 2) }}",
    "{{ 10 ** (unit.repeat * 2000) }}",
    "{{ 'x' * unit.repeat * 1000 }}",
    "{{ unit | tojson }} {{ unit | dictsort }}",
    "{{ '%s and %d' % (unit.id, unit.repeat) }}",
    "{{ unit.id | map('upper') | join }}",
    "{{ (unit.repeat, 2) | max }}",
    "{% if unit.repeat > 1 %}big{% else %}{{ [] | first }}{% endif %}",
    "{{ unit.repeat | string | center(300000) | length }}",
    "{{ unit.id | wordwrap(0) }}",
    "{{ unit.id | batch(unit.repeat - 1) | list }}",
    "{{ unit.id | indent(10 ** 9) | length }}",
]

COMPUTE = [
    "unit.repeat * 2", "100 / unit.repeat", "[1, 2][unit.repeat]", "{1, 2}", "{1: 'a'}", "{unit.repeat: 1}",
    "{'a': {1, unit.repeat}}", "[0] * 1000", "'x' * int(10 ** unit.repeat)", "sqrt(unit.repeat - 4)",
    "int('x' + unit.id)", "range(unit.repeat * 300000)", "[[0] * 1000] * 1000", "2 ** (unit.repeat * 5000)",
    "float(unit.id)", "1e308 * 10 ** unit.repeat", "float('nan')", "float('inf')", "-0.0", "10 ** 4000",
    "[float('nan')]", "{'k': float('inf')}", "unit", "set()", "mean([1 / unit.repeat])", "len(unit.id) % unit.repeat",
    "max([])", "[unit.id] * (unit.repeat - 1)", "{unit.repeat: {unit.repeat: [unit.repeat]}}",
]

RULES = ["n >= 0", "n / unit.repeat >= 0", "len(word) > unit.repeat", "word != ''", "[1][n] == 1", "n < 5",
         "calc.v == calc.v", "sqrt(n - 5) > 1"]
MESSAGES = ["too small", "bad {{ word }}", "{{ 1 / unit.repeat }}", "{{ word | attr('__class__') }}",
            "{{ word | int }}", "{{ n / (n - n) }}", "{{ lipsum.__globals__ }}", "{{ 10 ** (n * 1000 + 5000) }}",
            "{% for i in range(10**9) %}x{% endfor %}", "{{ [] | first }}", "{{ calc.v }}"]
AFTER = ["g.n / unit.repeat", "calc.v", "[g.word][unit.repeat]", "str(calc.v)", "g.n * 1", "j.score * 2",
         "len(g.word) // (g.n - g.n)"]
METRICS = ["count(unit.id)", "mean(10 / unit.repeat)", "mean(g.n / unit.repeat)", "max(g.n)", "share(g.n > 3)",
           "mean(1e308 * (unit.repeat + 1))", "sum(1e308 * unit.repeat)", "quantile(g.n, 2)", "stdev(unit.repeat)",
           "wilson(g.n > 1)", "mean(after.w)", "count(unit.id) / (count(unit.id) - count(unit.id))"]
WHEN = ["", "unit.repeat != 1", "100 / unit.repeat > 10", "calc.v == calc.v"]


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(text)


def pipeline(repeat=3, calc="unit.repeat", prompt="Hi {{ unit.id }}", rule="n >= 0", message="too small", when="",
             judge_prompt="Grade {{ g.word }}", after="g.n * 1", metric="count(unit.id)") -> str:
    """compute → generate (validated) → judge → compute → aggregate, over `repeat` units."""
    return f"""octo: 1
name: fuzz
units: {{repeat: {repeat}}}
steps:
  calc:
    compute:
      v: {q(calc)}
  g:
    generate:
      model: openai:gpt-4.1-mini
      prompt: {q(prompt)}
      output: {{n: "int[0, 10]", word: str}}
    retries: 1
    validate:
      - rule: {q(rule)}
        message: {q(message)}
{f'    when: {q(when)}' if when else ''}
  j:
    judge:
      of: g
      model: openai:gpt-4.1-mini
      prompt: {q(judge_prompt)}
      output: {{score: "float[0, 1]"}}
      pass: score >= 0.2
      attempts: 2
  after:
    compute:
      w: {q(after)}
  agg:
    aggregate:
      metrics:
        m: {q(metric)}
"""


@st.composite
def pipelines(draw) -> str:
    return pipeline(
        repeat=draw(st.integers(3, 5)), calc=draw(st.sampled_from(COMPUTE)),
        prompt=" ".join(draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3))),
        rule=draw(st.sampled_from(RULES)), message=draw(st.sampled_from(MESSAGES)), when=draw(st.sampled_from(WHEN)),
        judge_prompt=draw(st.sampled_from(["Grade {{ g.word }}", *TEMPLATES])), after=draw(st.sampled_from(AFTER)),
        metric=draw(st.sampled_from(METRICS)))


# --- running one program and judging the outcome -----------------------------------------------

def checks_clean(text: str, path: Path) -> bool:
    result = check_source(Source(str(path), text), LANGUAGE)
    return result.ok and result.program is not None


def run_on_emulator(path: Path, run_dir: Path) -> octoproc.Outcome:
    return octoproc.run(["run", path, "--provider", "emulator", "--run-dir", run_dir, "--poll-interval", "0"],
                        run_dir.parent, RUN_TIMEOUT, name=run_dir.name)


def problems(outcome: octoproc.Outcome, run_dir: Path) -> list[str]:
    """What is wrong with a run's ending (empty when nothing is), one line per problem."""
    if outcome.hung:
        return [f"the run did not end within {RUN_TIMEOUT:.0f} s"]
    said = outcome.stdout + outcome.stderr
    found = []
    if outcome.code == 3 or "internal error" in said:
        found.append("internal error: " + _line_with(said, "internal error"))
    if "Traceback" in said or outcome.code in (98, 99):
        found.append("a traceback or an exception escaped octoc's main")
    if outcome.code not in (*FINISHED, 1, 2, 3, 4):  # 4: a fuzzed budget may be spent
        found.append(f"exit code {outcome.code}")
    if outcome.code in (1, 2, 4) and not outcome.stderr.strip() and "error" not in outcome.stdout:
        found.append(f"exit {outcome.code} without a message")
    if outcome.code in FINISHED:
        found += _unaccounted(run_dir)
    return found


def _line_with(text: str, needle: str) -> str:
    return next((line.strip() for line in text.splitlines() if needle in line), "")[:300]


def _unaccounted(run_dir: Path) -> list[str]:
    """Per-unit steps some unit they run over has no state for; aggregates not computed. A step runs over the units
    of its scope: the run's own, or a fan-out's children (docs/language.md, fanout)."""
    plan = json.loads((run_dir / "plan.json").read_text())
    db = sqlite3.connect(f"file:{run_dir / 'run.db'}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        missing = []
        for step in plan["steps"]:
            if step["kind"] == "aggregate":
                if not meta.get(f"aggregated:{step['name']}"):
                    missing.append(f"aggregate '{step['name']}' was not computed")
                continue
            units = db.execute("SELECT count(*) FROM units WHERE origin = ?", (step["scope"],)).fetchone()[0]
            have = db.execute("SELECT count(*) FROM results r JOIN units u ON u.pos = r.unit WHERE r.step = ? AND "
                              "u.origin = ? AND r.state IN ('done', 'failed', 'skipped', 'blocked')",
                              (step["name"], step["scope"])).fetchone()[0]
            if have != units:
                missing.append(f"step '{step['name']}': {units - have} of {units} units have no state")
        if meta.get("state") != "done":
            missing.append(f"exit 0 but the run's state is {meta.get('state')!r}")
        return missing
    finally:
        db.close()


def run_and_judge(text: str, folder: Path, name: str = "p.octo") -> list[str]:
    """Check ``text``; if it checks clean, run it on the emulator; the problems of the run."""
    path = folder / name
    path.write_text(text)
    if not checks_clean(text, path):
        return []
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    return problems(run_on_emulator(path, run_dir), run_dir)


# --- the tests -------------------------------------------------------------------------------

# the failure classes the first probe found (issue 9, A B C), each one unit's problem: always tried first
@example(pipeline(prompt="Share {{ 100 / unit.repeat }} percent"))
@example(pipeline(prompt="{% for i in range(10**9) %}x{% endfor %}"))
@example(pipeline(prompt="{{ unit.id | wordwrap(0) }}"))
@example(pipeline(calc="{1, 2}"))
@example(pipeline(rule="n < 0", message="{{ word | attr('__class__') }}"))
@example(pipeline(rule="n < 0", message="{{ 10 ** (n * 1000 + 5000) }}"))
@example(pipeline(rule="n < 0", message="{{ [] | first }}"))
@example(pipeline(metric="mean(10 / unit.repeat)"))
@RUNS
@given(pipelines())
def test_fuzzed_pipelines_run_without_internal_errors(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    found = run_and_judge(text, folder)
    assert not found, "\n".join(found) + "\n--- program ---\n" + text


NUMBERS = ["0", "1", "-1", "2", "0.5", "100000", "1e308", "-0.0"]
OPERATORS = [" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " < ", " >= ", " == ", " != ", " and ", " or "]
SNIPPETS = ["{{ 1 / unit.repeat }}", "{{ unit.__class__ }}", "{% for i in range(10**9) %}x{% endfor %}",
            "{{ [] | first }}", "{{ 10 ** (unit.repeat * 2000) }}"]


@st.composite
def mutated_examples(draw) -> tuple[str, str]:
    """An example with 1-3 small mutations: a number, an operator, a template snippet; repeats kept small."""
    path = draw(st.sampled_from(EXAMPLES))
    text = path.read_text()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["number", "operator", "snippet"]))
        if kind == "number":
            spots = [m.span() for m in re.finditer(r"(?<![\w.])\d+(\.\d+)?(?![\w.])", text)]
            new = draw(st.sampled_from(NUMBERS))
        elif kind == "operator":
            spots = [m.span() for m in re.finditer("|".join(re.escape(o) for o in OPERATORS), text)]
            new = draw(st.sampled_from(OPERATORS))
        else:
            spots = [(m.end(), m.end()) for m in re.finditer(r"\{\{[^}]*\}\}", text)]
            new = draw(st.sampled_from(SNIPPETS))
        if spots:
            start, end = draw(st.sampled_from(spots))
            text = text[:start] + new + text[end:]
    return path.name, _small(text)


def _small(text: str) -> str:
    """At most a few replicas, and a bounded number of units (the run is a probe, not a load)."""
    text = re.sub(r"(repeat:\s*)[-\d.e]+", lambda m: m.group(1) + "3", text)
    return re.sub(r"(\n  limit:\s*)\S+", lambda m: m.group(1) + "30", text)


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("examples")
    shutil.copytree(ROOT / "examples" / "data", folder / "data")
    cut_data_files(folder / "data")  # classify_documents' 5,000 documents cut to 200: a probe, not a load
    return folder


# found by this test: `retries: 1.0` (a whole number written as a float) checks clean, then the run
# stops with "internal error (TypeError: 'float' object cannot be interpreted as an integer)"
@example(("support_replies.octo", _small((ROOT / "examples" / "support_replies.octo").read_text()
                                         .replace("retries: 2 ", "retries: 1.0 "))))
@RUNS
@given(mutated_examples())
def test_mutated_examples_run_without_internal_errors(example_folder, mutated):
    name, text = mutated
    found = run_and_judge(text, example_folder, name)
    assert not found, "\n".join(found) + f"\n--- mutated {name} ---\n" + text

