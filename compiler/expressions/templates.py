"""Jinja2 prompt templates: syntax, names, fields and filters, with positions.

Templates are parsed by Jinja2's ``SandboxedEnvironment`` (the same one that
renders them at run time). Jinja's AST carries line numbers only, so columns
come from its token stream: every reference ``a.b.c`` in the template is
matched to the tokens that spell it.
"""

from __future__ import annotations

import functools
import weakref
from contextlib import contextmanager
from dataclasses import field

from typing import TYPE_CHECKING

from jinja2 import TemplateSyntaxError, nodes

from ..base.diagnostics import Reporter
from ..base.records import record_class
from ..base.suggest import closest, did_you_mean
from ..base.yamlnodes import YScalar
from .namehints import private_read, qualified_hint
from .scope import Binding, Scope
from .types import ANY, ListT, OptionalT, RecordT, Type, elem_of, is_any, strip


if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment


def make_environment() -> SandboxedEnvironment:
    """The template environment (shared with the runtime's renderer): Jinja2's sandbox, bounded."""
    from jinja2 import StrictUndefined

    from .templatebounds import BoundedSandbox

    return BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@functools.cache
def environment() -> SandboxedEnvironment:
    """The checker's environment, one per process, built at the first template: checking a pipeline without
    templates imports neither Jinja2's sandbox nor the bounds (~1 ms), nor builds an environment."""
    return make_environment()


@record_class(frozen=True)
class Template:
    source: str
    scalar: YScalar
    root_names: frozenset[str]  # free names it reads (for dependencies)


@record_class
class _Chain:
    offset: int  # offset of the first name in the template text
    names: list[str]
    offsets: list[int]
    used: bool = False


@record_class
class _Locator:
    """Finds where a reference is written, from the template's tokens."""

    text: str
    chains: dict[tuple[int, str], list[_Chain]] = field(default_factory=dict)

    @classmethod
    def build(cls, text: str) -> "_Locator":
        loc = cls(text)
        pos, prev_op, current = 0, "", None
        for lineno, kind, value in environment().lexer.tokeniter(text, None):
            found = text.find(value, pos) if value else -1
            start = found if found >= 0 else pos
            pos = start + len(value)
            if kind == "name":
                if prev_op == "." and current is not None:
                    current.names.append(value)
                    current.offsets.append(start)
                else:
                    current = _Chain(start, [value], [start])
                    loc.chains.setdefault((lineno, value), []).append(current)
            if kind != "whitespace":
                prev_op = value if kind == "operator" else ""
                if kind not in ("name", "operator"):
                    current = None
        return loc

    def find(self, lineno: int, path: list[str]) -> tuple[int, int]:
        """(start, end) in the template text of ``path`` written at ``lineno``."""
        candidates = self.chains.get((lineno, path[0]), [])
        for chain in candidates:
            if not chain.used and chain.names[: len(path)] == path:
                chain.used = True
                end = chain.offsets[len(path) - 1] + len(path[-1])
                return chain.offset, end
        if candidates:
            c = candidates[0]
            return c.offset, c.offset + len(path[0])
        return 0, 0


def parse_template(scalar: YScalar, reporter: Reporter) -> nodes.Template | None:
    """The template's syntax tree, or None after reporting why there is none (E0213, E0220)."""
    tree = _TREES.get(scalar)
    if tree is None:
        tree = _parse_new(scalar, reporter)
        if tree is not None:
            _TREES[scalar] = tree
    return tree


# Parsed once per scalar while it lives: a template is parsed for its dependencies, then checked.
_TREES: "weakref.WeakKeyDictionary[YScalar, nodes.Template]" = weakref.WeakKeyDictionary()


def _parse_new(scalar: YScalar, reporter: Reporter) -> nodes.Template | None:
    text = scalar.value
    deep = _too_deep_written(text)
    if deep is not None:
        _report_too_deep(scalar, *deep, reporter)
        return None
    try:
        tree = environment().parse(text)
    except TemplateSyntaxError as err:
        start, end = _line_range(text, err.lineno or 1)
        reporter.report("E0213", scalar.sub_span(start, end), f"template syntax error: {err.message}",
                        hint="templates use Jinja2 syntax: {{ expression }}, {% if %}...{% endif %}")
        return None
    lineno = _too_deep_parsed(tree)
    if lineno is not None:
        _report_too_deep(scalar, *_line_range(text, lineno), f"template nested more than {MAX_TEMPLATE_DEPTH} levels deep",
                         reporter)
        return None
    return tree


