"""`octoc plan`: check, then build and print the Plan (nothing is sent anywhere)."""

from __future__ import annotations

import json
import math
import os
import stat
import sys

from octo.compiler.base.codes import REGISTRY, Severity
from octo.compiler.base.diagnostics import Reporter
from octo.compiler.base.render import render_summary, render_text, report_json
from octo.compiler.frontend.check import check_file
from octo.compiler.planning.plan_render import render_dot, render_mermaid, render_plan
from octo.compiler.planning.planner import build_plan
from octo.stdlib import language_with_models


class UsageError(Exception):
    pass


def load_prices(path: str | None, base: dict) -> dict:
    """The price table, with a user's file merged over it (models by id, other keys replaced)."""
    if path is None:
        return dict(base)
    user = _read_prices(path)
    if not isinstance(user, dict) or not isinstance(user.get("models", {}), dict):
        raise UsageError(f"prices file '{path}' must be a JSON object with a \"models\" object")
    for model, price in user.get("models", {}).items():
        if not (isinstance(price, dict) and {"input", "output"} <= set(price)):
            raise UsageError(f"prices file '{path}': model '{model}' needs \"input\" and \"output\" (USD per 1M tokens)")
        for key in ("input", "output", "cached_input"):
            if key in price and not _amount(price[key]):
                raise UsageError(f"prices file '{path}': model '{model}': \"{key}\" must be a number of at least 0, "
                                 f"not {json.dumps(price[key])[:40]}")
    if "batch_discount" in user and not (_amount(user["batch_discount"]) and user["batch_discount"] <= 1):
        raise UsageError(f"prices file '{path}': \"batch_discount\" must be a number from 0 to 1")
    merged = {**base, **{k: v for k, v in user.items() if k != "models"}}
    merged["models"] = {**base.get("models", {}), **{m: {"cached_input": p["input"], **p} for m, p in user.get("models", {}).items()}}
    return merged


MAX_PRICES_BYTES = 1 << 20  # a price table is a few kilobytes


def _read_prices(path: str):
    """The JSON of a prices file: a regular file of at most 1 MiB, without NaN or Infinity."""
    def no_constant(name):
        raise ValueError(f"{name} is not a price")

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe would block, a device never end
            raise UsageError(f"prices file '{path}' is not a regular file")
        with open(path, "rb") as f:
            data = f.read(MAX_PRICES_BYTES + 1)
        if len(data) > MAX_PRICES_BYTES:
            raise UsageError(f"prices file '{path}' is larger than 1 MiB")
        return json.loads(data.decode("utf-8"), parse_constant=no_constant)
    except RecursionError:
        raise UsageError(f"prices file '{path}' nests too deeply") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError(f"cannot read prices file '{path}': {getattr(err, 'strerror', None) or err}") from None


def _amount(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0


def plan_file(path: str, fmt: str, graph: str | None, provider: str | None, prices_path: str | None, colour: bool,
              max_units: int | None = None, models_path: str | None = None) -> int:
    try:
        language = language_with_models(models_path)
        prices = load_prices(prices_path, dict(language.prices))
    except (UsageError, ValueError) as err:
        sys.stderr.write(f"octoc: error: {err}\n")
        return 2
    result = check_file(path, language)
    if not result.ok or result.program is None:
        return _print_diagnostics(result.diagnostics, [path], fmt, colour)
    reporter = Reporter()
    plan = build_plan(result.program, language, reporter, provider=provider, prices=prices, max_units=max_units)
    diagnostics = result.diagnostics + reporter.sorted()
    if graph == "dot":
        sys.stdout.write(render_dot(plan))
    elif graph == "mermaid":
        sys.stdout.write(render_mermaid(plan))
    elif fmt == "json":
        sys.stdout.write(json.dumps({"plan": plan.data, "diagnostics": report_json(diagnostics, [path])},
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_plan(plan))
        for d in diagnostics:
            sys.stdout.write("\n" + render_text(d, colour) + "\n")
    return 1 if any(d.severity is Severity.ERROR for d in diagnostics) else 0


def _print_diagnostics(diagnostics, paths, fmt: str, colour: bool) -> int:
    if fmt == "json":
        sys.stdout.write(json.dumps({"plan": None, "diagnostics": report_json(diagnostics, paths)}, indent=2) + "\n")
    else:
        for d in diagnostics:
            sys.stdout.write(render_text(d, colour) + "\n\n")
        errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
        sys.stdout.write(render_summary(errors, len(diagnostics) - errors, len(paths)) + "\n")
    return 2 if any(REGISTRY[d.code].io for d in diagnostics) else 1
