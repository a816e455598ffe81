"""The per-unit random streams are a stable contract (docs/language.md, "Randomness and
reproducibility"): the same (seed, unit id, step) gives the same numbers in every process, on
every machine and in every octo version, and a run's stored results are byte-identical for the
same seed. These tests pin known streams and a small run's stored bytes; a change to the stream
derivation, to how the built-ins draw, or to how outputs are encoded fails them."""

import hashlib
import random
import sqlite3

from conftest import octoc
from octo.compiler.expressions.evalsupport import unit_stream


def test_the_stream_of_a_unit_is_pinned():
    rng = unit_stream(1, "middle-r0", "walk")
    assert [rng.random() for _ in range(3)] == [0.37792218591971194, 0.3232643646933586, 0.01106459123301029]
    rng = unit_stream(1, "middle-r0", "walk")
    assert [rng.choice([-1, 1]) for _ in range(16)] == [1, -1, 1, -1, 1, 1, -1, -1, 1, -1, 1, -1, 1, 1, -1, -1]
    assert unit_stream(0, "héllo-r7", "step two").getrandbits(64) == 8192766073919188898  # ids are UTF-8


def test_the_stream_is_the_documented_derivation():
    """SHA-256 of 'octo-stream:{seed}:{unit id}:{step}', its first 16 bytes big-endian, seeding random.Random."""
    digest = hashlib.sha256("octo-stream:42:u-r3:walk".encode()).digest()
    expected = random.Random(int.from_bytes(digest[:16], "big"))
    assert unit_stream(42, "u-r3", "walk").getstate() == expected.getstate()


PIPELINE = """octo: 1
name: streams
seed: 11
data:
  scenarios: [{id: middle, start: 5}, {id: near, start: 8}]
units: {for: {scenario: scenarios}, repeat: 40}
steps:
  walk:
    simulate:
      init: {position: unit.scenario.start, steps: 0, path: "[]"}
      each:
        position: position + choice([-1, 1])
        steps: steps + 1
        path: path + [position]
      until: position <= 0 or position >= 10
    output:
      outcome: "'ship' if position >= 10 else 'water'"
      steps: steps
      path: path[:5]
  draws:
    compute:
      u: uniform(0, 1)
      n: normal(0, 1)
      k: randint(1, 6)
      b: bernoulli(0.3)
      s: sample([1, 2, 3, 4, 5], 2)
      sh: shuffle(['a', 'b', 'c'])
      share: walk.steps / 3
  odds:
    aggregate:
      by: [unit.scenario.id]
      metrics:
        p_ship: mean(walk.outcome == 'ship')
        mean_u: mean(draws.u)
        sd_n: stdev(draws.n)
"""

# sha256 of every stored result and group, in order, as today's octo stores them
PINNED = "75b5d6d6e59208260f65ed9dc6c6d54b94c307482f045841db0fd541d15aa93d"


def _stored_bytes(run_dir) -> bytes:
    db = sqlite3.connect(run_dir / "run.db")
    try:
        rows = db.execute("SELECT step, unit, state, output, reason FROM results ORDER BY step, unit").fetchall()
        rows += db.execute("SELECT step, key, units, metrics, NULL FROM groups ORDER BY step, key").fetchall()
    finally:
        db.close()
    return repr(rows).encode()


def test_a_run_stores_the_same_bytes_for_the_same_seed(tmp_path):
    (tmp_path / "p.octo").write_text(PIPELINE)
    out = octoc("run", "p.octo", "--run-dir", "run", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert hashlib.sha256(_stored_bytes(tmp_path / "run")).hexdigest() == PINNED
