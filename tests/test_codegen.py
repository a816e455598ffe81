"""The expression compiler (octo.compiler.expressions.codegen) and the built-in implementations."""

import ast as pyast
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source, Span
from octo.compiler.base.yamlnodes import YScalar
from octo.compiler.expressions import codegen
from octo.compiler.expressions.codegen import EvalError, compile_expression
from octo.compiler.expressions.exprparse import Origin, parse_expression
from octo.stdlib.builtins import FUNCTIONS


def parse(text: str, path: str = "t.octo"):
    source = Source(path, text)
    reporter = Reporter()
    expr = parse_expression(text, Origin(YScalar(Span(source, 0, len(text)), text)), reporter)
    assert expr is not None, [d.message for d in reporter.diagnostics]
    return expr


def compiled(text: str, **kw):
    return compile_expression(parse(text), FUNCTIONS, **kw)


ENV = {
    "x": 3, "y": 4.5, "s": "Hello", "n": None, "p": True, "q": False,
    "xs": [1, 2, 3], "empty": [], "names": ["b", "a", "c"], "pairs": [[1, "a"], [2, "b"]],
    "d": {"k": 1, "j": 2}, "r": {"a": 1, "b": {"c": "deep"}, "none": None},
    "unit": {"id": "u-1", "repeat": 2, "player": {"id": "ann", "cash": 20, "skill": 3},
             "match": [{"id": "ann", "skill": 3}, {"id": "bob", "skill": 5}]},
    "walk": None,
}


def ev(text: str, rng=None, **env):
    return compiled(text).evaluate({**ENV, **env}, rng)


def fails(text: str, rng=None, **env) -> EvalError:
    with pytest.raises(EvalError) as info:
        ev(text, rng, **env)
    return info.value


# --- arithmetic and precedence ------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("2 * 3 + 4 * 5", 26),
    ("-2 ** 2", -4), ("2 ** -1", 0.5), ("2 ** 3 ** 2", 512), ("(-2) ** 2", 4), ("-x", -3), ("+x", 3),
    ("- - x", 3), ("1_000 + 1", 1001), (".5 + 1e-3", 0.501), ("2.5E2", 250.0),
    ("x * y", 13.5), ("1e999 > 10 ** 300", True), ("-1e999 < 0", True), ("x - 1 - 1", 1), ("x % 2", 1), ("-7 % 3", 2), ("7.5 % 2", 1.5),
    ("'ab' + 'cd'", "abcd"), ("'ab' * 3", "ababab"), ("2 * 'ab'", "abab"), ("[1] + [2, 3]", [1, 2, 3]),
    ("[0] * 3", [0, 0, 0]), ("xs + xs", [1, 2, 3, 1, 2, 3]), ("s + '!'", "Hello!"),
])
def test_arithmetic_and_precedence(text, value):
    assert ev(text) == value


@pytest.mark.parametrize("text, value, kind", [
    ("7 / 2", 3.5, float), ("4 / 2", 2.0, float), ("7 // 2", 3, int), ("-7 // 2", -4, int),
    ("7.0 // 2", 3.0, float), ("2 ** 10", 1024, int), ("2.0 ** 2", 4.0, float), ("x / 1", 3.0, float),
])
def test_true_and_floor_division(text, value, kind):
    result = ev(text)
    assert result == value and type(result) is kind


# --- comparisons, membership, logic -----------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("1 < 2", True), ("2 <= 1", False), ("1 == 1.0", True), ("'a' < 'b'", True), ("x != 3", False),
    ("1 < 2 < 3", True), ("1 < 3 < 2", False), ("0 <= x < 10", True), ("3 > 2 > 1 > 0", True),
    ("1 < 2 == 2 < 3", True), ("1 < 2 > 5", False),
    ("2 in xs", True), ("5 in xs", False), ("5 not in xs", True), ("'k' in d", True), ("1 in d", False),
    ("'ell' in s", True), ("'z' not in s", True), ("2 in {1, 2}", True), ("'x' in ['x', 'y']", True),
    ("xs == [1, 2, 3]", True), ("d == {'k': 1, 'j': 2}", True), ("r.b == {'c': 'deep'}", True),
    ("p and not q", True), ("p and q", False), ("q or p", True), ("q or q", False), ("not p", False),
    ("not 1 > 2", True), ("p or q and q", True),
])
def test_comparisons_membership_and_logic(text, value):
    assert ev(text) is value


