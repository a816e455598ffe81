"""A random value valid against a JSON Schema: the emulator's structured answers.

It honours every keyword octo emits and those a user's `schema:` file commonly
holds: `type` (one or a list, `null` included), `nullable`, `enum`, `const`,
`properties`/`required`/`additionalProperties`, `minProperties`/`maxProperties`,
`items`/`prefixItems`, `minItems`/`maxItems`, `uniqueItems`,
`minLength`/`maxLength` (text is cut between words where it can be),
`pattern` (when the regular expression is made of literals, classes, groups,
alternations and repeats), `minimum`/`maximum`, `exclusiveMinimum`/
`exclusiveMaximum` (draft 6+ numbers, and draft 4's booleans), `multipleOf`,
`anyOf`/`oneOf`/`allOf`, and local `$ref`s. A deterministic function of the
schema and a ``random.Random``.
"""

from __future__ import annotations

import math
import random
import re
from fractions import Fraction

import jsonschema

try:  # the parser of Python's own `re`: a pattern's structure, to generate strings that match it
    import re._parser as _sre
except ImportError:  # Python < 3.11 names it sre_parse
    import sre_parse as _sre  # type: ignore[no-redef]

WORDS = ("anchor harbour lantern tide rope gull keel compass salt storm deck sail wave "
         "ledger beacon morning quiet steady bright river stone signal window garden").split()
NULL_SHARE = 0.2   # a nullable value is null this often (a model fills most optional fields)
OPTIONAL_SHARE = 0.5  # an optional property is present this often
TYPICAL_ITEMS = 3  # an array without maxItems holds about this many items (or minItems)
MOST_EXTRA_ITEMS = 20  # and never more than minItems + 20
DEFAULT_SPAN = 100  # integers and numbers without a bound on one side are drawn within 100 of the other
MAX_DEPTH = 12     # beyond it, values are the smallest the schema allows (a recursive schema ends)
TRIES = 40         # draws of a value that must pass a check (oneOf, uniqueItems, patterns with lengths)


