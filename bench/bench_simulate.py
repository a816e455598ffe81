"""How fast is a fused simulate loop? The drunken sailor, 100,000 walks.

Start at 5 on a pier of 10: each step is ``position + choice([-1, 1])``, until
``position <= 0 or position >= 10``; outputs ``outcome`` ('ship' or 'water')
and ``steps``. Each walk gets its own seeded ``random.Random``.

Compares :func:`octo.compiler.expressions.loopgen.compile_simulation` (the whole loop as one
generated function) with the same loop written by hand in Python, making the
same calls on the stream — so the results must be identical, and are asserted
to be. Both run in the same process; the cost of seeding the 100,000 streams
(the same for both) is timed on its own and shown both included and left out.

Run: python bench/bench_simulate.py [WALKS] [REPEATS] [--json] [--quick]

`--json` (the bench harness's contract) prints, as its last line,
{"figures": [...]}: the fused loop against the hand loop, best of the repeats
(no target of its own: issue 14's target is on the whole `octoc run`, in
bench_run.py); `--quick` runs 2,000 walks.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source, Span
from octo.compiler.base.yamlnodes import YScalar
from octo.compiler.expressions.codegen import compile_expression
from octo.compiler.expressions.exprparse import Origin, parse_expression
from octo.compiler.expressions.loopgen import compile_simulation
from octo.stdlib.builtins import FUNCTIONS

INIT = {"position": "5", "steps": "0"}
EACH = {"position": "position + choice([-1, 1])", "steps": "steps + 1"}
UNTIL = "position <= 0 or position >= 10"
OUTPUT = {"outcome": "'ship' if position >= 10 else 'water'", "steps": "steps"}


def parse(text: str):
    source = Source("bench.octo", text)
    reporter = Reporter()
    expr = parse_expression(text, Origin(YScalar(Span(source, 0, len(text)), text)), reporter)
    assert expr is not None, reporter.diagnostics
    return expr


def named(d: dict) -> list:
    return [(k, parse(v)) for k, v in d.items()]


def by_hand(env, rng) -> dict:
    position, steps = 5, 0
    while True:
        position = position + rng.choice([-1, 1])
        steps = steps + 1
        if position <= 0 or position >= 10:
            break
    return {"outcome": "ship" if position >= 10 else "water", "steps": steps}


def per_expression(init, each, until, output):
    """For scale: the loop as one compiled expression per expression and a dict for the state."""
    init = [(k, compile_expression(e, FUNCTIONS)) for k, e in init]
    each = [(k, compile_expression(e, FUNCTIONS)) for k, e in each]
    until = compile_expression(until, FUNCTIONS)
    output = [(k, compile_expression(e, FUNCTIONS)) for k, e in output]

    def walk(env, rng) -> dict:
        scope = dict(env)
        for name, expr in init:
            scope[name] = expr.evaluate(scope, rng)
        while True:
            for name, expr in each:
                scope[name] = expr.evaluate(scope, rng)
            if until.evaluate(scope, rng):
                break
        return {name: expr.evaluate(scope, rng) for name, expr in output}

    return walk


def run(walk, n: int) -> tuple[float, list]:
    env: dict = {}
    out = []
    gc.collect()
    gc.disable()  # the cyclic collector's passes over the growing list are noise, not the loop
    try:
        start = time.perf_counter()
        for seed in range(n):
            out.append(walk(env, random.Random(seed)))
        return time.perf_counter() - start, out
    finally:
        gc.enable()


def seeding(n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for seed in range(n):
            random.Random(seed)
        return time.perf_counter() - start
    finally:
        gc.enable()


def main(n: int = 100_000, repeats: int = 5, as_json: bool = False) -> None:
    sim = compile_simulation(named(INIT), named(EACH), parse(UNTIL), named(OUTPUT), 100_000, FUNCTIONS)
    slow = per_expression(named(INIT), named(EACH), parse(UNTIL), named(OUTPUT))
    best = {"octo": float("inf"), "hand": float("inf"), "seed": float("inf"), "slow": float("inf")}
    for i in range(repeats):  # interleaved, best of each: the least disturbed run
        t_octo, octo = run(sim.run, n)
        t_hand, hand = run(by_hand, n)
        assert octo == hand, "the two loops should draw the same numbers"
        best["octo"] = min(best["octo"], t_octo)
        best["hand"] = min(best["hand"], t_hand)
        best["seed"] = min(best["seed"], seeding(n))
        if i < 2:
            t_slow, per_expr = run(slow, n)
            assert per_expr == hand
            best["slow"] = min(best["slow"], t_slow)
    steps = sum(w["steps"] for w in hand)
    ship = sum(w["outcome"] == "ship" for w in hand) / n
    t_octo, t_hand, t_seed = best["octo"], best["hand"], best["seed"]
    if as_json:
        print(json.dumps({"figures": [
            {"name": f"simulate: fused loop (compile_simulation), {n:,} walks", "value": t_octo, "unit": "s",
             "baseline": "hand-written Python loop, same streams", "baseline_value": t_hand,
             "ratio": t_octo / t_hand, "target": None}]}))
        return
    print(f"drunken sailor: {n:,} walks, {steps:,} steps in all, P(ship) = {ship:.3f}; best of {repeats}")
    print(f"  compile_simulation (one generated loop): {t_octo:.3f} s  ({t_octo / steps * 1e9:.0f} ns per step)")
    print(f"  hand-written Python loop:                {t_hand:.3f} s  ({t_hand / steps * 1e9:.0f} ns per step)")
    print(f"  ratio: {t_octo / t_hand:.2f}x")
    print(f"  of which seeding the {n:,} streams: {t_seed:.3f} s; ratio without it: "
          f"{(t_octo - t_seed) / (t_hand - t_seed):.2f}x")
    print(f"  (for scale, one call per expression per iteration: {best['slow']:.3f} s, "
          f"{best['slow'] / t_hand:.2f}x the hand-written loop, "
          f"{(best['slow'] - t_seed) / (t_hand - t_seed):.2f}x without seeding)")


if __name__ == "__main__":
    args = argparse.ArgumentParser()
    args.add_argument("walks", type=int, nargs="?", default=100_000)
    args.add_argument("repeats", type=int, nargs="?", default=5)
    args.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    args.add_argument("--quick", action="store_true", help="2,000 walks, 2 repeats")
    a = args.parse_args()
    if a.quick:
        a.walks, a.repeats = 2_000, 2
    main(a.walks, a.repeats, a.json)
