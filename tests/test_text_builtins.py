"""String built-ins and regular expressions (issue 13, point 1).

Strings follow Python's str methods; regular expressions run on RE2 and are bounded:
a catastrophic pattern, a bad pattern, a quadratic findall and a huge split all finish
(in a subprocess under a generous timeout, never a timed assertion), each either with
its value or with a failure in words. Literal patterns are checked by the compiler.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from octo.cli.exitcodes import UNITS_FAILED
from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source, Span
from octo.compiler.base.yamlnodes import YScalar
from octo.compiler.expressions.codegen import EvalError, compile_expression
from octo.compiler.expressions.exprparse import Origin, parse_expression
from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language
from octo.stdlib.builtins import FUNCTIONS

from test_unit_failures import EMULATED, results, run


def ev(text: str, **env):
    source = Source("t.octo", text)
    expr = parse_expression(text, Origin(YScalar(Span(source, 0, len(text)), text)), Reporter())
    assert expr is not None, text
    return compile_expression(expr, FUNCTIONS).evaluate(env)


def fails(text: str, **env) -> str:
    with pytest.raises(EvalError) as err:
        ev(text, **env)
    return err.value.message


# --- strings, as Python's str methods ------------------------------------------------------------

@pytest.mark.parametrize("text, python", [
    ("split(s)", lambda s: s.split()),
    ("split(s, ',')", lambda s: s.split(",")),
    ("split(s, ',', 1)", lambda s: s.split(",", 1)),
    ("splitlines(s)", lambda s: s.splitlines()),
    ("endswith(s, '?')", lambda s: s.endswith("?")),
    ("replace(s, 'a', 'xy')", lambda s: s.replace("a", "xy")),
    ("replace(s, 'a', '', 1)", lambda s: s.replace("a", "", 1)),
    ("find(s, 'b')", lambda s: s.find("b")),
    ("title(s)", str.title), ("capitalize(s)", str.capitalize),
    ("lstrip(s)", str.lstrip), ("rstrip(s, '?!')", lambda s: s.rstrip("?!")),
    ("removeprefix(s, 'a')", lambda s: s.removeprefix("a")), ("removesuffix(s, '?')", lambda s: s.removesuffix("?")),
    ("isdigit(s)", str.isdigit), ("isalpha(s)", str.isalpha), ("isalnum(s)", str.isalnum),
    ("isspace(s)", str.isspace), ("islower(s)", str.islower), ("isupper(s)", str.isupper),
])
@pytest.mark.parametrize("s", ["", "a, b,c", " two  words \n", "Is it ok?!", "abc", "ABC", "42", "line1\nline2\r\n"])
def test_string_functions_are_pythons(text, python, s):
    assert ev(text, s=s) == python(s)


def test_words_are_runs_of_letters_and_digits_with_inner_apostrophes_and_hyphens():
    assert ev("words(s)", s="Don't stop — it's well-known, 42 times!") == ["Don't", "stop", "it's", "well-known", "42",
                                                                           "times"]
    assert ev("len(words(s))", s="  ") == 0
    assert ev("words(s)", s="naïve café") == ["naïve", "café"]


def test_a_null_argument_gives_null():
    for text in ("split(s)", "words(s)", "replace(s, 'a', 'b')", "matches(s, 'a')", "sub(s, 'a', 'b')",
                 "findall(s, 'a')", "search('a', s)"):
        assert ev(text, s=None) is None


def test_split_with_an_empty_separator_fails_in_words():
    assert fails("split(s, '')", s="abc") == "split(): the separator is empty; list(s) gives the characters"


# --- regular expressions ------------------------------------------------------------------------------

def test_matches_looks_anywhere_and_anchors_say_the_whole_string():
    assert ev("matches(s, '\\\\?$')", s="Is it?") is True
    assert ev("matches(s, '[0-9]')", s="a1") is True
    assert ev("matches(s, '^[0-9]+$')", s="a1") is False
    assert ev("matches(s, '(?i)^yes$')", s="YES") is True


def test_search_and_findall_give_the_match_or_its_group():
    s = "k=1, j=22"
    assert ev("search(s, '[0-9]+')", s=s) == "1"
    assert ev("search(s, '([a-z])=')", s=s) == "k"  # one group: its text, as Python's findall
    assert ev("search(s, '(?P<key>[a-z])=(?P<n>[0-9]+)', 'n')", s=s) == "1"
    assert ev("search(s, 'x')", s=s) is None
    assert ev("findall(s, '[0-9]+')", s=s) == ["1", "22"]
    assert ev("findall(s, '([a-z])=([0-9]+)', 2)", s=s) == ["1", "22"]
    assert ev("findall(s, '([a-z])=([0-9]+)', 0)", s=s) == ["k=1", "j=22"]
    assert "say which one to return" in fails("findall(s, p)", s=s, p="(a)(b)")


def test_sub_replaces_with_groups_and_a_count():
    assert ev("sub(s, '([a-z])=', '\\\\1: ')", s="k=1, j=2") == "k: 1, j: 2"
    assert ev("sub(s, '(?P<w>o)', '<\\\\g<w>>', 1)", s="foo") == "f<o>o"
    assert ev("sub(s, 'x*', '-')", s="abxd") == "-a-b--d-"  # empty matches as Python 3.7+
    assert fails("sub(s, '(a)', '\\\\2')", s="a") == "sub(): the replacement refers to group 2, but the pattern has 1 group"


def test_a_bad_pattern_that_is_not_literal_fails_in_words():
    assert fails("matches(s, p)", s="x", p="(a").startswith("matches(): invalid regular expression: missing ): (a")
    assert fails("matches(s, p)", s="x", p="(?=a)").startswith("matches(): a lookahead, (?=...), is not supported")
    assert fails("search(s, p)", s="x", p="(a)\\1").startswith("search(): a backreference (\\1) is not supported")
    assert "the limit is 10,000" in fails("matches(s, p)", s="x", p="a" * 10_001)


# --- bounded time and memory: each finishes, with its value or a failure in words ---------------------

BOUNDED = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from test_text_builtins import ev
    from octo.compiler.expressions.codegen import EvalError
    cases = {
        "catastrophic": ("matches(s, '(a+)+$')", {"s": "a" * 100_000 + "b"}),
        "catastrophic_findall": ("len(findall(s, '(a|aa)+$'))", {"s": "a" * 100_000 + "b"}),
        "quadratic_findall": ("len(findall(s, '[a-z]*Z|a'))", {"s": "a" * 1_000_000}),
        "dfa_hostile": ("matches(s, p)", {"s": "ab" * 500_000,
                                          "p": "(?:[ab]*a[ab]{1000}c)|(?:b[ab]{1000}a)+c"}),
        "bad_pattern": ("matches(s, p)", {"s": "x", "p": "(a"}),
        "huge_split": ("len(split(s, ','))", {"s": "," * 2_000_000}),
        "huge_whitespace_split": ("len(split(s))", {"s": "a " * 1_500_000}),
        "huge_words": ("len(words(s))", {"s": "a " * 1_500_000}),
        "huge_sub": ("len(sub(s, '', 'xxxxxxxx'))", {"s": "a" * 500_000}),
        "huge_replace": ("len(replace(s, 'a', 'aaaa'))", {"s": "a" * 500_000}),
    }
    out = {}
    for name, (text, env) in cases.items():
        try:
            out[name] = ["value", ev(text, **env)]
        except EvalError as err:
            out[name] = ["failed", err.message]
    print(json.dumps(out))
""")


