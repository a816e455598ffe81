"""The HTML report's charts, written as SVG text (docs/design.md, "The HTML report": why not a plotting library).

Each function returns one ``<svg>`` element: horizontal bars with an interval whisker (a metric by group, an
enum's values), a histogram (binned numbers), stacked bars (the funnel). Colours come from the page's
stylesheet by class, so a chart is a few hundred bytes per bar and the same data always give the same bytes.
Every text is escaped; a value that is not a finite number is drawn as no bar and labelled so.
"""

from __future__ import annotations

import math
from html import escape

ROW = 22          # a bar's row height
LABEL = 170       # the width of a row's label column
PLOT = 420        # the width of the plotted area
MOST_ROWS = 60    # rows drawn at most; the rest are counted in a line below


def finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def number(v) -> str:
    """A value as the page prints it: short (4 significant digits; thousands separated below a billion, powers
    of ten above); no value as —."""
    if not finite(v):
        return "—" if v is None else escape(str(v))
    if abs(v) >= 1e9:
        return f"{v:.4g}"
    if abs(v) >= 1e4 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.4g}"


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round ticks (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not (finite(low) and finite(high)) or high <= low:
        return [low] if finite(low) else [0.0]
    raw = (high - low) / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def svg_element(width: float, height: float, title: str, body: list[str]) -> str:
    return (f'<svg width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _clip(text: str, most: int = 24) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def bars(title: str, rows: list[tuple[str, object, tuple[float, float] | None]], share: bool = False) -> str:
    """Horizontal bars, a row per (label, value, interval or None); ``share``: the axis runs from 0 to 1."""
    shown = rows[:MOST_ROWS]
    values = [v for _, v, _ in shown if finite(v)] + [x for _, _, ci in shown if ci for x in ci if finite(x)]
    low, high = (0.0, 1.0) if share else (min([0.0, *values]), max([0.0, *values]))
    if high <= low:
        high = low + 1
    ticks = nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    x = lambda v: LABEL + (v - low) / (high - low) * PLOT  # noqa: E731
    height = ROW * len(shown) + 30 + (16 if len(rows) > len(shown) else 0)
    body = [f'<line class="axis" x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{ROW * len(shown) + 6}"/>']
    for i, (label, value, ci) in enumerate(shown):
        y = 6 + i * ROW
        body.append(f'<text class="label" x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(_clip(label))}</text>')
        if not finite(value):
            body.append(f'<text class="none" x="{x(0) + 4:.1f}" y="{y + 15}">{number(value) if value is not None else "no value"}</text>')
            continue
        left, right = sorted((x(0), x(value)))
        body.append(f'<rect class="bar" x="{left:.1f}" y="{y + 3}" width="{max(right - left, 1):.1f}" height="{ROW - 8}"/>')
        end = x(value)
        if ci and finite(ci[0]) and finite(ci[1]):
            a, b = x(ci[0]), x(ci[1])
            mid = y + ROW / 2 - 1
            body.append(f'<path class="ci" d="M{a:.1f} {mid - 5:.1f}v10M{a:.1f} {mid:.1f}H{b:.1f}M{b:.1f} {mid - 5:.1f}v10"/>')
            end = max(end, b)
        end = end if value >= 0 else max(end, x(0))  # a negative bar's value right of the zero line
        body.append(f'<text class="value" x="{end + 5:.1f}" y="{y + 15}">{number(value)}</text>')
    body += _x_axis(ticks, x, ROW * len(shown) + 6)
    if len(rows) > len(shown):
        body.append(f'<text class="none" x="{LABEL}" y="{height - 4}">… and {len(rows) - len(shown):,} more rows (in the table)</text>')
    return svg_element(LABEL + PLOT + 70, height, title, body)


def _x_axis(ticks: list[float], x, y: float) -> list[str]:
    out = [f'<line class="axis" x1="{x(ticks[0]):.1f}" y1="{y}" x2="{x(ticks[-1]):.1f}" y2="{y}"/>']
    for t in ticks:
        out.append(f'<line class="tick" x1="{x(t):.1f}" y1="{y}" x2="{x(t):.1f}" y2="{y + 4}"/>'
                   f'<text class="tick" x="{x(t):.1f}" y="{y + 16}" text-anchor="middle">{number(t)}</text>')
    return out


def histogram(title: str, bins: list[dict], integer: bool = False) -> str:
    """Vertical bars of ``[{"low", "high", "count"}]``; the x axis in the values' units, the y axis in units."""
    width, height, left, top, plot_h = PLOT + 90, 190, 60, 8, 140
    if not bins:
        return svg_element(width, 40, title, ['<text class="none" x="8" y="24">no finite number to draw</text>'])
    low, high = bins[0]["low"], bins[-1]["high"]
    if high <= low:
        high = low + 1
    most = max(b["count"] for b in bins) or 1
    x = lambda v: left + (v - low) / (high - low) * PLOT  # noqa: E731
    y = lambda c: top + plot_h - c / most * plot_h  # noqa: E731
    body = []
    for b in bins:
        if b["count"]:
            a, c = x(b["low"]), x(b["high"])
            body.append(f'<rect class="bar" x="{a:.1f}" y="{y(b["count"]):.1f}" width="{max(c - a - 1, 1):.1f}" '
                        f'height="{top + plot_h - y(b["count"]):.1f}"><title>{number(b["low"])} to {number(b["high"])}: '
                        f'{b["count"]:,}</title></rect>')
    ticks = [t for t in nice_ticks(low, high) if low <= t <= high and (not integer or float(t).is_integer())] or [low]
    body += _x_axis(ticks, x, top + plot_h)
    for c in (t for t in nice_ticks(0, most, 4) if float(t).is_integer()):  # counts of units: whole numbers
        body.append(f'<text class="tick" x="{left - 6}" y="{y(c) + 4:.1f}" text-anchor="end">{number(c)}</text>'
                    f'<line class="grid" x1="{left}" y1="{y(c):.1f}" x2="{left + PLOT}" y2="{y(c):.1f}"/>')
    return svg_element(width, height, title, body)


FUNNEL_STATES = ("done", "failed", "skipped", "blocked", "pending")


def funnel(title: str, rows: list[dict]) -> str:
    """A stacked bar per step: its units by state, the widest step's units the full width."""
    most = max([r["units"] for r in rows] + [1])
    body = []
    for i, r in enumerate(rows[:MOST_ROWS]):
        y = 6 + i * ROW
        body.append(f'<text class="label" x="{LABEL - 6}" y="{y + 15}" text-anchor="end">{escape(_clip(r["step"]))}</text>')
        at = float(LABEL)
        for state in FUNNEL_STATES:
            w = r[state] / most * PLOT
            if r[state]:
                body.append(f'<rect class="s-{state}" x="{at:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{ROW - 8}">'
                            f'<title>{escape(r["step"])}: {r[state]:,} {state}</title></rect>')
            at += w
        body.append(f'<text class="value" x="{at + 5:.1f}" y="{y + 15}">{r["units"]:,}</text>')
    legend_y = 6 + len(rows[:MOST_ROWS]) * ROW + 12
    for j, state in enumerate(FUNNEL_STATES):
        body.append(f'<rect class="s-{state}" x="{LABEL + j * 80}" y="{legend_y - 9}" width="10" height="10"/>'
                    f'<text class="tick" x="{LABEL + j * 80 + 14}" y="{legend_y}">{state}</text>')
    return svg_element(LABEL + PLOT + 80, legend_y + 8, title, body)