# --- nesting ----------------------------------------------------------------------------------
# Jinja2 parses, compiles and renders templates recursively, and the Python it compiles a template to
# nests a block per `{% if %}` or `{% for %}`: Python allows 100 levels of indentation, and 20 loops.
MAX_TEMPLATE_DEPTH = 50
MAX_TEMPLATE_LOOPS = 10
_BLOCK_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans"})


def _too_deep_written(text: str) -> tuple[int, int, str] | None:
    """(start, end, what) of the first token nested too deep, from the tokens (Jinja2's parser recurses)."""
    blocks: list[str] = []  # open block tags
    brackets, unary, after_block_begin, pos = 0, 0, False, 0
    try:
        for _lineno, kind, value in environment().lexer.tokeniter(text, None):
            found = text.find(value, pos) if value else -1
            start = found if found >= 0 else pos
            pos = start + len(value)
            if kind == "whitespace":
                continue
            tag = value if after_block_begin and kind == "name" else ""
            if tag in _BLOCK_TAGS:
                blocks.append(tag)
            elif tag.startswith("end") and blocks and blocks[-1] == tag[3:]:
                blocks.pop()
            if kind == "operator" and value in "([{)]}":
                brackets = brackets + 1 if value in "([{" else max(0, brackets - 1)
            unary = unary + 1 if (kind == "name" and value == "not") or (kind == "operator" and value in "-+") else 0
            if len(blocks) + brackets + unary > MAX_TEMPLATE_DEPTH:
                return start, pos, f"template nested more than {MAX_TEMPLATE_DEPTH} levels deep"
            if tag == "for" and blocks.count("for") > MAX_TEMPLATE_LOOPS:
                return start, pos, f"`{{% for %}}` loops nested more than {MAX_TEMPLATE_LOOPS} deep"
            after_block_begin = kind == "block_begin"
    except TemplateSyntaxError:
        return None  # the parser reports it, in its own words
    return None


def _too_deep_parsed(tree: nodes.Template) -> int | None:
    """The line of the first node nested too deep (chains such as `a + b + ...` or `x | f | f ...`)."""
    stack = [(child, 1) for child in reversed(list(tree.iter_child_nodes()))]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TEMPLATE_DEPTH + 2:  # + 2: the output statement of a `{{ }}` or text, and its innermost value
            return node.lineno
        stack.extend((child, depth + 1) for child in reversed(list(node.iter_child_nodes())))
    return None


def _report_too_deep(scalar: YScalar, start: int, end: int, message: str, reporter: Reporter) -> None:
    reporter.report("E0220", scalar.sub_span(start, end), message,
                    label="one level too many",
                    hint="flatten it: compute parts in a compute step and use them by name, or split the template")


def _line_range(text: str, lineno: int) -> tuple[int, int]:
    lines = text.split("\n")
    lineno = max(1, min(lineno, len(lines)))
    start = sum(len(ln) + 1 for ln in lines[: lineno - 1])
    line = lines[lineno - 1]
    stripped = len(line) - len(line.lstrip())
    return start + stripped, start + max(len(line.rstrip()), stripped + 1)


