"""Offline token estimates.

No provider's tokenizer is available offline for every model (OpenAI's BPE
files are downloaded at first use; Anthropic's and Google's are not public),
so octo estimates with a rule shaped like BPE tokenizers on English text:
a run of letters is one token per five letters (rounded up), digits are one
token per group of three, and every other visible character is a token of its
own. `bench/bench_tokens.py` measures the error against a real BPE where one
is installed; docs/plan.md states the expected error.
"""

from __future__ import annotations

import math
import re

_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")
MESSAGE_OVERHEAD = 4  # role and separators per message, as chat formats add


def count_tokens(text: str) -> int:
    n = 0
    for piece in _PIECES.findall(text):
        n += math.ceil(len(piece) / 5) if piece[0].isalpha() else 1
    return n
