"""Fault injection: what goes wrong, and how often, when the emulator answers.

A spec is a comma-separated list of ``name=value``:

| name | value | effect |
|---|---|---|
| ``errored`` | fraction | that share of requests answers with a per-request server error |
| ``malformed`` | fraction | that share answers with JSON cut off mid-way |
| ``invalid`` | fraction | that share answers with JSON that violates the schema |
| ``expire`` | count | the first N batches expire with half their requests never run |
| ``fail`` | count | the first N batches fail as a whole (none of their requests run) |
| ``slow`` | polls | every batch needs that many polls before it ends (default 1) |
| ``submit_429``, ``submit_5xx`` | count | the first N batch submissions answer HTTP 429 / 503 |
| ``poll_429``, ``poll_5xx`` | count | the first N batch polls answer 429 / 503 |
| ``call_429``, ``call_5xx`` | count | the first N realtime calls answer 429 / 503 |
| ``nokeys`` | count | the first N Gemini batches answer without keys (inline: no ``metadata``; file: no ``key``) |
| ``shuffle`` | count | the first N Gemini batches answer out of order (inline and file) |
| ``org_limit`` | count | the first N batch creations fail or are refused for an organisation-wide limit, each provider's way (OpenAI: the batch fails with ``token_limit_exceeded``; Anthropic, Gemini: HTTP 429 on create; see ``capacity.py``) |
| ``enqueued`` | limit | a batch that would take its queue over N fails or is refused the same way (0: no limit): input tokens per model (OpenAI, Gemini), requests across models (Anthropic) |

A fraction is a number from 0 to 1 (the three add up to at most 1), a count a
whole number from 0 to 1,000,000,000; anything else is refused with a message.

Per-request faults are drawn from the request's own deterministic stream, so
the same requests in the same order meet the same faults.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields

RATES = ("errored", "malformed", "invalid")
COUNTS = ("expire", "fail", "slow", "submit_429", "submit_5xx", "poll_429", "poll_5xx", "call_429", "call_5xx",
          "nokeys", "shuffle", "org_limit", "enqueued")


MAX_COUNT = 1_000_000_000


class FaultSpecError(ValueError):
    pass


def _value(name: str, raw: str) -> float | int:
    """A fault's value: a fraction from 0 to 1 for a rate, a whole number from 0 to
    MAX_COUNT for a count; anything else (NaN and infinities included) is refused."""
    if name in RATES:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not 0 <= value <= 1:  # NaN fails every comparison
            raise FaultSpecError(f"fault '{name}' needs a fraction from 0 to 1, not '{raw}'")
        return value
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_COUNT:
        raise FaultSpecError(f"fault '{name}' needs a whole number from 0 to {MAX_COUNT:,}, not '{raw}'")
    return value


@dataclass
class Faults:
    errored: float = 0.0
    malformed: float = 0.0
    invalid: float = 0.0
    expire: int = 0
    fail: int = 0
    slow: int = 1
    submit_429: int = 0
    submit_5xx: int = 0
    poll_429: int = 0
    poll_5xx: int = 0
    call_429: int = 0
    call_5xx: int = 0
    nokeys: int = 0    # Gemini answers without metadata / key (googleapis/python-genai #2008)
    shuffle: int = 0   # Gemini answers out of order (googleapis/python-genai #1909)
    org_limit: int = 0  # batch creations failed or refused for an organisation-wide limit (capacity.py)
    enqueued: int = 0   # the organisation's batch queue limit (capacity.py); 0: none

    def __post_init__(self):
        self._lock = threading.Lock()

    @staticmethod
    def parse(spec: str | None) -> "Faults":
        faults = Faults()
        for item in filter(None, (part.strip() for part in (spec or "").split(","))):
            name, eq, raw = item.partition("=")
            name = name.strip()
            if not eq or name not in RATES + COUNTS:
                known = ", ".join(RATES + COUNTS)
                raise FaultSpecError(f"unknown fault '{item}': expected name=value with name one of {known}")
            setattr(faults, name, _value(name, raw.strip()))
        if sum(getattr(faults, r) for r in RATES) > 1:
            raise FaultSpecError("errored + malformed + invalid add up to more than 1")
        return faults

    def take(self, name: str) -> bool:
        """Use up one of the first-N faults called ``name``; True if this call gets it."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def request_fault(self, roll: float, has_schema: bool) -> str | None:
        """Which per-request fault a request with uniform ``roll`` meets, if any."""
        edge = 0.0
        for name in RATES:
            edge += getattr(self, name)
            if roll < edge:
                return None if name == "invalid" and not has_schema else name
        return None

    def describe(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                 if getattr(self, f.name) != f.default]
        return ", ".join(parts) or "none"
