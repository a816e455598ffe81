"""Memory on the batch path stays flat in units (issue 14): what each end holds, checked structurally.

- the sender hands the adapter its requests as an iterator read from the store page by page, never a list of
  the whole batch; and takes a batch's answers without decoding its requests (prompts and schemas);
- the OpenAI adapter writes the batch file to disk as the requests come, and reads result files line by
  line as they download;
- the emulator (as `octoc emulator` and `--provider emulator` run it) keeps of an ended batch only its
  metadata, counts and usage, and nothing at all of its files once they are deleted; it accepts 100 clients
  connecting at once;
- an OpenAI batch in the emulator holds no decoded request while in flight and one at a time while it is
  answered (its input file is validated line by line at create and decoded again when it runs), and answers
  exactly as an auditing emulator (which keeps them all) does.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import types
import weakref
from pathlib import Path

import pytest

from octo.runtime.emulator import files, openai_wire
from octo.runtime.emulator import server as server_module
from octo.runtime.emulator.core import Emulator, Occurrences
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.attempts.ledger import Ledger
from octo.runtime.providers import openai as openai_adapter
from octo.runtime.providers.base import Request
from octo.runtime.providers.openai import OpenAIAdapter
from octo.runtime.attempts.sending import Sender
from octo.runtime.base.store import Store

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
          "additionalProperties": False}


def _requests(n: int):
    return [Request(custom_id=f"t-a{i}", model="gpt-4.1-mini", prompt=f"question {i}", schema=SCHEMA)
            for i in range(n)]


@pytest.fixture
def forgetful():
    """An emulator as `octoc emulator` runs it (no history kept for audits), serving the real SDK."""
    emulator = Emulator(seed=3, keep_history=False)
    with EmulatorServer(emulator) as server:
        yield emulator, OpenAIAdapter("sk-test-key-000", base_url=f"{server.url}/v1")


def test_an_ended_batch_keeps_only_its_metadata_and_deleted_files_are_gone(forgetful):
    emulator, adapter = forgetful
    batch_id = adapter.submit("k1", iter(_requests(5)))  # any iterable: the adapter spools it to disk
    while not adapter.poll(batch_id).ended:
        pass
    outcomes = adapter.results(batch_id, [f"t-a{i}" for i in range(5)])
    assert [o.custom_id for o in outcomes] == [f"t-a{i}" for i in range(5)] and all(o.error is None for o in outcomes)
    held = emulator.batches[batch_id]
    assert held.requests == [] and held.answers == [] and held.sink is None
    status = adapter.poll(batch_id)  # what a provider still says of an ended batch
    assert status.counts == {"total": 5, "completed": 5, "failed": 0}
    adapter.delete_input(batch_id)
    assert emulator.files == {}


def test_an_auditing_emulator_keeps_what_it_was_sent():
    emulator = Emulator(seed=3)  # tests that audit what was sent and billed (tests/chaos.py) keep the history
    with EmulatorServer(emulator) as server:
        adapter = OpenAIAdapter("sk-test-key-000", base_url=f"{server.url}/v1")
        batch_id = adapter.submit("k1", _requests(3))
        while not adapter.poll(batch_id).ended:
            pass
        assert len(emulator.batches[batch_id].requests) == 3 and len(emulator.batches[batch_id].answers) == 3


def test_an_openai_batch_holds_one_decoded_request_at_a_time(monkeypatch):
    decoded = []  # a weak reference to every request the wire decodes

    def held() -> int:
        return sum(1 for ref in decoded if ref() is not None)

    def tracked(decode):
        def decode_and_track(body, custom_id=None):
            request = decode(body, custom_id)
            decoded.append(weakref.ref(request))
            return request
        return decode_and_track

    monkeypatch.setattr(openai_wire, "DECODERS", {k: tracked(v) for k, v in openai_wire.DECODERS.items()})
    live = []

    def counting(request, n):  # the emulator's responder, called once per request as the batch is answered
        live.append(held())
        return {"name": request.prompt}

    emulator = Emulator(seed=3, keep_history=False, responder=counting)
    with EmulatorServer(emulator) as server:
        adapter = OpenAIAdapter("sk-test-key-000", base_url=f"{server.url}/v1")
        batch_id = adapter.submit("k1", _requests(40))
        assert len(decoded) == 40 and held() == 0  # validated at create, none kept
        while not adapter.poll(batch_id).ended:
            pass
        outcomes = adapter.results(batch_id, [f"t-a{i}" for i in range(40)])
    assert len(live) == 40 and max(live) <= 2
    assert [json.loads(o.text)["name"] for o in outcomes] == [f"question {i}" for i in range(40)]


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
@pytest.mark.parametrize("faults", ["", "errored=0.3,invalid=0.2", "expire=1"])
def test_a_streamed_openai_batch_answers_as_an_auditing_emulator_does(endpoint, faults):
    requests = [Request(custom_id=f"t-a{i}", model="gpt-4.1-mini", prompt=f"question {i % 7}", system="Be brief.",
                        schema=SCHEMA if i % 2 else None, max_tokens=40 + i) for i in range(30)]
    seen = []
    for keep in (True, False):
        emulator = Emulator(seed=5, keep_history=keep, faults=faults)
        with EmulatorServer(emulator) as server:
            adapter = OpenAIAdapter("sk-test-key-000", base_url=f"{server.url}/v1", endpoint=endpoint)
            batch_id = adapter.submit("k1", requests)
            while not (status := adapter.poll(batch_id)).ended:
                pass
            outcomes = adapter.results(batch_id, [r.custom_id for r in requests])
            usage = emulator.batches[batch_id].extra["summary"]
        seen.append((status.counts, usage, outcomes))
    assert seen[0] == seen[1]
    assert faults != "expire=1" or seen[0][0]["failed"] == 15


def test_result_files_are_read_line_by_line_split_on_newlines_only():
    chunks = [b'{"custom_id": "a", "x": "line\xe2\x80\xa8sep', b'arator"}\n{"custom_id"', b': "b"}\r\n\n{"custom_id": "c"}']
    assert [line["custom_id"] for line in openai_adapter._jsonl(iter(chunks))] == ["a", "b", "c"]


class _Counting:
    """An adapter that takes any batch and answers every request, remembering how it was handed the requests."""

    provider, max_batch_requests, max_batch_bytes = "openai", 50_000, 200_000_000

    def __init__(self):
        self.handed, self.sent = [], {}

    def request_bytes(self, request):
        return len(request.prompt) + 100

    def submit(self, key, requests):
        self.handed.append(type(requests))
        self.sent[key] = [r.custom_id for r in requests]
        return f"batch-{key}"

    def poll(self, batch_id):
        from octo.runtime.providers.base import BatchStatus
        return BatchStatus(ended=True, state="completed")

    def results_stream(self, batch_id, custom_ids):
        from octo.runtime.providers.base import Outcome
        self.handed_ids = type(custom_ids)
        return (Outcome(cid, text='{"name": "crab"}') for cid in custom_ids)

    def delete_input(self, batch_id):
        pass


def _sender(tmp_path, adapter, n):
    store = Store(tmp_path / "store.sqlite")
    ledger = Ledger(store)
    with store.transaction() as db:
        ledger.add_attempts([("answer", i, 0, 1, "batch", {"model": "gpt-4.1-mini", "prompt": f"q {i}",
                                                           "schema": SCHEMA}) for i in range(n)], db)
    providers = types.SimpleNamespace(emulated=True, adapter=lambda provider: adapter)
    options = types.SimpleNamespace(max_usd=None, poll_interval=0.0, max_enqueued=None, keep_files=True,
                                    batch_size=None, max_in_flight=8)
    plan = types.SimpleNamespace(data={}, steps=[{"name": "answer", "model": "openai:gpt-4.1-mini"}])
    return Sender(ledger, providers, options, plan, "t"), ledger


def test_the_sender_streams_a_batch_and_takes_its_answers_without_decoding_its_requests(tmp_path, monkeypatch):
    adapter = _Counting()
    sender, ledger = _sender(tmp_path, adapter, 2500)
    decoded = []
    real_loads = json.loads
    monkeypatch.setattr("octo.runtime.attempts.ledger.json.loads", lambda text: decoded.append(1) or real_loads(text))
    assert sender.send({"name": "answer"}, None, "batch") == 2500
    assert adapter.handed and list not in adapter.handed  # an iterator, read from the store as it is written out
    assert sum(len(ids) for ids in adapter.sent.values()) == 2500
    decoded.clear()
    sender.poll("answer")
    assert decoded == []  # no request (prompt, schema) decoded to take the answers
    states = ledger.db.execute("SELECT state, count(*) FROM attempts GROUP BY state").fetchall()
    assert states == [("answered", 2500)]


def test_the_ledger_pages_the_queue(tmp_path):
    _, ledger = _sender(tmp_path, _Counting(), 2500)
    pages = list(ledger.queued_pages("answer", None, "gpt-4.1-mini", page=1000))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert [a.id for p in pages for a in p] == sorted(a.id for p in pages for a in p)


def test_a_hundred_clients_connect_at_once():
    assert EmulatorServer.request_queue_size >= 100  # socketserver's default listen backlog is 5
    with EmulatorServer(Emulator()) as server:
        port = int(server.url.rsplit(":", 1)[1])
        barrier, answers = threading.Barrier(100), []

        def client():
            barrier.wait()
            with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
                conn.sendall(b"GET /v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n\r\n")
                answers.append(conn.recv(64).split(b" ")[1])

        threads = [threading.Thread(target=client) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert answers == [b"200"] * 100


# --- files on disk, streamed uploads and downloads (emulator/files.py) --------------------------------------

def test_the_emulators_files_are_on_disk_in_its_own_directory_removed_when_it_closes(forgetful):
    emulator, adapter = forgetful
    batch_id = adapter.submit("k1", _requests(5))
    while not adapter.poll(batch_id).ended:
        pass
    entries = list(emulator.files.values())
    assert len(entries) == 2 and all("data" not in e for e in entries)  # the input file and the output file
    folder = {Path(e["path"]).parent for e in entries}
    assert len(folder) == 1 and all(Path(e["path"]).stat().st_size == e["bytes"] > 0 for e in entries)
    (where,) = folder
    emulator.close()
    assert not where.exists()


def test_a_download_is_sent_from_its_file_a_piece_at_a_time(forgetful, monkeypatch):
    emulator, adapter = forgetful
    batch_id = adapter.submit("k1", _requests(3))
    while not adapter.poll(batch_id).ended:
        pass
    output = emulator.batches[batch_id].extra["output_file_id"]
    reply = openai_wire.file_content(emulator, types.SimpleNamespace(params={"file_id": output}))
    assert isinstance(reply.body, Path)  # the server copies the file to the socket a piece at a time
    pieces = []
    real_copy = server_module.shutil.copyfileobj
    monkeypatch.setattr(server_module.shutil, "copyfileobj",
                        lambda src, dst, size: pieces.append(size) or real_copy(src, dst, size))
    assert [o.error for o in adapter.results(batch_id, [f"t-a{i}" for i in range(3)])] == [None] * 3
    assert pieces == [files.PIECE]


def test_an_upload_is_spooled_to_disk_and_its_fields_found_by_offset(monkeypatch):
    monkeypatch.setattr(files, "PIECE", 7)  # boundaries straddle the pieces the body is read in
    content = b'{"custom_id": "a"}\n' * 50
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--XyZ--\r\n")
    spooled = io.BytesIO(body)
    fields = files.multipart_fields(spooled, "multipart/form-data; boundary=XyZ")
    assert files.read_range(spooled, *fields["purpose"][1:]) == b"batch"
    name, start, end = fields["file"]
    assert name == "in.jsonl" and body[start:end] == content
    assert server_module.IN_MEMORY <= 1 << 20  # larger bodies go to disk as they arrive


def test_the_emulator_counts_occurrences_on_disk_across_commits(monkeypatch):
    monkeypatch.setattr(Occurrences, "EVERY", 2)
    seen = Occurrences()
    fingerprints = [f"{i % 3:x}" * 64 for i in range(10)] + ["f" * 64, "f" * 64]  # the top bit set: SQLite's sign
    assert [seen.count(f) for f in fingerprints] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 0, 1]
    assert not isinstance(Emulator()._seen, dict)  # no per-request counter in memory
    seen.close()


def test_the_sender_takes_a_batchs_answers_a_page_at_a_time(tmp_path, monkeypatch):
    adapter = _Counting()
    sender, ledger = _sender(tmp_path, adapter, 2500)
    sender.send({"name": "answer"}, None, "batch")
    monkeypatch.setattr(Ledger, "batch_attempts", lambda self, key: pytest.fail("the whole batch's attempts read"))
    sender.poll("answer")
    assert adapter.handed_ids is not list  # the custom ids too, as the store pages them
    states = ledger.db.execute("SELECT state, count(*) FROM attempts GROUP BY state").fetchall()
    assert states == [("answered", 2500)]
