"""The search for ready units starts where the work is, on every tick (runtime/work/frontier.py, issue 14).

Each test drives a run in this process one small piece per tick and counts, with SQLite's progress
handler, the virtual-machine instructions a tick's search makes. Starting that search at position 0
(as before issue 14) costs more on each tick, in proportion to the units already finished; kept
across ticks, it costs the same on the last tick as on the second.
"""

from __future__ import annotations

import json

import pytest

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source
from octo.compiler.frontend.check import check_source
from octo.compiler.planning.planner import build_plan
from octo.runtime.attempts import dispatch as dispatch_module
from octo.runtime import engine as engine_module
from octo.runtime.attempts.dispatch import DispatchOptions
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.engine import Engine
from octo.runtime.providers import Providers
from octo.runtime.rundirs.rundir import create_run
from octo.stdlib import default_language

LOCAL = """octo: 1
name: frontier
seed: 1
units: {repeat: 3000}
steps:
  square:
    compute: {x: unit.repeat * unit.repeat}
"""

GENERATE = """octo: 1
name: frontier-provider
seed: 1
units: {repeat: 1200}
steps:
  answer:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Question {{ unit.repeat }}"
      output: {name: str}
"""


def new_run(tmp_path, text: str):
    language = default_language()
    source = tmp_path / "p.octo"
    source.write_text(text)
    checked = check_source(Source(str(source), text), language)
    assert checked.ok, [d.message for d in checked.diagnostics]
    return create_run(build_plan(checked.program, language, Reporter()), tmp_path / "run", {"emulator": True})


class Instructions:
    """SQLite VM instructions (in steps of 10) executed on ``db`` while counting."""

    def __init__(self, db):
        self.db, self.n = db, 0

    def __enter__(self):
        self.db.set_progress_handler(self._count, 10)
        return self

    def _count(self) -> int:
        self.n += 1
        return 0

    def __exit__(self, *exc):
        self.db.set_progress_handler(None, 10)


def one_chunk_a_tick():
    """A should_stop for Engine.tick that lets one chunk run, then stops the tick."""
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 1

    return should_stop


def test_a_local_steps_search_does_not_walk_the_finished_units_again_on_each_tick(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "CHUNK", 100)
    monkeypatch.setenv("OCTO_WORKERS", "1")
    engine = Engine(new_run(tmp_path, LOCAL))
    per_tick = []
    try:
        for _ in range(29):  # 29 of the 30 chunks: every tick is stopped after its chunk
            with Instructions(engine.store.db) as counted:
                result = engine.tick(should_stop=one_chunk_a_tick())
            assert result.processed == 100 and result.stopped
            per_tick.append(counted.n)
        assert engine.store.result_count("square") == 2900
        result = engine.tick()
        assert result.finished and engine.store.result_count("square") == 3000
    finally:
        engine.close()
    # the 29th tick skips 2,800 finished units if its search starts at 0: many times the 2nd tick's work
    assert per_tick[-1] < 1.5 * per_tick[1], per_tick


def test_a_step_that_waits_for_nothing_finds_exactly_the_units_without_a_result(tmp_path, monkeypatch):
    """Its search reads the step's own results a window at a time (Engine._unfilled): with results scattered
    after the cursor (a resumed run), a window full of them, and the last unit done, each unit without a result
    is handed out once, in order, and no other — as the search by probing each unit finds them."""
    monkeypatch.setattr(engine_module, "CHUNK", 100)
    monkeypatch.setenv("OCTO_WORKERS", "1")
    engine = Engine(new_run(tmp_path, LOCAL))
    done = set(range(0, 90)) | set(range(150, 400)) | {405, 499, 500, 2999} | set(range(1000, 1100))
    try:
        with engine.store.transaction() as db:
            engine.store.add_encoded_results("square", [(pos, "done", '{"x": 0}', None) for pos in sorted(done)], db)
        engine._cursor = {}
        handed_out = []
        while chunk := engine._ready("square", []):
            assert len(chunk) <= 100 and chunk == sorted(chunk)
            handed_out += chunk
        probed = [r[0] for r in engine.store.db.execute(
            "SELECT pos FROM units u WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.step = 'square' AND r.unit = u.pos) "
            "ORDER BY pos")]
        assert handed_out == probed == [pos for pos in range(3000) if pos not in done]
    finally:
        engine.close()


UNITS = """octo: 1
name: units-at
seed: 1
data:
  players:
    - {{id: ann, skill: 3}}
    - {{id: {long}, skill: 5}}
    - {{id: cy, skill: 4}}
  langs: [en, fr]
units:
  for:
    match: permutations(players, 2)
    lang: langs
{selection}  repeat: 40
steps:
  pitch:
    compute: {{gap: "unit.match[0].skill - unit.match[1].skill"}}
"""


