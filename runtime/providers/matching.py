"""Attaching a batch's answers to its requests: by key, and only by key.

Every provider's results name the request they answer: OpenAI and Anthropic
lines carry their ``custom_id``, Gemini's inline answers their ``metadata.key``
and its file lines their ``key``. An answer is attached to a request only when
its key proves it: the key is one of the batch's and no other answer carries
it. Nothing is attached by position, because a provider may answer out of
order, or drop the keys (googleapis/python-genai #1909, #2008).

What cannot be attached:
- an answer without a key, with a key not in the batch, or with a key two
  answers share is **stray**: it answers something, nobody can say what;
- a request with no answer proven to be its own is **unmatched** when the
  batch has stray answers (one of them may be its answer, unproven), and
  *never ran* when it has none.

An unmatched request comes back as ``Outcome(unmatched=True)``: the sender
sends it again without spending a try (bounded: runtime/unmatched.py). The
stray answers were billed all the same, so their usage is shared out over the
unmatched outcomes, and the run's cost stays what the provider charged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Callable

from .base import Outcome, Usage


def attach(answers: list[tuple[str | None, Outcome]], custom_ids: list[str],
           never_ran: Callable[[str], Outcome], provider: str) -> list[Outcome]:
    """An outcome per custom id, in order: its own answer, an unmatched outcome, or ``never_ran(cid)``.

    ``answers``: (the key the provider echoed, or None; the outcome read from that answer)."""
    wanted = set(custom_ids)
    seen = Counter(key for key, _ in answers if key is not None)
    proven = {key: outcome for key, outcome in answers if key in wanted and seen[key] == 1}
    stray = [outcome for key, outcome in answers if key not in proven]
    unmatched = [cid for cid in custom_ids if cid not in proven] if stray else []
    shares = iter(_shares(sum_usage(o.usage for o in stray), len(unmatched)))
    why = _why_unmatched(answers, wanted, seen, provider)
    out = []
    for cid in custom_ids:
        if cid in proven:
            out.append(replace(proven[cid], custom_id=cid))
        elif stray:
            out.append(Outcome(cid, usage=next(shares), error=why, retryable=True, unmatched=True))
        else:
            out.append(never_ran(cid))
    return out


def _why_unmatched(answers, wanted: set[str], seen: Counter, provider: str) -> str:
    keyless = sum(1 for key, _ in answers if key is None)
    foreign = sum(1 for key, _ in answers if key is not None and key not in wanted)
    shared = sum(1 for key in seen if key in wanted and seen[key] > 1)
    parts = [f"{what}: {n}" for n, what in ((keyless, "without a key"), (foreign, "with a key not in the batch"),
                                           (shared, "keys on more than one answer")) if n]
    return (f"{provider}: no answer came back under this request's key (answers {'; '.join(parts)}); "
            "octo attaches an answer only by its key")


def sum_usage(usages) -> Usage:
    total = Usage()
    for u in usages:
        total = Usage(total.input + u.input, total.cached_input + u.cached_input, total.output + u.output,
                      total.reasoning + u.reasoning)
    return total


def _shares(total: Usage, n: int) -> list[Usage]:
    """``total`` split into ``n`` whole-token parts that add up to it exactly."""
    if n == 0:
        return []
    parts = [dict(input=0, cached_input=0, output=0, reasoning=0) for _ in range(n)]
    for name in parts[0]:
        whole, left = divmod(getattr(total, name), n)
        for i, part in enumerate(parts):
            part[name] = whole + (1 if i < left else 0)
    return [Usage(**p) for p in parts]
