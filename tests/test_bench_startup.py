"""bench/bench_startup.py keeps the BENCH CONTRACT the harness reads: with `--quick --json` its last
line is {"figures": [...]}, one per command, each with its floor and ratio (no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_json_prints_the_contracts_figures():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_startup.py"), "--quick", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])["figures"]
    assert [f["name"] for f in figures] == ["octoc check", "octoc plan"]
    for f in figures:
        assert set(f) == {"name", "value", "unit", "baseline", "baseline_value", "ratio", "target"}
        assert f["unit"] == "ms" and f["baseline"].startswith("python -c 'import lark")
        assert f["value"] > 0 and f["baseline_value"] > 0
        assert abs(f["ratio"] - f["value"] / f["baseline_value"]) < 0.01
    assert figures[0]["target"] == 1.2 and figures[1]["target"] is None


def test_the_instruction_count_is_read_from_callgrinds_report():
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_startup import collected

    report = "==15872== Events    : Ir\n==15872== Collected : 663238209\n==15872==\n==15872== I   refs:      663,238,209\n"
    assert collected(report) == 663_238_209
