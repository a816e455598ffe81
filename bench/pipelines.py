"""What the benchmarks run, in one place: their pipelines, and `octoc run` in a fresh process.

- :func:`sailor` — the drunken sailor (a `simulate` walk and an `odds` aggregate), ``n`` walks per
  scenario; the pipeline of bench_run.py (one scenario) and bench_scale.py (two).
- :func:`generate` — one `generate` step on ``n`` units (bench_scale.py's provider figures,
  bench_memory.py's batch path).
- :func:`run_in_fresh_process` — one `octoc run` of a pipeline's text in a new Python process, timed
  around `main()` (Python's own start-up left out), with the process's CPU time and peak RSS: no
  caches or memory shared between two measurements.

Benchmark scripts import this module from their own directory (``bench/`` is on ``sys.path`` when a
script there runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCENARIOS = {"middle": 5, "near_ship": 8}  # scenario id → the sailor's start (the ship is at 10, the water at 0)

_SAILOR = """octo: 1
name: sailor-bench
seed: 1
data:
  scenarios: [{scenarios}]
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

_GENERATE = """octo: 1
name: generate-bench
seed: 1
units: {{repeat: {n}}}
steps:
  answer:
    generate:
      model: openai:gpt-4.1-mini{mode}
      prompt: "Question {{{{ unit.repeat }}}}: name a sea creature."
      output: {{name: str, legs: "int[0, 10]"}}
"""


def sailor(n: int, scenarios: tuple[str, ...] = ("middle",)) -> str:
    """The drunken sailor's pipeline: ``n`` walks from each of ``scenarios`` (ids of SCENARIOS)."""
    rows = ", ".join(f"{{id: {s}, start: {SCENARIOS[s]}}}" for s in scenarios)
    return _SAILOR.format(scenarios=rows, n=n)


def generate(n: int, mode: str | None = None) -> str:
    """One `generate` step (an OpenAI model) on ``n`` units; ``mode`` ("batch", "realtime") written in the step."""
    return _GENERATE.format(n=n, mode="" if mode is None else f"\n      mode: {mode}")


# Runs in the fresh process: argv[1] is the pipeline's text, the rest `octoc run`'s flags.
_CHILD = """import contextlib, io, json, resource, sys, tempfile, time
from pathlib import Path
from octo.cli.main import main
text, flags = sys.argv[1], sys.argv[2:]
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "bench.octo"
    path.write_text(text)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(path), "--run-dir", str(Path(tmp) / "run"), *flags])
    seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"code": code, "seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss": usage.ru_maxrss / 1024}))
"""


def run_in_fresh_process(text: str, flags: list[str] = (), env: dict | None = None) -> dict:
    """`octoc run` of ``text`` with ``flags`` in a new process (``env`` added to this one's environment):
    {"code", "seconds" (wall, around main()), "cpu" (seconds, the whole process), "rss" (peak, MiB)}.
    A run that crashes or does not exit 0 ends the benchmark with its error output."""
    out = subprocess.run([sys.executable, "-c", _CHILD, text, *flags], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    lines = out.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if out.returncode == 0 and lines else None
    if result is None or result["code"] != 0:
        raise SystemExit(f"octoc run {' '.join(flags)} failed: {out.stderr.strip()[-2000:] or out.stdout[-2000:]}")
    return result