def test_comparison_chains_evaluate_the_middle_once_and_stop_at_the_first_false():
    assert ev("1 > 2 < xs[10]") is False  # the index out of range is never evaluated
    rng = random.Random(5)
    # `random()` in the middle is drawn once: both comparisons see the same number
    assert all(ev("0 <= random() < 1", rng) for _ in range(50))


def test_and_or_short_circuit():
    assert ev("q and xs[10] > 0") is False
    assert ev("p or 1 / 0 > 1") is True
    assert ev("len(empty) == 0 or empty[0] > 1") is True


# --- conditionals ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("'ship' if x > 2 else 'water'", "ship"), ("'ship' if x > 5 else 'water'", "water"),
    ("1 if q else 2 if p else 3", 2), ("1 if q else 2 if q else 3", 3), ("(1 if p else 2) + 10", 11),
    ("xs[0] if len(xs) > 0 else 0", 1), ("empty[0] if len(empty) > 0 else 0", 0),
])
def test_conditionals(text, value):
    assert ev(text) == value


# --- displays and comprehensions ----------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("[]", []), ("[1, 2, 3,]", [1, 2, 3]), ("[x, y, s]", [3, 4.5, "Hello"]), ("{}", {}),
    ("{'a': 1, 'b': x}", {"a": 1, "b": 3}), ("{'a', 'b', 'a'}", {"a", "b"}), ("set()", set()),
    ("{x: 'three'}", {3: "three"}), ("[[1, 2], [3]]", [[1, 2], [3]]),
    ("[v * 2 for v in xs]", [2, 4, 6]), ("[v for v in xs if v > 1]", [2, 3]),
    ("[v for v in xs if v > 1 if v < 3]", [2]),
    ("[a * 10 + b for a in xs for b in xs if b > a]", [12, 13, 23]),
    ("[a + b for a in xs if a > 1 for b in range(a) if b > 0]", [3, 4, 5]),
    ("[[a * b for b in xs] for a in xs]", [[1, 2, 3], [2, 4, 6], [3, 6, 9]]),
    ("[b for a in [[1, 2], [3]] for b in a]", [1, 2, 3]),
    ("[str(n) + s for n, s in pairs]", ["1a", "2b"]),
    ("{v % 2 for v in xs}", {0, 1}), ("{v: v * v for v in xs}", {1: 1, 2: 4, 3: 9}),
    ("{k: d[k] + 1 for k in d}", {"k": 2, "j": 3}), ("[c for c in 'abc']", ["a", "b", "c"]),
    ("[v for v in {'b', 'c', 'a'}]", ["a", "b", "c"]),  # sets iterate in sorted order
    ("len([v for v in range(1000)])", 1000),
    ("[m.id for m in unit.match if m.skill > 3]", ["bob"]),
])
def test_displays_and_comprehensions(text, value):
    assert ev(text) == value


def test_comprehension_variables_do_not_leak():
    # the loop variable shadows the outer `x` inside only
    assert ev("[x for x in xs] + [x]") == [1, 2, 3, 3]
    # the first iterable is evaluated outside: `x` there is the outer one
    assert ev("[x * 2 for x in x]", x=[5, 6]) == [10, 12]
    # two comprehensions with the same variable are independent
    assert ev("[v for v in xs] + [v + 10 for v in xs]") == [1, 2, 3, 11, 12, 13]
    source = compiled("[x for x in xs] + [x]").source
    assert "env['x']" in source  # the outer x is read from the environment ...
    tree = pyast.parse(source)
    loop_targets = {n.target.id for n in pyast.walk(tree) if isinstance(n, pyast.For)}
    assert all(t.startswith("c") for t in loop_targets)  # ... the loop's is a local of its own


def test_displays_are_fresh_values_each_time():
    c = compiled("[1, 2]")
    first = c.evaluate({})
    first.append(3)
    assert c.evaluate({}) == [1, 2]


