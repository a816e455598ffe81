"""Running an `aggregate` step: group units, reduce per group, evaluate `expect`.

A metric such as ``abs(mean(walk.steps) - 25) < 1`` is split once: every call
that reduces over units (an aggregate function whose first argument varies
from unit to unit) becomes a name, ``__agg0``, whose value is the function
applied to that argument's values over the group's units. Units are streamed:
per group only the reduced arguments and the first unit (for values that are
constant in the group, such as ``unit.scenario.start`` when grouping by
``unit.scenario.id``) are kept.

Nothing a unit or a group does stops the step (docs/run.md): a reduced argument
that raises for a unit makes its metric null for that group, with the reason
(and how many units, and one of them) under the group's `errors`; a reduction
that raises does the same; a unit whose `by` or `when` raises is left out of
every group and counted, with the reason, in a group of its own whose `by`
values are null (key ``LEFT_OUT``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

from octo.compiler.expressions import ast
from octo.compiler.expressions.ast import free_names
from octo.compiler.expressions.astjson import from_record
from octo.compiler.expressions.codegen import EvalError, compile_expression
from octo.compiler.expressions.cpuclock import CLOCK
from octo.compiler.expressions.evalsupport import KNOWN, LAST, forget_sizes
from octo.compiler.expressions.evalmessages import plain_failure
from octo.compiler.expressions.typecheck import dotted


_SCALARS = frozenset({str, int, bool, type(None)})  # not float: 0.0 == -0.0 as keys, not as JSON
LEFT_OUT = "!"  # the key of the units no group could take (sorts before every JSON key)


class AggregateRunner:
    def __init__(self, config: dict, functions):
        self.functions = functions
        self.by = [(name, compile_expression(from_record(rec), functions)) for name, rec in config["by"]]
        by_paths = [tuple(dotted(from_record(rec)) or ()) for _, rec in config["by"]]
        self.constant_prefixes = [p for p in by_paths if p] + [p[:2] for p in by_paths if len(p) == 3 and p[0] == "unit" and p[2] == "id"]
        self.group_names = {name for name, _ in config["by"]} | {name for name, _ in config["metrics"]} | {"data"}
        self.reductions: list[tuple[str, Any, list]] = []  # (name, function, [arg0 compiled, rest compiled...])
        self._calls: dict[str, ast.Call] = {}  # reduction name → its call, for reasons
        self._uses: dict[int, list[str]] = {}  # id of a metric's or expectation's record → its reductions
        self.metrics = [(name, self._split(rec)) for name, rec in config["metrics"]]
        self.expects = [(rec, self._split(rec)) for rec in config["expect"]]
        self._metric_uses = {name: self._uses[id(rec)] for name, rec in config["metrics"]}
        self._left_out: dict[str, dict] = {}  # `by` / `when` → reason, units, example
        self.groups: dict[str, dict] = {}
        self._keys: dict[tuple, str] = {}  # scalar `by` values (with their types) → the group key
        self._encode_key = json.JSONEncoder(sort_keys=True, default=str).encode  # as json.dumps(.., sort_keys, default)

    def reads(self, name: str) -> bool:
        """Whether streaming a unit evaluates anything that reads ``name`` from its env."""
        exprs = [expr for _, expr in self.by] + [args[0] for _, _, args in self.reductions if args]
        return any(name in expr.names for expr in exprs)

    # --- compile time ------------------------------------------------------------

    def _split(self, record: dict):
        before = len(self.reductions)
        tree = self._rewrite(from_record(record))
        self._uses[id(record)] = [name for name, _, _ in self.reductions[before:]]
        return compile_expression(tree, self.functions, label=record["at"])

    def _rewrite(self, node):
        if isinstance(node, ast.Call):
            fn = self.functions.get(node.func)
            if fn is not None and fn.aggregate and (fn.counts_bare if not node.args else self._varies(node.args[0])):
                name = f"__agg{len(self.reductions)}"
                args = [compile_expression(a, self.functions) for a in node.args]
                self.reductions.append((name, fn, args))
                self._calls[name] = node
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
        try:
            key_values, key = self.group_of(env)
        except EvalError as err:
            self.leave_out("by", err, _unit_id(env, unit))
            return
        group = self.groups.get(key)
        if group is None:
            group = self._new_group(key, key_values, {**env, "unit": unit()} if unit is not None else env)
        group["n"] += 1
        for append, argument, name in group["feeds"]:
            try:
                append(argument.evaluate(env))
            except EvalError as err:  # this reduction is null for the group; the others go on
                _count(group["failed"], name, err, _unit_id(env, unit))

    def group_of(self, env: dict) -> tuple[list, str]:
        """(`by` values, group key) of a unit; raises EvalError when a `by` does (the unit is then in no group).
        The HTML report puts units in groups with it too (runtime/reading/groupdists.py)."""
        if not self.by:
            return [], "[]"  # one group: json.dumps([])
        key_values = [(name, expr.evaluate(env)) for name, expr in self.by]
        return key_values, self._key([v for _, v in key_values])

    def add_all(self, envs: list[dict]) -> None:
        """:meth:`add` of each env in turn, each holding its unit's record (a chunk folded as its step is
        computed). The `by` values and reduced arguments come from their compiled functions directly, with
        what :meth:`CompiledExpression.evaluate` does first; a unit for which any raises goes through
        :meth:`add`, which evaluates them again (pure, without a stream), so says why as it always does."""
        fns = [expr._fn for _, expr in self.by] + [args[0]._fn for _, _, args in self.reductions if args]
        names, nby, groups, key_of, clock = [name for name, _ in self.by], len(self.by), self.groups, self._key, CLOCK
        for env in envs:
            values = []
            try:
                for fn in fns:
                    if not clock.unit:  # as evaluate: each evaluation outside a unit has its own CPU budget
                        clock.started = None
                    if KNOWN or LAST[0] is not None:
                        forget_sizes()
                    values.append(fn(env, None))
                key = key_of(values[:nby]) if nby else "[]"
            except Exception:
                self.add(env)
                continue
            group = groups.get(key)
            if group is None:
                group = self._new_group(key, list(zip(names, values)), env)
            group["n"] += 1
            for (append, _, _), value in zip(group["feeds"], values[nby:]):
                append(value)

    def leave_out(self, what: str, err: EvalError, unit_id: str) -> None:
        """A unit no group can take: its `by` (or the step's `when`) raised."""
        _count(self._left_out, what, err, unit_id)

    def _new_group(self, key: str, key_values: list, first: dict) -> dict:
        values = {name: [] for name, _, _ in self.reductions}
        # per reduction over units: where its argument's values go, the argument (looked up once), its name
        feeds = [(values[name].append, args[0], name) for name, _, args in self.reductions if args]
        group = self.groups[key] = {"by": dict(key_values), "first": first, "n": 0, "values": values, "feeds": feeds,
                                    "failed": {}}
        return group

    def _key(self, values: list) -> str:
        """The group key: the `by` values as JSON, remembered for scalar values (encoding is most of the cost)."""
        types = tuple([type(v) for v in values])
        if not _SCALARS.issuperset(types):
            return self._written_key(values)
        typed = (types, tuple(values))  # True, 1 and 1.0 are equal as keys but not as JSON: the types tell them apart
        key = self._keys.get(typed)
        if key is None:
            key = self._written_key(values)
            if len(self._keys) < 100_000:
                self._keys[typed] = key
        return key

    def _written_key(self, values: list) -> str:
        try:
            return self._encode_key(values)
        except (ValueError, RecursionError) as err:  # a whole number too long to write, values nested too deeply
            why = "a whole number of more than 4,300 digits" if "digits" in str(err) else "a value that cannot be written"
            raise EvalError(f"the group key holds {why}") from None

    # --- in worker processes: a chunk's groups, merged in unit order ---------------------

    def take_part(self) -> dict:
        """The groups and left-out units streamed so far, as plain (picklable) data, and start afresh.

        A worker process streams one chunk of units into a part; the run's own runner merges
        the parts in unit order (:meth:`merge`) and gets the groups it would have built itself:
        the same values in the same order, the same first unit, the same counts and examples.
        The `data` tables are left out of a group's first unit: the merging side has its own.
        """
        part = {"groups": {key: {"by": g["by"], "first": {k: v for k, v in g["first"].items() if k != "data"},
                                 "n": g["n"], "values": g["values"], "failed": g["failed"]}
                           for key, g in self.groups.items()},
                "left_out": self._left_out}
        self.groups, self._left_out = {}, {}
        return part

    def merge(self, part: dict, data) -> None:
        """Add a part (:meth:`take_part`) of the units after every unit streamed or merged so far."""
        for key, g in part["groups"].items():
            group = self.groups.get(key)
            if group is None:
                group = self._new_group(key, list(g["by"].items()), {**g["first"], "data": data})
            group["n"] += g["n"]
            for name, values in g["values"].items():
                group["values"][name].extend(values)
            _merge_counts(group["failed"], g["failed"])
        _merge_counts(self._left_out, part["left_out"])

    @staticmethod
    def _attempt(errors: list, what: str, compute):
        """A metric or expectation that raises gives null, and its reason is kept for the report."""
        try:
            return compute()
        except EvalError as err:
            errors.append({"metric": what, "reason": _reason(err)})
            return None

    def finish(self) -> list[dict]:
        """Per group, in key order: `by` values, metrics, and the expectations' verdicts."""
        out = [self._finish_group(key, self.groups[key]) for key in sorted(self.groups)]
        if self._left_out:
            out.insert(0, self._left_out_group())
        return out

    def _finish_group(self, key: str, group: dict) -> dict:
        env = {**group["first"], **group["by"]}
        failed = {name: _counted_reason(entry) for name, entry in group["failed"].items()}
        for name, fn, args in self.reductions:
            if name not in failed:
                env[name] = self._reduce(group, name, fn, args, env, failed)
        errors: list[dict] = []
        metrics = {}
        for name, expr in self.metrics:
            broken = [failed[r] for r in self._metric_uses[name] if r in failed]
            if broken:
                errors.append({"metric": name, "reason": broken[0]})
                metrics[name] = env[name] = None
            else:
                metrics[name] = env[name] = self._attempt(errors, name, lambda: expr.evaluate(env))
        metric_errors = {e["metric"]: e["reason"] for e in errors}
        shown = {**group["by"], **metrics}  # what an expectation's verdict quotes: the metrics and `by` keys it reads
        expects = [self._expect(record, expr, env, shown, failed, metric_errors) for record, expr in self.expects]
        return {"key": key, "by": group["by"], "units": group["n"], "metrics": metrics, "expects": expects,
                "errors": errors}

    def _reduce(self, group: dict, name: str, fn, args: list, env: dict, failed: dict):
        """One reduction over the group's values; a failure is recorded in ``failed`` (the value is then null)."""
        if not args:
            return group["n"]
        try:
            return fn.impl(group["values"][name], *[a.evaluate(env) for a in args[1:]])
        except EvalError as err:
            failed[name] = _reason(err if err.span is not None else EvalError(err.message, self._calls[name].span))
        except Exception as exc:  # an implementation's own failure (an overflow adding up huge values)
            failed[name] = _reason(EvalError(_plain(exc), self._calls[name].span))
        return None

    def _expect(self, record: dict, expr, env: dict, shown: dict, failed: dict, metric_errors: dict) -> dict:
        """An expectation's verdict; one that reads a metric that raised fails with that metric's reason."""
        read = [n for n, _ in free_names(from_record(record)) if n in shown]
        entry = {"text": record["text"], "at": record["at"], "passed": False, "values": {n: env[n] for n in read}}
        broken = [failed[r] for r in self._uses[id(record)] if r in failed]
        broken += [f"metric '{n}' is null: {metric_errors[n]}" for n in read if n in metric_errors]
        if broken:
            entry["error"] = broken[0]
            return entry
        errors: list[dict] = []
        entry["passed"] = bool(self._attempt(errors, record["text"], lambda: expr.evaluate(env)))
        if errors:
            entry["error"] = errors[0]["reason"]
        return entry

    def _left_out_group(self) -> dict:
        """The units no group could take, as a group of their own: null keys, null metrics, the reasons."""
        return {"key": LEFT_OUT, "by": {name: None for name, _ in self.by},
                "units": sum(entry["units"] for entry in self._left_out.values()),
                "metrics": {name: None for name, _ in self.metrics}, "expects": [],
                "errors": [{"metric": what, "reason": _counted_reason(entry)} for what, entry in self._left_out.items()]}


def _unit_id(env: dict, unit: Callable[[], dict] | None) -> str:
    record = env.get("unit") if unit is None else unit()
    return str(record.get("id")) if isinstance(record, dict) else "?"


def _count(failures: dict, name: str, err: EvalError, unit_id: str) -> None:
    """One more unit for which ``name`` raised; the first unit's reason is the one kept."""
    entry = failures.get(name)
    if entry is None:
        entry = failures[name] = {"reason": _reason(err), "units": 0, "example": unit_id}
    entry["units"] += 1


def _merge_counts(failures: dict, later: dict) -> None:
    """:func:`_count`'s entries of later units added: the earlier first unit's reason and example stay."""
    for name, entry in later.items():
        mine = failures.get(name)
        if mine is None:
            failures[name] = dict(entry)
        else:
            mine["units"] += entry["units"]


def _counted_reason(entry: dict) -> str:
    n = entry["units"]
    return f"{entry['reason']} (for {n:,} unit{'s' if n != 1 else ''}, e.g. {entry['example']})"


def _reason(err: EvalError) -> str:
    """The message, the expression quoted (when short) and where it is written."""
    where = err.where()
    try:
        text = " ".join(err.span.text().split()) if err.span is not None else ""
    except Exception:
        text = ""
    quoted = f" in `{text}`" if text and len(text) <= 80 else ""
    return f"{err.message}{quoted}" + (f" at {where}" if where else "")


def _plain(exc: Exception) -> str:
    """A reduction's failure in words: expressions' wording, plus the overflow an `fsum` of huge values gives."""
    if isinstance(exc, OverflowError):
        return "the result is too large for a number (overflow)"
    return plain_failure(exc)
