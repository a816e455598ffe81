"""Failure reasons grouped by what failed, not by their text.

A unit's reason quotes its own values — ``rolled 9, more than 8 (validate: `v <= 8`) ...``,
``index 4 out of range for a list of 3 in `xs[i]` at x.octo:18:11`` — so grouping reasons by
their text makes every unit its own group. :func:`classify` reads a reason as the runtime writes
it (dispatch, prompting, unitwork, templating, fanout) and gives its stable part: a **kind**
(a `validate` rule, a schema violation, a provider error, a template or an expression that
raised, ...) and a **rule** — the rule's text and position, the template's or expression's
position, the schema path, the provider's error with its ids masked — plus the per-unit
**detail**. :class:`FailureGroups` counts units per (step, kind, rule) and keeps the first
three of each as examples.

Reasons are read from their text, not from a stored key, so a run made before grouping
existed is grouped too, and nothing in the store changes. The shapes read here are pinned by
tests that produce each reason with the code that writes it (tests/test_report_scale.py).
A reason of no known shape still groups: by its text with quoted values and numbers masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EXAMPLES = 3  # per group

KINDS = {  # kind → how a group's line names it
    "validate": "validate rule",
    "validate-error": "validate rule did not evaluate",
    "schema": "schema violation",
    "not-json": "answer is not JSON",
    "provider": "provider error",
    "template": "template error",
    "pass": "judge's `pass` did not evaluate",
    "model": "no model",
    "unstorable": "cannot be stored",
    "fanout": "fan-out",
    "expression": "expression failed",
    "upstream": "upstream failed",
    "unexpected": "unexpected failure",
    "other": "",
}


@dataclass(frozen=True)
class Failure:
    kind: str    # a key of KINDS
    rule: str    # what failed, the same for every unit it fails: "`v <= 8` at x.octo:11:15"
    detail: str  # this unit's own part of the reason

    @property
    def label(self) -> str:
        """``validate rule `v <= 8` at x.octo:11:15``, ``schema violation: 'move' is a required property``."""
        name = KINDS[self.kind]
        if not name or not self.rule:
            return name or self.rule
        return f"{name}{' ' if self.kind == 'validate' or self.rule.startswith('at ') else ': '}{self.rule}"


_TRIES = re.compile(r" \(after \d+ tr(?:y|ies)\)$")
_POSITION = re.compile(r".+:\d+:\d+")
_UNRENDERED = re.compile(r"^validate rule `(.+?)` at (\S+:\d+:\d+) is false for this unit, and (.*)$", re.S)
_RENDER = re.compile(r"^the (prompt|system|message) did not render: (.*)$", re.S)
_SCHEMA = re.compile(r"^the answer does not match the output schema(?: at (\S+))?: (.*)$", re.S)
_UPSTREAM = re.compile(r"^upstream step '(.+)' failed$")
_FANOUT = re.compile(r"^`each` gave (?:[\d,]+ items?, more than (`max: [\d,]+`)|.*, (not a list))$", re.S)
_OUTPUT = re.compile(r"^output '(.+?)' cannot be stored: (.*)$", re.S)
_PREFIXES = (  # (start of a reason, kind): reasons whose rule is their position, or nothing more
    ("a validate rule failed to evaluate: ", "validate-error"),
    ("`pass` failed to evaluate: ", "pass"),
    ("the answer is not JSON", "not-json"),
    ("the answer is nested too deeply to read", "not-json"),
    ("the model could not be read from the unit", "model"),
    ("the unit's model ", "model"),
    ("an item cannot be stored: ", "unstorable"),
    ("the answer cannot be stored: ", "unstorable"),
    ("this unit failed in an unexpected way", "unexpected"),
    ("the answer could not be checked", "unexpected"),
)


def classify(reason: str, rule_positions: dict[str, str] | None = None) -> Failure:
    """The kind, rule and detail of one reason. ``rule_positions``: rule text → file:line:col of the
    step's `validate` rules, for reasons that quote a rule without its position (a provider step's)."""
    reason = _TRIES.sub("", reason or "")
    if m := _UPSTREAM.match(reason):
        return Failure("upstream", f"step '{m.group(1)}'", reason)
    if reason.startswith("the provider answered with an error: "):
        error = reason[len("the provider answered with an error: "):]
        return Failure("provider", mask_ids(error), error)
    if m := _UNRENDERED.match(reason):
        return Failure("validate", f"`{m.group(1)}` at {m.group(2)}", m.group(3))
    if (v := _validate(reason, rule_positions or {})) is not None:
        return v
    if m := _SCHEMA.match(reason):
        path = re.sub(r"(?<=/)\d+|^\d+(?=/|$)", "*", m.group(1) or "")
        return Failure("schema", (f"at {path}: " if path else "") + _schema_rule(m.group(2)), m.group(2))
    if m := _RENDER.match(reason):
        body, at = _split_position(m.group(2))
        return Failure("template", f"the {m.group(1)} at {at}" if at else f"the {m.group(1)}", body)
    if m := _OUTPUT.match(reason):
        body, at = _split_position(m.group(2))
        return Failure("unstorable", f"output '{m.group(1)}'" + (f" at {at}" if at else ""), body)
    for prefix, kind in _PREFIXES:
        if reason.startswith(prefix):
            body, at = _split_position(reason)
            if kind == "not-json":
                return Failure(kind, "", reason)
            rule = f"at {at}" if at else mask_values(prefix.rstrip(": "))
            return Failure(kind, rule, body[len(prefix):] if prefix.endswith(": ") else body)
    body, at = _split_position(reason)
    quote = body.rfind(" in `")
    if (m := _FANOUT.match(body[:quote] if quote >= 0 else body)) is not None:  # stdlib/fanout.py
        what = f"more items than {m.group(1)}" if m.group(1) else "`each` is not a list"
        source = f" from {body[quote + 4:]}" if quote >= 0 else ""
        return Failure("fanout", what + source + (f" at {at}" if at else ""), body[:quote] if quote >= 0 else body)
    if at:  # an expression that raised: its message, the expression quoted (when short), where it is
        if quote >= 0 and body.endswith("`"):
            return Failure("expression", f"{body[quote + 4:]} at {at}", body[:quote])
        return Failure("expression", f"at {at}", body)
    return Failure("other", mask_values(reason), reason)


def _validate(reason: str, positions: dict[str, str]) -> Failure | None:
    """``MSG (validate: `RULE`)``, then (a local step's) `` in `RULE` at F``; a fan-out's item ``item N: ...``."""
    start = reason.rfind(" (validate: `")
    if start < 0:
        return None
    end = reason.find("`)", start + 13)
    if end < 0:
        return None
    rule = reason[start + 13:end]
    _, at = _split_position(reason[end + 2:])
    at = at or positions.get(rule)
    return Failure("validate", f"`{rule}`" + (f" at {at}" if at else ""), reason[:start])


def _split_position(text: str) -> tuple[str, str | None]:
    """``(text without it, file:line:col)`` of a text ending in `` at file:line:col``."""
    cut = text.rfind(" at ")
    if cut >= 0 and _POSITION.fullmatch(text[cut + 4:]):
        return text[:cut], text[cut + 4:]
    return text, None


# jsonschema's messages start with the instance (this unit's value), then say what the schema wants
_SCHEMA_WANTS = (" is not of type ", " is not one of ", " is not valid under any of the given schemas",
                 " is greater than", " is less than", " is too long", " is too short", " does not match ",
                 " should be non-empty", " is a multiple of", " is not a multiple of", " is not allowed for ",
                 " has non-unique elements", " is not a ", " should not be valid under ")


def _schema_rule(message: str) -> str:
    for wants in _SCHEMA_WANTS:
        at = message.find(wants)
        if at > 0:
            return "…" + message[at:]
    if m := re.match(r"^\d+ items where (.*)$", message, re.S):
        return "N items where " + m.group(1)
    if m := re.match(r"^Additional properties are not allowed \(.*\)$", message, re.S):
        return "additional properties are not allowed"
    return message  # "'name' is a required property": the property is the schema's, not the unit's


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,_]*(?:\.\d+)?(?![\w.])")
_ID = re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{12,}\b")


def mask_values(text: str) -> str:
    """A text with its quoted values and numbers replaced by …: what is left is the same for every unit."""
    return _NUMBER.sub("…", _QUOTED.sub("…", " ".join(text.split())))


def mask_ids(text: str) -> str:
    """A provider's error with its ids (batch, request, file) replaced by …; codes such as 500 stay."""
    return _ID.sub("…", " ".join(text.split()))


@dataclass
class Group:
    step: str
    failure: Failure
    units: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)  # (unit position, reason), the first 3


