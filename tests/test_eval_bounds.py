"""Run-time bounds of evaluation: the size of a value as stored, and the CPU of one unit's step.

A value's size counts every reference (``[[0] * 100000] * 100000`` is ten
billion values once written out), so it is bounded where values are built; a
unit's step (every value, a simulate step's whole loop) shares one CPU budget (``OCTO_CPU_SECONDS``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source, Span
from octo.compiler.base.yamlnodes import YScalar
from octo.compiler.expressions import cpuclock
from octo.compiler.expressions.codegen import MAX_ITEMS, EvalError, compile_expression, value_size
from octo.compiler.expressions.cpuclock import CLOCK, cpu_seconds
from octo.compiler.expressions.exprparse import Origin, parse_expression
from octo.compiler.expressions.loopgen import compile_simulation
from octo.compiler.expressions.valuesize import TooDeep
from octo.compiler.expressions.valuesize import value_size as raw_size
from octo.stdlib.builtins import FUNCTIONS

RUN_TIMEOUT = 120  # seconds: today's failures were hangs; a bound run takes a few


def parse(text: str):
    source = Source("t.octo", text)
    reporter = Reporter()
    expr = parse_expression(text, Origin(YScalar(Span(source, 0, len(text)), text)), reporter)
    assert expr is not None, reporter.diagnostics
    return expr


def evaluate(text: str, **env):
    return compile_expression(parse(text), FUNCTIONS).evaluate(env, random.Random(0))


def failure(text: str, **env) -> str:
    with pytest.raises(EvalError) as info:
        evaluate(text, **env)
    assert info.value.span is not None
    return info.value.message


def loop(init: dict, each: dict, until: str, max_iterations: int = 100_000):
    pairs = lambda d: [(k, parse(v)) for k, v in d.items()]  # noqa: E731
    return compile_simulation(pairs(init), pairs(each), parse(until), None, max_iterations, FUNCTIONS)


# --- the size of a value as stored -----------------------------------------------------------

def test_size_counts_every_reference_as_serialising_would():
    inner = [0] * 1000
    shared = [inner] * 1000
    assert value_size(shared) == 1 + 1000 * (1 + 1000)  # the outer list, then 1000 times the inner one
    assert value_size("abc") == 4 and value_size(None) == 1 and value_size(2.5) == 1
    assert value_size({"ab": [1, "xy"]}) == 1 + 3 + (1 + 1 + 3)
    assert value_size(10 ** 100) == 1 + (10 ** 100).bit_length() // 64
    assert value_size([10 ** 100] * 3) == 1 + 3 * value_size(10 ** 100)


def test_measuring_a_shared_value_walks_each_distinct_list_once():
    v = [0]
    for _ in range(60):  # 2 ** 60 references once written out
        v = [v, v]
    assert raw_size(v, max_depth=100) > 2 ** 60


def test_nesting_is_bounded():
    v = []
    for _ in range(100):
        v = [v]  # 101 lists, each inside the next
    with pytest.raises(TooDeep):
        raw_size(v, max_depth=100)
    assert raw_size(v[0], max_depth=100) == 100
    assert "nest more than 100 deep" in failure("[v]", v=v[0])


@pytest.mark.parametrize("text, how", [
    ("[[0] * 100000] * 100000", "a list built by '*'"),
    ("[x] * 1000", "a list built by '*'"),
    ("x + x + x + x + x + x + x + x + x + x + x", "a list built by '+'"),
    ("[x, x, x, x, x, x, x, x, x, x, x]", "a list built by `[...]`"),
    ("{'a': x, 'b': x, 'c': x, 'd': x, 'e': x, 'f': x, 'g': x, 'h': x, 'i': x, 'j': x, 'k': x}",
     "a dict built by `{...}`"),
    ("[x for i in range(11)]", "a list built by a comprehension"),
    ("{i: x for i in range(11)}", "a dict built by a comprehension"),
    ("[s for i in range(11)]", "a list built by a comprehension"),
    ("[s] * 11", "a list built by '*'"),
    ("[10 ** 9999] * 100000", "a list built by '*'"),
])
def test_every_constructor_counts_shared_values(text, how):
    env = {"x": [[0] * 1000] * 1000, "s": "y" * 1_000_000}  # each about a million when stored
    message = failure(text, **env)
    assert message.startswith(how + " would be too big to store"), message
    assert "the limit is 10,000,000" in message


def test_values_within_the_limits_are_built_as_before():
    assert evaluate("len([[0] * 1000] * 1000)") == 1000
    assert evaluate("len([x for x in range(1000000)])") == 1_000_000
    assert evaluate("sum([len(r) for r in [[0] * 1000] * 9000])") == 9_000_000
    assert evaluate("[a, b, {'k': a}]", a=[1, 2], b="xy") == [[1, 2], "xy", {"k": [1, 2]}]


def test_str_refuses_to_write_out_shared_values():
    assert "str(): a list of 1000 items holds more than 1,000,000" in failure("str([[0] * 1000] * 1000)")
    assert "str() would build a string of" in failure("str([1.5] * 400000)")
    assert evaluate("len(str([[0] * 10] * 10))") == len(str([[0] * 10] * 10))


def test_a_doubling_simulate_loop_fails_the_unit_instead_of_growing_forever():
    with pytest.raises(EvalError) as info:
        loop({"s": "[0]"}, {"s": "[s, s]"}, "false").run({})
    assert "would be too big to store" in info.value.message
    with pytest.raises(EvalError) as info:
        loop({"s": "[0]"}, {"s": "[s]"}, "false").run({})
    assert "nest more than 100 deep" in info.value.message


def test_a_shared_value_fails_its_unit_and_the_run_finishes(tmp_path):
    f = tmp_path / "big.octo"
    f.write_text("octo: 1\nname: big\nunits: {repeat: 3}\nsteps:\n  c:\n    compute:\n"
                 "      v: \"len([[0] * 100000] * 100000) if unit.repeat == 0 else unit.repeat\"\n")
    out = _octoc("run", f, "--run-dir", tmp_path / "r")
    assert out.returncode == 6, out.stderr  # done, one unit failed
    report = json.loads(_octoc("report", tmp_path / "r", "--format", "json").stdout)
    assert report["states"] == {"done": 2, "failed": 1, "pending": 0}
    (failed,) = report["failures"]
    (example,) = failed["examples"]
    assert example["unit"] == "r0"
    assert example["reason"].startswith("a list built by '*' would be too big to store")
    assert example["reason"].endswith("big.octo:7:15")  # where `[[0] * 100000] * 100000` starts


def test_items_a_function_goes_through_count_as_comprehension_work(monkeypatch):
    from octo.compiler.expressions import codegen

    monkeypatch.setattr(codegen, "WORK_BUDGET", 10_000)  # read when compiling
    xs = list(range(1000))
    with pytest.raises(EvalError, match="too much work"):  # 100 sums of 1,000 items
        evaluate("[sum(xs) for i in range(100)]", xs=xs)
    assert len(evaluate("[choice(xs) + len(xs) for i in range(100)]", xs=xs)) == 100  # these do not go through xs


# --- the CPU budget --------------------------------------------------------------------------

@pytest.fixture
def budget(monkeypatch):
    """Set the CPU budget (seconds) for the evaluations of one test."""
    def set_to(seconds: float):
        monkeypatch.setattr(CLOCK, "limit", seconds)
    return set_to


def test_a_comprehension_runs_out_of_cpu(budget):
    budget(0.001)
    message = failure("len([1 for a in range(1000) for b in range(1000)])")
    assert message.startswith("ran out of CPU time: more than 0.001 s; set OCTO_CPU_SECONDS to allow more")


def test_a_simulate_loop_shares_one_budget_across_its_iterations(budget):
    budget(0.01)
    # every iteration is cheap; in all, 20 million of them are not
    slow = loop({"i": "0"}, {"i": "i + 1"}, "false", max_iterations=20_000_000)
    with pytest.raises(EvalError) as info:
        slow.run({})
    assert info.value.message.startswith("ran out of CPU time after ")
    assert "iterations of the loop: more than 0.01 s" in info.value.message
    assert info.value.span.text() == "false"  # where a loop's bounds are reported


def test_the_budget_is_per_evaluation(budget):
    budget(0.05)
    heavy = loop({"i": "0"}, {"i": "i + 1"}, "false", max_iterations=20_000_000)
    light = loop({"i": "0"}, {"i": "i + 1"}, "i >= 1000")
    for _ in range(2):
        with pytest.raises(EvalError):
            heavy.run({})
        assert light.run({}) == {"i": 1000}  # a new evaluation starts with the whole budget


def test_a_cheap_loop_never_reads_the_clock(monkeypatch):
    reads = []
    monkeypatch.setattr(cpuclock.time, "thread_time", lambda: reads.append(1) or 0.0)
    assert loop({"i": "0"}, {"i": "i + 1"}, "i >= 50").run({}) == {"i": 50}
    assert reads == []


def test_a_stuck_loop_still_reports_max_iterations():
    for limit in (1, 64, 65, 3000):
        with pytest.raises(EvalError, match=f"did not reach `until` within {limit:,} iterations"):
            loop({"i": "0"}, {"i": "i + 1"}, "false", max_iterations=limit).run({})
        assert loop({"i": "0"}, {"i": "i + 1"}, f"i >= {limit}", max_iterations=limit).run({}) == {"i": limit}


@pytest.mark.parametrize("text", ["nan", "-1", "0", "inf", "1e7", "ten"])
def test_the_cpu_setting_is_range_checked(text):
    with pytest.raises(ValueError, match="OCTO_CPU_SECONDS must be a number of seconds from 0.001 to 1000000"):
        cpu_seconds(text)


def test_the_cpu_setting_defaults_to_ten_seconds():
    assert cpu_seconds(None) == cpu_seconds("  ") == 10.0
    assert cpu_seconds("2.5") == 2.5


def test_a_long_loop_fails_its_unit_and_the_other_units_are_done(tmp_path):
    f = tmp_path / "slow.octo"
    f.write_text(
        "octo: 1\nname: slow\nunits: {repeat: 3}\nsteps:\n  walk:\n    simulate:\n"
        "      init: {i: 0}\n"
        "      each: {i: \"i + 1 + len([x for x in range(2000) if x < 0])\"}\n"
        "      until: \"i >= (100000 if unit.repeat == 0 else 10)\"\n")
    out = _octoc("run", f, "--run-dir", tmp_path / "r", env={cpuclock.ENV: "0.2"})
    assert out.returncode == 6, out.stderr  # done, one unit failed
    report = json.loads(_octoc("report", tmp_path / "r", "--format", "json").stdout)
    assert report["states"] == {"done": 2, "failed": 1, "pending": 0}
    (failed,) = report["failures"]
    (example,) = failed["examples"]
    assert example["unit"] == "r0"
    assert "ran out of CPU time" in example["reason"] and "more than 0.2 s" in example["reason"]
    assert "set OCTO_CPU_SECONDS to allow more" in example["reason"] and "slow.octo:" in example["reason"]


def _octoc(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """octoc in a fresh process, never left hanging (RUN_TIMEOUT)."""
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=RUN_TIMEOUT, env={**os.environ, "OCTO_WORKERS": "1", **(env or {})})


def test_max_items_is_still_the_longest_string_or_list():
    assert MAX_ITEMS == 1_000_000
    assert "a list built by '*' would have 1,000,001 items" in failure("[0] * 1000001")


def test_the_budget_is_per_unit_not_per_value(tmp_path):
    """A compute step's values share its unit's budget: eight values that each fit in it do not fit together."""
    value = "len([1 for a in range(300) for b in range(300)])"
    started = time.thread_time()
    for _ in range(3):
        evaluate(value)
    one = (time.thread_time() - started) / 3
    seconds = max(2.5 * one, 0.002)  # each value well within the budget; eight of them well over it
    f = tmp_path / "many.octo"
    values = "".join(f"      v{i}: \"{value} if unit.repeat == 0 else {i}\"\n" for i in range(8))
    f.write_text(f"octo: 1\nname: many\nunits: {{repeat: 2}}\nsteps:\n  s:\n    compute:\n{values}")
    out = _octoc("run", f, "--run-dir", tmp_path / "r", env={cpuclock.ENV: f"{seconds:.4f}"})
    assert out.returncode == 6, out.stderr  # done, one unit failed
    report = json.loads(_octoc("report", tmp_path / "r", "--format", "json").stdout)
    assert report["states"] == {"done": 1, "failed": 1, "pending": 0}
    (failed,) = report["failures"]
    assert [e["unit"] for e in failed["examples"]] == ["r0"] and "ran out of CPU time" in failed["examples"][0]["reason"]
