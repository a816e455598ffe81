"""Sizes, counts and custom ids as the providers measure and refuse them, through the real SDKs.

Each adapter measures a batch exactly as its SDK will put it on the wire, and the
emulator refuses what the real service refuses, in the service's own shape. The
emulator's limits are lowered for these tests (``Limits``), so a boundary is
reached with kilobytes instead of the real 20 MB / 200 MB / 256 MB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import anthropic
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from octo.runtime.emulator.core import Emulator
from octo.runtime.emulator.limits import Limits
from octo.runtime.emulator.server import EmulatorServer
from octo.runtime.providers.anthropic import AnthropicAdapter
from octo.runtime.providers.base import ProviderError, Request
from octo.runtime.providers.gemini import GeminiAdapter
from octo.runtime.providers.openai import OpenAIAdapter

KEY = "test-key-1234"
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "description": "étiquette ✓"}},
          "required": ["label"], "additionalProperties": False}
TEXTS = {  # what the issue measured: wire size / UTF-8 estimate of 1.01, 1.48, 1.91, 2.37
    "ascii": "Classify this logbook entry: fog at dawn, three ships in the harbour.",
    "accented": "Écris une phrase élégante à propos d'un café crème près de la rivière, s'il te plaît.",
    "japanese": "港の霧について短い俳句を書いてください。船が三隻あります。",
    "emoji": "🌊🚢⚓ describe the 🌫️ over the 🐟🐟 please 😀😀😀",
}


class Recording(EmulatorServer):
    """The emulator's server, remembering every request body as it arrived (path → bodies)."""

    def __init__(self, emulator):
        super().__init__(emulator)
        self.bodies: dict[str, list[bytes]] = {}

    def dispatch(self, call):
        self.bodies.setdefault(call.path, []).append(call.body)
        return super().dispatch(call)


@pytest.fixture(scope="module")
def server():
    with Recording(Emulator()) as running:
        yield running


@pytest.fixture
def emulator(server):
    """emulator(limits=…, faults=…): a fresh emulator behind the module's server."""

    def make(**options) -> Emulator:
        emu = Emulator(responder=lambda request, n: {"label": "fog"} if request.schema else "fog", **options)
        emu.url = server.url
        server.emulator = emu
        server.bodies.clear()
        return emu

    return make


def gemini_requests(text: str, n: int = 4) -> list[Request]:
    return [Request(f"run0-a{i}", "gemini-2.0-flash", f"{text * 5} ({i})", system="Système ✓" if i % 2 else None,
                    schema=SCHEMA if i % 2 else None, temperature=1 if i % 3 else None, max_tokens=64)
            for i in range(n)]


def run_gemini(adapter: GeminiAdapter, batch: list[Request]):
    batch_id = adapter.submit("octo-t-b1", batch)
    assert adapter.poll(batch_id).ended
    return adapter.results(batch_id, [r.custom_id for r in batch])


# --- Gemini: the inline body as the SDK sends it ------------------------------------------------

@pytest.mark.parametrize("script", TEXTS)
def test_a_gemini_batch_goes_inline_exactly_while_its_body_as_sent_fits(server, emulator, script):
    """The inline limit applies to the body google-genai sends (\\uXXXX escapes and all): a batch whose body
    is exactly the limit goes inline and is accepted; one byte less of limit and it goes as a file."""
    batch = gemini_requests(TEXTS[script])
    emulator()
    run_gemini(GeminiAdapter(KEY, server.url, retry_delay=0.001), batch)
    wire = len(server.bodies["/v1beta/models/gemini-2.0-flash:batchGenerateContent"][0])
    utf8 = sum(GeminiAdapter(KEY, server.url).request_bytes(r) for r in batch)
    assert wire / utf8 > (1.25 if script != "ascii" else 1.0)  # the escapes: what a UTF-8 count misses

    for limit, inline in ((wire, True), (wire - 1, False)):
        emu = emulator(limits=Limits(gemini_inline_bytes=limit))
        outcomes = run_gemini(GeminiAdapter(KEY, server.url, retry_delay=0.001, inline_limit_bytes=limit), batch)
        assert all(o.error is None for o in outcomes)
        assert ("gemini.file_upload" not in emu.calls) == inline


