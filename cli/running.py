"""`octoc run`, `octoc tick` and `octoc status`: drive a run directory and read it.

Driving a run (creating it, resuming it, ticking it) holds the run's lock
(runtime/rundirs/runlock.py) from before anything is read to the end. The heavy parts
of octoc are imported only once the lock is held, so a second process on the
same run is refused at once. Storage errors (a full disk, an I/O error, a
damaged store) become messages that say what to do (runtime/rundirs/diskerrors.py).

Each driving process records in the store when it begins and how it ends
(runtime/rundirs/liveness.py), which `status` and `runs` read; its exit code says the
same (cli/exitcodes.py). Ctrl-C, SIGTERM, SIGHUP and a closed stdout stop it
cleanly (cli/stopping.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from octo.cli.exitcodes import INTERRUPTED, PROVIDER, STUCK, USAGE, WAITING
from octo.cli.stopping import CLOSED_STDOUT, StopFlag as _StopFlag, guarded_stdout
from octo.runtime.rundirs.diskerrors import storage_errors
from octo.runtime.rundirs.rundir import CreationStopped
from octo.runtime.rundirs.runlock import run_lock


def run_file(path: str, run_dir: str | None, colour: bool, settings: dict | None = None,
             provider: str | None = None) -> int:
    from octo.cli.planning import _print_diagnostics
    from octo.cli.runflags import use_key_file
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.runtime.rundirs.rundir import default_run_dir, snapshot_targets
    from octo.runtime.session import check_keys, providers_needed
    from octo.stdlib import default_language

    settings = settings or {}
    language = default_language()
    result = check_file(path, language)
    if not result.ok or result.program is None:
        return _print_diagnostics(result.diagnostics, [path], "text", colour)
    reporter = Reporter()
    plan = build_plan(result.program, language, reporter, provider=provider, max_units=settings.get("max_units"),
                      run_root=Path(run_dir) if run_dir else None)  # its free space must hold the run (E0506)
    if reporter.has_errors():
        return _print_diagnostics(reporter.sorted(), [path], "text", colour)
    if not answers_fit(settings.get("answers"), plan):  # before anything is created
        return USAGE
    if providers_needed(plan):
        use_key_file(path, settings)  # keys may come from a .env next to the pipeline
    missing = check_keys(plan, settings)
    if missing:  # before anything is created or sent
        for message in missing:
            sys.stderr.write(f"octoc: error: {message}\n")
        return USAGE
    snapshot_targets(plan)  # a data path that would be copied outside the run is refused before anything is made
    target = Path(run_dir) if run_dir else default_run_dir(plan)
    stop = _StopFlag().install()
    try:  # a RunDirError (a directory in use, not empty, a full disk) is reported by octoc's main
        with guarded_stdout(stop), storage_errors(target, restart=f"octoc run {path} --run-dir {target}"), \
                run_lock(target, new=True):
            return _create_and_drive(plan, target, settings, stop, colour)
    finally:
        stop.restore()


def answers_fit(path: str | None, plan) -> bool:
    """Does the answers file of `--answers` fit the run's plan? Each problem said on stderr, placed in the file."""
    if not path:
        return True
    from octo.runtime.answersfile import AnswersFileError, load_answers

    try:
        load_answers(path, plan)
        return True
    except AnswersFileError as err:
        for problem in err.problems:
            sys.stderr.write(f"octoc: error: {problem}\n")
        return False


def _create_and_drive(plan, target: Path, settings: dict, stop: "_StopFlag", colour: bool | None = None) -> int:
    from octo.cli.runflags import smoke_run_note
    from octo.runtime.headstart import head_start
    from octo.runtime.rundirs.rundir import create_run

    sys.stdout.write(f"run directory: {target}\n")
    if settings.get("emulator"):
        sys.stdout.write("provider: the built-in emulator — outputs are synthetic and cost $0\n")
    sys.stdout.write(smoke_run_note(plan))
    sys.stdout.flush()
    head = head_start(plan)  # workers compute the first chunks while the units are stored
    try:
        try:
            create_run(plan, target, settings, should_stop=stop, claimed=True, on_units=head and head.feed)
        except (CreationStopped, KeyboardInterrupt):  # KeyboardInterrupt: a second Ctrl-C
            return _stopped_creating(target, stop)
        return drive(target, stop=stop, colour=colour, head_start=head)
    finally:
        if head is not None:
            head.close()  # a no-op once the engine took its workers


