"""The fused simulate loop (octo.compiler.expressions.loopgen) against a per-expression reference."""

import ast as pyast
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
from octo.compiler.expressions.loopgen import compile_simulation
from octo.stdlib.builtins import FUNCTIONS


# --- building loops: every expression on a line of its own, so spans tell them apart ------------

class Loop:
    def __init__(self, init: dict, each: dict, until: str, output: dict | None = None,
                 max_iterations: int = 100_000, path: str = "sim.octo"):
        texts = [*init.values(), *each.values(), until, *(output or {}).values()]
        source = Source(path, "\n".join(texts) + "\n")
        offsets, at = [], 0
        for text in texts:
            offsets.append(at)
            at += len(text) + 1
        exprs = iter(_parse(source, text, start) for text, start in zip(texts, offsets))
        self.init = [(name, next(exprs)) for name in init]
        self.each = [(name, next(exprs)) for name in each]
        self.until = next(exprs)
        self.output = None if output is None else [(name, next(exprs)) for name in output]
        self.max_iterations = max_iterations
        self.compiled = compile_simulation(self.init, self.each, self.until, self.output, max_iterations, FUNCTIONS)


def _parse(source: Source, text: str, start: int):
    reporter = Reporter()
    expr = parse_expression(text, Origin(YScalar(Span(source, start, start + len(text)), text)), reporter)
    assert expr is not None, [d.message for d in reporter.diagnostics]
    return expr


def reference(loop: Loop, env: dict, rng) -> dict:
    """The straightforward way: one compiled expression per expression, a dict for the state."""
    c = lambda e: compile_expression(e, FUNCTIONS)  # noqa: E731
    init = [(n, c(e)) for n, e in loop.init]
    each = [(n, c(e)) for n, e in loop.each]
    until = c(loop.until)
    output = None if loop.output is None else [(n, c(e)) for n, e in loop.output]
    scope = dict(env)
    for name, expr in init:
        scope[name] = expr.evaluate(scope, rng)
    for _ in range(loop.max_iterations):
        for name, expr in each:
            scope[name] = expr.evaluate(scope, rng)
        if until.evaluate(scope, rng):
            break
    else:
        raise EvalError(f"did not reach `until` within {loop.max_iterations:,} iterations", until.span)
    if output is None:
        return {name: scope[name] for name, _ in init}
    return {name: expr.evaluate(scope, rng) for name, expr in output}


def outcome(fn, env, rng):
    try:
        return "ok", fn(env, rng)
    except EvalError as err:
        return "error", (err.message, err.span)


def agree(loop: Loop, env: dict | None = None, seed: int = 0):
    """Run both ways with equal streams: the same result (or the same error at the same span),
    and the streams left in the same state (the same draws were made)."""
    env = {} if env is None else env
    rng_ref, rng_fused = random.Random(seed), random.Random(seed)
    expected = outcome(lambda e, r: reference(loop, e, r), env, rng_ref)
    got = outcome(loop.compiled.run, env, rng_fused)
    assert got == expected, loop.compiled.source
    assert _same(got, expected)
    assert rng_fused.getstate() == rng_ref.getstate(), "different draws"
    return got


def _same(a, b) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def ok(loop, env=None, seed=0):
    kind, value = agree(loop, env, seed)
    assert kind == "ok", value
    return value


def fails(loop, env=None, seed=0) -> tuple[str, Span]:
    kind, value = agree(loop, env, seed)
    assert kind == "error", value
    return value


def sailor(start="5", **kw) -> Loop:
    return Loop({"position": start, "steps": "0"},
                {"position": "position + choice([-1, 1])", "steps": "steps + 1"},
                "position <= 0 or position >= 10",
                {"outcome": "'ship' if position >= 10 else 'water'", "steps": "steps"}, **kw)


# --- the drunken sailor -------------------------------------------------------------------------

def test_the_drunken_sailor_agrees_walk_by_walk():
    loop = sailor()
    results = [ok(loop, seed=seed) for seed in range(300)]
    ship = sum(r["outcome"] == "ship" for r in results) / len(results)
    assert 0.4 < ship < 0.6
    assert 15 < sum(r["steps"] for r in results) / len(results) < 35  # theory: 25


