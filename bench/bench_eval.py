"""How fast is a compiled expression? `position + choice([-1, 1])`, one million times.

Compares the compiled octo expression (``CompiledExpression.evaluate``) with the
equivalent hand-written Python lambda, both drawing from a seeded stream.
Run: python bench/bench_eval.py [N]
"""

from __future__ import annotations

import random
import sys
import time

from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.source import Source, Span
from octo.compiler.base.yamlnodes import YScalar
from octo.compiler.expressions.codegen import compile_expression
from octo.compiler.expressions.exprparse import Origin, parse_expression
from octo.stdlib.builtins import FUNCTIONS

TEXT = "position + choice([-1, 1])"


def parse(text: str):
    source = Source("bench.octo", text)
    reporter = Reporter()
    expr = parse_expression(text, Origin(YScalar(Span(source, 0, len(text)), text)), reporter)
    assert expr is not None, reporter.diagnostics
    return expr


def run(fn, n: int) -> tuple[float, int]:
    rng = random.Random(1)
    env = {"position": 5}
    position = 0
    start = time.perf_counter()
    for _ in range(n):
        env["position"] = position % 100
        position = fn(env, rng)
    return time.perf_counter() - start, position


def main(n: int = 1_000_000) -> None:
    compiled = compile_expression(parse(TEXT), FUNCTIONS, label="bench")
    by_hand = lambda env, rng: env["position"] + rng.choice([-1, 1])  # noqa: E731
    t_octo, end_octo = run(compiled.evaluate, n)
    t_py, end_py = run(by_hand, n)
    assert end_octo == end_py, "the two should draw the same numbers"
    print(f"{TEXT!r}, {n:,} evaluations")
    print(f"  compiled octo expression: {t_octo:.3f} s  ({t_octo / n * 1e9:.0f} ns each)")
    print(f"  hand-written lambda:      {t_py:.3f} s  ({t_py / n * 1e9:.0f} ns each)")
    print(f"  ratio: {t_octo / t_py:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
