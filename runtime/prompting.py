"""A provider step's requests and answers: render prompts per unit, check what comes back.

``StepRequests`` is built once per step from its Plan record: templates are
compiled once (Jinja2 sandbox, StrictUndefined), the output's JSON Schema
validator once, `validate` rules and a judge's `pass` once. Per unit it renders
a request; per answer it parses and checks the output or says exactly why not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsonschema
from jinja2 import TemplateError

from octo.compiler.codegen import EvalError
from octo.compiler.templates import make_environment
from octo.stdlib.execution import compiled

DEFAULT_MAX_TOKENS = 1024        # structured output, when a step sets no max_tokens
DEFAULT_MAX_TOKENS_TEXT = 4096   # free text
PASSED = "passed"


class PromptError(Exception):
    """The prompt of a unit could not be rendered (an undefined value, a sandbox refusal)."""


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
        env = make_environment()
        self.name = step["name"]
        self.model = Model.parse(step["model"])
        self.at = step["at"]
        self._prompt = env.from_string(cfg["prompt"]["text"]) if cfg.get("prompt") else None
        self._system = env.from_string(cfg["system"]["text"]) if cfg.get("system") else None
        self.schema = cfg.get("output_schema")
        self._validator = jsonschema.Draft202012Validator(self.schema) if self.schema else None
        self.max_tokens = cfg.get("max_tokens") or (DEFAULT_MAX_TOKENS if self.schema else DEFAULT_MAX_TOKENS_TEXT)
        self.temperature = cfg.get("temperature")
        self._rules = [(compiled(v["rule"], functions), env.from_string(v["message"]) if v.get("message") else None)
                       for v in step.get("validate", [])]
        self._passes = compiled(cfg.get("pass"), functions) if step["kind"] == "judge" else None
        self.judge = step["kind"] == "judge"

    def request(self, env: dict) -> dict:
        """The request body for one unit (the custom id is added when it is sent)."""
        return {"model": self.model.name, "prompt": self._render(self._prompt, env, "prompt"),
                "system": self._render(self._system, env, "system") if self._system else None,
                "schema": self.schema, "max_tokens": self.max_tokens, "temperature": self.temperature}

    def _render(self, template, env: dict, what: str) -> str:
        try:
            return template.render(env)
        except TemplateError as err:
            raise PromptError(f"cannot render the {what} of step '{self.name}' ({self.at}): {err.message or err}") from None
        except EvalError as err:
            raise PromptError(f"cannot render the {what} of step '{self.name}' ({self.at}): {err.message}") from None

    def output(self, text: str, env: dict) -> dict:
        """The step's output from the model's text, or AnswerError saying what is wrong with it."""
        if self.schema is None:
            output = {"text": text}
        else:
            try:
                output = json.loads(text)
            except (json.JSONDecodeError, TypeError) as err:
                raise AnswerError(f"the answer is not JSON ({err}): {_clip(text)}") from None
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(output))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path)
                raise AnswerError(f"the answer does not match the output schema"
                                  f"{f' at {where}' if where else ''}: {error.message}")
        self._check_rules(output, env)
        if self.judge:
            output[PASSED] = self._verdict(output)
        return output

    def _check_rules(self, output: dict, env: dict) -> None:
        scope = {**env, **output}
        for rule, message in self._rules:
            try:
                ok = rule.evaluate(scope)
            except EvalError as err:
                raise AnswerError(f"validate rule `{rule.expr.span.text()}` failed to evaluate: {err.message}") from None
            if not ok:
                text = message.render(scope).strip() if message is not None else "a validate rule failed"
                raise AnswerError(f"{text} (validate: `{rule.expr.span.text()}`)")

    def _verdict(self, output: dict) -> bool:
        if self._passes is None:
            return True
        try:
            return bool(self._passes.evaluate(dict(output)))
        except EvalError as err:
            raise AnswerError(f"`pass` failed to evaluate: {err.message}") from None


def _clip(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"
