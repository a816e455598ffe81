"""A provider step's request settings checked against what each of its models accepts.

For every provider step and every model it may use (a fixed model, or each value of a unit path), the
settings it sends — its own, else those of `defaults` — are checked against the capability table
(``capabilities``): a setting the model would refuse is an error (the request would be a 400, for every
unit), one the provider would ignore is a warning, both on the setting's value, so a bad setting stops
`octoc check` instead of a run. Settings for a model the table does not know are sent as written: a
warning says octo cannot tell (W0410). Each finding is reported once per (setting, model), so a
`defaults` value shared by many steps is not repeated.
"""

from __future__ import annotations

from typing import Callable

from ..base.diagnostics import Label, Reporter
from ..base.yamlnodes import YMap, YNode, YScalar
from .capabilities import (IGNORED, REFUSED, CapabilityTable, Family, default_max_tokens, expected_reasoning_tokens,
                           in_range, reasoning_to_send, request_setting)
from .language import MAX_OUTPUT_TOKENS, SAMPLING_SETTINGS, Language
from .program import Program, Step

SAMPLING_WORDS = {"temperature": "temperature", "top_p": "top_p", "seed": "a seed"}


class _Setting:
    """A setting a step sends: its value as the plan carries it, and the YAML node it was written in."""

    def __init__(self, name: str, node: YNode, from_defaults: bool):
        self.name, self.node, self.from_defaults = name, node, from_defaults
        self.value = request_setting(name, node)

    def part(self, key: str) -> YNode:
        """`reasoning`'s `effort` or `budget` node (the whole setting when written as one word)."""
        if isinstance(self.node, YMap) and self.node.get(key) is not None:
            return self.node.get(key)
        return self.node


def check_model_settings(program: Program, language: Language, reporter: Reporter,
                         models_of: Callable[[Step], list[str]] | None = None) -> None:
    """``models_of``: the models each step runs on, when not those it is written with (the planner's
    `--provider`, which sends every step to another model)."""
    table = language.capabilities
    if table is None:
        return
    checker = _Checker(program, table, reporter)
    for step in program.steps.values():
        if language.kinds[step.kind].runs == "provider" and step.models:
            checker.step(step, models_of(step) if models_of else step.models)


