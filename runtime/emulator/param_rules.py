"""The request parameters each provider refuses, so the emulator refuses them too, in the provider's own words.

The rules are those of the capability table (``stdlib/models.json``; what each model family takes, with
sources in docs/providers.md), enforced on the wire: a request a real service would answer with a 400
is answered with one here — realtime as an HTTP 400 in the provider's error shape, in a batch as that
request's own error (the rest of the batch is answered) — so a test that sends something refused fails
in the emulator as it would in production. A model the table does not know is refused nothing but the
rules every model of its provider has (OpenAI Responses' 16-token minimum; Anthropic's sampling
parameters and thinking budget rules).

Each function returns None when the request is taken, else the refusal: ``(message, param, code)`` for
OpenAI (its errors name the parameter), the message for Anthropic and Gemini.
"""

from __future__ import annotations

import functools

from octo.compiler.frontend.capabilities import IGNORED, REFUSED, in_range
from octo.stdlib.capabilities import capability_table

RESPONSES_MIN_OUTPUT_TOKENS = 16  # "Expected a value >= 16" (docs/providers.md, Limits and rules)
ANTHROPIC_MIN_BUDGET = 1024       # thinking.enabled.budget_tokens (anthropic/types/thinking_config_enabled_param.py)
ANTHROPIC_SAMPLING = ("temperature", "top_p", "top_k")


def _family(provider: str, model):
    return _family_of(provider, model) if isinstance(model, str) else None


@functools.lru_cache(maxsize=1024)
def _family_of(provider: str, model: str):
    """The model's family in the built-in table (constant for the process), looked up once per model: finding
    it matches the name against every family's patterns, ~30 µs, and every request a batch runs asks."""
    return capability_table().find(f"{provider}:{model}")


# --- OpenAI ----------------------------------------------------------------------------------

def openai_refusal(body: dict, responses: bool) -> tuple[str, str, str] | None:
    """What OpenAI answers a chat (``responses=False``) or Responses body it refuses with."""
    if responses:
        given = body.get("max_output_tokens")
        if isinstance(given, int) and given < RESPONSES_MIN_OUTPUT_TOKENS:
            return (f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
                    f"{RESPONSES_MIN_OUTPUT_TOKENS}, but got {given} instead.", "max_output_tokens",
                    "integer_below_min_value")
    family = _family("openai", body.get("model"))
    if family is None:
        return None
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        spec = family.param(name)
        if spec in (REFUSED, IGNORED):
            return f"Unsupported parameter: '{name}' is not supported with this model.", name, "unsupported_parameter"
        if not in_range(spec, value):
            return (f"Unsupported value: '{name}' does not support {value} with this model. Only the default "
                    f"({spec.get('min')}) value is supported.", name, "unsupported_value")
    return _openai_effort(body, family, responses) or _openai_max_tokens(body, family, responses)


def _openai_effort(body: dict, family, responses: bool) -> tuple[str, str, str] | None:
    effort = (body.get("reasoning") or {}).get("effort") if responses else body.get("reasoning_effort")
    param = "reasoning.effort" if responses else "reasoning_effort"
    if effort is None:
        return None
    if family.reasoning is None:
        return f"Unsupported parameter: '{param}' is not supported with this model.", param, "unsupported_parameter"
    efforts = family.reasoning.get("efforts") or []
    if effort not in efforts:
        words = [f"'{e}'" for e in efforts]
        listed = ", ".join(words[:-1]) + (", and " if len(words) > 1 else "") + words[-1] if words else "none"
        return (f"Unsupported value: '{effort}' is not supported with the '{body['model']}' model. Supported "
                f"values are: {listed}.", param, "unsupported_value")
    return None


def _openai_max_tokens(body: dict, family, responses: bool) -> tuple[str, str, str] | None:
    param = "max_output_tokens" if responses else "max_completion_tokens"
    given, most = body.get(param), family.max_tokens.get("max")
    if isinstance(given, int) and most is not None and given > most:
        return (f"{param} is too large: {given}. This model supports at most {most} completion tokens, whereas you "
                f"provided {given}.", param, "invalid_value")
    return None


