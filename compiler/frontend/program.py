"""The checked program: what `check` produces and `plan` consumes."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from ..base.records import record_class
from ..base.source import Source, Span
from ..base.yamlnodes import YMap, YNode, YScalar
from ..expressions import ast
from ..expressions.types import RecordT, Type

# The most units one run may have. The run's store holds a row per unit (about 150 bytes with its
# index) written before any step runs: 100 million units are some 15 GB and many minutes of writing
# before the first result. Bigger runs are better split (`units.limit`, `units.sample`, several pipelines).
MAX_UNITS = 100_000_000


@record_class(eq=False)
class DataTable:
    name: str
    span: Span  # the key in `data:`
    row_type: Type  # RecordT for tables of maps, a scalar type for lists of values
    rows: list[Any] | None  # None when the data could not be read
    file: str | None = None  # the data file, relative to the .octo file


@record_class(eq=False)
class UnitTable:
    field: str  # the name under `unit.`
    table: str  # the data table it draws from
    arrangement: str  # "rows" | "permutations" | "combinations"
    k: int = 1
    span: Span | None = None


@record_class(eq=False)
class UnitsSpec:
    tables: list[UnitTable]
    repeat: int = 1
    where: ast.Expr | None = None
    sample: int | None = None
    limit: int | None = None
    unit_type: RecordT | None = None


@record_class(eq=False)
class Step:
    name: str
    name_span: Span
    kind: str
    kind_span: Span  # the kind's key (`simulate:`)
    node: YMap  # the whole step mapping
    config: YNode  # the value under the kind's key
    settings: dict[str, YNode] = field(default_factory=dict)  # when, model, mode, output, ...
    setting_keys: dict[str, YScalar] = field(default_factory=dict)
    parsed: Any = None  # the kind's own parsed configuration
    exprs: list[ast.Expr] = field(default_factory=list)  # everything it evaluates
    template_roots: set[str] = field(default_factory=set)
    templates: list[YScalar] = field(default_factory=list)  # every template it renders
    template_refs: dict[str, Span] = field(default_factory=dict)  # root name → where a template reads it
    validate_exprs: list[ast.Expr] = field(default_factory=list)  # rules see the step's own outputs
    local_names: set[str] = field(default_factory=set)  # names the kind binds itself
    deps: dict[str, Span] = field(default_factory=dict)  # upstream step → where it is referenced
    output: RecordT | None = None
    private: dict[str, Type] = field(default_factory=dict)  # a compute's `_names`: seen by later values and `validate` only
    output_schema: dict | None = None  # JSON Schema of a provider step's output
    when: ast.Expr | None = None
    unique_by: ast.Expr | None = None  # later units with an equal key are skipped (compiler/frontend/uniqueby.py)
    validate: list[tuple[ast.Expr, YScalar | None]] = field(default_factory=list)
    model: str | None = None  # the fixed `provider:model`, or None when it is read from the unit
    model_from: ast.Expr | None = None  # the unit path a per-unit model is read from (compiler/frontend/models.py)
    models: list[str] = field(default_factory=list)  # every model the step may use


@record_class(eq=False)
class ExportFile:
    """`export` with settings: which rows go to the file `octoc results DIR --export` writes, and where."""
    where: ast.Expr | None = None
    file: str | None = None  # relative to the run directory, .jsonl or .csv
    units: str = "done"  # done: only units that are done (and not skipped at a step the export reads); all
    reads: tuple[str, ...] = ()  # the steps the columns and `where` read


@record_class(eq=False)
class Program:
    source: Source
    root: YMap
    name: str = ""
    seed: int = 0
    data: dict[str, DataTable] = field(default_factory=dict)
    units: UnitsSpec | None = None
    steps: dict[str, Step] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # steps in dependency order
    judges: dict[str, list[str]] = field(default_factory=dict)  # judged step → its verdict steps (judges, gates)
    loops: Any = None  # compiler.loops.Loops: the retry loops and every step's `waits_for` (set by check)
    export: list[tuple[str, ast.Expr]] = field(default_factory=list)
    export_file: "ExportFile | None" = None  # `export` with settings (columns:, where:, file:, units:)
    defaults: dict[str, Any] = field(default_factory=dict)
    budget_usd: float | None = None
