"""What each model family accepts: the capability table, read, looked up, and turned into what a request sends.

The table itself is data (``stdlib/models.json``, dated, each fact with its source); the standard
library loads it and passes it in through the ``Language``, so the checker, the planner and the runtime
read one table. A family is matched by the model's provider and a glob on its name (``gpt-5*``); the
first family that matches wins, so a user's own families (put first) override the built-in ones. A
model no family matches is *unknown*: nothing is refused for it, and what a step sets is sent as written.

A sampling parameter (``temperature``, ``top_p``, ``seed``) of a family is one of:

- ``{"min": a, "max": b}`` (or ``"accepted"``): sent, and a value outside the range is refused;
- ``"refused"``: the API answers a request that carries it with a 400 — never sent;
- ``"ignored"``: the API (or the SDK octo speaks it through) has no such parameter — never sent.

``reasoning`` is ``null`` for a model that does not reason, else what it takes: ``efforts`` (the words
it accepts), ``budget`` (a token range, ``off``: whether 0 turns thinking off, ``below_max_tokens``:
whether the budget must stay under ``max_tokens``), ``effort_budgets`` (for a model that takes only a
budget: the budget each effort word stands for, as the provider itself maps them), ``always`` (it
reasons when nothing is set) and ``expected_tokens`` (octo's estimate of reasoning tokens per answer,
per effort, for the plan).
"""

from __future__ import annotations

import fnmatch
from dataclasses import field

from ..base.records import record_class
from ..base.yamlnodes import YMap, YScalar

SAMPLING = ("temperature", "top_p", "seed")
# A provider step's max_tokens when it sets none, before room for reasoning (default_max_tokens).
DEFAULT_MAX_TOKENS = 1024        # structured output
DEFAULT_MAX_TOKENS_TEXT = 4096   # free text
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")  # every word any provider takes
ACCEPTED, REFUSED, IGNORED = "accepted", "refused", "ignored"


class TableError(ValueError):
    """A capability table (the built-in one or a user's file) that cannot be read as one."""


@record_class(frozen=True)
class Family:
    provider: str
    match: tuple[str, ...]
    name: str
    params: dict  # temperature / top_p / seed → {"min", "max"} | "accepted" | "refused" | "ignored"
    max_tokens: dict  # {"min": n, "max": n}
    reasoning: dict | None
    structured_output: bool = True
    note: str = ""  # why (for messages), e.g. "a reasoning model"
    context_window: int | None = None  # input and output tokens together (the emulator's window)
    sources: dict = field(default_factory=dict)

    def matches(self, provider: str, name: str) -> bool:
        return provider == self.provider and any(glob_matches(name, p) for p in self.match)

    def param(self, name: str):
        return self.params.get(name, ACCEPTED)

    def reasons_by_default(self) -> bool:
        return bool(self.reasoning and self.reasoning.get("always"))


@record_class(frozen=True)
class CapabilityTable:
    as_of: str
    families: tuple[Family, ...]

    def find(self, model: str) -> Family | None:
        """The family of ``provider:name``, or None for a model the table does not know."""
        provider, _, name = model.partition(":")
        return next((f for f in self.families if f.matches(provider, name)), None)

    def over(self, base: "CapabilityTable") -> "CapabilityTable":
        """This table's families first, then ``base``'s: a user's table overrides and extends the built-in one."""
        return CapabilityTable(self.as_of or base.as_of, self.families + base.families)


def glob_matches(name: str, pattern: str) -> bool:
    """``fnmatch.fnmatchcase(name, pattern)``. fnmatch compiles each pattern to a regular expression
    (~17 of them for one `check`); a pattern of literal text and `*` alone, as the tables' are, is
    matched here by its pieces in order instead (the leftmost place of each piece is the right one)."""
    if "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    if "*" not in pattern:
        return name == pattern
    first, *middle, last = pattern.split("*")
    start, end = len(first), len(name) - len(last)
    if end < start or not name.startswith(first) or not name.endswith(last):
        return False
    for piece in middle:
        at = name.find(piece, start, end)
        if at < 0:
            return False
        start = at + len(piece)
    return True


def table_from_json(data, where: str) -> CapabilityTable:
    """Read a capability table; ``where`` names it in errors (a file name, or "the built-in table")."""
    if not isinstance(data, dict) or not isinstance(data.get("families"), list):
        raise TableError(f"{where} must be a JSON object with a \"families\" list")
    return CapabilityTable(str(data.get("as_of", "")), tuple(_family(f, i, where) for i, f in enumerate(data["families"])))


