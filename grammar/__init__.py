"""The .octo grammars (``*.lark``) and a cached loader for their parsers.

This package owns the grammar text only; turning parse trees into AST nodes and
errors into diagnostics is the compiler's job (``octo.compiler.expressions.exprparse``).
"""

from __future__ import annotations

import functools
from importlib import resources

from lark import Lark

__all__ = ["expression_parser", "type_parser", "grammar_text"]


def grammar_text(name: str) -> str:
    """Return the text of ``grammar/<name>.lark``."""
    return resources.files(__name__).joinpath(f"{name}.lark").read_text(encoding="utf-8")


def _build(name: str) -> Lark:
    return Lark(
        grammar_text(name),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,  # Lark keeps the built tables in the temp dir, keyed by grammar and options
    )


@functools.cache
def expression_parser() -> Lark:
    """The LALR parser for expressions (built once per process)."""
    return _build("expressions")


@functools.cache
def type_parser() -> Lark:
    """The LALR parser for type declarations (built once per process)."""
    return _build("types")
