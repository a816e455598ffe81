"""`octoc check`: every problem of a file, found in one pass over all phases.

load (YAML) → structure (JSON Schema) → build (data, units, steps) → parse
(each kind) → dependencies and cycles → types in dependency order → warnings.
Each phase reports what it finds and the next carries on with what is sound.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..base.diagnostics import Diagnostic, Reporter
from ..base.records import record_class
from ..base.source import Source, Span
from ..base.yamlnodes import YMap, YScalar, YSeq
from ..expressions.scope import Binding, Scope
from ..expressions.types import ANY, ListT, RecordT, record, stored_type
from .build import build_program
from .fanouts import check_fanouts
from .graph import build_graph, dependency_order, infer_dependencies, report_cycles
from .kinds import StepContext
from .language import Language, document_schema
from .loader import load
from .loops import find_loops
from .uniqueby import check_unique_by, parse_unique_by
from .model_settings import check_model_settings
from .models import check_models
from .program import Program, Step
from .structure import validate


@record_class
class CheckResult:
    source: Source | None
    program: Program | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)


def check_file(path: str, language: Language) -> CheckResult:
    reporter = Reporter()
    try:
        source = Source.read(path)
    except (OSError, UnicodeDecodeError) as err:
        reason = "no such file" if isinstance(err, FileNotFoundError) else (
            "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else (getattr(err, "strerror", None) or str(err)).lower())
        reporter.report("E0006", None, f"cannot read '{path}': {reason}", path=path)
        return CheckResult(None, None, reporter.sorted())
    return check_source(source, language, reporter)


def check_source(source: Source, language: Language, reporter: Reporter | None = None) -> CheckResult:
    reporter = reporter or Reporter()
    root = load(source, reporter)
    if root is None or not isinstance(root, YMap):
        if not reporter.has_errors():
            what = "empty" if root is None else f"a {root.kind}"
            reporter.report("E0103", Span(source, 0, 0) if root is None else root.span,
                            f"a .octo file must be a mapping, but this one is {what}",
                            hint="start with `octo: 1`, then `steps:`")
        return CheckResult(source, None, reporter.sorted())
    validate(root, document_schema(language), reporter)
    program = build_program(root, source, language, reporter)
    try:
        _check_program(program, language, reporter)
    except RecursionError:
        reporter.report("E0201", Span(source, 0, 0), "an expression is nested too deeply to check",
                        hint="split deep expressions into several named values")
        return CheckResult(source, None, reporter.sorted())
    return CheckResult(source, program, reporter.sorted())


def _check_program(program: Program, language: Language, reporter: Reporter) -> None:
    ctx = StepContext(program, language, reporter)
    _parse_steps(program, ctx)
    infer_dependencies(program)
    graph = build_graph(program)
    on_cycle = report_cycles(program, graph, reporter)
    program.order = dependency_order(program, graph, on_cycle)
    program.loops = find_loops(program, language, graph, on_cycle, reporter)  # before types: `feedback` needs them
    _check_where(program, ctx)
    ctx.base_scope = _base_scope(program)  # built once, and each step's binding updated once it is typed
    for name in program.order:
        _typecheck_step(program.steps[name], program, ctx, on_cycle)
        _bind_step_output(ctx.base_scope, program.steps[name])
    _check_export(program, ctx)
    check_fanouts(program, language, reporter)  # after export: its reads must lie in one fan-out too
    check_models(program, ctx)  # after export: W0408 reads its columns
    check_model_settings(program, language, reporter)  # after models: each model a step may use is known
    _warn_unused(program, reporter)


def _parse_steps(program: Program, ctx: StepContext) -> None:
    for step in program.steps.values():
        ctx.step = step
        language_kind = ctx.language.kinds[step.kind]
        language_kind.parse(step, ctx)
        step.when = ctx.expr(step.settings.get("when"), "`when`")
        parse_unique_by(step, ctx)
        rules = step.settings.get("validate")
        if isinstance(rules, YSeq):
            for rule in rules.items:
                if isinstance(rule, YMap) and rule.get("rule") is not None:
                    expr = ctx.expr(rule.get("rule"), "a validate rule")
                    message = rule.get("message")
                    if expr is not None:
                        message = message if isinstance(message, YScalar) and message.is_str else None
                        step.validate.append((expr, message))
                        step.validate_exprs.append(expr)
    ctx.step = None


def _base_scope(program: Program) -> Scope:
    unit_type = program.units.unit_type if program.units and program.units.unit_type else record({}, "the unit")
    tables = record({n: (ListT(t.row_type)) for n, t in program.data.items()}, "data")
    bindings = {"unit": Binding(unit_type, "the unit"), "data": Binding(tables, "the data tables", per_unit=False)}
    scope = Scope(bindings)
    for step in program.steps.values():
        _bind_step_output(scope, step)
    return scope


def _bind_step_output(scope: Scope, step: Step) -> None:
    out = step.output if step.output is not None else ANY
    scope.bindings[step.name] = Binding(out, f"step '{step.name}'", step=step.name, private=frozenset(step.private))


def _check_where(program: Program, ctx: StepContext) -> None:
    node = program.root.get("units")
    if isinstance(node, YMap) and node.get("where") is not None:
        expr = ctx.expr(node.get("where"), "`units.where`")
        if program.units is not None:
            program.units.where = expr
        base = _base_scope(program)
        scope = Scope({"unit": base.lookup("unit"), "data": base.lookup("data")})
        if expr is not None:
            from ..expressions.ast import free_names
            for name, span in free_names(expr):
                if name in program.steps:
                    ctx.reporter.report("E0202", span, f"`units.where` runs before any step, so it cannot read step '{name}'",
                                        hint=f"use `when:` on the steps that should skip these units")
                    return
            checker = ctx.checker()
            checker.allow_random = False  # units are drawn before any stream exists
            checker.check_bool(expr, scope, "`units.where`")


def _typecheck_step(step: Step, program: Program, ctx: StepContext, on_cycle: set[str]) -> None:
    ctx.step = step
    kind = ctx.language.kinds[step.kind]
    _check_aggregate_reads(step, program, ctx)
    if step.when is not None:
        ctx.check_bool(step.when, ctx.scope(), "`when`")
    check_unique_by(step, program, ctx)
    try:
        output = kind.typecheck(step, ctx)
    except RecursionError:  # an expression just under the parser's depth limit
        ctx.reporter.report("E0201", step.name_span, f"an expression of step '{step.name}' is nested too deeply",
                            hint="split it into several named values (compute) or simplify it")
        output = None
    output = stored_type(output) if output is not None else None  # as `validate` and the steps downstream see it
    step.output = output if step.name not in on_cycle else None
    if output is not None and step.validate:
        own = ctx.scope({n: Binding(t, f"output '{n}'") for n, t in [*output.fields, *step.private.items()]})
        for rule, message in step.validate:
            ctx.check_bool(rule, own, "a validate rule")
            ctx.check_template(message, own)
    ctx.step = None


def _check_aggregate_reads(step: Step, program: Program, ctx: StepContext) -> None:
    for dep, span in step.deps.items():
        upstream = program.steps[dep]
        if ctx.language.kinds[upstream.kind].per_unit:
            continue
        if ctx.language.kinds[step.kind].per_unit:
            message = f"'{dep}' is an aggregate over units; per-unit step '{step.name}' cannot read it"
        else:
            message = f"aggregate '{step.name}' cannot read aggregate '{dep}': aggregates reduce units, not groups"
        ctx.reporter.report("E0303", span, message,
                            hint="aggregates are reported at the end of the run; compute per-unit values in a compute step")


def _no_aggregate_reads(expr, program: Program, ctx: StepContext, why: str) -> None:
    from ..expressions.ast import free_names

    for name, span in free_names(expr):
        step = program.steps.get(name)
        if step is not None and not ctx.language.kinds[step.kind].per_unit:
            ctx.reporter.report("E0303", span, f"'{name}' is an aggregate over units; {why}",
                                hint="aggregates appear in `octoc report`, not in per-unit results")


def _check_export(program: Program, ctx: StepContext) -> None:
    from .exportfile import check_export_settings, export_columns_node, export_reads, is_export_with_settings

    node = program.root.get("export")
    if is_export_with_settings(node):
        check_export_settings(node, program, ctx)
        node = export_columns_node(node)
    entries = []
    if isinstance(node, YSeq):
        entries = [(item.value if isinstance(item, YScalar) else "", item) for item in node.items]
    elif isinstance(node, YMap):
        entries = [(k.value, v) for k, v in node.items]
    for column, value in entries:
        expr = ctx.expr(value, "an export column")
        if expr is not None:
            checker = ctx.checker()
            checker.allow_random = False
            checker.check(expr, ctx.scope())
            _no_aggregate_reads(expr, program, ctx, "`export` lists per-unit columns")
            program.export.append((str(column), expr))
    if program.export_file is not None:
        where = program.export_file.where
        if where is not None:
            _no_aggregate_reads(where, program, ctx, "`export.where` filters per-unit rows")
        program.export_file.reads = export_reads(program)


def _warn_unused(program: Program, reporter: Reporter) -> None:
    read = {dep for step in program.steps.values() for dep in step.deps}
    read |= {dep for _, e in program.export for dep in _roots(e)}
    if program.export_file is not None and program.export_file.where is not None:
        read |= _roots(program.export_file.where)
    exported_all = program.root.get("export") is None
    for step in program.steps.values():
        judged_or_reducing = step.kind in ("judge", "gate", "aggregate")
        if step.name in read or exported_all or judged_or_reducing:
            continue
        reporter.report("W0402", step.name_span, f"step '{step.name}' is never used",
                        hint="nothing reads its outputs and `export` leaves them out: reference it, export it, or remove it")
    used_tables = {t.table for t in (program.units.tables if program.units else [])}
    for step in program.steps.values():
        for expr in step.exprs:
            used_tables |= _data_refs(expr)
        for template in step.templates:
            used_tables |= set(re.findall(r"\bdata\s*\.\s*([A-Za-z_]\w*)", template.value))
    units = program.root.get("units")
    in_units = (lambda d: d.span is not None and units is not None and units.span.start <= d.span.start <= units.span.end)
    if any(d.severity.value == "error" and (in_units(d) or "data table" in d.message) for d in reporter.diagnostics):
        return  # the units or a table name is in error: an 'unused' warning would only add noise
    for name, table in program.data.items():
        if name not in used_tables:
            reporter.report("W0404", table.span, f"data table '{name}' is never used",
                            hint="draw units from it in `units.for`, read it as `data." + name + "`, or remove it")


def _roots(expr) -> set[str]:
    from ..expressions.ast import free_names

    return {n for n, _ in free_names(expr)}


def _data_refs(expr) -> set[str]:
    from ..expressions import ast

    out = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Attribute) and isinstance(node.obj, ast.Name) and node.obj.id == "data":
            out.add(node.attr)
    return out
