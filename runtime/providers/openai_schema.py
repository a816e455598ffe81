"""The output schema as OpenAI's strict mode takes it.

Strict mode refuses `minLength` and `maxLength` — "Invalid schema for response_format 'output': In
context=('properties', 'text'), 'maxLength' is not permitted." (reported in coder/mux#1220) — as its
guide's "Supported properties" lists only `pattern` and `format` for strings
(https://platform.openai.com/docs/guides/structured-outputs#supported-properties), while it takes
`minimum`/`maximum` and `minItems`/`maxItems`. So, as Anthropic's SDK does with `transform_schema`,
the lengths move into the description as `{maxLength: 280}`, where the model reads them as an
instruction; every answer is still validated against the original schema (docs/providers.md,
"Item counts and ranges").
"""

from __future__ import annotations

import json

STRICT_REFUSED = ("minLength", "maxLength")  # of the keywords octo's schemas use
_NESTED_ONE = ("items", "additionalProperties", "not")
_NESTED_MANY = ("anyOf", "allOf", "oneOf", "prefixItems")
_NESTED_MAP = ("properties", "$defs", "definitions")


def strict_schema(schema):
    """``schema`` with the keywords strict mode refuses moved into descriptions (a new schema; the
    argument is left as it is)."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in _NESTED_ONE:
            out[key] = strict_schema(value)
        elif key in _NESTED_MANY and isinstance(value, list):
            out[key] = [strict_schema(s) for s in value]
        elif key in _NESTED_MAP and isinstance(value, dict):
            out[key] = {name: strict_schema(s) for name, s in value.items()}
        elif key not in STRICT_REFUSED:
            out[key] = value
    moved = [(key, schema[key]) for key in STRICT_REFUSED if key in schema]
    if moved:
        hint = "{" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in moved) + "}"
        given = schema.get("description")
        out["description"] = f"{given}\n\n{hint}" if isinstance(given, str) and given else hint
    return out
