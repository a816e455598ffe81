"""A new run's head start (runtime/headstart.py): worker processes compute the first chunks while the
units are stored; the engine commits a chunk computed ahead only when it is exactly the chunk it hands
out, so the run's results are those of a run without one, and a stop during creation leaves nothing."""

from __future__ import annotations

import os
import sqlite3

import pytest

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime import engine as engine_module
from octo.runtime import headstart as headstart_module
from octo.runtime.engine import Engine
from octo.runtime.headstart import HeadStart, head_start
from octo.runtime.rundirs.rundir import CreationStopped, create_run
from octo.stdlib import default_language

SAILOR = """octo: 1
name: head-start
seed: 3
data:
  scenarios: [{{id: middle, start: 5}}, {{id: near_ship, start: 8}}]
units: {{for: {{scenario: scenarios}}, repeat: {repeat}}}
steps:
  walk:
    simulate:
      init: {{position: unit.scenario.start, steps: 0}}
      each:
        position: position + choice([-1, 1])
        steps: steps + 1
      until: position <= 0 or position >= 10
    output: {{outcome: "'ship' if position >= 10 else 'water'", steps: steps}}
  odds:
    aggregate:
      by: [unit.scenario.id]
      metrics: {{p_ship: mean(walk.outcome == 'ship'), mean_steps: mean(walk.steps)}}
"""


def plan_of(text: str, where=None):
    """The plan of ``text``, as the file ``where``/p.octo (a run snapshots its source)."""
    language = default_language()
    path = "p.octo"
    if where is not None:
        path = str(where / "p.octo")
        (where / "p.octo").write_text(text)
    checked = check_source(Source(path, text), language)
    assert checked.ok, [d.message for d in checked.diagnostics]
    return build_plan(checked.program, language, Reporter())


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 100 and pools from 400 units: a head start's whole life in a run of a few thousand units."""
    for module in (engine_module, headstart_module):
        monkeypatch.setattr(module, "CHUNK", 100)
        monkeypatch.setattr(module, "POOL_MIN_UNITS", 400)
    monkeypatch.setenv("OCTO_WORKERS", "2")


def stored(run_dir):
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return (db.execute("SELECT step, unit, state, output, reason FROM results ORDER BY step, unit").fetchall(),
                db.execute("SELECT step, key, units, metrics FROM groups ORDER BY step, key").fetchall())
    finally:
        db.close()


def run_to_the_end(run_dir, head=None, before_tick=lambda engine: None):
    engine = Engine(run_dir)
    try:
        if head is not None:
            engine.adopt_head_start(head)
        before_tick(engine)
        for _ in range(50):
            if engine.tick().finished:
                break
        assert engine.finished()
    finally:
        engine.close()
        if head is not None:
            head.close()


def counted_takes(head: HeadStart) -> list:
    taken = []
    take = head.take

    def counting(step, units, fold):
        future = take(step, units, fold)
        taken.append(future is not None)
        return future

    head.take = counting
    return taken


def test_the_chunks_computed_while_the_units_are_stored_are_committed_and_change_nothing(tmp_path, small_chunks):
    plan = plan_of(SAILOR.format(repeat=1000), tmp_path)
    head = head_start(plan)
    assert head is not None and (head.step, head.fold) == ("walk", "odds")
    create_run(plan, tmp_path / "ahead", on_units=head.feed)
    handed_out = len(head._ahead)
    assert handed_out == headstart_module.AHEAD_PER_WORKER * 2  # computed during the creation, at most so many
    taken = counted_takes(head)
    run_to_the_end(tmp_path / "ahead", head)
    assert taken[:handed_out] == [True] * handed_out and not any(taken[handed_out:])

    os.environ["OCTO_WORKERS"] = "1"
    create_run(plan_of(SAILOR.format(repeat=1000), tmp_path), tmp_path / "serial")
    run_to_the_end(tmp_path / "serial")
    assert stored(tmp_path / "ahead") == stored(tmp_path / "serial")


def test_a_chunk_other_than_the_one_computed_ahead_drops_the_head_start(tmp_path, small_chunks):
    """Results already stored for some units (as a fix might leave them) make the engine's first chunk another
    one: nothing computed ahead is used, and the run's results are still every unit's own."""
    plan = plan_of(SAILOR.format(repeat=300), tmp_path)
    head = head_start(plan)
    create_run(plan, tmp_path / "run", on_units=head.feed)
    assert head._ahead
    taken = counted_takes(head)

    def store_some_results(engine):
        with engine.store.transaction() as db:
            engine.store.add_encoded_results("walk", [(5, "done", '{"outcome": "ship", "steps": 1}', None)], db)

    run_to_the_end(tmp_path / "run", head, store_some_results)
    assert taken and not any(taken) and not head._ahead
    results, _ = stored(tmp_path / "run")
    walked = [(unit, output) for step, unit, _, output, _ in results if step == "walk"]
    assert [u for u, _ in walked] == list(range(600)) and walked[5][1] == '{"outcome": "ship", "steps": 1}'


def test_a_stop_while_creating_closes_the_workers_and_stores_no_result(tmp_path, small_chunks):
    plan = plan_of(SAILOR.format(repeat=30_000), tmp_path)  # three batches of units: stopped after the first
    head = head_start(plan)
    asked = []

    def stop_after_the_first_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(CreationStopped):
        create_run(plan, tmp_path / "run", should_stop=stop_after_the_first_batch, on_units=head.feed)
    pool = head.pool
    assert pool is not None
    workers = list(pool._pool._processes.values())
    head.close()
    assert head.pool is None and all(not w.is_alive() for w in workers)
    db = sqlite3.connect(tmp_path / "run" / "run.db")
    try:
        assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 0
        assert db.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()[0] == "creating"
    finally:
        db.close()


NO_HEAD_START = {
    "a loop": ("  odds:", "  ask:\n    generate:\n      model: openai:gpt-4.1-mini\n      prompt: 'Steps {{ walk.steps }}'\n"
                          "      output: {n: int}\n  verify:\n    gate: {of: ask, pass: ask.n > 0, message: again, attempts: 2}\n"
                          "  odds:"),
    "a fan-out": ("  odds:", "  leg:\n    fanout: {each: '[1, 2]'}\n  odds:"),
    "unique_by": ("  walk:\n    simulate:", "  walk:\n    unique_by: unit.repeat\n    simulate:"),
}


@pytest.mark.parametrize("change", ["one worker", *NO_HEAD_START])
def test_no_head_start_where_the_first_tick_would_not_pool_a_step_that_waits_for_nothing(change, monkeypatch):
    monkeypatch.setenv("OCTO_WORKERS", "1" if change == "one worker" else "2")
    text = SAILOR.format(repeat=10)
    if change in NO_HEAD_START:
        text = text.replace(*NO_HEAD_START[change])
    assert head_start(plan_of(text)) is None


def test_the_head_start_goes_to_the_first_step_that_waits_for_nothing(monkeypatch):
    monkeypatch.setenv("OCTO_WORKERS", "2")
    text = SAILOR.format(repeat=10).replace("  walk:\n", "  first:\n    compute: {s: unit.scenario.start}\n  walk:\n", 1)
    head = head_start(plan_of(text.replace("init: {position: unit.scenario.start", "init: {position: first.s")))
    assert head is not None and (head.step, head.fold) == ("first", None)
