"""Differential test of the string and regular-expression built-ins against Python (asteval as the evaluator).

The oracle's built-ins are Python's own: ``split`` is ``str.split``, ``matches`` is ``re.search(...) is not
None``, ``findall`` is ``re.findall``, ``sub`` is ``re.sub`` — so octo's functions (on RE2 for the regular
expressions) must give what Python gives, or both fail. The generated expressions reuse tests/test_oracle.py's
well-typed string expressions as arguments.

Patterns are drawn from the part of the syntax where RE2 and Python's ``re`` mean the same: letters, ``.``,
classes, ``^``, alternation, non-capturing groups and capturing groups (not repeated, since engines differ on
what a repeated group captures in an empty iteration), ``* + ? {m,n}`` on single atoms. Left out on purpose
(docs/language.md, Regular expressions): ``$`` (Python's also matches before a final line break, RE2's only at
the very end), ``\\w \\d \\s \\b`` (ASCII-only in RE2, Unicode in Python), and a lazy ``*?`` or ``??``
that can match empty: after an empty match RE2 moves on a character, where Python first tries a non-empty
match at the same place (``findall('xa', 'a*?')`` is 4 empty strings in octo, Python also finds the 'a'). The group rule of ``search`` and
``findall`` (a pattern of two or more groups needs the group argument) is octo's; the oracle states it in Python.
"""

from __future__ import annotations

import copy
import io
import re
from ast import literal_eval

import asteval
from hypothesis import given
from hypothesis import strategies as st

from test_oracle import (ASTEVAL_LIMITS, ORACLE, Failed, OverLimit, environments, expr, octo_eval, same)
from hypothesis import assume


def _groups_rule(pattern: str, group):
    rx = re.compile(pattern)
    if group is None:
        if rx.groups > 1:
            raise ValueError("several groups: say which")
        return rx, rx.groups
    return rx, group


def _search(s, pattern, group=None):
    rx, which = _groups_rule(pattern, group)
    m = rx.search(s)
    return None if m is None else m.group(which)


def _findall(s, pattern, group=None):
    rx, which = _groups_rule(pattern, group)
    return [m.group(which) or "" for m in rx.finditer(s)]


PYTHON = {
    "split": lambda s, sep=None, maxsplit=-1: s.split(sep, maxsplit),
    "splitlines": str.splitlines, "endswith": str.endswith, "find": str.find,
    "replace": lambda s, old, new, count=-1: s.replace(old, new, count),
    "title": str.title, "capitalize": str.capitalize, "lstrip": str.lstrip, "rstrip": str.rstrip,
    "removeprefix": str.removeprefix, "removesuffix": str.removesuffix, "isdigit": str.isdigit,
    "isalpha": str.isalpha, "isalnum": str.isalnum, "isspace": str.isspace, "islower": str.islower,
    "isupper": str.isupper,
    "matches": lambda s, pattern: re.search(pattern, s) is not None,
    "search": _search, "findall": _findall,
    "sub": lambda s, pattern, replacement, count=0: re.sub(pattern, replacement, s, count=count),
}


def oracle_eval(text: str, env: dict):
    interp = asteval.Interpreter(use_numpy=False, writer=io.StringIO(), err_writer=io.StringIO())
    interp.symtable.update({"true": True, "false": False, "null": None, **PYTHON})
    interp.symtable.update(copy.deepcopy(env))
    value = interp.eval(text, show_errors=False)
    if interp.error:
        why = interp.error[0].get_error()
        if any(word in why[1] for word in ASTEVAL_LIMITS):
            raise OverLimit(why[1])
        return Failed(f"{why[0]}: {why[1].splitlines()[-1]}")
    return value


def agree(text: str, env: dict):
    try:
        mine, theirs = octo_eval(text, env), oracle_eval(text, env)
    except OverLimit:
        assume(False)
        return
    assert same(mine, theirs), f"octo: {mine!r}\npython: {theirs!r}\nexpression: {text}\nenv: {env}"


# --- patterns where RE2 and Python agree ------------------------------------------------------------

ATOMS = ["a", "b", " ", ".", "[ab]", "[^a]", "[a-c]", "é", "\\\\.", "\\\\n"]
QUANTIFIERS = ["", "", "*", "+", "?", "{1,2}", "+?"]


@st.composite
def patterns(draw, depth: int = 2):
    def alternation(d):
        branches = [concatenation(d) for _ in range(draw(st.integers(1, 2)))]
        return "|".join(branches)

    def concatenation(d):
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            if d > 0 and draw(st.integers(0, 3)) == 0:
                parts.append(draw(st.sampled_from(["(", "(?:"])) + alternation(d - 1) + ")")
            else:
                parts.append(draw(st.sampled_from(ATOMS)) + draw(st.sampled_from(QUANTIFIERS)))
        return "".join(parts)

    return draw(st.sampled_from(["", "^", "(?i)"])) + alternation(depth)


def _lit(pattern: str) -> str:
    return "'" + pattern.replace("'", "\\'") + "'"


REPLACEMENTS = ["''", "'-'", "'<\\\\g<0>>'", "'\\\\1'", "'x\\\\1y'", "'\\\\\\\\'"]


@st.composite
def text_calls(draw):
    s = draw(expr("str", 1))
    t = draw(expr("str", 1))
    pattern = _lit(draw(patterns()))
    # findall and sub step over the text match by match: after an EMPTY match RE2 moves on a character, while
    # Python first tries a non-empty match at the same place ('b*|a' on 'a': RE2 ['', ''], Python ['', 'a', '']),
    # a difference docs/language.md states; so they are compared on patterns that cannot match empty (as the
    # expression's string literal reads: '\\\\.*' is the pattern \\.* ).
    stepping = _lit(draw(patterns().filter(lambda p: re.compile(literal_eval(_lit(p))).match("") is None)))
    return draw(st.sampled_from([
        f"split({s})", f"split({s}, {t})", f"split({s}, {t}, {draw(st.integers(-1, 2))})", f"splitlines({s})",
        f"endswith({s}, {t})", f"find({s}, {t})", f"replace({s}, {t}, 'xy')", f"replace({s}, {t}, '', 1)",
        f"title({s})", f"capitalize({s})", f"lstrip({s})", f"rstrip({s}, {t})", f"removeprefix({s}, {t})",
        f"removesuffix({s}, {t})", f"isdigit({s})", f"isalpha({s})", f"isalnum({s})", f"isspace({s})",
        f"islower({s})", f"isupper({s})",
        f"matches({s}, {pattern})", f"search({s}, {pattern})", f"search({s}, {pattern}, 0)",
        f"findall({s}, {stepping})", f"findall({s}, {stepping}, 0)",
        f"sub({s}, {stepping}, {draw(st.sampled_from(REPLACEMENTS))})",
        f"sub({s}, {stepping}, {draw(st.sampled_from(REPLACEMENTS))}, {draw(st.integers(0, 2))})",
    ]))


@ORACLE
@given(text_calls(), environments())
def test_string_and_regex_builtins_agree_with_python(text, env):
    agree(text, env)
