"""The expression language's built-in functions: arity, typing rules, implementations.

Each function is declared once here; the checker types calls with these rules
(``octo.compiler.functions``), and compiled expressions (``octo.compiler.codegen``)
call the same table's implementations.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from octo.compiler.codegen import MAX_ITEMS, EvalError, describe, ordered
from octo.compiler.functions import ArgError, Function
from octo.compiler.types import (ANY, BOOL, FLOAT, INT, STR, EnumT, ListT, RecordT, SetT, Type, elem_of,
                                 is_any, is_bool, is_number, is_str, join, record, strip)

Typer = Callable[[Sequence[Type]], Type]


def _num(i: int, allow_bool: bool = False) -> Callable[[Sequence[Type]], None]:
    def check(ts: Sequence[Type]) -> None:
        if i < len(ts) and not is_number(ts[i], allow_bool):
            raise ArgError(i, f"needs a number, not {strip(ts[i]).describe()}")
    return check


def _seq(ts: Sequence[Type], i: int = 0) -> Type:
    elem = elem_of(ts[i]) if i < len(ts) else None
    if elem is None:
        raise ArgError(i, f"needs a list, not {strip(ts[i]).describe()}")
    return elem


def _numbers(ts: Sequence[Type], allow_bool: bool = True) -> Type:
    elem = _seq(ts)
    if not is_number(elem, allow_bool):
        raise ArgError(0, f"needs numbers, not {strip(elem).describe()}")
    return strip(elem)


def _all_num(ts: Sequence[Type]) -> None:
    for i in range(len(ts)):
        _num(i)(ts)


def _widen(t: Type) -> Type:
    return STR if isinstance(t, EnumT) else t


# --- typing rules ---------------------------------------------------------------------

def t_abs(ts):
    _num(0)(ts)
    return strip(ts[0])


def t_minmax(ts):
    if len(ts) == 1:
        elem = _seq(ts)
        if not (is_number(elem, True) or is_str(elem)):
            raise ArgError(0, f"needs numbers or strings, not {strip(elem).describe()}")
        return strip(elem)
    out = strip(ts[0])
    for i, t in enumerate(ts[1:], 1):
        j = join(out, strip(t))
        if j is None or not (is_number(j) or is_str(j)):
            raise ArgError(i, f"cannot compare {out.describe()} with {strip(t).describe()}")
        out = j
    return out


def t_round(ts):
    _all_num(ts)
    return INT if len(ts) == 1 else FLOAT


def t_int_of_num(ts):
    _num(0)(ts)
    return INT


def t_float_math(ts):
    _all_num(ts)
    return FLOAT


def t_int(ts):
    if not (is_number(ts[0], True) or is_str(ts[0])):
        raise ArgError(0, f"cannot convert {strip(ts[0]).describe()} to int")
    return INT


def t_float(ts):
    if not (is_number(ts[0], True) or is_str(ts[0])):
        raise ArgError(0, f"cannot convert {strip(ts[0]).describe()} to float")
    return FLOAT


def t_list(ts):
    return ListT(_widen(_seq(ts)))


def t_set(ts):
    return SetT(_widen(_seq(ts))) if ts else SetT(ANY)


def t_len(ts):
    _seq(ts)
    return INT


def t_sum(ts):
    elem = _numbers(ts)
    return INT if elem in (INT, BOOL) else elem


def t_sorted(ts):
    return ListT(_widen(_seq(ts)))


def t_anyall(ts):
    elem = _seq(ts)
    if not is_bool(elem):
        raise ArgError(0, f"needs a list of bools, not of {strip(elem).describe()}")
    return BOOL


def t_range(ts):
    for i, t in enumerate(ts):
        if not is_any(t) and strip(t) != INT:
            raise ArgError(i, f"needs a whole number, not {strip(t).describe()}")
    return ListT(INT)


def t_str_to_str(ts):
    if not is_str(ts[0]):
        raise ArgError(0, f"needs a string, not {strip(ts[0]).describe()}")
    return STR


def t_contains(ts):
    if is_str(ts[0]):
        if not is_str(ts[1]):
            raise ArgError(1, f"looks for a string in a string, not {strip(ts[1]).describe()}")
        return BOOL
    _seq(ts)
    return BOOL


def t_startswith(ts):
    for i in (0, 1):
        if not is_str(ts[i]):
            raise ArgError(i, f"needs a string, not {strip(ts[i]).describe()}")
    return BOOL


def t_join(ts):
    elem = _seq(ts)
    if not is_str(elem):
        raise ArgError(0, f"joins strings, not {strip(elem).describe()}")
    if len(ts) > 1 and not is_str(ts[1]):
        raise ArgError(1, "the separator must be a string")
    return STR


def t_choice(ts):
    return _seq(ts)


def t_sample(ts):
    elem = _seq(ts)
    if not is_any(ts[1]) and strip(ts[1]) != INT:
        raise ArgError(1, "the count must be a whole number")
    return ListT(_widen(elem))


def t_shuffle(ts):
    return ListT(_widen(_seq(ts)))


def t_randint(ts):
    for i in (0, 1):
        if not is_any(ts[i]) and strip(ts[i]) != INT:
            raise ArgError(i, f"needs a whole number, not {strip(ts[i]).describe()}")
    return INT


def t_bernoulli(ts):
    _num(0)(ts)
    return BOOL


def t_count(ts):
    if ts:
        _seq(ts)
    return INT


def t_mean(ts):
    _numbers(ts)
    return FLOAT


def t_quantile(ts):
    _numbers(ts)
    _num(1)(ts)
    return FLOAT


def t_share(ts):
    elem = _seq(ts)
    if not is_bool(elem):
        raise ArgError(0, f"needs conditions (bools), not {strip(elem).describe()}")
    return FLOAT


WILSON = record({"estimate": FLOAT, "low": FLOAT, "high": FLOAT}, "a Wilson interval")


def t_wilson(ts):
    t_share(ts[:1])
    if len(ts) > 1:
        _num(1)(ts)
    return WILSON


def t_table(ts):
    return ANY


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
    if isinstance(x, (set, frozenset)):  # in a reproducible order
        return "{" + ", ".join(repr(v) for v in ordered(x)) + "}" if x else "set()"
    try:
        return str(x)
    except ValueError:  # an int beyond Python's digit limit for text
        raise EvalError(f"str(): {describe(x)} is too long to write out") from None


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


# aggregates over a list (an aggregate step passes the group's per-unit values); nulls are skipped

def impl_count(values=_NO):
    if values is _NO:
        raise EvalError("count() without values counts the units of a group: it works only in an aggregate step")
    if values is None:
        return None
    return len(_present(values, "count"))


def impl_mean(values):
    if values is None:
        return None
    xs = _number_items(values, "mean")
    return math.fsum(xs) / len(xs) if xs else None


def impl_median(values):
    if values is None:
        return None
    xs = sorted(_number_items(values, "median"))
    n = len(xs)
    if not n:
        return None
    mid = n // 2
    return float(xs[mid]) if n % 2 else (xs[mid - 1] + xs[mid]) / 2


def impl_quantile(values, q):
    """Linear interpolation between the closest ranks (numpy's default, type 7)."""
    if values is None or q is None:
        return None
    if not 0 <= _number(q, "quantile", "q") <= 1:
        raise EvalError(f"quantile(): q must be between 0 and 1, not {q}")
    xs = sorted(_number_items(values, "quantile"))
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    if lo + 1 >= len(xs):
        return float(xs[-1])
    return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


def impl_stdev(values):
    """The sample standard deviation (n - 1); null for fewer than two values."""
    if values is None:
        return None
    xs = _number_items(values, "stdev")
    n = len(xs)
    if n < 2:
        return None
    m = math.fsum(xs) / n
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (n - 1))


