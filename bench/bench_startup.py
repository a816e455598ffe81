"""Startup: each `octoc` command against the bare import of the libraries it needs, in fresh processes.

A short command is mostly Python starting and importing. Its floor is `python -c "import <its
libraries>"`: what is left above that is octo's own modules and work. Target (issue 14): `octoc
check` ≤ 1.2× that floor. `plan` and the runs are printed against theirs too (no target), and so
are two runs that show the provider SDKs are imported only for the providers a pipeline uses: a
local-only pipeline's run has the same floor as `check` (no SDK), the drunken sailor's run on the
emulator (OpenAI and Anthropic steps) adds exactly those two SDKs.

Each round times every command and every floor once, interleaved, and every other round in the
reverse order, so a machine that slows down mid-run slows both sides of a ratio alike; a figure is
the median of the rounds (wall time; a fresh process each time), 11 rounds by default: on a shared
machine single processes take up to twice their usual time, and the median of a few rounds was
seen to move by half. The processes' CPU time (user + system, from the kernel's accounting of the
children) is printed beside it: it hardly depends on what else runs, and shows whether a change of
a wall-time ratio is octo's or the machine's. One run of the script is one measurement of each
ratio (`python -m bench` repeats it).

`--instructions` adds, where valgrind is installed, the instructions each command and its floor
execute (callgrind, one process each, after the timed rounds): a count that does not depend on the
machine's load at all, so a change of a few milliseconds shows on a busy machine too. It is a proxy
(a cache miss or a system call is one instruction), printed beside the figures, not one of them.

Both sides import from bytecode, as an installed octo does (pip compiles it): the processes get a
private PYTHONPYCACHEPREFIX, filled by one untimed round first, and never PYTHONDONTWRITEBYTECODE
(with it, octo's own modules in a source checkout are compiled from source by every command, which
doubles their import time while the libraries' bytecode from pip is still read).

    python bench/bench_startup.py [--rounds N] [--quick] [--json] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "drunken_sailor.octo"

# The third-party libraries the compiler needs (tests/test_startup.py checks `check` imports no other).
COMPILER_LIBRARIES = ("lark", "yaml", "jinja2", "jsonschema", "re2")
SAILOR_SDKS = ("openai", "anthropic")  # the providers of the drunken sailor's steps

LOCAL_ONLY = """octo: 1
name: startup-local
seed: 1
units: {repeat: 4}
steps:
  square: {compute: {x: unit.repeat * unit.repeat}}
"""


def commands(work: Path, quick: bool) -> list[dict]:
    """Each figure: its name, the octoc arguments, the libraries of its floor, its target."""
    local = work / "local.octo"
    local.write_text(LOCAL_ONLY)
    out = [
        {"name": "check", "args": ["check", str(EXAMPLE)], "libraries": COMPILER_LIBRARIES, "target": 1.2},
        {"name": "plan", "args": ["plan", str(EXAMPLE)], "libraries": COMPILER_LIBRARIES, "target": None},
    ]
    if not quick:
        out += [
            {"name": "run, local steps only", "args": ["run", str(local), "--run-dir", "{run_dir}"],
             "libraries": COMPILER_LIBRARIES, "target": None},
            {"name": "run --provider emulator (OpenAI + Anthropic steps)",
             "args": ["run", str(EXAMPLE), "--provider", "emulator", "--max-units", "4", "--run-dir", "{run_dir}"],
             "libraries": COMPILER_LIBRARIES + SAILOR_SDKS, "target": None},
        ]
    return out


def bytecode_env(cache: Path) -> dict:
    """The environment of the timed processes: bytecode written to and read from ``cache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(cache)}


