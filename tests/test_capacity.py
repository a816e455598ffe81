"""Organisation-wide capacity and uploaded input files, end to end: `octoc run` through the real SDKs against the
emulator over HTTP (issue 12, Why-5 and Why-6 "never deleted").

A batch failed or refused for an organisation-wide limit spends no unit's try: with `retries: 0` every unit
still ends done, after a backoff, in smaller batches. The bound on what the run has enqueued holds against an
emulator that enforces the same limit. Uploaded input files are deleted once their batch is over (also after a
kill between ingesting and deleting), kept with --keep-files, and a deletion that fails is said, not fatal.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import octoc as octoc_subprocess
from octo.cli.exitcodes import OK, PROVIDER, USAGE
from octo.runtime.emulator import openai_wire
from octo.runtime.emulator.capacity import amount
from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.server import EmulatorServer, Route
from octo.runtime.providers.base import ProviderError, Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter
from octoproc import run

TIMEOUT = 120

PIPELINE = """octo: 1
name: notes
data:
  topics: [{{id: a, name: apples}}, {{id: b, name: boats}}, {{id: c, name: clouds}}]
units:
  for: {{topic: topics}}
  repeat: {repeat}
steps:
  write:
    generate:
      model: {model}
      system: You write short, vivid notes for a children's encyclopedia about everyday things.
      prompt: "Write about {{{{ unit.topic.name }}}}."
      output: {{title: str, words: "int[1, 50]"}}
    retries: 0
