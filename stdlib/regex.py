"""Regular expressions of the expression language, on RE2 (``google-re2``).

A `.octo` file may come from someone else, so a pattern must never run for
hours the way a backtracking engine (Python's ``re``) can on ``(a+)+$``. RE2
matches in time linear in the text, and here every call is bounded further:

- a pattern has at most MAX_PATTERN characters and its compiled program at most
  MAX_MEM bytes (RE2's own budget, which also caps the DFA's cache);
- one scan of a text costs at most (instructions of the program) × (characters
  of the text): when that product exceeds MAX_SCAN_WORK the call fails rather
  than take seconds (RE2 falls back to its slower NFA when the DFA's cache is
  exhausted, and the NFA's step costs grow with the program);
- iterating matches (`findall`, `sub`) repeats scans, which can add up to a
  quadratic total for some patterns: the unit's CPU clock is read between
  matches, so the run's CPU budget per unit (OCTO_CPU_SECONDS) stops it;
- results (items, characters) stay within MAX_ITEMS.

Failures are EvalErrors in plain words: one unit fails, never the run. Literal
patterns are checked by the compiler (:func:`literal_findings`) with the same
rules, so most mistakes never reach a run.
"""

from __future__ import annotations

import functools
import re

import re2

from octo.compiler.expressions.evalerror import MAX_ITEMS, EvalError
from octo.compiler.expressions.cpuclock import CLOCK
from octo.compiler.expressions.functions import ArgFinding

MAX_PATTERN = 10_000  # characters of one pattern
MAX_MEM = 8 << 20  # bytes RE2 may use for one compiled pattern (its program and DFA cache)
MAX_SCAN_WORK = 200_000_000  # program instructions × text characters one scan may cost (about a second)
_CACHE = 32  # compiled patterns kept (each within MAX_MEM)
_FEW = 10_000_000  # below this much work a scan takes microseconds: the clock is read every _EVERY matches
_EVERY = 64


class PatternError(Exception):
    """A pattern RE2 does not take: ``code`` is the diagnostic a literal pattern gets."""

    def __init__(self, code: str, message: str, hint: str = "", part: str = ""):
        super().__init__(message)
        self.code, self.message, self.hint, self.part = code, message, hint, part


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # errors are raised and reported, never printed by RE2
    options.max_mem = MAX_MEM
    return options


_OPTIONS = _options()


@functools.lru_cache(maxsize=_CACHE)
def _compile(pattern: str):
    return re2.compile(pattern, _OPTIONS)


