"""The screenshot in docs/run.md: the drunken sailor's HTML report, as headless Chromium draws it.

    python tests/report_screenshot.py [--out docs/images/report-drunken-sailor.png]

Runs examples/drunken_sailor.octo on the emulator (the example as it is: 20,000 walks, 40 shanties), writes
`octoc report --html` of the run, loads it in Chromium (tests/browser.py) and saves the whole page as a PNG,
drawn 1100 CSS pixels wide at SCALE so that it stays under MAX_BYTES. It stops, saying why, when the page
logs an error, makes a request, or comes out blank — a screenshot of a broken report is no documentation.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from browser import Chromium  # noqa: E402

OUT = ROOT / "docs" / "images" / "report-drunken-sailor.png"
WIDTH, SCALE = 1100, 0.8
MAX_BYTES = 300_000  # the PNG committed to docs/images


def screenshot(out: Path, example: Path = ROOT / "examples" / "drunken_sailor.octo") -> int:
    """Write the PNG of ``example``'s report to ``out``; its size in bytes."""
    from octo.cli.main import main

    with tempfile.TemporaryDirectory() as tmp:
        run, html = Path(tmp) / "run", Path(tmp) / "report.html"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ran = main(["run", str(example), "--provider", "emulator", "--run-dir", str(run)])
            main(["report", str(run), "--html", str(html)])
        if ran != 0 or not html.exists():
            raise SystemExit(f"octoc run {example} exited {ran}; its report: {html.exists() and html}")
        with Chromium(Path(tmp) / "profile") as browser:
            page = browser.load(html, width=WIDTH, scale=SCALE)
    if page.problems() or page.pixels.blank:
        raise SystemExit(f"the report is broken: {page.problems() or 'blank'}")
    if len(page.png) > MAX_BYTES:
        raise SystemExit(f"the screenshot is {len(page.png):,} bytes, over {MAX_BYTES:,}: lower SCALE")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(page.png)
    return len(page.png)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the PNG goes ({OUT.relative_to(ROOT)})")
    args = parser.parse_args()
    print(f"{args.out}: {screenshot(args.out):,} bytes")
