"""Chaos at scale: 10,000 units of generate + judge on a faulty provider, at least 20 SIGKILLs, then the ledger.

The same probe as tests/test_chaos.py (see tests/chaos.py for how the kills
land and what is checked), bigger: prints the units lost, the custom ids
submitted twice, the results counted twice, the ledger's cost against what the
emulator billed, the kills, and the time. Exits 1 when any check fails.

    python bench/bench_chaos.py [--units N] [--kills K] [--seed S] [--batch-size B]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from chaos import FAULTS, Chaos, check_ledger, run_with_kills, serve, write_pipeline
    from octo.runtime.base.crashpoints import POINTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()
    prices = json.loads((ROOT / "stdlib" / "prices.json").read_text())
    with tempfile.TemporaryDirectory(prefix="octo-chaos-") as tmp:
        folder = Path(tmp)
        emulator, server = serve(args.seed)
        chaos = Chaos(kills=args.kills, seed=args.seed, max_events=10, crashpoints=POINTS, process_timeout=600)
        start = time.monotonic()
        try:
            final = run_with_kills(write_pipeline(folder, args.units, args.seed), folder / "run", chaos, server.url,
                                   ["--batch-size", str(args.batch_size), "--poll-interval", "0"])
        finally:
            server.stop()
        elapsed = time.monotonic() - start
        print("\n".join(chaos.log))
        if final.code not in (0, 6, 7):  # done (6: some units failed, 7: an expect failed)
            print(f"the final resume failed (exit {final.code}):\n{final.stdout[-3000:]}\n{final.stderr[-3000:]}")
            return 1
        ledger = check_ledger(folder / "run", emulator, prices)
        kills = sum(1 for line in chaos.log if line.endswith("killed"))
        faulty = sum(1 for b in emulator.batches.values() if b.fate != "completed")
        print(f"\nfaults: {FAULTS}; {len(emulator.batches)} batches, {faulty} expired or failed")
        print(f"kills: {kills} (rounds: {len(chaos.log) - 1})")
        print("\n".join(ledger.lines()))
        print(f"time: {elapsed:.1f} s")
        same_cost = abs(ledger.ledger_cost - ledger.provider_cost) <= 1e-9 * max(1.0, ledger.provider_cost)
        ok = (ledger.units == args.units and not ledger.lost and not ledger.submitted_twice
              and not ledger.counted_twice and same_cost and kills >= args.kills)
        print("verdict:", "ok" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
