"""`model:` on provider steps — a fixed `provider:model`, or read from the unit — and every possible value checked.

A model is written either as a literal, `provider:model` (it starts with a provider name and a colon), or as a
**unit path**, `unit.<field>[.<key>…]` (it starts with `unit`), where `<field>` draws rows from a data table
(`units.for`). A path is the only expression allowed: its possible values are a column of one table, so the
checker enumerates them and checks each as it checks a literal — the `provider:model` form, a known provider, a
valid name, a known price — pointing at the data row that holds it. The plan then costs each model and the
runtime sends one batch per (provider, model).
"""

from __future__ import annotations

import re

from ..base.diagnostics import Reporter
from ..base.records import record_class
from ..base.source import Span
from ..base.suggest import did_you_mean
from ..base.yamlnodes import YMap, YNode, YScalar, YSeq
from ..expressions import ast
from ..expressions.exprparse import Origin, parse_expression
from ..expressions.types import STR, OptionalT, RecordT
from .kinds import StepContext
from .program import Program, Step
from .units import UNIT_BUILTINS

LITERAL = re.compile(r"[A-Za-z0-9_-]+:")  # `provider:` starts a literal model; a unit path has no such prefix
UNIT_PATH = re.compile(r"unit(?![A-Za-z0-9_])")
PATH_HINT = ("put the models in a data table, draw units from it (`units.for: {contender: contenders}`) "
             "and write `model: unit.contender.model`")


@record_class(frozen=True)
class ModelChoice:
    """What a `model:` setting resolves to: one fixed model, or a path into the unit and its possible values."""

    fixed: str | None
    path: ast.Expr | None = None
    values: tuple[str, ...] = ()  # every possible model, in the order of the table's rows, each once
    field: str | None = None  # the unit field the path starts from (`contender` in unit.contender.model)


def is_unit_path(text: str) -> bool:
    return not LITERAL.match(text) and UNIT_PATH.match(text) is not None


def check_models(program: Program, ctx: StepContext) -> None:
    """Resolve each provider step's model (its own, else `defaults.model`) and check every value it may take."""
    reporter, language = ctx.reporter, ctx.language
    default = program.root.get("defaults")
    default_model = default.get("model") if isinstance(default, YMap) else None
    resolved: dict[int, ModelChoice | None] = {}  # per `model:` node: `defaults.model` is checked once
    for step in program.steps.values():
        if language.kinds[step.kind].runs != "provider":
            continue
        node = step.settings.get("model") or default_model
        if not isinstance(node, YScalar) or not node.is_str:
            if node is None:
                reporter.report("E0102", step.name_span, f"step '{step.name}' needs a model",
                                hint="set `model:` on the step, or `defaults.model` for every step")
            continue
        if id(node) not in resolved:
            resolved[id(node)] = _resolve(node, program, ctx)
        choice = resolved[id(node)]
        if choice is not None:
            step.model, step.model_from, step.models = choice.fixed, choice.path, list(choice.values)
    _warn_export(program, reporter)


def _resolve(node: YScalar, program: Program, ctx: StepContext) -> ModelChoice | None:
    if LITERAL.match(node.value):
        check_model(node, ctx.language, ctx.reporter)
        return ModelChoice(node.value, values=(node.value,))
    if is_unit_path(node.value):
        return _unit_path(node, program, ctx)
    return None  # neither form: the structure check reported it (E0104)


# --- a model read from the unit --------------------------------------------------------------

def _unit_path(node: YScalar, program: Program, ctx: StepContext) -> ModelChoice | None:
    reporter = ctx.reporter
    expr = parse_expression(node.value, Origin(node), reporter)
    if expr is None:
        return None
    chain = _attribute_chain(expr)
    if chain is None:
        reporter.report("E0311", expr.span, "a model read from the unit must be a unit path, like `unit.contender.model`",
                        label="not a path of names", hint="the checker checks every model a step may use, so a model "
                        "is a literal `provider:model` or a column of a data table: " + PATH_HINT)
        return None
    if not chain:
        reporter.report("E0311", expr.span, "`unit` is the whole unit, not a model", label="name a field of the unit",
                        hint="write the path to the column that holds the model, e.g. `unit.contender.model`")
        return None
    table = next((t for t in program.units.tables if t.field == chain[0]), None) if program.units else None
    if chain[0] in UNIT_BUILTINS:
        reporter.report("E0311", expr.span, f"`unit.{chain[0]}` is built in, not a row of a data table",
                        label="its values are not known to the checker", hint=PATH_HINT)
        return None
    if table is not None and table.arrangement != "rows":
        reporter.report("E0311", expr.span, f"`unit.{chain[0]}` is a list of rows ({table.arrangement} of "
                        f"'{table.table}'), so it holds no single model", label="not one row",
                        hint=f"draw the models one row per unit: `units.for: {{{chain[0]}: {table.table}}}`")
        return None
    errors = reporter.error_count
    found = ctx.check(expr, ctx.scope())  # unknown fields are E0203, with the fields there are
    if reporter.error_count > errors or table is None:
        return None
    rows = program.data[table.table].rows
    if isinstance(found, RecordT):
        reporter.report("E0312", expr.span, f"`{expr.span.text()}` is a row of '{table.table}', not a model",
                        label="a record", hint=f"name the column that holds the model, e.g. "
                        f"`{expr.span.text()}.{_model_column(found, rows)}`")
        return None
    if rows is None:
        return None  # the table could not be read: reported where it is declared
    values = _check_rows(program, table.table, chain[1:], rows, ctx)
    return ModelChoice(None, expr, tuple(values), chain[0]) if values else None


