"""`octoc retry` and `octoc revalidate`: fix a run, then go on with it exactly as `octoc run --resume` does.

Both hold the run's lock from before they read anything (a run another process
drives is refused), first complete a fix a kill interrupted (runtime/fixes.py),
record theirs, do it and say what it did, then drive the run through
cli/running.drive: the same progress, states and exit codes as a resume.
"""

from __future__ import annotations

import sys
from pathlib import Path

from octo.cli.exitcodes import OK, USAGE
from octo.runtime.rundirs.diskerrors import storage_errors
from octo.runtime.rundirs.runlock import run_lock


def retry(run_dir: str, step: str | None, reason: str | None) -> int:
    from octo.runtime import fixes
    from octo.runtime.engine import Engine
    from octo.runtime.fixing.retry import Failures, count_failed

    from .running import drive

    target = Path(run_dir)
    with storage_errors(target), run_lock(target):
        earlier = _complete_earlier(target)
        failures = Failures(step, reason)
        engine = Engine(target)
        try:
            problem = _unknown_step(engine, step)
            if problem:
                sys.stderr.write(f"octoc: error: {problem}\n")
                return USAGE
            counts = count_failed(engine, failures)
            if not counts and earlier is None:
                sys.stdout.write(_nothing_to_retry(engine, failures, target))
                return OK
            if counts:
                _say_requeued(counts)
                with engine.store.transaction() as db:
                    fixes.record(engine.store, {"kind": "retry", "failures": failures.to_json()}, db, engine.seed)
        finally:
            engine.close()
        fixes.complete(target)
        sys.stdout.flush()
        return drive(target)


def _unknown_step(engine, step: str | None) -> str | None:
    if step is None:
        return None
    kinds = engine.language.kinds
    per_unit = [name for name, s in engine.steps.items() if kinds[s["kind"]].per_unit]
    if step in per_unit:
        return None
    if step in engine.steps:
        return f"--step {step}: '{step}' is an aggregate; it has no failed units to retry (retrying the units it " \
               f"reads computes it again)"
    return f"--step {step}: the run has no step '{step}' (its steps: {', '.join(per_unit)})"


def _nothing_to_retry(engine, failures, run_dir: Path) -> str:
    where = f" at step '{failures.step}'" if failures.step else ""
    why = f" with a reason containing '{failures.reason}'" if failures.reason else ""
    text = f"nothing to retry: no unit failed{where}{why}\n"
    if engine.store.get("state") != "done":
        text += f"The run is not finished; to go on with it: octoc run --resume {run_dir}\n"
    return text