def test_the_drunken_sailor_of_the_example_file(language, root):
    from octo.compiler.frontend.check import check_file

    cfg = check_file(str(root / "examples" / "drunken_sailor.octo"), language).program.steps["walk"].parsed
    sim = compile_simulation([(n, e) for n, _, e in cfg.init], [(n, e) for n, _, e in cfg.each], cfg.until,
                             [(n, e) for n, _, e in cfg.output], cfg.max_iterations, language.functions)
    loop = sailor()
    loop.init, loop.each, loop.until = [(n, e) for n, _, e in cfg.init], [(n, e) for n, _, e in cfg.each], cfg.until
    loop.output, loop.compiled = [(n, e) for n, _, e in cfg.output], sim
    for i in range(100):
        start = 8 if i % 2 else 5
        env = {"unit": {"id": f"u{i}", "repeat": i, "scenario": {"id": "x", "start": start}}}
        result = ok(loop, env, seed=i)
        assert result["outcome"] in ("ship", "water") and result["steps"] >= 1
    # the start comes from the unit, so it may be null: the loop then fails, the same way
    message, span = fails(loop, {"unit": {"scenario": {"start": None}}})
    assert "did not reach `until` within 100,000 iterations" == message and span is cfg.until.span


def test_the_generated_loop_is_one_function_with_the_state_in_locals():
    src = sailor().compiled.source
    assert src.startswith("def _octo_sim(env, rng):")
    assert src.count("def ") == 1 and "while True:" in src and "break" in src
    assert "s_position = s_position + " in src and "s_steps = s_steps + 1" in src
    assert "env" not in src.split("while True:")[1]  # nothing is read from env inside the loop
    assert "is None" not in src.split("while True:")[1]  # known non-null numbers: no null checks
    assert "[-1, 1]" not in src and "f_choice" not in src  # the literal list is a constant tuple


# --- loops of all kinds ---------------------------------------------------------------------------

def test_each_sees_the_assignments_before_it_in_the_same_iteration():
    loop = Loop({"a": "0", "b": "1", "log": "[]"},
                {"a": "b", "b": "a + b", "log": "log + [[a, b]]"}, "b > 20")
    result = ok(loop)
    assert result == {"a": 16, "b": 32, "log": [[1, 2], [2, 4], [4, 8], [8, 16], [16, 32]]}


def test_init_in_order_each_may_use_the_earlier_ones():
    loop = Loop({"a": "unit.n", "b": "a * 2", "c": "a + b"}, {"a": "a + c"}, "a > 100")
    assert ok(loop, {"unit": {"n": 3}}) == {"a": 102, "b": 6, "c": 9}


def test_until_true_on_the_first_iteration_runs_exactly_one():
    loop = Loop({"n": "0"}, {"n": "n + 1"}, "true", max_iterations=1)
    assert ok(loop) == {"n": 1}
    assert ok(Loop({"n": "0"}, {"n": "n + 1"}, "n >= 1")) == {"n": 1}
    assert ok(Loop({"n": "0"}, {"n": "n + 1"}, "n >= 5", max_iterations=5)) == {"n": 5}  # reached on the last


def test_hitting_max_iterations_fails_with_a_readable_error():
    loop = Loop({"n": "0"}, {"n": "n + 1"}, "n < 0", max_iterations=7)
    message, span = fails(loop)
    assert message == "did not reach `until` within 7 iterations"
    assert span is loop.until.span and span.text() == "n < 0"
    with pytest.raises(EvalError) as info:
        loop.compiled.run({}, None)
    assert info.value.where() == "sim.octo:3:1"
    message, _ = fails(Loop({"n": "0"}, {"n": "n + 1"}, "false"))
    assert message == "did not reach `until` within 100,000 iterations"


def test_random_streams_are_reproducible_for_a_seed():
    loop = Loop({"x": "0", "draws": "[]"},
                {"x": "x + randint(1, 6)", "draws": "draws + [random(), uniform(0, 1), bernoulli(0.3), choice(names)]"},
                "x >= 30", {"x": "x", "draws": "draws", "last": "normal(0, 1)"})
    env = {"names": ["ann", "bob", "cy"]}
    a, b, c = (ok(loop, env, seed) for seed in (4, 4, 5))
    assert a == b and a != c
    assert loop.compiled.run(env, random.Random(4)) == a


