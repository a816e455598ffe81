"""EvalError, the one run-time failure an expression raises, and the longest value it may build.

They live apart from the evaluation helpers (evalsupport.py, which re-exports both) because the
step kinds and the regex built-ins name them at import, and `check` imports those but never
evaluates anything (tests/test_startup.py checks that it does not import evalsupport).
"""

from __future__ import annotations

import re

from ..base.source import Span

MAX_ITEMS = 1_000_000  # longest string or list an expression may build


class EvalError(Exception):
    """A run-time failure of an expression, in plain words.

    ``span`` is the failing sub-expression when known (set by
    :meth:`CompiledExpression.evaluate`); the caller adds the location.
    """

    def __init__(self, message: str, span: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span

    def where(self) -> str:
        return _where(self.span) if self.span is not None else ""


def _where(span: Span) -> str:
    """``file:line:col``. A span of an AST rebuilt from a Plan record points into the
    expression's own text, whose source is named ``file:line:col`` of the expression:
    the two positions are added up."""
    origin = re.fullmatch(_ORIGIN, span.path)
    if origin is None:
        return f"{span.path}:{span.line}:{span.column}"
    path, line, col = origin.group(1), int(origin.group(2)), int(origin.group(3))
    if span.line == 1:
        return f"{path}:{line}:{col + span.column - 1}"
    return f"{path}:{line + span.line - 1}:{span.column}"


_ORIGIN = r"(.+):(\d+):(\d+)"  # compiled by re on first use: `check` never needs it
