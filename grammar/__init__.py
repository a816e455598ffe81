"""The .octo grammars (``*.lark``) and a cached loader for their parsers.

This package owns the grammar text only; turning parse trees into AST nodes and
errors into diagnostics is the compiler's job (``octo.compiler.expressions.exprparse``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
from importlib import resources

import lark
from lark import Lark

from . import snapshot

__all__ = ["expression_parser", "type_parser", "grammar_text", "cache_dir"]


def grammar_text(name: str) -> str:
    """Return the text of ``grammar/<name>.lark``."""
    return resources.files(__name__).joinpath(f"{name}.lark").read_text(encoding="utf-8")


def cache_dir() -> str | None:
    """Where the built parsers are kept: ``$XDG_CACHE_HOME/octo`` (or ``~/.cache/octo``), a directory
    of this user's that no one else may write, made so if missing; None (no cache: the parsers are
    built from the grammar at every start, ~170 ms) where there is no such directory.

    Why not Lark's ``cache=True``: it keeps a pickle at a predictable name in the shared temp
    directory, which another user of the machine could plant first, and a pickle loaded is code run.
    Why not Lark's cache at all: see ``snapshot``.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "octo")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        found = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    private = stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and not found.st_mode & 0o022
    return path if private else None


# How both grammars are built: part of what a snapshot is made for (its file name's digest).
_OPTIONS = {"parser": "lalr", "lexer": "basic", "propagate_positions": True, "maybe_placeholders": False}

# Texts a snapshot must parse exactly as the parser it was taken from (trees, positions, errors)
# before it is written: every construct of each grammar, and errors of each kind.
_SAMPLES = {
    "expressions": (
        "f(a.b[1:2], x[:n], -x ** 2 // 3 % 4, +y / 2.5e3, ) if not (p and q or r) else None",
        "[y * 2 for y, z in items if y != 'w' if z >= 1] + {1: \"v\\n\", k: [true, false, ]}[k].n",
        "{s for s in xs} - {1, 2,} and a < b <= c > d >= e == f and g not in h and i in j or {}",
        "{k: v for k in ks for v in vs if k} == {(a): [], 'b': 1_000.5}",
        "a +", "f(,", "1 2", "x ? y", "'unterminated",
    ),
    "types": (
        "list[int[1, 10] | 'a b' | c-d][2, ]?", "(yes | no)?", "float[-0.5, +1e3]", "list[str][, 4]",
        "list[", "int[1 10]", "a | ", "?",
    ),
}


def _cache_file(name: str, text: str) -> str | None:
    """The snapshot's path for this grammar text, its options, the snapshot format, Lark's and
    Python's versions, in the private cache directory; None for no cache."""
    where = cache_dir()
    if where is None:
        return None
    made_for = f"{text}\n{sorted(_OPTIONS.items())!r}\n{snapshot.FORMAT}"
    digest = hashlib.sha256(made_for.encode("utf-8")).hexdigest()[:16]
    python = f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    return os.path.join(where, f"parser-{name}-{digest}-lark{lark.__version__}-py{python}.pickle")


def _build(name: str) -> Lark:
    """The parser kept in the cache if there is one, else built from the grammar (~170 ms for the
    expressions) and kept for the next process."""
    text = grammar_text(name)
    path = _cache_file(name, text)
    kept = snapshot.load(path) if path else None
    if kept is not None:
        return kept
    parser = Lark(text, **_OPTIONS)
    if path:
        snapshot.save(snapshot.loadable(parser), path, _SAMPLES[name])
    return parser


@functools.cache
def expression_parser() -> Lark:
    """The LALR parser for expressions (built once per process)."""
    return _build("expressions")


@functools.cache
def type_parser() -> Lark:
    """The LALR parser for type declarations (built once per process)."""
    return _build("types")
