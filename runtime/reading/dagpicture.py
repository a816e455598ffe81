"""The plan's DAG as an SVG picture for the HTML report: layered top to bottom, a box per step with its kind
and counts, data edges as arrows, a judge's retry edge dashed back to the step it re-runs, and each loop's
steps inside a dashed frame that names it.

The layer of a step is the longest chain of data edges above it (runtime/reading/runfacts.py's ``graph``);
inside a layer steps keep the plan's order. Pipelines have a handful of steps, so a plain layered drawing
reads well and needs no layout library.
"""

from __future__ import annotations

from html import escape

from .svgcharts import svg_element

BOX_H, GAP_X, GAP_Y, PAD, CHAR = 50, 28, 56, 24, 6.6


def _lines(step: dict) -> list[str]:
    counts = step.get("counts")
    if counts is None:
        return [step["step"], step["kind"]]
    said = [f"{counts[k]:,} {k}" for k in ("done", "failed", "skipped", "blocked", "pending") if counts[k] or k == "done"]
    return [step["step"], f"{step['kind']} · " + ", ".join(said)]


def dag_svg(graph: dict) -> str:
    steps = graph["steps"]
    if not steps:
        return svg_element(200, 40, "the plan's steps", ['<text class="none" x="8" y="24">no steps</text>'])
    widths = {s["step"]: max(110.0, CHAR * max(len(t) for t in _lines(s)) + 20) for s in steps}
    pos = _layout(steps, graph.get("loops", ()), widths)
    width = max(x + widths[n] for n, (x, _) in pos.items()) + PAD
    height = max(y for _, y in pos.values()) + BOX_H + PAD + 8
    body = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" class="arrowhead"/></marker></defs>']
    body += _loops(graph.get("loops", ()), pos, widths)
    for e in graph["edges"]:
        if e["from"] in pos and e["to"] in pos:
            body.append(_edge(e, pos, widths))
    for s in steps:
        x, y = pos[s["step"]]
        first, second = _lines(s)
        body.append(f'<g class="node k-{escape(s["kind"])}"><rect x="{x:.1f}" y="{y:.1f}" width="{widths[s["step"]]:.1f}" '
                    f'height="{BOX_H}" rx="6"/><text class="name" x="{x + 10:.1f}" y="{y + 20:.1f}">{escape(first)}</text>'
                    f'<text class="tick" x="{x + 10:.1f}" y="{y + 38:.1f}">{escape(second)}</text></g>')
    return svg_element(width, height, "the plan's steps and what flows between them", body)


LEFT = PAD + 70  # room on the left for retry edges


def _layout(steps: list[dict], loops, widths: dict) -> dict[str, tuple[float, float]]:
    """Each box's top-left corner: layers top to bottom, left-aligned; a loop's steps first in their layers and
    the other steps of those layers right of the loop's frame, so that a frame holds only its own steps."""
    member = {n: i for i, lp in enumerate(loops) for n in lp["body"]}
    layers: dict[int, list[dict]] = {}
    for s in sorted(steps, key=lambda s: member.get(s["step"], len(member) + 1)):
        layers.setdefault(s["layer"], []).append(s)
    pos: dict[str, tuple[float, float]] = {}
    frame_right: dict[int, tuple[float, int, int]] = {}  # loop → (right edge, first layer, last layer)
    for k in sorted(layers):
        x = LEFT
        for s in (s for s in layers[k] if s["step"] in member):
            pos[s["step"]] = (x, PAD + 18 + k * (BOX_H + GAP_Y))
            right, lo, hi = frame_right.get(member[s["step"]], (0, k, k))
            frame_right[member[s["step"]]] = (max(right, x + widths[s["step"]] + 12), min(lo, k), max(hi, k))
            x += widths[s["step"]] + GAP_X
    for k in sorted(layers):
        inside = [r for r, lo, hi in frame_right.values() if lo <= k <= hi]
        x = max([LEFT, *(max(inside) + GAP_X for _ in inside[:1])] + [pos[s["step"]][0] + widths[s["step"]] + GAP_X
                                                                     for s in layers[k] if s["step"] in pos])
        for s in (s for s in layers[k] if s["step"] not in member):
            pos[s["step"]] = (x, PAD + 18 + k * (BOX_H + GAP_Y))
            x += widths[s["step"]] + GAP_X
    return pos


def _edge(e: dict, pos: dict, widths: dict) -> str:
    (ax, ay), (bx, by) = pos[e["from"]], pos[e["to"]]
    if e["kind"] == "retry":  # from the judge's left side back up to the step it re-runs, left of the loop's frame
        sx, sy, tx, ty = ax, ay + BOX_H / 2, bx, by + BOX_H / 2
        bend = min(sx, tx) - 70
        return (f'<path class="edge retry" d="M{sx:.1f} {sy:.1f}C{bend:.1f} {sy:.1f} {bend:.1f} {ty:.1f} {tx:.1f} {ty:.1f}" '
                f'marker-end="url(#arrow)"/><text class="tick" x="{min(sx, tx) - 56:.1f}" y="{(sy + ty) / 2 + 4:.1f}" '
                f'text-anchor="middle">retry</text>')
    sx, sy = ax + widths[e["from"]] / 2, ay + BOX_H
    tx, ty = bx + widths[e["to"]] / 2, by
    mid = (sy + ty) / 2
    return f'<path class="edge" d="M{sx:.1f} {sy:.1f}C{sx:.1f} {mid:.1f} {tx:.1f} {mid:.1f} {tx:.1f} {ty:.1f}" marker-end="url(#arrow)"/>'


def _loops(loops, pos: dict, widths: dict) -> list[str]:
    out = []
    for i, lp in enumerate(loops):
        body = [n for n in lp["body"] if n in pos]
        if not body:
            continue
        x0 = min(pos[n][0] for n in body) - 12 - 4 * i
        y0 = min(pos[n][1] for n in body) - 18 - 4 * i
        x1 = max(pos[n][0] + widths[n] for n in body) + 12 + 4 * i
        y1 = max(pos[n][1] for n in body) + BOX_H + 8 + 4 * i
        label = f"loop: {lp['verdict']} judges {lp['of']}" + (f", {lp['attempts']} attempts" if lp.get("attempts") else "")
        out.append(f'<g class="loop"><rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" rx="10"/>'
                   f'<text class="tick" x="{x0 + 8:.1f}" y="{y0 + 12:.1f}">{escape(label)}</text></g>')
    return out
