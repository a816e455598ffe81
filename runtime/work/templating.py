"""Rendering a Plan's templates for one unit: whatever goes wrong is that unit's failure, in words.

A template that checks clean can still fail for one unit — a division by zero,
a range the sandbox refuses, an attribute it forbids, a missing field of an
`any` value. :class:`UnitTemplate` renders it and turns every such failure into
:class:`TemplateFailure`, whose message says what went wrong and where, as
``file:line:col``: the template's line comes from the traceback frames Jinja
rewrites to the template's own lines, and the plan's template record (``at``,
and ``lines``: where each of its lines starts in the file) maps it to the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from octo.compiler.expressions.codegen import EvalError
from octo.compiler.expressions.templates import make_environment

_ENV = make_environment()
_FILENAME = "<template>"  # what Jinja names the frames of a template made from a string
_TAG = re.compile(r"\{\{.*?\}\}|\{%-?\s*(\w*).*?%\}")
_CLOSING = {"endfor", "endif", "else", "endwith", "endmacro", "endset", "endfilter", "endcall", "endblock", "endraw"}
_MAX_QUOTE = 80


class TemplateFailure(Exception):
    """A template that did not render for a unit: the reason, with its position."""


@dataclass(frozen=True)
class Place:
    """Where a template is written: ``at`` (file:line:col of its value) and where each of its lines starts."""

    path: str
    line: int
    column: int
    lines: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def of(at: str, lines=None) -> "Place":
        path, line, column = _split_at(at)
        return Place(path, line, column, tuple(tuple(x) for x in lines or ()))

    def where(self, template_line: int, offset: int) -> str:
        """``file:line:col`` of character ``offset`` of the template's line ``template_line`` (1-based)."""
        if 0 < template_line <= len(self.lines):
            line, column = self.lines[template_line - 1]
            return f"{self.path}:{line}:{column + offset}"
        if template_line <= 1:  # a plan without `lines`: positions as for expressions (evalsupport._where)
            return f"{self.path}:{self.line}:{self.column + offset}"
        return f"{self.path}:{self.line + template_line - 1}:{offset + 1}"


class UnitTemplate:
    """One template of a step, compiled once, rendered per unit."""

    def __init__(self, text: str, place: Place):
        self.text = text
        self.place = place
        self._template = _ENV.from_string(text)

    @staticmethod
    def of(record: dict) -> "UnitTemplate":
        """From a Plan template record ``{"text", "at", "lines"?}``."""
        return UnitTemplate(record["text"], Place.of(record["at"], record.get("lines")))

    def render(self, env: dict) -> str:
        try:
            return self._template.render(env)
        except Exception as err:  # every failure of a template is the unit's, never the run's
            raise TemplateFailure(self._reason(err)) from None

    def _reason(self, err: Exception) -> str:
        line = _template_line(err)
        text_lines = self.text.split("\n")
        source = text_lines[line - 1] if 0 < line <= len(text_lines) else ""
        tags = [m for m in _TAG.finditer(source) if (m.group(1) or "") not in _CLOSING]
        if len(tags) == 1:  # one tag on that line: it is the one that failed
            tag = tags[0]
            quoted = " ".join(tag.group(0).split())
            quote = f" in `{quoted}`" if len(quoted) <= _MAX_QUOTE else ""
            return f"{plain_message(err)}{quote} at {self.place.where(line, tag.start())}"
        start = len(source) - len(source.lstrip())
        return f"{plain_message(err)} at {self.place.where(max(line, 1), start)}"


def message_template(rule: dict) -> UnitTemplate | None:
    """The message of a Plan `validate` rule, compiled (placed in the file when the Plan says where)."""
    if not rule.get("message"):
        return None
    return UnitTemplate.of({"text": rule["message"], "at": rule["rule"]["at"], "lines": rule.get("message_lines")})


def rule_message(message: UnitTemplate | None, scope: dict) -> str:
    """The message of a `validate` rule that is false for a unit (raises TemplateFailure)."""
    return message.render(scope).strip() if message is not None else "a validate rule failed"


def unrendered_message(rule, err: TemplateFailure) -> str:
    """A unit's reason when its `validate` rule is false and the rule's message fails too."""
    return (f"validate rule `{rule.expr.span.text()}` at {rule.where()} is false for this unit, "
            f"and its message did not render: {err}")


def _template_line(err: BaseException) -> int:
    """The template line the innermost template frame of ``err``'s traceback was running (0: none)."""
    line, tb = 0, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _split_at(at: str) -> tuple[str, int, int]:
    path, _, rest = at.rpartition(":")
    path2, _, line = path.rpartition(":")
    try:
        return path2, int(line), int(rest)
    except ValueError:
        return at, 1, 1


# --- messages in words -----------------------------------------------------------------------

_KINDS = {"dict": "a record", "list": "a list", "str": "a string", "int": "a whole number", "float": "a number",
          "bool": "a boolean", "NoneType": "null", "None": "null", "tuple": "a list", "set": "a set",
          "range": "a range", "method": "a method", "function": "a function",
          "builtin_function_or_method": "a function"}


def _kind(name: str) -> str:
    return _KINDS.get(name, f"a value of kind '{name}'")


def plain_message(err: BaseException) -> str:
    """What went wrong, in words: never only an exception's class name, never Jinja's own phrasing."""
    if isinstance(err, EvalError):
        return err.message
    if isinstance(err, ZeroDivisionError):
        return "division by zero"
    if isinstance(err, MemoryError):
        return "out of memory"
    if isinstance(err, RecursionError):
        return "nested too deeply"
    text = str(getattr(err, "message", None) or err)
    if "Range too big" in text:
        return "a range of more than 100,000 numbers (the template sandbox's limit)"
    if "no loader for this environment" in text:
        return "a template cannot include, import or extend another template"
    if type(err).__name__ == "SecurityError":
        return f"the template sandbox does not allow this ({_words(text).rstrip('.')})"
    if type(err).__name__ == "UndefinedError":
        return _undefined(text)
    if isinstance(err, OverflowError):
        return f"a number too large ({_words(text)})"
    return _words(text) or f"the template failed ({type(err).__name__})"


def _undefined(text: str) -> str:
    m = re.fullmatch(r"'(.+)' is undefined", text)
    if m:
        return f"no value named '{m.group(1)}'"
    m = re.fullmatch(r"'(.+?)'(?: object)? has no attribute '(.+)'", text)
    if m:
        owner = m.group(1)
        owner = _kind(owner[:-len(" object")]) if owner.endswith(" object") else _kind(owner)
        return f"{owner} has no field '{m.group(2)}'"
    return _words(text)


def _words(text: str) -> str:
    """Python's names of kinds of values, said as the language says them."""
    m = re.fullmatch(r"unsupported operand type\(s\) for (\S+): '(\w+)' and '(\w+)'", text)
    if m:
        return f"cannot apply '{m.group(1)}' to {_kind(m.group(2))} and {_kind(m.group(3))}"
    text = re.sub(r"^(\w+) object has no element", lambda m: f"{_kind(m.group(1))} has no element", text)
    text = re.sub(r"'(\w+) object'", lambda m: _kind(m.group(1)), text)
    text = re.sub(r"'(\w+)' object", lambda m: _kind(m.group(1)), text)
    return text.replace("NoneType", "null").replace("'None'", "null")
