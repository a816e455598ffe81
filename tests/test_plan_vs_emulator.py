"""`octoc plan`'s cost estimate is within ±25% of what the emulator bills for every example (docs/plan.md, "Plan
against the emulator"). A correctness check of the plan's tokens per request — prompt, system prompt, output
schema, message overheads, answer lengths — against the emulator's provider-like usage rule; not a timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from planvsemu import EXAMPLES, TOLERANCE, measure


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_plan_prices_an_examples_requests_within_25_percent_of_the_emulators_bill(path: Path, tmp_path: Path,
                                                                                      capsys):
    comparison = measure(path, tmp_path)
    capsys.readouterr()
    assert comparison.requests > 0 and comparison.billed > 0
    assert abs(comparison.error) <= TOLERANCE, (
        f"{path.stem}: the plan prices the run's {comparison.requests} requests at "
        f"${comparison.planned_for_requests:.4f}, the emulator billed ${comparison.billed:.4f} "
        f"({comparison.error:+.1%})\n" + "\n".join(
            f"  {s.step} {s.model}: input {s.input_plan:.0f} planned / {s.input_emu:.0f} billed, "
            f"output {s.output_plan:.0f} / {s.output_emu:.0f} ({s.error:+.1%})" for s in comparison.steps))