def sentence(rng: random.Random, low: int = 5, high: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + "."


def prose(rng: random.Random, low: int = 1, high: int = 4) -> str:
    """A string field's text: 1 to 4 sentences, about 40 tokens (a model's typical short field)."""
    return " ".join(sentence(rng) for _ in range(rng.randint(low, high)))


def value_for(schema, rng: random.Random, root=None, depth: int = 0):
    """A value valid against ``schema`` (``root``: the document its ``$ref``s point into)."""
    return _Maker(rng, schema if root is None else root).make(schema, depth)


class _Maker:
    def __init__(self, rng: random.Random, root):
        self.rng, self.root = rng, root

    def make(self, schema, depth: int):
        if schema is True or not isinstance(schema, dict):
            return self.rng.choice(WORDS) if schema is not False else None
        schema = self._resolved(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._enum(schema)
        if "allOf" in schema:
            return self.make(_merged(schema), depth + 1)
        if "anyOf" in schema or "oneOf" in schema:
            return self._choice(schema, depth)
        kind = self._kind(schema)
        return _BY_TYPE[kind](self, schema, depth) if kind in _BY_TYPE else None

    def _resolved(self, schema: dict) -> dict:
        """A local ``$ref`` (``#/$defs/x``, ``#/definitions/x``) replaced by what it points at, siblings kept."""
        seen = 0
        while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#") and seen < 32:
            target = self.root
            for part in filter(None, schema["$ref"][1:].split("/")):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **(target if isinstance(target, dict) else {})}
            seen += 1
        return schema

    def _kind(self, schema: dict) -> str:
        kind = schema.get("type")
        if kind is None:
            kind = "object" if "properties" in schema or "required" in schema else \
                "array" if "items" in schema or "prefixItems" in schema else "string"
        kinds = list(kind) if isinstance(kind, list) else [kind]
        if schema.get("nullable") is True and "null" not in kinds:
            kinds.append("null")
        real = [k for k in kinds if k != "null"]
        if not real or len(real) < len(kinds) and self.rng.random() < NULL_SHARE:
            return "null"
        return real[0] if len(real) == 1 else self.rng.choice(real)  # no draw without a choice

    def _enum(self, schema: dict):
        rest = {k: v for k, v in schema.items() if k not in ("enum", "anyOf", "oneOf", "allOf", "$ref")}
        fitting = [v for v in schema["enum"] if _valid(v, rest)] or list(schema["enum"])
        return self.rng.choice(fitting)

    def _choice(self, schema: dict, depth: int):
        """A value of one branch of anyOf/oneOf (with the schema's other keywords); for oneOf, of exactly one."""
        key = "oneOf" if "oneOf" in schema else "anyOf"
        rest = {k: v for k, v in schema.items() if k != key}
        branches = [b for b in schema[key] if isinstance(b, dict)] or [{}]
        nulls = [b for b in branches if b.get("type") == "null"]
        if nulls and len(nulls) < len(branches) and self.rng.random() >= NULL_SHARE:
            branches = [b for b in branches if b not in nulls]  # a nullable value is mostly not null
        value = None
        for _ in range(TRIES if key == "oneOf" else 1):
            value = self.make({**rest, **self.rng.choice(branches)}, depth + 1)
            if key == "anyOf" or sum(_valid(value, {**self.root_defs(), **b}) for b in schema[key]) == 1:
                break
        return value

    def root_defs(self) -> dict:
        """The root's definitions, so a branch checked alone can still follow its ``$ref``s."""
        if not isinstance(self.root, dict):
            return {}
        return {k: self.root[k] for k in ("$defs", "definitions") if k in self.root}

    # --- by type ----------------------------------------------------------------------------

    def object(self, schema: dict, depth: int) -> dict:
        props = schema.get("properties") or {}
        required = [n for n in schema.get("required", []) if isinstance(n, str)]
        low, high = schema.get("minProperties", 0), schema.get("maxProperties")
        chosen = list(dict.fromkeys(required + [n for n in props if n not in required
                                                and depth < MAX_DEPTH and self.rng.random() < OPTIONAL_SHARE]))
        if high is not None and len(chosen) > high:
            chosen = chosen[:max(high, len(required))]
        extra = schema.get("additionalProperties", True)
        value = {name: self.make(props.get(name, extra if isinstance(extra, dict) else {}), depth + 1) for name in chosen}
        spare = [n for n in props if n not in value]
        while len(value) < low and (spare or extra is not False):  # minProperties: listed ones first, then extras
            name = spare.pop(0) if spare else f"extra_{len(value)}"
            value[name] = self.make(props.get(name, extra if isinstance(extra, dict) else {}), depth + 1)
        return value

    def array(self, schema: dict, depth: int) -> list:
        count = self._count(int(schema.get("minItems", 0)), schema.get("maxItems"), depth)
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        out: list = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = self.make(sub, depth + 1)
            for _ in range(TRIES if schema.get("uniqueItems") else 0):  # redraw a duplicate
                if value not in out:
                    break
                value = self.make(sub, depth + 1)
            if schema.get("uniqueItems") and value in out:
                break  # no other value can be drawn: fewer items (maxItems still holds; minItems may not)
            out.append(value)
        return out

    def _count(self, low: int, high, depth: int) -> int:
        """An array's length: within its counts, around the middle of them (without a maximum, around 3 or the
        minimum, whichever is more) — a model asked for a list writes a handful of items, not the most allowed."""
        if depth >= MAX_DEPTH:
            return low
        if high is None:
            high = 2 * max(low, TYPICAL_ITEMS) - low
        return self.rng.randint(low, max(low, min(int(high), low + MOST_EXTRA_ITEMS)))

    def string(self, schema: dict, depth: int) -> str:
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        high = None if high is None else int(high)
        if isinstance(schema.get("pattern"), str):
            matched = _pattern_string(schema["pattern"], low, high, self.rng)
            if matched is not None:
                return matched
        text = prose(self.rng) if depth < MAX_DEPTH else self.rng.choice(WORDS)
        while len(text) < low:
            text += " " + sentence(self.rng)
        return text if high is None else fit(text, low, high)

    def integer(self, schema: dict, depth: int) -> int:
        low, high = _bounds(schema, whole=True)
        # the integers that are multiples of p/q are the multiples of p
        step = Fraction(str(schema["multipleOf"])).numerator if _positive(schema.get("multipleOf")) else 1
        first, last = math.ceil(low / step), math.floor(high / step)
        value = int(low)
        for _ in range(TRIES if first <= last else 0):
            value = step * self.rng.randint(first, last)
            if _valid(value, _numeric(schema)):  # a float multipleOf is checked in floating point
                break
        return value

    def number(self, schema: dict, depth: int) -> float | int:
        low, high = _bounds(schema, whole=False)
        step = schema.get("multipleOf")
        if _positive(step):
            return _multiple(step, low, high, schema, self.rng)
        for _ in range(TRIES):
            value = round(self.rng.uniform(low, high), 3)
            if _valid(value, _numeric(schema)):
                return value
        return (low + high) / 2


_BY_TYPE = {
    "object": _Maker.object, "array": _Maker.array, "string": _Maker.string, "integer": _Maker.integer,
    "number": _Maker.number, "boolean": lambda self, s, d: self.rng.random() < 0.5, "null": lambda self, s, d: None,
}


# --- strings -------------------------------------------------------------------------------------

def fit(text: str, low: int, high: int) -> str:
    """``text`` cut to at most ``high`` characters, between two words when that leaves at least ``low``."""
    if len(text) <= high:
        return text
    cut = text[:high]
    if text[high] not in " .":  # the cut falls inside a word: end at the last whole word instead
        space = cut.rstrip().rfind(" ")
        if space >= low and space > 0:
            return cut[:space]
    return cut.rstrip() if len(cut.rstrip()) >= low else cut


def _pattern_string(pattern: str, low: int, high: int | None, rng: random.Random) -> str | None:
    """A string matching ``pattern`` (searched, as JSON Schema does) within the lengths, or None if none was made."""
    try:
        parsed = _sre.parse(pattern)
    except Exception:
        return None
    for _ in range(TRIES):
        try:
            text = _Regex(rng, low).render(parsed)
        except _Unsupported:
            return None
        if low <= len(text) <= (high if high is not None else len(text)) and re.search(pattern, text):
            return text
    return None


class _Unsupported(Exception):
    pass


class _Regex:
    """Renders a parsed regular expression as one random string it matches."""

    def __init__(self, rng: random.Random, min_length: int):
        self.rng, self.spare = rng, max(8, min_length)  # room an unbounded repeat may take

    def render(self, parsed) -> str:
        return "".join(self.node(op, arg) for op, arg in parsed)

    def node(self, op, arg) -> str:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "NOT_LITERAL":
            return self.rng.choice([c for c in "abcxyz019" if ord(c) != arg])
        if name == "ANY":
            return self.rng.choice("abcdefghijklmnopqrstuvwxyz")
        if name == "IN":
            return self.rng.choice(_class_chars(arg))
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            high = low + self.rng.randint(0, self.spare) if high == _sre.MAXREPEAT else high
            return "".join(self.render(sub) for _ in range(self.rng.randint(low, high)))
        if name == "SUBPATTERN":
            return self.render(arg[-1])
        if name == "BRANCH":
            return self.render(self.rng.choice(arg[1]))
        if name == "AT":
            return ""  # ^ $ \b: anchors match where the text starts and ends
        if name == "CATEGORY":
            return self.rng.choice(_CATEGORY.get(str(arg), "x"))
        raise _Unsupported(name)  # lookarounds, backreferences, conditionals


_CATEGORY = {"CATEGORY_DIGIT": "0123456789", "CATEGORY_WORD": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
             "CATEGORY_SPACE": " ", "CATEGORY_NOT_DIGIT": "abcxyz", "CATEGORY_NOT_WORD": " -.",
             "CATEGORY_NOT_SPACE": "abcxyz"}


def _class_chars(items) -> str:
    """The characters a ``[...]`` class allows (a negated class: printable ASCII it does not exclude)."""
    chars, negated = [], False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negated = True
        elif name == "LITERAL":
            chars.append(chr(arg))
        elif name == "RANGE":
            chars.extend(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 200) + 1))
        elif name == "CATEGORY":
            chars.extend(_CATEGORY.get(str(arg), ""))
        else:
            raise _Unsupported(name)
    if negated:
        chars = [c for c in map(chr, range(33, 127)) if c not in chars]
    if not chars:
        raise _Unsupported("empty class")
    return "".join(chars)


