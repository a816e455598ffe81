"""`octoc plan`'s expected cost against the emulator's list-price bill, on every example.

Prints the tables of docs/plan.md ("Plan against the emulator"): per example, the
plan as planned, the plan's tokens per request priced for the requests the run
made, the emulator's bill, and the error; then per step and model, the tokens
per request on each side. Each example runs on the emulator in a temporary
directory (at most 20 replicas of each row; tests/planvsemu.py says why the
comparison is per request).

    python bench/bench_plan_vs_emulator.py [--json]
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import planvsemu  # noqa: E402


def main() -> None:
    comparisons = []
    with tempfile.TemporaryDirectory() as work:
        for path in planvsemu.EXAMPLES:
            with contextlib.redirect_stdout(io.StringIO()):  # the runs' own progress and reports
                comparisons.append(planvsemu.measure(path, Path(work) / path.stem))
    if "--json" in sys.argv:
        print(planvsemu.as_json(comparisons))
        return
    print(planvsemu.table(comparisons))
    print()
    print(planvsemu.step_table(comparisons))


if __name__ == "__main__":
    main()
