"""The progress display's cost per refresh on a 100,000-unit run, and its share of a real run.

(a) A run of a judged pipeline (draft → stats → review, a retry loop) with N units (100,000),
    stored as it stands in the middle of its run: most drafts answered, some retried, some
    at the provider, a share of the reviews sent back with their new round queued. Timed:
    reading the counts from the store (runtime/reading/tally.py) the first time, on every later
    refresh (sums of settled attempts kept), and with nothing kept (a fresh reader each
    time); and drawing them, as the live table (rich, to a terminal-sized buffer) and as a
    plain line. Median of RUNS refreshes, wall time.
(b) `octoc run` of the drunken sailor with 100,000 walks, in this process, on a terminal-
    like stream: the time spent in the display against the run's time.

    python bench/bench_progress.py [--units N] [--runs K]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = """octo: 1
name: progress-bench
seed: 1
defaults: {{model: openai:gpt-4.1-mini}}
units: {{repeat: {n}}}
steps:
  draft:
    generate:
      prompt: "Write one sentence about the sea, number {{{{ unit.repeat }}}}."
      output: {{sentence: str}}
  stats:
    compute: {{chars: len(draft.sentence)}}
  review:
    judge:
      of: draft
      prompt: "This sentence has {{{{ stats.chars }}}} characters: {{{{ draft.sentence }}}}. Good?"
      output: {{ok: bool, reason: str}}
      pass: ok
      attempts: 3
  summary:
    aggregate: {{metrics: {{accepted: share(review.passed)}}}}
"""

SAILOR = """octo: 1
name: sailor-progress-bench
seed: 1
units: {{repeat: {n}}}
steps:
  walk:
    simulate:
      init: {{position: 5, steps: 0}}
      each:
        position: position + choice([-1, 1])
        steps: steps + 1
      until: position <= 0 or position >= 10
    output: {{ship: position >= 10, steps: steps}}
  odds:
    aggregate: {{metrics: {{p_ship: mean(walk.ship), n: count()}}}}
