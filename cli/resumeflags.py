"""The flags given with `octoc run --resume DIR`: each one is either taken and recorded in the run, or refused.

Nothing is silently ignored. Taken (stored in the run's settings, so every later
resume and tick keeps them, and said on stdout): how the run talks to its
providers — `--mode`, `--batch-size`, `--max-in-flight`, `--concurrency`,
`--poll-interval`, `--outage-timeout`, `--max-usd`, `--max-enqueued` (merged
with the run's: a provider not named keeps its bound), `--keep-files` — and `--faults` and
`--answers` on a run on the emulator. They change how the rest is sent (or, on the emulator, what it
answers), never what a unit is.

Refused, with the reason and the command that does it (docs/run.md, "Resuming"):
- `--provider` naming other models than the run's. A run's requests, plan,
  prices and budget are made for its models when it is created, and its
  results would mix answers of two models without saying which is which.
  Emulator → real mixes synthetic answers with real ones; real → emulator
  also orphans batches out at the provider (paid for, never collected). A new
  run does it cleanly (and an emulator run cost nothing).
- `--max-units` other than the run's: its units are fixed when it is created.
- `--run-dir`: it says where a new run goes; a resumed run stays where it is.
The same `--provider` or `--max-units` as the run's is accepted as a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from octo.compiler.frontend.language import Language

from .runflags import EMULATOR, FlagError, check_faults, check_provider, parse_max_enqueued

# settings a resume may change: the flag, and what the run does without it
TUNABLE = {
    "mode": ("--mode", "each step's own mode"),
    "batch_size": ("--batch-size", "the provider's limit"),
    "max_in_flight": ("--max-in-flight", "8"),
    "concurrency": ("--concurrency", "8"),
    "poll_interval": ("--poll-interval", "30"),
    "outage_timeout": ("--outage-timeout", "600"),
    "max_usd": ("--max-usd", "budget.max_usd"),
    "max_enqueued": ("--max-enqueued", "the tier-1 limits"),
    "keep_files": ("--keep-files", "deleted once each batch is over"),
}


@dataclass
class Resume:
    changes: dict = field(default_factory=dict)  # settings to store in the run before it goes on
    notes: list[str] = field(default_factory=list)  # what was taken, for stdout once the run is open

    def announcement(self) -> str:
        return "".join(line + "\n" for line in self.notes)


def resume_flags(run_dir: Path, args, language: Language) -> Resume:
    """What the flags given with ``--resume`` change in the run; FlagError for one that it refuses."""
    if args.run_dir is not None:
        raise FlagError(f"--run-dir says where a new run is created; a resumed run stays in {run_dir} "
                        f"(give --resume {run_dir} alone)")
    if args.provider is not None:
        check_provider(args.provider, language)  # an unknown provider is refused before the run is read
    given = {key: getattr(args, key) for key in TUNABLE if getattr(args, key) is not None}
    answers = getattr(args, "answers", None)
    if not given and args.provider is None and args.faults is None and args.max_units is None and answers is None:
        return Resume()
    plan, settings, out = _read_run(run_dir)
    if "max_enqueued" in given:  # a provider not named keeps the bound it had
        given["max_enqueued"] = {**(settings.get("max_enqueued") or {}), **parse_max_enqueued(given["max_enqueued"])}
    resume = Resume()
    if args.provider is not None:
        _provider(args.provider, plan, settings, out, language, resume)
    if args.max_units is not None:
        _max_units(args.max_units, plan, resume)
    if args.faults is not None:
        check_faults(args.faults, bool(settings.get("emulator")))
        given["faults"] = args.faults
    if answers is not None:
        given["answers"] = _answers(answers, plan, settings)
    _tunables(given, settings, plan, resume)
    return resume


def _answers(path: str, plan, settings: dict) -> str:
    """`--answers FILE` on a run on the emulator: the file, checked against the run's plan (FlagError if not)."""
    from octo.runtime.answersfile import AnswersFileError, load_answers

    from .runflags import check_answers

    answers = check_answers(path, bool(settings.get("emulator")))
    try:
        load_answers(answers, plan)
    except AnswersFileError as err:
        raise FlagError("--answers: the file does not fit the run:\n  " + "\n  ".join(err.problems)) from None
    return answers