@pytest.mark.parametrize("draw", [
    "choice([-1, 1])", "choice([1, 2.5, -3])", "choice(['a', 'b'])", "choice([true, false, null])",
    "choice([null])", "random()", "bernoulli(0.5)", "bernoulli(0)", "bernoulli(1)", "randint(-3, 3)",
    "randint(2, 2)", "choice({'b', 'a', 'c'})", "choice(xs)", "bernoulli(p)", "randint(1, k)", "choice([k, 1])",
    "choice('abc')", "bernoulli(2)", "randint(3, 1)", "choice([])",
])
def test_every_way_of_drawing_gives_the_reference_numbers(draw):
    loop = Loop({"i": "0", "v": "null", "seen": "[]"}, {"i": "i + 1", "v": draw, "seen": "seen + [v]"}, "i >= 40")
    agree(loop, {"xs": [3, 4, 5], "p": 0.25, "k": 9}, seed=11)


def test_nulls_propagate_and_a_null_until_counts_as_false():
    assert ok(Loop({"x": "n", "i": "0"}, {"x": "x + 1", "i": "i + 1"}, "i >= 3"), {"n": None}) == {"x": None, "i": 3}
    message, _ = fails(Loop({"x": "n"}, {"x": "x + 1"}, "x > 3", max_iterations=50), {"n": None})
    assert message.startswith("did not reach")
    # a state variable that starts null and becomes a number, and one that goes the other way
    assert ok(Loop({"x": "null"}, {"x": "0 if x == null else x + 1"}, "x >= 3")) == {"x": 3}
    loop = Loop({"x": "1", "i": "0"}, {"i": "i + 1", "x": "null if x > 2 else x + 1"}, "i >= 6")
    assert ok(loop) == {"x": None, "i": 6}
    assert "None if s_x is None" in loop.compiled.source  # not assumed non-null after all


def test_an_error_inside_each_points_at_the_failing_subexpression():
    loop = Loop({"i": "0", "y": "0"}, {"i": "i + 1", "y": "y + 10 / (3 - i) + 1"}, "i > 5")
    message, span = fails(loop)
    assert message == "division by zero" and span.text() == "10 / (3 - i)"
    with pytest.raises(EvalError) as info:
        loop.compiled.run({}, random.Random(0))
    assert info.value.where() == "sim.octo:4:5"
    message, span = fails(Loop({"i": "0"}, {"i": "i + xs[i]"}, "i > 5"), {"xs": [1, 1, 1]})
    assert message == "index 3 out of range for a list of 3" and span.text() == "xs[i]"
    message, span = fails(Loop({"i": "0"}, {"i": "i + 1"}, "i > 2", {"r": "rec.nope"}), {"rec": {"a": 1}})
    assert message == "`rec` has no field 'nope' (it has: a)" and span.text() == "rec.nope"
    message, span = fails(Loop({"s": "'a'"}, {"s": "s + 1"}, "len(s) > 3"))
    assert message == "'+' cannot combine a string ('a') and an int (1)" and span.text() == "s + 1"
    message, span = fails(Loop({"i": "0"}, {"i": "i + 1"}, "sqrt(2 - i) > 5"))
    assert message.startswith("sqrt() of a negative number") and span.text() == "sqrt(2 - i)"
    message, span = fails(Loop({"i": "1 // 0"}, {"i": "i + 1"}, "i > 2"))
    assert message == "division by zero" and span.text() == "1 // 0"


def test_output_absent_returns_the_state_in_init_order():
    loop = Loop({"z": "0", "a": "'x'", "m": "[]"}, {"m": "m + [z]", "z": "z + 1"}, "z == 3")
    result = ok(loop)
    assert list(result) == ["z", "a", "m"] and result == {"z": 3, "a": "x", "m": [0, 1, 2]}


def test_outputs_see_the_final_state_and_not_each_other():
    loop = Loop({"n": "0"}, {"n": "n + 1"}, "n == 4", {"twice": "n * 2", "n": "n", "env_n": "k"})
    assert ok(loop, {"k": "from env"}) == {"twice": 8, "n": 4, "env_n": "from env"}


def test_names_resolve_like_a_scope_dict():
    # a state variable shadows an env name; init reads a later state variable from env
    loop = Loop({"a": "b", "b": "a + 1"}, {"b": "b + a", "a": "b"}, "b > 10", {"a": "a", "b": "b", "unit": "unit"})
    assert ok(loop, {"b": 100, "unit": "u"}) == {"a": 201, "b": 201, "unit": "u"}
    # a comprehension variable shadows a state variable inside the comprehension only
    loop = Loop({"x": "0", "ys": "[]"}, {"x": "x + 1", "ys": "[x * 10 for x in [7, 8]] + [x]"}, "x >= 2")
    assert ok(loop) == {"x": 2, "ys": [70, 80, 2]}
    assert ok(Loop({"n": "0", "r": "[]"}, {"n": "n + 1", "r": "[v for v in {'b', 'a'}] + r"}, "n > 1")) \
        == {"n": 2, "r": ["a", "b", "a", "b"]}  # sets iterate sorted


