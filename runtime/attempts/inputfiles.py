"""Deleting a batch's files once the batch is over, exactly as far as a kill allows.

OpenAI batches always, and Gemini batches above the inline limit, are sent as
an uploaded JSONL file, which stays at the provider after the batch ended
(OpenAI keeps batch files 30 days, Gemini 48 hours, and Gemini caps a
project's files at 20 GB); OpenAI's output and error files stay too. octo
deletes them (the adapter's ``delete_input``) once the batch is over:

1. the transaction that ingests the batch (or re-queues it after a capacity
   failure) records a row here, ``pending``;
2. the adapter deletes the file (``delete_input``: idempotent, a file already
   gone is fine);
3. a transaction marks the row ``deleted``.

A kill between 1 and 3 leaves the row ``pending``: the next tick deletes it
again, and a second deletion of a gone file is a no-op. A deletion that fails
never fails the run: a transient error is tried again on later ticks (at most
``MAX_TRIES`` times), any other marks the row ``failed`` with the reason, and
what is left is said when the run finishes (``leftover``). With
``--keep-files`` nothing is recorded and nothing deleted.
"""

from __future__ import annotations

import sqlite3

from ..base.crashpoints import crashpoint
from ..providers.base import ProviderError

SCHEMA = """
CREATE TABLE IF NOT EXISTS input_files (
    key TEXT PRIMARY KEY, provider TEXT NOT NULL, provider_id TEXT NOT NULL, state TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0, detail TEXT) WITHOUT ROWID;
"""

MAX_TRIES = 5
_EXPIRY = {"openai": "batch input files expire after 30 days", "gemini": "uploaded files expire after 48 hours"}


class InputFiles:
    def __init__(self, store, adapter_of):
        self.store, self.db = store, store.db
        self.adapter_of = adapter_of  # provider → its adapter
        self.db.executescript(SCHEMA)

    def pending(self, db: sqlite3.Connection, key: str, provider: str, provider_id: str) -> None:
        """Record that batch ``key``'s input is to be deleted, in the transaction that ends the batch."""
        db.execute("INSERT OR IGNORE INTO input_files(key, provider, provider_id, state) VALUES (?, ?, ?, 'pending')",
                   (key, provider, provider_id))

    def delete_pending(self) -> int:
        """Delete the inputs of every batch recorded as pending; how many were settled (deleted or given up)."""
        rows = self.db.execute("SELECT key, provider, provider_id, tries FROM input_files WHERE state = 'pending' "
                               "ORDER BY key").fetchall()
        settled = 0
        for key, provider, provider_id, tries in rows:
            crashpoint("before-delete")
            try:
                self.adapter_of(provider).delete_input(provider_id)
            except ProviderError as err:
                settled += self._failed(key, tries + 1, err)
                continue
            with self.store.transaction() as db:
                db.execute("UPDATE input_files SET state = 'deleted', tries = ? WHERE key = ?", (tries + 1, key))
            settled += 1
        return settled

    def _failed(self, key: str, tries: int, err: ProviderError) -> int:
        final = not err.transient or tries >= MAX_TRIES
        with self.store.transaction() as db:
            db.execute("UPDATE input_files SET state = ?, tries = ?, detail = ? WHERE key = ?",
                       ("failed" if final else "pending", tries, err.message, key))
            self.store.event("input file not deleted", detail={"batch": key, "reason": err.message, "final": final},
                             db=db)
        return int(final)


def finish(engine) -> str:
    """When a run finishes: a last try at the inputs still to delete, then what could not be deleted."""
    store = engine.store
    if store.has_table("input_files") and store.db.execute(
            "SELECT 1 FROM input_files WHERE state = 'pending' LIMIT 1").fetchone():
        from .stop import ProviderStop

        try:
            engine.dispatch.sender.inputs.delete_pending()
        except ProviderStop:  # a provider that cannot be reached at all now: said below
            pass
    return leftover(store)


def leftover(store) -> str:
    """What the run could not delete, said once it finishes ("" when nothing is left)."""
    if not store.has_table("input_files"):
        return ""
    rows = store.db.execute("SELECT provider, count(*), max(detail) FROM input_files WHERE state != 'deleted' "
                            "GROUP BY provider ORDER BY provider").fetchall()
    return "".join(f"note: the files of {n} batch{'es' if n != 1 else ''} at {provider} could not be deleted "
                   f"({detail or 'not tried yet'}); they stay there until deleted or expired "
                   f"({_EXPIRY.get(provider, 'see the provider')})\n" for provider, n, detail in rows)
