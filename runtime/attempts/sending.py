"""Sending attempts to providers exactly once: batches (crash-safe) and realtime calls.

A batch is submitted in three steps, each a transaction or a provider call:
1. record the intent: a batch row with a client key, its attempts marked sent;
2. call the provider with the key in the batch's metadata / display name;
3. record the provider's id.
A kill between 1 and 3 leaves an ``intent`` row; the next tick asks the
provider for a batch with that key (``reconcile``) and either adopts it or
re-queues the attempts: never a second submission of a batch the provider
took. An ended batch's answers and the batch's ``ingested`` state are written
in one transaction, so results are counted exactly once.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from .capacity import Capacity
from ..base.crashpoints import crashpoint
from .inputfiles import InputFiles
from .ledger import Attempt, Ledger
from . import unmatched
from ..providers.base import Outcome, ProviderError, Request
from .stop import ProviderStop  # noqa: F401  (raised here; named by drivers from .stop)


class Sender:
    def __init__(self, ledger: Ledger, providers, options, plan, run_tag: str):
        self.ledger, self.store = ledger, ledger.store
        self.providers, self.options = providers, options
        self.prices = plan.data.get("prices", {})
        self.budget = options.max_usd if options.max_usd is not None else (plan.data.get("budget") or {}).get("max_usd")
        self.fixed = {s["name"]: s.get("model") or "" for s in plan.steps}  # a step's one model, if it has one
        self.tag = run_tag
        self.backoff_until: dict[str, float] = {}  # provider → no submissions before this time
        self.trouble: dict[str, tuple[float, str]] = {}  # provider → (failing since, last transient error)
        # provider → (since, why): capacity failures while none of the run's own batches were queued there
        self.stalled: dict[str, tuple[float, str]] = {}
        base = max(options.poll_interval, 0.05 if providers.emulated else 1.0)
        self.capacity = Capacity(self.store, options.max_enqueued, base)  # runtime/attempts/capacity.py
        self.inputs = InputFiles(self.store, self._adapter)  # runtime/attempts/inputfiles.py
        self._threads: ThreadPoolExecutor | None = None  # realtime calls: started once, not once per tick

    def close(self) -> None:
        """Let the realtime call threads go (each is idle: a tick returns only when its calls are answered)."""
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None

    # --- batches -----------------------------------------------------------------------------

    def reconcile(self, step: str) -> int:
        """Batches recorded as intent but with no provider id: adopt them, or re-queue their attempts.

        Each batch is asked of its own provider: a step whose models span providers has batches at each."""
        changed = 0
        for key, _, _, provider in self.ledger.batches(step, "intent"):
            custom_ids = [self._custom_id(a) for a in self.ledger.batch_attempts(key)]
            try:
                found = self._adapter(provider).find(key, custom_ids=custom_ids, claimed=self.ledger.known_ids())
            except ProviderError as err:
                self._transient_or_stop(provider, err)
                continue
            with self.store.transaction() as db:
                if found:
                    self.ledger.set_batch(key, "submitted", db, provider_id=found)
                else:
                    self.ledger.requeue([a.id for a in self.ledger.batch_attempts(key)], db)
                    self.ledger.set_batch(key, "unsent", db, detail="not found at the provider after an interruption")
                self.store.event("reconciled", step, {"batch": key, "found": bool(found)}, db=db)
            changed += 1
        return changed

    def poll(self, step: str) -> int:
        ingested = 0
        for key, batch_id, polled, provider in self.ledger.batches(step, "submitted"):
            if polled is not None and time.time() - polled < self.options.poll_interval:
                continue
            adapter = self._adapter(provider)
            try:
                status = adapter.poll(batch_id)
            except ProviderError as err:
                if err.kind == "not_found":
                    self._lost(step, key, err)
                    ingested += 1
                else:
                    self._transient_or_stop(provider, err)
                continue
            self.ledger.polled(key)
            self._fine(provider)
            if not status.ended and status.state != "validating":  # taken: past where a capacity failure comes
                self.stalled.pop(provider, None)  # (OpenAI fails a batch for capacity while validating it)
            if status.ended and status.capacity:
                self._capacity_failed(step, key, batch_id, status, provider)
                ingested += 1
            elif status.ended:
                self._ingest(step, key, batch_id, status, adapter, provider)
                ingested += 1
        return ingested + self.inputs.delete_pending()

    def _ingest(self, step: str, key: str, batch_id: str, status, adapter, provider: str) -> None:
        """Take an ended batch's answers into the store, in one transaction with its ``ingested`` state. The
        answers stream from the adapter (read from a scratch database, in attempt order) as the attempts are
        read a page at a time: a batch of any size is taken in bounded memory."""
        try:
            outcomes = adapter.results_stream(batch_id, (self._custom_id(a) for a in self.ledger.batch_attempts_paged(key)))
        except ProviderError as err:
            if not status.failed:
                self._transient_or_stop(provider, err)
                return
            outcomes = None
        why = f"batch {status.state}: {status.failed or 'no answer'}"
        with self.store.transaction() as db:
            resent = taken = 0
            first = None
            for attempt in self.ledger.batch_attempts_paged(key):
                first = first or attempt
                cid = self._custom_id(attempt)
                outcome = next(outcomes) if outcomes is not None else Outcome(cid, error=why)
                if outcome.custom_id != cid:  # the adapter's order is the attempts' order: anything else is a bug
                    raise RuntimeError(f"batch {key}: outcome {outcome.custom_id} came for attempt {cid}")
                if outcome.unmatched:
                    outcome = self._unmatched(attempt, outcome, db)
                if outcome is None:
                    resent += 1
                else:
                    self._record(attempt, outcome, batch=True, db=db)
                taken += 1
            if resent:
                self.store.event("unmatched", step, {"batch": key, "requests": resent}, db=db)
            crashpoint("during-ingest")
            self.ledger.set_batch(key, "ingested", db, detail=status.state)
            self._batch_over(db, key, provider, batch_id, first, capacity=False)
            self.store.event("ingested", step, {"batch": key, "state": status.state, "requests": taken}, db=db)

    def _capacity_failed(self, step: str, key: str, batch_id: str, status, provider: str) -> None:
        """The batch failed as a whole for an organisation-wide limit: its attempts go back to the queue
        without spending a try, and its model backs off and sends smaller batches (runtime/attempts/capacity.py)."""
        attempts = self.ledger.batch_attempts(key)
        model = attempts[0].request["model"] if attempts else ""
        alone = not self.capacity.others_in_flight(provider, model, key)
        with self.store.transaction() as db:
            self.ledger.requeue([a.id for a in attempts], db)
            self.ledger.set_batch(key, "capacity", db, detail=status.failed or status.state)
            self._batch_over(db, key, provider, batch_id, attempts[0] if attempts else None, capacity=True)
            self._strike(db, step, key, provider, model, len(attempts), status.failed or status.state)
            crashpoint("during-capacity")
        self._stall(provider, model, status.failed or status.state, alone)

    def _batch_over(self, db, key: str, provider: str, batch_id: str, first: Attempt | None, capacity: bool) -> None:
        """In the transaction that ends a batch: its input file to delete (unless kept), and a normal end
        clears its model's capacity strikes. ``first``: the batch's first attempt (None: it had none)."""
        if not self.options.keep_files:
            self.inputs.pending(db, key, provider, batch_id)
        if first is not None and not capacity:
            self.capacity.success(db, provider, first.request["model"], key)
            self.stalled.pop(provider, None)

    def _strike(self, db, step: str, key: str, provider: str, model: str, size: int, why: str) -> None:
        """A capacity failure, in the transaction that records it: back off, send smaller batches."""
        wait, smaller = self.capacity.strike(db, provider, model, size)
        self.store.event("capacity", step, {"batch": key, "provider": provider, "model": model, "reason": why,
                                            "wait": round(wait, 2), "batch_size": smaller}, db=db)

    def _stall(self, provider: str, model: str, why: str, alone: bool) -> None:
        """When none of the run's other batches were queued there, a capacity failure is not of its making
        (another user's load, or a request too large for the limit): the provider counts as failing, so after
        --outage-timeout the run stops (resumable) instead of waiting for ever."""
        if alone:
            since = self.stalled.get(provider, (time.time(), ""))[0]
            self.stalled[provider] = (since, f"{model} batches are refused for an organisation-wide limit while no "
                                             f"other batch of this run is queued there: {why}")

    def _lost(self, step: str, key: str, err: ProviderError) -> None:
        with self.store.transaction() as db:
            self.ledger.requeue([a.id for a in self.ledger.batch_attempts(key)], db)
            self.ledger.set_batch(key, "lost", db, detail=err.message)
            self.store.event("batch lost", step, {"batch": key, "reason": err.message}, db=db)

    def send(self, step: dict, req, mode: str) -> int:
        self._check_budget()
        if mode == "realtime":
            return self._call_realtime(step, req)
        return self._submit(step, req)

    def _submit(self, step: dict, req) -> int:
        """The step's queued batch attempts, in batches of one model each (a batch at OpenAI or Gemini runs one).

        Memory stays flat in the queue's length: queued attempts are read a page at a time, a batch is cut
        keeping only its attempts' ids, and its requests are read again, page by page, while the adapter
        writes them out (runtime/attempts/ledger.py ``queued_pages``, ``requests_of``)."""
        sent = 0
        # every queued attempt, whichever way it was queued: a resume may have changed `--mode` since (cli/resumeflags.py)
        for (provider, model), own in self._queued_models(step["name"]).items():
            if time.time() < self.backoff_until.get(provider, 0) or self.capacity.waiting(provider, model):
                continue
            adapter = self._adapter(provider)
            too_large: list[tuple[int, int]] = []  # (attempt id, bytes)
            pairs = self._sendable(self._queued_pairs(step["name"], own, model), adapter, too_large)
            try:
                for ids, amount in self._batches(provider, model, pairs, adapter):
                    if self.ledger.in_flight(provider) >= self.options.max_in_flight:
                        break
                    if not self._submit_one(step["name"], provider, adapter, ids, model, amount):
                        break
                    sent += len(ids)
            finally:
                self._refuse(step["name"], provider, too_large, adapter)
        return sent

    def _queued_models(self, step: str) -> dict[tuple[str, str], list[str | None]]:
        """(provider, model) → the request providers (None: the step's own) of the step's queued attempts."""
        groups: dict[tuple[str, str], list[str | None]] = {}
        for own, model in self.ledger.queued_models(step):
            provider = own or self.fixed[step].partition(":")[0]
            groups.setdefault((provider, model), []).append(own)
        return groups

    def _queued_pairs(self, step: str, owns: list[str | None], model: str):
        """(attempt, request) of the queued attempts of one model, page by page."""
        for own in owns:
            for page in self.ledger.queued_pages(step, own, model):
                for attempt in page:
                    yield attempt, self._request(attempt)

    def _sendable(self, pairs, adapter, too_large: list):
        """The pairs whose request fits in a batch; one larger than a whole batch may be could never be sent
        (the provider would refuse the batch, again on every resume): it goes to ``too_large``, to fail its
        unit instead of the run."""
        for attempt, request in pairs:
            if _may_exceed(attempt.request, adapter.max_batch_bytes):
                size = adapter.request_bytes(request)
                if size > adapter.max_batch_bytes:
                    too_large.append((attempt.id, size))
                    continue
            yield attempt.id, request

    def _refuse(self, step: str, provider: str, too_large: list[tuple[int, int]], adapter) -> None:
        if not too_large:
            return
        with self.store.transaction() as db:
            for attempt_id, size in too_large:
                self.ledger.refuse(attempt_id, f"{provider}: the request is {size:,} bytes as sent, more than a whole "
                                               f"batch may be ({adapter.max_batch_bytes:,}); shorten its prompt", db)
            self.store.event("too large", step, {"provider": provider, "attempts": len(too_large)}, db=db)

    def _batches(self, provider: str, model: str, pairs, adapter):
        """(attempt ids, amount enqueued): batches within the provider's count and size limits, the batch size a
        capacity failure left, and the room in the provider's queue (runtime/attempts/capacity.py)."""
        size = min(self.options.batch_size or adapter.max_batch_requests, adapter.max_batch_requests)
        return self.capacity.cut(provider, model, pairs, size, adapter.max_batch_bytes, adapter.request_bytes)

    def _submit_one(self, step: str, provider: str, adapter, ids: list[int], model: str, amount: int) -> bool:
        key = f"octo-{self.tag}-b{self.ledger.batch_count() + 1}"
        with self.store.transaction() as db:  # 1. the intent, before the provider hears of it
            self.ledger.add_batch(key, step, provider, len(ids), db)
            self.ledger.mark_sent(ids, key, db)
            self.capacity.enqueue(db, key, provider, model, amount)
        crashpoint("before-submit")
        try:
            batch_id = adapter.submit(key, self._requests_of(ids))  # 2.
        except ProviderError as err:
            if err.kind == "capacity":  # refused for an organisation-wide limit: reconcile decides, as below
                with self.store.transaction() as db:
                    self._strike(db, step, key, provider, model, len(ids), err.message)
                self._stall(provider, model, err.message, not self.capacity.others_in_flight(provider, model, key))
                return False
            if err.transient:  # it may have been accepted after all: the next tick's reconcile decides
                self._transient_or_stop(provider, err)
                return False
            with self.store.transaction() as db:  # refused outright: nothing was accepted
                self.ledger.requeue(ids, db)
                self.ledger.set_batch(key, "unsent", db, detail=err.message)
            raise ProviderStop(err.message) from None
        crashpoint("after-submit")
        self._fine(provider)
        with self.store.transaction() as db:  # 3.
            self.ledger.set_batch(key, "submitted", db, provider_id=batch_id)
            self.store.event("submitted", step, {"batch": key, "requests": len(ids)}, db=db)
        return True

    def _requests_of(self, ids: list[int]):
        """The batch's requests, read from the store as the adapter writes them out (never all at once)."""
        for attempt_id, request in self.ledger.requests_of(ids):
            yield self._request_of(attempt_id, request)

    # --- realtime --------------------------------------------------------------------------

    def recover_realtime(self) -> None:
        """Realtime calls cut off by a kill have no answer: send them again (a realtime call cannot be looked up)."""
        rows = self.store.db.execute("SELECT id FROM attempts WHERE state = 'sent' AND batch IS NULL").fetchall()
        if rows:
            with self.store.transaction() as db:
                self.ledger.requeue([r[0] for r in rows], db)
                self.store.event("realtime calls re-queued after an interruption", detail={"attempts": len(rows)}, db=db)

    def _call_realtime(self, step: dict, req) -> int:
        """A group of the step's queued realtime attempts, each sent to its own unit's model, at once."""
        queued = self.ledger.attempts(step["name"], "queued", limit=self.options.concurrency * 8)  # however queued
        now = time.time()
        queued = [a for a in queued if now >= self.backoff_until.get(self._provider(a), 0)]
        if not queued:
            return 0
        adapters = {p: self._adapter(p) for p in dict.fromkeys(map(self._provider, queued))}
        with self.store.transaction() as db:
            self.ledger.mark_sent([a.id for a in queued], None, db)
        if self._threads is None:  # starting threads each tick cost ~13% of a 10k-unit realtime run
            self._threads = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="octo-realtime")
        answers = list(self._threads.map(lambda a: _call(adapters[self._provider(a)], self._request(a)), queued))
        stops: dict[str, ProviderError] = {}
        with self.store.transaction() as db:
            for attempt, answer in zip(queued, answers):
                if isinstance(answer, ProviderError):
                    self.ledger.requeue([attempt.id], db)
                    stops.setdefault(self._provider(attempt), answer)
                else:
                    self._record(attempt, answer, batch=False, db=db)
        for provider in adapters:
            if provider not in stops:
                self._fine(provider)
        for provider, err in stops.items():
            self._transient_or_stop(provider, err)
        return len(queued)

    # --- shared ------------------------------------------------------------------------------

    def _adapter(self, provider: str):
        """The provider's adapter; one that cannot be built (no key, unknown provider) stops the run."""
        try:
            return self.providers.adapter(provider)
        except ProviderError as err:
            raise ProviderStop(err.message) from None

    def _custom_id(self, attempt: Attempt) -> str:
        return f"{self.tag}-a{attempt.id}"

    def _request(self, attempt: Attempt) -> Request:
        return self._request_of(attempt.id, attempt.request)

    def _request_of(self, attempt_id: int, request: dict) -> Request:
        return Request(custom_id=f"{self.tag}-a{attempt_id}", **{k: v for k, v in request.items() if k != "provider"})

    def _provider(self, attempt: Attempt) -> str:
        """The provider an attempt goes to: its request's (a model per unit), else its step's."""
        return attempt.request.get("provider") or self.fixed[attempt.step].partition(":")[0]

    def _unmatched(self, attempt: Attempt, outcome: Outcome, db) -> Outcome | None:
        """No answer was proven this attempt's (providers/matching.py): None when it goes back to the queue
        without spending a try, its share of the stray answers' cost kept (runtime/attempts/unmatched.py); the outcome to
        record, spending a try, once its unit has been sent again ``FREE_RESENDS`` times for that."""
        if unmatched.resent(db, attempt.step, attempt.unit) >= unmatched.FREE_RESENDS:
            return replace(outcome, error=f"{outcome.error}; sent again {unmatched.FREE_RESENDS} times without "
                                          "spending a try, this time it spends one")
        unmatched.note(db, attempt.id, *self._price(attempt, outcome.usage, batch=True))
        self.ledger.requeue([attempt.id], db)
        return None

    def _price(self, attempt: Attempt, usage, batch: bool) -> tuple[float | None, float | None]:
        """(cost, list cost) of ``usage`` at the price of the unit's own model."""
        model = f"{self._provider(attempt)}:{attempt.request['model']}"
        price = self.prices.get("models", {}).get(model)
        listed = usage.cost(price, batch, self.prices.get("batch_discount", 0.5))
        return (0.0 if self.providers.emulated else listed), listed

    def _record(self, attempt: Attempt, outcome: Outcome, batch: bool, db) -> None:
        cost, listed = self._price(attempt, outcome.usage, batch)
        stray_cost, stray_listed = unmatched.paid(db, attempt.id)  # its earlier answers that came back without its key
        self.ledger.answer(attempt.id, outcome.text, outcome.error, outcome.retryable, outcome.usage.to_json(),
                           unmatched.add(cost, stray_cost), unmatched.add(listed, stray_listed), db)

    def _transient_or_stop(self, provider: str, err: ProviderError) -> None:
        if not err.transient:
            raise ProviderStop(err.message)
        since = self.trouble.get(provider, (time.time(), ""))[0]
        self.trouble[provider] = (since, err.message)
        self.backoff_until[provider] = time.time() + min(60.0, max(1.0, self.options.poll_interval))
        self.store.event("provider busy", None, {"provider": provider, "reason": err.message})

    def _fine(self, provider: str) -> None:
        self.trouble.pop(provider, None)

    def _check_budget(self) -> None:
        if self.budget is None:
            return
        spent, _ = self.ledger.spent()
        if spent >= self.budget:
            raise ProviderStop(f"the budget is spent: ${spent:.4f} of ${self.budget:.2f}; "
                               f"to allow more, resume with --max-usd AMOUNT")


def _may_exceed(request: dict, limit: int) -> bool:
    """Could this request be larger than ``limit`` bytes on any wire? A cheap bound, so that the exact size is
    measured only for huge requests: JSON takes at most 12 bytes per character (an escaped emoji), and the
    rest of a request (model, ids, settings, framing) far less than 64 KB."""
    text = len(request.get("prompt") or "") + len(request.get("system") or "") + len(json.dumps(request.get("schema")))
    return 12 * text + 65_536 > limit


def _call(adapter, request: Request) -> Outcome | ProviderError:
    try:
        return adapter.call(request)
    except ProviderError as err:
        return err
    except Exception as err:  # an SDK surprise must not lose the other calls' answers
        return ProviderError(f"unexpected error from the provider SDK: {type(err).__name__}: {err}", transient=True)


