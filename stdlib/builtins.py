"""The expression language's built-in functions: arity, typing rules, implementations.

Each function is declared once here; the checker types calls with these rules
(``octo.compiler.expressions.functions``), and compiled expressions (``octo.compiler.expressions.codegen``)
call the same table's implementations.
"""

from __future__ import annotations

from octo.compiler.expressions.functions import Function

from .builtin_types import *  # noqa: F401,F403  (t_*: the typing rules)
from .builtin_types import MAYBE_STR, STRS, WILSON, typed  # noqa: F401
from .regex import literal_findings as _regex_checks


def _f(name, lo, hi, typer, sig, doc, impl: str | None = None, **flags) -> Function:
    """``impl``: the implementation's name in ``builtin_impls``, or "module:name" in another module of stdlib;
    named, not imported, so that checking a file never imports the implementations."""
    where = None if impl is None else f"octo.stdlib.{impl}" if ":" in impl else f"octo.stdlib.builtin_impls:{impl}"
    return Function(name, lo, hi, typer, sig, doc, implementation=where, **flags)


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    # math
    _f("abs", 1, 1, t_abs, "abs(x)", "absolute value", impl="impl_abs"),
    _f("min", 1, None, t_minmax, "min(a, b, ...) or min(list)", "smallest value; in an aggregate, over units", aggregate=True, impl="impl_min"),
    _f("max", 1, None, t_minmax, "max(a, b, ...) or max(list)", "largest value; in an aggregate, over units", aggregate=True, impl="impl_max"),
    _f("round", 1, 2, t_round, "round(x, digits?)", "round half to even; an int without digits", impl="impl_round"),
    _f("floor", 1, 1, t_int_of_num, "floor(x)", "largest int not above x", impl="impl_floor"),
    _f("ceil", 1, 1, t_int_of_num, "ceil(x)", "smallest int not below x", impl="impl_ceil"),
    _f("sqrt", 1, 1, t_float_math, "sqrt(x)", "square root", impl="impl_sqrt"),
    _f("exp", 1, 1, t_float_math, "exp(x)", "e to the power x", impl="impl_exp"),
    _f("log", 1, 2, t_float_math, "log(x, base?)", "natural logarithm, or in the given base", impl="impl_log"),
    # conversions
    _f("int", 1, 1, t_int, "int(x)", "convert to int (truncates)", impl="impl_int"),
    _f("float", 1, 1, t_float, "float(x)", "convert to float", impl="impl_float"),
    _f("str", 1, 1, lambda ts: STR, "str(x)", "text of any value", impl="impl_str"),
    _f("bool", 1, 1, lambda ts: BOOL, "bool(x)", "truth value", impl="impl_bool"),
    _f("list", 1, 1, t_list, "list(xs)", "a list of the items of xs", impl="impl_list"),
    _f("set", 0, 1, t_set, "set(xs?)", "the distinct items of xs; in an aggregate, over units", aggregate=True, impl="impl_set"),
    # sequences
    _f("len", 1, 1, t_len, "len(xs)", "number of items (or characters)", impl="impl_len"),
    _f("sum", 1, 1, t_sum, "sum(numbers)", "total; in an aggregate, over units", aggregate=True, impl="impl_sum"),
    _f("sorted", 1, 1, t_sorted, "sorted(xs)", "items in ascending order", impl="impl_sorted"),
    _f("any", 1, 1, t_anyall, "any(conditions)", "true if any is true", impl="impl_any"),
    _f("all", 1, 1, t_anyall, "all(conditions)", "true if all are true", impl="impl_all"),
    _f("range", 1, 3, t_range, "range(stop) or range(start, stop, step?)", "whole numbers", impl="impl_range"),
    # strings
    _f("lower", 1, 1, t_str_to_str, "lower(s)", "lower case", impl="impl_lower"),
    _f("upper", 1, 1, t_str_to_str, "upper(s)", "upper case", impl="impl_upper"),
    _f("strip", 1, 1, t_str_to_str, "strip(s)", "without surrounding white space", impl="impl_strip"),
    _f("contains", 2, 2, t_contains, "contains(haystack, needle)", "substring or membership test", impl="impl_contains"),
    _f("startswith", 2, 2, t_startswith, "startswith(s, prefix)", "prefix test", impl="impl_startswith"),
    _f("join", 1, 2, t_join, "join(strings, separator?)", "concatenate with a separator (default '')", impl="impl_join"),
    # strings, as Python's str methods (stdlib/text.py)
    _f("split", 1, 3, typed(STRS, "str", "str", "int"), "split(s, separator?, maxsplit?)", "the parts between separators (default: runs of white space)", impl="text:impl_split"),
    _f("splitlines", 1, 1, typed(STRS, "str"), "splitlines(s)", "the lines, without their line breaks", impl="text:impl_splitlines"),
    _f("words", 1, 1, typed(STRS, "str"), "words(s)", "the words: runs of letters and digits, inner ' and - kept", impl="text:impl_words"),
    _f("endswith", 2, 2, typed(BOOL, "str", "str"), "endswith(s, suffix)", "suffix test", impl="text:impl_endswith"),
    _f("replace", 3, 4, typed(STR, "str", "str", "str", "int"), "replace(s, old, new, count?)", "every (or the first count) old replaced by new", impl="text:impl_replace"),
    _f("find", 2, 2, typed(INT, "str", "str"), "find(s, sub)", "index of the first sub, or -1", impl="text:impl_find"),
    _f("title", 1, 1, typed(STR, "str"), "title(s)", "every word capitalised", impl="text:impl_title"),
    _f("capitalize", 1, 1, typed(STR, "str"), "capitalize(s)", "first character upper case, the rest lower", impl="text:impl_capitalize"),
    _f("lstrip", 1, 2, typed(STR, "str", "str"), "lstrip(s, chars?)", "without leading white space (or chars)", impl="text:impl_lstrip"),
    _f("rstrip", 1, 2, typed(STR, "str", "str"), "rstrip(s, chars?)", "without trailing white space (or chars)", impl="text:impl_rstrip"),
    _f("removeprefix", 2, 2, typed(STR, "str", "str"), "removeprefix(s, prefix)", "without the prefix, if it starts with it", impl="text:impl_removeprefix"),
    _f("removesuffix", 2, 2, typed(STR, "str", "str"), "removesuffix(s, suffix)", "without the suffix, if it ends with it", impl="text:impl_removesuffix"),
    _f("isdigit", 1, 1, typed(BOOL, "str"), "isdigit(s)", "all digits (and not empty)", impl="text:impl_isdigit"),
    _f("isalpha", 1, 1, typed(BOOL, "str"), "isalpha(s)", "all letters (and not empty)", impl="text:impl_isalpha"),
    _f("isalnum", 1, 1, typed(BOOL, "str"), "isalnum(s)", "all letters or digits (and not empty)", impl="text:impl_isalnum"),
    _f("isspace", 1, 1, typed(BOOL, "str"), "isspace(s)", "all white space (and not empty)", impl="text:impl_isspace"),
    _f("islower", 1, 1, typed(BOOL, "str"), "islower(s)", "has letters, all lower case", impl="text:impl_islower"),
    _f("isupper", 1, 1, typed(BOOL, "str"), "isupper(s)", "has letters, all upper case", impl="text:impl_isupper"),
    # regular expressions: RE2, linear time (stdlib/regex.py); literal patterns are checked by the compiler
    _f("matches", 2, 2, typed(BOOL, "str", "str"), "matches(s, pattern)", "the pattern matches somewhere in s (anchor with ^ and $)", impl="text:impl_matches", check_literals=_regex_checks("matches", 1)),
    _f("search", 2, 3, typed(MAYBE_STR, "str", "str", "group"), "search(s, pattern, group?)", "the first match's text (or its group's), or null", impl="text:impl_search", check_literals=_regex_checks("search", 1, group_at=2)),
    _f("findall", 2, 3, typed(STRS, "str", "str", "group"), "findall(s, pattern, group?)", "every match's text (or its group's), left to right", impl="text:impl_findall", check_literals=_regex_checks("findall", 1, group_at=2)),
    _f("sub", 3, 4, typed(STR, "str", "str", "str", "int"), "sub(s, pattern, replacement, count?)", "every (or the first count) match replaced", impl="text:impl_sub", check_literals=_regex_checks("sub", 1, replacement_at=2)),
    # randomness: each unit's own stream, per step
    _f("random", 0, 0, lambda ts: FLOAT, "random()", "uniform in [0, 1)", random=True, impl="impl_random"),
    _f("uniform", 2, 2, t_float_math, "uniform(a, b)", "uniform in [a, b]", random=True, impl="impl_uniform"),
    _f("normal", 2, 2, t_float_math, "normal(mean, sd)", "Gaussian", random=True, impl="impl_normal"),
    _f("randint", 2, 2, t_randint, "randint(a, b)", "whole number in [a, b]", random=True, impl="impl_randint"),
    _f("choice", 1, 1, t_choice, "choice(xs)", "one item at random", random=True, impl="impl_choice"),
    _f("sample", 2, 2, t_sample, "sample(xs, k)", "k distinct items at random", random=True, impl="impl_sample"),
    _f("shuffle", 1, 1, t_shuffle, "shuffle(xs)", "the items in random order", random=True, impl="impl_shuffle"),
    _f("bernoulli", 1, 1, t_bernoulli, "bernoulli(p)", "true with probability p", random=True, impl="impl_bernoulli"),
    # aggregates (over the units of a group in an aggregate step; over a list elsewhere)
    _f("count", 0, 1, t_count, "count(values?)", "number of units (or of non-null values)", aggregate=True, counts_bare=True, impl="reduction_impls:impl_count"),
    # distinct values (T2)
    _f("distinct", 1, 1, t_distinct, "distinct(values)", "the distinct non-null values, in first-seen order; in an aggregate, over units", aggregate=True, impl="reduction_impls:impl_distinct"),
    _f("count_distinct", 1, 1, t_count, "count_distinct(values)", "number of distinct non-null values; in an aggregate, over units", aggregate=True, impl="reduction_impls:impl_count_distinct"),
    _f("mean", 1, 1, t_mean, "mean(values)", "arithmetic mean", aggregate=True, impl="reduction_impls:impl_mean"),
    _f("median", 1, 1, t_mean, "median(values)", "middle value", aggregate=True, impl="reduction_impls:impl_median"),
    _f("quantile", 2, 2, t_quantile, "quantile(values, q)", "the q-quantile, q in [0, 1]", aggregate=True, impl="reduction_impls:impl_quantile"),
    _f("stdev", 1, 1, t_mean, "stdev(values)", "sample standard deviation", aggregate=True, impl="reduction_impls:impl_stdev"),
    _f("share", 1, 1, t_share, "share(conditions)", "fraction that is true", aggregate=True, impl="reduction_impls:impl_share"),
    _f("wilson", 1, 2, t_wilson, "wilson(conditions, z?)", "share with a Wilson score interval {estimate, low, high}", aggregate=True, impl="reduction_impls:impl_wilson"),
    # unit tables
    _f("permutations", 2, 2, t_table, "permutations(table, k)", "ordered k-tuples of rows", units_only=True),
    _f("combinations", 2, 2, t_table, "combinations(table, k)", "unordered k-subsets of rows", units_only=True),
]}

