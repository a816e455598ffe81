"""Planning a 10,000,000-unit cross product: wall time and peak RSS.

Target (issue 3): under 200 MiB RSS and a few seconds. Each figure is measured
in a fresh process; the baseline is `octoc check` of the same file, run in the
same way, so the ratio shows what planning adds.

    python bench/bench_plan.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = """octo: 1
name: ten-million
seed: 1
data:
  a: [{rows_a}]
  b: [{rows_b}]
  c: [{rows_c}]
units:
  for: {{a: a, b: b, c: c}}
steps:
  score: {{compute: {{x: 'unit.a * 100 + unit.b'}}}}
  label:
    generate:
      model: openai:gpt-4.1-mini
      prompt: |
        Label the combination {{{{ unit.a }}}}, {{{{ unit.b }}}}, {{{{ unit.c }}}} with score {{{{ score.x }}}}.
      output: {{label: str, ok: bool}}
    when: unit.a < 10
  summary:
    aggregate:
      metrics: {{n: count(), mean_x: mean(score.x)}}
"""

MEASURE = """
import resource, sys, time
t = time.perf_counter()
from octo.cli.main import main
code = main(sys.argv[1:])
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"BENCH {{elapsed:.3f}} {{peak:.1f}} {{code}}", file=sys.stderr)
"""


def run(args: list[str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE.format(), *args], capture_output=True, text=True)
    line = next(l for l in out.stderr.splitlines() if l.startswith("BENCH"))
    _, elapsed, peak, code = line.split()
    assert code in ("0",), out.stdout[-2000:] + out.stderr[-2000:]
    return float(elapsed), float(peak)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ten_million.octo"
        path.write_text(PROGRAM.format(rows_a=", ".join(map(str, range(1000))),
                                       rows_b=", ".join(map(str, range(100))),
                                       rows_c=", ".join(map(str, range(100)))))
        check_t, check_rss = run(["check", str(path)])
        plan_t, plan_rss = run(["plan", str(path)])
        wall = time.perf_counter()
        subprocess.run([sys.executable, "-m", "octo", "plan", str(path)], capture_output=True)
        wall = time.perf_counter() - wall
    print("10,000,000-unit cross product (1000 × 100 × 100)")
    print(f"  octoc check (baseline): {check_t:6.2f} s  {check_rss:7.1f} MiB peak RSS")
    print(f"  octoc plan:             {plan_t:6.2f} s  {plan_rss:7.1f} MiB peak RSS   (whole process: {wall:.2f} s)")
    print(f"  plan / check: {plan_t / check_t:.2f}× time, {plan_rss / check_rss:.2f}× memory")
    print(f"  target: < 200 MiB and a few seconds -> {'met' if plan_rss < 200 and plan_t < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