def _say_requeued(counts: dict[str, int]) -> None:
    total = sum(counts.values())
    width = max(len(step) for step in counts)
    lines = [f"retrying {total:,} failed {'unit' if total == 1 else 'units'}, with fresh tries:"]
    lines += [f"  {step:<{width}}  {n:,}" for step, n in counts.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _complete_earlier(run_dir: Path):
    """Complete a creation and a fix a kill interrupted; say so for a fix."""
    from octo.runtime import fixes
    from octo.runtime.rundirs.rundir import complete_creation

    complete_creation(run_dir)
    earlier = fixes.complete(run_dir)
    if earlier is not None:
        fix, done = earlier
        sys.stdout.write(f"completed the {fix['kind']} that was interrupted\n")
        if fix["kind"] == "revalidate":
            sys.stdout.write(revalidation_summary(done))
    return earlier


# --- revalidate ---------------------------------------------------------------------------------


def revalidate(run_dir: str, file: str | None, colour: bool) -> int:
    from octo.runtime import fixes
    from octo.runtime.rundirs.rundir import PLAN_FILE, open_store

    from .running import drive

    target = Path(run_dir)
    with storage_errors(target), run_lock(target):
        _complete_earlier(target)
        old_text = (target / PLAN_FILE).read_text(encoding="utf-8")
        fix = {"kind": "revalidate", "local": [], "aggregates": []}
        if file is not None:
            outcome = _edit(target, file, old_text, colour)
            if isinstance(outcome, int):
                return outcome
            fix.update(outcome)
        store = open_store(target)
        try:
            with store.transaction() as db:
                fixes.record(store, fix, db)
                if "edit" in fix:
                    store.put("plan_edits", str(fix["edit"]), db)
        finally:
            store.close()
        _, done = fixes.complete(target)
        sys.stdout.write(revalidation_summary(done))
        sys.stdout.flush()
        return drive(target)


def _edit(run_dir: Path, file: str, old_text: str, colour: bool) -> dict | int:
    """Compile FILE and compare its plan with the run's: the fix's plan fields, or an exit code after saying why not."""
    import json

    from octo.runtime.fixing.planedit import compare, edited_plan, stage
    from octo.runtime.rundirs.rundir import open_store
    from octo.stdlib import default_language

    old = json.loads(old_text)
    kinds = default_language().kinds
    new = _compile(file, old, None, colour)
    if isinstance(new, int):
        return new
    edit = compare(old, new, kinds)
    model = _made_with_provider(run_dir, old) if any("model" in r for r in edit.refused) else None
    if model:  # FILE as `octoc run FILE --provider MODEL` made the run
        again = _compile(file, old, model, colour)
        if not isinstance(again, int):
            new, edit = again, compare(old, again, kinds)
    if edit.refused:
        sys.stderr.write(_refusal(file, edit, run_dir))
        return USAGE
    if not edit.changes:
        sys.stdout.write(f"{file} changes nothing revalidation reads in the run's plan; checking the answers "
                         "against the rules as they are\n")
        return {}
    store = open_store(run_dir, readonly=True)
    try:
        number = int(store.get("plan_edits") or 0) + 1
    finally:
        store.close()
    plan = stage(run_dir, number, old_text, edited_plan(old, new), Path(file))
    sys.stdout.write(f"accepted from {file} (the plan it replaces is kept in {run_dir / 'edits' / str(number)}):\n"
                     + "".join(f"  {change}\n" for change in edit.accepted))
    return {"plan": plan, "edit": number, "file": str(file), "local": edit.local, "aggregates": edit.aggregates,
            "changes": edit.accepted}


def _compile(file: str, old: dict, provider: str | None, colour: bool) -> dict | int:
    """FILE's plan as `octoc run` would build it for this run, or the exit code after printing its errors."""
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.stdlib import default_language

    from .planning import _print_diagnostics

    language = default_language()
    result = check_file(file, language)
    if not result.ok or result.program is None:
        return _print_diagnostics(result.diagnostics, [file], "text", colour)
    reporter = Reporter()
    limit = old["units"].get("max_units")
    plan = build_plan(result.program, language, reporter, provider=provider,
                      **({"max_units": limit} if limit is not None else {}))
    if reporter.has_errors():
        return _print_diagnostics(reporter.sorted(), [file], "text", colour)
    return plan.data


def _models(plan: dict) -> set[str]:
    return {m for s in plan["steps"] if s["runs"] == "provider" for m in s.get("models") or ()}


def _made_with_provider(run_dir: Path, old: dict) -> str | None:
    """MODEL, if the run was made with `--provider MODEL`: all its steps use MODEL, and its own pipeline (its snapshot
    in source/) names other models. (A run does not record the flag; its plan and its source say it.)"""
    import contextlib
    import io

    from octo.runtime.rundirs.rundir import SOURCE_DIR, open_store

    models = _models(old)
    if len(models) != 1:
        return None
    store = open_store(run_dir, readonly=True)
    try:
        made_from = store.get("source") or old["pipeline"]["source"]  # the file the run was made from, not an edit
    finally:
        store.close()
    source = run_dir / SOURCE_DIR / Path(made_from).name
    with contextlib.redirect_stdout(io.StringIO()):  # the snapshot's own diagnostics are not the user's concern here
        own = _compile(str(source), old, None, False) if source.is_file() else None
    return next(iter(models)) if isinstance(own, dict) and _models(own) != models else None


def _refusal(file: str, edit, run_dir: Path) -> str:
    lines = [f"octoc: error: revalidate cannot honour {len(edit.refused)} "
             f"{'change' if len(edit.refused) == 1 else 'changes'} in {file}:"]
    lines += [f"  {reason}" for reason in edit.refused]
    lines.append("Revalidation checks the answers the run has bought against new rules; it never asks a new "
                 "question. It honours changes to validate rules and their messages, output constraints (ranges, "
                 "enums, item counts), retries and mode, aggregates and export. Undo the other changes, or start "
                 f"a new run (octoc run {file}); to ask failed units again as they are: octoc retry {run_dir}")
    return "\n".join(lines) + "\n"


def revalidation_summary(done: dict[str, dict[str, int]]) -> str:
    """What a revalidation did, per step, in words."""
    words = [("now_pass", "{} now pass (no new request)"), ("now_fail", "{} now fail (asked again)"),
             ("now_fail_replaced", "{} now fail, replaced by another answer already bought"),
             ("changed", "{} changed"), ("still_fail", "{} still fail"), ("unchanged", "{} unchanged")]
    lines = []
    for step, counts in done.items():
        if "checked" in counts:
            said = ", ".join(text.format(f"{counts[key]:,}") for key, text in words if counts.get(key))
            lines.append(f"  {step}: {counts['checked']:,} answers checked: {said}")
        elif "recomputed" in counts:
            lines.append(f"  {step}: {counts['recomputed']:,} results computed again, {counts.get('changed', 0):,} "
                         "changed")
    withdrawn = [f"{step} {counts['withdrawn']:,}" for step, counts in done.items() if counts.get("withdrawn")]
    if withdrawn:
        lines.append(f"  withdrawn downstream, to compute or ask again: {', '.join(withdrawn)}")
    dropped = [step for step, counts in done.items() if counts.get("aggregate_dropped")]
    if dropped:
        lines.append(f"  aggregates to compute again: {', '.join(dropped)}")
    head = "revalidated without calling any provider:" if lines else "revalidated: no stored answer to check"
    return "\n".join([head, *lines]) + "\n"
