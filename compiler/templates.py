"""Jinja2 prompt templates: syntax, names, fields and filters, with positions.

Templates are parsed by Jinja2's ``SandboxedEnvironment`` (the same one that
renders them at run time). Jinja's AST carries line numbers only, so columns
come from its token stream: every reference ``a.b.c`` in the template is
matched to the tokens that spell it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from .diagnostics import Reporter
from .scope import Binding, Scope
from .suggest import closest, did_you_mean
from .types import ANY, ListT, OptionalT, RecordT, Type, elem_of, is_any, strip
from .yamlnodes import YScalar


def make_environment() -> SandboxedEnvironment:
    """The template environment (shared with the runtime's renderer)."""
    from jinja2 import StrictUndefined

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


_ENV = make_environment()


@dataclass(frozen=True)
class Template:
    source: str
    scalar: YScalar
    root_names: frozenset[str]  # free names it reads (for dependencies)


@dataclass
class _Chain:
    offset: int  # offset of the first name in the template text
    names: list[str]
    offsets: list[int]
    used: bool = False


@dataclass
class _Locator:
    """Finds where a reference is written, from the template's tokens."""

    text: str
    chains: dict[tuple[int, str], list[_Chain]] = field(default_factory=dict)

    @classmethod
    def build(cls, text: str) -> "_Locator":
        loc = cls(text)
        pos, prev_op, current = 0, "", None
        for lineno, kind, value in _ENV.lexer.tokeniter(text, None):
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
    text = scalar.value
    try:
        return _ENV.parse(text)
    except TemplateSyntaxError as err:
        start, end = _line_range(text, err.lineno or 1)
        reporter.report("E0213", scalar.sub_span(start, end), f"template syntax error: {err.message}",
                        hint="templates use Jinja2 syntax: {{ expression }}, {% if %}...{% endif %}")
        return None


def _line_range(text: str, lineno: int) -> tuple[int, int]:
    lines = text.split("\n")
    lineno = max(1, min(lineno, len(lines)))
    start = sum(len(ln) + 1 for ln in lines[: lineno - 1])
    line = lines[lineno - 1]
    stripped = len(line) - len(line.lstrip())
    return start + stripped, start + max(len(line.rstrip()), stripped + 1)


class TemplateChecker:
    """Resolves and types every reference in one template."""

    def __init__(self, scalar: YScalar, reporter: Reporter):
        self.scalar = scalar
        self.r = reporter
        self.loc = _Locator.build(scalar.value)
        self.roots: set[str] = set()
        self.guarded: set[str] = set()  # names tested by an enclosing `if`

    def check(self, tree: nodes.Template, scope: Scope) -> None:
        # Jinja's own globals (range, dict, namespace, ...) are available in every template
        jinja_globals = {n: Binding(ANY, f"Jinja's '{n}'") for n in _ENV.globals}
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
        if node.name not in _ENV.filters:
            start, end = self._filter_span(node)
            hint = did_you_mean(node.name, _ENV.filters) or "see Jinja2's list of built-in filters"
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
        start, end = self.loc.find(node.lineno, path)
        binding = scope.lookup(cur.name)
        if binding is None:
            self.r.report("E0202", self.scalar.sub_span(start, start + len(cur.name)), f"unknown name '{cur.name}' in template",
                          label="not defined here", hint=did_you_mean(cur.name, scope.names()))
            return ANY
        self.roots.add(cur.name)
        if len(path) > 1 and isinstance(binding.type, OptionalT) and cur.name not in self.guarded:
            self.r.report("W0405", self.scalar.sub_span(start, end), f"'{cur.name}' may be null here, so '{'.'.join(path)}' fails when it is",
                          label=f"{binding.what} is null on a unit's first attempt" if cur.name == "feedback" else "may be null",
                          hint=f"guard it: {{% if {cur.name} %}}...{{{{ {'.'.join(path)} }}}}...{{% endif %}}")
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
    """Free names a template reads, without checking them (for dependencies)."""
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(_ENV.parse(scalar.value)))
    except TemplateSyntaxError:
        return set()
