"""bench/bench_scale.py keeps the bench contract (bench/README.md): with --json its last line is the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_bench_scale_prints_its_figures_as_json_on_its_last_line():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_scale.py"), "--quick", "--json", "--only", "walks"],
                         capture_output=True, text=True, env={**os.environ, "OCTO_WORKERS": "1"}, timeout=600)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])["figures"]
    assert len(figures) == 1
    f = figures[0]
    assert set(f) == {"name", "value", "unit", "baseline", "baseline_value", "ratio", "target"}
    assert isinstance(f["name"], str) and isinstance(f["unit"], str) and isinstance(f["baseline"], str)
    assert all(isinstance(f[k], float) and f[k] > 0 for k in ("value", "baseline_value", "ratio", "target"))
    assert abs(f["ratio"] - f["value"] / f["baseline_value"]) < 1e-9


def test_the_benchmarks_share_one_drunken_sailor():
    # bench/pipelines.py holds the pipelines; bench_run.py and bench_memory.py run them from there
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_memory
    import bench_run
    import pipelines

    assert bench_run.sailor is pipelines.sailor and bench_memory.generate is pipelines.generate
    assert "scenarios: [{id: middle, start: 5}]" in pipelines.sailor(1000)
    assert "repeat: 1000}" in pipelines.sailor(1000)
    assert "{id: near_ship, start: 8}" in pipelines.sailor(10, ("middle", "near_ship"))
