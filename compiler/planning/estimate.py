"""Cost estimates for provider steps: tokens per request, requests, dollars.

Method (docs/plan.md):
- input tokens: the prompt (and system prompt) rendered for a sample of real
  units, upstream outputs filled with typical values of their declared types,
  plus the output schema sent for structured output, plus a message overhead;
- output tokens: from the output schema (a typical size per field type), or
  for free text a typical reply; the worst case is `max_tokens` where set;
- requests: units that reach the step × tries; judge verdicts re-run the
  judged step up to `attempts` times, invalid outputs are retried up to
  `retries` times. Expected counts assume the rates below; worst cases assume
  every try fails but the last.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..expressions.templates import make_environment
from ..expressions.types import ANY, BOOL, FLOAT, INT, MAX_LIST_ITEMS, MAX_STRING_LENGTH, STR, EnumT, ListT, OptionalT, RecordT, SetT, Type
from .tokens import count_tokens, message_tokens, schema_tokens

JUDGE_FAIL_RATE = 0.2  # share of verdicts assumed to fail, for the expected case
INVALID_OUTPUT_RATE = 0.05  # share of outputs assumed invalid (or errored), for the expected case
DEFAULT_RETRIES = 2  # re-tries of an invalid output when a step sets no `retries`
FREE_TEXT_TOKENS = 300  # a typical free-text reply
FREE_TEXT_WORST = 4096  # free text without max_tokens
STR_FIELD_TOKENS = 40  # a typical string field of a structured output
DEFAULT_LIST_ITEMS = 3  # a list without declared item counts
TYPICAL_VALUE_ITEMS = 1_000  # at most this many items in all of one typical value (its lists nested included)


_PROSE = " ".join(["lorem", "ipsum", "dolor", "sit"] * 30)
_PROSE_TOKENS_PER_CHAR = count_tokens(_PROSE) / len(_PROSE)  # the token rule's rate on a typical string value


@dataclass
class Tries:
    expected: float
    worst: int

    def __mul__(self, other: "Tries") -> "Tries":
        return Tries(self.expected * other.expected, self.worst * other.worst)


def geometric(rate: float, tries: int) -> float:
    """Expected tries when each fails with ``rate`` and at most ``tries`` are made."""
    return sum(rate ** i for i in range(tries))


def judge_tries(attempts: int) -> Tries:
    return Tries(geometric(JUDGE_FAIL_RATE, attempts), attempts)


def validation_tries(retries: int) -> Tries:
    return Tries(geometric(INVALID_OUTPUT_RATE, retries + 1), retries + 1)


# --- tokens ------------------------------------------------------------------------------

def expected_items(min_items: int | None, max_items: int | None) -> float:
    """The typical item count of a list with these declared counts: the midpoint of [min, max]
    (a missing minimum is 0); with no maximum, 3 or the minimum, whichever is more."""
    if max_items is None:
        return max(min_items or 0, DEFAULT_LIST_ITEMS)
    return ((min_items or 0) + max_items) / 2


def typical_value(t: Type, provider_output: bool = False, lists: int = 0, room: int = TYPICAL_VALUE_ITEMS) -> Any:
    """A value of type ``t`` of typical size, to render prompts with.

    A list with declared item counts holds the expected count (:func:`expected_items`). A list
    without holds 3 items, and inside another list 1: three items at every level would make a
    type of n nested lists a value of 3ⁿ items. ``room`` caps the items of the whole value, so
    large declared counts, nested, cannot build a value of millions of items.
    """
    if isinstance(t, OptionalT):
        return typical_value(t.inner, provider_output, lists, room)
    if isinstance(t, EnumT):
        return t.values[0]
    if isinstance(t, RecordT):
        return {k: typical_value(v, provider_output, lists, room) for k, v in t.fields}
    if isinstance(t, (ListT, SetT)):
        if isinstance(t, ListT) and t.bounded:
            count = round(expected_items(t.min_items, t.max_items))
        else:
            count = DEFAULT_LIST_ITEMS if lists == 0 else 1
        count = min(count, room)
        inner = room // count if count else room
        return [typical_value(t.elem, provider_output, lists + 1, inner) for _ in range(count)]
    if t == INT:
        return 42
    if t == FLOAT:
        return 0.5
    if t == BOOL:
        return True
    if t == STR:
        words = STR_FIELD_TOKENS if provider_output else 3
        return " ".join(["lorem", "ipsum", "dolor", "sit"] * (words // 4 + 1))[: words * 5]
    return "x"


def output_tokens(schema: dict | None, max_tokens: int | None) -> tuple[int, int]:
    """(expected, worst) output tokens per request."""
    if schema is None:
        expected = min(FREE_TEXT_TOKENS, max_tokens or FREE_TEXT_TOKENS)
        return expected, max_tokens or FREE_TEXT_WORST
    expected = _schema_tokens(schema)
    worst = max_tokens or max(4 * expected, 256)
    return min(expected, worst), worst


def _schema_tokens(schema: dict) -> int:
    if "anyOf" in schema:
        return max(_schema_tokens(s) for s in schema["anyOf"])
    if "enum" in schema:
        return max(count_tokens(json.dumps(v)) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return 2 + sum(count_tokens(json.dumps(k)) + 2 + _schema_tokens(v) for k, v in props.items())
    if kind == "array":
        return 2 + round(_schema_items(schema) * (_schema_tokens(schema.get("items", {})) + 1))
    if kind == "string":
        return _string_tokens(schema)
    if kind in ("integer", "number"):
        return 3
    if kind == "boolean":
        return 1
    return 5


def _string_tokens(schema: dict) -> int:
    """The expected tokens of a string field: about 40, or from its declared lengths (`str[min, max]`,
    `minLength`/`maxLength`) the midpoint of its characters (a missing minimum is 0); with no maximum,
    40 tokens or the minimum's, whichever is more. Characters count as typical prose does."""
    def length(key: str) -> int | None:
        value = schema.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        return int(min(value, MAX_STRING_LENGTH)) if ok else None

    low, high = length("minLength"), length("maxLength")
    if high is None:
        return max(STR_FIELD_TOKENS, math.ceil((low or 0) * _PROSE_TOKENS_PER_CHAR))
    chars = ((low or 0) + max(high, low or 0)) / 2
    return max(1, math.ceil(chars * _PROSE_TOKENS_PER_CHAR))


