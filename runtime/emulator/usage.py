"""The emulator's usage rule: the tokens a provider would bill for a request and its answer.

A pure function of the request as it arrived on the wire and of the answer's
text, so the emulator's list-price cost is a fair check of `octoc plan`'s
estimate (docs/providers.md, "Usage rule", which gives the sources):

- **text**: a cheap per-character rule, no tokenizer (none is available
  offline for every provider): an ASCII character is ¼ token (the providers'
  "about 4 characters per token" of English); a character UTF-8 writes in 2
  bytes (accented Latin, Greek, Cyrillic, Hebrew, Arabic) ½; in 3 bytes (CJK,
  kana, Hangul, Indic scripts) 1; in 4 bytes (emoji) 2 — rounded up per text;
- **input** = text(system) + text(prompt) + the output schema (its compact JSON
  without `required`, `additionalProperties` and `$schema`, + 9) + 3 per
  message (system, user) + 3 priming the reply;
- **cached input**: the request's prefix that is the same for every unit of a
  step (the message overheads, system prompt and schema), rounded down to 128
  tokens, when it reaches the provider's smallest cacheable prompt (OpenAI
  1,024 tokens, Gemini 2.5 2,048 and later 4,096); Anthropic caches only a
  prefix a request marks with `cache_control` (1,024 tokens at least, 2,048
  for Haiku), which octo never sends;
- **output** = text(answer), plus **reasoning** tokens: what the capability
  table (stdlib/models.json) expects of the model for the reasoning the request
  carried on the wire (an effort, a thinking budget — half of it —, thinking
  turned off, or the model's default), the same figure `octoc plan` counts, so
  a reasoning model costs in the emulator what the plan says it will; never
  more than `max_tokens` leaves after the answer. A model the table does not
  know reasons for nothing.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

from octo.compiler.frontend.capabilities import expected_reasoning_tokens
from octo.stdlib.capabilities import capability_table


TOKENS_PER_MESSAGE = 3   # role and separators of each message (OpenAI's published chat format)
REPLY_PRIMING = 3        # the assistant turn every reply is primed with
SCHEMA_TOKENS = 9        # the wrapper around an output schema, besides the schema's own text
_NOT_BILLED = ("required", "additionalProperties", "$schema")  # enforced by decoding, not written into the prompt
CACHE_INCREMENT = 128    # OpenAI caches prefixes in steps of 128 tokens
CACHE_MINIMUM = {"openai": 1024, "gemini": 2048, "anthropic": 1024}  # smallest cacheable prompt

# quarter-tokens per character, by the length of its UTF-8 encoding: 1 byte (ASCII) ¼ token, 2 bytes (Latin
# beyond ASCII, Greek, Cyrillic, Hebrew, Arabic) ½, 3 bytes (the rest of the Basic Multilingual Plane: CJK, kana,
# Hangul, Indic scripts) 1, 4 bytes (emoji and other supplementary characters) 2


def tokens(text: str | None) -> int:
    """Tokens of one text by the per-character rule (module docstring)."""
    if not text:
        return 0
    if text.isascii():
        return math.ceil(len(text) / 4)
    return math.ceil(sum(_weight(c) for c in text) / 4)


def _weight(char: str) -> int:
    point = ord(char)
    return 1 if point < 0x80 else 2 if point < 0x800 else 4 if point < 0x10000 else 8


def cut(text: str, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` tokens (an answer stopped at max_tokens)."""
    quarters, budget = 0, limit * 4
    for i, char in enumerate(text):
        quarters += _weight(char)
        if quarters > budget:
            return text[:i]
    return text


def schema_tokens(schema: dict | None) -> int:
    """What an output schema adds to a request's input: its compact JSON (less what only decoding enforces) + 9."""
    if schema is None:
        return 0
    return tokens(json.dumps(_billed(schema), separators=(",", ":"), ensure_ascii=False)) + SCHEMA_TOKENS


def _billed(node):
    if isinstance(node, dict):
        return {k: _billed(v) for k, v in node.items() if k not in _NOT_BILLED}
    if isinstance(node, list):
        return [_billed(v) for v in node]
    return node


def message_tokens(system: str | None) -> int:
    return TOKENS_PER_MESSAGE * (2 if system else 1) + REPLY_PRIMING


@dataclass(frozen=True)
class EmuUsage:
    input: int        # all input tokens, cached included
    cached: int       # of which read from the (pretend) cache
    output: int       # answer tokens, reasoning excluded
    reasoning: int

    @staticmethod
    def of(provider: str, model: str, system: str | None, prompt: str, schema: dict | None, text: str | None,
           cache_marked: bool = False, settings: dict | None = None, max_tokens: int | None = None) -> "EmuUsage":
        """The usage of one answered request, as its provider would bill it (``settings``: the sampling and
        reasoning parameters as they arrived on the wire, see EmuRequest)."""
        prefix = message_tokens(system) + tokens(system) + schema_tokens(schema)
        total = prefix + tokens(prompt)
        answer = tokens(text)
        reasoning = reasoning_tokens(provider, model, settings or {})
        if max_tokens is not None:
            reasoning = max(0, min(reasoning, max_tokens - answer))
        return EmuUsage(total, cached_tokens(provider, model, prefix, cache_marked), answer, reasoning)


@functools.lru_cache(maxsize=256)
def _family(provider: str, model: str):
    return capability_table().find(f"{provider}:{model}")


def reasoning_tokens(provider: str, model: str, settings: dict) -> int:
    """The reasoning tokens of one answer: the capability table's estimate for the reasoning the request asked
    for (the plan's figure, compiler/frontend/capabilities.py), 0 for a model the table does not know."""
    effort, budget = asked_reasoning(provider, settings)
    return expected_reasoning_tokens(_family(provider, model), effort, budget)


def asked_reasoning(provider: str, settings: dict) -> tuple[str | None, int | None]:
    """(effort, thinking budget) as a request carried them on its provider's wire; None where it set none."""
    if provider == "openai":
        return settings.get("reasoning_effort"), None
    if provider == "anthropic":
        thinking = settings.get("thinking") or {}
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        budget = thinking.get("budget_tokens") if kind == "enabled" else 0 if kind == "disabled" else None
        return settings.get("effort"), budget
    config = settings.get("thinkingConfig") or {}
    budget, level = config.get("thinkingBudget"), config.get("thinkingLevel")
    budget = None if budget == -1 else budget  # -1: dynamic thinking, the model's default
    return (str(level).lower() if level is not None else None), budget


def cached_tokens(provider: str, model: str, prefix: int, cache_marked: bool) -> int:
    """The prefix read from the cache: every unit of a step shares it, so after the first request it is warm."""
    if prefix < _cache_minimum(provider, model):
        return 0
    if provider == "anthropic":  # Anthropic caches only a prefix the request marks with cache_control
        return prefix if cache_marked else 0
    return prefix // CACHE_INCREMENT * CACHE_INCREMENT


def _cache_minimum(provider: str, model: str) -> int:
    if provider == "gemini" and model.startswith("gemini-3"):
        return 4096
    if provider == "anthropic" and "haiku" in model:
        return 2048
    return CACHE_MINIMUM.get(provider, 1024)


def of_request(request, text: str | None) -> EmuUsage:
    """The usage of an ``EmuRequest`` (runtime/emulator/core.py) answered with ``text``."""
    return EmuUsage.of(request.provider, request.model, request.system, request.prompt, request.schema, text,
                       request.cache_marked, request.settings, request.max_tokens)
