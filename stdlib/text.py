"""The string and regular-expression built-ins' implementations (their typing rules: ``builtin_types``).

Strings follow Python's ``str`` methods, written as functions with the string
first (``split(s, ',')`` is ``s.split(',')``). Regular expressions run on RE2
(:mod:`.regex`), never on Python's backtracking ``re``. Nulls: a null argument
gives null. Every result stays within the expression limits (MAX_ITEMS items or
characters), checked before it is built where that is cheap.
"""

from __future__ import annotations

import re

from octo.compiler.expressions.evalsupport import MAX_ITEMS, EvalError, describe

from . import regex

_NO = object()  # an optional argument that was not given


# --- helpers --------------------------------------------------------------------------------------

def _string(x, fn: str, what: str = "its argument") -> str:
    if not isinstance(x, str):
        raise EvalError(f"{fn}(): {what} must be a string, not {describe(x)}")
    return x


def _whole(x, fn: str, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise EvalError(f"{fn}(): {what} must be a whole number, not {describe(x)}")
    return x


def _at_most(n: int, fn: str, what: str = "a string") -> None:
    if n > MAX_ITEMS:
        unit = "characters" if what == "a string" else "items"
        raise EvalError(f"{fn}() would build {what} of {n:,} {unit}; the limit is {MAX_ITEMS:,}")


def _nulls(*args) -> bool:
    return any(a is None for a in args)


# --- strings --------------------------------------------------------------------------------------

def impl_split(s, sep=_NO, maxsplit=_NO):
    if _nulls(s, sep, maxsplit):
        return None
    _string(s, "split")
    if sep is not _NO:
        _string(sep, "split", "the separator")
        if not sep:
            raise EvalError("split(): the separator is empty; list(s) gives the characters")
    limit = MAX_ITEMS if maxsplit is _NO else _whole(maxsplit, "split", "the number of splits")
    if limit < 0 or limit > MAX_ITEMS:
        limit = MAX_ITEMS  # at most MAX_ITEMS + 1 pieces are ever built
    pieces = s.split(None if sep is _NO else sep, limit)
    _at_most(len(pieces), "split", "a list")
    return pieces


def impl_splitlines(s):
    if s is None:
        return None
    lines = _string(s, "splitlines").splitlines()
    _at_most(len(lines), "splitlines", "a list")
    return lines


_WORD = re.compile(r"\w+(?:['’-]\w+)*")  # a fixed pattern (never a user's): linear, as '’- are not \w


def impl_words(s):
    if s is None:
        return None
    out = []
    for m in _WORD.finditer(_string(s, "words")):
        out.append(m.group())
        if len(out) > MAX_ITEMS:
            _at_most(len(out), "words", "a list")
    return out


def impl_endswith(s, suffix):
    if _nulls(s, suffix):
        return None
    return _string(s, "endswith").endswith(_string(suffix, "endswith", "the suffix"))


def impl_replace(s, old, new, count=_NO):
    if _nulls(s, old, new, count):
        return None
    _string(s, "replace"), _string(old, "replace", "the text to replace"), _string(new, "replace", "the replacement")
    limit = -1 if count is _NO else _whole(count, "replace", "the count")
    found = s.count(old) if old else len(s) + 1
    n = found if limit < 0 else min(found, limit)
    _at_most(len(s) + n * (len(new) - len(old)), "replace")
    return s.replace(old, new, limit)


def impl_find(s, sub):
    if _nulls(s, sub):
        return None
    return _string(s, "find").find(_string(sub, "find", "the text to find"))


def _str_method(name: str, method):
    def impl(s):
        return None if s is None else method(_string(s, name))
    impl.__name__ = f"impl_{name}"
    return impl


impl_title = _str_method("title", str.title)
impl_capitalize = _str_method("capitalize", str.capitalize)
impl_isdigit = _str_method("isdigit", str.isdigit)
impl_isalpha = _str_method("isalpha", str.isalpha)
impl_isalnum = _str_method("isalnum", str.isalnum)
impl_isspace = _str_method("isspace", str.isspace)
impl_islower = _str_method("islower", str.islower)
impl_isupper = _str_method("isupper", str.isupper)


def _strip_side(name: str, method):
    def impl(s, chars=_NO):
        if _nulls(s, chars):
            return None
        return method(_string(s, name), None if chars is _NO else _string(chars, name, "the characters"))
    return impl


impl_lstrip = _strip_side("lstrip", str.lstrip)
impl_rstrip = _strip_side("rstrip", str.rstrip)


def impl_removeprefix(s, prefix):
    if _nulls(s, prefix):
        return None
    return _string(s, "removeprefix").removeprefix(_string(prefix, "removeprefix", "the prefix"))


def impl_removesuffix(s, suffix):
    if _nulls(s, suffix):
        return None
    return _string(s, "removesuffix").removesuffix(_string(suffix, "removesuffix", "the suffix"))


# --- regular expressions ----------------------------------------------------------------------------

def _rx(pattern, fn: str):
    try:
        return regex.compiled(_string(pattern, fn, "the pattern"))
    except regex.PatternError as err:
        raise EvalError(f"{fn}(): {err.message}" + (f" ({err.hint})" if err.hint else "")) from None


def impl_matches(s, pattern):
    if _nulls(s, pattern):
        return None
    return regex.first(_rx(pattern, "matches"), _string(s, "matches"), "matches") is not None


def impl_search(s, pattern, group=_NO):
    if _nulls(s, pattern, group):
        return None
    rx = _rx(pattern, "search")
    which = regex.group_of(rx, None if group is _NO else group, "search")
    m = regex.first(rx, _string(s, "search"), "search")
    return None if m is None else m.group(which)


def impl_findall(s, pattern, group=_NO):
    if _nulls(s, pattern, group):
        return None
    rx = _rx(pattern, "findall")
    which = regex.group_of(rx, None if group is _NO else group, "findall")
    return [m.group(which) or "" for m in regex.every(rx, _string(s, "findall"), "findall")]


def impl_sub(s, pattern, replacement, count=_NO):
    if _nulls(s, pattern, replacement, count):
        return None
    rx = _rx(pattern, "sub")
    try:
        pieces = regex.template(_string(replacement, "sub", "the replacement"))
    except ValueError as err:
        raise EvalError(f"sub(): {err}") from None
    missing = regex.missing_group(rx, pieces)
    if missing:
        raise EvalError(f"sub(): {missing}")
    limit = 0 if count is _NO else _whole(count, "sub", "the count")
    if limit < 0:
        return _string(s, "sub")
    out, size, at = [], 0, 0
    for m in regex.every(rx, _string(s, "sub"), "sub", limit):
        start, end = m.span()
        new = regex.expand(pieces, m)
        out += (s[at:start], new)
        size += start - at + len(new)
        at = end
        _at_most(size, "sub")
    out.append(s[at:])
    _at_most(size + len(s) - at, "sub")
    return "".join(out)
