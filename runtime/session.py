"""How a run talks to providers, rebuilt from its stored settings every time it is opened.

The settings (emulator or not, fault spec, answers file, batch size, in-flight limit, realtime
concurrency, poll interval, mode, the `.env` file keys may come from) are written
when the run is created, so ``octoc run --resume`` and ``octoc tick`` behave
exactly as the first process did; a resume may change some of them
(cli/resumeflags.py says which, and why not the others). With the emulator, an
emulator is started in this process; batches a previous process left in its own
emulator are gone, and the dispatcher re-queues their attempts (they were never
paid for).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from .engine import Engine
from .fixes import complete as complete_fix
from .rundirs.rundir import complete_creation
from .rundirs.runlock import run_lock
from .base.store import Store

if TYPE_CHECKING:
    from .attempts.dispatch import DispatchOptions

EMULATOR_POLL_INTERVAL = 0.05
DEFAULT_POLL_INTERVAL = 30.0


def settings_of(store: Store) -> dict:
    return json.loads(store.get("settings") or "{}")


def update_settings(store: Store, changes: dict) -> None:
    """Change settings of an existing run (e.g. a larger budget on resume)."""
    with store.transaction() as db:
        store.put("settings", json.dumps({**settings_of(store), **changes}), db)


def options_from(settings: dict) -> "DispatchOptions":
    from .attempts.dispatch import DispatchOptions

    emulated = bool(settings.get("emulator"))
    return DispatchOptions(
        batch_size=settings.get("batch_size"),
        max_in_flight=settings.get("max_in_flight") or 8,
        concurrency=settings.get("concurrency") or 8,
        poll_interval=settings.get("poll_interval") if settings.get("poll_interval") is not None
        else (EMULATOR_POLL_INTERVAL if emulated else DEFAULT_POLL_INTERVAL),
        mode=settings.get("mode"),
        outage_timeout=settings.get("outage_timeout") if settings.get("outage_timeout") is not None else 600.0,
        max_usd=settings.get("max_usd"),
        max_enqueued=settings.get("max_enqueued"),
        keep_files=bool(settings.get("keep_files")),
    )


def providers_needed(plan) -> set[str]:
    """Every provider a run's steps may send to (a step with a model per unit may use several)."""
    return {m.partition(":")[0] for s in plan.steps if s["runs"] == "provider" for m in s.get("models") or ()}


def check_keys(plan, settings: dict) -> list[str]:
    """Messages for missing API keys; empty when the run can start (the emulator needs none)."""
    needed = providers_needed(plan)
    if settings.get("emulator") or not needed:
        return []
    from .providers import missing_keys

    return missing_keys(needed)


@contextmanager
def open_engine(run_dir, changes: dict | None = None, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Engine]:
    """An engine wired to the run's providers (and a private emulator when the run uses one).

    The run's lock is taken before anything is read, and held until the block ends; a creation
    that was interrupted is completed first (CreationStopped if ``should_stop`` turns true meanwhile),
    then a retry or revalidation that was interrupted (runtime/fixes.py).
    """
    with run_lock(run_dir):
        complete_creation(Path(run_dir), should_stop)
        complete_fix(Path(run_dir))
        with _wired_engine(run_dir, changes) as engine:
            yield engine


@contextmanager
def _wired_engine(run_dir, changes: dict | None) -> Iterator[Engine]:
    engine = Engine(run_dir)
    server = responder = None
    try:
        if changes:
            update_settings(engine.store, changes)
        settings = settings_of(engine.store)
        if not any(s["runs"] == "provider" for s in engine.plan.steps):
            yield engine  # nothing to send: no providers, no emulator (nor its thread, so workers can fork)
            return
        from .providers import Providers
        from .providers.keyfile import load_key_file

        if settings.get("emulator"):
            from .emulator.core import Emulator
            from .emulator.server import EmulatorServer

            seed = settings.get("emulator_seed", engine.seed)
            responder = scripted_responder(run_dir, engine.plan, settings.get("answers"), seed)
            emulator = Emulator(seed=seed, faults=settings.get("faults"), responder=responder, keep_history=False)
            server = EmulatorServer(emulator).start()
            # the emulator answers at once: no reason to wait seconds between retries of injected faults
            engine.providers = Providers(emulator_url=server.url, options={"gemini": {"retry_delay": 0.05}})
        else:
            load_key_file(settings.get("key_file"))  # keys may come from the .env next to the pipeline, read again now
            engine.providers = Providers()
        engine.dispatch_options = options_from(settings)
        yield engine
    finally:
        engine.close()
        if server is not None:
            server.stop()
            server.emulator.close()  # its files on disk
        if responder is not None:
            responder.close()


def scripted_responder(run_dir, plan, answers: str | None, seed: int):
    """The emulator's responder for a run with `--answers FILE` (runtime/scripted.py), None without; the file
    is read again each time the run is opened (AnswersFileError when it no longer fits the run)."""
    if not answers:
        return None
    from .answersfile import AnswersFileError, load_answers
    from .rundirs.rundir import RunDirError
    from .scripted import ScriptedResponder

    try:
        return ScriptedResponder(run_dir, load_answers(answers, plan), seed)
    except AnswersFileError as err:
        raise RunDirError(f"the run's answers file (--answers) cannot be used:\n  " + "\n  ".join(err.problems)
                          + f"\nFix it, or give another with: octoc run --resume {run_dir} --answers FILE") from None
