"""Offline token estimates.

No provider's tokenizer is available offline for every model (OpenAI's BPE
files are downloaded at first use; Anthropic's and Google's are not public),
so octo estimates with a rule shaped like BPE tokenizers on English text:
a run of letters is one token per six letters (rounded up), digits one token
per group of three, and a run of other visible characters one token per two.
Measured by `bench/bench_tokens.py` against OpenAI's cl100k_base: +7% on
English prose, +1% on the examples' prompts, about 7% mean absolute error per
text — slightly high on purpose, the safe side for a cost preview.
"""

from __future__ import annotations

import math
import re

_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]+")
LETTERS_PER_TOKEN = 6
SYMBOLS_PER_TOKEN = 2
MESSAGE_OVERHEAD = 4  # role and separators per message, as chat formats add


def count_tokens(text: str) -> int:
    n = 0
    for piece in _PIECES.findall(text):
        if piece[0].isalpha():
            n += math.ceil(len(piece) / LETTERS_PER_TOKEN)
        elif piece[0].isdigit():
            n += 1
        else:
            n += math.ceil(len(piece) / SYMBOLS_PER_TOKEN)
    return n
