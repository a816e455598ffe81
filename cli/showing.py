"""`octoc show DIR UNIT [--step S] [--format text|json]`: one unit, every attempt, for people or for tools.

The text form prints prompts, answers and feedback in full, each line behind a gutter (``│``) so a
long prompt reads as one block; JSON is runtime/reading/unitview.py's record as it is. Reads the run
read-only, without its lock, like `results` and `report`. API keys are never stored; as a last
guard, the value of every ``*_API_KEY`` variable in the environment is blanked from the output.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from octo.runtime.rundirs.diskerrors import storage_errors
from octo.runtime.base.strictjson import dumps
from octo.runtime.reading.unitview import UnknownStep, UnknownUnit, unit_view

from . import exitcodes

GUTTER = "      │ "


def show(run_dir: str, unit: str, step: str | None, fmt: str) -> int:
    path = Path(run_dir)
    try:
        with storage_errors(path, reading=True):
            view = unit_view(path, unit, step)
    except (UnknownUnit, UnknownStep) as err:
        sys.stderr.write(f"octoc: error: {err}\n")
        return exitcodes.USAGE
    out = dumps(view, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else render(view, run_dir)
    sys.stdout.write(_without_keys(out))
    return exitcodes.OK


def _without_keys(text: str) -> str:
    for name, value in os.environ.items():
        if name.endswith("_API_KEY") and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    return text


# --- text ------------------------------------------------------------------------------------------

def render(view: dict, run_dir: str) -> str:
    lines = [f"unit {view['unit']} — {view['state']}"]
    if view["fields"]:
        lines.append(f"  fields: {_compact(view['fields'])}")
    if view["parent"]:
        lines.append(f"  child of unit {view['parent']} (fan-out '{view['fanout']}'); the parent's steps: "
                     f"octoc show {run_dir} {view['parent']}")
    for fanout, children in view["children"].items():
        more = children["units"] - len(children["first"])
        listed = ", ".join(children["first"]) + (f", … ({more:,} more)" if more > 0 else "")
        lines.append(f"  children of fan-out '{fanout}': {children['units']:,} — {listed}")
    for step in view["steps"]:
        lines += [""] + _step(step)
    return "\n".join(lines) + "\n"


def _step(s: dict) -> list[str]:
    lines = [f"{s['step']} ({s['kind']}) — {s['state']}"]
    for r in s.get("rounds", []):
        by = f"'{r['sent_back_by']}'" if r["sent_back_by"] else "its verdict"
        lines.append(f"  round {r['round']}: {by} sent '{r['loop']}' back with feedback {_compact(r['feedback'])}")
    if s["state"] == "done":
        text = _pretty(s["output"])
        lines += _block("output", text, indent="  ") if "\n" in text else [f"  output: {text}"]
    elif s["reason"]:
        short = "\n" not in s["reason"] and len(s["reason"]) <= 100
        lines += [f"  reason: {s['reason']}"] if short else _block("reason", s["reason"], indent="  ")
    if s.get("validate"):
        lines.append("  validate: " + "; ".join(f"`{v}`" for v in s["validate"]))
    for n, a in enumerate(s.get("attempts", []), 1):
        lines += [""] + _attempt(n, a)
    return lines


def _attempt(n: int, a: dict) -> list[str]:
    batch = ""
    if a["batch"]:
        batch = f" · batch {a['batch']}" + (f" (at the provider: {a['provider_batch']})" if a["provider_batch"] else "")
    limits = f"max_tokens {a['max_tokens']}" + (f", temperature {a['temperature']}" if a["temperature"] is not None else "")
    limits += "".join(f", {name} {a[key]}" for key, name in (("top_p", "top_p"), ("seed", "seed"),
                      ("reasoning_effort", "reasoning"), ("thinking_budget", "thinking budget")) if key in a)
    lines = [f"  attempt {n} · round {a['round']}, try {a['try']} · {a['mode']} mode{batch} · {a['model']} · {limits}"]
    lines += _block("system prompt", a["system"]) if a["system"] else ["    system prompt: (none)"]
    lines += _block("user prompt", a["prompt"])
    if a["error"] is not None:
        lines += _block("provider error", a["error"])
        if a["answer"]:
            lines += _block("answer (cut off)", a["answer"])
    elif a["answer"] is not None:
        lines += _block("answer", a["answer"])
    elif a["state"] in ("queued", "sent"):
        lines.append("    answer: (none yet)")
    if a["check"] is not None:
        lines.append(f"    check: {_check(a['check'])}")
    lines += _decision(a["decision"])
    if a["usage"] is not None:
        u = a["usage"]
        lines.append(f"    tokens: {u.get('input', 0):,} input, {u.get('cached_input', 0):,} cached input, "
                     f"{u.get('output', 0):,} output ({u.get('reasoning', 0):,} of them reasoning) · "
                     f"{_cost(a['cost_usd'], a['list_cost_usd'])}")
    lines += [f"    then put back: {why}" for why in a.get("put_back", [])]
    return lines


def _check(c: dict) -> str:
    if c["ok"]:
        verdict = {True: "; verdict: passed", False: "; verdict: not passed"}.get(c.get("passed"), "")
        return f"ok — {c['message']}{verdict}"
    if c["kind"] == "provider":
        return "no answer to check"
    if c["kind"] == "not-json":
        return c["message"]
    what = {"schema": "schema violation", "validate": f"validate rule {c['rule']} failed"}.get(c["kind"], c["kind"])
    if c["kind"] == "schema" and c["rule"] and c["rule"].startswith("at "):
        what += f" {c['rule'].split(':')[0]}"
    return f"{what}: {c['message']}"


def _decision(d: dict) -> list[str]:
    lines = _decided(d)
    if d.get("revalidated_was"):
        lines.append(f"      (by octoc revalidate; before, it was: {d['revalidated_was']})")
    return lines


def _decided(d: dict) -> list[str]:
    verdict = d["verdict"]
    if verdict == "revalidated":
        return ["    decision: no longer used: octoc revalidate found it breaks the rules as they are now"]
    if verdict == "sent back":
        return ([f"    decision: sent '{d['target']}' back for round {d['round']}, with feedback:"]
                + _gutter(_pretty(d["feedback"])))
    if verdict == "retried":
        if d.get("note"):
            return ["    decision: retried; the next try was sent the same prompt with this note:"] + _gutter(d["note"])
        return ["    decision: retried (the same request again)"]
    tries = re.search(r"\((after \d+ tr(?:y|ies))\)$", d.get("why") or "")
    if verdict == "failed" and tries:  # the reason is the step's, printed above
        return [f"    decision: failed ({tries.group(1)}): the unit fails at this step"]
    if d.get("why"):
        return [f"    decision: {verdict}: {d['why']}"]
    return [f"    decision: {verdict}"]


def _block(label: str, text: str, indent: str = "    ") -> list[str]:
    """``label:`` and the text behind a gutter, in full: every line, nothing cut."""
    return [f"{indent}{label}:"] + _gutter(text)


def _gutter(text: str) -> list[str]:
    return [GUTTER + line for line in str(text).split("\n")]


def _pretty(value) -> str:
    text = _compact(value)
    return text if len(text) <= 100 else json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _cost(cost: float | None, listed: float | None) -> str:
    if cost is None:
        return "cost unknown (no price for this model)"
    at_list = f" (${listed:.6f} at list prices)" if listed is not None and listed != cost else ""
    return f"cost ${cost:.6f}{at_list}"
