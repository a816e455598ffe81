"""The answers file of `octoc run --provider emulator --answers FILE`: scripted answers per step.

A YAML mapping from provider step names to one of (docs/run.md, "Scripted answers"):

    draft:
      answer: {reply: "Thanks!", escalate: false}   # the same answer for every unit
    review:
      choose:                                        # one of these, drawn per unit, round and try
        - {ok: true, reason: fine}
        - {ok: false, reason: too curt}
    shanty:
      template: |                                    # rendered with what the step's prompt sees
        {"verse": "What shall we do with {{ unit.sailor }}?", "mood": "comic"}

For a step with an output, an answer is a mapping (sent as JSON) or a string of
JSON; a template's text is read as JSON, else as a YAML mapping. For a free-text
step, an answer is the text. Everything that can be checked before the run is
checked here, each problem with its file:line:col; a template that fails for one
unit fails that unit's answer at run time (runtime/scripted.py), never the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.render import render_text
from octo.compiler.base.source import Source
from octo.compiler.base.suggest import did_you_mean
from octo.compiler.base.yamlnodes import YMap, YNode, YScalar, YSeq, to_python
from octo.compiler.frontend.kinds import template_lines
from octo.compiler.frontend.loader import load

from .work.templating import Place, UnitTemplate

KINDS = ("answer", "choose", "template")
MAX_BYTES = 16 * 1024 * 1024  # an answers file is written by hand; anything larger is a mistake


class AnswersFileError(Exception):
    """The answers file cannot be used: every problem found, each a line of its own, placed where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class StepScript:
    step: str
    kind: str                        # answer | choose | template
    at: str                          # file:line:col of the step's entry
    structured: bool                 # the step has an output schema: answers are JSON objects
    answers: list[str] = field(default_factory=list)  # answer: one; choose: each (JSON or text, as sent)
    template: UnitTemplate | None = None


@dataclass
class Script:
    path: str
    steps: dict[str, StepScript]


def load_answers(path: str | Path, plan) -> Script:
    """The answers file at ``path``, checked against the run's ``plan``; AnswersFileError says what is wrong."""
    source = _read(Path(path))
    reporter = Reporter()
    root = load(source, reporter)
    if reporter.diagnostics:  # YAML that does not parse: the loader's own words, placed
        raise AnswersFileError([render_text(d).strip() for d in reporter.sorted()])
    if root is None:
        raise AnswersFileError([f"{path}: the answers file is empty; write `STEP: {{answer: ...}}` per step "
                                "to script (docs/run.md, \"Scripted answers\")"])
    if not isinstance(root, YMap):
        raise AnswersFileError([f"{_at(root)}: the answers file must be a mapping of step names to answers, "
                                f"not {root.kind}"])
    steps = {s["name"]: s for s in plan.steps if s["runs"] == "provider"}
    problems, scripts = [], {}
    for key, value in root.items:
        try:
            scripts[str(key.value)] = _step(str(key.value), key, value, steps)
        except AnswersFileError as err:
            problems += err.problems
    if problems:
        raise AnswersFileError(problems)
    return Script(str(path), scripts)


def _read(path: Path) -> Source:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise AnswersFileError([f"{path}: the answers file is larger than {MAX_BYTES // 1024 // 1024} MiB"])
        return Source.read(path)
    except OSError as err:
        raise AnswersFileError([f"{path}: cannot read the answers file: {err.strerror or err}"]) from None
    except UnicodeDecodeError:
        raise AnswersFileError([f"{path}: the answers file is not UTF-8 text"]) from None


def _step(name: str, key: YScalar, value: YNode, steps: dict) -> StepScript:
    if name not in steps:
        hint = did_you_mean(name, steps)
        known = ", ".join(steps) or "none"
        raise AnswersFileError([f"{_at(key)}: '{name}' is not a step that asks a model"
                                + (f"; {hint}" if hint else "") + f" (provider steps: {known})"])
    structured = steps[name]["config"].get("output_schema") is not None
    given = dict(value.items) if isinstance(value, YMap) else {}
    kinds = [k for k in given if k.value in KINDS]
    extra = [k for k in given if k.value not in KINDS]
    if not isinstance(value, YMap) or len(kinds) != 1 or extra:
        where = extra[0] if extra else value
        raise AnswersFileError([f"{_at(where)}: step '{name}' needs exactly one of `answer: VALUE`, "
                                f"`choose: [VALUE, ...]` or `template: TEXT`"
                                + (f", not `{extra[0].value}`" if extra else "")])
    kind_key = kinds[0]
    script = StepScript(name, str(kind_key.value), _at(key), structured)
    node = given[kind_key]
    if script.kind == "answer":
        script.answers = [_answer(node, name, structured)]
    elif script.kind == "choose":
        if not isinstance(node, YSeq) or not node.items:
            raise AnswersFileError([f"{_at(node)}: `choose` of step '{name}' needs a non-empty list of answers"])
        problems, answers = [], []
        for item in node.items:
            try:
                answers.append(_answer(item, name, structured))
            except AnswersFileError as err:
                problems += err.problems
        if problems:
            raise AnswersFileError(problems)
        script.answers = answers
    else:
        script.template = _template(node, name)
    return script


def _answer(node: YNode, step: str, structured: bool) -> str:
    """One fixed answer as the model's text: JSON for a step with an output, the text itself otherwise."""
    value = to_python(node)
    if not structured:
        if isinstance(value, (dict, list)) or value is None:
            raise AnswersFileError([f"{_at(node)}: step '{step}' answers in free text: give its answer as a "
                                    f"string, not {node.kind}"])
        return str(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise AnswersFileError([f"{_at(node)}: the answer of step '{step}' is a string that does not parse as "
                                    f"JSON ({err.msg} at character {err.pos}); write it as a YAML mapping, "
                                    "e.g. {reply: \"...\"}"]) from None
    if not isinstance(value, dict):
        raise AnswersFileError([f"{_at(node)}: step '{step}' has an output: its answer must be a mapping of its "
                                f"fields, not {type(value).__name__}"])
    return json.dumps(value, ensure_ascii=False)


def _template(node: YNode, step: str) -> UnitTemplate:
    if not isinstance(node, YScalar) or not isinstance(node.value, str):
        raise AnswersFileError([f"{_at(node)}: `template` of step '{step}' must be text (a Jinja2 template)"])
    place = Place(node.span.path, node.span.line, node.span.column,
                  tuple(tuple(x) for x in template_lines(node)))
    try:
        return UnitTemplate(node.value, place)
    except Exception as err:  # a syntax error, placed on its line
        line = getattr(err, "lineno", 1) or 1
        message = getattr(err, "message", None) or str(err)
        raise AnswersFileError([f"{place.where(line, 0)}: the template of step '{step}' does not compile: "
                                f"{message}"]) from None


def parse_rendered(text: str, structured: bool) -> str:
    """A template's text as the model's answer: for a step with an output, JSON (or YAML) of a mapping."""
    if not structured:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"its text is neither JSON nor YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"its text is not a mapping of the step's fields: {text.strip()[:80]!r}")
    return json.dumps(value, ensure_ascii=False)


def _at(node: YNode) -> str:
    return f"{node.span.path}:{node.span.line}:{node.span.column}"