# --- numbers -------------------------------------------------------------------------------------

def _bounds(schema: dict, whole: bool) -> tuple[float, float]:
    """The inclusive range a number is drawn from; exclusive bounds moved inside (by 1 for integers)."""
    low = _bound(schema, "minimum", "exclusiveMinimum", whole, up=True)
    high = _bound(schema, "maximum", "exclusiveMaximum", whole, up=False)
    if low is None and high is None:
        low, high = 0, DEFAULT_SPAN
    elif low is None:
        low = high - DEFAULT_SPAN
    elif high is None:
        high = low + DEFAULT_SPAN
    return low, high


def _bound(schema: dict, inclusive: str, exclusive: str, whole: bool, up: bool) -> float | None:
    candidates = []
    if _number(schema.get(inclusive)):
        value = schema[inclusive]
        if schema.get(exclusive) is True:  # draft 4: exclusiveMinimum: true makes minimum exclusive
            candidates.append(_inside(value, whole, up))
        else:
            candidates.append(math.ceil(value) if whole and up else math.floor(value) if whole else value)
    if _number(schema.get(exclusive)):
        candidates.append(_inside(schema[exclusive], whole, up))
    if not candidates:
        return None
    return max(candidates) if up else min(candidates)


def _inside(value: float, whole: bool, up: bool) -> float:
    """The nearest number strictly inside an exclusive bound (for floats: the draw is checked again later)."""
    if whole:
        return math.floor(value) + 1 if up else math.ceil(value) - 1
    return math.nextafter(value, math.inf if up else -math.inf)


