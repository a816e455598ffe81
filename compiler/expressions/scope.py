"""Name bindings visible to an expression or template."""

from __future__ import annotations


from ..base.records import record_class
from .types import Type


@record_class(frozen=True)
class Binding:
    type: Type
    what: str  # how messages name it: "step 'walk'", "state variable 'position'"
    per_unit: bool = True  # varies from unit to unit (matters in aggregate steps)
    step: str | None = None  # the step this name refers to, if any
    private: frozenset[str] = frozenset()  # a compute step's `_names`: its own, not outputs (E0234 when read)


class Scope:
    def __init__(self, bindings: dict[str, Binding], parent: "Scope | None" = None):
        self.bindings = bindings
        self.parent = parent

    def lookup(self, name: str) -> Binding | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        return None

    def names(self) -> set[str]:
        out = set(self.bindings)
        return out | self.parent.names() if self.parent else out

    def child(self, bindings: dict[str, Binding]) -> "Scope":
        return Scope(bindings, self)