@pytest.mark.parametrize("script", ["accented", "japanese", "emoji"])
def test_non_ascii_text_under_the_utf8_estimate_is_not_sent_inline_over_the_limit(server, emulator, script):
    """Issue 12, Why-1: counted in UTF-8 the batch fits the inline limit; as sent it does not. It must go as a
    file, not be refused (a 400 that stopped the run, and again on every resume)."""
    batch = gemini_requests(TEXTS[script])
    limit = sum(GeminiAdapter(KEY, server.url).request_bytes(r) for r in batch) + 200  # fits in UTF-8 terms
    emu = emulator(limits=Limits(gemini_inline_bytes=limit))
    outcomes = run_gemini(GeminiAdapter(KEY, server.url, retry_delay=0.001, inline_limit_bytes=limit), batch)
    assert [o.error for o in outcomes] == [None] * len(batch)
    assert emu.calls["gemini.file_upload"] == 2  # resumable upload: start, then upload + finalize


def test_the_emulator_refuses_an_inline_body_over_the_limit_as_google_does(server, emulator):
    emulator(limits=Limits(gemini_inline_bytes=2_000))
    client = genai.Client(api_key=KEY, http_options=genai_types.HttpOptions(base_url=server.url, api_version="v1beta"))
    src = [{"contents": [{"role": "user", "parts": [{"text": "港" * 400}]}], "metadata": {"key": "k0"}}]
    with pytest.raises(genai_errors.ClientError) as refused:
        client.batches.create(model="gemini-2.0-flash", src=src)
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")
    assert "Request payload size exceeds the limit: 2000 bytes" in refused.value.message


def test_the_real_limits_are_the_defaults_and_cannot_be_raised():
    assert Limits() == Limits(openai_file_bytes=200_000_000, openai_batch_requests=50_000,
                              anthropic_batch_bytes=256_000_000, anthropic_batch_requests=100_000,
                              anthropic_message_bytes=32_000_000, gemini_inline_bytes=20_000_000,
                              gemini_file_bytes=2_000_000_000)
    with pytest.raises(ValueError, match="openai_file_bytes"):
        Limits(openai_file_bytes=200 * 1024 * 1024)
    assert GeminiAdapter(KEY, "http://127.0.0.1:9").inline_limit_bytes == Limits().gemini_inline_bytes


# --- OpenAI: the JSONL file and its 200 MB ------------------------------------------------------------

def openai_requests(n: int, text: str = TEXTS["japanese"]) -> list[Request]:
    return [Request(f"run0-a{i}", "gpt-4.1-mini", f"{text} ({i})", system="Système ✓", schema=SCHEMA)
            for i in range(n)]


def test_openai_file_limit_is_200_million_bytes_not_200_mib():
    """Issue 12, Why-6: "200 MB" is 200,000,000 bytes; octo cut batches at 209,715,200."""
    assert OpenAIAdapter.max_batch_bytes == Limits().openai_file_bytes == 200_000_000


def test_openai_file_is_exactly_the_bytes_measured_and_one_byte_over_is_refused_at_upload(server, emulator):
    batch = openai_requests(5)
    adapter = OpenAIAdapter(KEY, base_url=f"{server.url}/v1", max_retries=0)
    size = sum(adapter.request_bytes(r) for r in batch)

    emu = emulator(limits=Limits(openai_file_bytes=size))
    adapter.submit("octo-t-b1", batch)
    (uploaded,) = [f for f in emu.files.values() if f["purpose"] == "batch"]
    assert uploaded["bytes"] == len(Path(uploaded["path"]).read_bytes()) == size  # on disk (emulator/files.py)

    emulator(limits=Limits(openai_file_bytes=size - 1))
    with pytest.raises(ProviderError, match=r"HTTP 400\): File is too large"):
        adapter.submit("octo-t-b2", batch)


