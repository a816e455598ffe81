"""The AST node classes (compiler/expressions/ast.py `node`) behave as frozen dataclasses: built by
position or keyword, with defaults; equal and hashed by their fields in order; immutable; `fields`,
`replace` and `match` patterns work; and they survive pickling (plans and workers may copy them)."""

import dataclasses
import pickle

import pytest

from octo.compiler.base.source import Source, Span
from octo.compiler.expressions import ast

SPAN = Span(Source("f.octo", "x + 1"), 0, 5)


def binary(op="+"):
    return ast.Binary(SPAN, op, ast.Name(SPAN, "x"), ast.Literal(SPAN, 1), SPAN)


def test_built_by_position_or_keyword_with_defaults():
    by_keyword = ast.Binary(span=SPAN, op="+", left=ast.Name(SPAN, "x"), right=ast.Literal(span=SPAN, value=1),
                            op_span=SPAN)
    assert by_keyword == binary()
    assert ast.TypeGeneric(SPAN, "list", ast.TypeName(SPAN, "str")).bounds is None
    with pytest.raises(TypeError):
        ast.Literal(SPAN)
    with pytest.raises(TypeError):
        ast.Literal(SPAN, 1, colour="red")
    with pytest.raises(TypeError):
        ast.Name(SPAN, "x", "y")


def test_equal_and_hashed_by_fields_in_order():
    assert binary() == binary() and hash(binary()) == hash(binary())
    assert binary() != binary("-")
    assert ast.Name(SPAN, "x") != ast.TypeName(SPAN, "x")  # same fields, another class
    assert len({binary(), binary(), binary("-")}) == 2


def test_immutable():
    node = binary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.op = "-"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del node.op


def test_dataclass_tools_match_and_pickle():
    node = binary()
    assert [f.name for f in dataclasses.fields(node)] == ["span", "op", "left", "right", "op_span"]
    assert ast.Binary.__match_args__ == ("span", "op", "left", "right", "op_span")
    assert dataclasses.replace(node, op="-") == binary("-")
    match node:
        case ast.Binary(_, "+", ast.Name(id=name)):
            assert name == "x"
        case _:
            pytest.fail("the class pattern did not match")
    assert pickle.loads(pickle.dumps(node)) == node
    assert repr(ast.Literal(None, 1)) == "Literal(span=None, value=1)"
