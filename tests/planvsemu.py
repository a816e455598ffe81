"""`octoc plan`'s cost estimate against what the emulator bills at list prices, on one pipeline.

The emulator counts tokens like a provider (runtime/emulator/usage.py), so its
`list_cost_usd` is what the run would have cost. Its synthetic answers fail
`validate` rules and judges' `pass` at rates that say nothing about a real
model (random words, random scores), so the number of requests differs from
the plan's expected count for reasons no token count can fix. The comparison
therefore prices the requests the run actually made with the plan's tokens
per request, per (step, model, mode), at the prices and discount the run
used, and sets that against the emulator's bill for the same requests: it
measures the plan's tokens per request (prompt, schema, overheads, answer
length), which is what a cost estimate can get right (docs/plan.md, "Plan
against the emulator"). Reasoning tokens are left out of both sides (see
``compare``).

Used by tests/test_plan_vs_emulator.py and bench/bench_plan_vs_emulator.py.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))
TOLERANCE = 0.25  # docs/plan.md: the plan's cost per request within ±25% of the emulator's bill
MOST_REPLICAS = 20  # an example's `repeat` capped so that every example runs in seconds
MOST_LINES = 200  # and its data files cut to their first lines (classify_documents reads 5,000 documents)


@dataclass
class StepCost:
    step: str
    model: str
    mode: str
    requests: int               # the run's requests that were answered and billed
    billed: float               # the emulator's list-price bill for them (reasoning tokens left out)
    planned: float              # the same requests at the plan's tokens per request and the same prices
    input_emu: float            # mean billed input tokens per request (cached included)
    input_plan: float
    output_emu: float           # mean billed answer tokens per request (reasoning left out)
    output_plan: float

    @property
    def error(self) -> float | None:
        return (self.planned - self.billed) / self.billed if self.billed else None


@dataclass
class Comparison:
    example: str
    planned_total: float        # the plan's expected cost, as planned (its own request counts)
    planned_requests: float
    requests: int
    billed: float               # the emulator's list-price cost of the whole run
    steps: list[StepCost] = field(default_factory=list)

    @property
    def planned_for_requests(self) -> float:
        return sum(s.planned for s in self.steps)

    @property
    def error(self) -> float | None:
        """The plan's cost of the requests made, against the emulator's bill for them."""
        return (self.planned_for_requests - self.billed) / self.billed if self.billed else None


def cut_data_files(folder: Path, most: int = MOST_LINES) -> None:
    """Every JSONL and CSV file in ``folder`` cut to its first ``most`` lines: the same pipeline on fewer rows."""
    for file in [*folder.glob("*.jsonl"), *folder.glob("*.csv")]:
        lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        if len(lines) > most:
            file.write_text("".join(lines[:most]), encoding="utf-8")


def smaller_copy(path: Path, into: Path) -> Path:
    """The example with at most MOST_REPLICAS replicas per row, beside a copy of its data cut to MOST_LINES lines."""
    if (path.parent / "data").is_dir() and not (into / "data").exists():
        shutil.copytree(path.parent / "data", into / "data")
        cut_data_files(into / "data")
    text = re.sub(r"^(\s*repeat:\s*)(\d+)", lambda m: m.group(1) + str(min(int(m.group(2)), MOST_REPLICAS)),
                  path.read_text(), flags=re.M)
    copy = into / path.name
    copy.write_text(text)
    return copy


def plan_of(path: Path) -> dict:
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.stdlib import default_language

    language = default_language()
    result = check_file(str(path), language)
    assert result.ok and result.program is not None, f"{path} does not check"
    return build_plan(result.program, language, Reporter()).data


def run_on_emulator(path: Path, run_dir: Path, extra: tuple[str, ...] = ()) -> int:
    from octo.cli.main import main

    return main(["run", str(path), "--provider", "emulator", "--run-dir", str(run_dir), *extra])


def compare(plan: dict, run_dir: Path, name: str) -> Comparison:
    """The plan's cost of the run's requests against the emulator's bill, per (step, model, mode).

    Reasoning tokens are left out of both sides: the plan and the emulator both take them from the
    capability table's estimate (stdlib/models.json; docs/providers.md, "Usage rule"), so they would
    only dilute the error."""
    per_request = _plan_per_request(plan)
    prices, discount = plan["prices"]["models"], plan["prices"].get("batch_discount", 0.5)
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute(
            "SELECT step, json_extract(request, '$.provider') || ':' || json_extract(request, '$.model'), mode, "
            "count(*), total(list_cost), total(json_extract(usage, '$.input') + json_extract(usage, '$.cached_input')), "
            "total(json_extract(usage, '$.output') - json_extract(usage, '$.reasoning')), "
            "total(json_extract(usage, '$.reasoning')) FROM attempts WHERE usage IS NOT NULL AND list_cost IS NOT NULL "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").fetchall()
    finally:
        db.close()
    steps = []
    for step, model, mode, n, billed, tokens_in, tokens_out, reasoning in rows:
        price, rate = prices[model], discount if mode == "batch" else 1.0
        plan_in, plan_out = per_request[(step, model)]
        planned = n * (plan_in * price["input"] + plan_out * price["output"]) / 1_000_000 * rate
        billed -= reasoning * price["output"] / 1_000_000 * rate
        steps.append(StepCost(step, model, mode, n, billed, planned, tokens_in / n, plan_in, tokens_out / n, plan_out))
    totals = plan["totals"]
    return Comparison(name, totals["as_planned"]["expected"], totals["requests"]["expected"],
                      sum(s.requests for s in steps), sum(s.billed for s in steps), steps)


def _plan_per_request(plan: dict) -> dict:
    """(step, model) → (input tokens, answer tokens without reasoning) per request, from the plan."""
    out = {}
    for step in plan["steps"]:
        for m in step.get("per_model", ()):
            per = m["estimate"]["tokens_per_request"]
            out[(step["name"], m["model"])] = (per["input"], per["output_expected"] - per.get("reasoning_expected", 0))
    return out


def measure(path: Path, work: Path) -> Comparison:
    """Plan and run one example (a smaller copy), and compare."""
    work.mkdir(parents=True, exist_ok=True)
    copy = smaller_copy(path, work)
    plan = plan_of(copy)
    run_on_emulator(copy, work / "run")
    return compare(plan, work / "run", path.stem)


def table(comparisons: list[Comparison]) -> str:
    """The Markdown table docs/plan.md shows."""
    lines = ["| example | requests (plan / run) | plan, as planned | plan, for the run's requests | emulator (list price) | error |",
             "|---|---|---|---|---|---|"]
    for c in comparisons:
        error = f"{c.error:+.1%}" if c.error is not None else "—"
        lines.append(f"| {c.example} | {c.planned_requests:g} / {c.requests} | ${c.planned_total:.4f} | "
                     f"${c.planned_for_requests:.4f} | ${c.billed:.4f} | {error} |")
    return "\n".join(lines)


def step_table(comparisons: list[Comparison]) -> str:
    lines = ["| example | step | model | mode | requests | input tokens (plan / emulator) | output tokens (plan / emulator) | error |",
             "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        for s in c.steps:
            error = f"{s.error:+.1%}" if s.error is not None else "—"
            lines.append(f"| {c.example} | {s.step} | {s.model} | {s.mode} | {s.requests} | "
                         f"{s.input_plan:.0f} / {s.input_emu:.0f} | {s.output_plan:.0f} / {s.output_emu:.0f} | {error} |")
    return "\n".join(lines)


def as_json(comparisons: list[Comparison]) -> str:
    return json.dumps([{"example": c.example, "error": c.error, "billed": c.billed,
                        "planned_for_requests": c.planned_for_requests} for c in comparisons], indent=2)
