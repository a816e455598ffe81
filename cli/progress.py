"""Live progress of a run: per step done / failed / pending, elapsed, rate.

On a terminal the table is redrawn in place; otherwise a plain line is printed
when a step's counts change, so logs stay readable.
"""

from __future__ import annotations

import time


class Progress:
    def __init__(self, engine, stream):
        self.engine = engine
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.drawn = 0
        self.last: dict[str, tuple] = {}
        self.first_seen: dict[str, tuple[float, int]] = {}
        self.final: dict[str, dict] = {}

    def rows(self) -> list[str]:
        total = self.engine.store.unit_count()
        out = []
        elapsed = time.monotonic() - self.start
        for step in self.engine.plan.steps:
            name = step["name"]
            kind = self.engine.language.kinds[step["kind"]]
            if not kind.per_unit:
                done = self.engine.store.get(f"aggregated:{name}") is not None
                out.append((name, f"{'done' if done else 'pending'} (aggregate)"))
                continue
            scopes = self.engine.scopes  # a step over a fan-out's children counts those (runtime/scopes.py)
            c = self.final.get(name) or scopes.counts(self.engine.store, name)
            units = scopes.unit_total(self.engine.store, scopes.scope[name]) if scopes.active else total
            if name not in self.final and self.engine.settled(name):
                self.final[name] = c  # a settled step's counts no longer change: count them once
            finished = sum(c.values())
            t0, n0 = self.first_seen.setdefault(name, (time.monotonic(), finished))
            rate = (finished - n0) / max(1e-9, time.monotonic() - t0)
            extra = f", {c['skipped']:,} skipped" if c["skipped"] else ""
            extra += f", {c['blocked']:,} blocked" if c["blocked"] else ""
            out.append((name, f"{c['done']:,} done, {c['failed']:,} failed{extra}, {units - finished:,} pending"
                              + (f", {rate:,.0f}/s" if finished > n0 else "")))
        return [f"  {n:<16} {text}" for n, text in out] + [f"  elapsed {elapsed:.1f}s"]

    def update(self) -> None:
        rows = self.rows()
        if self.tty:
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.stream.write("\n".join(rows) + "\n")
            self.drawn = len(rows)
        else:
            for row in rows[:-1]:
                key = row.split()[0]
                state = row.rsplit(", ", 1)[0] if row.endswith("/s") else row  # a new line when counts change
                if self.last.get(key) != state:
                    self.stream.write(row + "\n")
                    self.last[key] = state
        self.stream.flush()

    def finish(self) -> None:
        if not self.tty:
            self.stream.write(self.rows()[-1] + "\n")
        self.stream.flush()