def _family(raw, i: int, where: str) -> Family:
    at = f"{where}: family {i + 1}"
    if not isinstance(raw, dict):
        raise TableError(f"{at} must be an object")
    match = raw.get("match")
    if isinstance(match, str):
        match = [match]
    if not isinstance(raw.get("provider"), str) or not isinstance(match, list) or not match \
            or not all(isinstance(m, str) and m for m in match):
        raise TableError(f"{at} needs \"provider\" (a string) and \"match\" (a model-name glob, or a list of them)")
    at = f"{where}: family {raw['provider']}:{match[0]}"
    params = {name: _param(raw.get(name, ACCEPTED), f"{at}: \"{name}\"") for name in SAMPLING}
    bounds = raw.get("max_tokens", {})
    if not isinstance(bounds, dict) or not all(_whole(bounds.get(k, 1)) for k in ("min", "max")):
        raise TableError(f"{at}: \"max_tokens\" must be {{\"min\": N, \"max\": N}} (whole numbers)")
    return Family(raw["provider"], tuple(match), str(raw.get("name") or match[0]), params,
                  {"min": bounds.get("min", 1), "max": bounds.get("max")}, _reasoning(raw.get("reasoning"), at),
                  structured_output=raw.get("structured_output", True) is not False, note=str(raw.get("note", "")),
                  sources=raw.get("sources") if isinstance(raw.get("sources"), dict) else {},
                  context_window=raw.get("context_window") if _whole(raw.get("context_window")) else None)


def _param(value, at: str):
    if value in (ACCEPTED, REFUSED, IGNORED):
        return value
    if isinstance(value, dict) and set(value) <= {"min", "max"} and all(_number(v) for v in value.values()):
        return value
    raise TableError(f"{at} must be \"accepted\", \"refused\", \"ignored\" or {{\"min\": a, \"max\": b}}")