"""


def make_run(root: Path, n: int) -> Path:
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.base.source import Source
    from octo.compiler.frontend.check import check_source
    from octo.compiler.planning.planner import build_plan
    from octo.runtime.rundirs.rundir import create_run
    from octo.stdlib import default_language

    language = default_language()
    path = root / "bench.octo"
    path.write_text(PIPELINE.format(n=n))
    checked = check_source(Source(str(path), path.read_text()), language)
    plan = build_plan(checked.program, language, Reporter())
    run_dir = root / "run"
    create_run(plan, run_dir, {"emulator": True})
    fill_mid_run(run_dir, n)
    return run_dir


def fill_mid_run(run_dir: Path, n: int) -> None:
    """Attempts, batches, results and send-backs as a run of ``n`` units has them midway."""
    from octo.runtime.attempts.ledger import Ledger
    from octo.runtime.rundirs.rundir import open_store

    rng = random.Random(1)
    store = open_store(run_dir)
    Ledger(store)  # its tables
    request = json.dumps({"model": "gpt-4.1-mini", "prompt": "Write one sentence about the sea, number 12345. " * 4,
                          "schema": {"type": "object", "properties": {"sentence": {"type": "string"}}}})
    usage = json.dumps({"input_tokens": 40, "output_tokens": 30})
    answer = json.dumps({"sentence": "The sea rolls grey and slow under a low sky, " * 2})
    drafted, at_provider = int(n * 0.7), int(n * 0.2)
    reviewed = int(drafted * 0.7)
    sent_back = set(rng.sample(range(reviewed), reviewed // 4))
    attempts, results, reruns = [], [], []
    for unit in range(n):
        batch = f"b{unit // 5000 + 1}"
        if unit < drafted:
            if unit % 10 == 0:  # a malformed first answer, retried
                attempts.append(("draft", unit, 1, 1, "settled", batch, request, "{oops", usage, 0, 1e-5, "retried: …"))
                attempts.append(("draft", unit, 1, 2, "settled", batch, request, answer, usage, 0, 1e-5, "done"))
            else:
                attempts.append(("draft", unit, 1, 1, "settled", batch, request, answer, usage, 0, 1e-5, "done"))
        elif unit < drafted + at_provider:
            attempts.append(("draft", unit, 1, 1, "sent", batch, request, None, None, None, None, None))
        if unit < reviewed:
            back = unit in sent_back
            attempts.append(("review", unit, 1, 1, "settled", f"r{unit // 5000 + 1}", request,
                             json.dumps({"ok": not back, "reason": "fine"}), usage, 0, 2e-5,
                             "sent 'draft' back for round 2" if back else "done"))
            if back:
                attempts.append(("draft", unit, 2, 1, "queued", None, request, None, None, None, None, None))
                reruns += [(step, unit, 2, json.dumps({"ok": False, "reason": "dull"}), "draft")
                           for step in ("draft", "stats", "review")]
                continue
            results.append(("review", unit, "done", json.dumps({"ok": True, "reason": "fine", "passed": True})))
        if unit < drafted:
            results.append(("draft", unit, "done", answer))
            results.append(("stats", unit, "done", json.dumps({"chars": 92})))
    with store.transaction() as db:
        db.executemany("INSERT INTO attempts(step, unit, round, try, state, mode, batch, request, text, usage, cost, "
                       "list_cost, verdict) VALUES (?, ?, ?, ?, ?, 'batch', ?, ?, ?, ?, ?, ?, ?)", attempts)
        db.executemany("INSERT INTO results(step, unit, state, output) VALUES (?, ?, ?, ?)", results)
        db.executemany("INSERT INTO reruns(step, unit, round, feedback, loop) VALUES (?, ?, ?, ?, ?)", reruns)
        for b in range(1, n // 5000 + 2):
            for prefix, step in (("b", "draft"), ("r", "review")):
                state = "ingested" if b * 5000 <= drafted else "submitted"
                db.execute("INSERT INTO batches(key, step, provider, state, created, requests) VALUES (?, ?, 'openai', ?, "
                           "?, 5000)", (f"{prefix}{b}", step, state, time.time()))
    store.close()


def median_ms(fn, runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), min(times), max(times)


def bench_refresh(n: int, runs: int) -> None:
    from octo.cli.livetable import LiveTable
    from octo.cli.progresstext import plain_line
    from octo.runtime.rundirs.rundir import open_plan, open_store
    from octo.runtime.reading.tally import Tallier
    from octo.stdlib import default_language

    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        run_dir = make_run(Path(tmp), n)
        print(f"(a) a {n:,}-unit judged run midway (made in {time.perf_counter() - began:.1f}s):")
        plan, store, language = open_plan(run_dir), open_store(run_dir, readonly=True), default_language()
        count = store.db.execute("SELECT count(*) FROM attempts").fetchone()[0]
        size = (run_dir / "run.db").stat().st_size / 2 ** 20
        print(f"    {count:,} attempts, {size:.0f} MiB store")
        tallier = Tallier(plan, language, store)
        first = median_ms(tallier.read, 1)
        kept = median_ms(tallier.read, runs)
        fresh = median_ms(lambda: Tallier(plan, language, store).read(), runs)
        tally = tallier.read()
        for s in tally.steps:
            print(f"    {s.name:<8} units {s.units:,} accepted {s.accepted:,} failed {s.failed:,} in flight "
                  f"{s.in_flight:,} retrying {s.retrying:,} answers {s.answers:,}")
        screen = io.StringIO()
        screen.isatty = lambda: True
        table = LiveTable(screen, colour=True, synthetic=True)
        table.console.size = (160, 40)
        drawn = median_ms(lambda: table.show(tally, 12.0, {"draft": 50.0}), runs)
        table.close()
        plain = median_ms(lambda: plain_line(tally, 12.0, {"draft": 50.0}, True), runs)
        for what, (med, lo, hi) in (("read, first time", first), ("read, each refresh", kept),
                                    ("read, nothing kept", fresh), ("draw the live table", drawn),
                                    ("make the plain line", plain)):
            print(f"    {what:<22} {med:8.2f} ms  ({lo:.2f}–{hi:.2f})")
        store.close()


def bench_share(n: int, judged: bool) -> None:
    """The display's share of a real run's time (terminal-like stdout, in this process)."""
    import octo.cli.progress as progress
    from octo.cli.main import main

    spent = {"update": 0.0, "calls": 0, "reads": 0}
    update, read = progress.Progress.update, progress.Tallier.read

    def timed_update(self, force=False):
        began = time.perf_counter()
        try:
            return update(self, force)
        finally:
            spent["update"] += time.perf_counter() - began
            spent["calls"] += 1

    def counted_read(self):
        spent["reads"] += 1
        return read(self)

    progress.Progress.update, progress.Tallier.read = timed_update, counted_read
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.octo"
        path.write_text((PIPELINE if judged else SAILOR).format(n=n))
        terminal = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
        terminal.isatty = lambda: True
        real, sys.stdout = sys.stdout, terminal
        began = time.perf_counter()
        try:
            code = main(["run", str(path), "--run-dir", str(Path(tmp) / "run")]
                        + (["--provider", "emulator", "--batch-size", "2000"] if judged else []))
        finally:
            sys.stdout = real
        total = time.perf_counter() - began
    what = "units of the judged pipeline on the emulator" if judged else "walks"
    print(f"(b) octoc run, {n:,} {what} (exit {code}): {total:.1f}s in all; the display {spent['update'] * 1000:.0f} ms "
          f"({100 * spent['update'] / total:.1f}%) in {spent['calls']} updates, {spent['reads']} store reads")


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=("refresh", "share"))
    parser.add_argument("--judged-units", type=int, default=20_000, help="(b) on the judged pipeline too (0: not)")
    args = parser.parse_args()
    if args.only != "share":
        bench_refresh(args.units, args.runs)
    if args.only != "refresh":
        bench_share(args.units, judged=False)
        if args.judged_units:
            bench_share(args.judged_units, judged=True)


if __name__ == "__main__":
    main_()
