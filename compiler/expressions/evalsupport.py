"""What compiled expressions call at run time: the limits, EvalError, and helpers.

The code :mod:`octo.compiler.expressions.codegen` generates can reach only these helpers
(``HELPERS``) and the built-in functions' implementations.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..base.source import Span
from . import ast
from .cpuclock import CLOCK, LAP
from .evalerror import MAX_ITEMS, EvalError, _where  # noqa: F401  (re-exported: their home is cheap to import)
from .valuesize import _CONTAINERS, TooDeep, measure


MAX_SIZE = 10_000_000  # largest value an expression may build, counted as stored (see value_size)
MAX_DEPTH = 100  # deepest nesting of lists, sets and dicts an expression may build
MAX_DIGITS = 10_000  # largest int (in decimal digits) that ** and * may build
WORK_BUDGET = 10_000_000  # comprehension iterations + items built or passed to functions inside them, per evaluation

_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1



# --- run-time helpers (the only callables the generated code sees, with the impls) -------

_SEQ = (str, list)
_SIZED = (str, list, set, frozenset, dict, tuple)


def _too_long(value, how: str, n: int) -> EvalError:
    what, unit = ("string", "characters") if isinstance(value, str) else (_kind_word(value), "items")
    return EvalError(f"a {what} built by {how} would have {n:,} {unit}; the limit is {MAX_ITEMS:,}")


def _add(a, b):
    if a is None or b is None:
        return None
    ca = a.__class__
    if ca is int or ca is float:
        return a + b
    if ca in _SEQ and b.__class__ is ca:
        if len(a) + len(b) > MAX_ITEMS:
            raise _too_long(a, "'+'", len(a) + len(b))
        if ca is list:  # the items of both, as stored
            (size_a, height_a), (size_b, height_b) = _measured(a), _measured(b)
            size, height = size_a + size_b - 1, max(height_a, height_b)
            _check_size(a, size, "'+'")
            return _remember(a + b, size, height)
    return a + b


def _mul(a, b):
    if a is None or b is None:
        return None
    ca, cb = a.__class__, b.__class__
    if ca in _SEQ or cb in _SEQ:
        seq, n = (a, b) if ca in _SEQ else (b, a)
        if n.__class__ in (int, bool):
            if len(seq) * n > MAX_ITEMS:
                raise _too_long(seq, "'*'", len(seq) * n)
            if seq.__class__ is list and n > 1:  # n copies of the same items: each counts when stored
                one, height = _measured(seq)
                _check_size(seq, 1 + n * (one - 1), "'*'")
                return _remember(seq * n, 1 + n * (one - 1), height)
    elif ca is int and cb is int and a.bit_length() + b.bit_length() > _MAX_BITS:
        raise EvalError(f"the product would have more than {MAX_DIGITS:,} digits")
    return a * b


def _mod(a, b):
    if a is None or b is None:
        return None
    if a.__class__ is str:  # never printf-style formatting
        raise TypeError("unsupported operand")
    return a % b


def _pow(a, b):
    if a is None or b is None:
        return None
    ints = (int, bool)
    if a.__class__ in ints and b.__class__ in ints:
        if b >= 0:
            if abs(a) > 1 and b * math.log10(abs(a)) > MAX_DIGITS:
                digits = b * math.log10(abs(a))
                raise EvalError(f"the result of '**' would have about {digits:,.0f} digits; the limit is {MAX_DIGITS:,}")
            return a ** b
        if a == 0:
            raise EvalError("zero cannot be raised to a negative power")
    try:
        r = a ** b
    except OverflowError:
        raise EvalError("the result of '**' is too large for a float") from None
    except ZeroDivisionError:
        raise EvalError("zero cannot be raised to a negative power") from None
    if r.__class__ is complex:
        raise EvalError("a negative number to a fractional power has no real value")
    return r


def _in(a, b):
    if b is None or (a is None and b.__class__ is str):
        return None
    return a in b


def _not_in(a, b):
    r = _in(a, b)
    return None if r is None else not r


def _canon_key(x):
    if x is None:
        return (0, 0)
    if isinstance(x, (bool, int, float)):
        return (1, x)
    return (2, x) if isinstance(x, str) else (3, repr(x))


def ordered(xs):
    """Iterable ``xs`` in a reproducible order: sets are sorted (their own order
    depends on per-process string hashing); everything else keeps its order."""
    if isinstance(xs, (set, frozenset)):
        try:
            return sorted(xs, key=_canon_key)
        except TypeError:
            return list(xs)
    return xs


def _limit(xs):
    """A comprehension's result of numbers or bools: only its length can be too big."""
    if len(xs) > MAX_ITEMS:
        raise _too_long(xs, "a comprehension", len(xs))
    return xs


