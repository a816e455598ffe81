"""Integer draws written out in generated code: CPython's own algorithm, guarded.

``choice(seq)`` on a ``random.Random`` is ``seq[self._randbelow(len(seq))]`` and
``randint(a, b)`` is ``a + self._randbelow(b - a + 1)``; ``_randbelow`` of a
plain ``random.Random`` is ``_randbelow_with_getrandbits``: ``k =
n.bit_length()``, then ``getrandbits(k)`` until the value is below ``n``. With
``n`` known when compiling, generated code can make those very ``getrandbits``
calls itself (C calls) instead of two Python-level calls per draw: the stream
gives the same numbers and is left in the same state.

The guard (:func:`inline_ok`, once per process): ``random.Random``'s
``choice``, ``randint``, ``randrange`` and ``_randbelow`` are the ones this module
saw at import (nobody patched them), ``_randbelow`` is
``_randbelow_with_getrandbits``, and a self-test on this interpreter draws the
same numbers both ways (so a CPython that changed the algorithm turns the
inlining off instead of changing results). The generated code is used only for
a stream whose class IS ``random.Random`` (:func:`plain_stream`): a subclass may
override ``random``, ``getrandbits`` or ``_randbelow``.
"""

from __future__ import annotations

import random

_Random = random.Random
_ORIGINAL = {name: _Random.__dict__.get(name) for name in ("choice", "randint", "randrange", "_randbelow")}
_ok: bool | None = None


def below_lines(target: str, n: int) -> list[str]:
    """Lines setting ``target`` to a draw in [0, n) from ``r_bits`` (the stream's getrandbits),
    as ``_randbelow_with_getrandbits(n)`` draws it."""
    if n < 1:
        raise ValueError(f"no draw below {n}")
    k = n.bit_length()  # not (n - 1): CPython draws k = n.bit_length() bits, even for n = 1
    return [f"{target} = r_bits({k})", f"while {target} >= {n}: {target} = r_bits({k})"]


def plain_stream(rng) -> bool:
    """Whether generated draws may stand in for ``rng``'s own methods."""
    return rng.__class__ is _Random


def below_function(n: int):
    """:func:`below_lines` as a function of ``r_bits`` (what the self-test and the tests compare)."""
    source = "def below(r_bits):\n" + "".join(f"    {line}\n" for line in below_lines("r", n)) + "    return r\n"
    namespace: dict = {"__builtins__": {}}
    exec(compile(source, f"<octo draw below {n}>", "exec"), namespace)
    return namespace["below"]


def inline_ok() -> bool:
    """Whether this interpreter's ``random.Random`` draws integers as :func:`below_lines` does."""
    global _ok
    if _ok is None:
        _ok = _unpatched() and _self_test()
    return _ok


def _unpatched() -> bool:
    now = {name: _Random.__dict__.get(name) for name in _ORIGINAL}
    return now == _ORIGINAL and _Random.__dict__.get("_randbelow") is _Random.__dict__.get(
        "_randbelow_with_getrandbits") is not None


def _self_test() -> bool:
    sizes = [*range(1, 10), 31, 32, 33, 1000, 2 ** 31, 2 ** 32 + 1, 2 ** 62 + 5]
    belows = {n: below_function(n) for n in sizes}
    for seed in (0, 2 ** 70 + 3):
        lib, ours = _Random(seed), _Random(seed)
        for n in sizes:
            for _ in range(3):
                if lib.choice(range(n)) != belows[n](ours.getrandbits):
                    return False
                if lib.randint(-5, n - 6) != -5 + belows[n](ours.getrandbits):
                    return False
        if lib.getstate() != ours.getstate():
            return False
    return True
