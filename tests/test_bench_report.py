"""bench/bench_report.py keeps the BENCH CONTRACT the harness reads: with `--quick --json` its last line is
{"figures": [...]}: the HTML report's size and its render time in headless Chromium, each against the tiny
report of the same run, the issue's absolute targets in the names (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from browser import SKIP_REASON, find_chromium

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(find_chromium() is None, reason=SKIP_REASON)
def test_quick_json_prints_the_contracts_figures():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_report.py"), "--quick", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])["figures"]
    assert [f["name"] for f in figures] == ["HTML report of 3,000 units: size (target < 5 MB)",
                                            "HTML report of 3,000 units: render in headless Chromium (target < 2 s)"]
    for f in figures:
        assert set(f) == {"name", "value", "unit", "baseline", "baseline_value", "ratio", "target"}
        assert f["baseline"] == "the same report of 3 units" and f["target"] is None
        assert f["value"] > 0 and f["baseline_value"] > 0
        assert abs(f["ratio"] - f["value"] / f["baseline_value"]) < 0.01
    assert [f["unit"] for f in figures] == ["MB", "ms"]
    assert "render: median" in out.stderr and "size:" in out.stderr
