"""Typing rules of the built-in functions (argument types → result type)."""


from __future__ import annotations

import math
from typing import Callable, Sequence

from octo.compiler.expressions.functions import ArgError, Function
from octo.compiler.expressions.types import (ANY, BOOL, FLOAT, INT, STR, EnumT, ListT, RecordT, SetT, Type, elem_of,
                                             is_any, is_bool, is_number, is_str, join, optional, record,
                                             strip)

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

# --- distinct values (T2) ----------------------------------------------------------------

def t_distinct(ts):
    return ListT(_widen(_seq(ts)))


# --- strings and regular expressions (implemented in stdlib/text.py) ---------------------

def _need(ts, i: int, kind: str) -> None:
    t = ts[i]
    if is_any(t):
        return
    ok = {"str": is_str(t), "int": strip(t) == INT, "group": is_str(t) or strip(t) == INT}[kind]
    if not ok:
        want = {"str": "a string", "int": "a whole number", "group": "a group number or name"}[kind]
        raise ArgError(i, f"needs {want}, not {strip(t).describe()}")


def typed(result, *kinds):
    """A typing rule: argument i must be of kinds[i] ('str', 'int' or 'group'); the result is ``result``."""
    def rule(ts):
        for i in range(len(ts)):
            _need(ts, i, kinds[i])
        return result
    return rule


STRS = ListT(STR)
MAYBE_STR = optional(STR)
