"""Jinja2's sandbox, with bounds on what rendering a template may build and do.

The sandbox keeps templates from reaching Python; it does not keep `{{ 'x' * 10**10 }}` from
building ten gigabytes (Jinja2's compiler even folds such constants while it compiles), nor
nested loops from running for hours. Here, in one rendering:

* the operators that can build big values (`*`, `**`, `+`, `%`, and `~`) are checked before or
  as they run — an intercepted operator is also never folded at compile time;
* the filters that can multiply a value's size (`center`, `indent`, `format`, `replace`, `join`,
  `wordwrap`, `batch`, `slice`) check their arguments first;
* loop iterations and calls (macros included) share a work budget, and what `{{ }}` prints
  shares an output budget.

A template that would pass a bound raises :class:`TemplateLimitError` (a ``SecurityError``):
the unit fails with that reason, never the run, and `octoc plan` estimates from the template's
text instead. docs/language.md lists the bounds under "Limits".
"""

from __future__ import annotations

import functools
import math
import re

from jinja2 import filters as jinja_filters
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_eval_context

MAX_TEMPLATE_CHARS = 1_000_000  # longest string, and most list items, one operator or filter may build
MAX_TEMPLATE_DIGITS = 10_000  # largest whole number `*` and `**` may build
MAX_TEMPLATE_WORK = 1_000_000  # loop iterations and calls in one rendering (about a second of work)...
CALL_WORK = 10  # ...a call (of a macro, `range`, a method) counting as ten: it costs about ten iterations
MAX_TEMPLATE_OUTPUT = 10_000_000  # characters `{{ }}` may print in one rendering (a prompt of ~2.5M tokens)
_MAX_BITS = int(MAX_TEMPLATE_DIGITS * math.log2(10)) + 1
# printf-style width and precision; compiled by re when a template first formats (never in `check`)
_WIDTHS = r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?"


class TemplateLimitError(SecurityError):
    """A template would build a value past a bound."""


def _refuse(what: str, size: int) -> None:
    raise TemplateLimitError(f"{what} would build {size:,} characters or items; "
                             f"a template may build at most {MAX_TEMPLATE_CHARS:,}")


def _sized(x) -> bool:
    return isinstance(x, (str, list, tuple))


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _stored_size(x, cap: int) -> int:
    """Values in ``x`` counted as printed, each reference to a shared list again; stops past ``cap``."""
    count, stack = 0, [x]
    while stack and count <= cap:
        item = stack.pop()
        count += 1
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            count += len(item)
    return count


def _check_mul(a, b) -> None:
    if _sized(a) and _whole(b) or _sized(b) and _whole(a):
        seq, n = (a, b) if _sized(a) else (b, a)
        if len(seq) * n > MAX_TEMPLATE_CHARS:
            _refuse("'*'", len(seq) * n)
        if not isinstance(seq, str) and n > 1:  # `[big_list] * n` prints big_list n times
            size = _stored_size(seq, MAX_TEMPLATE_CHARS)
            if size * n > MAX_TEMPLATE_CHARS:
                _refuse("'*'", size * n)
    elif _whole(a) and _whole(b) and a.bit_length() + b.bit_length() > _MAX_BITS:
        raise TemplateLimitError(f"'*' would build a number of more than {MAX_TEMPLATE_DIGITS:,} digits")


def _check_pow(a, b) -> None:
    if _whole(a) and _whole(b) and b > 0 and abs(a) > 1 and b * math.log10(abs(a)) > MAX_TEMPLATE_DIGITS:
        raise TemplateLimitError(f"'**' would build a number of more than {MAX_TEMPLATE_DIGITS:,} digits")


def _check_add(a, b) -> None:
    if _sized(a) and _sized(b) and len(a) + len(b) > MAX_TEMPLATE_CHARS:
        _refuse("'+'", len(a) + len(b))
    if isinstance(a, list) and isinstance(b, list):
        size = _stored_size(a, MAX_TEMPLATE_CHARS) + _stored_size(b, MAX_TEMPLATE_CHARS)
        if size > MAX_TEMPLATE_CHARS:
            _refuse("'+'", size)


def _check_printf(fmt, args) -> None:
    """`'%999999999d' % 1` and `'%*d' % (10**9, 1)` build what the width asks for."""
    if not isinstance(fmt, str):
        return
    stars = [a for a in (args if isinstance(args, tuple) else (args,)) if _whole(a)]
    for match in re.finditer(_WIDTHS, fmt):
        for part in match.groups():
            width = (max(stars, default=0) if part == "*" else int(part)) if part else 0
            if width > MAX_TEMPLATE_CHARS:
                _refuse("a '%' format", width)


_BINOP_CHECKS = {"*": _check_mul, "**": _check_pow, "+": _check_add, "%": _check_printf}


# --- filters that can multiply a value's size ---------------------------------------------------

def _bounded(original, check):
    """``original`` (a Jinja2 filter), after ``check`` of its arguments (those after any context).

    The filtered value is made a list first when it is another iterable (a range, a generator),
    so that the check can measure it and the filter still gets every item.
    """
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(original)
    def bounded(*args, **kwargs):
        args = list(args)
        if len(args) > skip and not isinstance(args[skip], (str, list, tuple, dict)) and hasattr(args[skip], "__iter__"):
            args[skip] = list(args[skip])
        check(*args[skip:], **kwargs)
        return original(*args, **kwargs)

    return bounded


