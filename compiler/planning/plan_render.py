"""The plan as text (a table, totals, the budget verdict, the DAG), DOT or Mermaid."""

from __future__ import annotations

from .diskspace import size_text
from .ir import Plan
from .loop_render import dot_loops, mermaid_loops


def money(x: float | None) -> str:
    if x is None:
        return "unknown"
    if x == 0:
        return "$0"
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def count(x: float) -> str:
    if x >= 1_000_000:
        return f"{x / 1_000_000:.1f}M"
    if x >= 10_000:
        return f"{x / 1000:.1f}k"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def render_plan(plan: Plan) -> str:
    p = plan.data
    lines = [f"Plan for {p['pipeline']['name']} ({p['pipeline']['source']})", "", "  " + _units_line(p), ""]
    lines += _table(p)
    lines += _fanouts(p)
    lines += ["", *_totals(p), *_notes(p), "", "Graph:", *draw_graph(p)]
    return "\n".join(lines) + "\n"


def _units_line(p: dict) -> str:
    u = p["units"]
    parts = [f"{t['size']:,} {t['table'] if t['arrangement'] == 'rows' else t['field']}" + ("" if t["arrangement"] == "rows" else f" ({t['arrangement']} of {t['table']}, k={t['k']})")
             for t in u["tables"]]
    if u["repeat"] > 1:
        parts.append(f"repeat {u['repeat']:,}")
    shape = " × ".join(parts) if parts else "1"
    filters = [f"where {u['where']['text']}" if u["where"] else "", f"sample {u['sample']:,}" if u["sample"] else "",
               _limit_text(u)]
    extra = ", ".join(f for f in filters if f)
    total = f"{u['total']:,}"
    return f"units: {u['selected']:,}" + (f" of {total}" if u["selected"] != u["total"] else "") + f" = {shape}" + (f"; {extra}" if extra else "")


def _limit_text(u: dict) -> str:
    if u.get("max_units") is not None and u["max_units"] == u["limit"]:
        return f"the first {u['limit']:,} (--max-units {u['max_units']:,}: a smoke run)"
    return f"limit {u['limit']:,}" if u["limit"] else ""


_HEAD = ("step", "kind", "runs on", "units", "requests", "tokens in", "tokens out", "batch $", "realtime $")


def _row(s: dict) -> tuple:
    units = _units(s, s["units"])
    if "estimate" not in s:
        return (s["name"], s["kind"], "local", units, "-", "-", "-", "-", "-")
    return (s["name"], s["kind"], f"{runs_on(s)} ({s['mode']})", units, *_figures(s["estimate"]))


def _rows(s: dict) -> list[tuple]:
    """A step's row; a step with a model per unit adds a row per model under it."""
    if s.get("model_from") is None:
        return [_row(s)]
    return [_row(s)] + [("", "", f"· {m['model']}", _units(s, m["units"]), *_figures(m["estimate"])) for m in s["per_model"]]


def runs_on(s: dict) -> str:
    """Where a step runs: its model, how many models it reads from the unit, or `local`."""
    if "models" not in s:
        return "local"
    return s["model"] if s.get("model_from") is None else f"{len(s['models'])} models from {s['model_from']['text']}"


def _units(s: dict, units: dict) -> str:
    worst = units.get("worst", units["count"])  # in a fan-out, the worst case has more units
    return (count(units["count"]) + ("" if units["exact"] else "≤" if s["when"] or s.get("unique_by") else "~")
            + (f" / {count(worst)}" if worst != units["count"] else ""))


def _figures(e: dict) -> tuple:
    cost = e["cost_usd"]
    return (f"{count(e['requests']['expected'])} / {count(e['requests']['worst'])}",
            count(e["tokens"]["input_expected"]), count(e["tokens"]["output_expected"]),
            f"{money(cost['batch']['expected'])} / {money(cost['batch']['worst'])}",
            f"{money(cost['realtime']['expected'])} / {money(cost['realtime']['worst'])}")


def _table(p: dict) -> list[str]:
    rows = [_HEAD] + [row for s in p["steps"] for row in _rows(s)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(_HEAD))]
    right = {3, 4, 5, 6, 7, 8}
    out = []
    for n, r in enumerate(rows):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    what = "units in a fan-out, requests and costs" if any("fanout" in s for s in p["steps"]) else "requests and costs"
    out.append(f"  ({what}: expected / worst case; ≤ an upper bound, ~ estimated from a sample)")
    return out


def _fanouts(p: dict) -> list[str]:
    """Per fan-out: its units, and the child units expected and at worst (docs/plan.md, Fan-out)."""
    lines = []
    for s in p["steps"]:
        if "fanout" not in s:
            continue
        per, children = s["fanout"]["per_unit"], s["fanout"]["children"]
        if per["max"] is None:
            each = f"no most per unit; at worst {per['worst']:,}, the most a list holds"
        else:
            each = f"{per['max']:,}" if per["min"] == per["max"] else f"{per['min']:,} to {per['max']:,}"
            each += " per unit"
        lines.append(f"  {s['name']}: {s['units']['count']:,} units → {children['expected']:,} child units expected "
                     f"({per['expected']:g} per unit), {children['worst']:,} at worst ({each})")
    return ["", "Fan-out:", *lines] if lines else []


