"""The published JSON Schema is the one the checker validates with."""

import json

import jsonschema

from octo.compiler.frontend.language import document_schema


def test_published_schema_is_up_to_date(root, language):
    published = json.loads((root / "stdlib" / "octo.schema.json").read_text())
    assert published == document_schema(language), "run: octoc schema > stdlib/octo.schema.json"


def test_schema_is_a_valid_json_schema(language):
    jsonschema.Draft202012Validator.check_schema(document_schema(language))


def test_examples_validate_against_the_published_schema(root):
    import yaml

    schema = json.loads((root / "stdlib" / "octo.schema.json").read_text())
    for path in sorted((root / "examples").glob("*.octo")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_every_step_kind_is_in_the_schema(language):
    steps = document_schema(language)["$defs"]["step"]
    assert set(language.kinds) <= set(steps["properties"])
    assert [alt["required"][0] for alt in steps["oneOf"]] == list(language.kinds)


def test_the_schema_ships_in_the_package(language):
    from importlib import resources

    shipped = json.loads(resources.files("octo.stdlib").joinpath("octo.schema.json").read_text())
    assert shipped == document_schema(language)
