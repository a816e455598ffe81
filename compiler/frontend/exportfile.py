"""`export` with settings: `columns:`, `where:` (which rows), `file:` (where `octoc results DIR --export`
writes them) and `units:` (whether units that failed or were skipped get rows). docs/language.md, "Export"."""

from __future__ import annotations

from pathlib import PurePosixPath

from ..base.yamlnodes import YMap, YNode, YScalar, YSeq
from ..expressions.ast import free_names
from .datapath import clip
from .program import ExportFile, Program

EXPORT_FORMATS = (".jsonl", ".csv")


def is_export_with_settings(node: YNode | None) -> bool:
    """`export: {columns: ...}` — a mapping whose `columns` is a list or mapping (an expression never is)."""
    return isinstance(node, YMap) and isinstance(node.get("columns"), (YMap, YSeq))


def export_columns_node(node: YNode | None) -> YNode | None:
    return node.get("columns") if is_export_with_settings(node) else node


def check_export_settings(node: YMap, program: Program, ctx) -> None:
    """Fill ``program.export_file`` from the settings of ``node``; the columns are checked by the caller."""
    settings = ExportFile()
    where = node.get("where")
    if where is not None:
        expr = ctx.expr(where, "`export.where`")
        if expr is not None:
            checker = ctx.checker()
            checker.allow_random = False
            checker.check_bool(expr, ctx.scope(), "`export.where`")
            settings.where = expr
    file_node = node.get("file")
    if isinstance(file_node, YScalar) and file_node.is_str:
        problem = export_path_problem(file_node.value)
        if problem:
            ctx.reporter.report("E0115", file_node.span, f"export file '{clip(file_node.value)}' {problem}",
                                hint="write a path inside the run directory ending in .jsonl or .csv, "
                                     "e.g. 'train.jsonl'; `octoc results DIR --export PATH` writes anywhere")
        else:
            settings.file = file_node.value
    units = node.get("units")
    if isinstance(units, YScalar) and units.value in ("done", "all"):
        settings.units = units.value
    program.export_file = settings


def export_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be an export file inside a run directory, or None."""
    pure = PurePosixPath(path)
    if not pure.parts or pure.is_absolute() or "\\" in path or ":" in pure.parts[0]:
        return "must be a relative path inside the run directory"
    if ".." in pure.parts:
        return "has a '..' part: it must stay inside the run directory"
    if pure.suffix.lower() not in EXPORT_FORMATS:
        return "must end in .jsonl or .csv (the format comes from the extension)"
    return None


def export_reads(program: Program) -> tuple[str, ...]:
    """The steps the export's columns and `where` read, in the program's order."""
    exprs = [e for _, e in program.export]
    if program.export_file and program.export_file.where is not None:
        exprs.append(program.export_file.where)
    names = {name for e in exprs for name, _ in free_names(e)}
    return tuple(n for n in program.steps if n in names)
