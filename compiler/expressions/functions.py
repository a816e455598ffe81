"""The interface between the checker and the built-in functions.

The functions themselves live in ``octo.stdlib.builtins`` (the layer above);
the checker only needs each one's arity and a typing rule, passed in as a
table of :class:`Function`.
"""

from __future__ import annotations

import functools
import importlib
from typing import Callable, Sequence

from ..base.records import record_class
from .types import Type


class ArgError(Exception):
    """Raised by a typing rule: argument ``index`` has the wrong type."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index, self.message = index, message


@record_class(frozen=True)
class ArgFinding:
    """A problem found in an argument whose value the checker knows (a literal): a bad regular
    expression, say. ``part`` is the piece of the literal's text at fault, when the caret can
    point at it."""

    index: int
    code: str
    message: str
    label: str = ""
    hint: str = ""
    part: str = ""


UNKNOWN = object()  # an argument whose value is known only when the expression runs


@record_class(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int | None  # None: any number
    typer: Callable[[Sequence[Type]], Type]
    signature: str  # as shown to users: "quantile(values, q)"
    doc: str = ""
    aggregate: bool = False  # reduces over the units of a group in an `aggregate` step
    counts_bare: bool = False  # called without arguments in an aggregate, it counts the group's units (count())
    random: bool = False  # draws from the unit's random stream
    units_only: bool = False  # only meaningful as a table in `units.for`
    # where the implementation is, "module:attribute" (called with the evaluated arguments, and ``rng=`` for
    # random ones): imported the first time ``impl`` is read, so checking a file never imports the evaluation side
    implementation: str | None = None
    # checks of the arguments that are literals: called with every argument's value (UNKNOWN when it is not
    # a literal) and UNKNOWN; returns what the checker reports, each at its argument
    check_literals: Callable[[list, object], list[ArgFinding]] | None = None

    @functools.cached_property
    def impl(self) -> Callable | None:
        """The implementation (None for a function that only has a meaning to the compiler)."""
        if self.implementation is None:
            return None
        module, _, name = self.implementation.partition(":")
        return getattr(importlib.import_module(module), name)

    def arity_text(self) -> str:
        if self.max_args == self.min_args:
            n = self.min_args
            return f"{n} argument{'s' if n != 1 else ''}"
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"