def test_a_missing_name_and_a_missing_stream():
    message, span = fails(Loop({"i": "0"}, {"i": "i + nowhere"}, "i > 1"))
    assert message == "no value was given for 'nowhere'" and span.text() == "nowhere"
    # names are read from env once, before the loop: a missing one fails before any draw
    # (the reference draws first), with the same message
    loop = Loop({"i": "0"}, {"i": "i + choice([1, 2])"}, "i > 3", {"o": "nowhere"})
    with pytest.raises(EvalError, match="no value was given for 'nowhere'"):
        reference(loop, {}, random.Random(0))
    rng = random.Random(0)
    with pytest.raises(EvalError, match="no value was given for 'nowhere'"):
        loop.compiled.run({}, rng)
    assert rng.getstate() == random.Random(0).getstate()
    loop = Loop({"i": "0"}, {"i": "i + 1"}, "i > 1 and random() < 2")
    assert loop.compiled.random and not sailor().compiled.names
    with pytest.raises(EvalError, match="random stream") as info:
        loop.compiled.run({}, None)
    assert info.value.span is loop.until.span
    assert not Loop({"i": "0"}, {"i": "i + 1"}, "i > 1").compiled.random
    assert Loop({"i": "0"}, {"i": "i + 1"}, "i > 1").compiled.run({}) == {"i": 2}


def test_degenerate_loops():
    assert ok(Loop({}, {}, "true")) == {}
    assert ok(Loop({}, {}, "true", {"a": "1"})) == {"a": 1}
    message, _ = fails(Loop({"i": "0"}, {"i": "i + 1"}, "true", max_iterations=0))
    assert message == "did not reach `until` within 0 iterations"


def test_python_limits_on_nesting_become_eval_errors():
    deep = "len([1 " + " ".join(f"for a{i} in [1]" for i in range(25)) + "])"
    with pytest.raises(EvalError, match="nested too deeply") as info:
        Loop({"i": "0"}, {"i": deep}, "true")
    assert info.value.span.text() == deep


def test_assigning_an_undeclared_name_is_refused_when_compiling():
    with pytest.raises(EvalError, match="'z' is not a state variable"):
        Loop({"i": "0"}, {"z": "1"}, "true")
    with pytest.raises(EvalError, match="permutations\\(\\) cannot be evaluated"):
        Loop({"i": "0"}, {"i": "permutations([1], 1)"}, "true")


# --- the sandbox -----------------------------------------------------------------------------------

def test_limits_hold_inside_the_loop():
    message, span = fails(Loop({"s": "'x'"}, {"s": "s + s"}, "false"))
    assert message == "a string built by '+' would have 1,048,576 characters; the limit is 1,000,000"
    message, _ = fails(Loop({"x": "3"}, {"x": "x * x"}, "false"))
    assert "digits" in message
    message, _ = fails(Loop({"x": "2"}, {"x": "x ** 100"}, "false"))
    assert "digits" in message


def test_the_work_budget_is_per_evaluation_of_an_expression(monkeypatch):
    monkeypatch.setattr(codegen, "WORK_BUDGET", 1_000)  # read when compiling
    # 100 iterations x 200 steps of work: over the budget in all, never in one evaluation
    loop = Loop({"i": "0", "t": "0"}, {"i": "i + 1", "t": "t + len([v for v in range(200)])"}, "i >= 100")
    assert ok(loop) == {"i": 100, "t": 20_000}
    assert loop.compiled.source.count("_budget = 1000") == 1
    message, span = fails(Loop({"i": "0"}, {"i": "i + len([1 for a in range(40) for b in range(40)])"}, "i > 9"))
    assert "too much work" in message and span.text().startswith("i + len(")


ESCAPES = ["r.__class__", "r.__class__.__bases__", "__import__", "__builtins__", "env", "rng", "f_abs",
           "_add", "t1", "s_i", "r_choice", "_rng_choice", "r_bits", "_rng_bits", "_stuck", "_left", "k0", "unit.__dict__"]


