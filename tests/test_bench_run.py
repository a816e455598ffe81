"""bench/bench_run.py and bench/bench_simulate.py keep the bench harness's contract: with
`--quick --json`, the last line of stdout is {"figures": [...]}, each figure with its baseline
and ratio (the harness reads them; a renamed key would silently drop a figure)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

FIGURE_KEYS = {"name": str, "value": float, "unit": str, "baseline": str, "baseline_value": float, "ratio": float}


def _figures(script: str, workers: str) -> list[dict]:
    env = {**os.environ, "OCTO_WORKERS": workers}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick", "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    last = out.stdout.strip().splitlines()[-1]
    figures = json.loads(last)["figures"]
    assert figures
    for f in figures:
        for key, kind in FIGURE_KEYS.items():
            assert isinstance(f[key], kind), (key, f)
        assert f["target"] is None or isinstance(f["target"], float)
        assert f["ratio"] == pytest.approx(f["value"] / f["baseline_value"])
    return figures


def test_bench_run_walks_json():
    (one,) = _figures("bench_run.py", "1")
    assert "OCTO_WORKERS=1" in one["name"] and one["target"] == 1.5
    (two,) = _figures("bench_run.py", "2")
    assert "OCTO_WORKERS=2" in two["name"] and two["target"] == 1.0


def test_bench_simulate_json():
    (fused,) = _figures("bench_simulate.py", "1")
    assert fused["target"] is None
