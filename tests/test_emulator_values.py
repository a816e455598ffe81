"""The emulator's synthetic answers satisfy every constraint of their JSON Schema (runtime/emulator/values.py)."""

from __future__ import annotations

import random

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from octo.runtime.emulator.values import fit, value_for


def valid(value, schema) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


# --- random schemas of the subset octo emits or a schema file holds, each one satisfiable ----------------------

@st.composite
def integers(draw):
    schema = {"type": "integer"}
    low = draw(st.integers(-1000, 1000))
    step = draw(st.sampled_from([None, 1, 2, 3, 5, 7, 10]))
    span = draw(st.integers(2, 60)) * (step or 1) + 2
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + span
    if step:
        schema["multipleOf"] = step
    return schema


@st.composite
def numbers(draw):
    schema = {"type": "number"}
    low = draw(st.floats(-1e6, 1e6, allow_nan=False))
    span = draw(st.floats(0.01, 1e4))
    if draw(st.booleans()):
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = low + span
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([0.5, 0.25, 0.1, 0.01, 2.5]))
        schema["maximum"] = low + span + 10  # room for a multiple
        schema.pop("exclusiveMaximum", None)
    return schema


PATTERNS = [r"^[a-z]+$", r"^[A-Z]{2}-\d{3}$", r"^(yes|no|maybe)$", r"^\w{3,8}\?$", r"[0-9a-f]{6}", r"^https?://[a-z]+\.com$",
            r"^[^\s]+@[a-z]+\.(org|net)$"]


@st.composite
def strings(draw):
    schema = {"type": "string"}
    if draw(st.integers(0, 3)) == 0:
        schema["pattern"] = draw(st.sampled_from(PATTERNS))
        return schema
    low = draw(st.integers(0, 300))
    if draw(st.booleans()):
        schema["minLength"] = low
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 200))
    return schema


enums = st.one_of(
    st.lists(st.sampled_from(["red", "green", "blue", "teal", "x"]), min_size=1, max_size=4, unique=True)
    .map(lambda v: {"type": "string", "enum": v}),
    st.sampled_from([1, "one", None, True]).map(lambda v: {"const": v}),
    st.just({"enum": ["a", "bb", "ccc"], "minLength": 2}),
)
scalars = st.one_of(integers(), numbers(), strings(), enums, st.just({"type": "boolean"}), st.just({"type": "null"}))


def nullable(inner):
    return st.one_of(inner.map(lambda s: {"anyOf": [s, {"type": "null"}]}),
                     inner.filter(lambda s: isinstance(s.get("type"), str))
                     .map(lambda s: {**s, "type": [s["type"], "null"]}))


@st.composite
def arrays(draw, items):
    schema = {"type": "array", "items": draw(items)}
    low = draw(st.integers(0, 4))
    if draw(st.booleans()):
        schema["minItems"] = low
    if draw(st.booleans()):
        schema["maxItems"] = low + draw(st.integers(0, 6))
    return schema


@st.composite
def objects(draw, values):
    names = draw(st.lists(st.sampled_from(["a", "b", "name", "score", "tags", "why"]), min_size=0, max_size=5, unique=True))
    props = {n: draw(values) for n in names}
    schema = {"type": "object", "properties": props,
              "required": [n for n in names if draw(st.booleans())]}
    if draw(st.booleans()):
        schema["additionalProperties"] = False
    return schema


schemas = st.recursive(st.one_of(scalars, nullable(scalars)),
                       lambda inner: st.one_of(arrays(inner), objects(inner),
                                               st.lists(inner, min_size=1, max_size=3).map(lambda b: {"anyOf": b})),
                       max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(schema=schemas, seed=st.integers(0, 2**32))
def test_a_synthetic_value_is_valid_under_its_schema(schema, seed):
    value = value_for(schema, random.Random(seed))
    assert valid(value, schema), (schema, value)


# --- the constraints one by one ---------------------------------------------------------------------------------

def test_an_exclusive_minimum_is_never_reached():
    """Before, `exclusiveMinimum` was taken as an inclusive bound: 0 came out of a range that excludes it."""
    for schema in ({"type": "number", "exclusiveMinimum": 0, "maximum": 1e-9},
                   {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
                   {"type": "number", "minimum": 0, "exclusiveMaximum": 0.001}):
        values = [value_for(schema, random.Random(i)) for i in range(200)]
        assert all(valid(v, schema) for v in values), (schema, [v for v in values if not valid(v, schema)][:3])


def test_lengths_are_met_and_text_is_cut_between_words():
    schema = {"type": "string", "minLength": 20, "maxLength": 40}
    for i in range(100):
        text = value_for(schema, random.Random(i))
        assert 20 <= len(text) <= 40
        assert text.split()[-1].rstrip(".").isalpha()  # ends on a whole word of the vocabulary
    assert fit("Anchor harbour lantern tide", 0, 17) == "Anchor harbour"
    assert fit("Anchor harbour lantern tide", 16, 17) == "Anchor harbour la"  # no word boundary leaves 16: cut


def test_item_counts_enums_and_patterns():
    rng = random.Random(3)
    lists = [value_for({"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 5}, rng)
             for _ in range(100)]
    assert {len(v) for v in lists} == {3, 4, 5}  # the whole range, not only the minimum
    assert {value_for({"enum": ["a", "bb", "ccc"], "minLength": 2}, rng) for _ in range(50)} == {"bb", "ccc"}
    assert all(valid(value_for({"type": "string", "pattern": p}, rng), {"type": "string", "pattern": p})
               for p in PATTERNS for _ in range(20))


def test_optional_values_are_mostly_present_and_refs_are_followed():
    rng = random.Random(5)
    schema = {"$defs": {"pos": {"type": "integer", "minimum": 1}},
              "type": "object", "properties": {"n": {"$ref": "#/$defs/pos"}, "m": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
              "required": ["n", "m"], "additionalProperties": False}
    values = [value_for(schema, rng) for _ in range(200)]
    assert all(valid(v, schema) for v in values)
    nulls = sum(v["m"] is None for v in values)
    assert 10 <= nulls <= 80  # a model fills most optional fields
