"""A parser read back from its snapshot (grammar/snapshot.py) parses exactly as one built from the
grammar: the same trees, positions and errors; a snapshot that is damaged, foreign or names anything
but a parser's parts is not read; one whose copy would parse differently is not written."""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark, Token

import octo.grammar as grammar
from octo.grammar import snapshot

EXPRESSION_TOKENS = ["a", "unit", ".", "x1", "(", ")", "[", "]", "{", "}", ":", ",", "+", "-", "*", "/", "//", "%",
                     "**", "==", "!=", "<", "<=", ">", ">=", "not", "and", "or", "in", "if", "else", "for", "1",
                     "2.5e3", "1_000", "'s'", '"t\\n"', "f", " ", "\n", "?", "'", "&"]
TYPE_TOKENS = ["int", "str", "list", "float", "a-b", "'q r'", "[", "]", "(", ")", "|", "?", ",", "1", "-2.5", "+3",
               " ", "{", ":"]


def _built(name: str) -> Lark:
    return Lark(grammar.grammar_text(name), **grammar._OPTIONS)


@pytest.fixture(scope="module")
def parsers(tmp_path_factory):
    """Each grammar's parser built from its text, and the one read back from the snapshot of it."""
    where = tmp_path_factory.mktemp("snapshots")
    out = {}
    for name in ("expressions", "types"):
        built = _built(name)
        path = str(where / f"{name}.pickle")
        assert snapshot.save(snapshot.loadable(_built(name)), path, grammar._SAMPLES[name])
        kept = snapshot.load(path)
        assert kept is not None
        out[name] = (built, kept)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(EXPRESSION_TOKENS), max_size=16).map("".join))
def test_expressions_parse_the_same_from_the_snapshot(parsers, text):
    built, kept = parsers["expressions"]
    assert snapshot._outcome(kept, text) == snapshot._outcome(built, text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TYPE_TOKENS), max_size=12).map("".join))
def test_types_parse_the_same_from_the_snapshot(parsers, text):
    built, kept = parsers["types"]
    assert snapshot._outcome(kept, text) == snapshot._outcome(built, text)


def test_the_samples_cover_trees_and_errors():
    """Each grammar's samples hold texts that parse and texts that do not, so a snapshot is checked on both."""
    for name in ("expressions", "types"):
        outcomes = [snapshot._outcome(_built(name), text) for text in grammar._SAMPLES[name]]
        assert any(isinstance(o[0], str) for o in outcomes) and any(not isinstance(o[0], str) for o in outcomes)


def test_positions_are_compared(parsers):
    """The outcome holds every token's position, so a copy that lost positions would not be written."""
    built, _ = parsers["expressions"]
    tree, nodes, tokens = snapshot._outcome(built, "a +\n  b")
    assert ("NAME", "b", 6, 2, 3, 2, 4, 7) in tokens and nodes


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps({"a": 1}), b"\x80\x05"])
def test_a_damaged_or_foreign_snapshot_is_not_read(tmp_path, content):
    path = tmp_path / "snap.pickle"
    path.write_bytes(content)
    assert snapshot.load(str(path)) is None
    assert snapshot.load(str(tmp_path / "missing.pickle")) is None


def test_a_snapshot_naming_anything_else_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "snap.pickle"
    path.write_bytes(pickle.dumps(Planted()))
    assert snapshot.load(str(path)) is None
    assert not marker.exists()


class _Upper:
    """A lexer callback whose pickled copy upper-cases names: a parser whose copy parses differently."""

    def __init__(self, upper: bool = False):
        self.upper = upper

    def __call__(self, token: Token) -> Token:
        return token.update(value=token.value.upper()) if self.upper else token

    def __reduce__(self):
        return (_Upper, (True,))


def test_a_parser_whose_copy_parses_differently_is_not_written(tmp_path):
    parser = Lark(grammar.grammar_text("expressions"), lexer_callbacks={"NAME": _Upper()}, **grammar._OPTIONS)
    path = tmp_path / "snap.pickle"
    assert not snapshot.save(parser, str(path), ("a + b",))
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_parser_that_cannot_be_pickled_is_not_written(tmp_path):
    parser = Lark(grammar.grammar_text("expressions"), lexer_callbacks={"NAME": lambda t: t}, **grammar._OPTIONS)
    path = tmp_path / "snap.pickle"
    assert not snapshot.save(parser, str(path), ("a + b",))
    assert list(tmp_path.iterdir()) == []


def test_the_loaded_parser_keeps_no_grammar_trees(parsers):
    """``loadable`` drops what only building needed (the grammar's own parse trees): a smaller snapshot."""
    buffer = io.BytesIO()
    snapshot._Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(parsers["expressions"][1])
    assert b"load_grammar" not in buffer.getvalue()


def test_a_damaged_snapshot_in_the_cache_is_replaced(tmp_path):
    """A fresh process finds a damaged snapshot, builds the parser from the grammar and writes a good one."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = "from octo.grammar import expression_parser; print(expression_parser().parse('a + 1').data)"
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    [path] = [p for p in (tmp_path / "octo").iterdir() if p.name.startswith("parser-expressions-")]
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout == again.stdout == "binary\n"
    assert path.read_bytes() != good[: len(good) // 2] and snapshot.load(str(path)) is not None


def test_the_lexer_patterns_are_kept_as_programs_equal_to_the_compiled_text(parsers):
    """A snapshot keeps each pattern of the lexer as its program (so it loads without `re` compiling the
    text again), and the pattern made from that program equals the one `re` compiles from the text."""
    for name in ("expressions", "types"):
        kept = parsers[name][1]
        patterns = []

        class Recording(snapshot._Pickler):
            dispatch_table = {**snapshot._Pickler.dispatch_table,
                              re.Pattern: lambda p: patterns.append(p) or snapshot._reduce_pattern(p)}

        buffer = io.BytesIO()
        Recording(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(kept)
        assert patterns and b"_compiled" in buffer.getvalue()
        for pattern in patterns:
            function, args = snapshot._reduce_pattern(pattern)
            assert function is snapshot._compiled
            assert function(*args) == re.compile(pattern.pattern, pattern.flags) == pattern


def test_a_pattern_re_cannot_take_apart_is_kept_as_its_text(monkeypatch):
    from re import _compiler

    pattern = re.compile(r"(?P<word>[a-z]+)\s*")
    assert snapshot._reduce_pattern(pattern)[0] is snapshot._compiled
    monkeypatch.setattr(_compiler, "_code", None)  # a Python whose `re` is laid out differently
    assert snapshot._reduce_pattern(pattern) == pattern.__reduce__()


def test_a_snapshot_with_a_bad_program_is_not_read(tmp_path):
    """``_sre.compile`` checks a program before it runs it: a damaged one means no snapshot, not a crash."""
    path = tmp_path / "snap.pickle"
    path.write_bytes(_pickled_call(snapshot._compiled, ("a", 32, [99, 99, 99], 0, {}, (None,))))
    assert snapshot.load(str(path)) is None


def _pickled_call(function, args) -> bytes:
    class Call:
        def __reduce__(self):
            return function, args

    return pickle.dumps(Call())