def test_catastrophic_patterns_bad_patterns_and_huge_splits_finish_with_a_value_or_a_reason():
    env = dict(os.environ, OCTO_CPU_SECONDS="2")  # the per-unit CPU budget that stops a long findall
    done = subprocess.run([sys.executable, "-c", BOUNDED, os.path.dirname(__file__)], capture_output=True, text=True,
                          timeout=300, env=env)  # a guard against a hang, not a measure of speed
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["catastrophic"] == ["value", False]
    assert out["catastrophic_findall"] == ["value", 0]
    assert out["quadratic_findall"][0] == "failed" and "ran out of CPU time" in out["quadratic_findall"][1]
    assert out["dfa_hostile"][0] == "failed" and "too complex for a text this long" in out["dfa_hostile"][1]
    assert out["bad_pattern"] == ["failed", "matches(): invalid regular expression: missing ): (a (see "
                                            "docs/language.md, Regular expressions, for the syntax)"]
    for name in ("huge_split", "huge_whitespace_split", "huge_words"):
        assert out[name][0] == "failed" and "the limit is 1,000,000" in out[name][1], name
    for name in ("huge_sub", "huge_replace"):
        assert out[name][0] == "failed" and "would build a string of" in out[name][1], name


# --- the compiler checks literal patterns ---------------------------------------------------------------

