"""Does `octoc run` scale linearly? Time at a large size against time at a small one, same process run.

(a) walks: the drunken sailor (`simulate` + an aggregate), 1,000,000 walks against 100,000
    (target: ≤ 11× the time for 10× the walks).
(b) batch, (c) realtime: one `generate` step on the in-process emulator, 50,000 units against
    10,000 (target: ≤ 5.5× the time for 5× the units), in batch mode and in realtime mode.

Each `octoc run` is made in a fresh process (no warm caches shared; bench/pipelines.py has the pipelines
and the runner); `OCTO_WORKERS` is passed on.

    python bench/bench_scale.py [--walks N] [--units N] [--factor-walks K] [--factor-units K]
                                [--only walks|batch|realtime] [--quick] [--json]

With --json the last line of stdout is {"figures": [...]} (the bench contract, bench/README.md).
"""

from __future__ import annotations

import argparse
import json

from pipelines import generate, run_in_fresh_process, sailor

SAILOR_SCENARIOS = ("middle", "near_ship")  # two walks per `repeat`


def figure(name: str, small: int, large: int, pipeline, flags: list[str], target: float) -> dict:
    """The seconds of `octoc run` of ``pipeline(large)`` against ``pipeline(small)``, each in a fresh process."""
    t_small = run_in_fresh_process(pipeline(small), flags)["seconds"]
    t_large = run_in_fresh_process(pipeline(large), flags)["seconds"]
    return {"name": name, "value": t_large, "unit": "s", "baseline": f"the same run at 1/{large // small} the size",
            "baseline_value": t_small, "ratio": t_large / t_small, "target": target}


def walks(n: int) -> str:
    return sailor(n, SAILOR_SCENARIOS)


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
                                a.walks * a.factor_walks // 2, walks, [], 1.1 * a.factor_walks),
        "batch": lambda: figure(f"generate batch {a.units * a.factor_units:,} vs {a.units:,}", a.units,
                                a.units * a.factor_units, generate, [*emulator, "--mode", "batch"],
                                1.1 * a.factor_units),
        "realtime": lambda: figure(f"generate realtime {a.units * a.factor_units:,} vs {a.units:,}", a.units,
                                   a.units * a.factor_units, generate, [*emulator, "--mode", "realtime"],
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
