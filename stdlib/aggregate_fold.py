"""An aggregate's fold of a chunk of one step's results, generated as one Python function.

An aggregate over one step alone is folded into that step's chunks as they are
computed (runtime/work/unitwork.py ``UnitWork.fold``). Done generically
(:meth:`AggregateRunner.add_all`), each unit costs an env dict, a call per `by`
value and reduced argument, and a group key built from a tuple of types; for a
simulate of ~25 iterations a unit that is as much as a third of the walk.

:func:`chunk_folder` writes the same work out for one aggregate and one step::

    def _octo_fold(pairs, rows, decode, data, groups, str_keys, key_of, new_group, slow):
        for (_record, _value), _row in zip(pairs, rows):   # (unit record, output or None), its result row
            if _row[1] in _LEFT_OUT:             # a failed or blocked unit is reported as failed, not aggregated
                continue
            if _value is None and _row[2] is not None:
                _value = decode(_row[2])         # an output whose JSON does not read back as it is
            try:
                b0_v_unit = _record              # `by` 0, its compiled body inlined: env['unit'] → _record
                b0_t1 = None if b0_v_unit is None else b0_v_unit['scenario']
                ...
                a0_v_walk = _value               # each reduced argument likewise: env['walk'] → _value
                ...
                _key = str_keys.get(b0_t2) if type(b0_t2) is str else None
                if _key is None:
                    _key = key_of([b0_t2])        # AggregateRunner._key: the JSON key, remembered
            except Exception:
                slow(_record, _value)            # AggregateRunner.add: evaluates again, says why
                continue
            _group = groups.get(_key)
            if _group is None:
                _group = new_group(_key, [('scenario_id', b0_t2)], {'unit': _record, 'data': data, 'walk': _value})
            _group['n'] += 1
            _feeds = _group['feeds']
            _feeds[0][0](a0_t2)                  # appended in unit order: the same lists add_all builds
            ...

Only expressions whose compiled function is straight-line code reading nothing
but ``env['unit']``, ``env['data']`` and ``env[step]`` and no global name (no
helper, no constant, no work budget, so no CPU clock and no size cache to
reset) are inlined; with any other, :func:`chunk_folder` gives None and the
chunk goes through ``add_all``. A unit for which an inlined expression raises is
handed to ``slow`` before anything of it is kept, as ``add_all`` does, so
failures are reported exactly as streaming reports them. The values appended
are the same, in the same order, so the metrics (floats summed in that order)
are the same.
"""

from __future__ import annotations

import ast
import inspect
import itertools
from typing import Any, Callable

from octo.compiler.expressions.generated import load_generated

_counter = itertools.count()


def chunk_folder(runner, step: str) -> Callable | None:
    """The generated fold of ``runner``'s aggregate over chunks of ``step``'s results, called as
    ``fold(pairs, rows, decode, data)``: per unit (its record, its output or None when only its stored JSON
    gives it back as it is) and its result row (position, state, JSON, reason), as UnitWork.run gives them;
    ``decode`` reads a stored output. None when an expression cannot be inlined."""
    names = {"unit": "_record", "data": "data", step: "_value"}
    by = [(name, _inlined(expr, names, f"b{i}_")) for i, (name, expr) in enumerate(runner.by)]
    args = [_inlined(args[0], names, f"a{i}_") for i, (_, _, args) in enumerate([r for r in runner.reductions if r[2]])]
    if any(body is None for _, body in by) or any(body is None for body in args):
        return None
    source = _source(by, args, step)
    namespace: dict[str, Any] = {"__builtins__": {}, "Exception": Exception, "type": type, "zip": zip, "str": str,
                                 "_LEFT_OUT": frozenset({"failed", "blocked"})}
    fold = load_generated(source, f"<octo aggregate fold {next(_counter)}>", namespace, "_octo_fold")
    str_keys: dict[str, str] = {}

    def folder(pairs: list, rows: list, decode: Callable, data) -> None:
        if len(str_keys) > 100_000:  # as AggregateRunner._key's memory: bounded
            str_keys.clear()
        fold(pairs, rows, decode, data, runner.groups, str_keys, runner._key, runner._new_group,
             lambda record, value: runner.add({"unit": record, "data": data, step: value}))
    folder.source = source
    return folder


