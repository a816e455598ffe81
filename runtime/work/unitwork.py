"""Running a per-unit local step over a chunk of units.

:class:`UnitWork` is built from the Plan alone — the unit space, the data and
each step's compiled executor — so a worker process can build its own
(compiled expressions are not picklable) and compute exactly what the tick's
own process would. It takes upstream outputs as stored (JSON text) and gives
rows ready to store (outputs as JSON text): encoding and decoding happen
wherever the chunk runs, not in the process that commits it.

Whatever goes wrong while a unit is computed — an expression, a `validate`
message, an output that cannot be stored — fails that unit with a reason, and
the chunk goes on.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from octo.compiler.expressions.chunkkernel import FAILED
from octo.compiler.expressions.codegen import EvalError
from octo.compiler.expressions.cpuclock import CLOCK
from octo.compiler.expressions.evalsupport import UnitStreams, unit_stream
from octo.compiler.planning.ir import Plan
from octo.stdlib import default_language
from octo.stdlib.aggregate_fold import chunk_folder
from octo.stdlib.execution import compiled

from ..base.encoding import DICT_TAG, UnstorableValue, c_encoder, clear_marks, decode_output, encode_output, stored_value  # noqa: F401  (decode_output: re-exported)
from .outputrows import row_writer
from .templating import TemplateFailure, UnitTemplate, message_template, rule_message, unrendered_message
from .units import data_env, unit_space

Unit = tuple[int, int, str]  # (position, index in the unit space, id)
StoredResult = tuple[str, "str | None", "str | None"]  # (state, output as JSON, reason)
ResultRow = tuple[int, str, "str | None", "str | None"]  # (position, state, output as JSON, reason)

class StepExecutor:
    """One step compiled: its body (with `validate` rules), its `when`, and whether it needs a stream."""

    __slots__ = ("run", "when", "needs_rng", "judged", "kernel")

    def __init__(self, step: dict, language):
        kind = language.kinds[step["kind"]]
        if kind.verdict:  # a gate: its `message` is a template, rendered (and placed) as prompts are
            run = kind.executor(step["config"], language.functions, UnitTemplate.of)
        else:
            run = kind.executor(step["config"], language.functions)
        self.judged = step["config"]["of"] if kind.verdict else None
        rules = [(compiled(v["rule"], language.functions), message_template(v)) for v in step.get("validate", [])]
        self.when = compiled(step["when"], language.functions)
        self.needs_rng = getattr(run, "random", True) or (self.when is not None and self.when.random)
        # `validate` rules must see sets as they will be stored (listed); without rules the encoder lists them alike
        private = getattr(run, "private", frozenset())  # a compute's `_names`: its `validate` sees them, no one after
        # a simulate's loop over a whole chunk (compiler/expressions/chunkkernel.py): when the unit's whole step
        # is that loop — no `when`, no verdict, no `validate` rule, nothing private
        plain = self.when is None and self.judged is None and not rules and not private
        self.kernel = getattr(run, "chunk", None) if plain else None
        run = validated(storable(run), rules) if rules else run
        self.run = without(run, private) if private else run


class UnitWork:
    """Computes chunks of per-unit steps: a pure function of the Plan, the units and their upstream results."""

    def __init__(self, plan: Plan, language=None):
        self.language = language or default_language()
        self.space = unit_space(plan)
        self.data = data_env(plan)
        self.seed = plan.data["pipeline"]["seed"]
        self.steps = {s["name"]: s for s in plan.steps}
        self._executors: dict[str, StepExecutor] = {}
        self._aggregators: dict[str, tuple] = {}
        self._folders: dict[tuple[str, str], Callable | None] = {}
        self._writers: dict[tuple, Callable | None] = {}

    def executor(self, name: str) -> StepExecutor:
        if name not in self._executors:
            self._executors[name] = StepExecutor(self.steps[name], self.language)
        return self._executors[name]

    def run(self, name: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]],
            admit: Callable | None = None, records: list | None = None) -> list[ResultRow]:
        """The result row of step ``name`` for each unit, from its upstream steps' stored results.

        ``admit(pos, unit_id, env)``: a `unique_by` step's check (runtime/work/dedup.py), in unit order.
        ``records``, when given, gets per unit (its `unit` record, its output if decoding the stored JSON
        would give it back as it is, else None), in order: for :meth:`fold`.
        """
        ex = self.executor(name)
        streams = UnitStreams(self.seed)  # one stream reseeded per unit: a unit is done before the next starts
        rows: list[ResultRow] = []
        row = self._row_maker(name, rows, records)
        if ex.kernel is not None and not upstream and admit is None:
            self._kernel_rows(name, ex, units, streams, rows, records, row)
            return rows
        for (pos, _, _), (record, state, output, reason) in zip(units, self._unit_by_unit(name, ex, units, upstream,
                                                                                          admit, streams)):
            row(pos, record, state, output, reason)
        return rows

    def _row_maker(self, name: str, rows: list, records: list | None) -> Callable:
        """``row(pos, record, state, output, reason)``: a unit's result row into ``rows`` (its output as
        stored JSON) and, when ``records`` is given, (record, the output if its JSON reads back as it is)."""
        step, flat = self.steps[name], flat_encoder()

        def row(pos: int, record: dict, state: str, output: Any, reason: str | None) -> None:
            value = output
            text, reads_back = flat(output)  # a dict of scalars, the usual output, written without a look for tags
            if text is not None:
                rows.append((pos, state, text, reason))
                if records is not None:
                    records.append((record, value if reads_back else None))
                return
            if output is not None:
                try:
                    output = encode_output(output)
                except UnstorableValue as err:
                    state, output, reason = "failed", None, unstorable_reason(step, output, err)
            rows.append((pos, state, output, reason))
            if records is not None:
                records.append((record, value if output is not None and _round_trips(value) else None))
        return row

    def _unit_by_unit(self, name: str, ex: StepExecutor, units: list[Unit], upstream: dict, admit: Callable | None,
                      streams: UnitStreams) -> list[tuple]:
        """(record, state, output, reason) per unit, one :meth:`run_unit` call each."""
        run_unit, unit_record, out = self.run_unit, self.space.unit, []
        for pos, idx, unit_id in units:
            ups = {d: r[pos] for d, r in upstream.items()} if upstream else {}
            unit_admit = (lambda env, pos=pos, unit_id=unit_id: admit(pos, unit_id, env)) if admit is not None else None
            record = unit_record(idx, unit_id)
            out.append((record, *run_unit(name, ex, idx, unit_id, ups, decode_output, unit_admit, streams, record)))
        return out

    def _kernel_rows(self, name: str, ex: StepExecutor, units: list[Unit], streams: UnitStreams, rows: list,
                     records: list | None, row: Callable) -> None:
        """The chunk's rows from one call of the step's chunk kernel, written by the generated loop of
        runtime/work/outputrows.py; a unit the kernel could not finish is run again through
        :meth:`run_unit`, which says why it fails, and any output that loop does not write goes to ``row``."""
        values: list = []
        unit_records = self.space.records(units)
        try:
            ex.kernel(units, unit_records, self.data, random.Random() if ex.needs_rng else None, self.seed, name,
                      CLOCK, values)
        finally:
            CLOCK.end_unit()  # also when stopped midway (Ctrl-C): later evaluations are outside any unit

        def slow(pos: int, idx: int, unit_id: str, record: dict, value: Any) -> None:
            if value is FAILED:
                row(pos, record, *self.run_unit(name, ex, idx, unit_id, {}, None, None, streams, record))
            else:
                row(pos, record, "done", value, None)
        first = next((v for v in values if v is not FAILED), None)
        writer = self._writer(tuple(first)) if type(first) is dict else None
        if writer is None:
            for (pos, idx, unit_id), record, value in zip(units, unit_records, values):
                slow(pos, idx, unit_id, record, value)
        else:
            writer(units, unit_records, values, rows, records if records is not None else [], slow)

    def _writer(self, keys: tuple) -> Callable | None:
        """The generated writer of outputs with ``keys`` (runtime/work/outputrows.py), made once."""
        if keys not in self._writers:
            self._writers[keys] = row_writer(keys)
        return self._writers[keys]

    def fold(self, aggregate: str, step: str, units: list[Unit], records: list[tuple], rows: list[ResultRow]) -> dict:
        """Aggregate ``aggregate``'s part (AggregateRunner.take_part) over a chunk of ``step``'s rows just
        computed, ``records`` as :meth:`run` gave them: what streaming the same rows from the store would
        give (an aggregate folded this way reads ``step`` alone: Engine._fold_for)."""
        runner, when = self._aggregator(aggregate)
        folder = self._folder(aggregate, step) if when is None else None
        if folder is not None:  # the same, generated: stdlib/aggregate_fold.py
            folder(records, rows, decode_output, self.data)
            return runner.take_part()
        data, envs = self.data, []
        for (_, _, unit_id), (record, value), (_, state, output, _) in zip(units, records, rows):
            if state in ("failed", "blocked"):
                continue  # a failed unit is reported as failed, not aggregated
            if value is None and output is not None:
                value = decode_output(output)
            env = {"unit": record, "data": data, step: value}
            if when is None:
                envs.append(env)
            else:
                stream_unit(runner, when, env, unit_id)
        if envs:
            runner.add_all(envs)
        return runner.take_part()

    def _folder(self, aggregate: str, step: str) -> Callable | None:
        """Aggregate ``aggregate``'s generated fold of ``step``'s chunks (stdlib/aggregate_fold.py), built once;
        None when its expressions cannot be written inline (the chunk then goes through ``add_all``)."""
        key = (aggregate, step)
        if key not in self._folders:
            self._folders[key] = chunk_folder(self._aggregator(aggregate)[0], step)
        return self._folders[key]

    def aggregate_part(self, name: str, units: list[Unit], upstream: dict[str, dict[int, StoredResult]]) -> dict:
        """Aggregate step ``name``'s groups over ``units`` alone, as a part to merge (AggregateRunner.take_part)."""
        runner, when = self._aggregator(name)
        stream_units(runner, when, units, upstream, self.space, self.data)
        return runner.take_part()

    def _aggregator(self, name: str) -> tuple:
        """(runner, when) of aggregate step ``name``, built once: parts are taken from it chunk by chunk."""
        if name not in self._aggregators:
            step = self.steps[name]
            kind = self.language.kinds[step["kind"]]
            self._aggregators[name] = (kind.runner(step["config"], self.language.functions),
                                       compiled(step["when"], self.language.functions))
        return self._aggregators[name]

    def run_unit(self, name: str, ex: StepExecutor, idx: int, unit_id: str, upstream: dict[str, tuple],
                 decode: Callable[[Any], Any] | None = None,
                 admit: Callable[[dict], str | None] | None = None,
                 streams: UnitStreams | None = None, record: dict | None = None) -> tuple[str, Any, str | None]:
        """(state, output, reason) of one unit; ``decode`` turns a stored upstream output into a value;
        ``admit(env)``, for a `unique_by` step, gives why a duplicate is skipped (None: the unit runs);
        ``streams`` makes the unit's stream (a fresh :func:`unit_stream` without); ``record``: the unit's
        record, when already made."""
        for dep, (state, _, _) in upstream.items():
            if state in ("failed", "blocked"):
                return "blocked", None, f"upstream step '{dep}' failed"
        if ex.judged is not None and upstream[ex.judged][0] == "skipped":
            return "skipped", None, None  # a verdict on a skipped step has nothing to judge
        env = {"unit": record if record is not None else self.space.unit(idx, unit_id), "data": self.data}
        for dep, (_, output, _) in upstream.items():
            env[dep] = decode(output) if decode is not None and output is not None else output
        if ex.needs_rng:  # a stream costs ~10 µs to seed: only when drawn from
            rng = streams(unit_id, name) if streams is not None else unit_stream(self.seed, unit_id, name)
        else:
            rng = None
        CLOCK.start_unit()  # one CPU budget for the unit's whole step, however many values it computes
        try:
            if ex.when is not None and not ex.when.evaluate(env, rng):
                return "skipped", None, None
            duplicate = admit(env) if admit is not None else None
            if duplicate is not None:
                return "skipped", None, duplicate
            return "done", ex.run(env, rng), None
        except EvalError as err:
            return "failed", None, failure_reason(err)
        except Exception as err:  # a failure octo did not put in words: still this unit's, never the run's
            return "failed", None, (f"this unit failed in an unexpected way ({type(err).__name__}: {err}); "
                                    f"please report it with the pipeline")
        finally:
            CLOCK.end_unit()


