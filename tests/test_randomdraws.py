"""Draws written out in generated code (octo.compiler.expressions.randomdraws) are the library's draws."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from octo.compiler.expressions import randomdraws
from octo.compiler.expressions.randomdraws import below_function, inline_ok, plain_stream
from test_loopgen import Loop

SEEDS = st.integers(min_value=0, max_value=2 ** 80)
# small sizes (1 and powers of two, where CPython draws one bit more than n - 1 needs), and large ones
SIZES = st.one_of(st.integers(min_value=1, max_value=70), st.sampled_from([2 ** 16, 2 ** 31, 2 ** 32 + 1]),
                  st.integers(min_value=1, max_value=2 ** 40))


def test_this_interpreter_passes_the_guard():
    assert inline_ok()  # otherwise nothing here is written out and the tests below prove little


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, n=SIZES)
def test_below_draws_what_randbelow_draws(seed, n):
    lib, ours = random.Random(seed), random.Random(seed)
    below = below_function(n)
    assert [lib.choice(range(n)) for _ in range(5)] == [below(ours.getrandbits) for _ in range(5)]
    assert lib.getstate() == ours.getstate()


def _draws(expr: str) -> Loop:
    """A loop that folds 7 draws of ``expr`` into one number (so any draw that differs shows)."""
    return Loop({"i": "0", "h": "0"}, {"i": "i + 1", "h": f"h * 3 + ({expr})"}, "i >= 7", {"h": "h"})


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, items=st.lists(st.integers(min_value=-9, max_value=9), min_size=1, max_size=40))
def test_a_written_out_choice_is_random_choice(seed, items):
    loop = _draws(f"choice({items})".replace(" ", ""))
    assert "r_bits" in loop.compiled.source and "r_choice" not in loop.compiled.source
    lib, ours = random.Random(seed), random.Random(seed)
    h = 0
    for _ in range(7):
        h = h * 3 + lib.choice(items)
    assert loop.compiled.run({}, ours) == {"h": h}
    assert lib.getstate() == ours.getstate()


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, a=st.integers(min_value=-2 ** 40, max_value=2 ** 40), width=SIZES)
def test_a_written_out_randint_and_uniform_are_the_library_s(seed, a, width):
    b = a + width - 1
    loop = _draws(f"randint({a}, {b}) + uniform({a}, 0.5)")
    assert "r_bits" in loop.compiled.source and "r_randint" not in loop.compiled.source
    lib, ours = random.Random(seed), random.Random(seed)
    h = 0
    for _ in range(7):
        h = h * 3 + (lib.randint(a, b) + lib.uniform(a, 0.5))
    assert loop.compiled.run({}, ours) == {"h": h}
    assert lib.getstate() == ours.getstate()


class Twisted(random.Random):
    """A stream whose integer draws differ from random.Random's: the written-out loop must not serve it."""

    def getrandbits(self, k):
        return super().getrandbits(k) ^ 1 if k > 1 else super().getrandbits(k)


def test_a_stream_of_another_class_gets_its_own_methods():
    loop = _draws("choice([0, 1, 2, 3, 4]) + randint(1, 6)")
    assert not plain_stream(Twisted(5)) and plain_stream(random.Random(5))
    lib = Twisted(5)
    h = 0
    for _ in range(7):
        h = h * 3 + (lib.choice([0, 1, 2, 3, 4]) + lib.randint(1, 6))
    ours = Twisted(5)
    assert loop.compiled.run({}, ours) == {"h": h}
    assert lib.getstate() == ours.getstate()
    assert loop.compiled.run({}, random.Random(5)) != {"h": h}  # the twist shows: the test can tell


def test_a_patched_random_turns_the_writing_out_off(monkeypatch):
    monkeypatch.setattr(randomdraws, "_ok", None)
    monkeypatch.setattr(random.Random, "choice", lambda self, seq: seq[0])
    assert not inline_ok()
    loop = _draws("choice([1, 2])")
    assert "r_bits" not in loop.compiled.source and "r_choice" in loop.compiled.source
    monkeypatch.undo()
    assert inline_ok()