def _model_column(row_type: RecordT, rows: list | None) -> str:
    """The column of a table that most looks like it holds models (for a hint)."""
    strings = [n for n, t in row_type.fields if t in (STR, OptionalT(STR))]
    first = rows[0] if rows and isinstance(rows[0], dict) else {}
    looks = [n for n in strings if isinstance(first.get(n), str) and LITERAL.match(first[n])]
    return (looks or [n for n in strings if "model" in n] or strings or ["model"])[0]


def _attribute_chain(expr: ast.Expr) -> list[str] | None:
    """`unit.a.b` → ["a", "b"]; None when ``expr`` is anything but names joined by dots from `unit`."""
    chain = []
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.obj
    if not (isinstance(expr, ast.Name) and expr.id == "unit"):
        return None
    return chain[::-1]


def _check_rows(program: Program, table: str, keys: list[str], rows: list, ctx: StepContext) -> list[str]:
    """Every distinct model the column holds, each checked once at the first row that holds it."""
    nodes = _row_nodes(program, table)
    seen: dict[str, None] = {}
    for i, row in enumerate(rows):
        value, missing = _walk(row, keys)
        where = _RowValue.at(program, table, i, keys, nodes, value)
        column = ".".join(keys) or "value"
        if missing is not None:
            ctx.reporter.report("E0312", where.span, f"row {i + 1} of '{table}' has no '{missing}', so its units "
                                f"have no model", label=where.label, hint=f"give every row of '{table}' a `{column}`")
            continue
        if not isinstance(value, str):
            shown = "null" if value is None else repr(value)
            ctx.reporter.report("E0312", where.span, f"row {i + 1} of '{table}': `{column}` is {shown}, not a "
                                f"`provider:model` string", label=where.label,
                                hint="e.g. openai:gpt-4.1-mini, anthropic:claude-haiku-4-5, gemini:gemini-2.5-flash")
            continue
        if value in seen:
            continue
        seen[value] = None
        if not re.fullmatch(r"[A-Za-z0-9_-]+:.+", value, re.DOTALL):
            ctx.reporter.report("E0312", where.span, f"row {i + 1} of '{table}': model '{value}' must be written "
                                f"provider:model", label=where.label,
                                hint="e.g. openai:gpt-4.1-mini, anthropic:claude-haiku-4-5, gemini:gemini-2.5-flash")
            continue
        check_model(where, ctx.language, ctx.reporter, label=where.label)
    return list(seen)


def _walk(row, keys: list[str]):
    """(the value at ``keys`` in ``row``, the first key missing or None)."""
    for key in keys:
        if not isinstance(row, dict) or row.get(key) is None and key not in row:
            return None, key
        row = row[key]
    return row, None


def _row_nodes(program: Program, table: str) -> list[YNode] | None:
    """The YAML nodes of an inline table's rows (None for a table read from a file)."""
    data = program.root.get("data")
    node = data.get(table) if isinstance(data, YMap) else None
    return node.items if isinstance(node, YSeq) else None


@record_class(frozen=True)
class _RowValue:
    """A model in a data row, as the literal checks see a `model:` scalar: a value, and where to point."""

    value: object
    span: Span
    scalar: YScalar | None  # the YAML scalar (an inline table), so a caret can land inside the value
    label: str

    @staticmethod
    def at(program: Program, table: str, i: int, keys: list[str], nodes: list[YNode] | None, value) -> "_RowValue":
        t = program.data[table]
        if nodes is None:  # a file: point at `file:` and say which row
            data = program.root.get("data")
            file_node = data.get(table).get("file") if isinstance(data, YMap) else None
            span = file_node.span if file_node is not None else t.span
            return _RowValue(value, span, None, f"row {i + 1} of {t.file}")
        node: YNode = nodes[i]
        for key in keys:
            inner = node.get(key) if isinstance(node, YMap) else None
            if inner is None:
                break
            node = inner
        scalar = node if isinstance(node, YScalar) and node.is_str else None
        return _RowValue(value, node.span, scalar if scalar is not None and scalar.value == value else None,
                         f"row {i + 1} of '{table}'")

    def sub_span(self, start: int, end: int) -> Span:
        return self.scalar.sub_span(start, end) if self.scalar is not None else self.span


