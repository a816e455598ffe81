"""Issue 15: the HTML report of a 1,000,000-unit run is under 5 MB and renders in under 2 s in headless Chromium.

A cheap pipeline (a `compute` step with a bool, two numbers and an enum per unit, and an aggregate grouped by
the enum) runs at UNITS (1,000,000) and at 1/1000 of that, each in its own `octoc run`; `octoc report DIR
--html FILE` writes each report, and Chromium (tests/browser.py, Debian's /usr/bin/chromium) loads each
RENDERS (3) times, interleaved. Two figures, each against the tiny report of the same run of this script:

- the file's size (the issue's target, < 5 MB, is in the figure's name: a ratio to the tiny report says how
  the file grows with the units, which is what keeps it small);
- the render time, navigation start → the first frame after the load event, median of the renders (target
  < 2 s, in the name).

Every page must load with no console error and no request (the script stops otherwise). The times of
`octoc run` and of `octoc report --html` are printed too. OCTO_WORKERS is passed on to `octoc run`.

    python bench/bench_report.py [--units N] [--renders K] [--keep DIR] [--quick] [--json]

With --json the last line of stdout is {"figures": [...]} (the bench contract, bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import Chromium, find_chromium  # noqa: E402

MAX_MB, MAX_SECONDS = 5, 2  # the targets
ARMS = (("a", 0.2), ("b", 0.5), ("c", 0.8))

PIPELINE = """octo: 1
name: report-bench
seed: 1
data:
  arms: [{arms}]
units: {{for: {{arm: arms}}, repeat: {repeat}}}
steps:
  pull:
    compute:
      win: bernoulli(unit.arm.p)
      score: normal(10 * unit.arm.p, 2)
      tries: randint(1, 6)
      grade: "'high' if score > 6 else 'mid' if score > 3 else 'low'"
  per_grade:
    aggregate:
      by: {{grade: pull.grade}}
      metrics:
        units: count()
        win_rate: share(pull.win)
        ci: wilson(pull.win)
        mean_score: mean(pull.score)
        mean_tries: mean(pull.tries)
"""


def pipeline(units: int) -> str:
    """The benchmark's pipeline with ``units`` units (rounded up to a multiple of the arms)."""
    arms = ", ".join(f"{{id: {a}, p: {p}}}" for a, p in ARMS)
    return PIPELINE.format(arms=arms, repeat=-(-units // len(ARMS)))


def octoc(*args: str) -> float:
    """Seconds of one `octoc` command in a fresh process; its error output ends the benchmark when it fails."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "octo", *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"octoc {' '.join(args)} failed (exit {done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return time.perf_counter() - start


def report_of(units: int, where: Path, say) -> Path:
    """Run the pipeline with ``units`` units in ``where`` and write its HTML report there."""
    where.mkdir(parents=True, exist_ok=True)
    source, run, html = where / "bench.octo", where / "run", where / "report.html"
    source.write_text(pipeline(units))
    ran = octoc("run", str(source), "--run-dir", str(run))
    reported = octoc("report", str(run), "--html", str(html))
    say(f"{units:,} units: octoc run {ran:.1f} s, octoc report --html {reported:.1f} s, "
        f"{html.stat().st_size / 1e6:.3f} MB")
    return html


def render_ms(browser: Chromium, html: Path) -> float:
    """One load of the report in a new tab: its render time, after checking it made no error and no request."""
    page = browser.load(html, ("figure.chart svg",))
    if page.problems() or page.pixels.blank or page.visible["figure.chart svg"] == 0:
        raise SystemExit(f"{html}: {page.problems() or 'blank, or no chart drawn'}")
    return page.render_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000, help="the units of the run reported")
    parser.add_argument("--renders", type=int, default=3, help="loads of each report in Chromium")
    parser.add_argument("--keep", type=Path, help="write the runs and reports here (a temporary directory if not)")
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds), for a test of the JSON shape")
    parser.add_argument("--json", action="store_true")
    a = parser.parse_args()
    if a.quick:
        a.units, a.renders = 3_000, 1
    if find_chromium() is None:
        raise SystemExit("headless Chromium not found: apt-get install chromium")
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if a.json else print
    tiny = max(len(ARMS), a.units // 1000)
    with tempfile.TemporaryDirectory() as tmp:
        where = a.keep or Path(tmp)
        small, large = report_of(tiny, where / "tiny", say), report_of(a.units, where / "large", say)
        with Chromium(Path(tmp) / "profile") as browser:
            render_ms(browser, small)  # a first load warms the browser up (its renderer, fonts): not counted
            times = {small: [], large: []}
            for _ in range(a.renders):
                for html in (small, large):
                    times[html].append(render_ms(browser, html))
        size = {html: html.stat().st_size / 1e6 for html in (small, large)}
    baseline = f"the same report of {tiny:,} units"
    figures = [
        {"name": f"HTML report of {a.units:,} units: size (target < {MAX_MB} MB)", "value": size[large],
         "unit": "MB", "baseline": baseline, "baseline_value": size[small], "ratio": size[large] / size[small],
         "target": None},
        {"name": f"HTML report of {a.units:,} units: render in headless Chromium (target < {MAX_SECONDS} s)",
         "value": statistics.median(times[large]), "unit": "ms", "baseline": baseline,
         "baseline_value": statistics.median(times[small]),
         "ratio": statistics.median(times[large]) / statistics.median(times[small]), "target": None},
    ]
    say(f"size: {size[large]:.3f} MB (target < {MAX_MB} MB: {'met' if size[large] < MAX_MB else 'missed'}), "
        f"{figures[0]['ratio']:.2f}x the {tiny:,}-unit report's {size[small]:.3f} MB")
    ms = figures[1]["value"]
    say(f"render: median {ms:.0f} ms of {a.renders} ({min(times[large]):.0f}–{max(times[large]):.0f}) "
        f"(target < {MAX_SECONDS * 1000} ms: {'met' if ms < MAX_SECONDS * 1000 else 'missed'}), "
        f"{figures[1]['ratio']:.2f}x the {tiny:,}-unit report's {figures[1]['baseline_value']:.0f} ms")
    if a.json:
        print(json.dumps({"figures": figures}))


if __name__ == "__main__":
    main()