class _Checker:
    def __init__(self, program: Program, table: CapabilityTable, reporter: Reporter):
        self.program, self.table, self.reporter = program, table, reporter
        defaults = program.root.get("defaults")
        self.defaults = defaults if isinstance(defaults, YMap) else YMap(program.root.span)
        self.seen: set[tuple] = set()

    def step(self, step: Step, models: list[str]) -> None:
        settings = self._settings(step)
        for model in dict.fromkeys(models):
            if model.partition(":")[0] == "emulator":
                continue  # the emulator takes every setting
            family = self.table.find(model)
            if family is None:
                self._unknown(step, model, settings)
                continue
            for name in ("temperature", "top_p", "seed"):
                if name in settings:
                    self._sampling(step, model, family, settings[name])
            max_tokens = self._max_tokens(step, model, family, settings.get("max_tokens"), settings.get("reasoning"))
            if "reasoning" in settings:
                self._reasoning(step, model, family, settings["reasoning"], max_tokens, settings.get("max_tokens"))
            self._room_for_reasoning(step, model, family, settings, max_tokens)
            self._structured_output(step, model, family)

    def _settings(self, step: Step) -> dict[str, _Setting]:
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        out = {}
        for name in ("temperature", "top_p", "seed", "max_tokens", "reasoning"):
            own, shared = cfg.get(name), self.defaults.get(name)
            node, from_defaults = (own, False) if own is not None else (shared, True)
            if node is not None and _well_formed(name, request_setting(name, node)):
                out[name] = _Setting(name, node, from_defaults)
        return out

    def _report(self, code: str, setting_node: YNode, model: str, step: Step, message: str, hint: str = "",
                from_defaults: bool = False, labels=()) -> None:
        key = (code, id(setting_node), model, message)
        if key in self.seen:
            return
        self.seen.add(key)
        label = f"for {model}" + (f" (step '{step.name}' takes it from `defaults`)" if from_defaults else "")
        self.reporter.report(code, setting_node.span, message, label=label, hint=hint, labels=list(labels))

    # --- temperature, top_p, seed --------------------------------------------------------------

    def _sampling(self, step: Step, model: str, family: Family, setting: _Setting) -> None:
        spec, value, what = family.param(setting.name), setting.value, SAMPLING_WORDS[setting.name]
        why = f": {family.note}" if family.note else ""
        if spec == IGNORED:
            self._report("W0409", setting.node, model, step, f"{model} ignores {what}{why}, so octo does not send it",
                         f"remove `{setting.name}`, or move it to the steps of models that take it",
                         setting.from_defaults)
        elif spec == REFUSED:
            self._report("E0120", setting.node, model, step, f"{model} refuses {what}{why}",
                         f"remove `{setting.name}`; {model} answers a request that carries it with an error",
                         setting.from_defaults)
        elif not in_range(spec, value):
            only = spec.get("min") == spec.get("max")
            accepts = f"only {_num(spec['min'])}" if only else f"{_num(spec.get('min'))} to {_num(spec.get('max'))}"
            self._report("E0120", setting.node, model, step,
                         f"{model} refuses {setting.name} {_num(value)} (it accepts {accepts}){why}",
                         f"remove `{setting.name}` (the model samples at {_num(spec['min'])})" if only else
                         f"set `{setting.name}` from {accepts}", setting.from_defaults)

    # --- max_tokens ----------------------------------------------------------------------------

    def _max_tokens(self, step: Step, model: str, family: Family, setting: _Setting | None,
                    reasoning: _Setting | None) -> int:
        if setting is None:  # the default makes room for reasoning (capabilities.default_max_tokens)
            asked = reasoning.value if reasoning is not None else {}
            return default_max_tokens(family, step.output_schema is not None, asked.get("effort"), asked.get("budget"))
        low, high, value = family.max_tokens.get("min") or 1, family.max_tokens.get("max"), setting.value
        if value < low:
            self._report("E0121", setting.node, model, step,
                         f"{model} needs max_tokens of at least {low:,}, not {value:,}",
                         f"set max_tokens to {low} or more" + (" (OpenAI's Responses API refuses fewer than 16 "
                                                                 "output tokens; octo holds every OpenAI model to it)"
                                                                 if family.provider == "openai" else ""),
                         setting.from_defaults)
        elif high is not None and value > high:
            self._report("E0121", setting.node, model, step,
                         f"{model} writes at most {high:,} tokens, so max_tokens {value:,} is refused",
                         f"set max_tokens to {high:,} or less", setting.from_defaults)
        return value

    # --- reasoning -----------------------------------------------------------------------------

    def _reasoning(self, step: Step, model: str, family: Family, setting: _Setting, max_tokens: int,
                   max_setting: _Setting | None) -> None:
        effort, budget = setting.value.get("effort"), setting.value.get("budget")
        _, sent_budget, problems = reasoning_to_send(family, effort, budget, model)
        for problem in problems:
            self._report("E0122", setting.part(problem.part), model, step, problem.message, problem.hint,
                         setting.from_defaults)
        bounds = (family.reasoning or {}).get("budget") or {}
        if not problems and sent_budget and bounds.get("below_max_tokens") and sent_budget >= max_tokens:
            where = [Label(max_setting.node.span, f"max_tokens {max_tokens:,}")] if max_setting else []
            self._report("E0123", setting.part("budget" if budget is not None else "effort"), model, step,
                         f"{model} needs the thinking budget ({sent_budget:,}) below max_tokens "
                         f"({max_tokens:,}): thinking counts toward max_tokens",
                         f"raise max_tokens above {sent_budget:,} (room for the answer too), or lower the budget",
                         setting.from_defaults, where)

    def _room_for_reasoning(self, step: Step, model: str, family: Family, settings: dict, max_tokens: int) -> None:
        """W0411: reasoning tokens count toward max_tokens; with too few left the answer is cut off."""
        reasoning = settings["reasoning"].value if "reasoning" in settings else {}
        if family.reasoning is None or (family.reasoning.get("budget") or {}).get("below_max_tokens"):
            return  # no reasoning, or a budget already checked against max_tokens (E0123)
        expected = expected_reasoning_tokens(family, reasoning.get("effort"), reasoning.get("budget"))
        setting = settings.get("max_tokens")
        if setting is None or expected < max_tokens or max_tokens < (family.max_tokens.get("min") or 1):
            return  # the default makes room; room enough; or under the model's minimum, which is E0121 already
        node, given = setting.node, f"max_tokens {max_tokens:,}"
        self._report("W0411", node, model, step,
                     f"{model} reasons before it answers (about {expected:,} tokens expected), and {given} "
                     f"counts them too: answers may be cut off",
                     f"raise max_tokens (e.g. to {expected + max_tokens:,}), or ask for less reasoning "
                     f"({_less_reasoning(family)})", setting.from_defaults)

    # --- structured output, unknown models -------------------------------------------------------

    def _structured_output(self, step: Step, model: str, family: Family) -> None:
        if step.output_schema is None or family.structured_output:
            return
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        key = step.setting_keys.get("output") or cfg.key("schema") or YScalar(step.kind_span, step.kind)
        self._report("E0124", key, model, step, f"{model} has no structured output, and step "
                     f"'{step.name}' declares its output", "drop `output` to ask for free text, or use a model "
                     "with structured output (e.g. anthropic:claude-haiku-4-5)")

    def _unknown(self, step: Step, model: str, settings: dict) -> None:
        provider = model.partition(":")[0]
        for name in ("temperature", "top_p", "seed", "reasoning"):
            if name in settings:
                setting = settings[name]
                unsent = _NEVER_SENT.get((provider, name))
                if unsent is not None and (name != "reasoning" or "effort" not in setting.value):
                    self._report("W0409", setting.node, model, step, f"{model} ignores {unsent}, so octo does not "
                                 f"send it", f"remove `{name}`, or move it to the steps of models that take it",
                                 setting.from_defaults)
                    continue
                self._report("W0410", setting.node, model, step,
                             f"octo does not know what {model} accepts: `{name}` is sent as written",
                             "if the provider refuses it, every request of the step fails; describe the model in "
                             "a models file (--models FILE) to have it checked", setting.from_defaults)


