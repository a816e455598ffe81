"""A failed evaluation, explained in plain words from the failing operands' values."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..base.source import Span
from . import ast

from .evalsupport import *  # noqa: F401,F403  (limits and helpers the messages name)
from .evalsupport import _kind_word, _short_repr, _sized_word, _where, describe  # noqa: F401


def plain_failure(exc: BaseException) -> str:
    """An exception raised while evaluating, in words (never only its class name)."""
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, RecursionError):
        return "values nested too deeply"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    text = str(exc) or type(exc).__name__
    return text.replace("NoneType", "null").replace("'None'", "null")


_plain = plain_failure


def _text(node) -> str:
    try:
        text = node.span.text()
    except Exception:
        return "this value"
    text = " ".join(text.split())
    return f"`{text}`" if len(text) <= 60 else "this value"


def _message(exc: Exception, site: _Site, values: list) -> str:
    node, kind = site.node, site.kind
    if isinstance(exc, (MemoryError, RecursionError)):
        return _plain(exc)
    if kind == "name":
        return f"no value was given for '{node.id}'"
    if kind == "field":
        (obj,) = values
        if isinstance(obj, dict):
            return f"{_text(node.obj)} has no field '{node.attr}'{_has(obj)}"
        return f"{_text(node.obj)} is {describe(obj)}, which has no field '{node.attr}'"
    if kind == "index":
        obj, idx = values
        if isinstance(exc, IndexError) and isinstance(obj, (list, str, tuple)):
            return f"index {idx} out of range for {_sized_word(obj)}"
        if isinstance(exc, KeyError) and isinstance(obj, dict):
            return f"key {_short_repr(idx)} not found in {_text(node.obj)}{_has(obj)}"
        if isinstance(obj, (list, str, tuple)):
            return f"{_kind_word(obj)} index must be a whole number, not {describe(idx)}"
        if isinstance(obj, dict):
            return f"{describe(idx)} cannot be a dict key"
        return f"cannot index {describe(obj)}"
    if kind == "slice":
        obj = values[0]
        if isinstance(obj, (list, str, tuple)):
            return f"slice bounds must be whole numbers, not {' and '.join(describe(v) for v in values[1:])}"
        return f"cannot slice {describe(obj)}"
    if kind == "unary":
        return f"'{site.op}' needs a number, not {describe(values[0])}"
    if kind == "binary":
        op = site.op
        if isinstance(exc, ZeroDivisionError):
            return "modulo by zero" if op == "%" else "division by zero"
        if isinstance(exc, OverflowError):
            return f"the result of '{op}' is too large for a float"
        if isinstance(exc, TypeError):
            return f"'{op}' cannot combine {describe(values[0])} and {describe(values[1])}"
        return f"'{op}': {_plain(exc)}"
    if kind == "compare":
        a, b = values
        if site.op in ("in", "not in"):
            if isinstance(b, (set, frozenset, dict)):
                return f"{describe(a)} cannot be looked up in a {'set' if isinstance(b, (set, frozenset)) else 'dict'}"
            if isinstance(b, str):
                return f"'{site.op}' looks for a string in a string, not for {describe(a)}"
            return f"'{site.op}' needs a list, set, dict or string on its right, not {describe(b)}"
        return f"'{site.op}' cannot order {describe(a)} and {describe(b)}"
    if kind == "call":
        return f"{node.func}(): {_plain(exc)}"
    if kind == "for":
        (it,) = values
        if isinstance(exc, ValueError) or "unpack" in str(exc):
            n = len(node.targets)
            return f"cannot unpack an item of {_text(node.iter)} into {n} names ({_plain(exc)})"
        return f"cannot loop over {describe(it)}"
    if kind in ("set-item", "dict-key"):
        bad = next((v for v in values if isinstance(v, (list, dict, set))), values[0] if values else None)
        return f"{describe(bad)} cannot be a {'set item' if kind == 'set-item' else 'dict key'}"
    return _plain(exc)


def _has(d: dict) -> str:
    keys = [str(k) for k in list(d)[:12]]
    if not keys:
        return " (it is empty)"
    return f" (it has: {', '.join(keys)}{', ...' if len(d) > 12 else ''})"


def explain(exc: Exception, site, local: dict) -> EvalError:
    """The failure of one generated line, in plain words, from its operands' values in ``local``."""
    values = [v.value_in(local) for v in site.operands]
    try:
        message = _message(exc, site, values)
    except Exception:  # never let the explanation fail
        message = _plain(exc)
    return EvalError(message, site.node.span)