"""

# Refusals on create are retried by the SDKs first (Anthropic: 3 calls, Gemini: 3 attempts): one refused
# submission uses up that many of the `org_limit` fault.
ONE_REFUSAL = {"openai:gpt-4.1-mini": 1, "anthropic:claude-haiku-4-5": 3, "gemini:gemini-2.5-flash": 3}


def octoc(where, *argv, emulator, env=None, name="octoc"):
    """`octoc ARGV` in a forked process (tests/octoproc.py; its output in ``where``), every provider's SDK
    pointed at ``emulator``."""
    providers = {"OPENAI_BASE_URL": f"{emulator.url}/v1", "ANTHROPIC_BASE_URL": emulator.url,
                 "GOOGLE_GEMINI_BASE_URL": emulator.url, "OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k",
                 "GEMINI_API_KEY": "k", "OCTO_CRASHPOINT": ""}
    return run(list(argv), where, TIMEOUT, name, {**providers, **(env or {})})


def pipeline(tmp_path, model="openai:gpt-4.1-mini", repeat=4):
    path = tmp_path / "p.octo"
    path.write_text(PIPELINE.format(model=model, repeat=repeat))
    return path


def store(run_dir, sql, *args):
    db = sqlite3.connect(run_dir / "run.db")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def uploaded(emulator) -> list[str]:
    """Batch input files the emulator still holds (its own result files left out)."""
    return [fid for fid, f in emulator.files.items() if f.get("purpose") == "batch" and not f.get("generated")]


@pytest.mark.parametrize("model", list(ONE_REFUSAL))
def test_an_organisation_wide_failure_spends_no_try_and_the_batch_goes_again_smaller_after_a_backoff(tmp_path, model):
    emulator = Emulator(seed=3, faults=f"org_limit={ONE_REFUSAL[model]}")
    with EmulatorServer(emulator):
        out = octoc(tmp_path, "run", pipeline(tmp_path, model), "--run-dir", tmp_path / "r", "--batch-size", "4",
                    "--poll-interval", "0", emulator=emulator)
    assert out.code == OK, out.stdout + out.stderr
    run = tmp_path / "r"
    assert store(run, "SELECT state, count(*) FROM results GROUP BY state") == [("done", 12)]
    assert store(run, "SELECT max(try) FROM attempts") == [(1,)]  # nobody's try was spent on it
    [(detail,)] = store(run, "SELECT detail FROM events WHERE kind = 'capacity'")
    event = json.loads(detail)
    assert event["batch_size"] == 2 and event["wait"] > 0
    [(until, struck)] = store(run, "SELECT until, struck FROM capacity")
    # the first batch sent after the failure is half the size, and was sent after the backoff
    later = sorted((b.created, len(b.requests)) for b in emulator.batches.values() if b.created > struck)
    assert later and later[0][0] >= until and later[0][1] == 2
    status = octoc(tmp_path, "status", run, emulator=emulator, name="status")
    assert "batches: 1 failed or refused for an organisation-wide limit" in status.stdout  # said, not hidden


def test_the_bound_on_enqueued_tokens_holds_against_a_provider_that_enforces_it(tmp_path):
    limit = 1_000  # tokens: two batches of four of these requests fit, by octo's (high) estimate
    bounded = Emulator(seed=3, faults=f"enqueued={limit},slow=3")
    with EmulatorServer(bounded):
        out = octoc(tmp_path, "run", pipeline(tmp_path, repeat=8), "--run-dir", tmp_path / "r", "--batch-size", "4",
                    "--poll-interval", "0", "--max-enqueued", f"openai={limit}", emulator=bounded)
    assert out.code == OK, out.stdout + out.stderr
    assert store(tmp_path / "r", "SELECT count(*) FROM events WHERE kind = 'capacity'") == [(0,)]
    peak = bounded.enqueued_peak[("openai", "gpt-4.1-mini")]
    one_batch = max(amount("openai", b.requests) for b in bounded.batches.values())
    assert one_batch < peak <= limit  # more than one batch was queued at once, and never more than the limit
    # without the bound, the same provider refuses batches; the run still ends with every unit done
    unbounded = Emulator(seed=3, faults=f"enqueued={limit},slow=3")
    with EmulatorServer(unbounded):
        out = octoc(tmp_path, "run", pipeline(tmp_path, repeat=8), "--run-dir", tmp_path / "u", "--batch-size", "4",
                    "--poll-interval", "0", emulator=unbounded, name="unbounded")
    assert out.code == OK, out.stdout + out.stderr
    assert store(tmp_path / "u", "SELECT count(*) FROM events WHERE kind = 'capacity'")[0][0] > 0
    assert store(tmp_path / "u", "SELECT state, count(*) FROM results GROUP BY state") == [("done", 24)]


def test_a_request_larger_than_the_bound_goes_alone_and_the_run_ends(tmp_path):
    emulator = Emulator(seed=3, faults="slow=2")
    with EmulatorServer(emulator):
        out = octoc(tmp_path, "run", pipeline(tmp_path, repeat=1), "--run-dir", tmp_path / "r", "--poll-interval", "0",
                    "--max-enqueued", "openai=10", emulator=emulator)
    assert out.code == OK, out.stdout + out.stderr
    assert sorted(len(b.requests) for b in emulator.batches.values()) == [1, 1, 1]
    # one at a time: the most ever queued is the largest single request
    assert emulator.enqueued_peak[("openai", "gpt-4.1-mini")] == max(amount("openai", b.requests)
                                                                     for b in emulator.batches.values())


@pytest.mark.parametrize("keep", [False, True], ids=["deleted", "kept"])
def test_input_files_are_deleted_once_their_batch_is_over_or_kept_with_keep_files(tmp_path, keep):
    emulator = Emulator(seed=3, faults="org_limit=1")  # a batch failed for capacity leaves its file too
    with EmulatorServer(emulator):
        out = octoc(tmp_path, "run", pipeline(tmp_path), "--run-dir", tmp_path / "r", "--batch-size", "4", "--poll-interval",
                    "0", *(["--keep-files"] if keep else []), emulator=emulator)
    assert out.code == OK, out.stdout + out.stderr
    assert len(emulator.batches) >= 4
    if keep:
        assert len(uploaded(emulator)) == len(emulator.batches) and "openai.files.delete" not in emulator.calls
    else:  # inputs, and the output files whose answers the run has stored
        assert emulator.files == {}


def test_a_kill_between_ingesting_and_deleting_resumes_and_deletes(tmp_path):
    emulator = Emulator(seed=3)
    with EmulatorServer(emulator):
        killed = octoc(tmp_path, "run", pipeline(tmp_path), "--run-dir", tmp_path / "r", "--batch-size", "4",
                       "--poll-interval", "0", emulator=emulator, env={"OCTO_CRASHPOINT": "before-delete"})
        assert killed.code == 137, killed.stdout + killed.stderr
        assert store(tmp_path / "r", "SELECT DISTINCT state FROM input_files") == [("pending",)]
        assert len(uploaded(emulator)) == len(emulator.batches)  # nothing deleted yet
        resumed = octoc(tmp_path, "run", "--resume", tmp_path / "r", emulator=emulator, name="resumed")
    assert resumed.code == OK, resumed.stdout + resumed.stderr
    assert emulator.files == {}
    assert {s for (s,) in store(tmp_path / "r", "SELECT state FROM input_files")} == {"deleted"}
    sent = [r.custom_id for b in emulator.batches.values() for r in b.requests]
    assert len(sent) == len(set(sent)) == 12  # nothing sent twice


def test_a_kill_while_a_capacity_failure_is_recorded_resumes_with_it_recorded_once(tmp_path):
    emulator = Emulator(seed=3, faults="org_limit=1")
    with EmulatorServer(emulator):
        killed = octoc(tmp_path, "run", pipeline(tmp_path), "--run-dir", tmp_path / "r", "--batch-size", "4",
                       "--poll-interval", "0", emulator=emulator, env={"OCTO_CRASHPOINT": "during-capacity"})
        assert killed.code == 137, killed.stdout + killed.stderr
        assert store(tmp_path / "r", "SELECT count(*) FROM batches WHERE state = 'capacity'") == [(0,)]  # rolled back
        resumed = octoc(tmp_path, "run", "--resume", tmp_path / "r", emulator=emulator, name="resumed")
    assert resumed.code == OK, resumed.stdout + resumed.stderr
    run_dir = tmp_path / "r"
    [(detail,)] = store(run_dir, "SELECT detail FROM events WHERE kind = 'capacity'")  # one strike, not two
    assert json.loads(detail)["batch_size"] == 2
    assert store(run_dir, "SELECT state, count(*) FROM results GROUP BY state") == [("done", 12)]
    assert store(run_dir, "SELECT max(try) FROM attempts") == [(1,)]
    answered = [cid for provider, how, cid in emulator.log]
    assert len(answered) == len(set(answered)) == 12  # each request ran, and was paid for, once
    assert uploaded(emulator) == []  # the failed batch's input too


def test_a_deletion_the_provider_refuses_is_reported_and_the_run_finishes(tmp_path):
    emulator = Emulator(seed=3)
    server = EmulatorServer(emulator)
    refuse = Route("DELETE", r"/v1/files/(?P<file_id>[^/]+)", "openai.files.delete",
                   lambda emu, call: openai_wire.error_reply(403, "Deleting files is not allowed for this key."))
    server.routes = [(w, refuse if r.name == "openai.files.delete" else r, p) for w, r, p in server.routes]
    with server:
        out = octoc(tmp_path, "run", pipeline(tmp_path), "--run-dir", tmp_path / "r", "--batch-size", "4", "--poll-interval",
                    "0", emulator=emulator)
    assert out.code == OK, out.stdout + out.stderr
    assert "note: the files of 3 batches at openai could not be deleted" in out.stdout
    assert "Deleting files is not allowed for this key" in out.stdout and "Traceback" not in out.stderr


def test_a_capacity_failure_the_run_did_not_cause_stops_it_after_the_outage_timeout(tmp_path):
    emulator = Emulator(seed=3, faults="org_limit=1000")  # the organisation's queue never has room
    with EmulatorServer(emulator):
        out = octoc(tmp_path, "run", pipeline(tmp_path, repeat=1), "--run-dir", tmp_path / "r", "--poll-interval",
                    "0", "--outage-timeout", "1", emulator=emulator)
    assert out.code == PROVIDER, out.stdout + out.stderr
    assert "gpt-4.1-mini batches are refused for an organisation-wide limit while no other batch of this run is " \
           "queued there" in out.stderr and "octoc run --resume" in out.stderr
    assert store(tmp_path / "r", "SELECT max(try) FROM attempts") == [(1,)]  # still no try spent


def test_once_a_refused_batch_is_taken_a_long_batch_does_not_stop_the_run(tmp_path):
    """The refusal came with nothing else of the run queued (the provider counts as failing); the batch sent
    after the backoff is taken and runs longer than --outage-timeout: the run waits for it, it does not stop."""
    emulator = Emulator(seed=3, faults="org_limit=3,slow=6")  # one refused create (3 calls), then batches of 6 polls
    with EmulatorServer(emulator):
        out = octoc(tmp_path, "run", pipeline(tmp_path, "anthropic:claude-haiku-4-5", repeat=1), "--run-dir",
                    tmp_path / "r", "--poll-interval", "0.3", "--outage-timeout", "3", emulator=emulator)
    assert out.code == OK, out.stdout + out.stderr
    assert store(tmp_path / "r", "SELECT count(*) FROM events WHERE kind = 'capacity'") == [(1,)]


# --- flags ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, says", [
    ("opena=5", "'opena=5' is not PROVIDER=N; did you mean 'openai'?"),
    ("openai=0", "openai needs a whole number from 1"),
    ("openai", "'openai' is not PROVIDER=N"),
    (",", "give PROVIDER=N"),
])
def test_a_max_enqueued_that_cannot_work_is_a_usage_error_before_any_run_directory(tmp_path, spec, says):
    path = pipeline(tmp_path)
    out = octoc_subprocess("run", str(path), "--provider", "emulator", "--run-dir", "r", "--max-enqueued", spec,
                           cwd=tmp_path)
    assert out.returncode == USAGE and says in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_resume_takes_max_enqueued_merged_with_the_runs_and_keep_files(tmp_path):
    run_dir = tmp_path / "r"
    killed = run(["run", pipeline(tmp_path), "--provider", "emulator", "--run-dir", run_dir, "--max-enqueued",
                  "openai=5000"], tmp_path, TIMEOUT, env={"OCTO_CRASHPOINT": "before-submit"})
    assert killed.code == 137, killed.stdout + killed.stderr
    resumed = run(["run", "--resume", run_dir, "--max-enqueued", "anthropic=7", "--keep-files"], tmp_path, TIMEOUT,
                  name="resumed")
    assert resumed.code == OK, resumed.stdout + resumed.stderr
    assert ("changed for this run, and kept when it is resumed again: --max-enqueued anthropic=7,openai=5000 "
            "(was openai=5000), --keep-files") in resumed.stdout
    [(settings,)] = store(run_dir, "SELECT value FROM meta WHERE key = 'settings'")
    stored = json.loads(settings)
    assert stored["max_enqueued"] == {"openai": 5000, "anthropic": 7} and stored["keep_files"] is True
    assert store(run_dir, "SELECT count(*) FROM input_files") == [(0,)]  # kept: none recorded for deletion


# --- adapters, through the real SDKs ---------------------------------------------------------------

REQUESTS = [Request(custom_id=f"k{i}", model="gemini-2.5-flash", prompt=f"Note {i} about the tide.") for i in range(3)]


def test_a_gemini_upload_is_named_after_its_key_deleted_once_and_a_refused_ones_file_too(tmp_path):
    emulator = Emulator(seed=3, faults="org_limit=3")  # the first create is refused (three attempts)
    with EmulatorServer(emulator):
        adapter = GeminiAdapter("k", emulator.url, inline_limit_bytes=1, retry_delay=0.001)
        with pytest.raises(ProviderError) as refused:
            adapter.submit("octo-run-b1", REQUESTS)
        assert refused.value.kind == "capacity" and refused.value.transient
        assert "octo-run-b1" in emulator.files  # uploaded as files/octo-run-b1, no batch made of it
        assert adapter.find("octo-run-b1") is None and emulator.files == {}  # reconciliation deletes it
        batch_id = adapter.submit("octo-run-b2", REQUESTS)
        assert "octo-run-b2" in emulator.files
        while not adapter.poll(batch_id).ended:
            pass
        fresh = GeminiAdapter("k", emulator.url)  # another process: finds the file from the batch alone
        fresh.delete_input(batch_id)
        assert "octo-run-b2" not in emulator.files
        fresh.delete_input(batch_id)  # again: a file already gone is fine


def test_an_openai_upload_whose_create_is_refused_is_deleted_when_no_batch_is_found(tmp_path):
    emulator = Emulator(seed=3, faults="submit_429=3")  # the create call and the SDK's two retries
    with EmulatorServer(emulator):
        adapter = OpenAIAdapter("k", f"{emulator.url}/v1")
        requests = [Request(custom_id=f"k{i}", model="gpt-4.1-mini", prompt=f"Note {i}.") for i in range(2)]
        with pytest.raises(ProviderError) as refused:
            adapter.submit("octo-run-b1", requests)
        assert refused.value.kind == "capacity" and refused.value.transient
        assert len(uploaded(emulator)) == 1
        assert adapter.find("octo-run-b1") is None and uploaded(emulator) == []
        batch_id = adapter.submit("octo-run-b2", requests)
        while not adapter.poll(batch_id).ended:
            pass
        adapter.results(batch_id, [r.custom_id for r in requests])
        adapter.delete_input(batch_id)
        assert emulator.files == {}  # its input and its output file
        adapter.delete_input(batch_id)  # again: files already gone are fine
