"""Checks of the arguments that are literals, such as a regular expression written in the call.

A built-in may declare ``check_literals`` (see :class:`~.functions.Function`): the checker gives it
the values of the literal arguments and reports what it finds, with the caret on the argument, or on
the part of it at fault when that part can be found in the source text.
"""

from __future__ import annotations

from ..base.diagnostics import Reporter
from ..base.source import Span
from . import ast
from .functions import UNKNOWN, Function


def report_literal_findings(reporter: Reporter, fn: Function, call: ast.Call) -> None:
    values = [a.value if isinstance(a, ast.Literal) else UNKNOWN for a in call.args]
    for finding in fn.check_literals(values, UNKNOWN):
        arg = call.args[finding.index] if finding.index < len(call.args) else call
        span = _narrowed(arg.span, finding.part) if arg is not call else call.span
        reporter.report(finding.code, span, f"{fn.name}(): {finding.message}", label=finding.label, hint=finding.hint)


def _narrowed(span: Span, part: str) -> Span:
    """The span of ``part`` inside ``span``'s source text, when it is there exactly once; else ``span``."""
    if not part:
        return span
    text = span.text()
    at = text.find(part)
    if at < 0 or text.find(part, at + 1) >= 0:
        return span
    return Span(span.source, span.start + at, span.start + at + len(part))
