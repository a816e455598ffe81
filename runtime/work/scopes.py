"""Which units each step runs over, and where a unit finds what its upstream steps stored for it.

The Plan gives every step a ``scope``: "" for the run's own units, or the name of the fan-out
whose child units it runs over (compiler/frontend/fanouts.py). A fan-out's output is stored in its
children; any other step's in the units it runs over. A child unit reads a step of an enclosing
scope at its ancestor in that scope — its parent, its parent's parent — so a parent's outputs are
stored once and every child sees them as its own, whenever they were computed.

Units are rows of the store's ``units`` table: the run's own at positions 0…N−1 (created before any
step runs), children after them with their ``origin`` (the fan-out) and ``parent`` (the parent's
position). A plan without a fan-out makes exactly the queries the engine made before fan-out existed.
"""

from __future__ import annotations

ROOT = ""


class Scopes:
    def __init__(self, plan, language):
        steps = plan.steps
        self.scope = {s["name"]: s.get("scope", ROOT) for s in steps}
        self.fanouts = {s["name"] for s in steps if getattr(language.kinds[s["kind"]], "expands", False)}
        self.parent = {ROOT: None, **{f: self.scope[f] for f in self.fanouts}}
        self.active = bool(self.fanouts)
        self._root_count: int | None = None

    # --- the scope tree ----------------------------------------------------------------------

    def stored_in(self, step: str) -> str:
        """The scope of the units a step's output is read from: a fan-out's children, else where it runs."""
        return step if step in self.fanouts else self.scope[step]

    def chain(self, scope: str) -> list[str]:
        """``scope`` and the scopes above it, up to the run's own units."""
        out, at = [], scope
        while at is not None:
            out.append(at)
            at = self.parent.get(at)
        return out

    def hops(self, scope: str, dep: str) -> int:
        """How many parents up a unit of ``scope`` finds what ``dep`` stored for it (0: in itself)."""
        return len(self.chain(scope)) - len(self.chain(self.stored_in(dep)))

    # --- counting ------------------------------------------------------------------------------

    def root_count(self, store) -> int:
        """N: the run's own units are positions 0…N−1, created before any step runs (so N never changes)."""
        if self._root_count is None:
            firsts = [store.db.execute(f"SELECT min(pos) FROM units WHERE {_origin(f)}").fetchone()[0]
                      for f in sorted(self.fanouts)]
            firsts = [p for p in firsts if p is not None]
            self._root_count = min(firsts) if firsts else (store.db.execute("SELECT max(pos) FROM units").fetchone()[0]
                                                           or -1) + 1
        return self._root_count

    def unit_total(self, store, scope: str) -> int:
        """How many units ``scope`` has now (a fan-out's children grow until it is complete)."""
        if not self.active:
            return store.unit_count()
        if scope == ROOT:
            return self.root_count(store)
        return store.db.execute(f"SELECT count(*) FROM units WHERE {_origin(scope)}").fetchone()[0]

    def counts(self, store, step: str) -> dict[str, int]:
        """A per-unit step's results by state, over the units it runs over (not a fan-out's children)."""
        if step not in self.fanouts:
            return store.counts(step)
        out = store.counts(step)
        out["done"] -= self.unit_total(store, step)  # every child's row is `done`
        return out

    # --- queries --------------------------------------------------------------------------------

    def units_filter(self, store, scope: str, alias: str = "u") -> str:
        """SQL (`` AND ...``) keeping the units of ``scope``; nothing without a fan-out."""
        if not self.active:
            return ""
        if scope == ROOT:
            return f" AND {alias}.pos < {self.root_count(store)}"
        return f" AND {_origin(scope, alias)}"

    def ready_filter(self, store, step: str, deps: list[str]) -> tuple[str, list[str]]:
        """SQL (`` AND ...``) and its parameters keeping the units of ``step``'s scope (alias ``u``) for which
        every one of ``deps`` has a result — each found where it is stored for the unit."""
        scope = self.scope[step]
        clause = self.units_filter(store, scope)
        for dep in deps:
            at = ancestor_sql(self.hops(scope, dep)) if self.active else "u.pos"
            clause += f" AND EXISTS (SELECT 1 FROM results d WHERE d.step = ? AND d.unit = {at})"
        return clause, list(deps)

    def unit_chunk(self, store, scope: str, start: int, n: int) -> list[tuple[int, int, str]]:
        """Up to ``n`` units of ``scope`` at positions from ``start``, in order."""
        if not self.active:
            return store.unit_range(start, start + n)
        if scope == ROOT:
            return store.unit_range(start, min(start + n, self.root_count(store)))
        return store.db.execute(f"SELECT pos, idx, id FROM units u WHERE {_origin(scope, 'u')} AND pos >= ? "
                                f"ORDER BY pos LIMIT ?", (start, n)).fetchall()

    def upstream(self, store, scope: str, deps: list[str], positions: list[int], decoded: bool = False) -> dict:
        """Per dep, per position: the (state, output, reason) stored for that unit, as JSON text (or ``decoded``)."""
        fetch = store.results if decoded else store.raw_results
        out = {}
        for dep in deps:
            hops = self.hops(scope, dep) if self.active else 0
            if hops == 0:
                out[dep] = fetch(dep, positions)
                continue
            above = ancestors(store, positions, hops)
            found = fetch(dep, sorted(set(above.values())))
            out[dep] = {pos: found[a] for pos, a in above.items() if a in found}
        return out


