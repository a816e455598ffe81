"""The emulator's state, independent of any wire format: answering requests and running batches.

Wire modules (``openai_wire``, ``anthropic_wire``, ``gemini_wire``) decode a
provider's HTTP requests into ``EmuRequest``s, ask ``Emulator.answer`` or the
batch methods here, and encode what they get back in the provider's format.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import synth, usage
from .faults import Faults
from .files import FileDir
from .limits import Limits


@dataclass(frozen=True)
class EmuRequest:
    """One model request, whatever wire it came over."""

    provider: str
    model: str
    prompt: str
    system: str | None = None
    schema: dict | None = None
    max_tokens: int = 1024
    custom_id: str | None = None  # batch requests only
    cache_marked: bool = False  # Anthropic: the request marks a prefix for prompt caching (octo never does)
    refusal: str | None = None  # set by a wire: why the provider refuses this request (answered 400, never run)
    refusal_param: str | None = None  # OpenAI: the parameter its refusal names (the error's `param`), and the
    refusal_code: str | None = None   # error's `code` (param_rules.py)
    settings: dict = field(default_factory=dict, compare=False)  # sampling and reasoning as received, by wire name

    def fingerprint(self) -> str:
        body = json.dumps([self.provider, self.model, self.system, self.prompt, self.schema], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


class EmuError(Exception):
    """Raised by a scripted responder: this request fails with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.param, self.code = param, code  # OpenAI's error fields, for a refused parameter


@dataclass(frozen=True)
class EmuAnswer:
    text: str | None
    usage: synth.EmuUsage
    error: EmuError | None = None
    truncated: bool = False  # hit max_tokens


Responder = Callable[[EmuRequest, int], "str | dict | None"]  # (request, nth time seen) → answer; None: synthesise


Sink = Callable[[int, EmuRequest, "EmuAnswer | None"], None]  # (index, request, answer) as a batch is answered


@dataclass
class EmuBatch:
    id: str
    provider: str
    requests: Iterable[EmuRequest]  # a list, or a view that decodes them again as iterated (batchfile_openai.py)
    meta: dict                     # metadata / display name, as the client sent them
    created: float = field(default_factory=time.time)
    polls_left: int = 1
    fate: str = "completed"        # completed | expired | failed | cancelled
    status: str = "in_progress"    # in_progress | ended
    answers: list[EmuAnswer | None] = field(default_factory=list)  # None: never run (expired, cancelled)
    ended_at: float | None = None
    extra: dict = field(default_factory=dict)  # per-wire bookkeeping (file ids, …)
    model: str | None = None       # its requests' model (None: the first request's)
    enqueued: int = 0              # what it adds to its organisation's queue while it runs (capacity.py)
    # Set by a wire that encodes each answer as it comes instead of keeping them in ``answers`` (which then
    # stays empty unless the emulator keeps its history): a batch's answers are never all held at once.
    sink: Sink | None = None

    def __post_init__(self):
        if self.model is None and isinstance(self.requests, list) and self.requests:
            self.model = self.requests[0].model


