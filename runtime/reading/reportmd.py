"""`octoc report --format markdown`: the report as GitHub-flavoured Markdown, for a PR or an issue.

Made from the same data as the text and JSON forms (runtime/reading/report.py): a heading and the unit
counts, a table per aggregate (a row per group, a column per metric), its expectations and
errors as tables, and the failures as a table of groups with three example units each. Text
that came from a unit (a reason, a value) is escaped, so a model's answer cannot break a table
or turn into markup; a rule or an expression stays in backticks.
"""

from __future__ import annotations

import re

from .failures import clip, example_detail
from .report import _fanout_line, _show

_SPECIAL = re.compile(r"([\\`*|<~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|\](?=\()")
_CODE = re.compile(r"(`[^`]*`)")


def text(value) -> str:
    """Free text for a Markdown table cell: one line; what Markdown would read as markup is escaped (an
    underscore inside a word, as in `win_rate`, is not markup)."""
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), re.sub(r"\s+", " ", str(value)))


def code(value) -> str:
    """An expression or a rule as inline code in a table cell."""
    return "`" + re.sub(r"\s+", " ", str(value)).strip().replace("|", "\\|") + "`"


def cell(value) -> str:
    """A label for a table cell: what is in backticks (a rule, an expression) stays code, the rest is text."""
    parts = _CODE.split(" ".join(str(value).split()))
    return "".join(code(p[1:-1]) if _CODE.fullmatch(p) else text(p) for p in parts)


def _table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_markdown(data: dict) -> str:
    s = data["states"]
    lines = [f"## {text(data['pipeline'])}", "",
             f"**{data['units']:,} units**: {s['done']:,} done, {s['failed']:,} failed, {s['pending']:,} pending"]
    lines += [f"- {text(_fanout_line(f))}" for f in data.get("fanouts", [])]
    if data["synthetic"]:
        lines.append(f"\n*Synthetic*: every model output came from the emulator (cost $0; "
                     f"${data['list_cost_usd']:.4f} at list prices).")
    elif data["cost_usd"]:
        lines.append(f"\nCost: ${data['cost_usd']:.4f}")
    for agg in data["aggregates"]:
        lines += ["", f"### {text(agg['step'])}", ""] + _aggregate(agg)
    ex = data["expectations"]
    if ex["passed"] or ex["failed"]:
        lines += ["", f"**Expectations**: {ex['passed']} passed, {ex['failed']} failed"]
    if data["failures"]:
        lines += ["", "### Failures", ""] + _failures(data["failures"])
    if data.get("blocked"):
        rows = [[f"{b['units']:,}", text(b["step"]), text(b["upstream"]), text(", ".join(b["examples"]))]
                for b in data["blocked"]]
        lines += ["", "Not run, as a step they read failed:", ""]
        lines += _table(["units", "step", "failed step", "e.g."], rows, right={0})
    return "\n".join(lines).rstrip() + "\n"


def _aggregate(agg: dict) -> list[str]:
    groups = agg["groups"]
    if not groups:
        note = agg["unreached"]["note"] if agg.get("unreached") else "not computed yet"
        return [f"*{text(note[0].upper() + note[1:])}.*"]
    by = list(dict.fromkeys(k for g in groups for k in g["by"]))
    metrics = list(dict.fromkeys(m for g in groups for m in g["metrics"]))
    rows = [[text(_show(g["by"].get(k))) for k in by] + [f"{g['units']:,}"]
            + [text(_show(g["metrics"].get(m))) for m in metrics] for g in groups]
    lines = _table([text(k) for k in by] + ["units"] + [text(m) for m in metrics], rows,
                   right=set(range(len(by), len(by) + 1 + len(metrics))))
    expects = [[text(_group(g)), code(e["text"]), "✓" if e["passed"] else "✗", _values(e)]
               for g in groups for e in g["expects"]]
    if expects:
        lines += [""] + _table(["group", "expect", "", "values"], expects)
    errors = [[text(_group(g)), text(err["metric"]), text(err["reason"])] for g in groups for err in g.get("errors", [])]
    if errors:
        lines += [""] + _table(["group", "metric", "error"], errors)
    return lines


def _group(g: dict) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in g["by"].items()) or "all units"


def _values(e: dict) -> str:
    if e.get("error"):
        return text(e["error"])
    return text(", ".join(f"{k} = {_show(v)}" for k, v in e["values"].items()))


def _failures(failures: list[dict]) -> list[str]:
    units = sum(f["units"] for f in failures)
    rows = []
    for f in failures:
        examples = [f"{text(e['unit'])}: {text(clip(example_detail(f, e['reason']), 120))}" for e in f["examples"]]
        if f["units"] > len(f["examples"]):
            examples.append(f"… and {f['units'] - len(f['examples']):,} more")
        rows.append([f"{f['units']:,}", text(f["step"]), cell(f["label"]), "<br>".join(examples)])
    return ([f"{units:,} failed {'result' if units == 1 else 'results'} in {len(failures)} "
             f"{'group' if len(failures) == 1 else 'groups'}, by step, kind and rule:", ""]
            + _table(["units", "step", "failure", "examples"], rows, right={0}))
