"""Running an `aggregate` step: group units, reduce per group, evaluate `expect`.

A metric such as ``abs(mean(walk.steps) - 25) < 1`` is split once: every call
that reduces over units (an aggregate function whose first argument varies
from unit to unit) becomes a name, ``__agg0``, whose value is the function
applied to that argument's values over the group's units. Units are streamed:
per group only the reduced arguments and the first unit (for values that are
constant in the group, such as ``unit.scenario.start`` when grouping by
``unit.scenario.id``) are kept.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

from octo.compiler import ast
from octo.compiler.astjson import from_record
from octo.compiler.codegen import compile_expression
from octo.compiler.graph import free_names
from octo.compiler.typecheck import dotted


_SCALARS = frozenset({str, int, bool, type(None)})  # not float: 0.0 == -0.0 as keys, not as JSON


class AggregateRunner:
    def __init__(self, config: dict, functions):
        self.functions = functions
        self.by = [(name, compile_expression(from_record(rec), functions)) for name, rec in config["by"]]
        by_paths = [tuple(dotted(from_record(rec)) or ()) for _, rec in config["by"]]
        self.constant_prefixes = [p for p in by_paths if p] + [p[:2] for p in by_paths if len(p) == 3 and p[0] == "unit" and p[2] == "id"]
        self.group_names = {name for name, _ in config["by"]} | {name for name, _ in config["metrics"]} | {"data"}
        self.reductions: list[tuple[str, Any, list]] = []  # (name, function, [arg0 compiled, rest compiled...])
        self.metrics = [(name, self._split(rec)) for name, rec in config["metrics"]]
        self.expects = [(rec, self._split(rec)) for rec in config["expect"]]
        self.groups: dict[str, dict] = {}
        self._keys: dict[tuple, str] = {}  # scalar `by` values (with their types) → the group key
        self._encode_key = json.JSONEncoder(sort_keys=True, default=str).encode  # as json.dumps(.., sort_keys, default)

    def reads(self, name: str) -> bool:
        """Whether streaming a unit evaluates anything that reads ``name`` from its env."""
        exprs = [expr for _, expr in self.by] + [args[0] for _, _, args in self.reductions if args]
        return any(name in expr.names for expr in exprs)

    # --- compile time ------------------------------------------------------------

    def _split(self, record: dict):
        tree = self._rewrite(from_record(record))
        return compile_expression(tree, self.functions, label=record["at"])

    def _rewrite(self, node):
        if isinstance(node, ast.Call):
            fn = self.functions.get(node.func)
            if fn is not None and fn.aggregate and (not node.args or self._varies(node.args[0])):
                name = f"__agg{len(self.reductions)}"
                args = [compile_expression(a, self.functions) for a in node.args]
                self.reductions.append((name, fn, args))
                return ast.Name(node.span, name)
        if not isinstance(node, ast.Node):
            return node
        changes = {}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if isinstance(value, ast.Node):
                changes[f.name] = self._rewrite(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], ast.Node):
                changes[f.name] = tuple(self._rewrite(v) for v in value)
        return dataclasses.replace(node, **changes) if changes else node

    def _varies(self, expr) -> bool:
        for node in ast.walk(expr):
            path = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            if path and path[0] not in self.group_names and not any(tuple(path[: len(p)]) == p for p in self.constant_prefixes):
                return True
        return False

    # --- run time -------------------------------------------------------------------

    def add(self, env: dict, unit: Callable[[], dict] | None = None) -> None:
        """Stream one unit (its `unit`, `data` and upstream outputs) into its group.

        ``unit`` makes the unit's record when ``env`` leaves it out (as it may when nothing
        streamed reads it): only a group's first unit needs it, for values constant in the group.
        """
        if self.by:
            key_values = [(name, expr.evaluate(env)) for name, expr in self.by]
            key = self._key([v for _, v in key_values])
        else:
            key_values, key = [], "[]"  # one group: json.dumps([])
        group = self.groups.get(key)
        if group is None:
            group = self._new_group(key, key_values, {**env, "unit": unit()} if unit is not None else env)
        group["n"] += 1
        for append, argument in group["feeds"]:
            append(argument.evaluate(env))

    def _new_group(self, key: str, key_values: list, first: dict) -> dict:
        values = {name: [] for name, _, _ in self.reductions}
        # per reduction over units: where its argument's values go, and the argument, looked up once
        feeds = [(values[name].append, args[0]) for name, _, args in self.reductions if args]
        group = self.groups[key] = {"by": dict(key_values), "first": first, "n": 0, "values": values, "feeds": feeds}
        return group

    def _key(self, values: list) -> str:
        """The group key: the `by` values as JSON, remembered for scalar values (encoding is most of the cost)."""
        types = tuple([type(v) for v in values])
        if not _SCALARS.issuperset(types):
            return self._encode_key(values)
        typed = (types, tuple(values))  # True, 1 and 1.0 are equal as keys but not as JSON: the types tell them apart
        key = self._keys.get(typed)
        if key is None:
            key = self._encode_key(values)
            if len(self._keys) < 100_000:
                self._keys[typed] = key
        return key

    @staticmethod
    def _attempt(errors: list, what: str, compute):
        """A metric or expectation that raises gives null, and its reason is kept for the report."""
        from octo.compiler.codegen import EvalError

        try:
            return compute()
        except EvalError as err:
            where = err.where()
            errors.append({"metric": what, "reason": err.message + (f" at {where}" if where else "")})
            return None

    def finish(self) -> list[dict]:
        """Per group, in key order: `by` values, metrics, and the expectations' verdicts."""
        out = []
        for key in sorted(self.groups):
            group = self.groups[key]
            env = {**group["first"], **group["by"]}
            errors: list[dict] = []
            for name, fn, args in self.reductions:
                env[name] = self._attempt(errors, name, lambda: fn.impl(group["values"][name], *[a.evaluate(env) for a in args[1:]])
                                          if args else group["n"])
            metrics = {}
            for name, expr in self.metrics:
                metrics[name] = env[name] = self._attempt(errors, name, lambda: expr.evaluate(env))
            expects = []
            for record, expr in self.expects:
                failures_before = len(errors)
                value = self._attempt(errors, record["text"], lambda: expr.evaluate(env))
                shown = {n: env[n] for n, _ in free_names(from_record(record)) if n in metrics}
                entry = {"text": record["text"], "at": record["at"], "passed": bool(value), "values": shown}
                if len(errors) > failures_before:
                    entry["error"] = errors.pop()["reason"]
                expects.append(entry)
            out.append({"key": key, "by": group["by"], "units": group["n"], "metrics": metrics, "expects": expects,
                        "errors": errors})
        return out
