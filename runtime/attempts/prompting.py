"""A provider step's requests and answers: render prompts per unit, check what comes back.

``StepRequests`` is built once per step from its Plan record: templates are
compiled once (Jinja2 sandbox, StrictUndefined), the output's JSON Schema
validator once, `validate` rules and a judge's `pass` once. Per unit it renders
a request; per answer it parses and checks the output or says exactly why not.
Whatever fails there — a template, a rule, a message — fails that unit with a
reason and its file:line:col (``templating``), never the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsonschema

from octo.compiler.expressions.codegen import EvalError
from octo.stdlib.execution import compiled

from .modelsettings import model_settings
from ..work.templating import TemplateFailure, UnitTemplate, message_template, rule_message, unrendered_message
from ..work.unitwork import failure_reason

PASSED = "passed"


class PromptError(Exception):
    """The prompt of a unit could not be rendered (an undefined value, a sandbox refusal, a division by zero)."""


class AnswerError(Exception):
    """An answer that is not the declared output: malformed JSON, a schema violation, a failed rule."""


@dataclass(frozen=True)
class Model:
    provider: str   # "openai"
    name: str       # "gpt-4.1-mini"

    @staticmethod
    def parse(text: str) -> "Model":
        provider, _, name = text.partition(":")
        return Model(provider, name)


class StepRequests:
    def __init__(self, step: dict, functions):
        cfg = step["config"]
        self.name = step["name"]
        self.model = Model.parse(step["model"]) if step.get("model") else None  # None: read from each unit
        self._model_from = compiled(step.get("model_from"), functions)
        self._model_text = (step.get("model_from") or {}).get("text")
        self._model_map = {value: Model.parse(model) for value, model in (step.get("model_map") or {}).items()}
        self.at = step["at"]
        self._prompt = UnitTemplate.of(cfg["prompt"]) if cfg.get("prompt") else None
        self._system = UnitTemplate.of(cfg["system"]) if cfg.get("system") else None
        self.schema = cfg.get("output_schema")
        self._validator = jsonschema.Draft202012Validator(self.schema) if self.schema else None
        self.max_tokens = cfg.get("max_tokens")  # None: the model's default, room for reasoning made (modelsettings)
        self.temperature = cfg.get("temperature")
        self.sampling = {k: cfg.get(k) for k in ("top_p", "seed")}
        self.reasoning = cfg.get("reasoning") or {}
        self._rules = [(compiled(v["rule"], functions), message_template(v)) for v in step.get("validate", [])]
        self._passes = compiled(cfg.get("pass"), functions) if step["kind"] == "judge" else None
        self.judge = step["kind"] == "judge"

    def model_for(self, env: dict) -> Model:
        """The model a unit's request goes to: the step's, or the one its unit names (`model: unit.contender.model`)."""
        if self._model_from is None:
            return self.model
        try:
            value = self._model_from.evaluate(env)
        except EvalError as err:
            raise PromptError(f"the model could not be read from the unit (`{self._model_text}`): "
                              f"{failure_reason(err)}") from None
        model = self._model_map.get(value) if isinstance(value, str) else None
        if model is None:  # the plan enumerated every value of the run's data, so only a changed plan gets here
            raise PromptError(f"the unit's model {value!r} (`{self._model_text}`) is not one of the plan's models "
                              f"({', '.join(sorted(self._model_map))})")
        return model

    def request(self, env: dict) -> dict:
        """The request body for one unit (the custom id is added when it is sent); ``provider`` says where it goes."""
        model = self.model_for(env)
        request = {"provider": model.provider, "model": model.name, "prompt": self._render(self._prompt, env, "prompt"),
                   "system": self._render(self._system, env, "system") if self._system else None,
                   "schema": self.schema, "max_tokens": self.max_tokens, "temperature": self.temperature}
        return {**request, **model_settings(f"{model.provider}:{model.name}", self.temperature, self.sampling,
                                            self.reasoning, self.max_tokens, self.schema is not None)}

    def _render(self, template: UnitTemplate, env: dict, what: str) -> str:
        try:
            return template.render(env)
        except TemplateFailure as err:
            raise PromptError(f"the {what} did not render: {err}") from None

    def output(self, text: str, env: dict) -> dict:
        """The step's output from the model's text, or AnswerError saying what is wrong with it."""
        if self.schema is None:
            output = {"text": text}
        else:
            try:
                output = json.loads(text)
            except (json.JSONDecodeError, TypeError) as err:
                raise AnswerError(f"the answer is not JSON ({err}): {_clip(text)}") from None
            except RecursionError:
                raise AnswerError(f"the answer is nested too deeply to read: {_clip(text)}") from None
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(output))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path)
                raise AnswerError(f"the answer does not match the output schema"
                                  f"{f' at {where}' if where else ''}: {_schema_error(error)}")
        self._check_rules(output, env)
        if self.judge:
            output[PASSED] = self._verdict(output, env)
        return output

    def _check_rules(self, output: dict, env: dict) -> None:
        scope = {**env, **output}
        for rule, message in self._rules:
            try:
                ok = rule.evaluate(scope)
            except EvalError as err:
                raise AnswerError(f"a validate rule failed to evaluate: {failure_reason(err)}") from None
            if not ok:
                try:
                    text = rule_message(message, scope)
                except TemplateFailure as err:
                    raise AnswerError(unrendered_message(rule, err)) from None
                raise AnswerError(f"{text} (validate: `{rule.expr.span.text()}`)")

    def _verdict(self, output: dict, env: dict) -> bool:
        """`pass` sees what a step expression sees (the unit, the data, the steps it reads) and the judge's outputs."""
        if self._passes is None:
            return True
        try:
            return bool(self._passes.evaluate({**env, **output}))
        except EvalError as err:
            raise AnswerError(f"`pass` failed to evaluate: {failure_reason(err)}") from None


_SIDES = {"minItems": "at least", "maxItems": "at most", "minLength": "at least", "maxLength": "at most",
          "minimum": "at least", "maximum": "at most"}


def _schema_error(error: jsonschema.ValidationError) -> str:
    """What is wrong, in words, naming the bound missed; a list or string of the wrong length is
    counted rather than quoted whole."""
    side = _SIDES.get(error.validator)
    if error.validator in ("minItems", "maxItems") and isinstance(error.instance, list):
        return f"{len(error.instance)} items where the output declares {side} {error.validator_value}"
    if error.validator in ("minLength", "maxLength") and isinstance(error.instance, str):
        return (f"{len(error.instance):,} characters where the output declares {side} "
                f"{error.validator_value:,} characters")
    if error.validator in ("minimum", "maximum") and isinstance(error.instance, (int, float)):
        return f"{error.instance} where the output declares {side} {error.validator_value}"
    return error.message


def _clip(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"
