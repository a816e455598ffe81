"""`generate`: render a prompt per unit and ask a model for typed output."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from octo.compiler.base.records import record_class
from octo.compiler.base.yamlnodes import YMap, YScalar
from octo.compiler.expressions.types import (ANY, BOOL, FLOAT, INT, MAX_LIST_ITEMS, STR, EnumT, ListT, RecordT, Type,
                                             optional, record)
from octo.compiler.frontend.capabilities import request_setting
from octo.compiler.frontend.datapath import DataPathError, read_data_file
from octo.compiler.frontend.kinds import StepContext, StepKind, template_ir
from octo.compiler.frontend.language import REQUEST_SETTINGS, SAMPLING_SETTINGS, TEMPLATE
from octo.compiler.frontend.loader import MAX_YAML_DEPTH
from octo.compiler.frontend.program import Step

TEXT_OUTPUT = "text"  # the single output of a step without `output:`

PROVIDER_SETTINGS = {
    "model": {"$ref": "#/$defs/model"},
    "mode": {"$ref": "#/$defs/mode"},
    "output": {"$ref": "#/$defs/typeDecl"},
    "retries": {"type": "integer", "minimum": 0, "maximum": 100},
    **SAMPLING_SETTINGS,
    "system": {**TEMPLATE, "description": "The system prompt (a template)."},
}


@record_class
class GenerateConfig:
    prompt: YScalar | None
    system: YScalar | None
    output_schema: dict | None  # None: free text


class Generate(StepKind):
    name = "generate"
    runs = "provider"
    summary = "Render the prompt per unit and ask the model for the declared output (JSON Schema mode)."
    settings = frozenset({"model", "mode", "output", "retries"})
    config_schema = {
        "type": "object",
        "required": ["prompt"],
        "additionalProperties": False,
        "properties": {
            **PROVIDER_SETTINGS,
            "prompt": {**TEMPLATE, "description": "The user prompt (a template)."},
            "schema": {"type": "string", "description": "A JSON Schema file for the output, instead of `output`."},
        },
    }

    def parse(self, step: Step, ctx: StepContext) -> None:
        cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
        step.parsed = GenerateConfig(ctx.template(cfg.get("prompt")), ctx.template(cfg.get("system")), None)
        declare_output(step, ctx, cfg)

    def typecheck(self, step: Step, ctx: StepContext) -> RecordT | None:
        scope = ctx.scope(ctx.feedback_binding(step))
        ctx.check_template(step.parsed.prompt, scope)
        ctx.check_template(step.parsed.system, scope)
        return step.output

    def plan_config(self, step: Step) -> dict:
        return provider_config(step, step.parsed.prompt, step.parsed.system)


def provider_config(step: Step, prompt, system) -> dict:
    cfg = step.config if isinstance(step.config, YMap) else YMap(step.config.span)
    settings = {k: request_setting(k, cfg.get(k)) for k in REQUEST_SETTINGS if request_setting(k, cfg.get(k)) is not None}
    return {"prompt": template_ir(prompt), "system": template_ir(system), "output_schema": step.output_schema,
            **settings}


def declare_output(step: Step, ctx: StepContext, cfg: YMap, extra: dict[str, Type] | None = None) -> None:
    """Set the step's output type and JSON Schema from `output:` or `schema:`."""
    what = f"step '{step.name}'"
    schema_file = cfg.get("schema")
    if "output" in step.settings:
        decl = ctx.output_decl(step.settings["output"], what)
        if decl is None:
            step.output = None
            return
        fields, step.output_schema = decl
        if isinstance(schema_file, YScalar):
            ctx.reporter.report("E0107", schema_file.span, f"step '{step.name}' has both `output` and `schema`",
                                hint="keep one of them")
    elif isinstance(schema_file, YScalar) and schema_file.is_str:
        step.output_schema = _load_schema(schema_file, ctx)
        fields = _schema_type(step.output_schema, what) if step.output_schema else record({}, what)
        if not isinstance(fields, RecordT):
            fields = record({TEXT_OUTPUT: fields}, what)
    else:
        fields, step.output_schema = record({TEXT_OUTPUT: STR}, what), None
    step.output = record({**dict(fields.fields), **(extra or {})}, what)


def _load_schema(node: YScalar, ctx: StepContext) -> dict | None:
    try:  # read as a data file is: inside the pipeline's folder, a regular file, of bounded size
        schema = json.loads(read_data_file(Path(node.span.path).parent, node.value).decode("utf-8"))
        if _nesting(schema) > MAX_YAML_DEPTH:
            ctx.reporter.report("E0007", node.span, f"schema file '{node.value}' nests more than {MAX_YAML_DEPTH} levels deep",
                                hint="declare a flatter output")
            return None
        jsonschema.Draft202012Validator.check_schema(schema)
        return schema
    except DataPathError as err:
        ctx.reporter.report(err.code, node.span, err.message, hint=err.hint)
    except RecursionError:  # json's decoder refuses deeper nesting than Python's stack
        ctx.reporter.report("E0007", node.span, f"schema file '{node.value}' nests more than {MAX_YAML_DEPTH} levels deep",
                            hint="declare a flatter output")
    except (OSError, UnicodeDecodeError) as err:
        ctx.reporter.report("E0006", node.span, f"cannot read schema file '{node.value}': "
                            f"{'no such file' if isinstance(err, FileNotFoundError) else type(err).__name__}",
                            hint="paths are relative to the .octo file")
    except json.JSONDecodeError as err:
        ctx.reporter.report("E0007", node.span, f"schema file '{node.value}' is not JSON: {err.msg} (line {err.lineno})")
    except jsonschema.SchemaError as err:
        ctx.reporter.report("E0007", node.span, f"schema file '{node.value}' is not a valid JSON Schema: {err.message}")
    return None


def _nesting(value) -> int:
    """How deep lists and objects nest in a JSON value (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _schema_type(schema: dict, what: str = "record") -> Type:
    """A static type for a JSON Schema (as precise as the schema is simple)."""
    if not isinstance(schema, dict):
        return ANY
    if "enum" in schema and all(isinstance(v, str) for v in schema["enum"]):
        return EnumT(tuple(schema["enum"]))
    t = schema.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        inner = _schema_type({**schema, "type": non_null[0]}, what) if len(non_null) == 1 else ANY
        return optional(inner) if "null" in t else inner
    simple = {"string": STR, "integer": INT, "number": FLOAT, "boolean": BOOL}
    if t in simple:
        return simple[t]
    if t == "array":
        return ListT(_schema_type(schema.get("items", {})), *_item_counts(schema))
    if t == "object" or "properties" in schema:
        props, required = schema.get("properties", {}), set(schema.get("required", []))
        return record({k: (_schema_type(v, "a nested object") if k in required else optional(_schema_type(v, "a nested object")))
                       for k, v in props.items()}, what)
    return ANY


def _item_counts(schema: dict) -> tuple[int | None, int | None]:
    """`minItems`/`maxItems` of an array schema as the list type's counts, when they are counts a list
    can meet (a schema file is only known to be a valid JSON Schema, not a satisfiable one)."""
    def count(key: str) -> int | None:
        value = schema.get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
        return int(value) if ok and 0 <= value <= MAX_LIST_ITEMS else None

    low, high = count("minItems"), count("maxItems")
    if low is not None and high is not None and low > high:
        return None, None
    return (None, None) if low == 0 and high is None else (low, high)


KIND = Generate()