PIPELINE = """\
octo: 1
data:
  docs: [{{id: d1, text: "Is it?", pattern: "(a"}}, {{id: d2, text: "Yes.", pattern: "[.]$"}}]
units:
  for: {{doc: docs}}
steps:
  checks:
    compute:
      {body}
"""


def diagnostics(tmp_path, body: str):
    path = tmp_path / "p.octo"
    path.write_text(PIPELINE.format(body=body))
    return [(d.code, d.span.line, d.span.column, d.span.end - d.span.start, d.message)
            for d in check_file(str(path), default_language()).diagnostics]


@pytest.mark.parametrize("body, code, column, width", [
    ("q: matches(unit.doc.text, '(a')", "E0223", 34, 2),  # the caret on the part at fault
    ("q: matches(unit.doc.text, '[z-a]')", "E0223", 35, 3),
    ("q: matches(unit.doc.text, 'a(?<=b)')", "E0224", 35, 4),
    ("q: search(unit.doc.text, '(a)\\\\1')", "E0224", 37, 2),
    ("q: matches(unit.doc.text, 'a{5000}')", "E0225", 35, 6),
    ("q: findall(unit.doc.text, '(a)(b)')", "E0226", 33, 8),
    ("q: search(unit.doc.text, '(a)', 2)", "E0226", 39, 1),
    ("q: sub(unit.doc.text, '(a)', '\\\\2')", "E0226", 36, 5),
    ("q: matches(unit.doc.text, '\\bword\\b')", "W0414", 33, 10),
    ("q: sub(unit.doc.text, '(a)', '\\1')", "W0414", 36, 4),
])
def test_a_literal_pattern_is_checked_with_a_caret_on_it(tmp_path, body, code, column, width):
    found = diagnostics(tmp_path, body)
    assert [(c, line, col, w) for c, line, col, w, _ in found] == [(code, 9, column, width)], found


def test_good_literal_patterns_check_clean(tmp_path):
    assert diagnostics(tmp_path, "q: matches(unit.doc.text, '^(?i)is\\\\b') and len(findall(unit.doc.text, "
                                 "'(?P<w>\\\\w+)', 'w')) > 0 and sub(unit.doc.text, '(.)', '\\\\1') != ''") == []


def test_a_bad_pattern_from_the_data_fails_only_its_unit(tmp_path):
    code, run_dir = run(tmp_path, PIPELINE.format(body="ok: matches(unit.doc.text, unit.doc.pattern)"), *EMULATED)
    assert code == UNITS_FAILED
    checks = results(run_dir, "checks")
    assert checks["d2"][:2] == ("done", {"ok": True})
    assert checks["d1"][0] == "failed"
    assert "matches(): invalid regular expression: missing ): (a" in checks["d1"][2]
    assert f"{tmp_path / 'p.octo'}:9:11" in checks["d1"][2]


def test_an_unknown_escape_in_a_string_keeps_its_backslash_without_a_python_warning():
    """`'\\S+'` in an expression means backslash-S (as Python reads it) — for a regex — and parsing it raises no
    DeprecationWarning/SyntaxWarning, which a later Python may turn into an error."""
    import warnings

    from octo.compiler.expressions.exprparse import _known_escapes_only

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ast_literal(_known_escapes_only(r"'\S+\d{3}\?'")) == "\\S+\\d{3}\\?"
        assert ast_literal(_known_escapes_only(r"'a\\S\n'")) == "a\\S\n"


def ast_literal(text: str):
    import ast

    return ast.literal_eval(text)
