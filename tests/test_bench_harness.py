"""`python -m bench` (bench/harness.py): runs the benchmarks it knows that are there, skips the others
with a line, repeats each per number of workers, and tables the median ratio with its range and
the target, met or missed; `--record` puts the dated table into the README. A fake benchmark stands
in for the real ones (which take minutes)."""

import datetime
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import harness  # noqa: E402

# Its ratio is OCTO_WORKERS plus the run number it finds in a counter file, so medians and ranges are known.
FAKE = """import json, os, sys
from pathlib import Path
counter = Path(__file__).with_suffix(".runs")
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
w = int(os.environ["OCTO_WORKERS"])
assert "--json" in sys.argv
print("human-readable lines first")
print(json.dumps({"figures": [
    {"name": "speed", "value": 10.0 * w, "unit": "s", "baseline": "hand loop", "baseline_value": 5.0,
     "ratio": w + (n % 3) / 10, "target": 1.5},
    {"name": "quick" if "--quick" in sys.argv else "full" + "".join(sys.argv[2:]), "value": 1.0, "unit": "MiB", "baseline": "5k units",
     "baseline_value": 1.0, "ratio": 1.0, "target": None}]}))
"""
BROKEN = "print('no contract here')\n"


@pytest.fixture
def bench_dir(tmp_path):
    (tmp_path / "bench_fake.py").write_text(FAKE)
    (tmp_path / "bench_broken.py").write_text(BROKEN)
    return tmp_path


KNOWN = [("bench_fake.py", "a fake"), ("bench_missing.py", "not merged yet"), ("bench_broken.py", "no JSON")]


def test_runs_each_found_benchmark_per_workers_and_skips_a_missing_one(bench_dir, capsys):
    code = harness.main(["--runs", "3"], bench_dir=bench_dir, benchmarks=KNOWN)
    out = capsys.readouterr().out
    assert code == 0
    assert "skip bench_missing.py: not in this tree (not merged yet)" in out
    assert "bench_broken.py (workers 1): no figures: its last line is not the contract's" in out
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:4]): line
            for line in out.splitlines() if line.startswith("| bench_fake")}
    # runs 0, 1, 2 with one worker → ratios 1.0, 1.1, 1.2; then 3, 4, 5 with two → 2.0, 2.1, 2.2
    assert "| 3 | 10 s | hand loop: 5 s | ≤ 1.5× | met |" in rows[("bench_fake", "speed", "1", "1.10× (1.00–1.20)")]
    assert "| 3 | 20 s | hand loop: 5 s | ≤ 1.5× | missed |" in rows[("bench_fake", "speed", "2", "2.10× (2.00–2.20)")]
    assert rows[("bench_fake", "full", "1", "1.00× (1.00–1.00)")].endswith("| — | — |")
    table = out.split("\n\n| benchmark")[1]  # under the table too, so a recorded table says what is missing
    assert "- skip bench_missing.py: not in this tree (not merged yet)" in table
    assert "- bench_broken.py (workers 2): no figures: its last line is not the contract's" in table


def test_quick_passes_quick_and_runs_once(bench_dir, capsys):
    harness.main(["--quick", "--workers", "2", "--only", "fake"], bench_dir=bench_dir, benchmarks=KNOWN)
    out = capsys.readouterr().out
    assert "| bench_fake | quick | 2 | 1.00× (1.00–1.00) | 1 |" in out
    assert "skip" not in out and "workers 1" not in out
    assert (bench_dir / "bench_fake.runs").read_text() == "1"


def test_one_worker_is_pinned_to_one_core(monkeypatch):
    monkeypatch.setattr(harness.shutil, "which", lambda name: "/usr/bin/taskset")
    assert harness.command(Path("b.py"), 1, False)[:3] == ["taskset", "-c", "0"]
    assert harness.command(Path("b.py"), 2, True)[1:] == ["b.py", "--json", "--quick"]


def test_record_replaces_the_dated_table_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# bench\n\nintro\n\n{harness.BEGIN}\nold table\n{harness.END}\n\n## after\n")
    harness.record(readme, "| new | table |", datetime.date(2026, 12, 2), "median of 3 run(s)")
    text = readme.read_text()
    assert "old table" not in text
    assert f"{harness.BEGIN}\nLatest figures (2026-12-02, median of 3 run(s)):\n\n| new | table |\n{harness.END}" in text
    assert text.startswith("# bench\n\nintro\n\n") and text.endswith("## after\n")


def test_an_unknown_name_is_a_usage_error(bench_dir):
    with pytest.raises(SystemExit) as exit_:
        harness.main(["--only", "nosuch"], bench_dir=bench_dir, benchmarks=KNOWN)
    assert exit_.value.code == 2


def test_the_harness_knows_every_benchmark_of_issues_14_and_15():
    names = [name for name, _ in harness.BENCHMARKS]
    assert names == ["bench_scale.py", "bench_run.py", "bench_simulate.py", "bench_memory.py", "bench_startup.py",
                     "bench_report.py"]
    assert (ROOT / "bench" / "bench_startup.py").exists()


def test_figures_of_refuses_a_figure_without_the_contracts_fields():
    with pytest.raises(ValueError):
        harness.figures_of(json.dumps({"figures": [{"name": "x", "value": 1}]}))


def test_args_reach_their_benchmark_only_and_are_recorded(bench_dir, capsys):
    code = harness.main(["--runs", "1", "--workers", "2", "--args", "fake=--sizes 5", "--record"],
                        bench_dir=bench_dir, benchmarks=KNOWN)
    out = capsys.readouterr().out
    assert code == 0
    assert "| bench_fake | full--sizes5 | 2 |" in out  # the fake names its figure after the arguments it got
    assert "fake=--sizes 5" in (bench_dir / "README.md").read_text()  # the table says how it was run