class FailureGroups:
    """Failed results counted per (step, kind, rule), the first few units of each kept as examples."""

    def __init__(self, plan):
        self._positions = {s["name"]: {v["rule"]["text"]: v["rule"]["at"] for v in s.get("validate") or ()}
                           for s in plan.steps}
        self._groups: dict[tuple[str, str, str], Group] = {}
        self._seen: dict[tuple[str, str | None], Failure] = {}

    def add(self, step: str, unit: int, reason: str | None) -> None:
        failure = self._seen.get((step, reason))
        if failure is None:
            failure = classify(reason or "", self._positions.get(step))
            if len(self._seen) < 10_000:  # reasons repeat (a blocked step, a division by zero): read each once
                self._seen[(step, reason)] = failure
        key = (step, failure.kind, failure.rule)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(step, failure)
        group.units += 1
        if len(group.examples) < EXAMPLES:
            group.examples.append((unit, reason or ""))

    def groups(self, step_order: list[str]) -> list[Group]:
        """Largest first; ties in step order, then by label."""
        rank = {s: i for i, s in enumerate(step_order)}
        return sorted(self._groups.values(), key=lambda g: (-g.units, rank.get(g.step, len(rank)), g.failure.label))


# --- reading a run ----------------------------------------------------------------------------

def failure_groups(store, plan, state: str = "failed") -> list[Group]:
    """The failed (or ``blocked``) results of every per-unit step of a run, grouped."""
    names = [s["name"] for s in plan.steps if s["kind"] != "aggregate"]
    groups = FailureGroups(plan)
    for name in names:
        for pos, reason in store.db.execute("SELECT unit, reason FROM results WHERE step = ? AND state = ? "
                                            "ORDER BY unit", (name, state)):
            groups.add(name, pos, reason)
    return groups.groups(names)