def _stopped_creating(run_dir: Path, stop: _StopFlag) -> int:
    from octo.runtime.rundirs.rundir import PLAN_FILE

    if not (run_dir / PLAN_FILE).exists():  # stopped before there was anything to resume: nothing was kept
        _say(stop, "stopped before the run was created; nothing was kept\n")
    else:
        _say(stop, f"stopped while creating the run (no unit has run yet). "
                   f"Resume with: octoc run --resume {run_dir}\n")
    return INTERRUPTED


def _say(stop: _StopFlag, text: str) -> None:
    """A stop's message: on stdout, unless a closed stdout is what stopped the run."""
    (sys.stderr if stop.reason == CLOSED_STDOUT else sys.stdout).write(text)


def drive(run_dir: Path, changes: dict | None = None, stop: "_StopFlag | None" = None, announce: str = "",
          colour: bool | None = None, head_start=None) -> int:
    """Tick until done, waiting or stopped; print progress; say how to resume. ``announce`` is printed once
    the run is open and ``changes`` are stored in it (what a resume's flags changed, cli/resumeflags.py);
    ``head_start``: a new run's chunks computed while it was created (runtime/headstart.py)."""
    stop = (stop or _StopFlag()).install()
    try:
        with guarded_stdout(stop), storage_errors(run_dir), run_lock(run_dir):
            from octo.runtime.session import open_engine

            from .progress import Progress

            try:
                with open_engine(run_dir, changes, should_stop=stop) as engine:
                    if head_start is not None:
                        engine.adopt_head_start(head_start)
                    sys.stdout.write(announce)
                    with Progress(engine, sys.stdout, colour) as progress:  # closed however the run ends
                        return _session(engine, lambda: _drive(engine, run_dir, stop, progress))
            except CreationStopped:
                return _stopped_creating(run_dir, stop)
    finally:
        stop.restore()


def _session(engine, body) -> int:
    """Run ``body`` as one session of the run: recorded when it begins; an escaping error or second
    Ctrl-C recorded as its end (``body`` records every other end itself)."""
    from octo.runtime.rundirs import liveness

    liveness.begin(engine.store)
    try:
        return body()
    except KeyboardInterrupt:
        _end(engine, "stopped", "a second Ctrl-C")
        raise
    except Exception as err:
        _end(engine, "error", f"{type(err).__name__}: {err}")
        raise


def _end(engine, how: str, message: str | None = None) -> None:
    """Record how the session ended. Best effort: a full disk that stopped the run may refuse this too
    (the run then reads as interrupted, which is true enough: it resumes the same)."""
    from octo.runtime.rundirs import liveness

    try:
        liveness.end(engine.store, how, message)
    except Exception:
        pass


def _finished(engine, run_dir: Path, stop: _StopFlag) -> int:
    """The run is done: record it, show the report, exit with its verdict."""
    from octo.runtime.attempts.inputfiles import finish

    from .verdicts import finished_code

    _end(engine, "finished")
    _show_report(run_dir)
    sys.stdout.write(f"done. Results: octoc results {run_dir}   Report: octoc report {run_dir}\n")
    sys.stdout.write(finish(engine))  # uploaded batch files that could not be deleted, if any
    if engine.store.db.execute("SELECT 1 FROM results WHERE state = 'failed' LIMIT 1").fetchone():
        sys.stdout.write(f"Some units failed. To ask them again: octoc retry {run_dir}   After editing a rule, to "
                         f"check the answers already bought: octoc revalidate {run_dir} FILE\n")
    if stop.reason == CLOSED_STDOUT:
        sys.stderr.write(f"octoc: the run finished, but its standard output was closed: octoc report {run_dir}\n")
    return finished_code(engine.store)


def _stopped(engine, run_dir: Path, stop: _StopFlag) -> int:
    _end(engine, "stopped", stop.reason)
    _say(stop, f"stopped ({stop.reason}). Resume with: octoc run --resume {run_dir}\n")
    return INTERRUPTED


