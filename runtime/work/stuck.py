"""No run waits forever: a tick that can do nothing, with nothing in flight, says what is stuck.

The checker refuses programs whose steps wait for each other (E0301, E0305),
so a plan octoc made always has ready work until it is done. A run can still
be stuck when its directory was changed behind octoc's back (a hand-edited
`plan.json`, results deleted from the store) or by a bug. Then a tick finds
nothing ready, nothing at any provider and steps unfinished; instead of
polling forever, the run stops (exit 5) and names each stuck step and what
its waiting units lack.
"""

from __future__ import annotations

from .scopes import ancestor_sql

OPEN = ("queued", "sent", "answered")


def stuck_steps(engine) -> list[str]:
    """One line per unfinished step, saying what it waits for; [] while anything is at a provider."""
    if _in_flight(engine):
        return []
    return [_line(engine, step) for step in engine.plan.steps if engine._incomplete(step["name"])]


def _in_flight(engine) -> bool:
    store = engine.store
    if not store.has_table("attempts"):
        return False
    return any(store.db.execute("SELECT 1 FROM attempts WHERE step = ? AND state IN (?, ?, ?) LIMIT 1",
                                (step["name"], *OPEN)).fetchone() is not None
               for step in engine.plan.steps if step["runs"] == "provider")


def _line(engine, step: dict) -> str:
    name, waits = step["name"], engine.deps[step["name"]]
    if not engine.language.kinds[step["kind"]].per_unit:
        unfinished = [w for w in waits if engine._incomplete(w)]
        return f"'{name}' (an aggregate) waits for " + (_names(unfinished) if unfinished else "nothing, yet did not run")
    scopes, db = engine.scopes, engine.store.db
    scope = scopes.scope[name]  # its units: the run's, or a fan-out's children (runtime/work/scopes.py)
    units = f"SELECT count(*) FROM units u WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.step = ? AND r.unit = u.pos)" \
            f"{scopes.units_filter(engine.store, scope)}"
    pending = db.execute(units, (name,)).fetchone()[0]
    lacking = []
    for w in waits:  # each found where it is stored for the unit: the unit itself, or an ancestor
        at = ancestor_sql(scopes.hops(scope, w)) if scopes.active else "u.pos"
        n = db.execute(f"{units} AND NOT EXISTS (SELECT 1 FROM results d WHERE d.step = ? AND d.unit = {at})",
                       (name, w)).fetchone()[0]
        if n:
            lacking.append(f"'{w}' ({n:,} of them)")
    what = "waiting for " + ", ".join(lacking) if lacking else "none of them waiting for another step"
    return f"'{name}': {pending:,} unit{'s' if pending != 1 else ''} without a result, {what}"


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def stuck_message(lines: list[str], run_dir) -> str:
    shown = "\n".join(f"  {line}" for line in lines)
    return (f"octoc: the run cannot go on: nothing is ready and nothing is at a provider, but these steps are "
            f"unfinished:\n{shown}\n"
            f"A plan octoc made never waits like this (`octoc check` refuses steps that wait for each other); "
            f"was '{run_dir}' changed by hand? If not, please report it with the pipeline. "
            f"The results so far: octoc results {run_dir}\n")