def compiled(pattern: str):
    """The compiled pattern; PatternError when RE2 refuses it (or it is too long)."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError("E0225", f"the pattern has {len(pattern):,} characters; the limit is {MAX_PATTERN:,}",
                           "look for fewer alternatives at once, or test them one by one")
    try:
        return _compile(pattern)
    except re2.error as err:
        raise _explain(_error_text(err)) from None


def _error_text(err: Exception) -> str:
    arg = err.args[0] if err.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)


_LOOKAROUND = {"(?=": "a lookahead", "(?!": "a negative lookahead", "(?<=": "a lookbehind",
               "(?<!": "a negative lookbehind", "(?>": "an atomic group"}
_LINEAR = "octo's regular expressions (RE2) match in linear time, so they have no backtracking features"


def _explain(text: str) -> PatternError:
    """RE2's error text (``missing ): (a``) as a diagnostic's code, message, hint and the part at fault."""
    what, _, part = text.partition(": ")
    if what == "invalid perl operator" and part in _LOOKAROUND:
        return PatternError("E0224", f"{_LOOKAROUND[part]}, {part}...), is not supported", _LINEAR
                            + "; match more and pick a group, or test twice (matches(s, a) and not matches(s, b))", part)
    if what == "invalid escape sequence" and re.fullmatch(r"\\[1-9]", part):
        return PatternError("E0224", f"a backreference ({part}) is not supported", _LINEAR
                            + "; compare the groups' texts instead (search(s, p, 1) == search(s, p, 2))", part)
    if what == "invalid escape sequence" and part == "\\Z":
        return PatternError("E0224", "\\Z is not supported", "write \\z for the end of the text", part)
    if what == "bad repetition operator" and part in ("++", "*+", "?+"):
        return PatternError("E0224", f"a possessive repetition ({part}) is not supported", _LINEAR, part)
    if what == "invalid repetition size":
        return PatternError("E0225", f"a repetition count {part} is too large; the limit is {{1000}}",
                            "repeat a smaller group, or check the length separately with len()", part)
    if "pattern too large" in text:
        return PatternError("E0225", f"the pattern compiles to a program of more than {MAX_MEM >> 20} MiB",
                            "use fewer or smaller repetitions and alternatives")
    return PatternError("E0223", f"invalid regular expression: {text}",
                        "see docs/language.md, Regular expressions, for the syntax", part)


# --- groups ---------------------------------------------------------------------------------

def group_of(rx, group, fn: str) -> int:
    """Which group's text a call returns: ``group`` when given (a number or a name); else the
    whole match for a pattern without groups and the group for a pattern of one (as Python's
    ``re.findall``); a pattern of several groups needs ``group``."""
    if group is None:
        if rx.groups > 1:
            raise EvalError(f"{fn}(): the pattern has {rx.groups} groups, so say which one to return, "
                            f"e.g. {fn}(s, pattern, 1); make the others non-capturing with (?:...)")
        return rx.groups
    if isinstance(group, bool) or not isinstance(group, (int, str)):
        raise EvalError(f"{fn}(): the group must be a number or a name, not {type(group).__name__}")
    if isinstance(group, str):
        if group not in rx.groupindex:
            names = ", ".join(sorted(rx.groupindex)) or "none"
            raise EvalError(f"{fn}(): the pattern has no group named {group!r} (its named groups: {names})")
        return rx.groupindex[group]
    if not 0 <= group <= rx.groups:
        raise EvalError(f"{fn}(): the pattern has no group {group}; its groups are 0 (the whole match) "
                        f"to {rx.groups}")
    return group


# --- bounded scans ----------------------------------------------------------------------------

def _guard(rx, text: str, fn: str) -> int:
    """The work of one scan of ``text``; EvalError when it is over MAX_SCAN_WORK."""
    work = rx.programsize * max(1, len(text))
    if work > MAX_SCAN_WORK:
        raise EvalError(f"{fn}(): the pattern is too complex for a text this long: {rx.programsize:,} "
                        f"instructions × {len(text):,} characters is over the limit of {MAX_SCAN_WORK:,}; "
                        f"look at a part of the text (e.g. s[:100000]) or simplify the pattern")
    return work


def first(rx, text: str, fn: str):
    """The first match, or None."""
    _guard(rx, text, fn)
    return rx.search(text)


def every(rx, text: str, fn: str, limit: int = 0):
    """The matches, left to right (at most ``limit`` when it is positive), with the CPU clock read
    between them and at most MAX_ITEMS of them."""
    every_n = 1 if _guard(rx, text, fn) > _FEW else _EVERY
    for n, match in enumerate(rx.finditer(text), 1):
        yield match
        if n == limit:
            return
        if n % every_n == 0 and CLOCK.spent():
            raise EvalError(f"{fn}(): {CLOCK.message()}")
        if n >= MAX_ITEMS:
            raise EvalError(f"{fn}(): more than {MAX_ITEMS:,} matches; the limit is {MAX_ITEMS:,}")


# --- replacement templates ----------------------------------------------------------------------

_TEMPLATE_PART = r"\\(?:g<([^>]*)>|([0-9]{1,2})|(.)|$)"  # compiled by re on first use: `check` never needs it
_ESCAPES = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


class Ref(tuple):
    """A group a replacement refers to: ``Ref((1,))`` or ``Ref(('name',))``."""

    @property
    def group(self):
        return self[0]


@functools.lru_cache(maxsize=_CACHE)
def template(replacement: str) -> tuple:
    """A replacement as pieces: strings, and a :class:`Ref` for each group it refers to (``\\1``,
    ``\\g<1>``, ``\\g<name>``); ValueError in words for an escape it does not know."""
    pieces, at = [], 0
    for m in re.finditer(_TEMPLATE_PART, replacement, re.S):
        pieces.append(replacement[at:m.start()])
        at = m.end()
        name, number, char = m.group(1), m.group(2), m.group(3)
        if name is not None:
            if not name:
                raise ValueError("an empty group name in \\g<>")
            pieces.append(Ref((int(name) if name.isdigit() else name,)))
        elif number is not None:
            pieces.append(Ref((int(number),)))
        elif char in _ESCAPES:
            pieces.append(_ESCAPES[char])
        else:
            shown = "\\" + (char or "")
            raise ValueError(f"unknown escape {shown} in the replacement; write \\\\ for a backslash")
    pieces.append(replacement[at:])
    return tuple(p for p in pieces if p != "")


def missing_group(rx, pieces: tuple) -> str:
    """Words for the first group the replacement refers to that the pattern does not have, or ''."""
    for p in pieces:
        if not isinstance(p, Ref):
            continue
        if isinstance(p.group, int) and p.group > rx.groups:
            return (f"the replacement refers to group {p.group}, but the pattern has "
                    f"{rx.groups} group{'s' if rx.groups != 1 else ''}")
        if isinstance(p.group, str) and p.group not in rx.groupindex:
            return f"the replacement refers to group {p.group!r}, which the pattern does not name"
    return ""


def expand(pieces: tuple, match) -> str:
    """The replacement for one match (a group that took no part gives '')."""
    if len(pieces) == 1 and not isinstance(pieces[0], Ref):
        return pieces[0]
    return "".join((match.group(p.group) or "") if isinstance(p, Ref) else p for p in pieces)


# --- the compiler's checks of literal arguments --------------------------------------------------

def literal_findings(fn: str, pattern_at: int, group_at: int | None = None, replacement_at: int | None = None):
    """A check of the literal arguments of a regex function (``Function.check_literals``): the pattern
    at ``pattern_at``; the group (findall, search) or the replacement (sub) when literal."""
    def check(values, unknown) -> list[ArgFinding]:
        pattern = values[pattern_at] if pattern_at < len(values) else unknown
        if not isinstance(pattern, str):
            return []
        findings = _escape_warnings(pattern, pattern_at)
        try:
            rx = compiled(pattern)
        except PatternError as err:
            return findings + [ArgFinding(pattern_at, err.code, err.message, label="RE2 cannot compile this",
                                          hint=err.hint, part=err.part)]
        if group_at is not None:
            findings += _group_findings(rx, values, group_at, unknown, fn)
        if replacement_at is not None and replacement_at < len(values) and isinstance(values[replacement_at], str):
            findings += _escape_warnings(values[replacement_at], replacement_at, "the replacement")
            findings += _replacement_findings(rx, values[replacement_at], replacement_at)
        return findings
    return check


def _group_findings(rx, values, at: int, unknown, fn: str) -> list[ArgFinding]:
    group = values[at] if at < len(values) else None
    if group is unknown:
        return []
    try:
        group_of(rx, group, fn)
    except EvalError as err:
        words = err.message.split(": ", 1)[1]
        where = at if at < len(values) else 1
        return [ArgFinding(where, "E0226", words, label="no such group" if at < len(values) else "",
                           hint="groups are numbered from 1 by their opening parenthesis; 0 is the whole match")]
    return []


def _replacement_findings(rx, replacement: str, at: int) -> list[ArgFinding]:
    try:
        missing = missing_group(rx, template(replacement))
    except ValueError as err:
        return [ArgFinding(at, "E0226", f"invalid replacement: {err}",
                           hint="refer to groups as \\1 or \\g<name>; write \\\\ for a backslash")]
    if missing:
        return [ArgFinding(at, "E0226", missing,
                           hint="groups are numbered from 1 by their opening parenthesis; 0 is the whole match")]
    return []


_SWALLOWED = {"\b": "\\b", "\a": "\\a", "\0": "\\0", "\1": "\\1", "\2": "\\2", "\3": "\\3", "\4": "\\4",
              "\5": "\\5", "\6": "\\6", "\7": "\\7", "\f": "\\f", "\v": "\\v"}


def _escape_warnings(text: str, at: int, what: str = "the regular expression") -> list[ArgFinding]:
    """W0414: a control character that a string escape made (``'\\b'`` is a backspace, not a word boundary)."""
    for char, escape in _SWALLOWED.items():
        if char in text:
            return [ArgFinding(at, "W0414", f"the string escape {escape} made the control character U+{ord(char):04X}, "
                                            f"so {what} never sees {escape}",
                               label=f"{escape} became U+{ord(char):04X}",
                               hint=f"double the backslash to pass {escape} on: write \\{escape}")]
    return []
