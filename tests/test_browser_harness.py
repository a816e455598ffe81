"""tests/browser.py fails a page when it should: each page here breaks one rule a report must keep (no console
errors, no network, charts drawn, not blank) and the harness names the break; a clean page passes."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from browser import Chromium, pixels

CHART = ("<figure class='chart' data-chart='{name}'><svg width='240' height='120' viewBox='0 0 240 120'>"
         "<rect x='10' y='20' width='60' height='90' fill='#4477aa'/><rect x='90' y='50' width='60' height='60' "
         "fill='#ee6677'/></svg></figure>")


def page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>t</title></head><body>{body}</body></html>")
    return path


def test_a_clean_page_with_two_charts_passes_and_its_charts_are_counted(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, "<h1>Report</h1>" + CHART.format(name="a") + CHART.format(name="b")),
                           ("figure.chart", "figure.chart svg", "figure.chart svg rect"))
    assert loaded.problems() == []
    assert loaded.counts == {"figure.chart": 2, "figure.chart svg": 2, "figure.chart svg rect": 4}
    assert loaded.visible == loaded.counts
    assert not loaded.pixels.blank and loaded.pixels.colours >= 3  # white, two fills (and the heading's greys)
    assert 0 < loaded.load_ms <= loaded.render_ms
    assert loaded.png.startswith(b"\x89PNG")


def test_an_empty_svg_is_counted_but_not_visible(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, CHART.format(name="a") + "<figure class='chart'><svg width='0' height='0'>"
                                          "</svg></figure>"), ("figure.chart svg",))
    assert loaded.counts["figure.chart svg"] == 2 and loaded.visible["figure.chart svg"] == 1


def test_console_errors_and_warnings_are_reported(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, "<p>x</p><script>console.error('boom'); console.warn('careful');"
                                          "console.log('fine')</script>"))
    assert loaded.console == ["error: boom", "warning: careful"]
    assert loaded.exceptions == [] and loaded.requests == []


def test_an_uncaught_exception_is_reported(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, "<p>x</p><script>throw new Error('uncaught here')</script>"))
    assert len(loaded.exceptions) == 1 and "uncaught here" in loaded.exceptions[0]


def test_a_fetch_to_a_local_port_is_a_request_and_is_refused(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, "<p>x</p><script>fetch('http://127.0.0.1:1/x')</script>"))
    assert loaded.requests == ["http://127.0.0.1:1/x"]
    assert any("127.0.0.1:1/x" in line for line in loaded.problems())


def test_an_image_from_the_web_is_a_request_but_a_data_uri_is_not(chromium: Chromium, tmp_path):
    dot = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
           "awAAAABJRU5ErkJggg==")
    loaded = chromium.load(page(tmp_path, f"<p>x</p><img src='https://example.com/x.png'><img src='{dot}'>"))
    assert loaded.requests == ["https://example.com/x.png"]


def test_a_stylesheet_or_a_file_beside_the_page_is_a_request_too(chromium: Chromium, tmp_path):
    (tmp_path / "style.css").write_text("body { color: red }")
    loaded = chromium.load(page(tmp_path, "<link rel='stylesheet' href='style.css'><p>x</p>"))
    assert loaded.requests == [(tmp_path / "style.css").resolve().as_uri()]


def test_a_blank_page_is_blank(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, ""), ("figure.chart svg",))
    assert loaded.problems() == [] and loaded.counts == {"figure.chart svg": 0}
    assert loaded.pixels.blank and loaded.pixels.not_white == 0


def test_a_tall_page_is_captured_whole(chromium: Chromium, tmp_path):
    loaded = chromium.load(page(tmp_path, "<div style='height:3000px'></div><p>the end</p>"))
    assert not loaded.pixels.blank  # the text at the bottom, below the 800-pixel viewport, is in the screenshot
    assert struct.unpack(">II", loaded.png[16:24])[1] > 3000  # the PNG's height


def test_the_png_reader_counts_what_zlib_wrote():
    """A PNG written here with every filter type: the reader undoes each (white, red and a grey ramp)."""

    width, rows = 4, [bytes([255, 255, 255] * 4), bytes([255, 0, 0] * 2 + [255, 255, 255] * 2),
                      bytes([10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40])]
    rows = rows + rows[::-1]  # five rows, filters 0..4 below

    def filtered(kind: int, row: bytes, up: bytes) -> bytes:
        out = bytearray()
        for i, v in enumerate(row):
            a, b, c = (row[i - 3] if i >= 3 else 0), up[i], (up[i - 3] if i >= 3 else 0)
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            out.append((v - [0, a, b, (a + b) >> 1, paeth][kind]) & 0xFF)
        return bytes([kind]) + bytes(out)

    raw, up = b"", bytes(width * 3)
    for kind, row in enumerate(rows[:5]):
        raw, up = raw + filtered(kind, row, up), row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 5, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    counted = pixels(png)
    assert (counted.width, counted.height, counted.colours) == (4, 5, 6)  # white, red, four greys
    assert counted.not_white == 2 + 4 + 4 + 2
    assert not counted.blank


def test_the_summary_says_the_browser_tests_were_skipped_without_chromium():
    """Where Chromium is missing, the plain pytest output (no -rs) says how many browser tests were skipped and how
    to install it."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "tests/test_browser_harness.py", "-k", "blank_page or two_charts"],
                          capture_output=True, text=True, cwd=root, timeout=120,
                          env={**os.environ, "OCTO_CHROMIUM": "/nonexistent/chromium"})
    assert proc.returncode == 0 and "2 skipped" in proc.stdout, proc.stdout
    assert "headless Chromium not found: 2 browser tests skipped — apt-get install chromium" in proc.stdout, proc.stdout


def test_a_browser_that_dies_is_an_error_not_a_hang(tmp_path):
    from browser import BrowserError

    with Chromium(tmp_path / "profile", executable="/bin/false", timeout=10) as dead:
        with pytest.raises(BrowserError, match="Chromium (closed its pipe|is gone)"):
            dead.load(page(tmp_path, "<p>x</p>"))
    assert dead.exit_code() == 1  # closing waited for it
