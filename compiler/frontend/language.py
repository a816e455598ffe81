"""What the checker knows of the language's library: step kinds, functions, models.

The compiler does not import ``octo.stdlib`` (it sits below it); the caller
builds a :class:`Language` from the standard library and passes it in. The
document's JSON Schema is composed here from the top-level structure and each
kind's config schema, so adding a kind extends the schema too.
"""

from __future__ import annotations

from dataclasses import field
from typing import Mapping

from ..base.records import record_class
from ..expressions.functions import Function
from .capabilities import EFFORTS, CapabilityTable
from .kinds import StepKind
from .program import MAX_UNITS

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
RESERVED_NAMES = frozenset({"unit", "data", "feedback", "true", "false", "null", "True", "False", "None",
                            "and", "or", "not", "in", "if", "else", "for", "loop"})
COMMON_SETTINGS = ("when", "validate", "unique_by", "retries", "mode", "model", "output")
MAX_OUTPUT_TOKENS = 1_000_000  # `max_tokens`: well above any model's reply limit, and a typo stays a diagnostic


@record_class(frozen=True)
class Language:
    kinds: Mapping[str, StepKind]
    functions: Mapping[str, Function]
    models: frozenset[str] = field(default_factory=frozenset)  # "provider:model" ids with known prices
    providers: frozenset[str] = frozenset({"openai", "anthropic", "gemini", "emulator"})
    prices: Mapping = field(default_factory=dict)  # the dated price table (see stdlib/prices.json)
    capabilities: CapabilityTable | None = None  # what each model family accepts (see stdlib/models.json)


# Settings of a provider step's request: inside `generate:` / `judge:`, or in `defaults`.
SAMPLING_SETTINGS = {
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1, "description": "Nucleus sampling: 0 to 1."},
    "seed": {"type": "integer", "minimum": -(2 ** 63), "maximum": 2 ** 63 - 1,
             "description": "The provider's sampling seed (best effort), where the model takes one."},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_OUTPUT_TOKENS},
    "reasoning": {"$ref": "#/$defs/reasoning"},
}
REQUEST_SETTINGS = tuple(SAMPLING_SETTINGS)  # what a provider step's plan config carries, `defaults` resolved

EXPR = {"$ref": "#/$defs/expression"}
TEMPLATE = {"type": "string", "description": "A Jinja2 template."}


def _defs() -> dict:
    return {
        "expression": {
            "description": "An expression of the .octo expression language (a string), or a number or bool literal.",
            "type": ["string", "number", "boolean", "null"],
        },
        "typeDecl": {
            "description": "An output declaration: field name → type string (str, int[1, 10], a | b, list[T], T?) or a nested mapping.",
            "type": "object",
            "additionalProperties": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/typeDecl"}]},
        },
        "namedExpressions": {"type": "object", "additionalProperties": EXPR},
        "model": {"type": "string",
                  "description": "provider:model, e.g. openai:gpt-4.1-mini; or a unit path that reads it from a data table, "
                                 "e.g. unit.contender.model",
                  "pattern": "^(?:[A-Za-z0-9_-]+:.+|unit(?:[^A-Za-z0-9_].*)?)$"},
        "mode": {"enum": ["batch", "realtime"]},
        "reasoning": {
            "description": "How much the model reasons before it answers: an effort (none, minimal, low, medium, high, "
                           "xhigh, max), or {effort: ..., budget: N} with a thinking budget in tokens. Each model "
                           "takes what it accepts (see stdlib/models.json).",
            "anyOf": [{"enum": list(EFFORTS)},
                      {"type": "object", "additionalProperties": False, "minProperties": 1,
                       "properties": {"effort": {"enum": list(EFFORTS)},
                                      "budget": {"type": "integer", "minimum": 0, "maximum": MAX_OUTPUT_TOKENS}}}],
        },
        "validateRules": {
            "type": "array",
            "items": {"type": "object", "properties": {"rule": EXPR, "message": TEMPLATE},
                      "required": ["rule"], "additionalProperties": False},
        },
    }


# `export` with settings: its columns, which rows, and the file `octoc results DIR --export` writes
_EXPORT_FILE = {
    "type": "object", "required": ["columns"], "additionalProperties": False,
    "properties": {
        "columns": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                              {"type": "object", "additionalProperties": EXPR}]},
        "where": {**EXPR, "description": "Export only the rows of units where this is true."},
        "file": {"type": "string", "description": "The file `octoc results DIR --export` writes in DIR: .jsonl or .csv."},
        "units": {"enum": ["done", "all"], "description": "done (default): leave out units that failed, are pending "
                  "or were skipped at a step the export reads; all: every unit."},
    },
}


def _common_settings() -> dict:
    return {
        "when": {**EXPR, "description": "Run the step only for units where this is true."},
        "unique_by": {**EXPR, "description": "Run the step for the first unit with each value of this key; skip later duplicates."},
        "validate": {"$ref": "#/$defs/validateRules"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 100,
                    "description": "Re-tries of a unit's attempt after a transient failure or an invalid output."},
        "mode": {"$ref": "#/$defs/mode"},
        "model": {"$ref": "#/$defs/model"},
        "output": {"type": "object", "description": "Outputs: types for provider steps, expressions for simulate."},
    }


def step_schema(language: Language) -> dict:
    props = dict(_common_settings())
    for name, kind in language.kinds.items():
        props[name] = {**kind.config_schema, "description": kind.summary}
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "oneOf": [{"required": [name]} for name in language.kinds],
    }


def document_schema(language: Language) -> dict:
    """The JSON Schema of a whole .octo file (published as stdlib/octo.schema.json)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": ".octo pipeline",
        "description": "A declarative LLM pipeline for octoc.",
        "type": "object",
        "required": ["octo", "steps"],
        "additionalProperties": False,
        "properties": {
            "octo": {"const": 1, "description": "Language version."},
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
            "description": {"type": "string"},
            "seed": {"type": "integer", "description": "Seed of every random stream in the run."},
            "defaults": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "model": {"$ref": "#/$defs/model"}, "mode": {"$ref": "#/$defs/mode"},
                    **SAMPLING_SETTINGS,
                },
            },
            "budget": {"type": "object", "additionalProperties": False,
                       "properties": {"max_usd": {"type": "number", "minimum": 0}}},
            "data": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {
                    "anyOf": [
                        {"type": "array", "description": "Rows: mappings, or plain values."},
                        {"type": "object", "required": ["file"], "additionalProperties": False,
                         "properties": {"file": {"type": "string", "description": "YAML, JSON, JSONL or CSV, relative to the .octo file."},
                                        "types": {"type": "object", "description": "Declared column types: column: str | int | float | bool.",
                                                  "additionalProperties": {"type": "string"}}}},
                    ]
                },
            },
            "units": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "for": {"type": "object", "propertyNames": {"pattern": NAME_PATTERN},
                            "additionalProperties": {"type": "string"}},
                    "repeat": {"type": "integer", "minimum": 1, "maximum": MAX_UNITS},
                    "where": EXPR,
                    "sample": {"type": "integer", "minimum": 1, "maximum": MAX_UNITS},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_UNITS},
                },
            },
            "steps": {"type": "object", "propertyNames": {"pattern": NAME_PATTERN},
                      "additionalProperties": {"$ref": "#/$defs/step"}},
            "export": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                 {"type": "object", "additionalProperties": EXPR},
                                 _EXPORT_FILE]},
        },
        "$defs": {**_defs(), "step": step_schema(language)},
    }
