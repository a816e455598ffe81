"""`octoc`: the command line.

Exit codes: 0 clean (warnings allowed), 1 errors in the checked files, 2 usage
or I/O problems (a missing file, an unreadable data file), 3 an internal error
in octoc itself (reported in one line, never as a traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from octo import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage problems exit 2 with a one-line message
        self.print_usage(sys.stderr)
        sys.stderr.write(f"octoc: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="octoc", description="Compile, plan and run .octo pipelines.")
    parser.add_argument("--version", action="version", version=f"octoc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check = sub.add_parser("check", help="report every problem in .octo files")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    plan = sub.add_parser("plan", help="preview units, requests, tokens and cost per step; nothing is sent")
    plan.add_argument("file", metavar="FILE")
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--graph", choices=("dot", "mermaid"), help="print the step graph in this format instead")
    plan.add_argument("--provider", metavar="P", help="run every provider step on P: a provider (its default model) or provider:model")
    plan.add_argument("--prices", metavar="FILE", help="a JSON price table merged over the built-in one")
    plan.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    run = sub.add_parser("run", help="run a pipeline to the end (or resume a run directory)")
    run.add_argument("file", metavar="FILE", nargs="?")
    run.add_argument("--resume", metavar="DIR", help="continue a stopped or killed run")
    run.add_argument("--run-dir", metavar="DIR", help="where to put the run (default runs/NAME-TIMESTAMP)")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    tick = sub.add_parser("tick", help="do one tick of a run and exit (for cron)")
    tick.add_argument("run_dir", metavar="DIR")
    status = sub.add_parser("status", help="units per step and state, elapsed, cost so far")
    status.add_argument("run_dir", metavar="DIR")
    status.add_argument("--format", choices=("text", "json"), default="text")
    results = sub.add_parser("results", help="per-unit outputs of a run, to stdout")
    results.add_argument("run_dir", metavar="DIR")
    results.add_argument("--step", metavar="S")
    results.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    report = sub.add_parser("report", help="aggregates per group, expectations, failures by reason")
    report.add_argument("run_dir", metavar="DIR")
    report.add_argument("--format", choices=("text", "json"), default="text")
    schema = sub.add_parser("schema", help="print the JSON Schema of .octo files (for editors)")
    schema.add_argument("--indent", type=int, default=2)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("octoc: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # a bug in octoc: one line, never a traceback
        from octo.runtime.rundir import RunDirError

        if isinstance(err, RunDirError):  # a missing or damaged run directory: the user's to fix
            sys.stderr.write(f"octoc: error: {err}\n")
            return EXIT_USAGE
        sys.stderr.write(f"octoc: internal error ({type(err).__name__}: {err}); please report it "
                         "with the file that caused it\n")
        return EXIT_INTERNAL


def _use_colour(choice: str, stream) -> bool:
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def cmd_check(args) -> int:
    from octo.cli.checking import check_files

    return check_files(args.files, args.format, _use_colour(args.color, sys.stdout))


def cmd_plan(args) -> int:
    from octo.cli.planning import plan_file

    return plan_file(args.file, args.format, args.graph, args.provider, args.prices, _use_colour(args.color, sys.stdout))


def cmd_run(args) -> int:
    from pathlib import Path

    from octo.cli.running import drive, run_file

    if args.resume and args.file:
        sys.stderr.write("octoc: error: give a FILE to start a run, or --resume DIR to continue one, not both\n")
        return EXIT_USAGE
    if args.resume:
        return drive(Path(args.resume))
    if not args.file:
        sys.stderr.write("octoc: error: octoc run needs a FILE (or --resume DIR)\n")
        return EXIT_USAGE
    return run_file(args.file, args.run_dir, _use_colour(args.color, sys.stdout))


def cmd_tick(args) -> int:
    from octo.cli.running import tick_once

    return tick_once(args.run_dir)


def cmd_status(args) -> int:
    from octo.cli.running import status

    return status(args.run_dir, args.format)


def cmd_results(args) -> int:
    from octo.cli.reading import results

    return results(args.run_dir, args.step, args.format)


def cmd_report(args) -> int:
    from octo.cli.reading import report

    return report(args.run_dir, args.format)


def cmd_schema(args) -> int:
    from octo.compiler.language import document_schema
    from octo.stdlib import default_language

    sys.stdout.write(json.dumps(document_schema(default_language()), indent=args.indent, ensure_ascii=False) + "\n")
    return EXIT_OK


_COMMANDS = {"check": cmd_check, "plan": cmd_plan, "run": cmd_run, "tick": cmd_tick, "status": cmd_status,
             "results": cmd_results, "report": cmd_report, "schema": cmd_schema}


if __name__ == "__main__":
    raise SystemExit(main())
