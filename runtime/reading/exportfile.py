"""`octoc results DIR --export [PATH]`: the rows of `export` written to a JSONL or CSV file.

A row is the export's columns only (a chat-format line is exactly ``{"messages": [...]}``). Rows go in
unit order (runtime/reading/lineage.py), filtered by `export.where`; with `units: done` (the default) a unit that
failed, is pending, or was skipped at a step the export reads has no row (`units: all` or ``--all-units``
keeps every unit). A `where` that fails for a unit (a missing field) leaves its row out, as false would.
The file is written to a temporary file beside it and renamed over the target, so a crash leaves the old
file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterator

from .lineage import result_rows
from .report import _export_columns, _per_unit_steps, _safe, _scopes, _unit_state
from ..rundirs.rundir import open_plan, open_store
from ..base.strictjson import dumps, finite
from ..work.units import data_env, unit_space

FORMATS = (".jsonl", ".csv")


class ExportError(Exception):
    """An export that cannot be written: what is wrong and what to do (a usage error, exit 2)."""


def export_target(run_dir: Path, path: str | None) -> Path:
    """Where the export goes: ``path`` (``--export PATH``), else `export.file` inside the run directory."""
    plan = open_plan(run_dir)
    if not plan.data.get("export"):
        raise ExportError("this run's pipeline has no `export` section: add one (docs/language.md, \"Export\") "
                          "and start a new run, or use `octoc results DIR` for every step's outputs")
    if path:
        target = Path(path)
    else:
        file = (plan.data.get("export_file") or {}).get("file")
        if not file:
            raise ExportError("say where to write: `octoc results DIR --export PATH`, or `file:` in the "
                              "pipeline's `export` section")
        target = run_dir / file
    if target.suffix.lower() not in FORMATS:
        raise ExportError(f"'{target}' must end in .jsonl or .csv (the format comes from the extension)")
    return target


def export_rows(run_dir: Path, all_units: bool = False) -> Iterator[dict]:
    """The export's rows, as the file holds them."""
    plan = open_plan(run_dir)
    settings = plan.data.get("export_file") or {}
    keep_all = all_units or settings.get("units") == "all"
    reads = set(settings.get("reads") or ())
    where = _where(settings.get("where"))
    columns = _export_columns(plan)
    store = open_store(run_dir, readonly=True)
    try:
        names = _per_unit_steps(plan)
        results = {n: {u: (s, o) for u, s, o, _ in store.all_results(n)} for n in names}
        space, data = unit_space(plan), data_env(plan)
        for _, idx, uid, at in result_rows(store, _scopes(plan), names):
            steps = {n: results[n].get(pos, ("pending", None)) for n, pos in at.items()}
            if not keep_all and not _complete(steps, reads):
                continue
            env = {**dict.fromkeys(names), "unit": space.unit(idx, uid), "data": data,
                   **{n: output for n, (_, output) in steps.items()}}
            if where is not None and _safe(where, env) is not True:
                continue
            yield {column: _safe(expr, env) for column, expr in columns}
    finally:
        store.close()


def _complete(steps: dict, reads: set[str]) -> bool:
    """Done, and not skipped at a step the export reads (its columns would be nulls)."""
    states = {n: {"state": s} for n, (s, _) in steps.items()}
    return _unit_state(states) == "done" and not any(steps[n][0] == "skipped" for n in reads if n in steps)


def _where(record):
    if record is None:
        return None
    from octo.stdlib import default_language
    from octo.stdlib.execution import compiled

    return compiled(record, default_language().functions)


def write_export(run_dir: Path, target: Path, all_units: bool = False) -> int:
    """Write the export to ``target`` through a temporary file and a rename; the number of rows."""
    rows = list(export_rows(run_dir, all_units))
    text = _csv(rows) if target.suffix.lower() == ".csv" else "".join(dumps(r, ensure_ascii=False) + "\n" for r in rows)
    replace_file(target, text)
    return len(rows)


def replace_file(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file beside it and a rename: a crash leaves the old file
    (or none), never half of the new one. Also `octoc report --html` (runtime/reading/reporthtml.py)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _csv(rows: list[dict]) -> str:
    """A header, then a line per row; lists and mappings as JSON text in their cell."""
    out = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else finite(v) for k, v in r.items()})
    return out.getvalue()