def stream_units(runner, when, units: list[Unit], upstream: dict[str, dict[int, StoredResult]], space, data) -> None:
    """Every unit of a chunk whose upstream steps succeeded (and whose `when` holds) into an aggregate's ``runner``.

    The unit record is made only if something streamed reads it (else only for a group's first unit).
    """
    with_unit = runner.reads("unit") or (when is not None and "unit" in when.names)
    decode, upstream_items = decode_output, list(upstream.items())
    for pos, idx, unit_id in units:
        env = {"unit": space.unit(idx, unit_id)} if with_unit else {}
        env["data"] = data
        for dep, results in upstream_items:
            state, output, _ = results[pos]
            if state in ("failed", "blocked"):
                break  # a failed unit is reported as failed, not aggregated
            env[dep] = decode(output) if output is not None else None
        else:
            stream_unit(runner, when, env, unit_id,
                        None if with_unit else (lambda idx=idx, unit_id=unit_id: space.unit(idx, unit_id)))


def stream_unit(runner, when, env: dict, unit_id: str, unit: Callable[[], dict] | None = None) -> None:
    """One unit whose upstream steps succeeded into an aggregate's ``runner``, if its `when` holds
    (``unit`` makes its record when ``env`` has none)."""
    if when is not None:
        try:
            if not when.evaluate(env):
                return
        except EvalError as err:  # left out of every group, and said why in the report
            runner.leave_out("when", err, unit_id)
            return
    runner.add(env, unit)


