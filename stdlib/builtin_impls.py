"""Implementations of the built-in functions, as compiled expressions call them.

Nulls: functions of one value give null for null; aggregates skip nulls.
Random functions take the unit's stream as the keyword `rng`.
"""

from __future__ import annotations

import math

from octo.compiler.expressions.codegen import MAX_ITEMS, EvalError, describe, ordered, value_size


# --- implementations ----------------------------------------------------------------------
# Called with evaluated arguments; random ones also get the unit's stream as ``rng=``.
# A null argument gives null (except where an item of a list is skipped); failures
# are EvalErrors in plain words.

_NO = object()  # an optional argument that was not given


def _iterable(xs, fn: str):
    """The items of a list, set, dict (its keys) or string, in a reproducible order."""
    if isinstance(xs, (list, tuple, str, dict, set, frozenset)):
        return ordered(xs)
    raise EvalError(f"{fn}() needs a list, not {describe(xs)}")


def _present(xs, fn: str) -> list:
    """The non-null items of a list: what the aggregate functions reduce."""
    return [x for x in _iterable(xs, fn) if x is not None]


def _number_items(xs, fn: str) -> list:
    out = _present(xs, fn)
    for x in out:
        if not isinstance(x, (int, float)):
            raise EvalError(f"{fn}() needs numbers, but the list holds {describe(x)}")
    return out


def _number(x, fn: str, what: str = "its argument"):
    if not isinstance(x, (int, float)):
        raise EvalError(f"{fn}(): {what} must be a number, not {describe(x)}")
    return x


def _whole(x, fn: str, what: str = "its argument") -> int:
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if not isinstance(x, int):
        raise EvalError(f"{fn}(): {what} must be a whole number, not {describe(x)}")
    return x


def _finite(x, fn: str):
    if isinstance(x, float) and not math.isfinite(x):
        raise EvalError(f"{fn}() cannot turn {x} into a whole number")
    return x


def _string(x, fn: str, what: str = "its argument") -> str:
    if not isinstance(x, str):
        raise EvalError(f"{fn}(): {what} must be a string, not {describe(x)}")
    return x


# math

def impl_abs(x):
    return None if x is None else abs(_number(x, "abs"))


def _minmax(fn: str, pick, args):
    if len(args) == 1:
        if args[0] is None:
            return None
        values = _present(args[0], fn)
    else:
        values = [a for a in args if a is not None]
    if not values:
        return None
    try:
        return pick(values)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise EvalError(f"{fn}() cannot compare {' and '.join(kinds)} values") from None


def impl_min(*args):
    return _minmax("min", min, args)


def impl_max(*args):
    return _minmax("max", max, args)


def impl_round(x, digits=_NO):
    if x is None or digits is None:
        return None
    _number(x, "round")
    if digits is _NO:
        return int(round(_finite(x, "round")))
    return float(round(x, _whole(digits, "round", "the number of digits")))


def impl_floor(x):
    return None if x is None else math.floor(_finite(_number(x, "floor"), "floor"))


def impl_ceil(x):
    return None if x is None else math.ceil(_finite(_number(x, "ceil"), "ceil"))


def impl_sqrt(x):
    if x is None:
        return None
    if _number(x, "sqrt") < 0:
        raise EvalError(f"sqrt() of a negative number ({x})")
    return math.sqrt(x)


def impl_exp(x):
    if x is None:
        return None
    try:
        return math.exp(_number(x, "exp"))
    except OverflowError:
        raise EvalError(f"exp({x}) is too large for a float") from None


def impl_log(x, base=_NO):
    if x is None or base is None:
        return None
    if _number(x, "log") <= 0:
        raise EvalError(f"log() of zero or a negative number ({x})")
    if base is _NO:
        return math.log(x)
    if _number(base, "log", "the base") <= 0 or base == 1:
        raise EvalError(f"log(): the base must be positive and not 1, not {base}")
    return math.log(x, base)


# conversions

def impl_int(x):
    if x is None:
        return None
    if isinstance(x, str):
        try:
            return int(x.strip())
        except ValueError:
            raise EvalError(f"int() cannot convert {describe(x)} to a whole number") from None
    return int(_finite(_number(x, "int"), "int"))


def impl_float(x):
    if x is None:
        return None
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            raise EvalError(f"float() cannot convert {describe(x)} to a number") from None
    try:
        return float(_number(x, "float"))
    except OverflowError:
        raise EvalError("float(): the number is too large for a float") from None


def impl_str(x):
    if x is None:
        return None
    if x.__class__ is str:
        return x
    # Every value in x takes at least one character to write out: refuse before writing
    # a text that could not be kept (shared lists would be written out in full).
    if isinstance(x, (list, tuple, set, frozenset, dict)) and value_size(x) > MAX_ITEMS:
        raise EvalError(f"str(): {describe(x)} holds more than {MAX_ITEMS:,} values and characters, so its "
                        f"text would be longer than that; the limit is {MAX_ITEMS:,} characters")
    if isinstance(x, (set, frozenset)):  # in a reproducible order
        text = "{" + ", ".join(repr(v) for v in ordered(x)) + "}" if x else "set()"
    else:
        try:
            text = str(x)
        except ValueError:  # an int beyond Python's digit limit for text
            raise EvalError(f"str(): {describe(x)} is too long to write out") from None
    if len(text) > MAX_ITEMS:
        raise EvalError(f"str() would build a string of {len(text):,} characters; the limit is {MAX_ITEMS:,}")
    return text


def impl_bool(x):
    return None if x is None else bool(x)


def impl_list(xs):
    return None if xs is None else list(_iterable(xs, "list"))


