"""`octoc`: the command line.

Exit codes: see cli/exitcodes.py (and docs/cli.md), one meaning each.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Sequence

from octo import __version__
from octo.cli import exitcodes

# Older names, kept for modules that import them.
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = exitcodes.OK, exitcodes.ERRORS, exitcodes.USAGE, exitcodes.INTERNAL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage problems exit 2 with a one-line message
        self.print_usage(sys.stderr)
        sys.stderr.write(f"octoc: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only`` a known command's name, of that one alone (a
    command's parser takes a few hundred microseconds to build; `octoc check` is meant to start fast)."""
    parser = _Parser(prog="octoc", description="Compile, plan and run .octo pipelines.")
    parser.add_argument("--version", action="version", version=f"octoc {__version__}")
    sub = _Subcommands(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser), only)
    check = sub.add_parser("check", help="report every problem in .octo files")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    check.add_argument("--models", metavar="FILE", help="a JSON model-capability table put in front of the built-in one")
    plan = sub.add_parser("plan", help="preview units, requests, tokens and cost per step; nothing is sent")
    plan.add_argument("file", metavar="FILE")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--graph", choices=("dot", "mermaid"), help="print the step graph in this format instead")
    plan.add_argument("--provider", metavar="P", help="run every provider step on P: a provider (its default model) or provider:model")
    plan.add_argument("--prices", metavar="FILE", help="a JSON price table merged over the built-in one")
    plan.add_argument("--models", metavar="FILE", help="a JSON model-capability table put in front of the built-in one")
    plan.add_argument("--max-units", type=_whole(1, 100_000_000), metavar="N",
                      help="plan only the first N selected units (what `run --max-units N` would run)")
    plan.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    run = sub.add_parser("run", help="run a pipeline to the end (or resume a run directory)")
    run.add_argument("file", metavar="FILE", nargs="?")
    run.add_argument("--resume", metavar="DIR", help="continue a stopped or killed run")
    run.add_argument("--run-dir", metavar="DIR", help="where to put the run (default runs/NAME-TIMESTAMP)")
    run.add_argument("--provider", metavar="P",
                     help="'emulator': run every step on the built-in emulator ($0, synthetic outputs); "
                          "or a provider / provider:model to run every provider step on")
    run.add_argument("--faults", metavar="SPEC", help="with --provider emulator: inject faults (see octoc emulator --help)")
    run.add_argument("--answers", metavar="FILE",
                     help="with --provider emulator: scripted answers per step, from a YAML file (kept on resume)")
    run.add_argument("--max-units", type=_whole(1, 100_000_000), metavar="N",
                     help="a smoke run: only the first N selected units (kept on resume)")
    run.add_argument("--mode", choices=("batch", "realtime"), help="send every provider step this way")
    run.add_argument("--batch-size", type=_whole(1, 1_000_000), metavar="N", help="at most N requests per batch")
    run.add_argument("--max-in-flight", type=_whole(1, 1000), metavar="N",
                     help="at most N batches per provider at once (8)")
    run.add_argument("--concurrency", type=_whole(1, 1000), metavar="N", help="realtime calls at once (8)")
    run.add_argument("--poll-interval", type=_finite(0, 86_400), metavar="S", help="seconds between polls of a batch (30)")
    run.add_argument("--max-usd", type=_finite(0, 1_000_000_000), metavar="AMOUNT",
                     help="stop sending once this much is spent (overrides budget.max_usd; also on --resume)")
    run.add_argument("--outage-timeout", type=_finite(1, 604_800), metavar="S",
                     help="stop (resumable) when a provider has failed for S seconds in a row (600)")
    run.add_argument("--max-enqueued", metavar="SPEC",
                     help="bound what the run has queued at each provider, e.g. openai=90000,anthropic=50000: "
                          "input tokens per model (openai, gemini), requests (anthropic); defaults: tier-1 limits")
    run.add_argument("--keep-files", action="store_true", default=None,
                     help="keep batches' files at the providers (deleted once each batch is over)")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    tick = sub.add_parser("tick", help="do one tick of a run and exit (for cron)")
    tick.add_argument("run_dir", metavar="DIR")
    retry = sub.add_parser("retry", help="put a run's failed units back, with fresh tries, and go on with the run")
    retry.add_argument("run_dir", metavar="DIR")
    retry.add_argument("--step", metavar="S", help="only the units that failed at step S")
    retry.add_argument("--reason", metavar="TEXT", help="only the units whose failure's reason contains TEXT")
    revalidate = sub.add_parser("revalidate", help="check the answers a run has bought against its rules (or those of "
                                                   "FILE, an edited copy of its pipeline), calling no provider, and go "
                                                   "on with the run")
    revalidate.add_argument("run_dir", metavar="DIR")
    revalidate.add_argument("file", metavar="FILE", nargs="?")
    revalidate.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    status = sub.add_parser("status", help="the run's state (running, stopped, interrupted, waiting, stuck, done), "
                                           "units per step and state, elapsed, cost so far")
    status.add_argument("run_dir", metavar="DIR")
    status.add_argument("--format", choices=("text", "json"), default="text")
    runs = sub.add_parser("runs", help="the runs under DIR (runs/): state, units, failed, cost, age")
    runs.add_argument("dir", metavar="DIR", nargs="?", default="runs")
    runs.add_argument("--format", choices=("text", "json"), default="text")
    results = sub.add_parser("results", help="per-unit outputs of a run, to stdout")
    results.add_argument("run_dir", metavar="DIR")
    results.add_argument("--step", metavar="S")
    results.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    results.add_argument("--export", metavar="PATH", nargs="?", const="",
                         help="write the rows of the pipeline's `export` to PATH (.jsonl or .csv; default: its `file:` "
                              "in DIR) instead of printing every unit")
    results.add_argument("--all-units", action="store_true",
                         help="with --export: also rows of units that failed, are pending or were skipped")
    report = sub.add_parser("report", help="aggregates per group, expectations, failures grouped by kind and rule")
    report.add_argument("run_dir", metavar="DIR")
    report.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    report.add_argument("--html", metavar="FILE",
                        help="write the report as one self-contained HTML page with charts to FILE instead of printing it")
    report.add_argument("--open", action="store_true",
                        help="write the HTML report (to DIR/report.html unless --html says where) and open it in a browser")
    show = sub.add_parser("show", help="one unit: each step's result, each attempt's prompts, answer, checks, "
                                       "decision, tokens and cost")
    show.add_argument("run_dir", metavar="DIR")
    show.add_argument("unit", metavar="UNIT", help="a unit id (a fan-out's child id too), as `octoc results` lists them")
    show.add_argument("--step", metavar="S", help="only this step")
    show.add_argument("--format", choices=("text", "json"), default="text")
    emulator = sub.add_parser("emulator", help="serve the OpenAI, Anthropic and Gemini emulator on 127.0.0.1",
                              description="A local server speaking the batch and realtime APIs of OpenAI, Anthropic "
                                          "and Gemini, answering with synthetic outputs. Faults: " + _FAULTS_HELP)
    emulator.add_argument("--port", type=_whole(0, 65_535), default=8765, help="0 picks a free port (8765)")
    emulator.add_argument("--seed", type=_whole(-2 ** 63, 2 ** 63 - 1), default=0)
    emulator.add_argument("--faults", metavar="SPEC", help="e.g. errored=0.05,malformed=0.05,expire=1,submit_429=2")
    schema = sub.add_parser("schema", help="print the JSON Schema of .octo files (for editors)")
    schema.add_argument("--indent", type=_whole(0, 16), default=2)
    return parser


