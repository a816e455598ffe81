"""A built parser kept whole, so a process loads it instead of rebuilding it.

Lark's own cache (``Lark(cache=...)``, ``Lark.save``/``Lark.load``) stores the parser's *serialized*
form and rebuilds every rule, terminal, parse-table action and callback from it in Python at each
start: ~40M instructions for the two grammars, a fifth of what `octoc check` spends above the import
of its libraries. A snapshot is a pickle of the built parser itself, its lexer's scanner included,
which the unpickler restores in C: about a third of that (docs/design.md, "Performance: startup").

A pickle of Lark's objects depends on how Lark lays them out, so a snapshot is trusted only as far as
it is checked: it is made for one grammar text, one Lark version and one Python version (the caller
puts all three in its file name), and it is written only after a copy read back from its own bytes
parsed a set of sample texts exactly as the built parser does (trees, positions, and errors).
Anything else — a snapshot that cannot be read, or a Lark whose objects do not survive — means no
snapshot, and the caller builds the parser from the grammar.

Two things do not survive pickling as they are and are handled here: the parser's `re` module (a
module is not picklable; it is named and looked up again), and Lark's parse-table actions, `Shift`
and `Reduce`, which the parser compares by identity (`action is Shift`), so they are restored as the
very objects of `lark.parsers.lalr_analysis`.

A third is kept in a form that loads faster: the lexer's compiled patterns. Pickled as they are, each
is compiled again from its text at every start, by `re`'s parser and compiler, which are Python: the
lexer's three patterns took ~5M instructions, a fifth of loading both parsers. A snapshot keeps what
that compilation produced (the pattern's program, as ``_sre.compile`` takes it) and hands it straight
to ``_sre.compile``, which checks a program before it accepts it. The program is only kept when the
pattern made from it equals the one compiled from the text (patterns compare by their program);
otherwise, and on a Python whose `re` is laid out differently, the pattern is kept as its text.
"""

from __future__ import annotations

import _sre
import copyreg
import io
import os
import pickle
import re

from lark import Lark, LarkError, Token
from lark.parsers import lalr_analysis

__all__ = ["FORMAT", "load", "loadable", "save"]

# Part of a snapshot's file name: a change to how snapshots are made changes it, so none made before is read.
FORMAT = 2

# The modules a parser may refer to (its lexer's regular-expression module), by name.
_MODULES = {"re": re}


def _action(name: str) -> lalr_analysis.Action:
    """The parse-table action singleton of that name (``Shift`` or ``Reduce``)."""
    found = getattr(lalr_analysis, name, None)
    if not isinstance(found, lalr_analysis.Action):
        raise pickle.UnpicklingError(f"no parse-table action {name!r}")
    return found


def _compiled(pattern: str, flags: int, program: list, groups: int, groupindex: dict, indexgroup: tuple) -> re.Pattern:
    """The compiled pattern whose program `re` made when the snapshot was taken."""
    return _sre.compile(pattern, flags, program, groups, groupindex, indexgroup)


def _reduce_pattern(pattern: re.Pattern):
    """A compiled pattern as its program (see the module's docstring), or as its text, as pickle keeps it."""
    try:
        from re import _compiler, _parser  # `re`'s own internals: only taking a snapshot uses them

        parsed = _parser.parse(pattern.pattern, pattern.flags)
        indexgroup = [None] * parsed.state.groups  # as re._compiler.compile makes them
        for name, index in parsed.state.groupdict.items():
            indexgroup[index] = name
        program = [int(op) for op in _compiler._code(parsed, pattern.flags)]  # its opcodes are named ints
        parts = (pattern.pattern, pattern.flags | parsed.state.flags, program, parsed.state.groups - 1,
                 dict(parsed.state.groupdict), tuple(indexgroup))
        if _compiled(*parts) == pattern:
            return _compiled, parts
    except Exception:  # another Python's `re`: the pattern's text will do
        pass
    return pattern.__reduce__()


