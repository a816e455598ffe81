"""The flags of `octoc run` and `octoc plan`, checked before anything is read, created or sent.

A flag that cannot work is a usage error (exit 2) at once, with a "did you mean":
a run directory made for a provider that does not exist could never be resumed.
What is checked here needs no file and no run: the `--provider` value's form
(a known provider, a model name a request can carry), and which flags go
together (`--faults` only with `--provider emulator`). The flags given with
`--resume` are checked against the run itself (cli/resumeflags.py).
"""

from __future__ import annotations

from octo.compiler.base.suggest import did_you_mean
from octo.compiler.frontend.language import Language
from octo.compiler.frontend.models import GEMINI_MODEL_NAME, MODEL_NAME

EMULATOR = "emulator"


class FlagError(ValueError):
    """A flag that cannot work; the message names the flag, says why and what to give instead."""


def check_provider(value: str, language: Language) -> list[str]:
    """Raise FlagError for a `--provider` value no run could use; return warnings (an unknown model)."""
    provider, colon, model = value.partition(":")
    known = sorted(language.providers)
    if not provider:
        raise FlagError(f"--provider: '{value}' names no provider; give one of {', '.join(known)}, "
                        f"or provider:model (e.g. openai:gpt-4.1-mini)")
    if provider not in language.providers:
        hint = did_you_mean(provider, language.providers)
        raise FlagError(f"--provider: unknown provider '{provider}'" + (f"; {hint}" if hint else "")
                        + f" (providers: {', '.join(known)})")
    if provider == EMULATOR and colon:
        raise FlagError("--provider: the emulator takes no model: give --provider emulator "
                        "(every step keeps its model's name and the emulator answers for it)")
    if not colon:
        return []
    _check_model_name(provider, model)
    if value not in language.models:
        same = [m for m in language.models if m.startswith(provider + ":")]
        hint = did_you_mean(value, same)
        return [f"--provider: unknown model '{value}'" + (f"; {hint}" if hint else "")
                + " (octoc has no price for it, so its cost is not estimated)"]
    return []


def _check_model_name(provider: str, model: str) -> None:
    """The model name becomes part of every request (for Gemini, of the URL's path): the same rule as a
    `model:` in a file (compiler/frontend/models.py, E0111)."""
    pattern = GEMINI_MODEL_NAME if provider == "gemini" else MODEL_NAME
    if model and pattern.fullmatch(model) and ".." not in model:
        return
    what = f"'{model}' is not a model name" if model else f"'{provider}:' names no model"
    allowed = "letters, digits, '.', '_' and '-'" if provider == "gemini" else "letters, digits, '.', '_', '-' and ':'"
    raise FlagError(f"--provider: {what}: a model name is made of {allowed} and starts with a letter or digit, "
                    f"e.g. {provider}:{_EXAMPLE[provider]}")


_EXAMPLE = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


def check_faults(spec: str | None, emulated: bool) -> None:
    """`--faults` injects faults into the built-in emulator: it needs it, and a spec that parses."""
    if spec is None:
        return
    if not emulated:
        raise FlagError("--faults needs --provider emulator (it injects faults into the built-in emulator)")
    from octo.runtime.emulator.faults import Faults, FaultSpecError

    try:
        Faults.parse(spec)
    except FaultSpecError as err:
        raise FlagError(f"--faults: {err}") from None


def parse_max_enqueued(spec: str | None) -> dict | None:
    """`--max-enqueued openai=90000,anthropic=50000`: per provider, a bound on what the run has queued there
    (runtime/attempts/capacity.py: input tokens per model at OpenAI and Gemini, requests at Anthropic)."""
    if spec is None:
        return None
    from octo.runtime.attempts.capacity import QUEUES

    bounds = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        provider, eq, raw = (x.strip() for x in item.partition("="))
        if not eq or provider not in QUEUES:
            hint = did_you_mean(provider, QUEUES) if eq else None
            raise FlagError(f"--max-enqueued: '{item}' is not PROVIDER=N" + (f"; {hint}" if hint else "")
                            + f" (providers: {', '.join(QUEUES)}; e.g. openai=90000)")
        if not raw.isdigit() or not 1 <= int(raw) <= 10 ** 12:
            raise FlagError(f"--max-enqueued: {provider} needs a whole number from 1 to 1,000,000,000,000, not '{raw}'")
        bounds[provider] = int(raw)
    if not bounds:
        raise FlagError("--max-enqueued: give PROVIDER=N, e.g. openai=90000")
    return bounds


def check_answers(path: str | None, emulated: bool) -> str | None:
    """`--answers FILE` scripts the built-in emulator's answers: it needs it, and a file. The absolute path,
    stored in the run (the file is read against the run's plan before anything runs: runtime/answersfile.py)."""
    if path is None:
        return None
    if not emulated:
        raise FlagError("--answers needs --provider emulator (a real provider's answers cannot be scripted)")
    from pathlib import Path

    if not Path(path).is_file():
        raise FlagError(f"--answers: no file '{path}'")
    return str(Path(path).resolve())


def new_run_settings(args, language: Language) -> tuple[dict, str | None, list[str]]:
    """(the run's settings, stored in it and reused on resume; the provider to plan for; warnings)
    from `octoc run FILE`'s flags. Raises FlagError for a flag that cannot work."""
    warnings = check_provider(args.provider, language) if args.provider is not None else []
    emulated = args.provider == EMULATOR
    check_faults(args.faults, emulated)
    answers = check_answers(getattr(args, "answers", None), emulated)
    settings = {"emulator": emulated, "faults": args.faults, "answers": answers, "mode": args.mode,
                "batch_size": args.batch_size,
                "max_in_flight": args.max_in_flight, "concurrency": args.concurrency,
                "poll_interval": args.poll_interval, "outage_timeout": args.outage_timeout,
                "max_usd": args.max_usd, "max_units": args.max_units,
                "max_enqueued": parse_max_enqueued(args.max_enqueued), "keep_files": args.keep_files}
    kept = {k: v for k, v in settings.items() if v is not None and v is not False}
    return kept, (None if emulated else args.provider), warnings


def use_key_file(pipeline: str, settings: dict) -> None:
    """A new run on real providers may take its keys from the `.env` next to its pipeline; the run records
    the file's path (never its contents), so a resume or a tick reads it again (runtime/providers/keyfile.py)."""
    if settings.get("emulator"):
        return  # the emulator needs no key
    from octo.runtime.providers.keyfile import key_file_next_to, load_key_file

    path = key_file_next_to(pipeline)
    load_key_file(path)
    settings["key_file"] = str(path)


def smoke_run_note(plan) -> str:
    """For a run with `--max-units N`: which units run, and what the plan expects them to cost."""
    units = plan.data["units"]
    if units.get("max_units") is None:
        return ""
    cost = plan.data["totals"].get("as_planned", {})
    money = f"; expected cost ${cost['expected']:.4f} (at worst ${cost['worst']:.4f})" if cost else ""
    return f"smoke run (--max-units {units['max_units']:,}): the first {units['selected']:,} units{money}\n"