class TemplateChecker:
    """Resolves and types every reference in one template."""

    def __init__(self, scalar: YScalar, reporter: Reporter, free_names_only: bool = False):
        self.scalar = scalar
        self.r = reporter
        self.free_names_only = free_names_only  # only collect the names the template does not bind itself
        self._loc: _Locator | None = None
        self.roots: set[str] = set()
        self.free: set[str] = set()
        self.guarded: set[str] = set()  # names tested by an enclosing `if`

    @property
    def loc(self) -> _Locator:
        if self._loc is None:  # built when a position is needed
            self._loc = _Locator.build(self.scalar.value)
        return self._loc

    def check(self, tree: nodes.Template, scope: Scope) -> None:
        # Jinja's own globals (range, dict, namespace, ...) are available in every template
        jinja_globals = {n: Binding(ANY, f"Jinja's '{n}'") for n in environment().globals}
        self._body(tree.body, Scope(jinja_globals).child(scope.bindings) if not scope.parent else _with_globals(scope, jinja_globals))

    def _body(self, body: list[nodes.Node], scope: Scope) -> Scope:
        for node in body:
            scope = self._stmt(node, scope)
        return scope

    def _stmt(self, node: nodes.Node, scope: Scope) -> Scope:
        if isinstance(node, nodes.For):
            it = self._expr(node.iter, scope)
            elem = elem_of(it) or ANY
            bindings = {n: Binding(elem if isinstance(node.target, nodes.Name) else ANY, f"loop variable '{n}'")
                        for n in _target_names(node.target)}
            bindings["loop"] = Binding(ANY, "the loop")
            inner = scope.child(bindings)
            if node.test is not None:
                self._expr(node.test, inner)
            self._body(node.body, inner)
            self._body(node.else_, scope)
            return scope
        if isinstance(node, nodes.With):
            for value in node.values:
                self._expr(value, scope)
            inner = scope.child({n: Binding(ANY, f"variable '{n}'") for t in node.targets for n in _target_names(t)})
            self._body(node.body, inner)
            return scope
        if isinstance(node, nodes.Macro):
            params = {a.name: Binding(ANY, f"parameter '{a.name}'") for a in node.args}
            params.update({n: Binding(ANY, n) for n in ("varargs", "kwargs", "caller")})
            self._body(node.body, scope.child(params))
            return scope.child({node.name: Binding(ANY, f"macro '{node.name}'")})
        if isinstance(node, nodes.Assign):
            t = self._expr(node.node, scope)
            return scope.child({n: Binding(t, f"variable '{n}'") for n in _target_names(node.target)})
        if isinstance(node, nodes.If):
            self._expr(node.test, scope)
            with self._guard(node.test):
                self._body(node.body, scope)
            for elif_ in node.elif_:
                self._stmt(elif_, scope)
            self._body(node.else_, scope)
            return scope
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if not isinstance(child, nodes.TemplateData):
                    self._expr(child, scope)
            return scope
        for child in node.iter_child_nodes():  # other statements: check what they contain
            if isinstance(child, nodes.Expr):
                self._expr(child, scope)
            else:
                self._stmt(child, scope)
        return scope

    def _expr(self, node: nodes.Node, scope: Scope) -> Type:
        if isinstance(node, (nodes.Name, nodes.Getattr)):
            return self._reference(node, scope)
        if isinstance(node, nodes.Const):
            return ANY
        if isinstance(node, nodes.Getitem):
            base = strip(self._expr(node.node, scope))
            self._expr(node.arg, scope)
            return base.elem if isinstance(base, ListT) else ANY
        if isinstance(node, nodes.Filter):
            self._filter(node, scope)
            return ANY
        if isinstance(node, nodes.CondExpr):
            self._expr(node.test, scope)
            with self._guard(node.test):
                self._expr(node.expr1, scope)
            if node.expr2 is not None:
                self._expr(node.expr2, scope)
            return ANY
        if isinstance(node, nodes.And):
            self._expr(node.left, scope)
            with self._guard(node.left):
                self._expr(node.right, scope)
            return ANY
        for child in node.iter_child_nodes():
            self._expr(child, scope)
        return ANY

    @contextmanager
    def _guard(self, test: nodes.Node):
        names = {n.name for n in test.find_all(nodes.Name)} | ({test.name} if isinstance(test, nodes.Name) else set())
        added = names - self.guarded
        self.guarded |= added
        try:
            yield
        finally:
            self.guarded -= added

    def _filter(self, node: nodes.Filter, scope: Scope) -> None:
        if node.node is not None:
            self._expr(node.node, scope)
        for arg in node.args:
            self._expr(arg, scope)
        if node.name not in environment().filters and not self.free_names_only:
            start, end = self._filter_span(node)
            hint = did_you_mean(node.name, environment().filters) or "see Jinja2's list of built-in filters"
            self.r.report("E0214", self.scalar.sub_span(start, end), f"unknown template filter '{node.name}'", hint=hint)

    def _filter_span(self, node: nodes.Filter) -> tuple[int, int]:
        chains = self.loc.chains.get((node.lineno, node.name), [])
        if chains:
            return chains[0].offset, chains[0].offset + len(node.name)
        return _line_range(self.scalar.value, node.lineno)

    def _reference(self, node: nodes.Node, scope: Scope) -> Type:
        path: list[str] = []
        cur = node
        while isinstance(cur, nodes.Getattr):
            path.insert(0, cur.attr)
            cur = cur.node
        if not isinstance(cur, nodes.Name):
            self._expr(cur, scope)
            return ANY
        path.insert(0, cur.name)
        binding = scope.lookup(cur.name)
        if binding is None:
            self.free.add(cur.name)
        if self.free_names_only:
            return ANY
        start, end = self.loc.find(node.lineno, path)
        if binding is None:
            self.r.report("E0202", self.scalar.sub_span(start, start + len(cur.name)), f"unknown name '{cur.name}' in template",
                          label="not defined here", hint=did_you_mean(cur.name, scope.names()) or qualified_hint(cur.name, scope))
            return ANY
        self.roots.add(cur.name)
        if len(path) > 1 and isinstance(binding.type, OptionalT) and cur.name not in self.guarded:
            self.r.report("W0405", self.scalar.sub_span(start, end), f"'{cur.name}' may be null here, so '{'.'.join(path)}' fails when it is",
                          label=f"{binding.what} is null on a unit's first attempt" if cur.name == "feedback" else "may be null",
                          hint=f"guard it: {{% if {cur.name} %}}...{{{{ {'.'.join(path)} }}}}...{{% endif %}}")
        private = private_read(binding, path[1]) if len(path) > 1 else None
        if private is not None:
            self.r.report("E0234", self.scalar.sub_span(start, end), private[0], label="not an output", hint=private[1])
            return ANY
        return self._fields(binding.type, path, start, end, node.lineno)

    def _fields(self, t: Type, path: list[str], start: int, end: int, lineno: int) -> Type:
        for i, attr in enumerate(path[1:], 1):
            base = strip(t)
            if is_any(base):
                return ANY
            if not isinstance(base, RecordT):
                self.r.report("E0203", self.scalar.sub_span(start, end),
                              f"'{'.'.join(path[:i])}' is {base.describe()}, which has no field '{attr}'")
                return ANY
            nxt = base.field(attr)
            if nxt is None:
                near = closest(attr, base.names())
                hint = f"did you mean '{'.'.join(path[:i] + [near])}'?" if near else ""
                what = "output" if base.what.startswith("step") else "field"
                self.r.report("E0203", self.scalar.sub_span(start, end), f"{base.what} has no {what} '{attr}'",
                              label=hint, hint="" if near else f"{base.what} has: {', '.join(base.names())}")
                return ANY
            t = nxt
        return t