class _Subcommands:
    """``add_subparsers()``'s ``add_parser``, building only the command ``only`` (all when None)."""

    def __init__(self, subparsers, only: str | None):
        self.subparsers, self.only = subparsers, only

    def add_parser(self, name: str, **kwargs):
        if self.only is None or name == self.only:
            return self.subparsers.add_parser(name, **kwargs)
        return _NotBuilt()


class _NotBuilt:
    """The stand-in for the parser of a command this invocation does not run: its arguments are dropped."""

    def add_argument(self, *args, **kwargs) -> None:
        pass


def _command_named(argv: Sequence[str]) -> str | None:
    """The command when the arguments start with a known one's name; None otherwise (`--help`, a typo:
    the full parser answers those, listing every command)."""
    return argv[0] if argv and argv[0] in _COMMANDS else None


_FAULTS_HELP = ("errored, malformed, invalid (fractions of requests); expire, fail (first N batches); slow (polls "
                "per batch); submit_429, submit_5xx, poll_429, poll_5xx, call_429, call_5xx (first N calls)")


# Every numeric flag is range-checked where it is parsed: a value out of range (or NaN, or
# an infinity) is a usage error, exit 2, that names the flag and its range.

def _whole(lo: int, hi: int):
    """An argparse type: a whole number from lo to hi."""
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number from {lo} to {hi}, not '{text}'") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected a whole number from {lo} to {hi}, not {value}")
        return value
    return whole