def _reasoning(value, at: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TableError(f"{at}: \"reasoning\" must be null or an object")
    efforts = value.get("efforts", [])
    if not isinstance(efforts, list) or not all(e in EFFORTS for e in efforts):
        raise TableError(f"{at}: \"reasoning.efforts\" must list words among {', '.join(EFFORTS)}")
    budget = value.get("budget")
    if budget is not None and not (isinstance(budget, dict) and all(_whole(budget.get(k, 0)) for k in ("min", "max"))):
        raise TableError(f"{at}: \"reasoning.budget\" must be {{\"min\": N, \"max\": N, \"off\": bool}}")
    for key in ("effort_budgets", "expected_tokens"):
        table = value.get(key, {})
        if not isinstance(table, dict) or not all(k in EFFORTS + ("default",) and _whole(v) for k, v in table.items()):
            raise TableError(f"{at}: \"reasoning.{key}\" must map effort words to whole numbers")
    return value


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _whole(x) -> bool:
    return x is None or (isinstance(x, int) and not isinstance(x, bool) and x >= 0)


# --- a step's settings, as the plan carries them -----------------------------------------------

def request_setting(name: str, node):
    """A request setting's value as the plan carries it: a number, or for `reasoning` an
    ``{"effort", "budget"}`` record; None when absent or not of its type (the structure check says so)."""
    if name == "reasoning":
        return _reasoning_setting(node)
    value = node.value if isinstance(node, YScalar) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return int(value) if name in ("seed", "max_tokens") and float(value).is_integer() else value


def _reasoning_setting(node) -> dict | None:
    """`reasoning: low` → {"effort": "low"}; `reasoning: {effort: low, budget: 2048}` as written."""
    if isinstance(node, YScalar):
        return {"effort": node.value} if node.value in EFFORTS else None
    if not isinstance(node, YMap):
        return None
    out = {}
    for key, value in node.items:
        v = value.value if isinstance(value, YScalar) else None
        if key.value == "effort" and v in EFFORTS:
            out["effort"] = v
        elif key.value == "budget" and isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer():
            out["budget"] = int(v)
    return out or None


# --- what a request sends --------------------------------------------------------------------

@record_class(frozen=True)
class Problem:
    """A setting a model will refuse: which part of it (``part``: "effort" or "budget") and why."""

    part: str
    message: str
    hint: str = ""


def in_range(spec, value) -> bool:
    if not isinstance(spec, dict):
        return spec == ACCEPTED
    return spec.get("min", value) <= value <= spec.get("max", value)


def sampling_to_send(family: Family | None, name: str, value):
    """``value`` if a request to a model of ``family`` may carry it, else None (refused, ignored, out of range)."""
    if value is None or family is None:
        return value
    return value if in_range(family.param(name), value) else None


def reasoning_to_send(family: Family | None, effort: str | None, budget: int | None, model: str = ""
                      ) -> tuple[str | None, int | None, list[Problem]]:
    """(the effort word, the thinking budget) a request to ``family`` carries for a step's ``reasoning``,
    and what the model would refuse. Given both an effort and a budget, each model takes what it accepts
    (both, when it takes both); an effort on a model that takes only a budget becomes the budget the
    provider maps it to. An unknown model gets what is written. ``model`` names it in messages."""
    if family is None:
        return effort, budget, []
    if effort is None and budget is None:
        return None, None, []
    spec, who = family.reasoning, model or f"{family.provider}:{family.name}"
    if spec is None:
        if effort in (None, "none") and budget in (None, 0):
            return None, None, []  # "no reasoning" asked of a model that does not reason: nothing to send
        return None, None, [Problem("effort" if effort is not None else "budget",
                                    f"{who} does not reason, so it takes no reasoning setting",
                                    "remove `reasoning`, or use a reasoning model")]
    efforts, bounds, mapped = spec.get("efforts") or [], spec.get("budget"), spec.get("effort_budgets") or {}
    send_effort = send_budget = None
    problems: list[Problem] = []
    if effort is not None:
        if effort in efforts:
            send_effort = effort
        elif budget is None and effort in mapped:
            send_budget = mapped[effort]
        elif efforts or mapped:
            words = efforts or list(mapped)
            problems.append(Problem("effort", f"{who} does not take the effort '{effort}'",
                                    f"it takes {_words(words)}"))
        elif budget is None:
            problems.append(Problem("effort", f"{who} takes a thinking budget, not an effort",
                                    f"write `reasoning: {{budget: {bounds.get('min') or 1024}}}` (tokens)"))
    if budget is not None:
        if bounds is not None:
            send_budget = budget
        elif effort is None:
            problems.append(Problem("budget", f"{who} takes an effort, not a thinking budget",
                                    f"write `reasoning: {efforts[0] if efforts else 'low'}` ({_words(efforts)})"))
    if send_budget is not None and bounds is not None:
        problems += _budget_problems(who, bounds, send_budget, "budget" if budget is not None else "effort")
    return send_effort, send_budget, problems


def _budget_problems(who: str, bounds: dict, budget: int, part: str) -> list[Problem]:
    if budget == 0:
        if bounds.get("off"):
            return []
        return [Problem(part, f"{who} cannot turn thinking off (a budget of 0)",
                        f"give a budget from {bounds.get('min')} to {bounds.get('max')}")]
    low, high = bounds.get("min", 0), bounds.get("max")
    if budget < low or (high is not None and budget > high):
        return [Problem(part, f"{who} takes a thinking budget from {low:,} to {high:,} tokens, not {budget:,}",
                        "0 turns thinking off" if bounds.get("off") else "")]
    return []


def _words(words) -> str:
    words = [f"'{w}'" for w in words]
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1] if words else "none"


def default_max_tokens(family: Family | None, structured: bool, effort: str | None = None,
                       budget: int | None = None) -> int:
    """max_tokens for a step that sets none: 1,024 for structured output, 4,096 for free text, plus room for
    the model's reasoning, which counts toward it — the whole thinking budget when one is sent, else the
    table's estimate — so a default never leaves a reasoning model too little to answer in."""
    base = DEFAULT_MAX_TOKENS if structured else DEFAULT_MAX_TOKENS_TEXT
    if family is None or family.reasoning is None:
        return base
    _, send_budget, problems = reasoning_to_send(family, effort, budget)
    room = send_budget if send_budget is not None and not problems else expected_reasoning_tokens(family, effort, budget)
    high = family.max_tokens.get("max")
    return min(base + room, high) if high else base + room


def expected_reasoning_tokens(family: Family | None, effort: str | None, budget: int | None) -> int:
    """octo's estimate of the reasoning tokens of one answer (for the plan): 0 for a model that does
    not reason; half a thinking budget; else the table's estimate for the effort (or its default)."""
    if family is None or family.reasoning is None:
        return 0
    send_effort, send_budget, _ = reasoning_to_send(family, effort, budget)
    if send_budget is not None:
        return send_budget // 2
    expected = family.reasoning.get("expected_tokens") or {}
    if send_effort is not None:
        return expected.get(send_effort, expected.get("default", 0))
    return expected.get("default", 0) if family.reasons_by_default() else 0
