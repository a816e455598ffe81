"""Implementations of the built-in reductions: `count`, `mean`, `median`, `quantile`, `stdev`, `share`,
`wilson`, `distinct`, `count_distinct`.

Each takes a list: an aggregate step passes a group's per-unit values, an expression elsewhere a list
value. Nulls in it are skipped; a null list gives null. Failures are EvalErrors in plain words. The
argument checks are the other built-ins' (builtin_impls.py), so a reduction says what it was given
as they do.
"""

from __future__ import annotations

import json
import math

from octo.compiler.expressions.codegen import EvalError

from .builtin_impls import _NO, _number, _number_items, _present  # the checks every built-in shares


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


# --- distinct values (T2) ----------------------------------------------------------------

def _distinct_key(x):
    """Equal values share a key: 1 and 1.0 are one value, True and 1 are not; lists and records by content."""
    if isinstance(x, bool):
        return ("bool", x)
    if isinstance(x, (int, float)):
        return ("number", x)
    if isinstance(x, str):
        return ("str", x)
    return ("json", json.dumps(x, sort_keys=True, default=str))


def impl_distinct(values):
    if values is None:
        return None
    seen, out = set(), []
    for x in _present(values, "distinct"):
        key = _distinct_key(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def impl_count_distinct(values):
    if values is None:
        return None
    return len({_distinct_key(x) for x in _present(values, "count_distinct")})
