"""Memory on the batch path: peak RSS of `octoc run` of one generate step, against 5k units.

Each size runs in fresh processes (peak RSS never goes down, so one process per measurement):
(a) `octoc run --provider emulator`: the client and its in-process emulator together;
(b) the same run against a standalone `octoc emulator` process (the OpenAI wire through the real SDK):
    the client's peak RSS, and separately the emulator's (its VmHWM).
Each figure is a ratio against the same measurement at the baseline size, taken in the same run of this
script; target: memory flat in units, ≤ 1.3× of 5k (issue 14). CPU milliseconds per row of (a) are printed
too (user + system time of the process, check and plan included; wall time is mostly waiting for batches), to
keep an eye on the provider path's speed.

    python bench/bench_memory.py [--sizes 50000,500000] [--base 5000] [--quick] [--json]

`--quick` uses small sizes (seconds); `--json` prints the figures as the last line (the bench contract).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys

from pipelines import generate, run_in_fresh_process

TARGET = 1.3


def _run_child(n: int, url: str | None = None) -> dict:
    """`octoc run` of ``n`` batch units in a fresh process: against its in-process emulator, or against
    the standalone one at ``url`` (the OpenAI wire through the real SDK)."""
    if url is None:
        return run_in_fresh_process(generate(n, "batch"), ["--provider", "emulator"])
    return run_in_fresh_process(generate(n, "batch"), ["--poll-interval", "0.05"],
                                env={"OPENAI_BASE_URL": f"{url}/v1", "OPENAI_API_KEY": "emulator"})


def _standalone(n: int) -> tuple[dict, float]:
    """(the client's result, the emulator's peak RSS in MiB) of a run against a fresh standalone emulator."""
    emulator = subprocess.Popen([sys.executable, "-c", "import sys; from octo.cli.main import main; "
                                 "sys.exit(main(['emulator', '--port', '0']))"], stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().split(" on ")[1].split()[0]
        result = _run_child(n, url)
        with open(f"/proc/{emulator.pid}/status") as status:
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(10)
    return result, hwm


def measure(n: int) -> dict:
    inproc = _run_child(n)
    client, emulator = _standalone(n)
    return {"inproc": inproc["rss"], "ms_per_row": 1000 * inproc["cpu"] / n,
            "client": client["rss"], "emulator": emulator}


def figures(base_n: int, base: dict, sizes: dict[int, dict]) -> list[dict]:
    out = []
    for n, m in sizes.items():
        for key, name, unit, target in (
                ("inproc", f"peak RSS, client and in-process emulator, {n:,} units", "MiB", TARGET),
                ("client", f"peak RSS, client alone (standalone emulator), {n:,} units", "MiB", TARGET),
                ("emulator", f"peak RSS, standalone emulator, {n:,} units", "MiB", TARGET),
                ("ms_per_row", f"CPU ms per row, client and in-process emulator, {n:,} units", "ms", None)):
            out.append({"name": name, "value": round(m[key], 3), "unit": unit,
                        "baseline": f"the same at {base_n:,} units", "baseline_value": round(base[key], 3),
                        "ratio": round(m[key] / base[key], 3), "target": target})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,500000", help="unit counts compared with --base")
    parser.add_argument("--base", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds), for tests")
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    base_n, sizes = (20, [80]) if a.quick else (a.base, [int(s) for s in a.sizes.split(",")])
    base = measure(base_n)
    measured = {n: measure(n) for n in sizes}
    result = figures(base_n, base, measured)
    if a.json:
        print(json.dumps({"figures": result}))
        return
    for f in result:
        target = "" if f["target"] is None else f"; target ≤ {f['target']}"
        verdict = "" if f["target"] is None else ("  met" if f["ratio"] <= f["target"] else "  MISSED")
        print(f"{f['name']:<62} {f['value']:>9.2f} {f['unit']:<4} (×{f['ratio']:.2f} of {f['baseline_value']:.2f}"
              f"{target}){verdict}")


if __name__ == "__main__":
    main()