def upstream_step(group: Group) -> str | None:
    """The step whose failure blocked a group of blocked results."""
    m = _UPSTREAM.match(group.examples[0][1]) if group.examples else None
    return m.group(1) if m else None


def unreached(store, plan, scopes, step: dict) -> dict:
    """Why a computed aggregate has no group: ``{"units", "failed", "at": {step: units}, "note"}``.

    A unit reaches an aggregate when every step it reads succeeded for it; each unit that did not is
    counted at the first step (in plan order) that failed for it."""
    scope = scopes.scope[step["name"]]
    total = scopes.unit_total(store, scope)
    if total == 0:
        note = ("no unit reached this aggregate: the run has no units" if scope == "" else
                f"no unit reached this aggregate: fan-out '{scope}' made no child units"
                + _fanout_parents(store, scopes, scope))
        return {"units": 0, "failed": 0, "at": {}, "note": note}
    upstream = _upstream(plan, step["name"])
    order = [s["name"] for s in plan.steps if s["name"] in upstream and scopes.scope[s["name"]] == scope]
    at = _first_failures(store, scopes, scope, order)
    failed = sum(at.values())
    where = _at_steps(at)
    if failed == total:
        note = f"no unit reached this aggregate: all {total:,} {_units(total)} failed {where}"
    elif failed:
        note = (f"no unit reached this aggregate: {failed:,} of {total:,} {_units(total)} failed {where}; "
                f"its `when` left out the rest")
    else:
        note = f"no unit reached this aggregate: its `when` left out all {total:,} {_units(total)}"
    return {"units": total, "failed": failed, "at": at, "note": note}


def _units(n: int) -> str:
    return "unit" if n == 1 else "units"


def _at_steps(at: dict[str, int]) -> str:
    if len(at) == 1:
        return f"at step '{next(iter(at))}'"
    return "(" + ", ".join(f"{n:,} at step '{s}'" for s, n in at.items()) + ")"


def _upstream(plan, name: str) -> set[str]:
    """Every step ``name`` reads, directly or through other steps."""
    deps = {s["name"]: s["depends_on"] for s in plan.steps}
    seen, todo = set(), list(deps[name])
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(deps.get(d, ()))
    return seen


def _first_failures(store, scopes, scope: str, order: list[str]) -> dict[str, int]:
    """Per step of ``order``: the units of ``scope`` for which it is the first of them that failed."""
    if not order:
        return {}
    rank = " ".join(f"WHEN ? THEN {i}" for i in range(len(order)))
    marks = ",".join("?" * len(order))
    rows = store.db.execute(
        f"SELECT first, count(*) FROM (SELECT min(CASE step {rank} END) AS first FROM results r JOIN units u "
        f"ON u.pos = r.unit WHERE r.state = 'failed' AND r.step IN ({marks}){scopes.units_filter(store, scope)} "
        f"GROUP BY r.unit) GROUP BY first ORDER BY first", (*order, *order))
    return {order[i]: n for i, n in rows}


def _fanout_parents(store, scopes, fanout: str) -> str:
    counts = scopes.counts(store, fanout)
    total = scopes.unit_total(store, scopes.scope[fanout])
    bad = counts["failed"] + counts["blocked"]
    return f" ({bad:,} of its {total:,} {_units(total)} failed)" if bad else ""


# --- text --------------------------------------------------------------------------------------

def failure_lines(failures: list[dict], blocked: list[dict], width: int = 160) -> list[str]:
    """The report's failures: a line per group, then up to three example units with their own part;
    then the steps that did not run for units because a step they read failed."""
    lines = []
    if failures:
        units = sum(f["units"] for f in failures)
        lines.append(f"failures: {units:,} failed {'result' if units == 1 else 'results'} in {len(failures)} "
                     f"{'group' if len(failures) == 1 else 'groups'} (by step, kind and rule)")
    for f in failures:
        lines.append(f"  {f['units']:,} × {f['step']}: {f['label']}")
        for e in f["examples"]:
            lines.append(f"      {e['unit']}: {clip(example_detail(f, e['reason']), width)}")
        if f["units"] > len(f["examples"]):
            lines.append(f"      … and {f['units'] - len(f['examples']):,} more")
    if blocked:
        lines.append("not run, as a step they read failed:")
    for b in blocked:
        lines.append(f"  {b['units']:,} × {b['step']}: step '{b['upstream']}' failed (e.g. {', '.join(b['examples'])})")
    return lines


def example_detail(group: dict, reason: str) -> str:
    """An example's own part of its reason (the group's line says the rest)."""
    detail = classify(reason).detail
    return detail if detail and group["kind"] not in ("not-json", "upstream") else _TRIES.sub("", reason)


def clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"
