"""How much disk a run will take, roughly, and whether the target's filesystem has it.

The run's store (SQLite) holds a row per unit, a row per (step, unit) result and, for provider
steps, a row per request with the rendered request and the answer. The estimate adds those up
with the plan's own counts (units, requests, tokens); docs/plan.md gives the method. It is an
order of magnitude, meant to stop a run that cannot fit before it writes anything — not a quota.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..frontend.program import Program
from .estimate import typical_value

# Measured on runs of the examples (SQLite pages per row, indexes included), rounded up.
UNIT_ROW_BYTES = 60  # a unit: position, index, id (up to 64 characters) and the id's unique index
RESULT_ROW_BYTES = 40  # a (step, unit) result: keys, state, and the primary key; plus its output's JSON
REQUEST_ROW_BYTES = 300  # a provider request: ids, state, usage, cost, and three indexes; plus its text
BYTES_PER_TOKEN = 4  # text stored per token, of the rendered request and of the answer


def estimate_bytes(program: Program, plan: dict, per_unit: set[str]) -> int:
    """Bytes the run's store will hold once every unit is done, as planned (expected case).

    ``per_unit`` names the steps that store a result per unit (aggregates store one per group).
    """
    total = plan["units"]["selected"] * UNIT_ROW_BYTES
    for row in plan["steps"]:
        step = program.steps[row["name"]]
        if row["name"] not in per_unit:
            continue
        output = len(json.dumps(typical_value(step.output), default=str)) if step.output is not None else 0
        total += row["units"]["count"] * (RESULT_ROW_BYTES + output)
        if "fanout" in row:  # each child: its unit's row, and the fan-out's result for it (its item)
            total += row["fanout"]["children"]["expected"] * (UNIT_ROW_BYTES + RESULT_ROW_BYTES + output)
        estimate = row.get("estimate")
        if estimate is not None:
            tokens = estimate["tokens"]["input_expected"] + estimate["tokens"]["output_expected"]
            total += estimate["requests"]["expected"] * REQUEST_ROW_BYTES + tokens * BYTES_PER_TOKEN
    return int(total)


def free_bytes(run_root: Path) -> tuple[Path, int | None]:
    """The folder a run will be created in (or its nearest existing parent) and the free space there.

    None when the filesystem does not say (a pseudo-filesystem such as /proc has no size; creating
    the run there fails with its own message).
    """
    folder = run_root.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return folder, None
    return folder, usage.free if usage.total > 0 else None


def size_text(n: float) -> str:
    """1.2 GB, 340 kB, 12 bytes (decimal units, as disk sizes are sold)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} bytes"