def _drive(engine, run_dir: Path, stop: "_StopFlag", progress) -> int:
    from octo.runtime.attempts.stop import ProviderStop

    idle = 0.0
    while True:
        try:
            result = engine.tick(should_stop=stop, deadline=time.monotonic() + 0.5)
        except ProviderStop as err:
            progress.finish()
            _end(engine, "provider", str(err))
            sys.stderr.write(f"octoc: stopped: {err}\nNothing is lost. Fix it, then resume with: "
                             f"octoc run --resume {run_dir}\n")
            return PROVIDER
        progress.update()
        if result.finished:  # done, even if a stop came in the same moment
            progress.finish()
            return _finished(engine, run_dir, stop)
        if stop():
            progress.finish()
            return _stopped(engine, run_dir, stop)
        if result.stuck:  # it would wait forever (runtime/work/stuck.py)
            from octo.runtime.work.stuck import stuck_message

            progress.finish()
            _end(engine, "stuck", "; ".join(result.stuck))
            sys.stderr.write(stuck_message(result.stuck, run_dir))
            return STUCK
        outage = _outage(engine, run_dir)
        if outage:
            progress.finish()
            _end(engine, "provider", outage)
            return PROVIDER
        idle = _wait(engine, result, idle, stop, progress.update)


def _show_report(run_dir: Path) -> None:
    from octo.runtime.reading.report import render_report, report

    sys.stdout.write("\n" + render_report(report(run_dir)) + "\n")


def _outage(engine, run_dir: Path) -> str | None:
    """Has a provider been failing for longer than the run is willing to wait? Then say so and stop (the reason)."""
    limit = engine.dispatch_options.outage_timeout if engine.dispatch_options else 600.0
    for provider, (since, message) in engine.provider_trouble().items():
        if time.time() - since >= limit:
            reason = f"{provider} has been failing for {time.time() - since:.0f}s: {message}"
            sys.stderr.write(f"octoc: {reason}\nNothing is lost. Resume when it is back: octoc run --resume {run_dir}\n")
            return reason
    return None


def _wait(engine, result, idle: float, stop, on_nap=lambda: None) -> float:
    """Nothing moved: the provider is working on our batches. Sleep (in short naps, for Ctrl-C), polling less often as time passes."""
    if result.processed:
        return 0.0
    interval = engine.dispatch_options.poll_interval if engine.dispatch_options else 1.0
    idle = min(max(idle * 1.5, interval), max(interval, 60.0))
    until = time.monotonic() + idle
    while time.monotonic() < until and not stop():
        time.sleep(min(0.1, idle))
        on_nap()  # the progress display's clock and ETAs go on (it reads the store only when it changed)
    return idle


def tick_once(run_dir: str) -> int:
    """One tick: OK, UNITS_FAILED or EXPECT_FAILED once the run is done, WAITING while it is not."""
    stop = _StopFlag().install()
    try:
        with guarded_stdout(stop), storage_errors(Path(run_dir)), run_lock(Path(run_dir)):
            from octo.runtime.session import open_engine

            try:
                with open_engine(Path(run_dir), should_stop=stop) as engine:
                    return _session(engine, lambda: _tick(engine, Path(run_dir), stop))
            except CreationStopped:
                return _stopped_creating(Path(run_dir), stop)
    finally:
        stop.restore()


def _tick(engine, run_dir: Path, stop: _StopFlag) -> int:
    from octo.runtime.attempts.stop import ProviderStop

    from .verdicts import finished_code

    try:
        result = engine.tick(should_stop=stop)
    except ProviderStop as err:
        _end(engine, "provider", str(err))
        sys.stderr.write(f"octoc: stopped: {err}\nNothing is lost; fix it and tick again.\n")
        return PROVIDER
    if result.finished:
        from octo.runtime.attempts.inputfiles import finish

        _end(engine, "finished")
        sys.stdout.write(f"tick: {result.processed:,} things done; done\n")
        sys.stdout.write(finish(engine))
        return finished_code(engine.store)
    if stop():
        _end(engine, "stopped", stop.reason)
        _say(stop, f"tick stopped ({stop.reason}); tick again: octoc tick {run_dir}\n")
        return INTERRUPTED
    if result.stuck:
        from octo.runtime.work.stuck import stuck_message

        _end(engine, "stuck", "; ".join(result.stuck))
        sys.stderr.write(stuck_message(result.stuck, run_dir))
        return STUCK
    state = "waiting for " + ", ".join(result.waiting) if result.waiting else "more to do"
    _end(engine, "waiting", state)
    sys.stdout.write(f"tick: {result.processed:,} things done; {state}\n")
    return WAITING


def status(run_dir: str, fmt: str) -> int:
    """Read the run (read-only, without its lock: a run can be watched while it runs)."""
    from octo.runtime.reading.status import render_status, run_status
    from octo.runtime.base.strictjson import dumps

    with storage_errors(Path(run_dir), reading=True):
        data = run_status(Path(run_dir))
    sys.stdout.write(dumps(data, indent=2) + "\n" if fmt == "json" else render_status(data))
    return 0