_SCALARS = frozenset({str, int, bool, type(None)})
_FLAT = _SCALARS | {float}
_STR = frozenset({str})


def flat_encoder() -> Callable[[Any], "tuple[str | None, bool]"]:
    """A function giving (stored JSON, whether decoding it gives the output back as it is) of an output
    that is a dict of strings, whole numbers, booleans, nulls and floats (no tag to look for: every key a
    string, no container), (None, False) for any other value: the JSON :func:`encode_output` writes for
    it, by the same C encoder, without its look at every value."""
    encode, dict_tag = c_encoder(), DICT_TAG

    def flat(output):
        if type(output) is dict:
            types = set(map(type, output.values()))
            if types <= _FLAT and set(map(type, output)) <= _STR and dict_tag not in output:
                try:
                    return "".join(encode(output, 0)), float not in types or _finite(output)
                except Exception:  # a whole number too long to write: encode_output says why
                    clear_marks()
        return None, False
    return flat


def _finite(output: dict) -> bool:
    """Whether a flat output's floats are finite: JSON writes a finite float's shortest repr, which reads back the same."""
    return all(-_INF < v < _INF for v in output.values() if type(v) is float)


def _round_trips(output: Any) -> bool:
    """Whether decoding ``output``'s stored JSON gives it back as it is: a dict of strings, whole numbers,
    booleans, nulls and finite floats (JSON writes a float's shortest repr, which reads back the same)."""
    if type(output) is not dict or DICT_TAG in output:
        return False
    types = set(map(type, output.values()))  # one pass in C: this runs for every unit folded
    if types <= _SCALARS:
        return True
    return types - _SCALARS == _FLOAT and all(-_INF < v < _INF for v in output.values() if type(v) is float)


