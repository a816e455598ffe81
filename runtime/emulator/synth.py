"""Synthetic answers: a value for a JSON Schema, and free text.

Everything here is a pure function of its arguments and a ``random.Random``,
so the emulator's answers are deterministic per request and seed. The tokens
they are billed for are counted by runtime/emulator/usage.py (re-exported here).
"""

from __future__ import annotations

import json
import random

from .usage import EmuUsage, tokens  # noqa: F401  (re-exported: wires and tests use synth.*)
from .values import sentence, value_for  # noqa: F401

def free_text(rng: random.Random) -> str:
    return "[synthetic] " + " ".join(sentence(rng, 4, 12) for _ in range(rng.randint(1, 3)))


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
