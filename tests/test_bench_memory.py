"""bench/bench_memory.py keeps the bench contract: `--quick --json` prints its figures as the last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_memory.py"


def test_bench_memory_quick_json_prints_the_figures_last():
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])["figures"]
    assert {f["unit"] for f in figures} == {"MiB", "ms"} and len(figures) == 4
    for f in figures:
        assert set(f) == {"name", "value", "unit", "baseline", "baseline_value", "ratio", "target"}
        assert isinstance(f["name"], str) and isinstance(f["baseline"], str)
        assert all(isinstance(f[k], float) and f[k] > 0 for k in ("value", "baseline_value", "ratio"))
        assert f["target"] is None or isinstance(f["target"], float)
        assert abs(f["ratio"] - f["value"] / f["baseline_value"]) < 0.01
