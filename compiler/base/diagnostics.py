"""The diagnostic model: one structure behind both the text and the JSON output.

Checking never stops at the first problem: every phase reports into a
:class:`Reporter`, and the caller renders what was collected, sorted in source
order (``octo.compiler.base.render``).
"""

from __future__ import annotations

from dataclasses import field

from .codes import REGISTRY, Severity
from .records import record_class
from .source import Span


@record_class(frozen=True)
class Label:
    """A secondary span with a short message ("first defined here")."""

    span: Span
    message: str


@record_class(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None
    label: str = ""  # text printed under the primary caret
    hint: str = ""
    labels: tuple[Label, ...] = ()
    path: str = ""  # the file, when there is no span (e.g. an unreadable file)

    @property
    def severity(self) -> Severity:
        return REGISTRY[self.code].severity

    @property
    def file(self) -> str:
        return self.span.path if self.span is not None else self.path

    def sort_key(self) -> tuple:
        if self.span is None:
            return (self.file, -1, 0, self.code)
        return (self.file, self.span.start, self.span.end, self.code, self.message)


@record_class
class Reporter:
    """Collects diagnostics; the one path through which problems are reported."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    _reported: set[Diagnostic] = field(default_factory=set, repr=False)  # what is in `diagnostics`, for O(1) lookups

    def report(
        self,
        code: str,
        span: Span | None,
        message: str,
        *,
        label: str = "",
        hint: str = "",
        labels: tuple[Label, ...] | list[Label] = (),
        path: str = "",
    ) -> Diagnostic:
        if code not in REGISTRY:  # a bug in octo, caught by the registry test
            raise KeyError(f"unregistered diagnostic code {code}")
        diag = Diagnostic(code, message, span, label, hint, tuple(labels), path)
        if diag not in self._reported:
            self._reported.add(diag)
            self.diagnostics.append(diag)
        return diag

    @property
    def error_count(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warning_count(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    def has_errors(self) -> bool:
        return self.error_count > 0

    def has_io_errors(self) -> bool:
        return any(REGISTRY[d.code].io for d in self.diagnostics)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.diagnostics, key=Diagnostic.sort_key)