def _source(by: list, args: list, step: str) -> str:
    lines = ["def _octo_fold(pairs, rows, decode, data, groups, str_keys, key_of, new_group, slow):",
             "    for (_record, _value), _row in zip(pairs, rows):",
             "        if _row[1] in _LEFT_OUT:",
             "            continue",
             "        if _value is None and _row[2] is not None:",
             "            _value = decode(_row[2])",
             "        try:"]
    for _, (body, result) in by:
        lines += [" " * 12 + line for line in body]
    results = []
    for body, result in args:
        lines += [" " * 12 + line for line in body]
        results.append(result)
    by_values = [result for _, (_, result) in by]
    if not by:
        lines.append(" " * 12 + "_key = '[]'")  # one group: json.dumps([])
    elif len(by) == 1:  # a string key's JSON, remembered without the tuple of types AggregateRunner._key builds
        v = by_values[0]
        lines += [" " * 12 + f"_key = str_keys.get({v}) if type({v}) is str else None",
                  " " * 12 + "if _key is None:",
                  " " * 16 + f"_key = key_of([{v}])",
                  " " * 16 + f"if type({v}) is str:",
                  " " * 20 + f"str_keys[{v}] = _key"]
    else:
        lines.append(" " * 12 + f"_key = key_of([{', '.join(by_values)}])")
    pairs = ", ".join(f"({name!r}, {v})" for (name, _), v in zip(by, by_values))
    lines += ["        except Exception:",
              "            slow(_record, _value)",
              "            continue",
              "        _group = groups.get(_key)",
              "        if _group is None:",
              f"            _group = new_group(_key, [{pairs}], {{'unit': _record, 'data': data, {step!r}: _value}})",
              "        _group['n'] += 1"]
    if results:
        lines.append("        _feeds = _group['feeds']")
        lines += [f"        _feeds[{i}][0]({r})" for i, r in enumerate(results)]
    return "\n".join(lines) + "\n"


def _inlined(expr, names: dict[str, str], prefix: str) -> tuple[list[str], str] | None:
    """(lines, the name holding the value) of a compiled expression's body (its generated source) written inline, its locals
    renamed with ``prefix`` and ``env['x']`` read from ``names['x']``; None unless it is straight-line
    code of assignments ending in a return, reading no global name."""
    code = expr._fn.__code__
    if code.co_names or any(inspect.iscode(c) for c in code.co_consts) or code.co_varnames[:2] != ("env", "rng"):
        return None
    try:
        tree = ast.parse(expr.source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.FunctionDef) else []
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None \
            or not all(isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                       for s in body[:-1]):
        return None
    renamer = _Renamer(names, prefix)
    try:
        statements = [renamer.visit(s) for s in body[:-1]]
        result = renamer.visit(body[-1].value)
    except _NotInlinable:
        return None
    lines = [ast.unparse(s) for s in statements]
    if isinstance(result, ast.Name):
        return lines, result.id
    lines.append(f"{prefix}value = {ast.unparse(result)}")
    return lines, f"{prefix}value"


class _NotInlinable(Exception):
    pass


class _Renamer(ast.NodeTransformer):
    """Locals get a prefix; ``env['x']`` becomes the fold's name for x; anything else of note refuses."""

    def __init__(self, names: dict[str, str], prefix: str):
        self.names, self.prefix = names, prefix

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id == "env":
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in self.names:
                return ast.copy_location(ast.Name(self.names[key.value], ast.Load()), node)
            raise _NotInlinable
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("env", "rng"):
            raise _NotInlinable  # env read otherwise than by a constant key, or a stream used
        return ast.copy_location(ast.Name(self.prefix + node.id, node.ctx), node)

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (ast.Lambda, ast.comprehension, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            raise _NotInlinable
        return super().generic_visit(node)