def _totals(p: dict) -> list[str]:
    t = p["totals"]
    lines = [f"Total: {count(t['requests']['expected'])} requests expected, {count(t['requests']['worst'])} at worst",
             f"  as planned (each step in its mode): {money(t['as_planned']['expected'])} expected, {money(t['as_planned']['worst'])} worst case",
             f"  all batch: {money(t['batch']['expected'])} / {money(t['batch']['worst'])}"
             f"   all realtime: {money(t['realtime']['expected'])} / {money(t['realtime']['worst'])}"]
    if t["unknown_cost_steps"]:
        lines.append(f"  not included (no price): {', '.join(t['unknown_cost_steps'])}")
    b = p["budget"]
    if b["max_usd"] is None:
        lines.append("Budget: none set (budget.max_usd)")
    else:
        verdict = {"within": "within budget", "over": "OVER BUDGET in the expected case",
                   "worst case over": "within budget as expected, over it in the worst case"}[b["verdict"]]
        lines.append(f"Budget: {money(b['max_usd'])}: {verdict}")
    if p.get("disk"):
        lines.append(f"Disk: about {size_text(p['disk']['estimated_bytes'])} for the run's store (estimate)")
    prices = p["prices"]
    if prices["models"]:
        lines.append(f"Prices as of {prices['as_of']} (batch at {prices['batch_discount']:.0%} of realtime)")
    return lines


def _notes(p: dict) -> list[str]:
    notes = [f"  {s['name']}: {n}" for s in p["steps"] for n in s["notes"]]
    return ["", "Notes:", *notes] if notes else []


def draw_graph(p: dict) -> list[str]:
    edges = [e for e in p["graph"]["edges"] if e["kind"] == "data"]
    retries = {e["from"]: e for e in p["graph"]["edges"] if e["kind"] == "retry"}
    parents: dict[str, list[str]] = {n: [] for n in p["graph"]["nodes"]}
    children: dict[str, list[str]] = {n: [] for n in p["graph"]["nodes"]}
    for e in edges:
        parents[e["to"]].append(e["from"])
        children[e["from"]].append(e["to"])
    out: list[str] = []
    placed: set[str] = set()

    def label(n: str) -> str:
        extra = [f"also reads {', '.join(x for x in parents[n][1:])}"] if len(parents[n]) > 1 else []
        if n in retries:
            r = retries[n]
            body = next((loop["body"] for loop in p.get("loops", []) if loop["verdict"] == n), [])
            with_ = [b for b in body if b not in (n, r["to"])]  # the rest of its loop goes back too
            extra.append(f"re-runs {r['to']}{' with ' + ', '.join(with_) if with_ else ''} "
                         f"up to {r['max_reruns']} more time{'s' if r['max_reruns'] != 1 else ''}")
        return n + (f"  ({'; '.join(extra)})" if extra else "")

    def walk(n: str, prefix: str, last: bool, top: bool) -> None:
        out.append(("  " + label(n)) if top else f"  {prefix}{'└─▶ ' if last else '├─▶ '}{label(n)}")
        placed.add(n)
        kids = [c for c in children[n] if parents[c][0] == n]
        for i, c in enumerate(kids):
            walk(c, prefix + ("" if top else ("    " if last else "│   ")), i == len(kids) - 1, False)

    for n in p["graph"]["nodes"]:
        if not parents[n] and n not in placed:
            walk(n, "", True, True)
    return out


def render_dot(plan: Plan) -> str:
    g = plan.data["graph"]
    kinds = {s["name"]: s for s in plan.steps}
    lines = [f'digraph "{plan.data["pipeline"]["name"]}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for n in g["nodes"]:
        s = kinds[n]
        where = runs_on(s)
        lines.append(f'  "{n}" [label="{n}\\n{s["kind"]} · {where}"];')
    lines += dot_loops(plan.data)  # each loop's body grouped, and its back edge (compiler/planning/loop_render.py)
    lines += [f'  "{e["from"]}" -> "{e["to"]}";' for e in g["edges"] if e["kind"] != "retry"]
    return "\n".join(lines + ["}"]) + "\n"


def render_mermaid(plan: Plan) -> str:
    g = plan.data["graph"]
    kinds = {s["name"]: s for s in plan.steps}
    lines = ["flowchart LR"]
    for n in g["nodes"]:
        lines.append(f'  {n}["{n}<br/>{kinds[n]["kind"]} · {runs_on(kinds[n])}"]')
    lines += mermaid_loops(plan.data)
    lines += [f"  {e['from']} --> {e['to']}" for e in g["edges"] if e["kind"] != "retry"]
    return "\n".join(lines) + "\n"