def impl_set(xs=_NO):
    if xs is _NO:
        return set()
    if xs is None:
        return None
    try:
        return set(_iterable(xs, "set"))
    except TypeError:
        raise EvalError("set(): the items must be numbers, strings or bools, not lists, sets or records") from None


# sequences

def impl_len(xs):
    if xs is None:
        return None
    if not isinstance(xs, (list, tuple, str, dict, set, frozenset)):
        raise EvalError(f"len() needs a list, string, set or dict, not {describe(xs)}")
    return len(xs)


def impl_sum(xs):
    if xs is None:
        return None
    values = _number_items(xs, "sum")
    if all(isinstance(v, int) for v in values):  # ints and bools: exact, an int
        return int(sum(values))
    return math.fsum(values)  # exactly rounded: independent of the order


def impl_sorted(xs):
    if xs is None:
        return None
    items = list(_iterable(xs, "sorted"))
    present = [x for x in items if x is not None]
    try:
        present.sort()
    except TypeError:
        kinds = sorted({type(v).__name__ for v in present})
        raise EvalError(f"sorted() cannot order {' and '.join(kinds)} values together") from None
    return present + [None] * (len(items) - len(present))  # nulls last


def impl_any(xs):
    if xs is None:
        return None
    items = list(_iterable(xs, "any"))
    if any(x for x in items if x is not None):
        return True
    return None if any(x is None for x in items) else False


def impl_all(xs):
    if xs is None:
        return None
    items = list(_iterable(xs, "all"))
    if any(x is not None and not x for x in items):
        return False
    return None if any(x is None for x in items) else True


def impl_range(*args):
    if any(a is None for a in args):
        return None
    bounds = [_whole(a, "range", "each argument") for a in args]
    if len(bounds) == 3 and bounds[2] == 0:
        raise EvalError("range(): the step must not be zero")
    r = range(*bounds)
    if len(r) > MAX_ITEMS:
        raise EvalError(f"range() would have {len(r):,} items; the limit is {MAX_ITEMS:,}")
    return list(r)


# strings

def impl_lower(s):
    return None if s is None else _string(s, "lower").lower()


def impl_upper(s):
    return None if s is None else _string(s, "upper").upper()


def impl_strip(s):
    return None if s is None else _string(s, "strip").strip()


def impl_contains(haystack, needle):
    if haystack is None:
        return None
    if isinstance(haystack, str):
        return None if needle is None else _string(needle, "contains", "the needle") in haystack
    _iterable(haystack, "contains")
    try:
        return needle in haystack
    except TypeError:
        raise EvalError(f"contains(): {describe(needle)} cannot be looked up in a set or dict") from None


def impl_startswith(s, prefix):
    if s is None or prefix is None:
        return None
    return _string(s, "startswith").startswith(_string(prefix, "startswith", "the prefix"))


def impl_join(strings, separator=""):
    if strings is None or separator is None:
        return None
    _string(separator, "join", "the separator")
    items = _present(strings, "join")
    for x in items:
        if not isinstance(x, str):
            raise EvalError(f"join() joins strings, but the list holds {describe(x)}")
    total = sum(len(x) for x in items) + len(separator) * max(0, len(items) - 1)
    if total > MAX_ITEMS:
        raise EvalError(f"join() would build a string of {total:,} characters; the limit is {MAX_ITEMS:,}")
    return separator.join(items)


# randomness: every one takes the unit's stream as ``rng``

def impl_random(*, rng):
    return rng.random()


def impl_uniform(a, b, *, rng):
    if a is None or b is None:
        return None
    return rng.uniform(_number(a, "uniform"), _number(b, "uniform"))


def impl_normal(mean, sd, *, rng):
    if mean is None or sd is None:
        return None
    if _number(sd, "normal", "the standard deviation") < 0:
        raise EvalError(f"normal(): the standard deviation must not be negative, not {sd}")
    return rng.normalvariate(_number(mean, "normal", "the mean"), sd)


def impl_randint(a, b, *, rng):
    if a is None or b is None:
        return None
    lo, hi = _whole(a, "randint"), _whole(b, "randint")
    if lo > hi:
        raise EvalError(f"randint({lo}, {hi}): the low end is above the high end")
    return rng.randint(lo, hi)


def _population(xs, fn: str) -> Sequence:
    items = _iterable(xs, fn)
    return items if isinstance(items, (list, tuple, str)) else list(items)


def impl_choice(xs, *, rng):
    if xs.__class__ is list and xs:  # the common case, fast
        return rng.choice(xs)
    if xs is None:
        return None
    items = _population(xs, "choice")
    if not items:
        raise EvalError("choice() from an empty list")
    return rng.choice(items)


def impl_sample(xs, k, *, rng):
    if xs is None or k is None:
        return None
    items = _population(xs, "sample")
    k = _whole(k, "sample", "the count")
    if not 0 <= k <= len(items):
        raise EvalError(f"sample(): cannot draw {k} items from {len(items)}")
    if k > MAX_ITEMS:
        raise EvalError(f"sample() would have {k:,} items; the limit is {MAX_ITEMS:,}")
    return rng.sample(items, k)


def impl_shuffle(xs, *, rng):
    if xs is None:
        return None
    items = list(_iterable(xs, "shuffle"))
    rng.shuffle(items)
    return items


def impl_bernoulli(p, *, rng):
    if p is None:
        return None
    if not 0 <= _number(p, "bernoulli", "the probability") <= 1:
        raise EvalError(f"bernoulli(): the probability must be between 0 and 1, not {p}")
    return rng.random() < p
