"""The chaos probe: a provider pipeline on a faulty provider, SIGKILLed again and again, then the ledger checks.

One emulator (``octo.runtime.emulator``) serves the whole run from the calling
process, over HTTP on 127.0.0.1, through the real SDKs — so it outlives every
killed `octoc` process and is the provider's truth: which requests were
submitted, in which batches, what they were billed. (`--provider emulator`
would start a private emulator in each `octoc` process, which dies with it.)

`octoc run` is started, then resumed with `octoc run --resume`, in fresh
processes (tests/octoproc.py); each is SIGKILLed at a random moment — after a
seeded random number of the run's events (ticks, submissions, ingestions) plus
a random delay, so that the kills land all along the run whatever the
machine's speed — or at a named crashpoint (``OCTO_CRASHPOINT``,
runtime/base/crashpoints.py), until the wanted number of kills has happened; then
the run is resumed to the end and the ledger is checked:

- **lost**: units that lack a final state at some per-unit step;
- **submitted twice**: custom ids the provider received more than once;
- **counted twice**: attempts queued twice for the same (step, unit, round, try),
  batches ingested twice, attempts whose answer the provider never gave (or gave
  to no attempt), aggregate groups counting more units than are done;
- **cost**: the ledger's cost against the provider's bill for the answers it gave.

Used by tests/test_chaos.py (a few hundred units) and bench/bench_chaos.py (10,000).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import octoproc
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer

FAULTS = ("errored=0.04,malformed=0.04,invalid=0.02,expire=2,fail=1,submit_5xx=2,submit_429=1,"
          "poll_5xx=2,poll_429=2")
KEY = "sk-chaos-test-key"
FINISHED = (0, 6, 7)  # a run's exit once done: everything passed, some units failed, an `expect` failed

PIPELINE = """octo: 1
name: chaos
seed: {seed}
data:
  topics: {topics}
units:
  for: {{topic: topics}}
  repeat: {repeat}
steps:
  write:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Write about {{{{ unit.topic.name }}}}, take {{{{ unit.repeat }}}}.{{% if feedback %}} Fix: {{{{ feedback.reason }}}}{{% endif %}}"
      output: {{title: str, words: "int[1, 50]"}}
    retries: 2
  grade:
    judge:
      of: write
      model: anthropic:claude-haiku-4-5
      prompt: "Grade {{{{ write.title }}}} ({{{{ write.words }}}} words)"
      output: {{score: "float[0, 1]", reason: str}}
      pass: score >= 0.3
      attempts: 2
  summary:
    aggregate:
      by: [unit.topic.id]
      metrics:
        n: count(unit.id)
        mean_words: mean(write.words)
