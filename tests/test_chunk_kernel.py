"""A simulate step's chunk runs through one call of its chunk kernel (compiler/expressions/chunkkernel.py),
not unit by unit: the kernel is called once per chunk, the per-unit path only for the units that fail
(run again there to say why), and the stored results are those of the per-unit path, byte for byte."""

from __future__ import annotations

import sqlite3

import pytest

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.expressions.loopgen import CompiledSimulation
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime import engine as engine_module
from octo.runtime.work import unitwork
from octo.runtime.engine import Engine
from octo.runtime.rundirs.rundir import create_run
from octo.stdlib import default_language

# `walk` fails for some units in its `init` (a division by zero) and for others in the loop
# (`max_iterations`); its outputs are a string, a whole number, a float, a list and a dict keyed by numbers.
PIPELINE = """octo: 1
name: kernel
seed: 5
data:
  scenarios:
    - {id: middle, start: 5}
    - {id: near, start: 8}
units:
  for: {scenario: scenarios}
  repeat: 300
steps:
  walk:
    simulate:
      init: {position: unit.scenario.start, steps: 100 // (unit.repeat % 23)}
      each:
        position: position + choice([-1, 1])
        steps: steps + 1
      until: position <= 0 or position >= 10
      max_iterations: 60
    output:
      outcome: "'ship' if position >= 10 else 'water'"
      steps: steps
      third: steps / 3
      trail: "[position, steps]"
      keyed: "{steps: position}"
  odds:
    aggregate:
      by: [unit.scenario.id]
      metrics:
        p_ship: mean(walk.outcome == 'ship')
        third: mean(walk.third)
"""


def run(where, monkeypatch) -> list:
    """Stored results and groups of a whole run of PIPELINE in directory ``where``."""
    where.mkdir()
    monkeypatch.chdir(where)  # failure reasons quote the file's path: the same in every run
    language = default_language()
    (where / "p.octo").write_text(PIPELINE)
    checked = check_source(Source("p.octo", PIPELINE), language)
    assert checked.ok, [d.message for d in checked.diagnostics]
    run_dir = create_run(build_plan(checked.program, language, Reporter()), where / "run", {})
    engine = Engine(run_dir)
    try:
        while not engine.tick(lambda: False).finished:
            pass
    finally:
        engine.close()
    db = sqlite3.connect(str(run_dir / "run.db"))
    try:
        return (db.execute("SELECT step, unit, state, output, reason FROM results ORDER BY step, unit").fetchall()
                + db.execute("SELECT step, key, units, metrics, NULL FROM groups ORDER BY step, key").fetchall())
    finally:
        db.close()


@pytest.fixture
def calls(monkeypatch):
    """Counts of kernel calls, per-unit runs and per-unit loops, in chunks of 50 units, one process."""
    monkeypatch.setattr(engine_module, "CHUNK", 50)
    monkeypatch.setenv("OCTO_WORKERS", "1")
    counts = {"kernel": 0, "run_unit": 0, "loop": 0}
    init, run_unit, loop = unitwork.StepExecutor.__init__, unitwork.UnitWork.run_unit, CompiledSimulation.run

    def counting_init(self, step, language):
        init(self, step, language)
        if self.kernel is not None:
            kernel = self.kernel

            def counted(*args):
                counts["kernel"] += 1
                return kernel(*args)
            self.kernel = counted

    def counted_run_unit(self, *args, **kwargs):
        counts["run_unit"] += 1
        return run_unit(self, *args, **kwargs)

    def counted_loop(self, *args, **kwargs):
        counts["loop"] += 1
        return loop(self, *args, **kwargs)

    monkeypatch.setattr(unitwork.StepExecutor, "__init__", counting_init)
    monkeypatch.setattr(unitwork.UnitWork, "run_unit", counted_run_unit)
    monkeypatch.setattr(CompiledSimulation, "run", counted_loop)
    return counts


def test_a_chunk_is_one_kernel_call_and_only_failed_units_run_one_by_one(tmp_path, monkeypatch, calls):
    stored = run(tmp_path / "kernel", monkeypatch)
    failed = sum(1 for row in stored if row[0] == "walk" and row[2] == "failed")
    assert 0 < failed < 300
    assert calls["kernel"] == 600 // 50  # once per chunk
    assert calls["run_unit"] == failed  # the failed units, run again to say why: no other unit goes one by one
    assert calls["loop"] == failed


def test_the_kernel_stores_what_the_per_unit_path_stores(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "CHUNK", 50)
    monkeypatch.setenv("OCTO_WORKERS", "1")
    with_kernel = run(tmp_path / "kernel", monkeypatch)
    with monkeypatch.context() as m:
        init = unitwork.StepExecutor.__init__

        def without_kernel(self, step, language):
            init(self, step, language)
            self.kernel = None
        m.setattr(unitwork.StepExecutor, "__init__", without_kernel)
        per_unit = run(tmp_path / "per-unit", m)
    assert with_kernel == per_unit
    reasons = {reason for _, _, state, _, reason in with_kernel if state == "failed"}
    assert reasons == {"division by zero in `100 // (unit.repeat % 23)` at p.octo:14:52",
                       "did not reach `until` within 60 iterations in `position <= 0 or position >= 10` at p.octo:18:14"}
