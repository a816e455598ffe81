"""The live progress table of `octoc run` on a terminal: one table, redrawn in place (rich).

Imported only when stdout is a terminal, so no other command pays for importing rich. What each
column means is runtime/reading/tally.py's (and docs/run.md's); this module only lays it out.
"""

from __future__ import annotations

import os
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from octo.runtime.reading.tally import Tally

from .progresstext import duration, money, step_eta

COLUMNS = ("step", "units", "accepted", "failed", "skipped", "in flight", "retrying", "answers", "batches", "cost",
           "ETA")


SPARE = ("skipped", "answers", "batches")  # left out, in this order, when the terminal is too narrow (skipped: if none)


class LiveTable:
    interval = 0.5  # seconds between two redraws at most: the eye sees no more, the run pays nothing for it

    def __init__(self, stream, colour: bool, synthetic: bool):
        self.synthetic = synthetic
        self.console = Console(file=stream, force_terminal=True, color_system="auto" if colour else None,
                               no_color=not colour, highlight=False)
        # text written to stdout (or to stderr on the same terminal) while the table is up goes above it
        self.live = Live(console=self.console, auto_refresh=False, redirect_stdout=True,
                         redirect_stderr=_is_terminal(2), vertical_overflow="ellipsis")
        self.live.start()
        self.next_draw = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_draw

    def show(self, tally: Tally, elapsed: float, rates: dict[str, float], final: bool = False) -> None:
        began = time.monotonic()
        self.live.update(self._table(tally, elapsed, rates), refresh=True)
        spent = time.monotonic() - began  # a slow terminal is drawn on less often: at most 5% of the time
        self.next_draw = began + max(self.interval, spent / 0.05)

    def close(self) -> None:
        self.live.stop()

    def _table(self, tally: Tally, elapsed: float, rates: dict[str, float]) -> Text:
        """The table as styled text, its columns laid out here: rich's Table takes 50 times longer to draw."""
        providers = any(s.provider for s in tally.steps)
        columns = [c for c in COLUMNS if providers or c not in ("answers", "batches", "cost")]
        headers = {c: "list price" if c == "cost" and self.synthetic else c for c in columns}
        rows = [_cells(step, rates.get(step.name), self.synthetic) for step in tally.steps]
        widths = {c: max([len(headers[c])] + [len(row.get(c, "")) for row in rows]) for c in columns}
        spare = [c for c in SPARE if c in widths and (c != "skipped" or not any(s.skipped for s in tally.steps))]
        while spare and sum(widths.values()) + 2 * (len(widths) - 1) > self.console.width:
            del widths[spare.pop(0)]  # a narrow terminal: the columns it can best do without go first
        columns = list(widths)
        text = Text(no_wrap=True, overflow="crop")
        text.append(_line({c: headers[c] for c in columns}, widths), style="bold")
        for row in rows:
            text.append("\n")
            for n, c in enumerate(columns):
                cell = row.get(c, "")
                text.append(("" if n == 0 else "  ") + (cell.ljust if n == 0 else cell.rjust)(widths[c]),
                            style=_style(c, cell, row))
        text.append("\n" + self._caption(tally, elapsed))
        return text

    def _caption(self, tally: Tally, elapsed: float) -> str:
        parts = [f"elapsed {duration(elapsed)}"]
        if tally.submitted:
            parts.append(f"batches {tally.submitted:,} submitted, {tally.ended:,} ended")
        if any(s.provider for s in tally.steps):
            parts.append("cost " + money(tally.cost, tally.list_cost, self.synthetic))
        return "  ·  ".join(parts)


def _line(cells: dict[str, str], widths: dict[str, int]) -> str:
    return "  ".join(cells[c].ljust(widths[c]) if n == 0 else cells[c].rjust(widths[c]) for n, c in enumerate(widths))


def _style(column: str, cell: str, row: dict[str, str]) -> str:
    """Colour where it helps the eye: what failed, what is retried, what is at work, what is complete."""
    if not cell.strip() or cell.strip() == "0":
        return ""
    return {"failed": "red", "retrying": "yellow", "in flight": "cyan"}.get(column) or \
        ("green" if column == "accepted" and row.get("complete") else "")


def _cells(step, rate: float | None, synthetic: bool) -> dict[str, str]:
    if step.aggregate:
        done = step.groups is not None
        return {"step": step.name, "units": f"{step.groups:,} group{'s' * (step.groups != 1)}" if done else "",
                "accepted": "done" if done else "pending", "complete": "yes" if done else ""}
    cells = {
        "step": step.name,
        "units": f"{step.units:,}" + (f" → {step.children:,}" if step.children is not None else ""),
        "accepted": f"{step.accepted:,}",
        "failed": f"{step.failed:,}",
        "skipped": f"{step.skipped:,}",
        "in flight": f"{step.in_flight:,}",
        "retrying": f"{step.retrying:,}",
        "ETA": step_eta(step, rate) or "",
        "complete": "yes" if step.complete else "",
    }
    if step.provider:
        cells["answers"] = f"{step.answers:,}"
        cells["batches"] = f"{step.ended:,}/{step.submitted:,} ended" if step.submitted else ""
        cells["cost"] = f"${step.list_cost if synthetic else step.cost:,.4f}"
    return cells


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
