"""Diagnostics point at the exact character, inside expressions, templates and block scalars."""

import pytest


def where(diags, code):
    d = next(d for d in diags if d.code == code)
    return d.span.line, d.span.column, d.span.text()


PROGRAM = """octo: 1
steps:
  a:
    compute:
      x: |
        1 +
          (2 * nope)
      y: "len('ab') + missing"
      z: 'len("ab") + gone'
      w: >
        1 +
        folded
  g:
    generate:
      model: openai:gpt-4.1-mini
      prompt: |
        Hello {{ unit.id }}.
          Value: {{ a.xx }} and {{ a.y | nosuch }}
"""


def test_error_inside_a_literal_block_scalar(check_text):
    diags = check_text(PROGRAM)
    assert ("nope", 7, 16) == (lambda d: (d.span.text(), d.span.line, d.span.column))(
        next(d for d in diags if "nope" in d.message))


def test_errors_inside_quoted_scalars(check_text):
    diags = check_text(PROGRAM)
    texts = {d.span.text(): (d.span.line, d.span.column) for d in diags if d.code == "E0202"}
    assert texts["missing"] == (8, 23)
    assert texts["gone"] == (9, 23)


def test_error_inside_a_folded_block_scalar(check_text):
    diags = check_text(PROGRAM)
    texts = {d.span.text(): (d.span.line, d.span.column) for d in diags if d.code == "E0202"}
    assert texts["folded"] == (12, 9)


def test_template_references_and_filters_are_positioned(check_text):
    diags = check_text(PROGRAM)
    assert where(diags, "E0203") == (18, 21, "a.xx")
    assert where(diags, "E0214") == (18, 42, "nosuch")


def test_syntax_error_column_inside_expression(check_text):
    diags = check_text("octo: 1\nsteps:\n  a: {compute: {x: '(1 + 2'}}\n")
    (d,) = diags
    assert d.code == "E0201"
    assert (d.span.line, d.span.column) == (3, 27)
    assert "expected" in d.message and "RPAR" not in d.message and "Token" not in d.message


@pytest.mark.parametrize("expr, word", [
    ("1 +", "an expression"), ("f(1,", "an expression"), ("a b", "'a'"), ("x = 1", "'=='"),
    ("[1, 2", "']'"), ("a and or b", "an expression"),
])
def test_syntax_errors_say_what_was_expected_in_words(check_text, expr, word):
    diags = check_text(f"octo: 1\nsteps:\n  a:\n    compute:\n      x: \"{expr}\"\n")
    d = next(d for d in diags if d.code == "E0201")
    text = d.message + d.hint + d.label
    assert word.strip("'") in text
    for raw in ("NAME", "RPAR", "LSQB", "$END", "__ANON", "Token("):
        assert raw not in d.message


def test_unknown_field_message_matches_the_issue(check_text, root):
    src = (root / "examples" / "drunken_sailor.octo").read_text().replace("mean(walk.steps)", "mean(walk.stepz)")
    from octo.compiler.base.render import render_text

    diags = check_text(src, "examples/drunken_sailor.octo")
    (d,) = [d for d in diags if d.code == "E0203"]
    text = render_text(d)
    assert text.startswith("error[E0203]: step 'walk' has no output 'stepz'\n")
    assert "mean(walk.stepz)" in text
    assert "^^^^^^^^^^ did you mean 'walk.steps'?" in text