# --- indexing, slicing, fields --------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("xs[0]", 1), ("xs[-1]", 3), ("s[1]", "e"), ("d['k']", 1), ("r['a']", 1), ("pairs[1][1]", "b"),
    ("xs[1:]", [2, 3]), ("xs[:-1]", [1, 2]), ("xs[:]", [1, 2, 3]), ("s[1:3]", "el"), ("s[:x]", "Hel"),
    ("xs[5:]", []), ("[v * 2 for v in xs][1]", 4),
    ("unit.player.cash", 20), ("unit.id", "u-1"), ("unit.repeat", 2), ("r.b.c", "deep"),
    ("unit.match[0].id + ' vs ' + unit.match[1].id", "ann vs bob"),
    ("unit.match[0].skill - unit.match[1].skill", -2), ("wilson([true, false]).estimate", 0.5),
])
def test_indexing_slicing_and_fields(text, value):
    assert ev(text) == value


# --- nulls ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("n + 1", None), ("1 + n", None), ("n * 2", None), ("n - 1", None), ("n / 2", None), ("n // 2", None),
    ("n % 2", None), ("n ** 2", None), ("2 ** n", None), ("-n", None), ("'a' + n", None),
    ("n < 1", None), ("1 >= n", None), ("0 < n < 10", None), ("0 < x < n", None), ("5 < x < n", False),
    ("n == null", True), ("n != null", False), ("n == 1", False), ("n != 1", True), ("x == null", False),
    ("walk.steps", None), ("walk.a.b", None), ("r.none.c", None), ("n[0]", None), ("xs[n]", None),
    ("n[1:]", None), ("xs[n:]", None), ("n in xs", False), ("1 in n", None), ("1 not in n", None),
    ("n in s", None), ("1 in [v for v in n]", None), ("1 + (2 if n > 0 else 3)", None),
    ("n and q", False), ("n and p", None), ("q and n", False), ("n or p", True), ("n or q", None),
    ("not n", None), ("1 if n else 2", None), ("1 if n > 0 else 2", None),
    ("[v for v in n]", None), ("[v for v in xs if n]", []), ("[v for v in [1, null, 3] if v > 1]", [3]),
    ("[1, n]", [1, None]), ("abs(n)", None), ("len(n)", None), ("str(n)", None), ("lower(n)", None),
    ("sum([1, n, 2])", 3), ("mean([1, n, 3])", 2.0), ("count([1, n, 3])", 2), ("min([n, 4, 2])", 2),
    ("max([n, 4, 2])", 4), ("max(n, 4)", 4), ("median([n, 1, 3])", 2.0), ("share([true, n, false])", 0.5),
    ("mean([n, n])", None), ("sorted([2, n, 1])", [1, 2, None]), ("join(['a', n, 'b'], '-')", "a-b"),
])
def test_nulls_propagate(text, value):
    assert ev(text) == value and type(ev(text)) is type(value)


# --- built-in functions -------------------------------------------------------------------------------