@pytest.mark.parametrize("text", ESCAPES)
def test_internals_are_unreachable(text):
    loop = Loop({"i": "0", "v": "null"}, {"i": "i + 1", "v": text}, "i > 3", {"o": "choice([1, 2]) + random()"})
    assert "r_bits" in loop.compiled.source and "k0" in loop.compiled._fn.__globals__
    message, _ = fails(loop, {"r": {"a": 1}, "unit": {"id": "u"}})
    assert "no field" in message or "no value was given" in message


LOOPS = [
    sailor(),
    Loop({"x": "0", "s": "''", "xs": "[]", "d": "{}"},
         {"x": "x + randint(1, 3)", "s": "s + str(x)", "xs": "[v * 2 for v in xs if v > 1] + [x]",
          "d": "{k: d[k] + 1 for k in d} if len(d) < 3 else {}"},
         "x > 10 and not (len(s) < 2 or 1 in xs)", {"r": "[x, s[1:], xs[-1], d, {1, 2}, -x ** 2 // 3 % 2]"}),
]


@pytest.mark.parametrize("loop", LOOPS)
def test_generated_code_has_no_attribute_access_and_no_builtins(loop):
    c = loop.compiled
    tree = pyast.parse(c.source)
    assert not [n for n in pyast.walk(tree) if isinstance(n, pyast.Attribute)], c.source
    assert c._fn.__globals__["__builtins__"] == {}
    names = {n.id for n in pyast.walk(tree) if isinstance(n, pyast.Name)}
    allowed = set(codegen.HELPERS) | {"env", "rng", "_budget", "_mark", "_left", "_rest", "_stuck", "_lap_loop",
                                      "None", "True", "False"}
    strays = {n for n in names if n not in allowed and not n.startswith(("v_", "s_", "r_", "_rng_", "t", "c", "f_", "k"))}
    assert not strays, strays
    ok(loop, seed=3)


# --- against the reference, at random ------------------------------------------------------------

LEAVES = ["0", "1", "2", "-1", "null", "n", "choice([-1, 1])", "choice([1, null])", "randint(0, 3)"]


def _exprs(leaves=("x", "y", "i", *LEAVES)):
    leaf = st.sampled_from(leaves)

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner).map(lambda t: f"-({t[0]})"),
            st.tuples(inner, inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} < {t[2]} else {t[3]})"),
            st.tuples(inner, inner).map(lambda t: f"(null if {t[0]} == {t[1]} else {t[0]})"),
            st.tuples(inner, inner).map(lambda t: f"(1 if {t[0]} > {t[1]} or {t[1]} == null else 0)"),
            st.tuples(inner, inner).map(lambda t: f"len([v for v in [{t[0]}, {t[1]}] if v != null])"),
        )

    return st.recursive(leaf, extend, max_leaves=6)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_exprs(LEAVES), _exprs(), _exprs(), _exprs(), st.integers(0, 4), st.integers(0, 50))
def test_agrees_with_the_reference_on_random_loops(init_x, each_x, each_y, until, k, seed):
    loop = Loop({"x": init_x, "y": "0", "i": "0"},
                {"x": each_x, "i": "i + 1", "y": each_y}, f"i >= {k + 1} and ({until} != 0)", max_iterations=12)
    agree(loop, {"n": None}, seed)


# --- `and`/`or` of known booleans: one line ------------------------------------------------------

def test_and_or_of_known_booleans_take_one_line():
    src = sailor().compiled.source
    assert "or (s_position >= 10): break" in src and "t6 = True" not in src
    loop = Loop({"i": "0", "f": "false"}, {"i": "i + 1", "f": "i > 2 and (f or i > 4)"}, "f or i >= 9", {"f": "f"})
    assert ok(loop) == {"f": True}
    assert loop.compiled.source.count("if ") == 2  # the until and the look at the bounds; no if/else for and/or


def test_a_folded_or_fails_at_its_right_side():
    message, span = fails(Loop({"i": "0", "s": "'x'"}, {"i": "i + 1"}, "i > 3 or s < 1"))
    assert span.text() == "s < 1", message


def test_nullable_sides_keep_three_valued_logic():
    loop = Loop({"i": "0", "n": "null"}, {"i": "i + 1"}, "i > 2", {"a": "n or i > 9", "b": "i > 9 or n",
                                                                      "c": "n and i > 1", "d": "i > 1 and n"})
    assert ok(loop) == {"a": None, "b": None, "c": None, "d": None}