def _limit_size(xs):
    """A comprehension's result that may hold strings or containers: its length and its size."""
    return _fits(_limit(xs), "a comprehension")


def _charge(budget, value):
    if value.__class__ in _SIZED:
        budget -= len(value)
    if budget < 0:
        _over()
    return budget


def _lap(budget):
    """Every LAP units of a comprehension's work: the work budget, then the CPU clock.
    Returns the budget at which to come back (0: when it runs out)."""
    if budget < 0:
        _over()
    if CLOCK.spent():
        raise EvalError(CLOCK.message())
    return budget - LAP if budget > LAP else 0


def _over():
    raise EvalError(f"this expression does too much work: more than {WORK_BUDGET:,} loop iterations, "
                    "items built and items passed to functions inside comprehensions")


_PENDING = object()  # a conditional chain's value before a branch is taken


# --- the size of a value as stored ---------------------------------------------------------
# Checked wherever values are combined. The sizes of the lists, sets and dicts built or
# measured lately are remembered (KNOWN), so that `history + [x]` in a loop costs what the
# new item costs, not what the whole history does; evaluators empty it when they start.

# An OrderedDict: a plain dict's oldest entry gets slower to find with every one dropped.
KNOWN: OrderedDict[int, tuple] = OrderedDict()  # id → (the value itself, its size, its height)
_KEEP = 16  # entries KNOWN keeps, the oldest dropped first...
_HOLD = 4_000_000  # ...and while their sizes add up to more than this (the newest is always kept)
_WORTH = 256  # a value smaller than this is measured again rather than remembered
_FEW = 9  # this many plain values, strings of up to MAX_ITEMS included, are always within MAX_SIZE
_held = [0]  # the sizes in KNOWN, added up
LAST = [None, 0, 0]  # the value measured last, its size and height: `h + [x]` measures `[x]` twice


def value_size(x) -> int:
    """The size of ``x`` as it would be stored, every reference counted (see valuesize);
    EvalError when lists, sets and dicts nest more than MAX_DEPTH deep."""
    return _measured(x)[0]


def _measured(x) -> tuple[int, int]:
    if LAST[0] is x:
        return LAST[1], LAST[2]
    known = KNOWN.get(id(x))
    if known is not None and known[0] is x:
        return known[1], known[2]
    try:
        size, height = measure(x, MAX_DEPTH, KNOWN)
    except TooDeep:
        raise EvalError(f"lists, sets and dicts would nest more than {MAX_DEPTH} deep; "
                        f"the limit is {MAX_DEPTH}") from None
    LAST[:] = x, size, height
    return size, height


def _remember(x, size: int, height: int):
    """``x`` itself, its size noted when measuring it again would cost something."""
    if size >= _WORTH:
        old = KNOWN.pop(id(x), None)
        if old is not None:
            _held[0] -= old[1]
        KNOWN[id(x)] = (x, size, height)  # holding x keeps its id its own
        _held[0] += size
        while len(KNOWN) > _KEEP or (_held[0] > _HOLD and len(KNOWN) > 1):
            _held[0] -= KNOWN.popitem(last=False)[1][1]
    return x


def forget_sizes() -> None:
    """Evaluators call this when they start: values may have changed between evaluations."""
    KNOWN.clear()
    _held[0] = 0
    LAST[:] = None, 0, 0


def begin_evaluation() -> None:
    """What an evaluation does first: outside a unit's step, its CPU clock starts at its first look;
    sizes measured by an earlier evaluation are forgotten (the values may have changed)."""
    if not CLOCK.unit:
        CLOCK.started = None
    if KNOWN or LAST[0] is not None:
        forget_sizes()


def _check_size(x, n: int, how: str) -> None:
    if n > MAX_SIZE:
        raise EvalError(f"a {_kind_word(x)} built by {how} would be too big to store: it would hold {n:,} "
                        f"values and characters, repeats counted; the limit is {MAX_SIZE:,}")