def _finite(lo: float, hi: float):
    """An argparse type: a number from lo to hi (NaN and infinities are refused)."""
    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:  # NaN fails every comparison
            raise argparse.ArgumentTypeError(f"expected a number from {_plain(lo)} to {_plain(hi)}, not '{text}'")
        return value
    return number


def _plain(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


def _bad_cpu_setting() -> bool:
    """Whether OCTO_CPU_SECONDS (read by the evaluator) is set to something it cannot use; says so."""
    from octo.compiler.expressions.cpuclock import ENV, cpu_seconds

    try:
        cpu_seconds(os.environ.get(ENV))
    except ValueError as err:
        sys.stderr.write(f"octoc: error: {err}\n")
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_named(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("octoc: interrupted\n")
        return exitcodes.INTERRUPTED
    except BrokenPipeError:  # a reader of the output that stopped reading (`| head`)
        if args.command in ("run", "tick"):  # a run is left unfinished: never a silent 0 (docs/cli.md#exit-codes)
            sys.stderr.write("octoc: stopped: its standard output was closed\n")
            return exitcodes.INTERRUPTED
        return EXIT_OK
    except Exception as err:  # a bug in octoc: one line, never a traceback
        message = _user_problem(err, args)
        if message is not None:  # a missing, busy or damaged run directory, a full disk: the user's to fix
            sys.stderr.write(f"octoc: error: {message}\n")
            return EXIT_USAGE
        sys.stderr.write(f"octoc: internal error ({type(err).__name__}: {err}); please report it "
                         "with the file that caused it\n")
        return EXIT_INTERNAL


def _user_problem(err: Exception, args) -> str | None:
    """The message for an error that is not a bug in octoc (None: it is one)."""
    from pathlib import Path

    from octo.runtime.rundirs.diskerrors import describe
    from octo.runtime.rundirs.rundir import RunDirError

    if isinstance(err, RunDirError):
        return str(err)
    run_dir = getattr(args, "resume", None) or getattr(args, "run_dir", None)  # storage errors no command caught
    return describe(err, Path(run_dir) if run_dir else None, reading=args.command in ("status", "results", "report", "runs"))


def _use_colour(choice: str, stream) -> bool:
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def cmd_check(args) -> int:
    from octo.cli.checking import check_files

    return check_files(args.files, args.format, _use_colour(args.color, sys.stdout), args.models)


def cmd_plan(args) -> int:
    from octo.cli.planning import plan_file

    if _bad_flags(args) or _bad_cpu_setting():  # the planner evaluates `where` and `when`
        return EXIT_USAGE
    return plan_file(args.file, args.format, args.graph, args.provider, args.prices, _use_colour(args.color, sys.stdout),
                     max_units=args.max_units, models_path=args.models)


def cmd_run(args) -> int:
    from pathlib import Path

    from octo.cli.running import drive, run_file

    if _bad_cpu_setting():
        return EXIT_USAGE
    if args.resume and args.file:
        sys.stderr.write("octoc: error: give a FILE to start a run, or --resume DIR to continue one, not both\n")
        return EXIT_USAGE
    if args.resume:
        resume = _resume_flags(args)  # each flag given with --resume is taken and recorded, or refused
        return EXIT_USAGE if resume is None else drive(Path(args.resume), resume.changes, announce=resume.announcement(),
                                                       colour=_use_colour(args.color, sys.stdout))
    if not args.file:
        sys.stderr.write("octoc: error: octoc run needs a FILE (or --resume DIR)\n")
        return EXIT_USAGE
    settings, provider = _run_settings(args)
    if settings is None:
        return EXIT_USAGE
    return run_file(args.file, args.run_dir, _use_colour(args.color, sys.stdout), settings, provider)


def _run_settings(args) -> tuple[dict | None, str | None]:
    """The run's settings from the command line (stored in the run, reused on resume), checked before
    anything is read or created (cli/runflags.py); (None, None) after saying what is wrong."""
    from octo.cli.runflags import FlagError, new_run_settings
    from octo.stdlib import default_language

    try:
        settings, provider, warnings = new_run_settings(args, default_language())
    except FlagError as err:
        sys.stderr.write(f"octoc: error: {err}\n")
        return None, None
    for warning in warnings:
        sys.stderr.write(f"octoc: warning: {warning}\n")
    return settings, provider


def _resume_flags(args):
    """What the flags given with --resume change in the run (cli/resumeflags.py); None after saying why not."""
    from pathlib import Path

    from octo.cli.resumeflags import resume_flags
    from octo.cli.runflags import FlagError
    from octo.stdlib import default_language

    try:
        return resume_flags(Path(args.resume), args, default_language())
    except FlagError as err:
        sys.stderr.write(f"octoc: error: {err}\n")
        return None


def _bad_flags(args) -> bool:
    """`plan --provider P` with a P no run could use: say so (with a "did you mean") and refuse."""
    if args.provider is None:
        return False
    from octo.cli.runflags import FlagError, check_provider
    from octo.stdlib import default_language

    try:
        warnings = check_provider(args.provider, default_language())
    except FlagError as err:
        sys.stderr.write(f"octoc: error: {err}\n")
        return True
    for warning in warnings:
        sys.stderr.write(f"octoc: warning: {warning}\n")
    return False


def cmd_tick(args) -> int:
    from octo.cli.running import tick_once

    if _bad_cpu_setting():
        return EXIT_USAGE
    return tick_once(args.run_dir)


def cmd_retry(args) -> int:
    from octo.cli.fixing import retry

    if _bad_cpu_setting():  # local steps may be computed again
        return EXIT_USAGE
    return retry(args.run_dir, args.step, args.reason)


def cmd_revalidate(args) -> int:
    from octo.cli.fixing import revalidate

    if _bad_cpu_setting():
        return EXIT_USAGE
    return revalidate(args.run_dir, args.file, _use_colour(args.color, sys.stdout))


def cmd_status(args) -> int:
    from octo.cli.running import status

    return status(args.run_dir, args.format)


def cmd_runs(args) -> int:
    from octo.cli.listing import list_runs

    return list_runs(args.dir, args.format)


def cmd_results(args) -> int:
    from octo.cli.reading import results

    if args.export is not None:
        from octo.cli.reading import export

        return export(args.run_dir, args.step, args.export, args.all_units)
    if args.all_units:
        sys.stderr.write("octoc: error: --all-units goes with --export\n")
        return 2
    return results(args.run_dir, args.step, args.format)


def cmd_report(args) -> int:
    from octo.cli.reading import report

    if args.html is not None or args.open:
        from octo.cli.reading import html_report

        if args.format != "text":
            sys.stderr.write("octoc: error: --html and --open write HTML; they do not go with --format\n")
            return 2
        return html_report(args.run_dir, args.html, args.open)
    return report(args.run_dir, args.format)


def cmd_show(args) -> int:
    from octo.cli.showing import show

    return show(args.run_dir, args.unit, args.step, args.format)


def cmd_emulator(args) -> int:
    from octo.cli.emulating import serve

    return serve(args.port, args.seed, args.faults)


def cmd_schema(args) -> int:
    from octo.compiler.frontend.language import document_schema
    from octo.stdlib import default_language

    sys.stdout.write(json.dumps(document_schema(default_language()), indent=args.indent, ensure_ascii=False) + "\n")
    return EXIT_OK


_COMMANDS = {"check": cmd_check, "plan": cmd_plan, "run": cmd_run, "tick": cmd_tick, "retry": cmd_retry,
             "revalidate": cmd_revalidate, "status": cmd_status, "runs": cmd_runs,
             "results": cmd_results, "report": cmd_report, "show": cmd_show, "schema": cmd_schema, "emulator": cmd_emulator}


if __name__ == "__main__":
    raise SystemExit(main())
