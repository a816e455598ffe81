"""`python -m bench`: every benchmark of issues 14 and 15, repeated, with one and with two workers, in one table.

Each benchmark script follows the BENCH CONTRACT: with `--json` its last line of stdout is
{"figures": [{"name", "value", "unit", "baseline", "baseline_value", "ratio", "target"}, ...]}, each
ratio measured against its baseline in that same run; `--quick` makes its sizes small. This harness
runs each script RUNS times (3) with OCTO_WORKERS=1 pinned to one core (`taskset -c 0`) and with
OCTO_WORKERS=2, and prints per figure and workers the median ratio with its range and the target,
met or missed. A benchmark it knows but cannot find (one not merged yet) is skipped with a line
saying so; one that fails or prints no figures is reported and the others still run.

    python -m bench [--quick] [--runs N] [--only NAME,...] [--workers 1,2] [--record]

`--record` writes the table, dated, into bench/README.md (between its "figures" markers).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The benchmarks of issues 14 and 15, in the order they are run: script, what it measures.
BENCHMARKS = [
    ("bench_scale.py", "linear at scale: 1M vs 100k walks, 50k vs 10k generate units (batch, realtime)"),
    ("bench_run.py", "octoc run of the drunken sailor against a hand-written loop"),
    ("bench_simulate.py", "the simulate step against a hand-written loop"),
    ("bench_memory.py", "peak RSS on the batch path at 5k, 50k and 500k units"),
    ("bench_startup.py", "each command against the bare import of its libraries"),
    ("bench_report.py", "issue 15: the HTML report of 1M units, its size and its render time in headless Chromium"),
]
FULL_TIMEOUT, QUICK_TIMEOUT = 3 * 3600, 300  # seconds one run of one script may take
BEGIN, END = "<!-- figures: python -m bench --record -->", "<!-- end of figures -->"


@dataclass
class Figure:
    """One figure of one benchmark with a number of workers, over the runs."""

    bench: str
    name: str
    workers: int
    unit: str
    baseline: str
    target: float | None
    ratios: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    baseline_values: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "—"
        return "met" if self.ratio <= self.target else "missed"


def command(script: Path, workers: int, quick: bool, extra: list[str] = ()) -> list[str]:
    """One run of a script (with ``extra`` arguments): pinned to the first core with one worker (when taskset is there)."""
    argv = [sys.executable, str(script), "--json"] + (["--quick"] if quick else []) + list(extra)
    if workers == 1 and shutil.which("taskset"):
        argv = ["taskset", "-c", "0"] + argv
    return argv


def figures_of(stdout: str) -> list[dict]:
    """The figures of the contract's last line (ValueError when it is not there or has the wrong shape)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("printed nothing")
    try:
        figures = json.loads(lines[-1])["figures"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError("its last line is not the contract's {\"figures\": [...]}") from None
    for f in figures:
        if not isinstance(f, dict) or not {"name", "value", "unit", "baseline", "baseline_value", "ratio",
                                           "target"} <= f.keys():
            raise ValueError(f"a figure without the contract's fields: {f!r}"[:200])
    return figures


def run_once(script: Path, workers: int, quick: bool, say, extra: list[str] = ()) -> list[dict] | None:
    """The figures of one run; None (after saying why, a line starting with two spaces) when the run failed."""
    env = {**os.environ, "OCTO_WORKERS": str(workers)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure octo as installed: its modules load from bytecode
    try:
        done = subprocess.run(command(script, workers, quick, extra), cwd=HERE.parent, env=env, capture_output=True,
                              text=True, timeout=QUICK_TIMEOUT if quick else FULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        say(f"  {script.name} (workers {workers}): no figures: it ran out of time")
        return None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no error output)"])[-1]
        say(f"  {script.name} (workers {workers}): no figures: exit {done.returncode}: {last[:200]}")
        return None
    try:
        return figures_of(done.stdout)
    except ValueError as err:
        say(f"  {script.name} (workers {workers}): no figures: {err}")
        return None


def run_all(bench_dir: Path, benchmarks, runs: int, workers: list[int], quick: bool,
            say=print, extra: dict[str, list[str]] | None = None) -> tuple[list[Figure], list[str]]:
    """Every known benchmark found in bench_dir, `runs` times per number of workers; the figures, and a
    line for each benchmark skipped and each run that gave none."""
    table: dict[tuple, Figure] = {}
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line.strip())
        say(line)

    for name, what in benchmarks:
        script = bench_dir / name
        if not script.exists():
            note(f"skip {name}: not in this tree ({what})")
            continue
        for w in workers:
            for i in range(runs):
                say(f"{name}, workers {w}, run {i + 1} of {runs}")
                for f in run_once(script, w, quick, note, (extra or {}).get(name, [])) or ():
                    key = (name, f["name"], w)
                    fig = table.setdefault(key, Figure(name, f["name"], w, f["unit"], f["baseline"], f["target"]))
                    fig.ratios.append(float(f["ratio"]))
                    fig.values.append(float(f["value"]))
                    fig.baseline_values.append(float(f["baseline_value"]))
    return list(table.values()), notes


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def render(figures: list[Figure], notes: list[str] = ()) -> str:
    """A Markdown table: per figure and workers, the median ratio (range), value, baseline, target, verdict;
    then the benchmarks skipped and the runs that failed."""
    rows = ["| benchmark | figure | workers | ratio, median (range) | runs | value | baseline | target | |",
            "|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        spread = f"{f.ratio:.2f}× ({min(f.ratios):.2f}–{max(f.ratios):.2f})"
        value = f"{_num(statistics.median(f.values))} {f.unit}"
        baseline = f"{f.baseline}: {_num(statistics.median(f.baseline_values))} {f.unit}"
        target = "—" if f.target is None else f"≤ {f.target}×"
        rows.append(f"| {f.bench.removesuffix('.py')} | {f.name} | {f.workers} | {spread} | {len(f.ratios)} | "
                    f"{value} | {baseline} | {target} | {f.verdict} |")
    return "\n".join(rows + ([""] + [f"- {line}" for line in notes] if notes else []))


def record(readme: Path, table: str, when: datetime.date, how: str) -> None:
    """Put the table, dated, between the README's markers (added at its end when it has none)."""
    block = f"{BEGIN}\nLatest figures ({when.isoformat()}, {how}):\n\n{table}\n{END}"
    text = readme.read_text() if readme.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    readme.write_text(text)


def main(argv: list[str] | None = None, bench_dir: Path = HERE, benchmarks=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and one run each (seconds to minutes)")
    parser.add_argument("--runs", type=int, help="runs of each script per number of workers (3; 1 with --quick)")
    parser.add_argument("--only", metavar="NAME,...", help="only these benchmarks (e.g. startup,scale)")
    parser.add_argument("--workers", default="1,2", metavar="N,...", help="OCTO_WORKERS values (1,2)")
    parser.add_argument("--record", action="store_true", help="write the table, dated, into bench/README.md")
    parser.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                        help="more arguments for one benchmark, e.g. memory='--sizes 50000' (repeatable)")
    args = parser.parse_args(argv)
    extra = {}
    for item in args.args:
        name, sep, rest = item.partition("=")
        if not sep:
            parser.error(f"--args takes NAME=ARGS, e.g. memory='--sizes 50000' (got {item!r})")
        extra[f"bench_{name.strip().removeprefix('bench_').removesuffix('.py')}.py"] = shlex.split(rest)
    chosen = list(BENCHMARKS if benchmarks is None else benchmarks)
    if args.only:
        wanted = {f"bench_{n.strip().removeprefix('bench_').removesuffix('.py')}.py" for n in args.only.split(",")}
        unknown = wanted - {name for name, _ in chosen}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = [b for b in chosen if b[0] in wanted]
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error("--workers takes whole numbers, e.g. 1,2")
    runs = args.runs or (1 if args.quick else 3)
    figures, notes = run_all(bench_dir, chosen, runs, workers, args.quick, say=lambda line: print(line, flush=True),
                             extra=extra)
    if not figures:
        print("no figures")
        return 1
    table = render(figures, notes)
    print()
    print(table)
    if args.record:
        how = (f"median of {runs} run(s), workers {args.workers}" + (", --quick sizes" if args.quick else "")
               + (f", only {args.only}" if args.only else "") + "".join(f", {a}" for a in args.args))
        record(bench_dir / "README.md", table, datetime.date.today(), how)
        print(f"\nrecorded in {bench_dir / 'README.md'}")
    return 0
