"""`octoc check` time against the number of steps: it should grow linearly.

Target (issue 9): at most 2.5× the time from 1,000 to 2,000 steps (before the fix, 4,000 steps took
36.7 s and 20,000 more than 300 s). Three shapes of pipeline, each with N steps: a chain of compute
steps each reading the last, independent compute steps, and generate steps each with a judge.
Each figure is `check_source` of the generated text in this process (the standard library loaded
once beforehand), the median of RUNS runs, with the range; CPU time, so a busy machine disturbs it
less than wall time would. On a shared machine the times still wander by ±30%, so each size is
also measured by the Python function calls it makes (one more run, under `sys.setprofile`): a
count that does not depend on the machine, and grows as the work does.

    python bench/bench_check.py [RUNS]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time

from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.stdlib import default_language

SIZES = (1000, 2000, 4000)


def chained(n: int) -> str:
    lines = ["octo: 1", "steps:", "  s0:", "    compute: {x: 1}"]
    for i in range(1, n):
        lines += [f"  s{i}:", f"    compute: {{x: s{i - 1}.x + 1}}"]
    return "\n".join(lines) + "\n"


def independent(n: int) -> str:
    lines = ["octo: 1", "steps:"]
    for i in range(n):
        lines += [f"  s{i}:", f"    compute: {{x: unit.repeat + {i}}}"]
    return "\n".join(lines) + "\n"


def judged(n: int) -> str:
    lines = ["octo: 1", "defaults: {model: openai:gpt-4.1-mini}", "steps:"]
    for i in range(n // 2):
        lines += [f"  g{i}:", "    generate:", f"      prompt: \"Say {{{{ unit.repeat }}}} {i}\"",
                  f"  j{i}:", "    judge:", f"      of: g{i}", f"      prompt: \"Is {{{{ g{i}.text }}}} ok?\"",
                  "      output: {ok: bool}", "      pass: ok"]
    return "\n".join(lines) + "\n"


SHAPES = {"chained compute": chained, "independent compute": independent, "generate + judge": judged}


def seconds(text: str, language) -> float:
    gc.collect()  # the garbage of the last run is not this run's work
    start = time.process_time()
    result = check_source(Source("bench.octo", text), language)
    spent = time.process_time() - start
    assert result.ok, [d.message for d in result.diagnostics][:3]
    return spent


def calls(text: str, language) -> int:
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        count += event == "call"

    sys.setprofile(profile)
    try:
        check_source(Source("bench.octo", text), language)
    finally:
        sys.setprofile(None)
    return count


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    language = default_language()
    seconds(chained(10), language)  # warm up: grammar tables, schema
    print(f"octoc check: CPU seconds, median of {runs} runs (min–max); Python calls made")
    worst = worst_calls = 0.0
    for name, make in SHAPES.items():
        medians, counts = {}, {}
        print(f"  {name}")
        for n in SIZES:
            text = make(n)
            times = [seconds(text, language) for _ in range(runs)]
            medians[n], counts[n] = statistics.median(times), calls(text, language)
            print(f"    {n:>5,} steps  {medians[n]:6.2f} s ({min(times):.2f}–{max(times):.2f})  {counts[n]:>10,} calls")
        ratios = [medians[b] / medians[a] for a, b in zip(SIZES, SIZES[1:])]
        call_ratios = [counts[b] / counts[a] for a, b in zip(SIZES, SIZES[1:])]
        worst, worst_calls = max(worst, ratios[0]), max(worst_calls, call_ratios[0])
        print("    ratios for twice the steps: time " + ", ".join(f"{r:.2f}×" for r in ratios)
              + "; calls " + ", ".join(f"{r:.2f}×" for r in call_ratios))
    for what, ratio in (("time", worst), ("calls", worst_calls)):
        print(f"largest {what} ratio from 1,000 to 2,000 steps: {ratio:.2f}× "
              f"({'within' if ratio <= 2.5 else 'OVER'} the 2.5× target)")


if __name__ == "__main__":
    main()
