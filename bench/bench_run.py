"""`octoc run` on local steps: speed against plain Python, and memory at scale.

(a) The drunken sailor, 100,000 walks and their odds (an aggregate), through
    `octoc run` (check, plan, run directory, store, tick) and the same walks
    and tally as a hand-written Python loop, timed in the same process run.
    The hand loop is naive but reasonable: for each unit id it makes the
    unit's stream exactly as octo does (`unit_stream`: SHA-256 of seed, unit
    id and step, seeding a `random.Random`), walks with ``rng.choice([-1, 1])``
    and tallies ``p_ship`` and ``mean_steps``; the bench checks that both give
    the same figures, so both did the same walks on the same streams.
    Targets (issue 14): ≤ 1.5× with one worker (``OCTO_WORKERS=1``), ≤ 1.0×
    with two. `--rounds K` repeats (a) in K fresh processes (the machine is
    noisy) and prints the median ratio.
(b) A 1,000,000-unit `compute` pipeline: peak RSS (target < 1 GiB) and units
    per second.
(c) A provider step on the emulator (`--provider emulator`, in process, over
    HTTP through the real SDKs): 2 × N units, batch mode, with one fixed model,
    with a model per unit (two OpenAI models), and with a model per unit of two
    providers (which also imports a second SDK); units per second. The provider
    path's speed, before and after a change.

`--json` (the bench harness's contract) measures (a) once (unless `--only`
says otherwise) and prints, as its last line, {"figures": [...]} with the
ratio against the hand loop measured in the same process; `--quick` uses
2,000 walks. Workers come from ``OCTO_WORKERS``.

    python bench/bench_run.py [--walks N] [--units N] [--requests N] [--only walks|units|provider] [--rounds K]
                              [--json] [--quick]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines import sailor

COMPUTE = """octo: 1
name: compute-bench
seed: 1
units: {{repeat: {n}}}
steps:
  square: {{compute: {{x: unit.repeat * unit.repeat, even: unit.repeat % 2 == 0}}}}
  summary: {{aggregate: {{metrics: {{n: count(), evens: share(square.even)}}}}}}
"""


PROVIDER = """octo: 1
name: provider-bench
seed: 1
data:
  contenders:
    - {{id: mini, model: "openai:gpt-4.1-mini"}}
    - {{id: big, model: "{other}"}}
units: {{for: {{contender: contenders}}, repeat: {n}}}
steps:
  answer:
    generate:
      model: {model}
      prompt: "Question {{{{ unit.repeat }}}} for {{{{ unit.contender.id }}}}: name a sea creature."
      output: {{name: str, legs: "int[0, 10]"}}
"""


def python_walks(n: int, seed: int = 1) -> tuple[float, dict]:
    """The hand-written loop: (seconds, the odds it tallies), the same walks on the same streams as `octoc run`."""
    from octo.compiler.expressions.evalsupport import unit_stream

    t = time.perf_counter()
    ships = total_steps = 0
    for r in range(n):
        rng = unit_stream(seed, f"middle-r{r}", "walk")  # the unit ids octo gives: scenario id, then the repeat
        position, steps = 5, 0
        while True:
            position += rng.choice([-1, 1])
            steps += 1
            if position <= 0 or position >= 10:
                break
        ships += position >= 10
        total_steps += steps
    odds = {"p_ship": ships / n, "mean_steps": total_steps / n}  # what the pipeline's aggregate reports
    return time.perf_counter() - t, odds


def octoc_odds(run_dir: Path) -> dict:
    """The `odds` aggregate's metrics, as `octoc run` stored them."""
    import json
    import sqlite3

    db = sqlite3.connect(run_dir / "run.db")
    try:
        (metrics,), = db.execute("SELECT metrics FROM groups WHERE step = 'odds'").fetchall()
    finally:
        db.close()
    return json.loads(metrics)["metrics"]


def walks_figure(walks: int) -> dict:
    """(a) once: octoc run, then the hand loop, in this process; the two must agree."""
    import contextlib
    import io
    import math
    import os

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with contextlib.redirect_stdout(io.StringIO()):
            octo_t = octoc_run(sailor(walks), tmp, "walks")
        odds = octoc_odds(tmp / "walks")
    py_t, hand_odds = python_walks(walks)
    if not all(math.isclose(odds[k], v, rel_tol=1e-12) for k, v in hand_odds.items()):
        raise SystemExit(f"octoc run and the hand loop disagree: {odds} vs {hand_odds}")
    workers = os.environ.get("OCTO_WORKERS", "").strip() or "default"
    return {"name": f"simulate: octoc run, drunken sailor {walks:,} walks, OCTO_WORKERS={workers}",
            "value": octo_t, "unit": "s", "baseline": "hand-written Python loop, same walks and streams",
            "baseline_value": py_t, "ratio": octo_t / py_t, "target": 1.5 if workers == "1" else 1.0}