def test_openai_lines_are_utf8_not_escapes(server, emulator):
    """Non-ASCII text goes into the file as UTF-8: \\uXXXX escapes would make it up to 3 times larger and
    fill the 200 MB sooner."""
    emu = emulator()
    OpenAIAdapter(KEY, base_url=f"{server.url}/v1").submit("octo-t-b1", openai_requests(1))
    (uploaded,) = [f for f in emu.files.values() if f["purpose"] == "batch"]
    data = Path(uploaded["path"]).read_bytes()
    assert TEXTS["japanese"].encode() in data and b"\\u" not in data


def _failed_validation(adapter: OpenAIAdapter, batch: list[dict], emu: Emulator):
    """Upload ``batch`` (raw lines) and create a batch on it with the SDK; the batch as the SDK reads it."""
    data = "".join(json.dumps(line) + "\n" for line in batch).encode()
    upload = adapter.client.files.create(file=("in.jsonl", data), purpose="batch")
    created = adapter.client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                            completion_window="24h")
    return adapter.client.batches.retrieve(created.id)


def test_openai_fails_a_batch_with_a_duplicated_custom_id_naming_the_line(server, emulator):
    emu = emulator()
    adapter = OpenAIAdapter(KEY, base_url=f"{server.url}/v1")
    lines = [adapter.line(r) for r in openai_requests(3)]
    lines[2]["custom_id"] = lines[0]["custom_id"]
    batch = _failed_validation(adapter, lines, emu)
    assert batch.status == "failed"
    (error,) = batch.errors.data
    assert (error.code, error.line, error.param) == ("duplicate_custom_id", 3, "custom_id")
    assert "failed" in adapter.poll(batch.id).failed


def test_openai_fails_a_batch_over_the_request_count(server, emulator):
    emu = emulator(limits=Limits(openai_batch_requests=3))
    adapter = OpenAIAdapter(KEY, base_url=f"{server.url}/v1")
    batch = _failed_validation(adapter, [adapter.line(r) for r in openai_requests(4)], emu)
    assert batch.status == "failed" and [e.code for e in batch.errors.data] == ["too_many_tasks"]


# --- Anthropic: the request body and custom ids -----------------------------------------------------

def anthropic_requests(n: int, text: str = TEXTS["emoji"]) -> list[Request]:
    return [Request(f"run0-a{i}", "claude-haiku-4-5", f"{text} ({i})", system="Système ✓",
                    schema=SCHEMA if i % 2 else None, max_tokens=64) for i in range(n)]


def test_anthropic_body_is_exactly_the_bytes_measured_and_one_byte_over_is_a_413(server, emulator):
    batch = anthropic_requests(5)
    adapter = AnthropicAdapter(KEY, base_url=server.url, max_retries=0)
    size = sum(adapter.request_bytes(r) for r in batch) + (Limits().anthropic_batch_bytes - adapter.max_batch_bytes)

    emulator(limits=Limits(anthropic_batch_bytes=size))
    adapter.submit("octo-t-b1", batch)
    assert len(server.bodies["/v1/messages/batches"][0]) == size

    emulator(limits=Limits(anthropic_batch_bytes=size - 1))
    with pytest.raises(ProviderError, match="HTTP 413.*maximum allowed number of bytes"):
        adapter.submit("octo-t-b2", batch)


def test_anthropic_batch_limits_leave_room_for_the_body_around_the_lines():
    assert AnthropicAdapter.max_batch_requests == Limits().anthropic_batch_requests == 100_000
    assert AnthropicAdapter.max_batch_bytes == 256_000_000 - len('{"requests":[]}') + 1