_FLOAT = frozenset({float})
_INF = float("inf")


def storable(run):
    """Wrap an executor so each output is what will be stored: a set becomes its items in ascending
    order (a list), which the step's `validate` rules and the steps downstream then see."""

    def stored(env, rng):
        output = run(env, rng)
        for name, value in output.items():
            if type(value) in _CONTAINERS:
                output[name] = stored_value(value)
        return output

    stored.random = getattr(run, "random", True)
    return stored


_CONTAINERS = (set, frozenset, list, dict, tuple)


def without(run, names: frozenset):
    """Wrap an executor so the ``names`` it computed for itself are not part of its output."""

    def public(env, rng):
        output = run(env, rng)
        for name in names:
            output.pop(name, None)
        return output

    public.random = getattr(run, "random", True)
    return public


def validated(run, rules):
    """Wrap an executor so a false `validate` rule fails the unit with the rule's message
    (``rules``: compiled rule, message template or None)."""

    def checked(env, rng):
        output = run(env, rng)
        check_rules(rules, {**env, **output})
        return output

    return checked


def check_rules(rules, scope: dict, prefix: str = "") -> None:
    """Raise the first false rule's failure: its message rendered in ``scope`` (or why it could not
    be), after ``prefix``, with the rule's text and span."""
    for rule, message in rules:
        if not rule.evaluate(scope):
            try:
                text = rule_message(message, scope)
            except TemplateFailure as err:
                raise EvalError(unrendered_message(rule, err)) from None
            raise EvalError(f"{prefix}{text} (validate: `{rule.expr.span.text()}`)", rule.span)


def unstorable_reason(step: dict, output: dict, err: UnstorableValue) -> str:
    """Why a unit's output cannot be stored, naming the output and where its expression is written."""
    for name, value in output.items():
        try:
            encode_output({name: value})
        except UnstorableValue as inner:
            at = _output_positions(step).get(name)
            return f"output '{name}' cannot be stored: {inner}" + (f" at {at}" if at else "")
    return f"the output cannot be stored: {err}"


def _output_positions(step: dict) -> dict[str, str]:
    """file:line:col of the expression of each named output in a local step's Plan config."""
    config, found = step.get("config") or {}, {}
    for key in ("init", "each", "values", "output"):  # later ones win: a simulate's `output` over its state
        for pair in config.get(key) or ():
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], dict) and "at" in pair[1]:
                found[pair[0]] = pair[1]["at"]
    return found


def failure_reason(err: EvalError) -> str:
    """A unit's failure in words: the message, the expression quoted (when short) and where it is."""
    where = err.where()
    text = ""
    try:
        text = err.span.text() if err.span is not None else ""
    except Exception:
        pass
    quoted = f" in `{' '.join(text.split())}`" if text and len(text) <= 80 else ""
    return f"{err.message}{quoted}" + (f" at {where}" if where else "")
