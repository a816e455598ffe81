"""The ledger's running sums of answers and cost (``spend``, runtime/attempts/ledger.py, issue 14).

The budget check before every send and the progress display's money read them. Summing every attempt
on each read instead made a long realtime run, or any run with a budget, quadratic: each read cost
in proportion to the answers so far. These tests count SQLite's virtual-machine instructions for a
read (as tests/test_frontier.py does), and check that the sums are the attempts' own: counted once
per stored answer, in its transaction, and summed once for a run made before the table existed.
"""

from __future__ import annotations

import pytest

from octo.runtime.attempts.ledger import Ledger
from octo.runtime.engine import Engine
from octo.runtime.reading.tally import Tallier

from test_frontier import GENERATE, Instructions, new_run

USAGE = {"input": 10, "cached_input": 0, "output": 5, "reasoning": 0}


@pytest.fixture
def engine(tmp_path):
    engine = Engine(new_run(tmp_path, GENERATE))
    yield engine
    engine.close()


def answer(ledger: Ledger, units: range, cost: float = 0.25, list_cost: float = 0.5, step: str = "answer") -> None:
    """Queue, send (realtime) and answer an attempt for each of ``units``."""
    with ledger.store.transaction() as db:
        ledger.add_attempts([(step, u, 1, 1, "realtime", {"model": "gpt-4.1-mini"}) for u in units], db)
        ids = [r[0] for r in db.execute("SELECT id FROM attempts WHERE state = 'queued' ORDER BY id")]
        ledger.mark_sent(ids, None, db)
        for i in ids:
            ledger.answer(i, '{"name": "x"}', None, True, USAGE, cost, list_cost, db)


def summed(db) -> dict:
    """Per step (answers, cost, list cost), summed over every attempt."""
    return {s: (n, c, lc) for s, n, c, lc in db.execute(
        "SELECT step, count(usage), total(cost), total(list_cost) FROM attempts GROUP BY step")}


def instructions(db, read) -> int:
    with Instructions(db) as counted:
        read()
    return counted.n


def test_reading_the_money_costs_the_same_after_ten_times_the_answers(engine):
    ledger = Ledger(engine.store)
    tallier = Tallier(engine.plan, engine.language, engine.store)
    answer(ledger, range(100))
    budget_check, money_read = instructions(engine.store.db, ledger.spent), instructions(engine.store.db, tallier.money.read)
    answer(ledger, range(100, 1100))
    # summing the attempts costs several steps of 10 instructions per answer: ~10× more here
    assert instructions(engine.store.db, ledger.spent) <= budget_check + 2
    assert instructions(engine.store.db, tallier.money.read) <= money_read + 2
    assert ledger.spent() == (275.0, 550.0)
    assert tallier.read().steps[0].answers == 1100


def test_the_sums_are_the_attempts_own_and_an_answer_is_counted_once(engine):
    ledger = Ledger(engine.store)
    answer(ledger, range(3), cost=0.1, list_cost=0.2)
    answer(ledger, range(3, 5), cost=None, list_cost=None)  # no price known: counted, costing nothing
    with engine.store.transaction() as db:
        first = db.execute("SELECT min(id) FROM attempts").fetchone()[0]
        ledger.answer(first, "again", None, True, USAGE, 9.0, 9.0, db)  # answered already: kept as it was
        ledger.add_attempts([("answer", 9, 1, 1, "batch", {"model": "gpt-4.1-mini"})], db)
        refused = db.execute("SELECT max(id) FROM attempts").fetchone()[0]
        ledger.refuse(refused, "larger than a whole batch", db)
    spend = {s: (n, c, lc) for s, n, c, lc in engine.store.db.execute("SELECT * FROM spend")}
    assert spend == summed(engine.store.db)
    assert spend["answer"][0] == 6 and spend["answer"][1] == pytest.approx(0.3)


def test_an_answer_rolled_back_is_not_counted(engine):
    ledger = Ledger(engine.store)
    with pytest.raises(RuntimeError):
        with engine.store.transaction() as db:
            ledger.add_attempts([("answer", 0, 1, 1, "realtime", {"model": "gpt-4.1-mini"})], db)
            ledger.mark_sent([1], None, db)
            ledger.answer(1, "text", None, True, USAGE, 1.0, 2.0, db)
            raise RuntimeError("killed before the commit")
    assert ledger.spent() == (0.0, 0.0)
    assert engine.store.db.execute("SELECT count(*) FROM spend").fetchone()[0] == 0


def test_a_run_made_before_the_sums_existed_has_its_answers_summed_once(engine):
    ledger = Ledger(engine.store)
    answer(ledger, range(40), cost=0.01, list_cost=0.02)
    answer(ledger, range(5), step="other")
    engine.store.db.execute("DROP TABLE spend")  # as a run made by an octoc before it
    Ledger(engine.store)
    Ledger(engine.store)  # opened again: nothing summed twice
    assert {s: (n, c, lc) for s, n, c, lc in engine.store.db.execute("SELECT * FROM spend")} == summed(engine.store.db)
    answer(Ledger(engine.store), range(40, 50), cost=0.01, list_cost=0.02)
    assert engine.store.db.execute("SELECT answers FROM spend WHERE step = 'answer'").fetchone()[0] == 50