# What a provider's adapter never sends, whatever the model (so a model the table does not know is no different):
# Anthropic's Messages API (version 2026-10-21) has no sampling parameters; OpenAI has no thinking budget.
_NEVER_SENT = {
    ("anthropic", "temperature"): "temperature: Anthropic's Messages API (version 2026-10-21) has none",
    ("anthropic", "top_p"): "top_p: Anthropic's Messages API (version 2026-10-21) has none",
    ("anthropic", "seed"): "a seed: Anthropic's Messages API has none",
    ("openai", "reasoning"): "a thinking budget: OpenAI takes an effort (`reasoning: low`)",
}


def _less_reasoning(family: Family) -> str:
    efforts = family.reasoning.get("efforts") or []
    if "minimal" in efforts:
        return "`reasoning: minimal`"
    if "none" in efforts or (family.reasoning.get("budget") or {}).get("off"):
        return "`reasoning: none` turns it off"
    return "`reasoning: low`"


def _well_formed(name: str, value) -> bool:
    """Within the language's own bounds: a value outside them is E0104 already, not the model's business."""
    if value is None:
        return False
    schema = SAMPLING_SETTINGS[name]
    if isinstance(value, dict):  # reasoning: its budget's bounds
        schema, value = {"minimum": 0, "maximum": MAX_OUTPUT_TOKENS}, value.get("budget", 0)
    return schema.get("minimum", value) <= value <= schema.get("maximum", value)


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