def octoc_run(text: str, tmp: Path, name: str, *flags: str) -> float:
    from octo.cli.main import main

    path = tmp / f"{name}.octo"
    path.write_text(text)
    t = time.perf_counter()
    code = main(["run", str(path), "--run-dir", str(tmp / name), *flags])
    assert code == 0, code
    return time.perf_counter() - t


def walk_rounds(walks: int, rounds: int) -> None:
    ratios = []
    for _ in range(rounds):
        out = subprocess.run([sys.executable, __file__, "--only", "walks", "--walks", str(walks)],
                             capture_output=True, text=True, check=True).stdout
        print(out, end="")
        ratios.append(float(out.rsplit("ratio: ", 1)[1].split("x")[0]))
    ratios.sort()
    print(f"(a) {rounds} rounds: median ratio {ratios[len(ratios) // 2]:.2f}x, best {ratios[0]:.2f}x, "
          f"worst {ratios[-1]:.2f}x")


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--walks", type=int, default=100_000)
    args.add_argument("--units", type=int, default=1_000_000)
    args.add_argument("--requests", type=int, default=2_500, help="(c): units per model")
    args.add_argument("--only", choices=("walks", "units", "provider"))
    args.add_argument("--rounds", type=int, default=1, help="repeat (a) in this many fresh processes")
    args.add_argument("--json", action="store_true", help="measure (a) once; last line: the figures as JSON")
    args.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    a = args.parse_args()
    if a.quick:
        a.walks = 2_000
    if a.json:
        import json

        if a.only not in (None, "walks"):
            raise SystemExit("--json measures (a) only")
        print(json.dumps({"figures": [walks_figure(a.walks)]}))
        return
    if a.rounds > 1 and a.only != "units":
        walk_rounds(a.walks, a.rounds)
        if a.only == "walks":
            return
        a.only = "units"
    if a.only == "provider":
        provider_bench(a.requests)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.only != "units":
            f = walks_figure(a.walks)
            octo_t, py_t = f["value"], f["baseline_value"]
            print(f"(a) drunken sailor, {a.walks:,} walks")
            print(f"    octoc run:           {octo_t:7.2f} s  ({a.walks / octo_t:,.0f} walks/s)")
            print(f"    hand-written Python: {py_t:7.2f} s  (same walks, same streams, same odds)")
            print(f"    ratio: {octo_t / py_t:.2f}x  (target <= {f['target']}x)")
        if a.only != "walks":
            code = (f"import sys, io, contextlib, time, resource; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                    f"from bench_run import octoc_run, COMPUTE\nfrom pathlib import Path\n"
                    f"with contextlib.redirect_stdout(io.StringIO()):\n"
                    f"    t = octoc_run(COMPUTE.format(n={a.units}), Path({str(tmp)!r}), 'units')\n"
                    f"print(t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            t, rss = map(float, out.stdout.split())
            base = subprocess.run([sys.executable, "-c", "import resource, octo.cli.main, octo.runtime.engine; "
                                   "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                                  capture_output=True, text=True)
            print(f"(b) compute, {a.units:,} units: {t:.1f} s, {a.units / t:,.0f} units/s, "
                  f"peak RSS {rss:.0f} MiB (target < 1024; importing octo alone: {float(base.stdout):.0f} MiB)")


def provider_bench(n: int) -> None:
    """(c): one fixed model, then a model per unit; each in a fresh process (no warm caches shared)."""
    print(f"(c) a generate step on the emulator, {2 * n:,} units (batch mode)")
    cases = (("one model", '"openai:gpt-4.1-mini"', "openai:gpt-4.1"),
             ("a model per unit", "unit.contender.model", "openai:gpt-4.1"),
             ("two providers", "unit.contender.model", "anthropic:claude-haiku-4-5"))
    for label, model, other in cases:
        code = (f"import sys, io, contextlib; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                f"import tempfile\nfrom pathlib import Path\nfrom bench_run import octoc_run, PROVIDER\n"
                f"with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):\n"
                f"    t = octoc_run(PROVIDER.format(n={n}, model={model!r}, other={other!r}), Path(tmp), 'p', "
                f"'--provider', 'emulator')\n"
                f"print(t)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"    {label:<18} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        t = float(out.stdout.split()[-1])
        print(f"    {label:<18} {t:7.2f} s  ({2 * n / t:,.0f} units/s)")


if __name__ == "__main__":
    main()