# --- Anthropic -------------------------------------------------------------------------------

def anthropic_param_refusal(params: dict) -> str | None:
    """What the Messages API (version 2026-10-21) answers a request's ``params`` it refuses with."""
    for name in ANTHROPIC_SAMPLING:
        if name in params:
            return f"{name}: Extra inputs are not permitted"
    family = _family("anthropic", params.get("model"))
    max_tokens = params.get("max_tokens")
    if family is not None and isinstance(max_tokens, int) and (family.max_tokens.get("max") or max_tokens) < max_tokens:
        return (f"max_tokens: {max_tokens} > {family.max_tokens['max']}, which is the maximum allowed number of "
                f"output tokens for {params['model']}")
    return _anthropic_thinking(params, family) or _anthropic_effort(params, family)


def anthropic_window(model, input_tokens: int, max_tokens: int) -> tuple[int, str | None]:
    """(the output tokens left for an answer within the model's context window, a refusal when the prompt
    alone is over it). The API lets ``max_tokens`` reach past the window and stops the answer there, with
    stop reason ``model_context_window_exceeded``; a prompt longer than the window is a 400."""
    family = _family("anthropic", model)
    window = family.context_window if family is not None else None
    if window is None:
        return max_tokens, None
    if input_tokens >= window:
        return 0, f"prompt is too long: {input_tokens} tokens > {window} maximum"
    return min(max_tokens, window - input_tokens), None


def _anthropic_thinking(params: dict, family) -> str | None:
    thinking = params.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < ANTHROPIC_MIN_BUDGET:
        return f"thinking.enabled.budget_tokens: Input should be greater than or equal to {ANTHROPIC_MIN_BUDGET}"
    if isinstance(params.get("max_tokens"), int) and budget >= params["max_tokens"]:
        return ("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
    if family is not None and not (family.reasoning or {}).get("budget"):
        return f"thinking: 'enabled' is not supported by {params['model']}"
    return None


def _anthropic_effort(params: dict, family) -> str | None:
    effort = (params.get("output_config") or {}).get("effort")
    if effort is None or family is None:
        return None
    if effort not in ((family.reasoning or {}).get("efforts") or []):
        return f"output_config.effort: '{effort}' is not supported by {params['model']}"
    return None


# --- Gemini ----------------------------------------------------------------------------------

def gemini_refusal(model: str, generation: dict) -> str | None:
    """What the Gemini API answers a GenerateContentRequest's ``generationConfig`` it refuses with."""
    family = _family("gemini", model)
    thinking = gemini_thinking(generation)
    if family is None or not thinking:
        return None
    spec = family.reasoning
    if spec is None:
        return "Thinking is not supported for this model."
    budget, level = thinking.get("thinkingBudget"), thinking.get("thinkingLevel")
    bounds = spec.get("budget") or {}
    if level is not None and str(level).lower() not in (spec.get("efforts") or []):
        return "Thinking level is not supported for this model."
    if budget is None or budget == -1:  # -1: dynamic thinking, which every thinking model takes
        return None
    if budget == 0:
        return None if bounds.get("off") else "Budget 0 is invalid. This model only works in thinking mode."
    if not bounds or not bounds.get("min", 0) <= budget <= bounds.get("max", budget):
        return f"The thinking budget ({budget}) is invalid."
    return None


def gemini_thinking(generation: dict) -> dict:
    """``thinkingConfig`` with camelCase keys: the SDK sends its ThinkingConfig's own snake_case field
    names (``thinking_budget``), which the API accepts as well as ``thinkingBudget``."""
    thinking = generation.get("thinkingConfig") or generation.get("thinking_config") or {}
    words = {"thinking_budget": "thinkingBudget", "thinking_level": "thinkingLevel", "include_thoughts": "includeThoughts"}
    return {words.get(k, k): v for k, v in thinking.items()} if isinstance(thinking, dict) else {}


def received(pairs) -> dict:
    """The sampling and reasoning parameters a request carried (for tests: what reached the wire)."""
    return {name: value for name, value in pairs if value is not None}
