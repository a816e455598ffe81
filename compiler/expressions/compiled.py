"""A compiled expression (what :func:`codegen.compile_expression` returns): evaluating it, and
explaining a failure after the fact — the generated line that failed, mapped back to the AST node
it computes (a ``_Site``), with the operands' values read from the failing frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..base.source import Span
from . import ast
from .evalerror import EvalError
from .evalmessages import _plain, explain
from .evalsupport import _where, begin_evaluation


@dataclass(frozen=True)
class _Site:
    """What one generated line computes, to explain a failure on it."""

    kind: str  # name field index slice unary binary compare call for set-item dict-key
    node: Any  # the AST node
    operands: tuple = ()  # _Val of the operands, in order
    op: str = ""


@dataclass(eq=False)
class CompiledExpression:
    expr: ast.Expr
    label: str
    source: str  # the generated Python source
    names: tuple[str, ...]  # the free names read from env
    random: bool  # calls a random built-in (needs an rng)
    _fn: Callable = field(repr=False)
    _filename: str = field(repr=False)
    _sites: dict[int, _Site] = field(repr=False)

    @property
    def span(self) -> Span:
        return self.expr.span

    def where(self) -> str:
        """``file:line:col`` of the expression."""
        return _where(self.expr.span)

    def evaluate(self, env: Mapping[str, Any], rng=None) -> Any:
        """The expression's value for ``env`` (free name → value); ``rng`` is the unit's
        random stream, needed when the expression calls a random built-in."""
        begin_evaluation()
        try:
            return self._fn(env, rng)
        except EvalError as err:
            if err.span is None:
                located = self._locate(err)
                err.span = located[0].node.span if located else self.span
            raise
        except Exception as exc:  # every other failure, in plain words
            raise self._explain(exc) from exc

    __call__ = evaluate

    # --- error translation ---------------------------------------------------------

    def _locate(self, exc: BaseException) -> tuple[_Site, dict] | None:
        """The generated line that failed (the innermost frame of our code) and its locals."""
        tb, found = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                found = tb
            tb = tb.tb_next
        if found is None or found.tb_lineno not in self._sites:
            return None
        return self._sites[found.tb_lineno], found.tb_frame.f_locals

    def _explain(self, exc: Exception) -> EvalError:
        located = self._locate(exc)
        if located is None:
            return EvalError(_plain(exc), self.span)
        site, local = located
        return explain(exc, site, local)