BUILTIN_CASES = [
    ("abs(-3)", 3), ("abs(-2.5)", 2.5),
    ("min(3, 1, 2)", 1), ("min(xs)", 1), ("min(['b', 'a'])", "a"), ("max(3, 7.5)", 7.5), ("max(xs)", 3),
    ("round(2.5)", 2), ("round(3.5)", 4), ("round(2.675, 2)", 2.67), ("round(3, 1)", 3.0),
    ("floor(2.7)", 2), ("floor(-2.5)", -3), ("ceil(2.1)", 3), ("sqrt(16)", 4.0), ("exp(0)", 1.0),
    ("log(1)", 0.0), ("log(8, 2)", 3.0),
    ("int(3.9)", 3), ("int(-3.9)", -3), ("int(' 42 ')", 42), ("int(true)", 1), ("float('2.5')", 2.5),
    ("float(2)", 2.0), ("str(3)", "3"), ("str(2.5)", "2.5"), ("str({'b', 'a'})", "{'a', 'b'}"),
    ("bool(0)", False), ("bool('x')", True), ("list('ab')", ["a", "b"]), ("list({2, 1})", [1, 2]),
    ("list(d)", ["k", "j"]), ("set([1, 1, 2])", {1, 2}),
    ("len(xs)", 3), ("len(s)", 5), ("len(d)", 2), ("sum(xs)", 6), ("sum([0.1, 0.2])", 0.30000000000000004),
    ("sum([true, true, false])", 2), ("sorted(names)", ["a", "b", "c"]), ("sorted({3, 1})", [1, 3]),
    ("any([false, true])", True), ("any([])", False), ("all([true, true])", True), ("all([])", True),
    ("any([false, null])", None), ("all([true, null])", None), ("all([false, null])", False),
    ("range(3)", [0, 1, 2]), ("range(1, 4)", [1, 2, 3]), ("range(10, 0, -3)", [10, 7, 4, 1]),
    ("lower(s)", "hello"), ("upper(s)", "HELLO"), ("strip('  a b  ')", "a b"),
    ("contains(s, 'ell')", True), ("contains(xs, 2)", True), ("contains(xs, 9)", False),
    ("startswith(s, 'He')", True), ("startswith(s, 'he')", False),
    ("join(names)", "bac"), ("join(names, ', ')", "b, a, c"),
    ("count(xs)", 3), ("count([])", 0), ("mean(xs)", 2.0), ("mean([true, false])", 0.5),
    ("median([3, 1, 2])", 2.0), ("median([4, 1, 3, 2])", 2.5), ("quantile([1, 2, 3, 4, 5], 0.5)", 3.0),
    ("quantile([1, 2, 3, 4], 0.25)", 1.75), ("quantile([1, 2, 3, 4], 1)", 4.0), ("quantile([7], 0.9)", 7.0),
    ("share([true, false, true, true])", 0.75), ("mean(empty)", None), ("stdev([1])", None),
]
BUILTIN_CASES += [  # distinct values (T2)
    ("distinct([3, 1, 3, null, 1])", [3, 1]), ("distinct(names)", ["b", "a", "c"]), ("distinct(empty)", []),
    ("count_distinct([1, 1.0, 2])", 2), ("count_distinct([[1], [1], [2]])", 2), ("count_distinct([null])", 0),
]

BUILTIN_CASES += [  # strings and regular expressions (T1; more in tests/test_text_builtins.py)
    ("split('a b  c')", ["a", "b", "c"]), ("split('a,b,c', ',', 1)", ["a", "b,c"]), ("splitlines('a\\nb')", ["a", "b"]),
    ("words('It is well-known.')", ["It", "is", "well-known"]), ("endswith('Why?', '?')", True),
    ("replace('a-b-c', '-', '+', 1)", "a+b-c"), ("find('abc', 'c')", 2), ("find('abc', 'x')", -1),
    ("title('ab cd')", "Ab Cd"), ("capitalize('aB')", "Ab"), ("lstrip('  a ')", "a "), ("rstrip('a?!', '?!')", "a"),
    ("removeprefix('re:x', 're:')", "x"), ("removesuffix('x.txt', '.txt')", "x"), ("isdigit('42')", True),
    ("isalpha('a1')", False), ("isalnum('a1')", True), ("isspace(' ')", True), ("islower('ab')", True),
    ("isupper('Ab')", False), ("matches('Why?', '[?]$')", True), ("search('id=42', 'id=([0-9]+)')", "42"),
    ("findall('a1b22', '[0-9]+')", ["1", "22"]), ("sub('a1b22', '[0-9]+', '#')", "a#b#"),
]


@pytest.mark.parametrize("text, value", BUILTIN_CASES)
def test_builtins(text, value):
    result = ev(text)
    assert result == value and type(result) is type(value)


def test_stdev_is_the_sample_standard_deviation():
    assert ev("stdev([2, 4, 4, 4, 5, 5, 7, 9])") == pytest.approx(2.138089935299395)


def test_wilson_interval_against_a_known_value():
    ci = ev("wilson(xs)", xs=[True] * 8 + [False] * 2)
    assert ci["estimate"] == 0.8
    assert ci["low"] == pytest.approx(0.4902, abs=1e-4)
    assert ci["high"] == pytest.approx(0.9433, abs=1e-4)
    wide = ev("wilson(xs, 2.58)", xs=[True] * 8 + [False] * 2)
    assert wide["low"] < ci["low"] and wide["high"] > ci["high"]
    assert ev("wilson(empty)") == {"estimate": None, "low": None, "high": None}
    assert ev("wilson([true, null, false]).estimate") == 0.5
    ci = ev("wilson(xs)", xs=[True] * 10)
    assert ci["high"] == 1.0 and ci["low"] == pytest.approx(0.7225, abs=1e-4)