def _schema_items(schema: dict) -> float:
    """The expected item count of an array schema, from its `minItems`/`maxItems` (the declared
    item counts of `list[T][min, max]`, or a schema file's)."""
    def count(key: str) -> int | None:  # no answer holds more than MAX_LIST_ITEMS items
        value = schema.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        return int(min(value, MAX_LIST_ITEMS)) if ok else None  # min() also takes an infinite count

    low, high = count("minItems"), count("maxItems")
    return expected_items(low, high if high is None or low is None or high >= low else low)


@dataclass
class PromptSample:
    tokens: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> int:
        return round(sum(self.tokens) / len(self.tokens)) if self.tokens else 0


def prompt_tokens(prompt: str, system: str | None, schema: dict | None, contexts: list[dict]) -> PromptSample:
    """Input tokens per request, from the templates rendered for sample units."""
    env = make_environment()
    sample = PromptSample()
    fixed = message_tokens(bool(system)) + schema_tokens(schema)
    templates = [env.from_string(t) for t in (prompt, system) if t]
    for context in contexts:
        try:
            rendered = [t.render(context) for t in templates]
        except Exception as err:  # an error a run would report per unit; estimate from the text
            sample.notes.append(f"a prompt did not render for a sample unit ({type(err).__name__}: {err}); "
                                "counted the template text instead")
            rendered = [t for t in (prompt, system) if t]
        sample.tokens.append(fixed + sum(count_tokens(r) for r in rendered))
    if not contexts:
        sample.tokens.append(fixed + sum(count_tokens(t) for t in (prompt, system) if t))
    return sample


# --- money ------------------------------------------------------------------------------------

def price_of(model: str, prices: dict) -> dict | None:
    if model.startswith("emulator:"):
        return {"input": 0.0, "cached_input": 0.0, "output": 0.0}
    return prices.get("models", {}).get(model)


def cost(tokens_in: float, tokens_out: float, price: dict | None, discount: float = 1.0) -> float | None:
    if price is None:
        return None
    return (tokens_in * price["input"] + tokens_out * price["output"]) / 1_000_000 * discount
