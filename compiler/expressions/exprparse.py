"""Expression and type strings → AST, with syntax errors in words.

The parsers come from ``octo.grammar``; this module turns Lark's parse trees
into :mod:`octo.compiler.expressions.ast` nodes whose spans point into the .octo file, and
Lark's exceptions into E0201/E0209 diagnostics that never show a token name.
"""

from __future__ import annotations

import ast as pyast

import re

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from octo.grammar import expression_parser, type_parser

from ..base.diagnostics import Reporter
from ..base.records import record_class
from ..base.source import Span
from ..base.yamlnodes import YScalar
from . import ast

# How deep an expression (or a type) may nest: each bracket pair, operator, call, index and attribute
# access is a level around what it holds, so a chain `a + b + ...` or `x if c else y if d else ...`
# is a level per term. Checking, planning and code generation walk expressions recursively, the
# checker with up to 3 Python frames a level: 250 levels stay well inside Python's 1,000 frames
# (measured: every construct still works at 300 levels from 100 frames deep), and leave room for
# the long `if`/`else` chains that compile flat.
MAX_EXPRESSION_DEPTH = 250


@record_class(frozen=True)
class Origin:
    """Where an expression string sits: a scalar, and an offset inside its value."""

    scalar: YScalar
    base: int = 0

    def span(self, start: int, end: int) -> Span:
        return self.scalar.sub_span(self.base + start, self.base + end)


TOKEN_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "SIGNED_NUMBER": "a number",
    "IF": "'if'", "ELSE": "'else'", "OR": "'or'", "AND": "'and'", "NOT": "'not'", "IN": "'in'",
    "FOR": "'for'",
    "LE": "'<='", "GE": "'>='", "EQ": "'=='", "NE": "'!='", "LT": "'<'", "GT": "'>'",
    "POW": "'**'", "DSLASH": "'//'", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
    "PERCENT": "'%'", "DOT": "'.'", "COMMA": "','", "COLON": "':'", "LPAR": "'('", "RPAR": "')'",
    "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'", "QMARK": "'?'", "BAR": "'|'",
    "$END": "the end of the expression",
}
_CONSTANTS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}
_STARTERS = {"NAME", "NUMBER", "STRING", "LPAR", "LSQB", "LBRACE", "MINUS", "PLUS", "NOT"}
_OPERATORS = {"LE", "GE", "EQ", "NE", "LT", "GT", "POW", "DSLASH", "PLUS", "MINUS", "STAR", "SLASH",
              "PERCENT", "AND", "OR", "IN", "NOT", "IF", "DOT", "LSQB"}
_CHAR_HINTS = {
    "=": "use '==' to compare; assignments are written as YAML keys",
    "&": "use 'and'", "|": "use 'or'", "!": "use 'not' (or '!=' to compare)",
    "'": "this string is never closed", '"': "this string is never closed",
    "@": "'@' is not an operator here", "$": "names are written without '$'", "`": "backticks are not quotes here; use ' or \"",
    ";": "an expression is a single line of logic; use `each:` entries for several assignments",
}


def describe_expected(expected: set[str]) -> str:
    """'an expression', 'an operator or ')'', ... from a set of terminal names."""
    exp = set(expected)
    words: list[str] = []
    if {"NAME", "NUMBER", "STRING"} <= exp:
        words.append("an expression")
        exp -= _STARTERS
    if len(exp & _OPERATORS) >= 5:
        words.append("an operator")
        exp -= _OPERATORS
    words += sorted(TOKEN_WORDS.get(t, t.lower()) for t in exp if not t.startswith("__"))
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the expression"
    kind = {"NAME": "name", "NUMBER": "number", "STRING": "string"}.get(token.type)
    return f"{kind} {token.value}" if kind == "string" else (f"{kind} '{token.value}'" if kind else f"'{token.value}'")


