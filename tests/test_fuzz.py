"""Whatever the input, the checker returns diagnostics — it never raises."""

import json
import os
import pathlib

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octo.compiler.base.render import render_text, report_json
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.stdlib import default_language

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))
# OCTO_FUZZ_EXAMPLES=5000 for a longer hunt; the default keeps the suite fast.
FUZZ = settings(max_examples=int(os.environ.get("OCTO_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_and_render(text: str, path: str) -> None:
    diags = check_source(Source(path, text), default_language()).diagnostics
    for d in diags:
        rendered = render_text(d)
        assert rendered.startswith(("error[", "warning[")) and "Traceback" not in rendered
        if d.span is not None:
            assert 0 <= d.span.start <= d.span.end <= len(d.span.source.text)
    json.dumps(report_json(diags, [path]))


TOKENS = ["a", "walk", "unit", ".", "steps", "(", ")", "[", "]", "{", "}", ":", ",", "+", "-", "*", "/", "**",
          "==", "<", "not", "and", "or", "in", "if", "else", "for", "x", "1", "2.5", "'s'", '"t"', "mean",
          "choice", "len", "true", "null", " ", "__class__", "lambda", "=", "&&", "'", "\\", "\n", "\t", "#"]


@FUZZ
@given(st.sampled_from(EXAMPLES), st.data())
def test_mutated_examples(path, data):
    text = path.read_text()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 30)))
        insert = data.draw(st.one_of(st.text(max_size=8), st.sampled_from(TOKENS)))
        text = text[:i] + insert + text[j:]
    check_and_render(text, str(path.relative_to(ROOT)))


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=14).map("".join))
def test_random_expressions(expr):
    program = (
        "octo: 1\ndata:\n  t: [{id: a, n: 1}]\nunits: {for: {row: t}}\nsteps:\n"
        "  walk: {compute: {steps: 'unit.row.n'}}\n"
        f"  a:\n    compute:\n      x: {json.dumps(expr)}\n"
        f"  b:\n    aggregate:\n      metrics: {{m: {json.dumps(expr)}}}\n"
        f"  g:\n    generate:\n      model: openai:gpt-4.1-mini\n      prompt: {json.dumps('{{ ' + expr + ' }}')}\n"
        f"      output: {{v: {json.dumps(expr)}}}\n"
    )
    check_and_render(program, "fuzz.octo")


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                         st.sampled_from(TOKENS))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["octo", "steps", "data", "units", "for", "compute", "generate", "judge", "simulate", "aggregate",
         "init", "each", "until", "metrics", "by", "of", "prompt", "output", "when", "model", "file"])), inner, max_size=5)),
    max_leaves=25)


@FUZZ
@given(yaml_values)
def test_random_yaml_documents(doc):
    check_and_render(yaml.safe_dump(doc, allow_unicode=True), "random.octo")


@FUZZ
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "walk"]), st.dictionaries(
    st.sampled_from(["compute", "simulate", "aggregate", "judge", "generate", "when", "output", "model"]),
    yaml_values, max_size=3), max_size=4))
def test_random_step_sections(steps):
    check_and_render(yaml.safe_dump({"octo": 1, "steps": steps}, allow_unicode=True), "steps.octo")


def test_deep_expressions_give_diagnostics_not_recursion_errors():
    for n in (100, 300, 450, 490, 520, 800, 3000):
        chain = " + ".join(["x"] * n)
        nested = "[" * n + "1" + "]" * n
        program = f"octo: 1\nsteps:\n  a: {{compute: {{x: '1', y: \"{chain}\", z: \"{nested}\"}}}}\n"
        check_and_render(program, "deep.octo")
