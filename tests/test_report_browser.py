"""Every example's HTML report opens in headless Chromium (tests/browser.py) as issue 15 asks: no console error
or warning, no exception, no request (everything inlined), every chart the HTML declares (a ``<figure
class="chart">`` in its source) laid out with a drawn, non-empty ``<svg>``, and a screenshot that is not blank.

Each example runs on the emulator (with its scripted answers where it has an examples/NAME.answers.yaml),
smaller as tests/planvsemu.py makes it: at most 20 replicas per row, data files cut to their first lines.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from browser import Chromium
from planvsemu import run_on_emulator, smaller_copy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))
DECLARED = re.compile(r"<figure class=\"chart\"")
SHAPES = "rect, path, line, polyline, polygon, circle, ellipse"
SELECTORS = ("figure.chart", "figure.chart > svg", "figure.chart:not(:has(> svg))", "figure.chart > svg:empty",
             f"figure.chart > svg:not(:has({SHAPES}))")


def html_report(example: Path, tmp_path: Path) -> Path:
    """Run a smaller copy of ``example`` on the emulator and write `octoc report --html` of it."""
    from octo.cli.exitcodes import DONE
    from octo.cli.main import main

    answers = example.with_suffix(".answers.yaml")
    extra = ("--answers", str(answers)) if answers.exists() else ()
    run, html = tmp_path / "run", tmp_path / "report.html"
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        ran = run_on_emulator(smaller_copy(example, tmp_path), run, ("--mode", "realtime", *extra))
        reported = main(["report", str(run), "--html", str(html)])
    assert ran in DONE and reported in DONE, out.getvalue() + err.getvalue()
    assert "Traceback" not in err.getvalue()
    return html


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_examples_html_report_opens_clean_with_every_chart_drawn(example: Path, chromium: Chromium, tmp_path):
    html = html_report(example, tmp_path)
    declared = len(DECLARED.findall(html.read_text(encoding="utf-8")))
    page = chromium.load(html, SELECTORS)
    assert page.problems() == []
    assert declared >= 3  # at least the funnel, a distribution and the plan's DAG
    assert page.counts["figure.chart"] == page.visible["figure.chart"] == declared
    assert page.counts["figure.chart > svg"] == page.visible["figure.chart > svg"] == declared
    assert page.counts["figure.chart:not(:has(> svg))"] == 0  # no figure without its chart
    assert page.counts["figure.chart > svg:empty"] == 0
    assert page.counts[f"figure.chart > svg:not(:has({SHAPES}))"] == 0  # each chart draws something
    assert not page.pixels.blank and page.pixels.colours > 16  # text, bars, axes: many shades


def test_a_broken_chart_in_a_report_fails_the_checks_above(chromium: Chromium, tmp_path):
    """The same checks catch a report whose chart lost its drawing or that loads a font from the web."""
    html = html_report(ROOT / "examples" / "drunken_sailor.octo", tmp_path)
    text = html.read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r"(<figure class=\"chart\"[^>]*>)<svg[^>]*>.*?</svg>", r"\1<svg></svg>", text, count=1,
                             flags=re.S).replace("</head>", "<link rel=stylesheet href='https://fonts.example/x.css'>"
                                                            "</head>", 1), encoding="utf-8")
    page = chromium.load(broken, SELECTORS)
    assert page.requests == ["https://fonts.example/x.css"]
    assert page.counts["figure.chart > svg:empty"] == 1


def test_the_screenshot_tool_draws_the_drunken_sailors_report(chromium: Chromium, tmp_path):
    """tests/report_screenshot.py (which makes docs/images/report-drunken-sailor.png) writes the whole page as a
    PNG under its size limit (the tool itself refuses a blank or broken page)."""
    from report_screenshot import MAX_BYTES, SCALE, WIDTH

    out = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "report_screenshot.py"), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    png = out.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) <= MAX_BYTES
    width, height = struct.unpack(">II", png[16:24])
    assert width == int(WIDTH * SCALE) and height > 2 * width  # the whole report, not its first screen


def test_docs_run_md_shows_the_committed_screenshot():
    """docs/run.md's report section shows docs/images/report-drunken-sailor.png, which is there, a PNG of the whole
    report drawn as tests/report_screenshot.py draws it, under its size limit."""
    from report_screenshot import MAX_BYTES, OUT, SCALE, WIDTH

    assert "](images/report-drunken-sailor.png)" in (ROOT / "docs" / "run.md").read_text(encoding="utf-8")
    png = OUT.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) <= MAX_BYTES
    assert struct.unpack(">II", png[16:24])[0] == int(WIDTH * SCALE)
