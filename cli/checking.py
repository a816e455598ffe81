"""`octoc check`: check files, print diagnostics, choose the exit code."""

from __future__ import annotations

import json
import sys

from octo.compiler.base.codes import REGISTRY, Severity
from octo.compiler.base.render import render_summary, render_text, report_json
from octo.compiler.frontend.check import check_file
from octo.stdlib import default_language, language_with_models


def check_files(paths: list[str], fmt: str, colour: bool, models_path: str | None = None) -> int:
    try:
        language = language_with_models(models_path)
    except ValueError as err:  # the models file: unreadable, or not a capability table
        sys.stderr.write(f"octoc: error: {err}\n")
        return 2
    diagnostics = []
    for path in paths:
        diagnostics.extend(check_file(path, language).diagnostics)
    if fmt == "json":
        sys.stdout.write(json.dumps(report_json(diagnostics, paths), indent=2, ensure_ascii=False) + "\n")
    else:
        for diag in diagnostics:
            sys.stdout.write(render_text(diag, colour) + "\n\n")
        errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
        sys.stdout.write(render_summary(errors, len(diagnostics) - errors, len(paths)) + "\n")
    if any(REGISTRY[d.code].io for d in diagnostics):
        return 2
    return 1 if any(d.severity is Severity.ERROR for d in diagnostics) else 0