def _with_globals(scope: Scope, jinja_globals: dict[str, Binding]) -> Scope:
    chain = []
    while scope is not None:
        chain.append(scope.bindings)
        scope = scope.parent
    out = Scope(jinja_globals)
    for bindings in reversed(chain):
        out = out.child(bindings)
    return out


def _target_names(target: nodes.Node) -> list[str]:
    if isinstance(target, nodes.Name):
        return [target.name]
    if isinstance(target, nodes.Tuple):
        return [n for item in target.items for n in _target_names(item)]
    return []


def check_template(scalar: YScalar, scope: Scope, reporter: Reporter) -> set[str] | None:
    """Check a template against a scope; returns the root names it reads."""
    tree = parse_template(scalar, reporter)
    if tree is None:
        return None
    checker = TemplateChecker(scalar, reporter)
    checker.check(tree, scope)
    return checker.roots


def template_roots(scalar: YScalar) -> set[str]:
    """Free names a template reads, without checking them (for dependencies).

    A walk of the syntax tree, not Jinja2's ``meta.find_undeclared_variables``: that runs Jinja's
    compiler, whose constant folding evaluates `{{ 'x' * 10**10 }}` while checking.
    """
    tree = parse_template(scalar, Reporter())  # a problem is reported when the template is checked
    if tree is None:
        return set()
    finder = TemplateChecker(scalar, Reporter(), free_names_only=True)
    finder._body(tree.body, Scope({}))
    return finder.free