def _origin(scope: str, alias: str | None = None) -> str:
    """The units of fan-out ``scope``, in a form SQLite serves from the index of children (store.py):
    the index's own condition, and the name as a literal (a step name is an identifier)."""
    column = f"{alias}.origin" if alias else "origin"
    literal = scope.replace("'", "''")
    return f"{column} > '' AND {column} = '{literal}'"


def ancestor_sql(hops: int, alias: str = "u") -> str:
    """SQL for the position of unit ``alias``'s ancestor ``hops`` parents up."""
    column = f"{alias}.pos" if hops == 0 else f"{alias}.parent"
    for i in range(1, hops):
        column = f"(SELECT a{i}.parent FROM units a{i} WHERE a{i}.pos = {column})"
    return column


def ancestors(store, positions: list[int], hops: int) -> dict[int, int]:
    """Each position's ancestor ``hops`` parents up (a unit without one is left out)."""
    current = {p: p for p in positions}
    for _ in range(hops):
        parents = _parents(store, sorted(set(current.values())))
        current = {p: parents[a] for p, a in current.items() if parents.get(a) is not None}
    return current


def _parents(store, positions: list[int]) -> dict[int, int | None]:
    out = {}
    for i in range(0, len(positions), 900):
        chunk = positions[i:i + 900]
        marks = ",".join("?" * len(chunk))
        out.update(store.db.execute(f"SELECT pos, parent FROM units WHERE pos IN ({marks})", chunk).fetchall())
    return out


def unit_states(store, scopes: Scopes, scope: str, steps: list[str]) -> dict[str, int]:
    """How many units of ``scope`` are done, failed (a step failed or was blocked) and pending over ``steps``,
    the per-unit steps that run over them (store.unit_states, for one scope)."""
    total = scopes.unit_total(store, scope)
    if not scopes.active:
        return store.unit_states(steps)
    if not steps:
        return {"done": total, "failed": 0, "pending": 0}
    marks = ",".join("?" * len(steps))
    units = (f"unit < {scopes.root_count(store)}" if scope == ROOT
             else f"unit IN (SELECT pos FROM units WHERE {_origin(scope)})")
    failed, complete = store.db.execute(
        f"SELECT coalesce(sum(bad > 0), 0), coalesce(sum(bad = 0 AND n = ?), 0) FROM "
        f"(SELECT sum(state IN ('failed', 'blocked')) AS bad, count(*) AS n "
        f"FROM results WHERE step IN ({marks}) AND {units} GROUP BY unit)", (len(steps), *steps)).fetchone()
    return {"done": complete, "failed": failed, "pending": total - failed - complete}
