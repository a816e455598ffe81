"""Rendering diagnostics as text (rustc-style) and as JSON (one stable shape).

Text::

    error[E0203]: step 'walk' has no output 'stepz'
      --> examples/drunken_sailor.octo:27:26
       |
    27 |         mean_steps: mean(walk.stepz)
       |                          ^^^^^^^^^^ did you mean 'walk.steps'?

The JSON shape is documented in docs/diagnostics.md and versioned by
``FORMAT_VERSION``.
"""

from __future__ import annotations

from .codes import Severity
from .diagnostics import Diagnostic, Label
from .source import Span

FORMAT_VERSION = 1

_COLOURS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "bold": "\x1b[1m",
            "blue": "\x1b[1;34m", "reset": "\x1b[0m"}


def _paint(text: str, colour: str, enabled: bool) -> str:
    return f"{_COLOURS[colour]}{text}{_COLOURS['reset']}" if enabled else text


def _span_lines(span: Span) -> tuple[int, int, int]:
    """(line, start column, caret width) for the first line of a span."""
    line, col = span.source.line_col(span.start)
    end_line, end_col = span.end_line_col()
    text = span.source.line_text(line)
    if end_line != line:
        end_col = len(text) + 1
    width = max(1, end_col - col)
    return line, col, width


def _expand_tabs(text: str) -> str:
    return text.replace("\t", "    ")


def _visual_col(text: str, col: int) -> int:
    """Column on screen once tabs are shown as four spaces."""
    return len(_expand_tabs(text[: col - 1])) + 1


def render_text(diag: Diagnostic, colour: bool = False) -> str:
    sev = diag.severity.value
    out = [_paint(f"{sev}[{diag.code}]", sev, colour) + _paint(f": {diag.message}", "bold", colour)]
    if diag.span is None:
        out.append(_paint("  --> ", "blue", colour) + diag.file)
        if diag.hint:
            out.append(_paint("   = ", "blue", colour) + f"hint: {diag.hint}")
        return "\n".join(out)
    spans: list[tuple[Span, str, bool]] = [(diag.span, diag.label, True)]
    spans += [(lab.span, lab.message, False) for lab in diag.labels if lab.span.source is diag.span.source]
    rows = sorted(spans, key=lambda s: s[0].start)
    gutter = max(len(str(_span_lines(s)[0])) for s, _, _ in rows)
    pad = " " * gutter
    out.append(f"{pad}{_paint('-->', 'blue', colour)} {diag.span.path}:{diag.span.line}:{diag.span.column}")
    out.append(f"{pad} {_paint('|', 'blue', colour)}")
    last_line = None
    for span, text, primary in rows:
        line, col, width = _span_lines(span)
        src = span.source.line_text(line)
        if last_line is not None and line > last_line + 1:
            out.append(_paint("...", "blue", colour))
        if line != last_line:
            out.append(f"{_paint(str(line).rjust(gutter) + ' |', 'blue', colour)} {_expand_tabs(src)}")
        vcol = _visual_col(src, col)
        vwidth = max(1, _visual_col(src, col + width) - vcol) if col + width <= len(src) + 1 else width
        marker = ("^" if primary else "-") * vwidth
        note = f" {text}" if text else ""
        painted = _paint(marker + note, diag.severity.value if primary else "blue", colour)
        out.append(f"{pad} {_paint('|', 'blue', colour)} {' ' * (vcol - 1)}{painted}")
        last_line = line
    for lab in diag.labels:
        if lab.span.source is not diag.span.source:
            out.append(f"{pad} = note: {lab.message} at {lab.span.path}:{lab.span.line}:{lab.span.column}")
    if diag.hint:
        out.append(f"{pad} {_paint('=', 'blue', colour)} hint: {diag.hint}")
    return "\n".join(out)


def render_summary(errors: int, warnings: int, files: int) -> str:
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    where = plural(files, "file")
    if not errors and not warnings:
        return f"ok: {where} checked, no problems"
    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in {where} checked"


def _span_json(span: Span) -> dict:
    end_line, end_col = span.end_line_col()
    return {"file": span.path, "line": span.line, "column": span.column,
            "end_line": end_line, "end_column": end_col,
            "start_offset": span.start, "end_offset": span.end}


def diagnostic_json(diag: Diagnostic) -> dict:
    return {
        "severity": diag.severity.value,
        "code": diag.code,
        "message": diag.message,
        "file": diag.file,
        "span": _span_json(diag.span) if diag.span is not None else None,
        "label": diag.label or None,
        "hint": diag.hint or None,
        "labels": [{"message": lab.message, "span": _span_json(lab.span)} for lab in diag.labels],
    }


def report_json(diags: list[Diagnostic], files: list[str]) -> dict:
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    return {
        "version": FORMAT_VERSION,
        "files": files,
        "diagnostics": [diagnostic_json(d) for d in diags],
        "summary": {"errors": errors, "warnings": len(diags) - errors},
    }


__all__ = ["render_text", "render_summary", "report_json", "diagnostic_json", "Label", "FORMAT_VERSION"]
