"""Progress in words: the plain line `octoc run` prints when stdout is not a terminal, and the
pieces (durations, money, ETAs) the live table shares with it. Never an escape code."""

from __future__ import annotations

from octo.runtime.reading.tally import StepTally, Tally


def plain_line(tally: Tally, elapsed: float, rates: dict[str, float], synthetic: bool) -> str:
    """One line for the whole run, e.g.
    ``progress 12s | draft 40/100 accepted, 2 failed, 50 in flight, 8 retrying, ETA 9s | summary pending | …``."""
    parts = [f"progress {duration(elapsed)}"] + [_step_words(s, rates.get(s.name)) for s in tally.steps]
    if tally.submitted:
        parts.append(f"batches {tally.submitted:,} submitted, {tally.ended:,} ended")
    if any(s.provider for s in tally.steps):
        parts.append("cost " + money(tally.cost, tally.list_cost, synthetic))
    return " | ".join(parts)


def _step_words(step: StepTally, rate: float | None) -> str:
    if step.aggregate:
        if step.groups is None:
            return f"{step.name} pending"
        return f"{step.name} done ({step.groups:,} group{'s' * (step.groups != 1)})"
    words = [f"{step.name} {step.accepted:,}/{step.units:,} accepted"]
    words += [f"{n:,} {what}" for n, what in ((step.failed, "failed"), (step.skipped, "skipped"),
                                               (step.in_flight, "in flight"), (step.retrying, "retrying")) if n]
    if step.children is not None:
        words.append(f"{step.children:,} child units")
    eta = step_eta(step, rate)
    if eta:
        words.append(f"ETA {eta}")
    return ", ".join(words)


def step_eta(step: StepTally, rate: float | None) -> str | None:
    """How long the step's remaining units take at its recent rate (None: complete, or no rate yet)."""
    remaining = step.units - step.finished
    if step.aggregate or remaining <= 0 or not rate:
        return None
    return duration(remaining / rate)


def duration(seconds: float) -> str:
    """``4.2s``, ``59s``, ``4m05s``, ``2h03m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def money(cost: float, list_cost: float, synthetic: bool) -> str:
    if synthetic:
        return f"$0 (emulator; ${list_cost:,.4f} at list prices)"
    return f"${cost:,.4f}"
