"""Running a fan-out: parent units, each with its list, and their child units — in one transaction.

For each ready parent the fan-out's `each` is evaluated as any per-unit step is
(runtime/work/unitwork.py: `when`, upstream failures, the CPU budget, failures in
words). A list longer than `max`, an item that breaks a `validate` rule or
cannot be stored fails the parent, which then has no children; a null list
skips it. For the others one transaction stores the parent's result
(``{"children": n}``), a unit row per item — at the next free positions, in
item order; ``origin`` the fan-out, ``parent`` the parent's position, ``idx``
the parent's place in the unit space (so ``unit.*`` is the parent's) — and the
fan-out's result for each child: its ``item``, ``index`` and ``parent`` id.

A kill loses a whole transaction or nothing, and the next tick redoes it the
same way: a child's id depends only on its parent's id, the fan-out and the
index (:func:`child_id`), never on when it was made.
"""

from __future__ import annotations

import hashlib
import json

from octo.compiler.frontend.unitspace import MAX_ID
from octo.stdlib.execution import compiled

from ..base.crashpoints import crashpoint
from ..base.encoding import UnstorableValue, encode_output, stored_value
from .templating import message_template
from .unitwork import check_rules, decode_output

PARENTS_PER_TRANSACTION = 500
CHILDREN_PER_TRANSACTION = 20_000  # a transaction closes after the parent that brings it past this


class FanoutExecutor:
    """A fan-out compiled as :meth:`UnitWork.run_unit` takes a step: ``run`` gives ``{"items": list | None}``,
    every item stored as it will be and checked against the step's `validate` rules."""

    __slots__ = ("run", "when", "needs_rng", "judged")

    def __init__(self, step: dict, language):
        functions = language.functions
        expand = language.kinds[step["kind"]].executor(step["config"], functions)
        rules = [(compiled(v["rule"], functions), message_template(v)) for v in step.get("validate", [])]
        self.when = compiled(step["when"], functions)
        self.judged = None  # not a verdict (StepExecutor's attribute, which run_unit reads)
        self.needs_rng = expand.random or (self.when is not None and self.when.random)

        def run(env, rng) -> dict:
            items = expand(env, rng)["items"]
            if items is None:
                return {"items": None}
            items = [stored_value(item) for item in items]  # sets inside items: listed, as downstream sees them
            for index, item in enumerate(items):
                check_rules(rules, {**env, "item": item, "index": index, "parent": env["unit"]["id"]}, f"item {index}: ")
            return {"items": items}

        self.run = run


def run_chunk(engine, step: dict) -> int:
    """Expand the next ready parents of fan-out ``step``; how many parents were settled (0: none ready)."""
    name = step["name"]
    positions = engine._ready(name, engine.deps[name])
    if not positions:
        return 0
    units = engine.store.units(positions)
    upstream = engine._stored_upstream(step, positions)
    work = engine._unit_work()
    executor = engine.__dict__.setdefault("_fanout_executors", {}).setdefault(
        name, FanoutExecutor(step, engine.language))
    batch, children = [], 0
    for unit in units:
        outcome = _expand(work, name, executor, unit, {d: r[unit[0]] for d, r in upstream.items()})
        batch.append(outcome)
        children += len(outcome[3])
        if len(batch) >= PARENTS_PER_TRANSACTION or children >= CHILDREN_PER_TRANSACTION:
            _commit(engine.store, name, batch)
            batch, children = [], 0
    if batch:
        _commit(engine.store, name, batch)
    return len(units)


def _expand(work, name: str, executor: FanoutExecutor, unit: tuple, upstream: dict):
    """(unit, state, reason, children's outputs as JSON) of one parent."""
    pos, idx, unit_id = unit
    state, output, reason = work.run_unit(name, executor, idx, unit_id, upstream, decode_output)
    if state != "done":
        return unit, state, reason, []
    if output["items"] is None:
        return unit, "skipped", None, []  # no list, no children: as a `when` that is false
    try:
        return unit, "done", None, [encode_output({"item": item, "index": i, "parent": unit_id})
                                   for i, item in enumerate(output["items"])]
    except UnstorableValue as err:
        return unit, "failed", f"an item cannot be stored: {err} (fan-out '{name}')", []


def _commit(store, name: str, batch: list) -> None:
    """Parents' results, their children's unit rows and the fan-out's result for each child: one transaction."""
    with store.transaction() as db:
        next_pos = db.execute("SELECT coalesce(max(pos), -1) + 1 FROM units").fetchone()[0]
        next_pos = max(next_pos, int(store.get("units_next") or 0))  # removed children's positions stay unused (withdraw.py)
        ids = iter(child_ids(db, name, [(unit[2], len(children)) for unit, state, _, children in batch if state == "done"]))
        results, units = [], []
        for (pos, idx, unit_id), state, reason, children in batch:
            if state != "done":
                results.append((pos, state, None, reason))
                continue
            results.append((pos, "done", encode_output({"children": len(children)}), None))
            for child, output in zip(next(ids), children):
                units.append((next_pos, idx, child, name, pos))
                results.append((next_pos, "done", output, None))
                next_pos += 1
        db.executemany("INSERT INTO units(pos, idx, id, origin, parent) VALUES (?, ?, ?, ?, ?)", units)
        store.add_encoded_results(name, results, db)
        crashpoint("during-fanout")


def child_id(parent_id: str, fanout: str, index: int, attempt: int = 0) -> str:
    """A child unit's id: ``{parent}-{fanout}-{index}`` (``tides-idea-2``), valid as a unit id is
    (``^[A-Za-z0-9_-]{1,64}$``). Longer, or taken (``attempt`` 1), it is a prefix of that and 16 hex
    digits of SHA-256 of (parent, fan-out, index); ``attempt`` 2 and on add themselves to the hash —
    a run never gets there."""
    readable = f"{parent_id}-{fanout}-{index}"
    if len(readable) <= MAX_ID and attempt == 0:
        return readable
    key = [parent_id, fanout, index] + ([attempt] if attempt > 1 else [])
    digest = hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:16]
    prefix = readable[: MAX_ID - 17].rstrip("-_")
    return f"{prefix}-{digest}" if prefix else digest


def child_ids(db, fanout: str, parents: list[tuple[str, int]]) -> list[list[str]]:
    """Per (parent id, number of children): the children's ids, none of them an id the run has already.

    Readable ids never collide: the last two ``-`` parts of a child's give back the index (digits) and the
    fan-out (a step name, no ``-``), the rest its parent; and the run's own readable ids all have one number
    of parts, a child two more than its parent. Hashed ids differ by their hash. So the check against the
    store is a guard — were an id ever taken, the child takes the next hashed form rather than stopping
    the fan-out on the store's unique index — and ids stay a function of (parent, fan-out, index).
    """
    out = [[child_id(parent, fanout, i) for i in range(n)] for parent, n in parents]
    taken = _taken(db, [i for ids in out for i in ids])
    if not taken:
        return out
    for (parent, _), ids in zip(parents, out):
        for i, candidate in enumerate(ids):
            attempt = 0
            while candidate in taken:
                attempt += 1
                candidate = child_id(parent, fanout, i, attempt)
                taken |= _taken(db, [candidate])
            ids[i] = candidate
            taken.add(candidate)
    return out


def _taken(db, ids: list[str]) -> set[str]:
    taken = set()
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        marks = ",".join("?" * len(chunk))
        taken.update(r[0] for r in db.execute(f"SELECT id FROM units WHERE id IN ({marks})", chunk))
    return taken
