"""'Did you mean ...?' by edit distance."""

from __future__ import annotations

from typing import Iterable


def distance(a: str, b: str) -> int:
    """Damerau–Levenshtein distance (optimal string alignment)."""
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate within a third of the word's length (at least 1)."""
    best, best_d = None, None
    limit = max(1, len(word) // 3)
    for cand in sorted(set(candidates)):
        if cand == word:
            continue
        d = distance(word.lower(), cand.lower())
        if d <= limit and (best_d is None or d < best_d):
            best, best_d = cand, d
    return best


def did_you_mean(word: str, candidates: Iterable[str], fmt: str = "'{}'") -> str:
    match = closest(word, candidates)
    return f"did you mean {fmt.format(match)}?" if match else ""
