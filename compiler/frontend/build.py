"""Reading the document's sections into a :class:`Program` (before typing)."""

from __future__ import annotations

from pathlib import Path

from ..base.diagnostics import Label, Reporter
from ..base.source import Source
from ..base.yamlnodes import YMap, YScalar
from .data import load_table
from .capabilities import request_setting
from .language import COMMON_SETTINGS, REQUEST_SETTINGS, RESERVED_NAMES, Language
from .program import Program, Step
from .units import read_units

# settings that may be written beside the kind or inside its mapping (as in LANGUAGE.md)
_MOVABLE = ("model", "mode", "output", "retries")


def build_program(root: YMap, source: Source, language: Language, reporter: Reporter) -> Program:
    program = Program(source=source, root=root)
    _read_header(program, root)
    base_dir = Path(source.path).parent
    data = root.get("data")
    if isinstance(data, YMap):
        for key, value in data.items:
            _check_name(key, "data table", reporter)
            program.data[key.value] = load_table(key.value, key, value, base_dir, reporter)
    program.units = read_units(root.get("units"), program.data, reporter)
    steps = root.get("steps")
    if isinstance(steps, YMap):
        for key, value in steps.items:
            step = _read_step(key, value, language, reporter)
            if step is not None:
                program.steps[step.name] = step
    return program


def _read_header(program: Program, root: YMap) -> None:
    for attr, key, typ in (("name", "name", str), ("seed", "seed", int)):
        node = root.get(key)
        value = node.value if isinstance(node, YScalar) else None
        if typ is int and isinstance(value, float) and value.is_integer():
            value = int(value)  # `seed: 1.0` is seed 1 (JSON Schema's integers include 1.0): the same streams
        if isinstance(value, typ) and not isinstance(value, bool):
            setattr(program, attr, value)
    if not program.name:
        program.name = Path(program.source.path).stem.replace("_", "-") or "pipeline"
    defaults = root.get("defaults")
    if isinstance(defaults, YMap):
        program.defaults = {k.value: v.value for k, v in defaults.items if isinstance(v, YScalar)}
        program.defaults.update({k: request_setting(k, defaults.get(k)) for k in REQUEST_SETTINGS
                                 if request_setting(k, defaults.get(k)) is not None})
    budget = root.get("budget")
    if isinstance(budget, YMap) and isinstance(budget.get("max_usd"), YScalar):
        value = budget.get("max_usd").value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            program.budget_usd = float(value)


def _check_name(key: YScalar, what: str, reporter: Reporter) -> None:
    # A built-in function's name is free: functions are only ever called (`title(s)`) and names only read
    # (`title.text`), so the two never meet, and a new built-in never breaks a pipeline that used its name.
    if key.value in RESERVED_NAMES:
        reporter.report("E0109", key.span, f"'{key.value}' is a reserved name and cannot name a {what}")


def _read_step(key: YScalar, node, language: Language, reporter: Reporter) -> Step | None:
    if not isinstance(node, YMap):
        return None  # reported by the structure check
    _check_name(key, "step", reporter)
    kinds = [(k, v) for k, v in node.items if k.value in language.kinds]
    if len(kinds) != 1:
        return None  # E0105, reported by the structure check
    kind_key, config = kinds[0]
    step = Step(key.value, key.span, kind_key.value, kind_key.span, node, config)
    kind = language.kinds[kind_key.value]
    for k, v in node.items:
        if k.value in COMMON_SETTINGS:
            if k.value not in ("when", "validate", "unique_by") and k.value not in kind.settings:
                reporter.report("E0101", k.span, f"a {kind.name} step has no setting '{k.value}'",
                                hint=_setting_hint(kind.name, k.value))
                continue
            step.settings[k.value], step.setting_keys[k.value] = v, k
    if isinstance(config, YMap):
        for k, v in config.items:
            if k.value not in _MOVABLE:
                continue
            if k.value in step.settings:
                reporter.report("E0107", k.span, f"'{k.value}' is given twice for step '{step.name}'",
                                labels=[Label(step.setting_keys[k.value].span, "also given here")],
                                hint="keep one of them")
                continue
            step.settings[k.value], step.setting_keys[k.value] = v, k
    return step


def _setting_hint(kind: str, setting: str) -> str:
    if setting in ("model", "mode"):
        return f"{kind} runs locally; only generate and judge steps call a model"
    if setting == "output" and kind == "compute":
        return "a compute step's names are its outputs"
    return ""