"""


def write_pipeline(folder: Path, units: int, seed: int) -> Path:
    """A pipeline of ``units`` units (10 topics × units/10 replicas)."""
    topics = "[" + ", ".join(f"{{id: t{i}, name: topic{i}}}" for i in range(10)) + "]"
    path = folder / "chaos.octo"
    path.write_text(PIPELINE.format(seed=seed, topics=topics, repeat=max(1, units // 10)))
    return path


def provider_env(url: str) -> dict[str, str]:
    """Every provider's SDK pointed at the emulator, with a key; no crashpoint."""
    return {"OPENAI_BASE_URL": f"{url}/v1", "ANTHROPIC_BASE_URL": url, "GOOGLE_GEMINI_BASE_URL": url,
            "OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY, "GEMINI_API_KEY": KEY, "OCTO_CRASHPOINT": ""}


@dataclass
class Chaos:
    """How to kill: how many times, with which seed, after how many of the run's events at most, which crashpoints."""

    kills: int
    seed: int
    max_events: int = 12
    crashpoints: tuple[str, ...] = ()
    process_timeout: float = 120.0
    log: list[str] = field(default_factory=list)

    def points(self, first: bool) -> list[str]:
        """The crashpoints a process can reach: those of creating a run only in the first one."""
        return [p for p in self.crashpoints if first or not p.startswith("create")]


def run_with_kills(pipeline: Path, run_dir: Path, chaos: Chaos, url: str, options: list[str]) -> octoproc.Outcome:
    """Start the run, kill it ``chaos.kills`` times (resuming after each), then resume it to the end."""
    rng = random.Random(chaos.seed)
    env = provider_env(url)
    started, kills, rounds = False, 0, 0
    while kills < chaos.kills:
        rounds += 1
        argv = ["run", "--resume", run_dir] if started else ["run", pipeline, "--run-dir", run_dir, *options]
        points = chaos.points(first=not started)
        point = rng.choice(points) if points and rng.random() < 0.4 else ""
        events, delay = rng.randint(1, chaos.max_events), rng.uniform(0, 0.1)
        proc = octoproc.OctocProcess(argv, run_dir.parent, f"round{rounds}", {**env, "OCTO_CRASHPOINT": point})
        killed = _kill_at(proc, run_dir, point, events, delay, chaos.process_timeout)
        started = started or (run_dir / "run.db").exists()
        moment = f"crashpoint {point}" if point else f"SIGKILL after {events} events + {delay:.2f}s"
        chaos.log.append(f"round {rounds}: {moment} -> {'killed' if killed else 'exit ' + str(proc.process.exitcode)}")
        if killed:
            kills += 1
        elif proc.process.exitcode in FINISHED:
            raise AssertionError(f"the run finished after {kills} of {chaos.kills} kills (make it longer):\n"
                                 + "\n".join(chaos.log))
        elif not point:  # a crashpoint that was not reached ends the run normally, or in an error the checks see
            raise AssertionError(f"round {rounds} ended with exit {proc.process.exitcode}:\n"
                                 f"{proc.stdout()[-2000:]}\n{proc.stderr()[-2000:]}")
    final = octoproc.run(["run", "--resume", run_dir], run_dir.parent, chaos.process_timeout, "final", env)
    chaos.log.append(f"final resume -> exit {final.code}")
    return final


def _kill_at(proc: octoproc.OctocProcess, run_dir: Path, point: str, events: int, delay: float,
             timeout: float) -> bool:
    """SIGKILL the process once the run has logged ``events`` more events and ``delay`` more seconds
    have passed; with a crashpoint it kills itself there (exit 137). True when it was killed either way."""
    deadline = time.monotonic() + timeout
    if point:
        code = proc.wait(timeout)
        if code is None:
            proc.kill()
            raise AssertionError(f"a run with OCTO_CRASHPOINT={point} did not end in {timeout:.0f} s")
        return code == 137
    start = None
    while proc.alive() and time.monotonic() < deadline:
        count = _events(run_dir)
        if start is None:
            start = count
        if count is not None and start is not None and count - start >= events:
            break
        time.sleep(0.005)
    proc.wait(delay)
    if proc.alive():
        proc.kill()
        return True
    return False


def _events(run_dir: Path) -> int | None:
    """How many events the run has logged (None while its store cannot be read)."""
    try:
        db = sqlite3.connect(f"file:{run_dir / 'run.db'}?mode=ro", uri=True, timeout=0.1)
        try:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None


# --- the ledger checks ------------------------------------------------------------------------

@dataclass
class Ledger:
    units: int
    lost: int                 # (unit, per-unit step) pairs without a final state
    submitted_twice: int      # custom ids the provider received more than once
    counted_twice: int        # see ``counted_twice``
    ledger_cost: float
    provider_cost: float
    details: list[str]

    def lines(self) -> list[str]:
        return [f"units: {self.units}", f"units lost: {self.lost}", f"submitted twice: {self.submitted_twice}",
                f"counted twice: {self.counted_twice}",
                f"cost: ledger ${self.ledger_cost:.6f}, emulator billed ${self.provider_cost:.6f}"] + self.details


def check_ledger(run_dir: Path, emulator: Emulator, prices: dict) -> Ledger:
    db = sqlite3.connect(f"file:{run_dir / 'run.db'}?mode=ro", uri=True)
    try:
        plan = json.loads((run_dir / "plan.json").read_text())
        tag = dict(db.execute("SELECT key, value FROM meta").fetchall())["tag"]
        units = db.execute("SELECT count(*) FROM units").fetchone()[0]
        lost, details = _lost(db, plan, units)
        sent = [r.custom_id for b in emulator.batches.values() for r in b.requests]
        twice = sum(n - 1 for n in Counter(sent).values() if n > 1)
        counted, more = _counted_twice(db, emulator, tag)
        ledger_cost = db.execute("SELECT coalesce(sum(cost), 0) FROM attempts").fetchone()[0]
        return Ledger(units, lost, twice, counted, ledger_cost, billed(emulator, prices), details + more)
    finally:
        db.close()


def _lost(db, plan: dict, units: int) -> tuple[int, list[str]]:
    lost, details = 0, []
    for step in plan["steps"]:
        if step["kind"] == "aggregate":
            continue
        have = db.execute("SELECT count(*) FROM results WHERE step = ? AND state IN ('done', 'failed', 'skipped', "
                          "'blocked')", (step["name"],)).fetchone()[0]
        if have != units:
            details.append(f"step {step['name']}: {units - have} units without a final state")
        lost += units - have
    return lost, details


def _counted_twice(db, emulator: Emulator, tag: str) -> tuple[int, list[str]]:
    """Things counted more than once, or results that do not match what the provider answered."""
    details = []
    doubled = db.execute("SELECT count(*) FROM (SELECT 1 FROM attempts GROUP BY step, unit, round, try "
                         "HAVING count(*) > 1)").fetchone()[0]
    if doubled:
        details.append(f"{doubled} (step, unit, round, try) queued more than once")
    ingested = Counter(json.loads(d)["batch"] for (d,) in db.execute(
        "SELECT detail FROM events WHERE kind = 'ingested'"))
    twice = sum(n - 1 for n in ingested.values() if n > 1)
    if twice:
        details.append(f"{twice} batches ingested more than once")
    unsettled = db.execute("SELECT count(*) FROM attempts WHERE state != 'settled'").fetchone()[0]
    if unsettled:
        details.append(f"{unsettled} attempts not settled")
    # every answer the provider gave is in the ledger exactly once, and the ledger has no other
    recorded = {f"{tag}-a{i}": text for i, text in db.execute("SELECT id, text FROM attempts WHERE text IS NOT NULL")}
    given = Counter(r.custom_id for b in emulator.batches.values() for r, a in zip(b.requests, b.answers)
                    if a is not None and a.text is not None)
    strays = (len(set(recorded) - set(given)) + len(set(given) - set(recorded))
              + sum(n - 1 for n in given.values() if n > 1))
    if strays:
        details.append(f"{strays} answers that the ledger and the provider do not agree on "
                       f"(ledger {len(recorded)}, provider {sum(given.values())})")
    groups = db.execute("SELECT coalesce(sum(units), 0) FROM groups WHERE step = 'summary'").fetchone()[0]
    done = db.execute("SELECT count(*) FROM results WHERE step = 'write' AND state = 'done'").fetchone()[0]
    if groups > done:
        details.append(f"the aggregate counts {groups} units, {done} are done")
    return doubled + twice + unsettled + strays + max(0, groups - done), details


def billed(emulator: Emulator, prices: dict) -> float:
    """What the provider bills: every answer it gave in a batch, at the model's list price, batch discount."""
    usd = 0.0
    for batch in emulator.batches.values():
        for request, answer in zip(batch.requests, batch.answers):
            if answer is None:
                continue
            price, u = prices["models"][f"{batch.provider}:{request.model}"], answer.usage
            usd += ((u.input - u.cached) * price["input"] + u.cached * price["cached_input"]
                    + (u.output + u.reasoning) * price["output"]) / 1e6
    return usd * prices["batch_discount"]


def serve(seed: int, faults: str = FAULTS) -> tuple[Emulator, EmulatorServer]:
    emulator = Emulator(seed=seed, faults=faults)
    return emulator, EmulatorServer(emulator).start()
