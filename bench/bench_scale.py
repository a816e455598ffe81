"""Does `octoc run` scale linearly? Time at a large size against time at a small one, same process run.

(a) walks: the drunken sailor (`simulate` + an aggregate), 1,000,000 walks against 100,000
    (target: ≤ 11× the time for 10× the walks).
(b) batch, (c) realtime: one `generate` step on the in-process emulator, 50,000 units against
    10,000 (target: ≤ 5.5× the time for 5× the units), in batch mode and in realtime mode.

Each `octoc run` is made in a fresh process (no warm caches shared); `OCTO_WORKERS` is passed on.

    python bench/bench_scale.py [--walks N] [--units N] [--factor-walks K] [--factor-units K]
                                [--only walks|batch|realtime] [--quick] [--json]

With --json the last line of stdout is {"figures": [...]} (the bench contract, bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WALKS = """octo: 1
name: sailor-scale
seed: 1
data:
  scenarios: [{{id: middle, start: 5}}, {{id: near_ship, start: 8}}]
units: {{for: {{scenario: scenarios}}, repeat: {n}}}
steps:
  walk:
    simulate:
      init: {{position: unit.scenario.start, steps: 0}}
      each:
        position: position + choice([-1, 1])
        steps: steps + 1
      until: position <= 0 or position >= 10
    output:
      outcome: "'ship' if position >= 10 else 'water'"
      steps: steps
  odds:
    aggregate:
      by: [unit.scenario.id]
      metrics:
        p_ship: mean(walk.outcome == 'ship')
        mean_steps: mean(walk.steps)
"""

GENERATE = """octo: 1
name: generate-scale
seed: 1
units: {{repeat: {n}}}
steps:
  answer:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Question {{{{ unit.repeat }}}}: name a sea creature."
      output: {{name: str, legs: "int[0, 10]"}}
"""


def timed_run(text: str, flags: list[str]) -> float:
    """Seconds of one `octoc run` of ``text`` (without Python's start-up), in a fresh process."""
    code = ("import sys, io, time, contextlib, tempfile\nfrom pathlib import Path\nfrom octo.cli.main import main\n"
            "text, flags = sys.argv[1], sys.argv[2:]\n"
            "with tempfile.TemporaryDirectory() as tmp:\n"
            "    path = Path(tmp) / 'p.octo'\n    path.write_text(text)\n"
            "    t = time.perf_counter()\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        code = main(['run', str(path), '--run-dir', str(Path(tmp) / 'run'), *flags])\n"
            "    elapsed = time.perf_counter() - t\n"
            "print(code, elapsed)\n")
    out = subprocess.run([sys.executable, "-c", code, text, *flags], capture_output=True, text=True)
    fields = out.stdout.split()
    if out.returncode != 0 or len(fields) < 2 or fields[-2] != "0":
        raise SystemExit(f"octoc run failed: {out.stderr.strip()[-2000:] or out.stdout}")
    return float(fields[-1])


def figure(name: str, small: int, large: int, text: str, flags: list[str], target: float) -> dict:
    # walks are 2 per `repeat` (two scenarios): the sizes are counted in units either way
    t_small = timed_run(text.format(n=small), flags)
    t_large = timed_run(text.format(n=large), flags)
    return {"name": name, "value": t_large, "unit": "s", "baseline": f"the same run at 1/{large // small} the size",
            "baseline_value": t_small, "ratio": t_large / t_small, "target": target}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--walks", type=int, default=100_000, help="(a) the small size, in walks")
    parser.add_argument("--factor-walks", type=int, default=10)
    parser.add_argument("--units", type=int, default=10_000, help="(b), (c) the small size, in units")
    parser.add_argument("--factor-units", type=int, default=5)
    parser.add_argument("--only", choices=("walks", "batch", "realtime"))
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds), for a test of the JSON shape")
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    if a.quick:
        a.walks, a.units = 2_000, 200
    emulator = ["--provider", "emulator", "--poll-interval", "0.05"]
    cases = {
        "walks": lambda: figure(f"walks {a.walks * a.factor_walks:,} vs {a.walks:,}", a.walks // 2,
                                a.walks * a.factor_walks // 2, WALKS, [], 1.1 * a.factor_walks),
        "batch": lambda: figure(f"generate batch {a.units * a.factor_units:,} vs {a.units:,}", a.units,
                                a.units * a.factor_units, GENERATE, [*emulator, "--mode", "batch"],
                                1.1 * a.factor_units),
        "realtime": lambda: figure(f"generate realtime {a.units * a.factor_units:,} vs {a.units:,}", a.units,
                                   a.units * a.factor_units, GENERATE, [*emulator, "--mode", "realtime"],
                                   1.1 * a.factor_units),
    }
    figures = []
    for key, case in cases.items():
        if a.only in (None, key):
            f = case()
            figures.append(f)
            if not a.json:
                print(f"{f['name']}: {f['value']:.2f} s vs {f['baseline_value']:.2f} s = {f['ratio']:.2f}x "
                      f"(target <= {f['target']:.1f}x: {'met' if f['ratio'] <= f['target'] else 'missed'})", flush=True)
    if a.json:
        print(json.dumps({"figures": figures}))


if __name__ == "__main__":
    main()
