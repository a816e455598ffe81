"""The expression language's built-in functions: arity and typing rules.

Each function is declared once here; the checker types calls with these rules
(``octo.compiler.functions``), and the runtime will evaluate the same table.
"""

from __future__ import annotations

from typing import Callable, Sequence

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


def _f(name, lo, hi, typer, sig, doc, **flags) -> Function:
    return Function(name, lo, hi, typer, sig, doc, **flags)


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    # math
    _f("abs", 1, 1, t_abs, "abs(x)", "absolute value"),
    _f("min", 1, None, t_minmax, "min(a, b, ...) or min(list)", "smallest value; in an aggregate, over units", aggregate=True),
    _f("max", 1, None, t_minmax, "max(a, b, ...) or max(list)", "largest value; in an aggregate, over units", aggregate=True),
    _f("round", 1, 2, t_round, "round(x, digits?)", "round half to even; an int without digits"),
    _f("floor", 1, 1, t_int_of_num, "floor(x)", "largest int not above x"),
    _f("ceil", 1, 1, t_int_of_num, "ceil(x)", "smallest int not below x"),
    _f("sqrt", 1, 1, t_float_math, "sqrt(x)", "square root"),
    _f("exp", 1, 1, t_float_math, "exp(x)", "e to the power x"),
    _f("log", 1, 2, t_float_math, "log(x, base?)", "natural logarithm, or in the given base"),
    # conversions
    _f("int", 1, 1, t_int, "int(x)", "convert to int (truncates)"),
    _f("float", 1, 1, t_float, "float(x)", "convert to float"),
    _f("str", 1, 1, lambda ts: STR, "str(x)", "text of any value"),
    _f("bool", 1, 1, lambda ts: BOOL, "bool(x)", "truth value"),
    _f("list", 1, 1, t_list, "list(xs)", "a list of the items of xs"),
    _f("set", 0, 1, t_set, "set(xs?)", "the distinct items of xs"),
    # sequences
    _f("len", 1, 1, t_len, "len(xs)", "number of items (or characters)"),
    _f("sum", 1, 1, t_sum, "sum(numbers)", "total; in an aggregate, over units", aggregate=True),
    _f("sorted", 1, 1, t_sorted, "sorted(xs)", "items in ascending order"),
    _f("any", 1, 1, t_anyall, "any(conditions)", "true if any is true"),
    _f("all", 1, 1, t_anyall, "all(conditions)", "true if all are true"),
    _f("range", 1, 3, t_range, "range(stop) or range(start, stop, step?)", "whole numbers"),
    # strings
    _f("lower", 1, 1, t_str_to_str, "lower(s)", "lower case"),
    _f("upper", 1, 1, t_str_to_str, "upper(s)", "upper case"),
    _f("strip", 1, 1, t_str_to_str, "strip(s)", "without surrounding white space"),
    _f("contains", 2, 2, t_contains, "contains(haystack, needle)", "substring or membership test"),
    _f("startswith", 2, 2, t_startswith, "startswith(s, prefix)", "prefix test"),
    _f("join", 1, 2, t_join, "join(strings, separator?)", "concatenate with a separator (default '')"),
    # randomness: each unit's own stream, per step
    _f("random", 0, 0, lambda ts: FLOAT, "random()", "uniform in [0, 1)", random=True),
    _f("uniform", 2, 2, t_float_math, "uniform(a, b)", "uniform in [a, b]", random=True),
    _f("normal", 2, 2, t_float_math, "normal(mean, sd)", "Gaussian", random=True),
    _f("randint", 2, 2, t_randint, "randint(a, b)", "whole number in [a, b]", random=True),
    _f("choice", 1, 1, t_choice, "choice(xs)", "one item at random", random=True),
    _f("sample", 2, 2, t_sample, "sample(xs, k)", "k distinct items at random", random=True),
    _f("shuffle", 1, 1, t_shuffle, "shuffle(xs)", "the items in random order", random=True),
    _f("bernoulli", 1, 1, t_bernoulli, "bernoulli(p)", "true with probability p", random=True),
    # aggregates (over the units of a group in an aggregate step; over a list elsewhere)
    _f("count", 0, 1, t_count, "count(values?)", "number of units (or of non-null values)", aggregate=True),
    _f("mean", 1, 1, t_mean, "mean(values)", "arithmetic mean", aggregate=True),
    _f("median", 1, 1, t_mean, "median(values)", "middle value", aggregate=True),
    _f("quantile", 2, 2, t_quantile, "quantile(values, q)", "the q-quantile, q in [0, 1]", aggregate=True),
    _f("stdev", 1, 1, t_mean, "stdev(values)", "sample standard deviation", aggregate=True),
    _f("share", 1, 1, t_share, "share(conditions)", "fraction that is true", aggregate=True),
    _f("wilson", 1, 2, t_wilson, "wilson(conditions, z?)", "share with a Wilson score interval {estimate, low, high}", aggregate=True),
    # unit tables
    _f("permutations", 2, 2, t_table, "permutations(table, k)", "ordered k-tuples of rows", units_only=True),
    _f("combinations", 2, 2, t_table, "combinations(table, k)", "unordered k-subsets of rows", units_only=True),
]}