def _read_run(run_dir: Path) -> tuple:
    """The run's plan, settings and batches out at each provider, read without its lock (as `status` does)."""
    import json

    from octo.runtime.rundirs.rundir import open_plan, open_store

    plan = open_plan(run_dir)
    store = open_store(run_dir, readonly=True)
    try:
        out = dict(store.db.execute("SELECT provider, count(*) FROM batches WHERE state IN ('intent', 'submitted') "
                                    "GROUP BY provider").fetchall()) if store.has_table("batches") else {}
        return plan, json.loads(store.get("settings") or "{}"), out
    finally:
        store.close()


def run_models(plan) -> list[str]:
    """Every model the run's provider steps may send to."""
    return sorted({m for s in plan.steps if s["runs"] == "provider" for m in s.get("models") or ()})


def _provider(value: str, plan, settings: dict, out: dict, language: Language, resume: Resume) -> None:
    models = run_models(plan)
    emulated = bool(settings.get("emulator"))
    source = plan.data["pipeline"]["source"]
    if not models:
        resume.notes.append(f"--provider {value}: this run has no provider steps; nothing to change")
        return
    if emulated and value == EMULATOR or not emulated and _targets(value, models, language):
        resume.notes.append(f"--provider {value}: this run already runs on {', '.join(models)}; nothing to change")
        return
    new_run = f"Start a new run for that: octoc run {source} --provider {value}"
    if emulated:
        raise FlagError(f"--provider {value}: this run is on the emulator, so its answers so far are synthetic; "
                        f"answers from {value} would be mixed with them in one set of results. {new_run} "
                        "(the emulator run cost nothing)")
    batches = _batches_out(out)
    if value == EMULATOR:
        raise FlagError(f"--provider emulator: this run's answers so far are real ({', '.join(models)}); the "
                        "emulator's synthetic answers would be mixed with them in one set of results"
                        + (f", and {batches} could never be collected, though they are paid for" if batches else "")
                        + f". {new_run}")
    raise FlagError(f"--provider {value}: this run runs on {', '.join(models)}; its requests, plan, prices and "
                    "budget were made for that when it was created, and its results would mix answers of two "
                    "models" + (f"; {batches} would be left behind" if batches else "") + f". {new_run}")


def _targets(value: str, models: list[str], language: Language) -> bool:
    """Does `--provider VALUE` name exactly the models the run already runs on?"""
    target = value if ":" in value else language.prices.get("default_models", {}).get(value)
    return models == [target]


def _batches_out(out: dict) -> str:
    n = sum(out.values())
    return f"{n:,} batch{'es' if n != 1 else ''} out at {', '.join(sorted(out))}" if n else ""


def _max_units(value: int, plan, resume: Resume) -> None:
    units = plan.data["units"]
    if units.get("max_units") == value:
        resume.notes.append(f"--max-units {value:,}: this run already has the first {value:,} units; nothing to change")
        return
    had = f" (the first {units['max_units']:,}, from --max-units)" if units.get("max_units") is not None else ""
    raise FlagError(f"--max-units: a run's units are fixed when it is created; this run has "
                    f"{units['selected']:,}{had}. For another count, start a new run: "
                    f"octoc run {plan.data['pipeline']['source']} --max-units {value:,}")


def _tunables(given: dict, settings: dict, plan, resume: Resume) -> None:
    changed = []
    for key, value in given.items():
        if settings.get(key) == value:
            continue
        flag, default = TUNABLE.get(key) or {"answers": ("--answers", "none")}.get(key, ("--faults", "none"))
        was = settings.get(key)
        if key == "poll_interval" and settings.get("emulator"):
            default = "0.05, the emulator's"
        if key == "max_usd":
            budget = plan.data["budget"].get("max_usd")
            default = "no limit" if budget is None else f"{_plain(budget)}, from budget.max_usd"
        if key == "keep_files":
            changed.append(flag)
        else:
            changed.append(f"{flag} {_plain(value)} (was {default if was is None else _plain(was)})")
        resume.changes[key] = value
    if changed:
        resume.notes.append("changed for this run, and kept when it is resumed again: " + ", ".join(changed))


def _plain(value) -> str:
    if isinstance(value, dict):  # --max-enqueued
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)
