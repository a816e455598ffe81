"""`unique_by`: the first unit (in unit order) with a given key runs the step; later ones are skipped.

Determinism: a deduplicated step takes its units strictly in unit order — a unit is decided only once
every unit of the step's scope before it is decided too (:func:`in_unit_order`), so which unit is first
does not depend on when upstream answers arrive, on chunk or tick boundaries, or on worker processes
(a deduplicated local step runs in the tick's own process).

Crash safety: the keys a chunk claims are written in the transaction that stores the chunk's results
(or, for a provider step, queues its attempts), in table ``unique_keys``. A kill loses the chunk and
its claims together, and the next tick decides the same units the same way.

Scopes: keys are compared within a step's scope — the run's units, or, in a fan-out, the children of
one parent (their order is the items' order; across parents it would depend on which parent's list
arrived first). A unit whose key fails to evaluate fails (it claims nothing); a unit skipped by `when`
or blocked upstream claims nothing; the unit that claims a key keeps it even if its own work then fails.
"""

from __future__ import annotations

import json
import math

from octo.compiler.expressions.codegen import EvalError
from octo.stdlib.execution import compiled

from ..base.crashpoints import crashpoint
from ..base.encoding import stored_value

SCHEMA = """
CREATE TABLE IF NOT EXISTS unique_keys (
    step TEXT NOT NULL, scope INTEGER NOT NULL, key TEXT NOT NULL, unit INTEGER NOT NULL,
    PRIMARY KEY (step, scope, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS unique_keys_unit ON unique_keys(step, unit);
"""

ROOT_SCOPE = -1  # the `scope` of the run's own units (a child unit's is its parent's position)


class StepDedup:
    """The keys of one deduplicated step: those its units claimed (stored) and those the chunk in hand claims."""

    def __init__(self, store, step: dict, functions):
        store.db.executescript(SCHEMA)
        self.store, self.step = store, step["name"]
        self.key = compiled(step["unique_by"], functions)
        self._claims: dict[tuple[int, str], tuple[int, str]] = {}  # (scope, key) → (position, unit id), not yet stored
        self._scopes: dict[int, int] = {}

    def begin(self, positions: list[int]) -> None:
        """Start a chunk: learn each unit's scope (its parent, for a fan-out's child)."""
        self._claims.clear()
        self._scopes = {}
        for i in range(0, len(positions), 500):
            part = positions[i:i + 500]
            marks = ",".join("?" * len(part))
            self._scopes.update(self.store.db.execute(
                f"SELECT pos, COALESCE(parent, {ROOT_SCOPE}) FROM units WHERE pos IN ({marks})", part).fetchall())

    def admit(self, pos: int, unit_id: str, env: dict) -> str | None:
        """None when this unit is the first with its key (it runs and claims the key); else why it is skipped.

        Raises EvalError when the key cannot be evaluated or stored: that is this unit's failure.
        """
        key = key_text(self.key.evaluate(env))
        scope = self._scopes.get(pos, ROOT_SCOPE)
        first = self._claims.get((scope, key)) or self._stored_claim(scope, key)
        if first is not None and first[0] != pos:
            return f"duplicate of {first[1]}"
        self._claims[(scope, key)] = (pos, unit_id)
        return None

    def _stored_claim(self, scope: int, key: str) -> tuple[int, str] | None:
        return self.store.db.execute("SELECT k.unit, u.id FROM unique_keys k JOIN units u ON u.pos = k.unit "
                                     "WHERE k.step = ? AND k.scope = ? AND k.key = ?", (self.step, scope, key)).fetchone()

    def write(self, db) -> None:
        """Store the chunk's claims, in the transaction that stores its results."""
        db.executemany("INSERT OR IGNORE INTO unique_keys(step, scope, key, unit) VALUES (?, ?, ?, ?)",
                       [(self.step, scope, key, pos) for (scope, key), (pos, _) in self._claims.items()])
        self._claims.clear()
        crashpoint("during-dedup")


def key_text(value) -> str:
    """The key as text: equal values give equal text (1 and 1.0 alike, a set as its sorted items)."""
    try:
        return json.dumps(_normal(stored_value(value)), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise EvalError("the `unique_by` key cannot be stored (a value that is not finite, or nested too deeply)") from None


def _normal(value):
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def in_unit_order(store, scopes, step: str, ready: list[int], start: int = 0) -> list[int]:
    """The first of the ``ready`` positions (ascending) that no undecided unit before them waits for.

    Undecided: a unit of the step's scope with no result for the step and no key claimed for it. The
    answer stops at the first undecided unit that is not ready, so units are decided in unit order.
    """
    if not ready:
        return ready
    scope_clause, _ = scopes.ready_filter(store, step, [])
    undecided = [r[0] for r in store.db.execute(
        "SELECT pos FROM units u WHERE u.pos >= ? AND u.pos <= ? "
        "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? AND r.unit = u.pos) "
        "AND NOT EXISTS (SELECT 1 FROM unique_keys k WHERE k.step = ? AND k.unit = u.pos)" + scope_clause,
        (start, ready[-1], step, step))]
    waiting = set(ready)
    keep = []
    for pos in sorted(waiting.union(undecided)):
        if pos not in waiting:
            break
        keep.append(pos)
    return keep