def impl_share(conditions):
    if conditions is None:
        return None
    xs = _present(conditions, "share")
    return sum(1 for x in xs if x) / len(xs) if xs else None


def impl_wilson(conditions, z=1.96):
    """The share of true conditions with its Wilson score interval."""
    if conditions is None or z is None:
        return None
    if _number(z, "wilson", "z") < 0:
        raise EvalError(f"wilson(): z must not be negative, not {z}")
    xs = _present(conditions, "wilson")
    n = len(xs)
    if not n:
        return {"estimate": None, "low": None, "high": None}
    p = sum(1 for x in xs if x) / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return {"estimate": p, "low": max(0.0, center - half), "high": min(1.0, center + half)}


def _f(name, lo, hi, typer, sig, doc, **flags) -> Function:
    return Function(name, lo, hi, typer, sig, doc, **flags)


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    # math
    _f("abs", 1, 1, t_abs, "abs(x)", "absolute value", impl=impl_abs),
    _f("min", 1, None, t_minmax, "min(a, b, ...) or min(list)", "smallest value; in an aggregate, over units", aggregate=True, impl=impl_min),
    _f("max", 1, None, t_minmax, "max(a, b, ...) or max(list)", "largest value; in an aggregate, over units", aggregate=True, impl=impl_max),
    _f("round", 1, 2, t_round, "round(x, digits?)", "round half to even; an int without digits", impl=impl_round),
    _f("floor", 1, 1, t_int_of_num, "floor(x)", "largest int not above x", impl=impl_floor),
    _f("ceil", 1, 1, t_int_of_num, "ceil(x)", "smallest int not below x", impl=impl_ceil),
    _f("sqrt", 1, 1, t_float_math, "sqrt(x)", "square root", impl=impl_sqrt),
    _f("exp", 1, 1, t_float_math, "exp(x)", "e to the power x", impl=impl_exp),
    _f("log", 1, 2, t_float_math, "log(x, base?)", "natural logarithm, or in the given base", impl=impl_log),
    # conversions
    _f("int", 1, 1, t_int, "int(x)", "convert to int (truncates)", impl=impl_int),
    _f("float", 1, 1, t_float, "float(x)", "convert to float", impl=impl_float),
    _f("str", 1, 1, lambda ts: STR, "str(x)", "text of any value", impl=impl_str),
    _f("bool", 1, 1, lambda ts: BOOL, "bool(x)", "truth value", impl=impl_bool),
    _f("list", 1, 1, t_list, "list(xs)", "a list of the items of xs", impl=impl_list),
    _f("set", 0, 1, t_set, "set(xs?)", "the distinct items of xs", impl=impl_set),
    # sequences
    _f("len", 1, 1, t_len, "len(xs)", "number of items (or characters)", impl=impl_len),
    _f("sum", 1, 1, t_sum, "sum(numbers)", "total; in an aggregate, over units", aggregate=True, impl=impl_sum),
    _f("sorted", 1, 1, t_sorted, "sorted(xs)", "items in ascending order", impl=impl_sorted),
    _f("any", 1, 1, t_anyall, "any(conditions)", "true if any is true", impl=impl_any),
    _f("all", 1, 1, t_anyall, "all(conditions)", "true if all are true", impl=impl_all),
    _f("range", 1, 3, t_range, "range(stop) or range(start, stop, step?)", "whole numbers", impl=impl_range),
    # strings
    _f("lower", 1, 1, t_str_to_str, "lower(s)", "lower case", impl=impl_lower),
    _f("upper", 1, 1, t_str_to_str, "upper(s)", "upper case", impl=impl_upper),
    _f("strip", 1, 1, t_str_to_str, "strip(s)", "without surrounding white space", impl=impl_strip),
    _f("contains", 2, 2, t_contains, "contains(haystack, needle)", "substring or membership test", impl=impl_contains),
    _f("startswith", 2, 2, t_startswith, "startswith(s, prefix)", "prefix test", impl=impl_startswith),
    _f("join", 1, 2, t_join, "join(strings, separator?)", "concatenate with a separator (default '')", impl=impl_join),
    # randomness: each unit's own stream, per step
    _f("random", 0, 0, lambda ts: FLOAT, "random()", "uniform in [0, 1)", random=True, impl=impl_random),
    _f("uniform", 2, 2, t_float_math, "uniform(a, b)", "uniform in [a, b]", random=True, impl=impl_uniform),
    _f("normal", 2, 2, t_float_math, "normal(mean, sd)", "Gaussian", random=True, impl=impl_normal),
    _f("randint", 2, 2, t_randint, "randint(a, b)", "whole number in [a, b]", random=True, impl=impl_randint),
    _f("choice", 1, 1, t_choice, "choice(xs)", "one item at random", random=True, impl=impl_choice),
    _f("sample", 2, 2, t_sample, "sample(xs, k)", "k distinct items at random", random=True, impl=impl_sample),
    _f("shuffle", 1, 1, t_shuffle, "shuffle(xs)", "the items in random order", random=True, impl=impl_shuffle),
    _f("bernoulli", 1, 1, t_bernoulli, "bernoulli(p)", "true with probability p", random=True, impl=impl_bernoulli),
    # aggregates (over the units of a group in an aggregate step; over a list elsewhere)
    _f("count", 0, 1, t_count, "count(values?)", "number of units (or of non-null values)", aggregate=True, impl=impl_count),
    _f("mean", 1, 1, t_mean, "mean(values)", "arithmetic mean", aggregate=True, impl=impl_mean),
    _f("median", 1, 1, t_mean, "median(values)", "middle value", aggregate=True, impl=impl_median),
    _f("quantile", 2, 2, t_quantile, "quantile(values, q)", "the q-quantile, q in [0, 1]", aggregate=True, impl=impl_quantile),
    _f("stdev", 1, 1, t_mean, "stdev(values)", "sample standard deviation", aggregate=True, impl=impl_stdev),
    _f("share", 1, 1, t_share, "share(conditions)", "fraction that is true", aggregate=True, impl=impl_share),
    _f("wilson", 1, 2, t_wilson, "wilson(conditions, z?)", "share with a Wilson score interval {estimate, low, high}", aggregate=True, impl=impl_wilson),
    # unit tables
    _f("permutations", 2, 2, t_table, "permutations(table, k)", "ordered k-tuples of rows", units_only=True),
    _f("combinations", 2, 2, t_table, "combinations(table, k)", "unordered k-subsets of rows", units_only=True),
]}
