"""Loading a function from Python source we generated, with every global name it reads bound.

Generated loops (an aggregate's fold, a chunk's result rows) run with no
built-ins and hand any unit whose code raises to a slower, generic path that
says why. A global name missing from their namespace would then raise
NameError for *every* unit and silently send all of them down the slow path:
the results stay right, only the speed is lost, so no test of results would
notice. Checking the names when the code is loaded makes such a mistake an
immediate internal error instead.
"""

from __future__ import annotations

import dis
import inspect
from types import CodeType
from typing import Any, Callable


def load_generated(source: str, filename: str, namespace: dict[str, Any], name: str) -> Callable:
    """``name`` as defined by ``source``, executed in ``namespace``; RuntimeError when the code reads a
    global name the namespace does not bind (a bug of the generator, never of a user's input)."""
    code = compile(source, filename, "exec")
    unbound = sorted(global_names(code) - namespace.keys())
    if unbound:
        raise RuntimeError(f"{filename} reads {', '.join(unbound)}, which its namespace does not bind")
    exec(code, namespace)
    return namespace[name]


def global_names(code: CodeType) -> set[str]:
    """The global names ``code`` and the functions it defines read."""
    names = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_GLOBAL":
            names.add(instruction.argval)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= global_names(const)
    return names
