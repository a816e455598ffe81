"""`octoc report --html`: the report as one self-contained HTML page (docs/run.md, "octoc report --html").

Made from the same data as the text, JSON and Markdown forms (runtime/reading/report.py, with ``detail``):
the run's header, the funnel, spending, each aggregate's table with a chart per metric (its interval where
one exists) and the expectations beside it, distributions of per-unit outputs, failures grouped, provider
batches, and the plan's DAG. No script, no external style, font or image: it opens from an e-mail
attachment. Every chart is an ``<svg>`` inside ``<figure class="chart" data-chart="...">``. Everything that
came from the pipeline or a unit is escaped; the same data give the same bytes.
"""

from __future__ import annotations

from html import escape as e

from . import svgcharts as charts
from .dagpicture import dag_svg
from .failures import clip, example_detail
from .groupdists import group_label
from .report import _fanout_line, _show

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}
h3{font-size:16px;margin:20px 0 6px}table{border-collapse:collapse;margin:6px 0 12px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}td.n,th.n{text-align:right}
th{background:#f6f8fa}dl.header{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}
dt{color:#59636e}dd{margin:0}.synthetic{display:inline-block;background:#fff8c5;border:1px solid #d4a72c;
border-radius:4px;padding:1px 8px;margin-left:8px;font-size:13px}.metric{display:flex;flex-wrap:wrap;gap:8px 24px}
figure.chart{margin:8px 0}figcaption{font-size:13px;color:#59636e}.verdicts{list-style:none;padding:0;margin:28px 0 0}
.pass{color:#1a7f37}.fail{color:#cf222e}.note{color:#59636e;font-style:italic}code{font-size:12.5px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}svg text.tick,svg text.none{fill:#59636e;font-size:11px}
svg text.name{font-weight:600;font-size:13px}svg .bar{fill:#4a7fc1}svg .ci{stroke:#1f2328;stroke-width:1.5;fill:none}
svg line.axis,svg line.tick{stroke:#8c959f}svg .grid{stroke:#eaeef2}svg .s-done{fill:#4a7fc1}svg .s-failed{fill:#cf222e}
svg .s-skipped{fill:#afb8c1}svg .s-blocked{fill:#e8a33d}svg .s-pending{fill:#eaeef2}
svg .node rect{fill:#f6f8fa;stroke:#57606a}svg .k-aggregate rect{fill:#ddf4ff}svg .edge{stroke:#57606a;fill:none;stroke-width:1.3}
svg .retry{stroke-dasharray:5 4;stroke:#bc4c00}svg .arrowhead{fill:#57606a}svg .loop rect{fill:none;stroke:#bc4c00;stroke-dasharray:3 3}
"""


def render_html(data: dict) -> str:
    parts = [_header(data), _funnel(data), _spending(data), _aggregates(data), _distributions(data),
             _failures(data), _providers(data), _dag(data)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(data['pipeline'])}: octo report</title><style>{STYLE.strip()}</style></head>\n<body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def _figure(name: str, svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{e(name)}">{svg}{cap}</figure>'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """A table; cells are HTML already (escape what goes in)."""
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{h}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _money(v) -> str:
    return f"${v:,.4f}" if charts.finite(v) else "—"


# --- header ---------------------------------------------------------------------------------------

def _header(data: dict) -> str:
    run, s = data.get("run", {}), data["states"]
    mark = ('<span class="synthetic" data-synthetic="true">synthetic: every model output came from the emulator'
            '</span>' if data["synthetic"] else "")
    cost = (f"$0 (emulator; {_money(data['list_cost_usd'])} at list prices)" if data["synthetic"]
            else _money(data["cost_usd"]))
    tokens = {k: sum(r["tokens"][k] for r in data.get("spending", ())) for k in ("uncached", "cached", "output", "reasoning")}
    ex = data["expectations"]
    rows = [("seed", e(str(run.get("seed")))), ("units", f"{data['units']:,}: {s['done']:,} done, {s['failed']:,} failed, "
            f"{s['pending']:,} pending"), ("state", e(str(run.get("state", "")))),
            ("elapsed", f"{run.get('elapsed_s', 0):,.1f} s"), ("cost", cost),
            ("tokens", f"{tokens['uncached']:,} input uncached, {tokens['cached']:,} cached, {tokens['output']:,} output, "
                       f"{tokens['reasoning']:,} reasoning"),
            ("expectations", f"{ex['passed']} passed, {ex['failed']} failed")]
    rows += [("fan-out", e(_fanout_line(f))) for f in data.get("fanouts", [])]
    desc = f"<p>{e(run['description'])}</p>" if run.get("description") else ""
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<header><h1>{e(data["pipeline"])}{mark}</h1>{desc}<dl class="header">{dl}</dl></header>'


def _funnel(data: dict) -> str:
    rows = data.get("funnel") or []
    if not rows:
        return '<section id="funnel"><h2>Units through the steps</h2><p class="note">no per-unit step</p></section>'
    states = ("units", *charts.FUNNEL_STATES, "retried")
    table = _table(["step", "kind", *states], [[e(r["step"]), e(r["kind"]), *(f"{r[k]:,}" for k in states)] for r in rows],
                   numeric=set(range(2, 2 + len(states))))
    fig = _figure("funnel", charts.funnel("units per step by state", rows),
                  "Each step's units (those it runs over) by how they left it, in the plan's order.")
    return f'<section id="funnel"><h2>Units through the steps</h2>{fig}{table}</section>'


def _spending(data: dict) -> str:
    rows = data.get("spending") or []
    if not rows:
        return ""
    table = _table(["step", "provider", "model", "requests", "cost", "at list prices", "input uncached", "cached",
                    "output", "reasoning"],
                   [[e(r["step"]), e(str(r["provider"])), e(str(r["model"])), f"{r['requests']:,}", _money(r["cost_usd"]),
                     _money(r["list_cost_usd"]), *(f"{r['tokens'][k]:,}" for k in ("uncached", "cached", "output", "reasoning"))]
                    for r in rows], numeric=set(range(3, 10)))
    return f'<section id="spending"><h2>Cost by step and provider</h2>{table}</section>'


# --- aggregates -----------------------------------------------------------------------------------

def _group_label(g: dict) -> str:
    return group_label(g["by"])


def _aggregates(data: dict) -> str:
    out = [_aggregate(agg) for agg in data["aggregates"]]
    return f'<section id="aggregates"><h2>Aggregates</h2>{"".join(out)}</section>' if out else ""


def _aggregate(agg: dict) -> str:
    name, groups = agg["step"], agg["groups"]
    head = f'<h3>{e(name)}</h3>'
    if not groups:
        note = agg["unreached"]["note"] if agg.get("unreached") else "not computed yet"
        return f'<div class="aggregate" data-aggregate="{e(name)}">{head}<p class="note">{e(note)}</p></div>'
    by = list(dict.fromkeys(k for g in groups for k in g["by"]))
    metrics = list(dict.fromkeys(m for g in groups for m in g["metrics"]))
    table = _table([e(k) for k in by] + ["units"] + [e(m) for m in metrics],
                   [[e(_show(g["by"].get(k))) for k in by] + [f"{g['units']:,}"]
                    + [e(_show(g["metrics"].get(m))) for m in metrics] for g in groups],
                   numeric=set(range(len(by), len(by) + 1 + len(metrics))))
    parts = [head, table]
    intervals = agg.get("intervals", {})
    for m in metrics:
        rows = [(_group_label(g), _estimate(g["metrics"].get(m)), _ci(intervals.get(m, [None] * len(groups))[i]))
                for i, g in enumerate(groups)]
        if not any(charts.finite(v) for _, v, _ in rows):
            continue
        methods = {iv["method"] for iv in intervals.get(m, []) if iv}
        caption = f"{e(m)} by group" + (f"; whiskers: {e(', '.join(sorted(methods)))} interval" if methods else "")
        share = bool(methods) and all(0 <= v <= 1 for _, v, _ in rows if charts.finite(v))
        fig = _figure(f"metric:{name}.{m}", charts.bars(f"{name}: {m} by group", rows, share=share), caption)
        parts.append(f'<div class="metric">{fig}{_verdicts(groups, m)}</div>')
    parts += [_group_distribution(d) for d in agg.get("distributions", ())]
    errors = [[e(_group_label(g)), e(err["metric"]), e(err["reason"])] for g in groups for err in g.get("errors", [])]
    if errors:
        parts.append(_table(["group", "metric", "error"], errors))
    rest = _verdict_rows(groups, [m for m in metrics])
    if rest:
        parts.append(_table(["group", "expect", "", "values"], rest))
    return f'<div class="aggregate" data-aggregate="{e(name)}">{"".join(parts)}</div>'


def _group_distribution(d: dict) -> str:
    """An output the aggregate reads, per group: a histogram per group on the run-wide bins, or bars of
    (group, value)."""
    name = f"{d['step']}.{d['output']}"
    if d["kind"] in ("number", "integer"):
        figs = [_figure(f"groupdist:{d['aggregate']}.{name}@{g['group']}",
                        charts.histogram(f"{name} for {g['group']}", g["bins"], integer=d["kind"] == "integer"),
                        f"{e(name)} for {e(g['group'])}: {g['units']:,} units")
                for g in d["groups"]]
        return f'<div class="metric">{"".join(figs)}</div>'
    rows = [(f"{g['group']}: {v['value']}", v["count"], None) for g in d["groups"] for v in g["values"]]
    return _figure(f"groupdist:{d['aggregate']}.{name}", charts.bars(f"{name} by group", rows),
                   f"{e(name)} by group: units per value")


def _estimate(v):
    return v.get("estimate") if isinstance(v, dict) else v


def _ci(iv: dict | None):
    return (iv["low"], iv["high"]) if iv else None


def _verdict(g: dict, x: dict) -> str:
    mark = '<span class="pass">✓</span>' if x["passed"] else '<span class="fail">✗</span>'
    values = e(x["error"]) if x.get("error") else e(", ".join(f"{k} = {_show(v)}" for k, v in x["values"].items()))
    return f"{mark} <code>{e(x['text'])}</code> <span class=note>{e(_group_label(g))}: {values}</span>"


def _verdicts(groups: list[dict], metric: str) -> str:
    """The expectations that read ``metric``, beside its chart."""
    items = [f"<li>{_verdict(g, x)}</li>" for g in groups for x in g["expects"] if metric in x["values"]]
    return f'<ul class="verdicts">{"".join(items)}</ul>' if items else ""


def _verdict_rows(groups: list[dict], metrics: list[str]) -> list[list[str]]:
    """The expectations that read no metric (shown beside no chart), as table rows."""
    return [[e(_group_label(g)), f"<code>{e(x['text'])}</code>", '<span class="pass">✓</span>' if x["passed"]
             else '<span class="fail">✗</span>', e(x.get("error") or ", ".join(f"{k} = {_show(v)}" for k, v in x["values"].items()))]
            for g in groups for x in g["expects"] if not set(x["values"]) & set(metrics)]


# --- distributions, failures, providers, DAG ----------------------------------------------------------

def _distributions(data: dict) -> str:
    figs = []
    for d in data.get("distributions") or []:
        name = f"{d['step']}.{d['output']}"
        missing = f"; {d['missing']:,} with no {'finite number' if d['kind'] in ('number', 'integer') else 'value'}" \
            if d["missing"] else ""
        if d["kind"] in ("number", "integer"):
            svg = charts.histogram(f"{name}: distribution", d["bins"], integer=d["kind"] == "integer")
            caption = (f"{e(name)}: {d['units']:,} units, min {charts.number(d['min'])}, mean {charts.number(d['mean'])}, "
                       f"max {charts.number(d['max'])}{missing}" if d["units"] else f"{e(name)}: no unit has a number{missing}")
        else:
            rows = [(v["value"], v["count"], None) for v in d["values"]]
            if d["others"]:
                rows.append(("(other values)", d["others"], None))
            svg = charts.bars(f"{name}: units per value", rows)
            caption = f"{e(name)}: {d['units']:,} units{missing}"
        figs.append(_figure(f"dist:{name}", svg, caption))
    if not figs:
        return ""
    return f'<section id="distributions"><h2>Distributions of per-unit outputs</h2>{"".join(figs)}</section>'


def _failures(data: dict) -> str:
    failures, blocked = data["failures"], data.get("blocked", [])
    if not failures and not blocked:
        return '<section id="failures"><h2>Failures</h2><p class="note">no unit failed</p></section>'
    rows = []
    for f in failures:
        examples = [f"{e(x['unit'])}: {e(clip(example_detail(f, x['reason']), 300))}" for x in f["examples"]]
        if f["units"] > len(f["examples"]):
            examples.append(f"… and {f['units'] - len(f['examples']):,} more")
        rows.append([f"{f['units']:,}", e(f["step"]), e(f["kind"]), e(f["label"]), "<br>".join(examples)])
    parts = [_table(["units", "step", "kind", "failure", "examples"], rows, numeric={0})] if rows else []
    if blocked:
        parts.append("<p>Not run, as a step they read failed:</p>" + _table(
            ["units", "step", "failed step", "e.g."],
            [[f"{b['units']:,}", e(b["step"]), e(str(b["upstream"])), e(", ".join(b["examples"]))] for b in blocked],
            numeric={0}))
    return f'<section id="failures"><h2>Failures, by step, kind and rule</h2>{"".join(parts)}</section>'


def _providers(data: dict) -> str:
    tries = {t["step"]: t["units"] for t in data.get("tries") or []}
    parts = []
    for b in data.get("batches") or []:
        step = b["step"]
        parts.append(f"<h3>{e(step)}</h3>")
        if b["seconds"]:
            sec = b["seconds"]
            parts.append(_figure(f"latency:{step}", charts.histogram(f"{step}: batch latency, seconds", b["bins"]),
                                 f"{b['ended']:,} of {b['batches']:,} batches ended; submitted → ended: min "
                                 f"{sec['min']:,.3f} s, median {sec['median']:,.3f} s, max {sec['max']:,.3f} s"))
        else:
            parts.append(f'<p class="note">{b["batches"]:,} batches, none ended</p>')
        per = tries.get(step) or {}
        if per:
            rows = [(f"{n} {'request' if n == '1' else 'requests'}", units, None) for n, units in per.items()]
            parts.append(_figure(f"tries:{step}", charts.bars(f"{step}: units by requests sent", rows),
                                 "units by how many requests they took (retries and a judge's reruns included)"))
    if not parts:
        return ""
    return f'<section id="providers"><h2>Provider steps</h2>{"".join(parts)}</section>'


def _dag(data: dict) -> str:
    if not data.get("graph"):
        return ""
    return (f'<section id="dag"><h2>The plan</h2>{_figure("dag", dag_svg(data["graph"]), "steps in layers, data edges as arrows; a dashed frame is a loop, a dashed arrow its retry")}</section>')