def parse_expression(text: str, origin: Origin, reporter: Reporter) -> ast.Expr | None:
    """Parse an expression; on a syntax error report E0201 and return None."""
    if not text.strip():
        reporter.report("E0201", origin.span(0, len(text)), "empty expression",
                        hint="write an expression here, e.g. `x > 0`")
        return None
    try:
        tree = expression_parser().parse(text)  # LALR: a loop over a stack, whatever the nesting
        too_deep = _first_too_deep(tree, MAX_EXPRESSION_DEPTH)
        if too_deep is not None:
            start, end = _pos(too_deep.meta)
            reporter.report("E0219", origin.span(start, end), f"expression nested more than {MAX_EXPRESSION_DEPTH} levels deep",
                            label="this part is one level too many",
                            hint="split it into named values (compute values, simulate state) that refer to each other")
            return None
        return _ExprBuilder(origin).transform(tree)
    except UnexpectedInput as err:
        _report_syntax(err, text, origin, reporter, "E0201")
    except VisitError as err:  # a literal that Python cannot read (bad escape)
        reporter.report("E0201", origin.span(0, len(text)), f"invalid literal: {err.orig_exc}")
    except RecursionError:
        reporter.report("E0201", origin.span(0, len(text)), "expression is nested too deeply",
                        hint="split it into several named values (compute) or simplify it")
    except LarkError as err:
        reporter.report("E0201", origin.span(0, len(text)), f"invalid expression: {type(err).__name__}")
    return None


def parse_type(text: str, origin: Origin, reporter: Reporter) -> ast.TypeExpr | None:
    """Parse a type declaration; on a syntax error report E0209 and return None."""
    if not text.strip():
        reporter.report("E0209", origin.span(0, len(text)), "empty type",
                        hint="write a type, e.g. `str`, `int[1, 10]` or `yes | no`")
        return None
    try:
        tree = type_parser().parse(text)
        too_deep = _first_too_deep(tree, MAX_EXPRESSION_DEPTH)
        if too_deep is not None:
            start, end = _pos(too_deep.meta)
            reporter.report("E0219", origin.span(start, end), f"type nested more than {MAX_EXPRESSION_DEPTH} levels deep",
                            label="this part is one level too many", hint="declare a flatter type")
            return None
        return _TypeBuilder(origin).transform(tree)
    except UnexpectedInput as err:
        _report_syntax(err, text, origin, reporter, "E0209")
    except (VisitError, LarkError) as err:
        reporter.report("E0209", origin.span(0, len(text)), f"invalid type: {type(err).__name__}")
    return None


def _first_too_deep(tree: Tree, limit: int) -> Tree | None:
    """The first subtree (in source order) nested more than ``limit`` levels deep, found without recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return node
        stack.extend((child, depth + 1) for child in reversed(node.children) if isinstance(child, Tree))
    return None


def _report_syntax(err: UnexpectedInput, text: str, origin: Origin, reporter: Reporter, code: str) -> None:
    what = "expression" if code == "E0201" else "type"
    if isinstance(err, UnexpectedCharacters):
        pos, ch = err.pos_in_stream, text[err.pos_in_stream]
        span = origin.span(pos, pos + 1)
        hint = _CHAR_HINTS.get(ch, "")
        if text[pos:pos + 2] in ("&&", "||"):
            span, hint = origin.span(pos, pos + 2), _CHAR_HINTS[ch]
        if ch in "'\"":
            reporter.report(code, origin.span(pos, len(text)), f"unterminated string in {what}",
                            label="this string is never closed", hint=f"close it with {ch}")
            return
        shown = repr(ch) if ch.isprintable() and ch != " " else f"U+{ord(ch):04X}"
        reporter.report(code, span, f"unexpected character {shown} in {what}", label="not allowed here", hint=hint)
        return
    if isinstance(err, UnexpectedToken):
        tok = err.token
        pos = tok.start_pos if tok.type != "$END" else len(text.rstrip())
        end = tok.end_pos if tok.type != "$END" else pos + 1
        expected = describe_expected(_reachable(set(err.expected), text[:pos]))
        hint = ""
        if tok.type == "$END":
            message = f"{what} ends too early: expected {expected}"
        else:
            message = f"unexpected {_found(tok)} in {what}: expected {expected}"
            if tok.type == "NAME" and code == "E0201":
                hint = "is an operator or a comma missing before it?"
            elif tok.type == "LSQB" and code == "E0209":
                hint = "item counts go straight after a list type, before any '?': list[str][1, 3]?"
            elif tok.type == "FOR":
                hint = "write a list comprehension in brackets, e.g. sum([c.value for c in cards])"
            elif tok.type in ("RPAR", "RSQB", "RBRACE") and "$END" in err.expected:
                message = f"unmatched {_found(tok)} in {what}"
        reporter.report(code, origin.span(pos, end), message, label="here", hint=hint)
        return
    assert isinstance(err, UnexpectedEOF)
    pos = len(text.rstrip())
    reporter.report(code, origin.span(pos, pos + 1), f"{what} ends too early", label="here")


def _reachable(expected: set[str], before: str) -> set[str]:
    """Drop closers and separators when no bracket is open: Lark's sets over-approximate."""
    depth = sum(before.count(c) for c in "([{") - sum(before.count(c) for c in ")]}")
    if depth <= 0:
        expected = expected - {"RPAR", "RSQB", "RBRACE", "COMMA", "COLON", "FOR"}
    return expected or {"$END"}


