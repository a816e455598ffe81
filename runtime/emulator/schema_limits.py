"""What a provider's structured-output mode refuses in a JSON Schema, so the emulator refuses it too.

Only Anthropic refuses keywords octo's schemas use (docs/providers.md, "Item counts and ranges"):
its structured outputs take `minItems` of 0 or 1 and no other length or range keyword, and
answer a request that carries one with a 400 ``invalid_request_error`` such as
``output_config.format.schema: For 'array' type, property 'maxItems' is not supported``.
The SDK's ``transform_schema`` moves them into the description before sending, so a request
refused here is one that skipped the transform. OpenAI's strict mode and Gemini's
``response_json_schema`` accept ``minItems``/``maxItems`` and ``minimum``/``maximum``.
"""

from __future__ import annotations

import json
import re
from collections import deque

# Keywords Anthropic refuses wherever they appear, and minItems above 1.
ANTHROPIC_REFUSED = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                     "minLength", "maxLength", "maxItems")
ANTHROPIC_MIN_ITEMS = (0, 1)
_NESTED_ONE = ("items", "additionalProperties", "not")
_NESTED_MANY = ("anyOf", "allOf", "oneOf", "prefixItems")
_NESTED_MAP = ("properties", "$defs", "definitions")


def anthropic_refusal(schema, where: str = "output_config.format.schema") -> str | None:
    """The message Anthropic answers a schema it refuses with, or None when it takes the schema."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        kind = node.get("type", "schema")
        for key in ANTHROPIC_REFUSED:
            if key in node:
                return f"{where}: For '{kind}' type, property '{key}' is not supported"
        if "minItems" in node and node["minItems"] not in ANTHROPIC_MIN_ITEMS:
            return (f"{where}: For '{kind}' type, property 'minItems' is not supported "
                    f"with a value other than 0 or 1 (got {node['minItems']})")
        stack.extend(node[k] for k in _NESTED_ONE if k in node)
        stack.extend(item for k in _NESTED_MANY if isinstance(node.get(k), list) for item in node[k])
        stack.extend(sub for k in _NESTED_MAP if isinstance(node.get(k), dict) for sub in node[k].values())
    return None


# What OpenAI's strict mode refuses of the keywords octo's schemas use (runtime/providers/openai_schema.py).
OPENAI_STRICT_REFUSED = ("minLength", "maxLength")


def openai_strict_refusal(schema, name: str = "output", where: str = "response_format") -> str | None:
    """The message OpenAI answers a strict-mode schema it refuses with, or None when it takes it."""
    stack: deque[tuple[object, tuple[str, ...]]] = deque([(schema, ())])  # breadth first, in written order
    while stack:
        node, path = stack.popleft()
        if not isinstance(node, dict):
            continue
        for key in OPENAI_STRICT_REFUSED:
            if key in node:
                context = f"In context={path!r}, " if path else ""
                return f"Invalid schema for {where} '{name}': {context}'{key}' is not permitted."
        stack.extend((node[k], (*path, k)) for k in _NESTED_ONE if k in node)
        stack.extend((item, (*path, k, str(i))) for k in _NESTED_MANY if isinstance(node.get(k), list)
                     for i, item in enumerate(node[k]))
        stack.extend((sub, (*path, k, n)) for k in _NESTED_MAP if isinstance(node.get(k), dict)
                     for n, sub in node[k].items())
    return None


_HINT = re.compile(r"\{([^{}]*)\}\s*\Z")
_NUMERIC_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                  "minLength", "maxLength", "minItems", "maxItems")


def restore_hints(schema):
    """Put back the numeric constraints moved into descriptions as ``{name: value}`` (by Anthropic's
    ``transform_schema``, or by octo's OpenAI adapter for strict mode), so answers keep them."""
    if isinstance(schema, list):
        return [restore_hints(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    restored = {key: restore_hints(value) for key, value in schema.items()}
    match = _HINT.search(schema.get("description") or "")
    if match:
        for part in match.group(1).split(", "):
            name, _, raw = part.partition(": ")
            if name in _NUMERIC_HINTS and name not in restored:
                try:
                    restored[name] = json.loads(raw)
                except ValueError:
                    pass
    return restored