def _lines(s) -> int:
    return str(s).count("\n") + 1


def _center(value, width=80, *_, **__):
    if _whole(width) and width > MAX_TEMPLATE_CHARS:
        _refuse("center()", width)


def _indent(s, width=4, *_, **__):
    unit = width if _whole(width) else len(str(width))
    if len(str(s)) + unit * _lines(s) > MAX_TEMPLATE_CHARS:
        _refuse("indent()", len(str(s)) + unit * _lines(s))


def _format(value, *args, **kwargs):
    _check_printf(value, args or tuple(kwargs.values()))


def _replace(s, old, new, count=None, *_, **__):
    s, old, new = str(s), str(old), str(new)
    hits = (len(s) + 1 if not old else s.count(old))
    if _whole(count) and count >= 0:
        hits = min(hits, count)
    if len(s) + hits * (len(new) - len(old)) > MAX_TEMPLATE_CHARS:
        _refuse("replace()", len(s) + hits * (len(new) - len(old)))


def _join(value, d="", attribute=None, *_, **__):
    if attribute is None and isinstance(value, (list, tuple)):
        size = sum(len(str(x)) for x in value) + len(str(d)) * max(0, len(value) - 1)
        if size > MAX_TEMPLATE_CHARS:
            _refuse("join()", size)


def _wordwrap(s, width=79, break_long_words=True, wrapstring=None, *_, **__):
    breaks = len(str(s)) // max(1, width if _whole(width) else 1) + _lines(s)
    size = len(str(s)) + breaks * len(str(wrapstring or "\n"))
    if size > MAX_TEMPLATE_CHARS:
        _refuse("wordwrap()", size)


def _count(what: str):
    def check(value, count=0, *_, **__):
        if _whole(count) and count > MAX_TEMPLATE_CHARS:
            _refuse(what, count)
    return check


_FILTER_CHECKS = {"center": _center, "indent": _indent, "format": _format, "replace": _replace, "join": _join,
                  "wordwrap": _wordwrap, "batch": _count("batch()"), "slice": _count("slice()")}


# --- the work and output budgets of one rendering -----------------------------------------------
# Kept on the rendering's EvalContext, which Jinja2 makes afresh for every render.

def _charge(eval_ctx, work: int = 0, output: int = 0) -> None:
    spent = getattr(eval_ctx, "octo_spent", (0, 0))
    spent = (spent[0] + work, spent[1] + output)
    eval_ctx.octo_spent = spent
    if spent[0] > MAX_TEMPLATE_WORK:
        raise TemplateLimitError(f"the template does too much work: more than {MAX_TEMPLATE_WORK:,} "
                                 f"loop iterations (a call counts as {CALL_WORK})")
    if spent[1] > MAX_TEMPLATE_OUTPUT:
        raise TemplateLimitError(f"the template prints more than {MAX_TEMPLATE_OUTPUT:,} characters")


@pass_eval_context
def _counted(eval_ctx, iterable):
    """The items of a `{% for %}` loop, each charged to the work budget."""
    for item in iterable:
        _charge(eval_ctx, work=1)
        yield item


@pass_eval_context
def _printed(eval_ctx, value):
    """What `{{ }}` prints, charged to the output budget (the environment's finalize)."""
    _charge(eval_ctx, output=len(value) if isinstance(value, str) else len(str(value)))
    return value


@pass_eval_context
def _joined(eval_ctx, value):
    """The string `~` built, checked (`~` joins its operands first: at most twice the bound is ever built)."""
    if len(value) > MAX_TEMPLATE_CHARS:
        _refuse("'~'", len(value))
    return value


_COUNTED, _JOINED = "octo_counted_loop", "octo_checked_concat"


def _wrap_loops_and_concats(tree: nodes.Node) -> None:
    """Route every loop's items and every `~` through the budgets (before Jinja2 generates code)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for field in node.fields:
            value = getattr(node, field)
            items = value if isinstance(value, list) else [value]
            for i, child in enumerate(items):
                if isinstance(child, nodes.Concat) and not getattr(child, "octo_checked", False):
                    child.octo_checked = True
                    wrapped = nodes.Filter(child, _JOINED, [], [], None, None, lineno=child.lineno)
                    if isinstance(value, list):
                        value[i] = wrapped
                    else:
                        setattr(node, field, wrapped)
                if isinstance(child, nodes.Node):
                    stack.append(child)
        if isinstance(node, nodes.For) and not (isinstance(node.iter, nodes.Filter) and node.iter.name == _COUNTED):
            node.iter = nodes.Filter(node.iter, _COUNTED, [], [], None, None, lineno=node.lineno)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox octo renders templates in (see the module's docstring). Immutable: a template
    cannot change a list or dict it is shown (`xs.append(7)`), so one unit's prompt never alters
    the data another unit sees."""

    intercepted_binops = frozenset(_BINOP_CHECKS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, finalize=_printed, **kwargs)
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _bounded(jinja_filters.FILTERS[name], check)
        self.filters[_COUNTED], self.filters[_JOINED] = _counted, _joined

    def call_binop(self, context, operator, left, right):
        _BINOP_CHECKS[operator](left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja2's own spelling)
        _charge(__context.eval_ctx, work=CALL_WORK)
        return super().call(__context, __obj, *args, **kwargs)

    def _generate(self, source, name, filename, defer_init=False):
        _wrap_loops_and_concats(source)
        return super()._generate(source, name, filename, defer_init=defer_init)
