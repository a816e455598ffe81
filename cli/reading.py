"""`octoc results` and `octoc report`: read a run (read-only, without its lock) and print it.

JSON output is strict: NaN and infinities are written as null (runtime/base/strictjson.py).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from octo.runtime.rundirs.diskerrors import storage_errors
from octo.runtime.reading.report import render_report, report as build_report, unit_rows
from octo.runtime.reading.reportmd import render_markdown
from octo.runtime.rundirs.rundir import open_plan
from octo.runtime.base.strictjson import dumps, finite


def _flat(row: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = dumps(v) if isinstance(v, list) else finite(v)
    return out


def results(run_dir: str, step: str | None, fmt: str) -> int:
    path = Path(run_dir)
    with storage_errors(path, reading=True):
        return _results(path, step, fmt)


def _results(path: Path, step: str | None, fmt: str) -> int:
    plan = open_plan(path)
    names = [s["name"] for s in plan.steps if s["kind"] != "aggregate"]
    if step is not None and step not in names:
        sys.stderr.write(f"octoc: error: no per-unit step '{step}' in this run (steps: {', '.join(names)})\n")
        return 2
    rows = unit_rows(path, step)
    if fmt == "jsonl":
        for row in rows:
            sys.stdout.write(dumps(row, ensure_ascii=False) + "\n")
        return 0
    flat = [_flat(r) for r in rows]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(flat)
    return 0


def export(run_dir: str, step: str | None, target: str, all_units: bool) -> int:
    """Write the pipeline's `export` rows to a file (runtime/reading/exportfile.py); say where and how many."""
    from octo.runtime.reading.exportfile import ExportError, export_target, write_export

    if step is not None:
        sys.stderr.write("octoc: error: --export writes the rows of `export`; it does not go with --step\n")
        return 2
    path = Path(run_dir)
    with storage_errors(path, reading=True):
        try:
            out = export_target(path, target or None)
        except ExportError as err:
            sys.stderr.write(f"octoc: error: {err}\n")
            return 2
        try:
            n = write_export(path, out, all_units)
        except OSError as err:
            sys.stderr.write(f"octoc: error: cannot write '{out}': {(err.strerror or type(err).__name__).lower()}\n")
            return 2
    sys.stderr.write(f"{n:,} {'row' if n == 1 else 'rows'} written to {out}\n")
    return 0


def report(run_dir: str, fmt: str) -> int:
    """Print the report; exit with the run's verdict, or for an unfinished run its state's code (cli/verdicts.py)."""
    with storage_errors(Path(run_dir), reading=True):
        data = build_report(Path(run_dir))
        code = _verdict_code(Path(run_dir))
    if fmt == "json":
        sys.stdout.write(dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(render_markdown(data))
    else:
        sys.stdout.write(render_report(data))
        if (Path(run_dir) / HTML_NAME).is_file():
            sys.stdout.write(f"html report: {Path(run_dir) / HTML_NAME}\n")
    return code


HTML_NAME = "report.html"  # where `octoc report DIR --open` writes the HTML report


def html_report(run_dir: str, target: str | None, open_it: bool) -> int:
    """Write the HTML report (runtime/reading/reporthtml.py) to ``target`` (or DIR/report.html), say where, and
    with ``open_it`` open it in a browser; exit with the run's verdict as `report` does."""
    from octo.runtime.reading.exportfile import replace_file
    from octo.runtime.reading.reporthtml import render_html

    path = Path(run_dir)
    out = Path(target) if target else path / HTML_NAME
    with storage_errors(path, reading=True):
        page = render_html(build_report(path, detail=True))
        code = _verdict_code(path)
    try:
        replace_file(out, page)
    except OSError as err:
        sys.stderr.write(f"octoc: error: cannot write '{out}': {(err.strerror or type(err).__name__).lower()}\n")
        return 2
    sys.stderr.write(f"html report written to {out} ({len(page.encode()):,} bytes)\n")
    if open_it and not _open_in_browser(out):
        sys.stderr.write(f"no browser to open it with here; open {out.resolve()} yourself\n")
    return code


def _open_in_browser(path: Path) -> bool:
    import webbrowser

    try:
        return bool(webbrowser.open(path.resolve().as_uri()))
    except Exception:  # a browser that cannot start is the same as none: the file is written and said
        return False


def _verdict_code(path: Path) -> int:
    from octo.runtime.rundirs.liveness import run_state
    from octo.runtime.rundirs.rundir import open_store

    from .verdicts import state_code

    store = open_store(path, readonly=True)
    try:
        return state_code(run_state(path, store), store)
    finally:
        store.close()
