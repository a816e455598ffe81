"""Scripted answers on the run's own emulator: a responder that knows which unit each request is for.

The emulator answers a request with what the answers file says for its step
(runtime/answersfile.py). To choose or render that answer it needs the request's
attempt — its step, unit, round and try — which the wire does not carry for a
realtime call. The responder finds it in the run store, which the run committed
before sending (docs/design.md, "Scripted answers know their unit from the
store"):

- a batch request carries its custom id, ``<run tag>-a<attempt id>``;
- a realtime call is matched to a `sent` realtime attempt whose stored request
  has the same model, system prompt and prompt (the stored prompt holds any
  retry note), the oldest not yet answered.

The adapters and the wire know nothing of this. The store is read on one thread
of the responder's own, through a second connection: the server answers each
HTTP request on a thread of its own, and a SQLite connection belongs to the
thread that made it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .answersfile import Script, parse_rendered
from .emulator.core import EmuError, EmuRequest
from .work.templating import TemplateFailure

_ATTEMPT_ID = re.compile(r"-a(\d+)\Z")
REFUSED = 400  # a scripted answer that cannot be made fails its unit, not retried (the same script fails again)


class ScriptedResponder:
    """``(request, nth) -> text | None``: the script's answer for the request's unit, None for unscripted steps."""

    def __init__(self, run_dir: str | Path, script: Script, seed: int):
        self.run_dir, self.script, self.seed = Path(run_dir), script, seed
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="octo-answers")
        self._engine = None  # made on the pool's thread, used only there
        self._claimed: set[int] = set()  # realtime attempts already answered
        self._lock = threading.Lock()

    def __call__(self, request: EmuRequest, nth: int) -> str | None:
        return self._pool.submit(self._answer, request).result()

    def close(self) -> None:
        def close_engine():
            if self._engine is not None:
                self._engine.close()
        self._pool.submit(close_engine).result()
        self._pool.shutdown()

    # --- on the pool's thread -------------------------------------------------------------------

    def _answer(self, request: EmuRequest) -> str | None:
        attempt = self._attempt(request)
        if attempt is None:
            return None  # not one of this run's requests (or already answered): synthesise
        attempt_id, step, pos, round_, try_ = attempt
        script = self.script.steps.get(step)
        if script is None:
            return None
        engine = self._open()
        _, env, _, _ = next(engine.unit_envs(step, [pos]))
        unit_id = env["unit"]["id"]
        if script.kind == "answer":
            return script.answers[0]
        if script.kind == "choose":
            digest = hashlib.sha256(f"{self.seed}:{step}:{unit_id}:{round_}:{try_}".encode()).digest()
            return script.answers[int.from_bytes(digest[:8], "big") % len(script.answers)]
        _, feedback = engine.loops.feedback(step, pos)
        context = {**env, "feedback": feedback, "attempt": {"try": try_, "round": round_}}
        try:
            return parse_rendered(script.template.render(context), script.structured)
        except TemplateFailure as err:
            raise EmuError(REFUSED, f"the scripted answer of step '{step}' (template at {script.at}) failed for "
                                    f"unit {unit_id}: {err}") from None
        except ValueError as err:
            raise EmuError(REFUSED, f"the scripted answer of step '{step}' (template at {script.at}) for unit "
                                    f"{unit_id} is not an answer: {err}") from None

    def _open(self):
        if self._engine is None:
            from .engine import Engine

            self._engine = Engine(self.run_dir)
        return self._engine

    def _attempt(self, request: EmuRequest) -> tuple | None:
        """(id, step, unit, round, try) of the attempt the request was sent for."""
        db = self._open().store.db
        match = _ATTEMPT_ID.search(request.custom_id or "")
        if match:
            return db.execute("SELECT id, step, unit, round, try FROM attempts WHERE id = ?",
                              (int(match.group(1)),)).fetchone()
        rows = db.execute(
            "SELECT id, step, unit, round, try, request FROM attempts WHERE state = 'sent' AND batch IS NULL "
            "AND json_extract(request, '$.model') = ? AND json_extract(request, '$.prompt') = ? ORDER BY id",
            (request.model, request.prompt)).fetchall()
        same = [tuple(attempt) for *attempt, stored in rows if json.loads(stored).get("system") == request.system]
        with self._lock:  # identical requests of several units in flight at once: one attempt each
            for attempt in same:
                if attempt[0] not in self._claimed:
                    self._claimed.add(attempt[0])
                    return attempt
        return same[0] if same else None  # sent again (after a transient failure): the oldest