def _fits(x, how: str):
    """``x`` itself when its size as stored is within MAX_SIZE (and its nesting within MAX_DEPTH)."""
    if len(x) <= (_FEW if x.__class__ is not dict else _FEW // 2):  # a display, mostly: a few plain values
        for v in (x if x.__class__ is not dict else itertools.chain(x, x.values())):
            cls = v.__class__
            if cls in _CONTAINERS or (cls is str and len(v) > MAX_ITEMS):
                break
        else:
            return x
    size, height = _measured(x)
    _check_size(x, size, how)
    return _remember(x, size, height)


def _no_rng():
    raise EvalError("this expression draws random numbers, but no random stream was given")


HELPERS: dict[str, Any] = {
    "_add": _add, "_mul": _mul, "_mod": _mod, "_pow": _pow, "_in": _in, "_not_in": _not_in,
    "_iter": ordered, "_limit": _limit, "_limit_size": _limit_size, "_fits": _fits, "_charge": _charge,
    "_lap": _lap, "_over": _over, "_no_rng": _no_rng, "_PENDING": _PENDING,
}


# --- random streams ----------------------------------------------------------------------

def unit_stream(seed: int, unit_id: str, step: str) -> "random.Random":
    """The random stream of one (run seed, unit, step), derived by a stable hash.

    SHA-256 (never Python's salted ``hash()``) makes it the same in every process,
    on every machine and on resume; a step's `when` and its body share the stream.
    The derivation is a contract (docs/language.md, "Randomness and reproducibility";
    tests/test_streams.py pins known streams): never change it silently.
    """
    return random.Random(stream_key(seed, unit_id, step))


def stream_key(seed: int, unit_id: str, step: str) -> int:
    """What seeds the stream: the first 16 bytes, big-endian, of SHA-256 of ``octo-stream:{seed}:{unit}:{step}``."""
    digest = hashlib.sha256(f"octo-stream:{seed}:{unit_id}:{step}".encode()).digest()
    return int.from_bytes(digest[:16], "big")


_seed_in_place = random.Random.__mro__[1].seed  # the C generator's seeding, which random.Random.seed calls for an int


class UnitStreams:
    """:func:`unit_stream` for one unit after another: one ``random.Random`` reseeded in place.

    Reseeding gives the very state a new ``random.Random(key)`` has (its Python-level ``seed``
    calls the C generator's for an int, and clears ``gauss_next``), without making an object
    and going through the Python layer each unit. The stream returned is valid only until the
    next call: for a loop that is done with one unit before it starts the next, in one thread.
    """

    __slots__ = ("seed", "_rng")

    def __init__(self, seed: int):
        self.seed = seed
        self._rng = random.Random()

    def __call__(self, unit_id: str, step: str) -> "random.Random":
        rng = self._rng
        _seed_in_place(rng, stream_key(self.seed, unit_id, step))
        rng.gauss_next = None
        return rng


# --- describing values in messages ------------------------------------------------

def _kind_word(v) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, (set, frozenset)):
        return "set"
    return "dict" if isinstance(v, dict) else "list"


def _sized_word(v) -> str:
    n = len(v)
    if isinstance(v, str):
        return f"a string of {n} character{'s' if n != 1 else ''}"
    return f"a list of {n}"


def _short_repr(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an int of about {int(v.bit_length() * math.log10(2)) + 1} digits"
    if isinstance(v, str):
        return repr(v) if len(v) <= 40 else repr(v[:37]) + "..."
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def describe(v) -> str:
    """A value in words: 'an int (5)', 'a list of 3 items', 'null'."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"a bool ({'true' if v else 'false'})"
    if isinstance(v, int):
        return f"an int ({_short_repr(v)})" if v.bit_length() <= 64 else _short_repr(v)
    if isinstance(v, float):
        return f"a float ({v!r})"
    if isinstance(v, str):
        return f"a string ({_short_repr(v)})"
    if isinstance(v, (list, tuple, set, frozenset)):
        n = len(v)
        return f"a {'set' if isinstance(v, (set, frozenset)) else 'list'} of {n} item{'s' if n != 1 else ''}"
    if isinstance(v, dict):
        if v and all(isinstance(k, str) for k in v):
            return f"a record with fields {', '.join(list(v)[:8])}{', ...' if len(v) > 8 else ''}"
        return f"a dict of {len(v)} entr{'ies' if len(v) != 1 else 'y'}"
    return f"a {type(v).__name__}"
