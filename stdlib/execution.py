"""Execution hooks shared by the local step kinds: compiling Plan records."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from octo.compiler.expressions.astjson import from_record
from octo.compiler.expressions.codegen import CompiledExpression, compile_expression


def compiled(record: dict | None, functions) -> CompiledExpression | None:
    """A Plan expression record, compiled (once) for evaluation."""
    if record is None:
        return None
    return compile_expression(from_record(record), functions, label=record["at"])


def compiled_named(pairs: list, functions) -> list[tuple[str, CompiledExpression]]:
    return [(name, compiled(record, functions)) for name, record in pairs]


UnitExecutor = Callable[[Mapping[str, Any], Any], dict]  # (env, rng) → outputs; raises EvalError