@pytest.mark.parametrize("custom_id", ["has.dot", "a" * 65, "", "spaced id", "ünï"])
def test_anthropic_refuses_a_custom_id_outside_its_pattern(server, emulator, custom_id):
    emulator()
    client = anthropic.Anthropic(api_key=KEY, base_url=server.url, max_retries=0)
    params = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.batches.create(requests=[{"custom_id": custom_id, "params": params}])
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    assert "^[a-zA-Z0-9_-]{1,64}$" in refused.value.body["error"]["message"]


def test_anthropic_refuses_duplicated_custom_ids_and_too_many_requests(server, emulator):
    emulator(limits=Limits(anthropic_batch_requests=2))
    client = anthropic.Anthropic(api_key=KEY, base_url=server.url, max_retries=0)
    params = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    for ids, said in ((["a", "a"], "unique"), (["a", "b", "c"], "at most 2")):
        with pytest.raises(anthropic.BadRequestError, match=said):
            client.messages.batches.create(requests=[{"custom_id": i, "params": params} for i in ids])


def test_octos_own_custom_ids_fit_every_providers_rule():
    """<run tag: 8 hex digits>-a<attempt id>: within Anthropic's pattern (the strictest) for any attempt id."""
    from octo.runtime.attempts.sending import Sender

    tag = "0123abcd"
    for attempt_id in (1, 10**6, 10**15):
        custom_id = Sender._custom_id(type("S", (), {"tag": tag})(), type("A", (), {"id": attempt_id})())
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", custom_id), custom_id


# --- a request larger than a whole batch ---------------------------------------------------------------

BIG = """octo: 1
name: big
data:
  notes: [short, also short, "{huge}"]
units:
  for: {{note: notes}}
steps:
  w:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Summarise: {{{{ unit.note }}}}"
      output: {{gist: str}}
"""


def test_a_request_larger_than_a_whole_batch_fails_its_unit_and_the_run_goes_on(tmp_path):
    """Sent, it would make the provider refuse its whole batch — a stop, and again on every resume. The limit is
    lowered to 3,000 bytes for the test (the adapter's and the emulator's alike)."""
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.base.source import Source
    from octo.compiler.frontend.check import check_source
    from octo.compiler.planning.planner import build_plan
    from octo.runtime.attempts.dispatch import DispatchOptions
    from octo.runtime.engine import Engine
    from octo.runtime.providers import Providers
    from octo.runtime.rundirs.rundir import create_run
    from octo.stdlib import default_language

    text = BIG.format(huge="tide " * 1_000)
    source = tmp_path / "big.octo"
    source.write_text(text)
    checked = check_source(Source(str(source), text), default_language())
    assert checked.ok, [d.message for d in checked.diagnostics]
    run_dir = create_run(build_plan(checked.program, default_language(), Reporter()), tmp_path / "run", {"emulator": True})
    emu = Emulator(limits=Limits(openai_file_bytes=3_000))
    with EmulatorServer(emu) as server:
        engine = Engine(run_dir)
        try:
            engine.providers = Providers(emulator_url=server.url)
            engine.providers.adapter("openai").max_batch_bytes = 3_000
            engine.dispatch_options = DispatchOptions(poll_interval=0, mode="batch")
            for _ in range(50):
                if engine.tick().finished:
                    break
            states = engine.store.db.execute("SELECT unit, state, reason FROM results WHERE step = 'w' ORDER BY unit")
            states = states.fetchall()
        finally:
            engine.close()
    assert [s[1] for s in states] == ["done", "done", "failed"]
    assert re.search(r"the request is [\d,]+ bytes as sent, more than a whole batch may be \(3,000\)", states[2][2])
    # OpenAI's files are on disk, with their size; Gemini's in memory
    assert all(f.get("bytes", len(f.get("data", b""))) <= 3_000 for f in emu.files.values() if f["purpose"] == "batch")
