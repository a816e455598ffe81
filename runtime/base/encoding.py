"""Step outputs as stored: JSON text that gives back the values it was given.

Plain JSON loses two things an expression can build: the type of a dict's keys
(``{1: 'a'}`` would come back as ``{'1': 'a'}``, and ``d[1]`` would then fail)
and sets (which JSON cannot write at all). So:

- a dict with a key that is not a string is written as ``{"$octo.dict": [[key,
  value], ...]}`` and read back as the dict it was (a dict whose only key is
  ``"$octo.dict"`` is written that way too, so it cannot be mistaken for one);
- a set is written as the list of its items in ascending order (the step's
  type says list: see :func:`stored_value` and docs/language.md).

Ordinary outputs (string keys, no sets) take the fast path both ways: one walk
over their containers, then the C encoder; and decoding looks for the tag only
as a substring before taking the slow path.
"""

from __future__ import annotations

import json
import threading
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any

DICT_TAG = "$octo.dict"
_QUOTED_TAG = json.dumps(DICT_TAG)
_SETS = (set, frozenset)
_CONTAINERS = frozenset({dict, list, tuple, set, frozenset})


class UnstorableValue(Exception):
    """An output that cannot be written as JSON, in plain words."""


def listed(items) -> list:
    """A set's items as a list in ascending order: the same list in every process (a set's own
    order of strings changes from one process to the next). Mixed kinds sort null, booleans,
    numbers, strings, then anything else by its JSON text."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=_mixed_order)


def _mixed_order(value) -> tuple:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, json.dumps(value, default=_json_default, sort_keys=True))


def _json_default(value):
    """What the C encoder calls for a value JSON has no form for."""
    if isinstance(value, _SETS):
        return listed(value)
    raise UnstorableValue(f"{_kind(value)} cannot be stored")


_encode = json.JSONEncoder(default=_json_default).encode  # json.dumps(x, default=…) without its per-call checks
_raw_decode = json.JSONDecoder().raw_decode
_threads = threading.local()  # per thread: a C encoder made once (its circular-reference marks are its own)


def c_encoder():
    """The C encoder ``_encode`` builds on every call, built once per thread: what it writes is
    ``_encode``'s, byte for byte (the same separators, ASCII escapes, NaN and default)."""
    encoder = getattr(_threads, "encoder", None)
    if encoder is None or c_make_encoder is None:
        if c_make_encoder is None:  # a Python without the C accelerator
            return lambda value, _level: (_encode(value),)
        marks: dict = {}
        encoder = _threads.encoder = c_make_encoder(marks, _json_default, encode_basestring_ascii, None,
                                                    ": ", ", ", False, False, True)
        _threads.marks = marks
    return encoder


def clear_marks() -> None:
    """Forget the containers a failed encoding left marked (as entered) in this thread's C encoder."""
    marks = getattr(_threads, "marks", None)
    if marks:
        marks.clear()


def encode_output(value: Any) -> str:
    """``value`` as stored JSON text; raises UnstorableValue for what has no JSON form."""
    try:
        return "".join(c_encoder()(value if _plain(value) else _tagged(value), 0))
    except Exception as err:
        clear_marks()  # an encoding that raised midway leaves its containers marked: the next one starts clean
        if isinstance(err, UnstorableValue):
            raise
        if isinstance(err, (ValueError, TypeError, RecursionError)):  # circular, nested too deeply, a key of no JSON kind
            raise UnstorableValue(_why(err)) from None
        raise


def encode_plain(value: Any) -> str:
    """``value`` as JSON that plain ``json.loads`` reads (an aggregate's metrics: the report reads them
    so): sets listed, dict keys written as JSON writes them. Raises UnstorableValue."""
    try:
        return _encode(value)
    except UnstorableValue:
        raise
    except (ValueError, TypeError, RecursionError) as err:
        raise UnstorableValue(_why(err)) from None


def decode_output(text: str) -> Any:
    """A stored output; outputs are stored compact, so the usual whitespace scans are skipped."""
    if _QUOTED_TAG in text:
        return json.loads(text, object_hook=_untagged)
    try:
        value, end = _raw_decode(text)
    except ValueError:
        return json.loads(text)  # raises as json.loads does
    return value if end == len(text) else json.loads(text)


def stored_value(value: Any) -> Any:
    """``value`` with every set in it turned into its :func:`listed` items (the same object when
    it holds no set): what a step's output becomes, so that the step's own `validate` rules and
    the steps downstream see the same list."""
    t = type(value)
    if t in _SETS:
        return [stored_value(v) for v in listed(value)] if any(type(v) in _CONTAINERS for v in value) else listed(value)
    if t is dict:
        changed = {k: stored_value(v) for k, v in value.items() if type(v) in _CONTAINERS}
        return {**value, **changed} if any(changed[k] is not value[k] for k in changed) else value
    if t is list or t is tuple:
        if not any(type(v) in _CONTAINERS for v in value):
            return value
        items = [stored_value(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    return value


# --- the slow path: tagging dicts whose keys JSON would turn into strings -------------------

def _plain(value: Any) -> bool:
    """True when JSON writes ``value`` as it is (every dict key a string, no tag lookalike)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or (type(v) in _CONTAINERS and not _plain(v)):
                return False
        return not (len(value) == 1 and DICT_TAG in value)
    if t is list or t is tuple:
        return all(_plain(v) for v in value if type(v) in _CONTAINERS)
    return True  # scalars; sets hold only hashable items (no dicts): the encoder lists them


def _tagged(value: Any) -> Any:
    t = type(value)
    if t is dict:
        if all(type(k) is str for k in value) and not (len(value) == 1 and DICT_TAG in value):
            return {k: _tagged(v) for k, v in value.items()}
        return {DICT_TAG: [[_tagged(k), _tagged(v)] for k, v in value.items()]}
    if t is list or t is tuple:
        return [_tagged(v) for v in value]
    if t in _SETS:
        return [_tagged(v) for v in listed(value)]
    return value


def _untagged(obj: dict) -> Any:
    if len(obj) == 1 and DICT_TAG in obj and isinstance(obj[DICT_TAG], list):
        return {_hashable(k): v for k, v in obj[DICT_TAG]}
    return obj


def _hashable(key: Any) -> Any:
    """A key as it was: a tuple key was written as a list."""
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def _kind(value: Any) -> str:
    names = {"function": "a function", "builtin_function_or_method": "a function", "type": "a type",
             "bytes": "a byte string", "complex": "a complex number", "range": "a range"}
    return names.get(type(value).__name__, f"a value of kind '{type(value).__name__}'")


def _why(err: Exception) -> str:
    if isinstance(err, RecursionError):
        return "it is nested too deeply to be stored"
    text = str(err)
    if "Circular reference" in text:
        return "it contains itself, so it cannot be stored"
    if "keys must be" in text:
        return "a dict key is not a string, number, boolean or null, so it cannot be stored"
    if "digits" in text:
        return "a whole number has too many digits to be stored (4,300 at most)"
    return f"it cannot be stored ({text})"