def test_every_builtin_has_an_implementation_except_the_unit_tables():
    missing = sorted(name for name, fn in FUNCTIONS.items() if fn.impl is None)
    assert missing == ["combinations", "permutations"]
    covered = {c.func for text, _ in BUILTIN_CASES for c in _calls(text)}
    covered |= {"random", "uniform", "normal", "randint", "choice", "sample", "shuffle", "bernoulli",
                "stdev", "wilson"}  # tested below and above
    assert covered >= set(FUNCTIONS) - {"permutations", "combinations"}


def _calls(text):
    from octo.compiler.expressions import ast

    return [n for n in ast.walk(parse(text)) if isinstance(n, ast.Call)]


# --- randomness ------------------------------------------------------------------------------------

RANDOM_TEXT = ("[random(), uniform(1, 2), normal(0, 1), randint(1, 6), choice(names), sample(xs, 2), "
               "shuffle(xs), bernoulli(0.5)]")


def test_randomness_is_reproducible_with_a_seed_and_differs_between_seeds():
    c = compiled(RANDOM_TEXT)

    def draws(seed):
        rng = random.Random(seed)
        return [c.evaluate(ENV, rng) for _ in range(20)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


def test_random_values_are_in_range():
    rng = random.Random(7)
    c = compiled(RANDOM_TEXT)
    for _ in range(200):
        r, u, _normal, k, ch, smp, shuf, b = c.evaluate(ENV, rng)
        assert 0 <= r < 1 and 1 <= u <= 2 and 1 <= k <= 6 and ch in ENV["names"]
        assert len(smp) == 2 and len(set(smp)) == 2 and set(smp) <= set(ENV["xs"])
        assert sorted(shuf) == ENV["xs"] and b in (True, False)
    assert ENV["xs"] == [1, 2, 3]  # shuffle returns a new list


def test_random_draws_have_the_right_distribution():
    rng = random.Random(3)
    c = compiled("[bernoulli(0.3), normal(10, 2)]")
    draws = [c.evaluate({}, rng) for _ in range(4000)]
    assert sum(b for b, _ in draws) / len(draws) == pytest.approx(0.3, abs=0.03)
    assert sum(v for _, v in draws) / len(draws) == pytest.approx(10, abs=0.15)


def test_random_choice_from_a_set_is_reproducible_across_hash_seeds():
    import subprocess
    import sys

    code = ("import random; from tests.test_codegen import ev; "
            "print(ev(\"[choice({'ann', 'bob', 'cy', 'dee'}) for i in range(10)]\", random.Random(4)))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=_root(),
                           env={**_environ(), "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2, 3)}
    assert len(outs) == 1 and outs.pop().startswith("[")


def _root():
    import pathlib

    return pathlib.Path(__file__).resolve().parent.parent


def _environ():
    import os

    return dict(os.environ)


def test_a_random_expression_needs_a_stream():
    c = compiled("random() < 0.5")
    assert c.random
    with pytest.raises(EvalError, match="random stream"):
        c.evaluate({})
    assert not compiled("x + 1").random
    assert compiled("x + 1").evaluate({"x": 1}) == 2  # no rng needed


# --- the sandbox ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("2 ** 100000", "digits; the limit is 10,000"),
    ("x ** 50000", "digits"),
    ("10.0 ** 400", "too large for a float"),
    ("2 ** 10000.5", "too large for a float"),
    ("0 ** -1", "zero cannot be raised to a negative power"),
    ("(-8) ** 0.5", "no real value"),
    ("'ab' * 1000000", "a string built by '*' would have 2,000,000 characters; the limit is 1,000,000"),
    ("[0] * 1000001", "a list built by '*' would have 1,000,001 items"),
    ("s * 150000 + s * 150000", "a string built by '+' would have 1,500,000 characters"),
    ("range(900000) + range(900000)", "a list built by '+' would have 1,800,000 items"),
    ("range(2000000)", "range() would have 2,000,000 items"),
    ("range(0, 10, 0)", "step must not be zero"),
    ("[a for a in range(1000) for b in range(1001)]", "a list built by a comprehension would have 1,001,000 items"),
    ("1 / 0", "division by zero"),
    ("x // 0", "division by zero"),
    ("x % 0", "modulo by zero"),
    ("1.5 / 0.0", "division by zero"),
    ("xs[5]", "index 5 out of range for a list of 3"),
    ("xs[-4]", "index -4 out of range for a list of 3"),
    ("s[10]", "index 10 out of range for a string of 5 characters"),
    ("d['nope']", "key 'nope' not found in `d` (it has: k, j)"),
    ("r.zz", "`r` has no field 'zz' (it has: a, b, none)"),
    ("unit.player.wealth", "`unit.player` has no field 'wealth'"),
    ("xs.a", "`xs` is a list of 3 items, which has no field 'a'"),
    ("sqrt(-1)", "sqrt() of a negative number"),
    ("log(0)", "log() of zero or a negative number"),
    ("exp(1000)", "too large for a float"),
    ("int('abc')", "int() cannot convert a string ('abc')"),
    ("choice(empty)", "choice() from an empty list"),
    ("sample(xs, 4)", "cannot draw 4 items from 3"),
    ("randint(5, 1)", "low end is above the high end"),
    ("bernoulli(1.5)", "between 0 and 1"),
    ("quantile(xs, 2)", "q must be between 0 and 1"),
    ("x + s", "'+' cannot combine an int (3) and a string ('Hello')"),
    ("x < s", "'<' cannot order an int (3) and a string ('Hello')"),
    ("[v for a, v in xs]", "cannot unpack an item of `xs` into 2 names"),
    ("[v for a, v in [[1, 2, 3]]]", "cannot unpack an item of `[[1, 2, 3]]` into 2 names"),
    ("[v for v in x]", "cannot loop over an int (3)"),
    ("{xs: 1}", "a list of 3 items cannot be a dict key"),
    ("count()", "works only in an aggregate step"),
    ("nowhere + 1", "no value was given for 'nowhere'"),
    ("-s", "'-' needs a number, not a string"),
])
def test_sandbox_limits_and_failures_raise_readable_eval_errors(text, message):
    err = fails(text, random.Random(0))
    assert message in str(err), str(err)
    assert "Traceback" not in str(err) and "NoneType" not in str(err)
    assert err.span is not None


def test_a_too_long_string_built_by_plus_in_a_loop():
    c = compiled("s + s")
    s = "x"
    with pytest.raises(EvalError, match="the limit is 1,000,000"):
        for _ in range(30):  # the way a simulate loop would double it
            s = c.evaluate({"s": s})
    assert len(s) <= 1_000_000


def test_products_of_huge_ints_are_bounded():
    c = compiled("x * x")
    x = 3
    with pytest.raises(EvalError, match="digits"):
        for _ in range(40):
            x = c.evaluate({"x": x})


def test_the_work_budget_bounds_comprehensions(monkeypatch):
    monkeypatch.setattr(codegen, "WORK_BUDGET", 10_000)  # read when compiling
    with pytest.raises(EvalError, match="too much work"):
        ev("len([1 for a in range(200) for b in range(200) if false])")
    with pytest.raises(EvalError, match="too much work"):  # big values built inside a loop count too
        ev("len([range(5000) for i in range(10)])")
    assert ev("len([1 for a in range(50) for b in range(50)])") == 2500
    assert ev("len(range(100000))") == 100000  # outside loops only the size limit applies


def test_the_default_work_budget_is_ten_million():
    assert "_budget = 10000000" in compiled("[v for v in xs]").source


def test_the_error_points_at_the_failing_subexpression():
    c = compiled("1 + xs[5] * 2")
    with pytest.raises(EvalError) as info:
        c.evaluate(ENV)
    assert info.value.span.text() == "xs[5]"
    assert info.value.where() == "t.octo:1:5"
    assert c.where() == "t.octo:1:1"
    assert c.span == c.expr.span
    err = fails("[10 / v for v in [1, 0]]")
    assert err.span.text() == "10 / v" and str(err) == "division by zero"
    err = fails("sqrt(x - 4)")
    assert err.span.text() == "sqrt(x - 4)"


def test_where_uses_the_position_in_the_file():
    text = "octo: 1\nsteps:\n  a: {compute: {v: 'xs[9]'}}\n"
    source = Source("prog.octo", text)
    start = text.index("xs[9]")
    scalar = YScalar(Span(source, start - 1, start + 6), "xs[9]", "'")
    expr = parse_expression("xs[9]", Origin(scalar), Reporter())
    c = compile_expression(expr, FUNCTIONS)
    assert c.where() == "prog.octo:3:21"


def test_where_of_an_expression_rebuilt_from_a_plan_record():
    # a Plan record's AST points into the expression's text, named by its file:line:col
    c = compile_expression(parse("1 + xs[9]", path="prog.octo:3:21"), FUNCTIONS)
    assert c.where() == "prog.octo:3:21"
    with pytest.raises(EvalError) as info:
        c.evaluate(ENV)
    assert info.value.where() == "prog.octo:3:25"


def test_long_chains_compile_flat():
    chain = " ".join(f"{i} if x == {i} else" for i in range(200)) + " -1"
    assert ev(chain) == 3 and ev(chain, x=199) == 199 and ev(chain, x=500) == -1
    assert ev(chain, x=None) == -1  # `null == i` is simply false
    assert ev(" < ".join(str(i) for i in range(150))) is True
    assert ev(" < ".join(str(i) for i in range(150)) + " < 0") is False


def test_python_limits_on_nesting_become_eval_errors():
    text = "[1 " + " ".join(f"for a{i} in [1]" for i in range(25)) + "]"
    with pytest.raises(EvalError, match="nested too deeply"):
        compiled(text)


def test_functions_without_an_implementation_are_refused_when_compiling():
    with pytest.raises(EvalError, match="permutations\\(\\) cannot be evaluated"):
        compiled("permutations(xs, 2)")
    with pytest.raises(EvalError, match="not a built-in"):
        compiled("nosuch(1)")


# --- no way out ------------------------------------------------------------------------------------

ESCAPES = [
    "r.__class__", "r.__class__.__bases__", "s.__len__", "xs.__class__.__mro__", "d.__globals__",
    "__import__", "__builtins__", "env", "rng", "f_abs", "_add", "t1",
    "[c.__class__ for c in xs]", "unit.__dict__", "r['__class__']",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_dunders_and_internals_are_unreachable(text):
    err = fails(text)  # a missing field, a missing name or not a record: never Python's object
    assert "no field" in str(err) or "no value was given" in str(err) or "not found" in str(err) \
        or "which has no field" in str(err)


def test_a_field_named_like_a_dunder_is_just_a_key():
    assert ev("r.__class__", r={"__class__": "a key"}) == "a key"


ALL_FORMS = [text for text, _ in BUILTIN_CASES] + [
    "unit.match[0].id + ' vs ' + unit.match[1].id", "[[a * b for b in xs] for a in xs if a > 1]",
    "{k: d[k] for k in d}", "{v for v in xs}", "s[1:x]", "1 if p and not q or n else 2", "0 <= x < 10 != 3",
    "x in xs and 'a' not in s", RANDOM_TEXT, "-x ** 2 // 3 % 2 / 1.5", "wilson([true]).low",
]


@pytest.mark.parametrize("text", ALL_FORMS)
def test_generated_code_has_no_attribute_access_and_no_builtins(text):
    c = compiled(text)
    tree = pyast.parse(c.source)
    assert not [n for n in pyast.walk(tree) if isinstance(n, pyast.Attribute)], c.source
    assert c._fn.__globals__["__builtins__"] == {}
    names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
    allowed = set(codegen.HELPERS) | {"env", "rng", "_budget", "_mark", "None", "True", "False"}
    strays = {n for n in names if n not in allowed and not n.startswith(("v_", "t", "c", "f_", "k"))}
    assert not strays, strays


def test_the_generated_source_is_one_function_of_env_and_rng():
    c = compiled("position + choice([-1, 1])")
    assert c.source.startswith("def _octo_eval(env, rng):")
    assert "v_position = env['position']" in c.source
    assert "f_choice(" in c.source and "rng=rng" in c.source
    assert c.names == ("position",)


def test_compiled_once_evaluated_many_times_without_walking_the_ast(monkeypatch):
    c = compiled("position + choice([-1, 1])")
    from octo.compiler.expressions import ast as octo_ast

    monkeypatch.setattr(octo_ast, "walk", None)
    monkeypatch.setattr(octo_ast, "children", None)
    rng = random.Random(0)
    position = 0
    for _ in range(100):
        position = c.evaluate({"position": position}, rng)
    assert -100 <= position <= 100


# --- against the checker: every expression of the examples compiles ---------------------------------

def _example_exprs(language):
    import pathlib

    from octo.compiler.frontend.check import check_file

    for path in sorted((_root() / "examples").glob("*.octo")):
        result = check_file(str(path), language)
        if result.program is None:
            continue
        program = result.program
        if program.units and program.units.where is not None:
            yield path.name, program.units.where
        for step in program.steps.values():
            for e in [*step.exprs, *step.validate_exprs] + ([step.when] if step.when else []):
                yield path.name, e
        for _, e in program.export:
            yield path.name, e


def test_every_expression_of_the_examples_compiles(language):
    seen = 0
    for name, expr in _example_exprs(language):
        c = compile_expression(expr, language.functions, label=name)
        tree = pyast.parse(c.source)
        assert not [n for n in pyast.walk(tree) if isinstance(n, pyast.Attribute)], (name, c.source)
        seen += 1
    assert seen > 20


def test_the_drunken_sailor_walks_like_the_theory_says(language):
    from octo.compiler.frontend.check import check_file

    program = check_file(str(_root() / "examples" / "drunken_sailor.octo"), language).program
    cfg = program.steps["walk"].parsed
    init = [(name, compile_expression(e, language.functions)) for name, _, e in cfg.init]
    each = [(name, compile_expression(e, language.functions)) for name, _, e in cfg.each]
    until = compile_expression(cfg.until, language.functions)
    outcome = compile_expression(next(e for name, _, e in cfg.output if name == "outcome"), language.functions)
    ship = []
    for i in range(400):
        rng = random.Random(i)
        env = {"unit": {"id": f"u{i}", "repeat": i, "scenario": {"id": "middle", "start": 5}}}
        for name, c in init:
            env[name] = c.evaluate(env, rng)
        while True:
            for name, c in each:
                env[name] = c.evaluate(env, rng)
            if until.evaluate(env, rng):
                break
        ship.append(outcome.evaluate(env, rng) == "ship")
    share = ev("share(xs)", xs=ship)
    ci = ev("wilson(xs)", xs=ship)
    assert ci["low"] <= 0.5 <= ci["high"] and share == ci["estimate"]


# --- against Python itself ------------------------------------------------------------------


def _int_exprs():
    leaf = st.one_of(st.integers(0, 30).map(str), st.sampled_from(["x", "y"]))

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%", "/"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, inner).map(lambda t: f"-({t[0]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} < {t[2]} else {t[0]} + 1)"),
            st.tuples(inner, st.sampled_from(["<", "<=", "==", "!="]), inner, inner).map(
                lambda t: f"(1 if {t[0]} {t[1]} {t[2]} < {t[3]} else 0)"),
            st.tuples(inner, inner, inner).map(lambda t: f"(1 if {t[0]} < {t[1]} and not {t[1]} > {t[2]} or {t[2]} == 3 else 2)"),
            st.tuples(inner, inner).map(lambda t: f"len([v for v in [{t[0]}, {t[1]}, 7] if v > 2])"),
            st.tuples(inner).map(lambda t: f"abs({t[0]})"),
        )

    return st.recursive(leaf, extend, max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_int_exprs(), st.integers(-20, 20), st.integers(-20, 20))
def test_agrees_with_python_on_null_free_arithmetic(text, x, y):
    env = {"x": x, "y": y}
    try:
        expected = eval(text, {"__builtins__": {"len": len, "abs": abs}}, dict(env))  # the oracle
    except ZeroDivisionError:
        with pytest.raises(EvalError, match="by zero"):
            compiled(text).evaluate(env)
        return
    assert compiled(text).evaluate(env) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_int_exprs(), st.sampled_from([None, 1, -3]), st.sampled_from([None, 2]))
def test_nulls_never_crash_the_evaluator(text, x, y):
    try:
        compiled(text).evaluate({"x": x, "y": y})
    except EvalError as err:
        assert "division by zero" in str(err) or "modulo by zero" in str(err) or "cannot" in str(err)