def seconds(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall time, CPU time) of one fresh process; a failure to start or a crash is an error, not a figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=bytecode_env(cwd / "pycache"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    spent = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 7):  # 7: the 4-unit sailor run misses its expectations, as it should
        raise SystemExit(f"bench_startup: {' '.join(argv[1:])} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return spent, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def octoc(args: list[str], run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "octo.cli.main", *(a.replace("{run_dir}", str(run_dir)) for a in args)]


def floor(libraries: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-c", "import " + ", ".join(libraries)]


def instructions(argv: list[str], cwd: Path) -> int:
    """The instructions one process of ``argv`` executes, counted by valgrind's callgrind."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], cwd=cwd,
                          env=bytecode_env(cwd / "pycache"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return collected(done.stderr)


def collected(report: str) -> int:
    """The total of callgrind's report ("==123== Collected : 663238209")."""
    found = re.search(r"Collected\s*:\s*(\d+)", report)
    if found is None:
        raise SystemExit(f"bench_startup: no instruction count from valgrind: {report.strip()[-300:]}")
    return int(found.group(1))


def measure(rounds: int, quick: bool, count: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="octo-startup-") as tmp:
        work = Path(tmp)
        figures = commands(work, quick)
        # each timed process, by what it runs: a figure's name, or a floor's libraries
        jobs = [(libraries, floor(libraries)) for libraries in dict.fromkeys(f["libraries"] for f in figures)]
        jobs += [(f["name"], f["args"]) for f in figures]
        wall: dict = {key: [] for key, _ in jobs}
        cpu: dict = {key: [] for key, _ in jobs}
        for r in range(-1, rounds):  # round -1 writes the bytecode and is not counted
            for i, (key, argv) in enumerate(jobs if r % 2 else jobs[::-1]):
                if isinstance(key, str):
                    argv = octoc(argv, work / f"run-{r}-{i}")
                spent, used = seconds(argv, work)
                if r >= 0:
                    wall[key].append(spent)
                    cpu[key].append(used)
        counted = {key: instructions(argv if not isinstance(key, str) else octoc(argv, work / f"run-count-{i}"), work)
                   for i, (key, argv) in enumerate(jobs)} if count else {}
    out = []
    for f in figures:
        value, base = statistics.median(wall[f["name"]]), statistics.median(wall[f["libraries"]])
        out.append({"name": f"octoc {f['name']}", "value": round(value * 1000, 1), "unit": "ms",
                    "baseline": f"python -c 'import {', '.join(f['libraries'])}'",
                    "baseline_value": round(base * 1000, 1), "ratio": round(value / base, 3), "target": f["target"],
                    "_range": (round(min(wall[f["name"]]) * 1000), round(max(wall[f["name"]]) * 1000)),
                    "_base_range": (round(min(wall[f["libraries"]]) * 1000), round(max(wall[f["libraries"]]) * 1000)),
                    "_cpu_ratio": statistics.median(cpu[f["name"]]) / statistics.median(cpu[f["libraries"]]),
                    "_instructions": (counted[f["name"]], counted[f["libraries"]]) if count else None})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="fresh processes per command and per floor (11)")
    parser.add_argument("--quick", action="store_true", help="check and plan only, one round (a few seconds)")
    parser.add_argument("--json", action="store_true", help="end with the figures as one JSON line")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each command's and floor's instructions with valgrind (load-independent)")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (apt-get install valgrind)")
    rounds = 1 if args.quick else max(1, args.rounds)
    figures = measure(rounds, args.quick, args.instructions)
    print(f"startup, median of {rounds} fresh process(es) each (OCTO_WORKERS={os.environ.get('OCTO_WORKERS', '-')})")
    for f in figures:
        target = f"target ≤ {f['target']}×" if f["target"] is not None else "no target"
        print(f"  {f['name']:<58} {f['value']:8.0f} ms ({f['_range'][0]}–{f['_range'][1]})  {f['ratio']:5.2f}× "
              f"{f['baseline']} ({f['baseline_value']:.0f} ms, {f['_base_range'][0]}–{f['_base_range'][1]})  {target};"
              f"  CPU time {f['_cpu_ratio']:.2f}×")
        if f["_instructions"]:
            command, base = f["_instructions"]
            print(f"  {'':<58} instructions {command / 1e6:,.1f}M / {base / 1e6:,.1f}M = {command / base:.3f}× (valgrind)")
    if args.json:
        print(json.dumps({"figures": [{k: v for k, v in f.items() if not k.startswith("_")} for f in figures]}))


if __name__ == "__main__":
    main()