def _pos(meta_or_tok) -> tuple[int, int]:
    if isinstance(meta_or_tok, Token):
        return meta_or_tok.start_pos, meta_or_tok.end_pos
    return meta_or_tok.start_pos, meta_or_tok.end_pos


@v_args(meta=True)
class _ExprBuilder(Transformer):
    def __init__(self, origin: Origin):
        super().__init__()
        self.o = origin

    def _span(self, meta) -> Span:
        return self.o.span(*_pos(meta))

    def _tok(self, tok: Token) -> Span:
        return self.o.span(tok.start_pos, tok.end_pos)

    def name(self, meta, ch):
        word = str(ch[0])
        if word in _CONSTANTS:
            return ast.Literal(self._span(meta), _CONSTANTS[word])
        return ast.Name(self._span(meta), word)

    def number(self, meta, ch):
        raw = str(ch[0])
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        return ast.Literal(self._span(meta), value)

    def string(self, meta, ch):
        return ast.Literal(self._span(meta), pyast.literal_eval(_known_escapes_only(str(ch[0]))))

    def group(self, meta, ch):
        return ch[1]

    def attribute(self, meta, ch):
        obj, _dot, attr = ch
        return ast.Attribute(self._span(meta), obj, str(attr), self._tok(attr))

    def index(self, meta, ch):
        return ast.Index(self._span(meta), ch[0], ch[2])

    def slice(self, meta, ch):
        parts = ch[2].children
        colon = next(i for i, p in enumerate(parts) if isinstance(p, Token) and p.type == "COLON")
        lower = parts[0] if colon > 0 else None
        upper = parts[colon + 1] if colon + 1 < len(parts) else None
        return ast.Slice(self._span(meta), ch[0], lower, upper)

    def call(self, meta, ch):
        fname = ch[0]
        args = ()
        if len(ch) == 4:
            args = tuple(a for a in ch[2].children if not isinstance(a, Token))
        return ast.Call(self._span(meta), str(fname), self._tok(fname), args)

    def unary(self, meta, ch):
        return ast.Unary(self._span(meta), str(ch[0]), ch[1])

    def not_op(self, meta, ch):
        return ast.Unary(self._span(meta), "not", ch[1])

    def binary(self, meta, ch):
        left, op, right = ch
        return ast.Binary(self._span(meta), str(op), left, right, self._tok(op))

    def and_op(self, meta, ch):
        return ast.BoolOp(self._span(meta), "and", ch[0], ch[2])

    def or_op(self, meta, ch):
        return ast.BoolOp(self._span(meta), "or", ch[0], ch[2])

    def compare(self, meta, ch):
        ops = tuple(" ".join(str(t) for t in c.children) for c in ch[1::2])
        return ast.Compare(self._span(meta), ch[0], ops, tuple(ch[2::2]))

    def conditional(self, meta, ch):
        body, _if, test, _else, orelse = ch
        return ast.Conditional(self._span(meta), test, body, orelse)

    def _exprs(self, ch):
        return tuple(c for c in ch if not isinstance(c, (Token, Tree)))

    def list_display(self, meta, ch):
        return ast.ListDisplay(self._span(meta), self._exprs(ch))

    def set_display(self, meta, ch):
        return ast.SetDisplay(self._span(meta), self._exprs(ch))

    def dict_display(self, meta, ch):
        pairs = [c for c in ch if isinstance(c, tuple)]
        return ast.DictDisplay(self._span(meta), tuple(k for k, _ in pairs), tuple(v for _, v in pairs))

    def pair(self, meta, ch):
        return (ch[0], ch[2])

    def targets(self, meta, ch):
        return tuple(ast.Name(self._tok(t), str(t)) for t in ch if t.type == "NAME")

    def comp_if(self, meta, ch):
        return ("if", ch[1])

    def comp_for(self, meta, ch):
        targets, it = ch[1], ch[3]
        conds = tuple(c[1] for c in ch[4:])
        return ast.ComprehensionFor(self._span(meta), targets, it, conds)

    def _comp(self, meta, ch, kind):
        gens = tuple(c for c in ch if isinstance(c, ast.ComprehensionFor))
        head = ch[1]
        if kind == "dict":
            return ast.Comprehension(self._span(meta), kind, head[1], head[0], gens)
        return ast.Comprehension(self._span(meta), kind, head, None, gens)

    def list_comp(self, meta, ch):
        return self._comp(meta, ch, "list")

    def set_comp(self, meta, ch):
        return self._comp(meta, ch, "set")

    def dict_comp(self, meta, ch):
        return self._comp(meta, ch, "dict")


