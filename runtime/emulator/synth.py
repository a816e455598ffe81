"""Synthetic answers: a value for a JSON Schema, free text, and the token-usage rule.

Everything here is a pure function of its arguments and a ``random.Random``,
so the emulator's answers are deterministic per request and seed.

The usage rule (documented in docs/providers.md):
- ``tokens(s) = ceil(utf8 bytes of s / 4)``;
- input tokens = tokens(system) + tokens(prompt) + 3;
- cached input = tokens(system) // 2 when there is a system prompt (a stand-in
  for a prefix-cache hit, so cached pricing is exercised);
- output tokens = tokens(answer text);
- reasoning tokens = 32 for reasoning models (OpenAI ``o1``/``o3``/``o4``/``gpt-5``,
  Gemini ``2.5``/``3``), else 0; they are billed as output on top of the answer.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass

_WORDS = ("anchor harbour lantern tide rope gull keel compass salt storm deck sail wave "
          "ledger beacon morning quiet steady bright river stone signal window garden").split()

REASONING_TOKENS = 32
_REASONING_MODEL = re.compile(r"^(o[1-9]|gpt-5|gemini-(2\.5|3))")


def tokens(text: str | None) -> int:
    return math.ceil(len(text.encode("utf-8")) / 4) if text else 0


@dataclass(frozen=True)
class EmuUsage:
    input: int        # all input tokens, cached included
    cached: int       # of which read from the (pretend) cache
    output: int       # answer tokens, reasoning excluded
    reasoning: int

    @staticmethod
    def of(model: str, system: str | None, prompt: str, text: str | None) -> "EmuUsage":
        cached = tokens(system) // 2 if system else 0
        reasoning = REASONING_TOKENS if _REASONING_MODEL.match(model) else 0
        return EmuUsage(tokens(system) + tokens(prompt) + 3, cached, tokens(text), reasoning)


def sentence(rng: random.Random, low: int = 4, high: int = 12) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + "."


def free_text(rng: random.Random) -> str:
    return "[synthetic] " + " ".join(sentence(rng) for _ in range(rng.randint(1, 3)))


def value_for(schema: dict, rng: random.Random, depth: int = 0):
    """A value valid against ``schema`` (the subset octo emits, plus common keywords)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return value_for(rng.choice(schema[key]), rng, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"] or ["null"]
        kind = rng.choice(non_null)
    return _BY_TYPE.get(kind, lambda s, r, d: None)(schema, rng, depth)


def _object(schema, rng, depth):
    required = set(schema.get("required", []))
    return {name: value_for(sub, rng, depth + 1) for name, sub in schema.get("properties", {}).items()
            if name in required or rng.random() < 0.5}


def _array(schema, rng, depth):
    low = schema.get("minItems", 0)
    high = max(low, min(schema.get("maxItems", low + 3), low + 3))
    return [value_for(schema.get("items", {}), rng, depth + 1) for _ in range(rng.randint(low, high))]


def _string(schema, rng, depth):
    text = " ".join(sentence(rng, 5, 14) for _ in range(rng.randint(1, 3)))
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    while len(text) < low:
        text += " " + sentence(rng)
    return text[:high] if high is not None else text


def _integer(schema, rng, depth):
    low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1 if "exclusiveMinimum" in schema else 0)
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 101) - 1 if "exclusiveMaximum" in schema else low + 100)
    return rng.randint(math.ceil(low), math.floor(high))


def _number(schema, rng, depth):
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0.0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100.0))
    return round(rng.uniform(low, high), 3)


_BY_TYPE = {
    "object": _object, "array": _array, "string": _string, "integer": _integer, "number": _number,
    "boolean": lambda s, r, d: r.random() < 0.5, "null": lambda s, r, d: None,
}


def answer_text(schema: dict | None, rng: random.Random) -> str:
    """The model's text: JSON for a schema, prose otherwise."""
    if schema is None:
        return free_text(rng)
    return json.dumps(value_for(schema, rng), ensure_ascii=False)


def malformed(text: str) -> str:
    """JSON cut off mid-way, as a model that ran out of tokens writes it."""
    return text[: max(1, len(text) // 2)]


def violating(schema: dict | None, rng: random.Random) -> str:
    """Well-formed JSON that does not satisfy ``schema`` (a required field missing or of the wrong type)."""
    value = value_for(schema or {}, rng)
    if isinstance(value, dict) and value:
        victim = sorted(value)[0]
        if rng.random() < 0.5:
            del value[victim]
        else:
            value[victim] = {"unexpected": True}
        return json.dumps(value)
    return json.dumps({"unexpected": [1, 2, 3]})