class _Pickler(pickle.Pickler):
    dispatch_table = {**copyreg.dispatch_table, lalr_analysis.Action: lambda action: (_action, (action.name,)),
                      re.Pattern: _reduce_pattern}

    def persistent_id(self, obj):
        if type(obj) is type(re):
            name = getattr(obj, "__name__", None)
            if _MODULES.get(name) is not obj:
                raise pickle.PicklingError(f"a parser that refers to module {name!r}")
            return ("module", name)
        return None


# What a snapshot may name besides Lark's own classes: the callbacks' `partial`, the compiled patterns'
# constructors (from a program, or from the text), and the parse-table actions'.
_GLOBALS = {("functools", "partial"), (__name__, "_compiled"), ("re", "_compile"), (__name__, "_action")}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        # The cache directory is private, but a pickle can name any callable: read only what a parser holds.
        found = super().find_class(module, name) if (module, name) in _GLOBALS or module.split(".")[0] == "lark" else None
        if found is None or ((module, name) not in _GLOBALS and not isinstance(found, type)):
            raise pickle.UnpicklingError(f"a snapshot may not name {module}.{name}")
        return found

    def persistent_load(self, pid):
        if isinstance(pid, tuple) and len(pid) == 2 and pid[0] == "module" and pid[1] in _MODULES:
            return _MODULES[pid[1]]
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")


def _from_bytes(data: bytes) -> Lark:
    parser = _Unpickler(io.BytesIO(data)).load()
    if not isinstance(parser, Lark):
        raise pickle.UnpicklingError(f"a {type(parser).__name__}, not a parser")
    return parser


def load(path: str) -> Lark | None:
    """The parser kept at ``path``, or None where there is none or it cannot be read (the caller then
    builds the parser, and may write the snapshot again)."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        return _from_bytes(data)
    except Exception:  # a missing, truncated, foreign or damaged file: no snapshot, never an error
        return None


def _outcome(parser: Lark, text: str) -> tuple:
    """What parsing ``text`` gives: the tree with every node's and token's position, or the error's
    kind, position, token and what it expected."""
    try:
        tree = parser.parse(text)
    except LarkError as err:
        token = getattr(err, "token", None)
        return (type(err).__name__, getattr(err, "pos_in_stream", None), getattr(err, "line", None),
                getattr(err, "column", None), None if token is None else (token.type, str(token)),
                sorted(getattr(err, "expected", None) or getattr(err, "allowed", None) or ()))
    nodes = [(t.data, t.meta.line, t.meta.column, t.meta.end_line, t.meta.end_column, t.meta.start_pos, t.meta.end_pos)
             for t in tree.iter_subtrees() if not t.meta.empty]
    tokens = [(t.type, str(t), t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
              for t in tree.scan_values(lambda value: isinstance(value, Token))]
    return tree, nodes, tokens


def loadable(parser: Lark) -> Lark:
    """``parser`` as Lark's own ``save``/``load`` give it back: what parsing needs, without the
    grammar's own parse trees that a parser built from the text keeps (a quarter of its objects)."""
    buffer = io.BytesIO()
    parser.save(buffer)
    buffer.seek(0)
    return Lark.load(buffer)


def save(parser: Lark, path: str, samples: tuple[str, ...]) -> bool:
    """Keep ``parser`` at ``path`` if a copy read back from the snapshot's bytes parses every sample
    exactly as ``parser`` does; True if it was written. The samples are parsed first, which also
    builds the lexer's scanner, so the snapshot holds it. Written to a temporary file in the same
    directory and renamed, so a reader sees a whole snapshot or none."""
    expected = [_outcome(parser, text) for text in samples]
    try:
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(parser)
        data = buffer.getvalue()
        copy = _from_bytes(data)
        if [_outcome(copy, text) for text in samples] != expected:
            return False
        import tempfile  # here: ~7M instructions at import, and only a miss writes a snapshot

        directory = os.path.dirname(path) or "."
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".snapshot-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except Exception:  # a Lark whose objects do not pickle, a full disk: no snapshot, the parser still works
        return False
    return True
