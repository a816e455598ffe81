"""Chaos: 300 units of generate + judge on a faulty provider, SIGKILLed at least 5 times, then the ledger checks.

The provider (the emulator, serving from this process) injects per-request
errors, cut-off and schema-violating JSON, expired and failed batches, and 429
and 503 answers to submissions and polls. `octoc run` runs in separate
processes, each killed after a seeded random delay or at a named crashpoint,
and resumed; after the last kill the run is resumed to the end. Then: no unit
lost, no custom id submitted twice, nothing counted twice, and the ledger's
cost equal to what the provider billed. See tests/chaos.py; the same at
10,000 units and 20 kills is bench/bench_chaos.py.
"""

from __future__ import annotations

import json

import pytest

from chaos import FINISHED, Chaos, check_ledger, run_with_kills, serve, write_pipeline
from conftest import ROOT
from octo.runtime.base.crashpoints import POINTS

SEED = 9
PRICES = json.loads((ROOT / "stdlib" / "prices.json").read_text())


def test_kills_lose_nothing_double_nothing_and_cost_what_the_provider_billed(tmp_path):
    emulator, server = serve(SEED)
    chaos = Chaos(kills=6, seed=SEED, max_events=12, crashpoints=POINTS)
    try:
        final = run_with_kills(write_pipeline(tmp_path, 300, SEED), tmp_path / "run", chaos, server.url,
                               ["--batch-size", "25", "--poll-interval", "0", "--max-in-flight", "4"])
    finally:
        server.stop()
    story = "\n".join(chaos.log)
    assert final.code in FINISHED, f"{story}\n{final.stdout[-3000:]}\n{final.stderr[-3000:]}"
    ledger = check_ledger(tmp_path / "run", emulator, PRICES)
    report = "\n".join(ledger.lines()) + "\n" + story
    assert ledger.units == 300, report
    assert ledger.lost == 0, report
    assert ledger.submitted_twice == 0, report
    assert ledger.counted_twice == 0, report
    assert ledger.provider_cost > 0 and ledger.ledger_cost == pytest.approx(ledger.provider_cost, rel=1e-9), report
    assert sum(1 for b in emulator.batches.values() if b.fate != "completed") >= 2, "the faults did not happen"
