"""`octoc run`, `octoc tick` and `octoc status`: drive a run directory and read it."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from octo.cli.planning import _print_diagnostics
from octo.compiler.check import check_file
from octo.compiler.diagnostics import Reporter
from octo.compiler.planner import build_plan
from octo.runtime.engine import Engine
from octo.runtime.rundir import create_run, default_run_dir
from octo.stdlib import default_language

from .progress import Progress


class _StopFlag:
    """Ctrl-C sets the flag; the engine stops between chunks (well within a second)."""

    def __init__(self):
        self.set = False

    def __call__(self) -> bool:
        return self.set

    def install(self):
        def handler(signum, frame):
            if self.set:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.set = True

        return signal.signal(signal.SIGINT, handler)


def run_file(path: str, run_dir: str | None, colour: bool) -> int:
    language = default_language()
    result = check_file(path, language)
    if not result.ok or result.program is None:
        return _print_diagnostics(result.diagnostics, [path], "text", colour)
    reporter = Reporter()
    plan = build_plan(result.program, language, reporter)
    if reporter.has_errors():
        return _print_diagnostics(reporter.sorted(), [path], "text", colour)
    target = Path(run_dir) if run_dir else default_run_dir(plan)
    create_run(plan, target)  # a RunDirError is reported by octoc's main
    sys.stdout.write(f"run directory: {target}\n")
    return drive(target)


def drive(run_dir: Path) -> int:
    """Tick until done, waiting or stopped; print progress; say how to resume."""
    engine = Engine(run_dir)
    stop = _StopFlag()
    previous = stop.install()
    progress = Progress(engine, sys.stdout)
    try:
        while True:
            result = engine.tick(should_stop=stop, deadline=time.monotonic() + 0.5)
            progress.update()
            if stop():
                progress.finish()
                sys.stdout.write(f"stopped. Resume with: octoc run --resume {run_dir}\n")
                return 130
            if result.finished:
                progress.finish()
                sys.stdout.write(f"done. Results: octoc report {run_dir}\n")
                return 0
            if result.processed == 0 and result.waiting:
                progress.finish()
                sys.stdout.write(
                    f"waiting: steps {', '.join(result.waiting)} call a model, and provider execution is not part "
                    f"of this octoc yet; every local step that could run has run.\n"
                    f"Resume later with: octoc run --resume {run_dir}\n")
                return 4
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.close()


def tick_once(run_dir: str) -> int:
    engine = Engine(Path(run_dir))
    try:
        result = engine.tick()
        state = "done" if result.finished else ("waiting for " + ", ".join(result.waiting) if result.waiting else "in progress")
        sys.stdout.write(f"tick: {result.processed:,} units processed; {state}\n")
        return 0
    finally:
        engine.close()


def status(run_dir: str, fmt: str) -> int:
    from octo.runtime.status import run_status

    data = run_status(Path(run_dir))
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return 0
    from octo.runtime.status import render_status

    sys.stdout.write(render_status(data))
    return 0