def _multiple(step: float, low: float, high: float, schema: dict, rng: random.Random):
    first, last = math.ceil(low / step), math.floor(high / step)
    for _ in range(TRIES):
        k = rng.randint(first, last) if first <= last else first
        for value in (k * step, round(k * step, 10), k * Fraction(str(step))):
            value = float(value) if isinstance(value, Fraction) else value
            if _valid(value, _numeric(schema)):
                return int(value) if float(value).is_integer() and isinstance(step, int) else value
    return k * step


def _numeric(schema: dict) -> dict:
    return {k: v for k, v in schema.items() if k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                                      "multipleOf", "type")}


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive(x) -> bool:
    return _number(x) and x > 0


# --- schemas -------------------------------------------------------------------------------------

def _merged(schema: dict) -> dict:
    """allOf folded into one schema: keywords of the parts, properties merged, required joined."""
    out = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties":
                out["properties"] = {**out.get("properties", {}), **value}
            elif key == "required":
                out["required"] = list(dict.fromkeys(out.get("required", []) + list(value)))
            else:
                out.setdefault(key, value)
    return out


def _valid(value, schema: dict) -> bool:
    try:
        return jsonschema.Draft202012Validator(schema).is_valid(value)
    except Exception:  # a schema jsonschema cannot read: take the value
        return True