@v_args(meta=True)
class _TypeBuilder(Transformer):
    def __init__(self, origin: Origin):
        super().__init__()
        self.o = origin

    def _span(self, meta) -> Span:
        return self.o.span(*_pos(meta))

    def named(self, meta, ch):
        return ast.TypeName(self._span(meta), str(ch[0]))

    def quoted(self, meta, ch):
        return ast.TypeQuoted(self._span(meta), str(ch[0])[1:-1])

    def bound(self, meta, ch):
        return ast.TypeBound(self._span(meta), float(ch[0]))

    def bounds(self, meta, ch):
        # children: `[`, an optional bound, `,`, an optional bound, `]`
        comma = next(i for i, c in enumerate(ch) if isinstance(c, Token) and c.type == "COMMA")
        low = next((c for c in ch[:comma] if isinstance(c, ast.TypeBound)), None)
        high = next((c for c in ch[comma:] if isinstance(c, ast.TypeBound)), None)
        return ast.TypeBounds(self._span(meta), low, high)

    def ranged(self, meta, ch):
        return ast.TypeRange(self._span(meta), str(ch[0]), ch[1])

    def generic(self, meta, ch):
        return ast.TypeGeneric(self._span(meta), str(ch[0]), ch[2])

    def generic_bounded(self, meta, ch):
        return ast.TypeGeneric(self._span(meta), str(ch[0]), ch[2], ch[4])

    def enum(self, meta, ch):
        return ast.TypeEnum(self._span(meta), tuple(c for c in ch if not isinstance(c, Token)))

    def optional(self, meta, ch):
        return ast.TypeOptional(self._span(meta), ch[0])

    def paren(self, meta, ch):
        return ch[1]


_ESCAPE = re.compile(r"\\(.)", re.S)
_PYTHON_ESCAPES = set("\\'\"abfnrtvxuUN01234567\n")


def _known_escapes_only(literal: str) -> str:
    """``literal`` with each backslash that starts no Python escape doubled: ``'\\S'`` means a backslash and
    an S, as Python reads it today, without the warning Python gives for it (and may one day refuse)."""
    return _ESCAPE.sub(lambda m: m.group(0) if m.group(1) in _PYTHON_ESCAPES else "\\\\" + m.group(1), literal)