# --- a literal `provider:model` ----------------------------------------------------------------

# A model name becomes part of a request — for Gemini, a segment of the URL's path — so it is made of
# characters that stand for themselves there. `:` (OpenAI's fine-tuned `ft:...` names) is not a Gemini one.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
GEMINI_MODEL_NAME = re.compile(r"(?:models/|tunedModels/)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_model(node, language, reporter: Reporter, label: str = "") -> None:
    """Check one `provider:model` (a `model:` scalar, or a model in a data row): name, provider, price.

    ``node`` has ``value``, ``span`` and ``sub_span(start, end)``; ``label`` says where a data row's value is."""
    value = node.value if isinstance(node.value, str) else ""
    provider, _, name = value.partition(":")
    if not name:
        return  # reported by the structure check
    if not _check_model_name(node, value, provider, name, reporter, label):
        return
    if provider not in language.providers:
        reporter.report("E0104", node.sub_span(0, len(provider)), f"unknown provider '{provider}'", label=label,
                        hint=did_you_mean(provider, language.providers) or f"providers: {', '.join(sorted(language.providers))}")
        return
    if provider != "emulator" and value not in language.models:
        same = [m for m in language.models if m.startswith(provider + ":")]
        hint = did_you_mean(value, same) or "octoc has no price for it, so `plan` cannot estimate its cost"
        reporter.report("W0401", node.span, f"unknown model '{value}'", label=label, hint=hint)


def _check_model_name(node, value: str, provider: str, name: str, reporter: Reporter, label: str) -> bool:
    gemini = provider == "gemini"
    if (GEMINI_MODEL_NAME if gemini else MODEL_NAME).fullmatch(name) and ".." not in name:
        return True
    prefix = next((p for p in ("models/", "tunedModels/") if gemini and name.startswith(p)), "")
    at, width, what = _first_fault(name[len(prefix):], "._-" if gemini else "._-:")
    start = len(provider) + 1 + len(prefix) + at
    allowed = "letters, digits, '.', '_' and '-'" if gemini else "letters, digits, '.', '_', '-' and ':'"
    reporter.report("E0111", node.sub_span(start, start + width), f"model name '{name}' has {what}",
                    label=label or "not allowed in a model name",
                    hint=f"a model name is made of {allowed}, starts with a letter or digit and has at most 128 "
                         f"characters, e.g. {_EXAMPLE_MODELS.get(provider, 'openai:gpt-4.1-mini')}")
    return False


def _first_fault(name: str, punctuation: str) -> tuple[int, int, str]:
    """Where a model name first goes wrong (offset, width), and how to say it."""
    dots = name.find("..")
    for i, ch in enumerate(name):
        if 0 <= dots <= i:
            break
        if not (ch.isascii() and (ch.isalnum() or ch in punctuation)):
            return i, 1, f"the character {ch!r}, which a model name cannot have"
    if dots >= 0:
        return dots, 2, "'..', which a model name cannot have"
    if not name or not name[0].isalnum():
        return 0, 1, "a first character that is not a letter or digit"
    return 128, len(name) - 128, "more than 128 characters"


_EXAMPLE_MODELS = {"openai": "openai:gpt-4.1-mini", "anthropic": "anthropic:claude-haiku-4-5",
                   "gemini": "gemini:gemini-2.5-flash", "emulator": "emulator:gpt-4.1-mini"}


# --- results can tell which model answered ----------------------------------------------------

def _warn_export(program: Program, reporter: Reporter) -> None:
    """W0408: `export` columns that leave out the unit field a step's model is read from."""
    key = program.root.key("export")
    if key is None or program.root.get("export") is None:
        return  # every output is exported, and each row of a per-unit-model step names its model
    exprs = [e for _, e in program.export]
    for step in program.steps.values():
        field = _path_field(step.model_from)
        if field is not None and not any(_reads_unit_field(e, field) for e in exprs):
            reporter.report("W0408", key.span, f"`export` leaves out which model answered step '{step.name}'",
                            hint=f"add a column that reads it, e.g. `model: {step.model_from.span.text()}`")


def _path_field(expr: ast.Expr | None) -> str | None:
    chain = _attribute_chain(expr) if expr is not None else None
    return chain[0] if chain else None


def _reads_unit_field(expr: ast.Expr, field: str) -> bool:
    """Does ``expr`` read `unit.<field>` (or the whole unit, which holds it)?"""
    names = attributes = 0
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id == "unit":
            names += 1
        if isinstance(node, ast.Attribute) and isinstance(node.obj, ast.Name) and node.obj.id == "unit":
            attributes += 1
            if node.attr == field:
                return True
    return names > attributes