@pytest.mark.parametrize("selection", ["", "  limit: 150\n", "  where: unit.lang != 'fr'\n", "  sample: 100\n"])
def test_the_units_a_chunk_is_given_are_those_creation_stored(tmp_path, selection):
    """Where positions are the unit space's indices the engine makes a chunk's units (ids hashed past 64
    characters included) instead of reading them back (Engine._units_at): they must be the stored ones."""
    text = UNITS.format(long="b" * 70, selection=selection)
    engine = Engine(new_run(tmp_path, text))
    try:
        stored = engine.store.units()
        assert len(stored) in (480, 150, 240, 100) and any(len(uid) == 64 for _, _, uid in stored)
        for start in range(0, len(stored), 70):
            positions = list(range(start, min(start + 70, len(stored))))
            assert engine._units_at(positions) == stored[start:start + 70]
        assert engine._indexed == (selection in ("", "  limit: 150\n"))
    finally:
        engine.close()


@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_a_provider_steps_queueing_does_not_walk_the_queued_units_again_on_each_tick(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(dispatch_module, "CHUNK", 100)
    counts = []
    queue_ready = dispatch_module.ProviderSteps._queue_ready

    def counted_queue_ready(self, step, should_stop):
        with Instructions(self.store.db) as counted:
            queued = queue_ready(self, step, lambda: False)
        counts.append((queued, counted.n))
        return queued

    monkeypatch.setattr(dispatch_module.ProviderSteps, "_queue_ready", counted_queue_ready)
    run_dir = new_run(tmp_path, GENERATE)
    with EmulatorServer(Emulator(seed=1)) as server:
        engine = Engine(run_dir)
        engine.providers = Providers(emulator_url=server.url)
        engine.dispatch_options = DispatchOptions(poll_interval=0, mode=mode, batch_size=50, max_in_flight=2,
                                                  concurrency=4)
        try:
            for _ in range(400):
                if engine.tick().finished:
                    break
            assert engine.finished() and engine.store.counts("answer")["done"] == 1200
        finally:
            engine.close()
    queued_first, _ = counts[0]
    assert queued_first == 1200  # every unit queued on the first tick, then answered over many ticks
    later = [n for queued, n in counts[1:]]
    assert len(later) > 10
    # the mark moves over the 1,200 queued units once (one unit's test costs tens of instructions, so
    # that walk costs thousands of these steps of 10); every other tick finds nothing to queue at once
    assert sorted(later)[-2] < 100, later


GATE = """octo: 1
name: frontier-gate
seed: 1
units: {repeat: 300}
steps:
  guess:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Guess for {{ unit.repeat }}.{% if feedback %} Refused: {{ feedback.message }}{% endif %}"
      output: {n: int}
  check:
    gate:
      of: guess
      pass: guess.n % 2 == 0
      message: "{{ guess.n }} is odd"
      attempts: 3
  use:
    compute:
      n: guess.n
"""


def odd_then_even(request, nth):
    return {"n": 4 if "Refused" in request.prompt else 3}


def test_a_send_back_lowers_the_marks_so_the_units_sent_back_run_again(tmp_path):
    """Every unit's first guess is refused by the gate after the marks of `guess` and `check` moved past
    it (one Engine, kept across ticks): each must be asked again, checked again and used."""
    run_dir = new_run(tmp_path, GATE)
    with EmulatorServer(Emulator(seed=1, responder=odd_then_even)) as server:
        engine = Engine(run_dir)
        engine.providers = Providers(emulator_url=server.url)
        engine.dispatch_options = DispatchOptions(poll_interval=0, mode="batch", batch_size=40)
        try:
            for _ in range(200):
                if engine.tick().finished:
                    break
            db = engine.store.db
            assert engine.finished()
            assert db.execute("SELECT count(DISTINCT unit) FROM reruns WHERE step = 'guess'").fetchone()[0] == 300
            for step in ("guess", "check", "use"):
                assert engine.store.counts(step) == {"done": 300, "failed": 0, "skipped": 0, "blocked": 0}, step
            assert {json.loads(r[0])["n"] for r in db.execute("SELECT output FROM results WHERE step = 'use'")} == {4}
        finally:
            engine.close()


def test_realtime_calls_reuse_their_threads_across_ticks(tmp_path):
    """Starting a thread pool on every tick cost ~13% of a 10k-unit realtime run: the threads are made once."""
    import threading

    run_dir = new_run(tmp_path, GENERATE.replace("repeat: 1200", "repeat: 200"))
    made: set = set()  # the Thread objects themselves, held: no identity can be reused
    with EmulatorServer(Emulator(seed=1)) as server:
        engine = Engine(run_dir)
        engine.providers = Providers(emulator_url=server.url)
        engine.dispatch_options = DispatchOptions(poll_interval=0, mode="realtime", concurrency=4)
        ticks = 0
        try:
            while not engine.tick().finished and ticks < 400:
                ticks += 1
                made |= {t for t in threading.enumerate() if t.name.startswith("octo-realtime")}
            assert engine.finished() and engine.store.counts("answer")["done"] == 200
        finally:
            engine.close()
    assert ticks > 3  # 200 units, 32 calls a tick: several ticks, each with calls
    assert 0 < len(made) <= 4