class Emulator:
    """Answers requests deterministically per (seed, request, nth occurrence), with faults on demand."""

    def __init__(self, seed: int = 0, faults: Faults | str | None = None, responder: Responder | None = None,
                 valid_keys: set[str] | None = None, limits: Limits | None = None, keep_history: bool = True):
        self.seed = seed
        # True: ended batches keep their requests and answers, and ``log`` names every request answered, for
        # tests that audit what was sent and billed;
        # False (`octoc emulator`, `--provider emulator`): an ended batch keeps only its metadata, counts and
        # usage, as a provider does, so memory does not grow with every request ever sent (openai_wire.py)
        self.keep_history = keep_history
        self.limits = limits or Limits()  # sizes and counts refused as the providers refuse them (limits.py)
        self.faults = faults if isinstance(faults, Faults) else Faults.parse(faults)
        self.responder = responder
        self.valid_keys = valid_keys  # None: any non-empty key is accepted
        self.batches: dict[str, EmuBatch] = {}
        # id → {"name", "purpose", "created", "provider", ...}: OpenAI's with "path" (the file, in ``disk``) and
        # "bytes" (its size); Gemini's with "data" (its bytes)
        self.files: dict[str, dict] = {}
        self.disk = FileDir()  # the directory OpenAI's files live in (files.py), removed by ``close``
        self.log: list[tuple[str, str, str | None]] = []  # (provider, "batch" | "realtime", custom_id) per request run
        self.calls: dict[str, int] = {}    # HTTP route name → times called
        self.enqueued_peak: dict[tuple[str, str], int] = {}  # (provider, model or "*") → most ever queued (capacity.py)
        self._seen = Occurrences()  # times each distinct request was answered (on disk)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.url = ""  # set by the server once it listens

    def close(self) -> None:
        """Remove the emulator's files from disk."""
        self.disk.close()
        self._seen.close()

    # --- answering ---------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids):06d}"

    def answer(self, request: EmuRequest, how: str) -> EmuAnswer:
        """Answer one request (``how``: "batch" or "realtime"), applying per-request faults."""
        if request.refusal is not None:
            return EmuAnswer(None, synth.EmuUsage(0, 0, 0, 0),
                             EmuError(400, request.refusal, request.refusal_param, request.refusal_code))
        fingerprint = request.fingerprint()
        with self._lock:
            n = self._seen.count(fingerprint)
            if self.keep_history:
                self.log.append((request.provider, how, request.custom_id))
        rng = random.Random(int.from_bytes(hashlib.sha256(f"{self.seed}:{fingerprint}:{n}".encode()).digest()[:8], "big"))
        fault = self.faults.request_fault(rng.random(), request.schema is not None)
        if fault == "errored":
            return EmuAnswer(None, synth.EmuUsage(0, 0, 0, 0), EmuError(500, "The server had an error processing your request (injected fault)."))
        try:
            text = self._text(request, n, rng)
        except EmuError as err:
            return EmuAnswer(None, synth.EmuUsage(0, 0, 0, 0), err)
        if fault == "malformed":
            text = synth.malformed(text)
        elif fault == "invalid":
            text = synth.violating(request.schema, rng)
        truncated = synth.tokens(text) > request.max_tokens
        if truncated:
            text = usage.cut(text, request.max_tokens)
        return EmuAnswer(text, usage.of_request(request, text), None, truncated)

    def _text(self, request: EmuRequest, n: int, rng: random.Random) -> str:
        if self.responder is not None:
            scripted = self.responder(request, n)
            if isinstance(scripted, str):
                return scripted
            if scripted is not None:
                return json.dumps(scripted)
        return synth.answer_text(request.schema, rng)

    # --- batches ---------------------------------------------------------------------------

    def create_batch(self, provider: str, requests: Iterable[EmuRequest], meta: dict, prefix: str,
                     enqueued: int = 0, model: str | None = None, sink: Sink | None = None) -> EmuBatch:
        batch = EmuBatch(self.new_id(prefix), provider, requests, meta, polls_left=max(1, self.faults.slow),
                         model=model, enqueued=enqueued, sink=sink)
        if self.faults.take("fail"):
            batch.fate = "failed"
        elif self.faults.take("expire"):
            batch.fate = "expired"
        with self._lock:
            self.batches[batch.id] = batch
        return batch

    def advance(self, batch: EmuBatch) -> EmuBatch:
        """One poll's worth of progress: after ``slow`` polls the batch ends and its requests are answered."""
        with self._lock:
            if batch.status == "ended":
                return batch
            batch.polls_left -= 1
            if batch.polls_left > 0:
                return batch
            self._finish(batch)
        return batch

    def cancel(self, batch: EmuBatch) -> EmuBatch:
        with self._lock:
            if batch.status != "ended":
                batch.fate = "cancelled"
                self._finish(batch)
        return batch

    def _finish(self, batch: EmuBatch) -> None:
        run = {"completed": len(batch.requests), "expired": len(batch.requests) // 2}.get(batch.fate, 0)
        keep = batch.sink is None or self.keep_history
        answers = []
        for index, request in enumerate(batch.requests):  # one request decoded and answered at a time
            answer = self.answer(request, "batch") if index < run else None
            if batch.sink is not None:
                batch.sink(index, request, answer)
            if keep:
                answers.append(answer)
        batch.answers = answers
        batch.status, batch.ended_at = "ended", time.time()

    def counted(self, route: str) -> None:
        with self._lock:
            self.calls[route] = self.calls.get(route, 0) + 1


class Occurrences:
    """How many times each distinct request was answered before (its nth occurrence picks its answer), kept
    in a private temporary SQLite database: a dict would grow ~80 bytes with every distinct request an
    emulator ever answers (500,000 units: ~40 MB); SQLite keeps a few MB of pages in memory and the rest on
    disk. Not thread-safe: the emulator calls it under its lock. Changes are committed every ``EVERY``
    counts (a scratch database: nothing to keep across a crash; one transaction per count costs twice as much).
    """

    EVERY = 1000

    def __init__(self):
        self._db: sqlite3.Connection | None = None
        self._uncommitted = 0

    def count(self, fingerprint: str) -> int:
        """The times ``fingerprint`` (a request's SHA-256, hex) was counted before; counts it once more."""
        if self._db is None:
            self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)  # "": a temporary file
            self._db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; "
                                   "CREATE TABLE seen (key INTEGER PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID; "
                                   "BEGIN")
        key = int(fingerprint[:16], 16) - (1 << 63)  # its first 64 bits, as SQLite's signed integer
        (n,) = self._db.execute("INSERT INTO seen VALUES (?, 0) ON CONFLICT (key) DO UPDATE SET n = n + 1 "
                                "RETURNING n", (key,)).fetchone()
        self._uncommitted += 1
        if self._uncommitted >= self.EVERY:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._uncommitted = 0
        return n

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
