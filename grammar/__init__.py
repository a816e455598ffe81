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

__all__ = ["expression_parser", "type_parser", "grammar_text", "cache_dir"]


def grammar_text(name: str) -> str:
    """Return the text of ``grammar/<name>.lark``."""
    return resources.files(__name__).joinpath(f"{name}.lark").read_text(encoding="utf-8")


def cache_dir() -> str | None:
    """Where the built parsers are kept: ``$XDG_CACHE_HOME/octo`` (or ``~/.cache/octo``), a directory
    of this user's that no one else may write, made so if missing; None (no cache: the parsers are
    built from the grammar, a few ms more) where there is no such directory.

    Why not Lark's own ``cache=True``: it keeps a pickle at a predictable name in the shared temp
    directory, which another user of the machine could plant first, and a pickle loaded is code run.
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


def _cache_file(name: str, text: str) -> str | bool:
    """A file per grammar text, Lark and Python version in the private cache directory; False for no cache.
    (Lark also checks the hash of the grammar and options it stored in the file before it uses one.)"""
    where = cache_dir()
    if where is None:
        return False
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return os.path.join(where, f"lark-{name}-{digest}-{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}.pickle")


def _build(name: str) -> Lark:
    text = grammar_text(name)
    return Lark(
        text,
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=_cache_file(name, text),
    )


@functools.cache
def expression_parser() -> Lark:
    """The LALR parser for expressions (built once per process)."""
    return _build("expressions")


@functools.cache
def type_parser() -> Lark:
    """The LALR parser for type declarations (built once per process)."""
    return _build("types")
