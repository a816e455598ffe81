"""The rows of `octoc results`: a unit and its ancestors, and where each step's result is stored for it.

Without a fan-out a row is a unit and every step's result is its own. With one,
`octoc results` has a row per *leaf* unit — a unit with no children: a child
of the deepest fan-out, or a unit whose fan-out gave none (or failed) — so an
idea → story pipeline reads as one story per row, with its idea and topic. A
row holds the steps of its scope and of the scopes above it, each read where
it is stored (runtime/work/scopes.py): a parent's steps at the parent, a fan-out at
the child (its item), or at the unit itself when the unit is that fan-out's
parent (``{"children": n}``, or why it has none). Rows come in the order of
the run's units, each unit's children after it in item order — the same
order however the run was interrupted.

``octoc results --step S`` has a row per unit S runs over.
"""

from __future__ import annotations

from typing import Iterator

from ..work.scopes import ROOT, Scopes

Row = tuple[int, int, str, dict[str, int]]  # (position, index in the unit space, id, step → where its result is)


def result_rows(store, scopes: Scopes, names: list[str], step: str | None = None) -> Iterator[Row]:
    """The rows of ``octoc results`` (``step``: of ``octoc results --step``) over the steps ``names``."""
    if not scopes.active:
        for pos, idx, uid in store.units():
            yield pos, idx, uid, dict.fromkeys(names, pos)
        return
    units = {pos: (idx, uid, origin, parent) for pos, idx, uid, origin, parent in
             store.db.execute("SELECT pos, idx, id, origin, parent FROM units")}
    if step is not None:
        scope = scopes.scope[step]
        for pos in sorted(p for p, u in units.items() if u[2] == scope):
            yield pos, units[pos][0], units[pos][1], {step: pos}
        return
    parents = {u[3] for u in units.values() if u[3] is not None}
    rank = {f: i for i, f in enumerate(sorted(scopes.fanouts), 1)}
    leaves = [p for p in units if p not in parents]
    chains = {p: _chain(units, p) for p in leaves}
    leaves.sort(key=lambda p: [(rank.get(origin, 0), at) for origin, at in reversed(chains[p].items())])
    for pos in leaves:
        where = {n: at for n in names if (at := _where(scopes, n, chains[pos])) is not None}
        yield pos, units[pos][0], units[pos][1], where


def _chain(units: dict, pos: int) -> dict[str, int]:
    """Scope → position, for the unit at ``pos`` and each of its ancestors (the unit first)."""
    out = {}
    at: int | None = pos
    while at is not None:
        _, _, origin, parent = units[at]
        out[origin] = at
        at = parent
    return out


def _where(scopes: Scopes, step: str, chain: dict[str, int]) -> int | None:
    """Where ``step``'s result is for a row whose unit has ``chain``; None when the step is not of its scopes."""
    if step in scopes.fanouts and step in chain:
        return chain[step]  # a child of this fan-out: its item
    return chain.get(scopes.scope.get(step, ROOT))
