"""The emulator's HTTP server: routing, authentication and injected HTTP faults.

Each wire module supplies ``PROVIDER``, ``key_of(call)`` (the API key the SDK
sent, or None), ``error_reply(status, message)`` in the provider's error shape,
and ``ROUTES``. The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import BinaryIO, Callable
from urllib.parse import parse_qs, urlsplit

from .core import Emulator
from .files import PIECE

IN_MEMORY = 1 << 20  # request bodies up to this size are held in memory; larger ones are spooled to disk


@dataclass
class HttpCall:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]   # lower-case names
    content: BinaryIO         # the body: in memory when small, spooled to a temporary file when large (uploads)
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route's pattern

    @property
    def body(self) -> bytes:
        """The whole body in memory (a route that takes large bodies reads ``content`` instead)."""
        self.content.seek(0)
        return self.content.read()

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class HttpReply:
    status: int = 200
    body: object = None       # dict/list → JSON; str/bytes → as is; a Path → that file, sent a piece at a time
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body if self.body is not None else {}).encode()


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str              # a regex over the path (no query), with named groups
    name: str                 # counted in Emulator.calls
    handler: Callable[[Emulator, HttpCall], HttpReply]
    fault: str | None = None  # "submit" | "poll" | "call": where injected HTTP faults apply
    auth: bool = True         # False: the SDK sends no key here (e.g. an upload URL the server handed out)


def _wires() -> list[ModuleType]:
    from . import anthropic_wire, gemini_wire, openai_wire

    return [openai_wire, anthropic_wire, gemini_wire]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every keep-alive reply waits ~40 ms for a delayed ACK
    server: "EmulatorServer"

    def log_message(self, format, *args):  # quiet: the emulator keeps its own counts
        pass

    def _body(self) -> BinaryIO:
        """The request's body: in memory up to ``IN_MEMORY`` bytes, else spooled to disk as it arrives (a batch
        file upload is never held whole)."""
        spool = tempfile.SpooledTemporaryFile(IN_MEMORY)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                _copy(self.rfile, spool, size)
                self.rfile.readline()
        else:
            _copy(self.rfile, spool, int(self.headers.get("Content-Length") or 0))
        spool.seek(0)
        return spool

    def _handle(self):
        parts = urlsplit(self.path)
        with self._body() as content:
            call = HttpCall(self.command, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()}, content)
            reply = self.server.dispatch(call)
        if isinstance(reply.body, Path):
            self._send_file(reply)
            return
        data = reply.encoded()
        self._send_head(reply, len(data))
        self.wfile.write(data)

    def _send_head(self, reply: HttpReply, length: int) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_file(self, reply: HttpReply) -> None:
        """A file's content, a piece at a time (a batch's result file is never read whole)."""
        try:
            source = open(reply.body, "rb")
        except FileNotFoundError:  # deleted between the route's answer and now
            data = b'{"error": {"message": "the file was deleted"}}'
            self._send_head(HttpReply(404), len(data))
            self.wfile.write(data)
            return
        with source:
            self._send_head(reply, os.fstat(source.fileno()).st_size)
            shutil.copyfileobj(source, self.wfile, PIECE)

    do_GET = do_POST = do_DELETE = do_PUT = _handle


def _copy(source: BinaryIO, out: BinaryIO, size: int) -> None:
    """Copy ``size`` bytes from ``source`` to ``out``, a piece at a time."""
    while size > 0:
        piece = source.read(min(PIECE, size))
        if not piece:
            raise ConnectionError("the client closed the connection mid-body")
        out.write(piece)
        size -= len(piece)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    # the listen backlog: connections the kernel queues before the server accepts them. socketserver's 5
    # overflows when tens of clients connect at once (a benchmark's 100 concurrent calls): room for 128.
    request_queue_size = 128

    def __init__(self, emulator: Emulator, port: int = 0, host: str = "127.0.0.1"):
        super().__init__((host, port), _Handler)
        self.emulator = emulator
        self.routes = [(wire, route, re.compile(route.pattern + r"\Z")) for wire in _wires() for route in wire.ROUTES]
        emulator.url = f"http://{host}:{self.server_address[1]}"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.emulator.url

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-request (a killed `octoc run`) is routine: no traceback on stderr.
        Anything else is the emulator's own bug, said in one line."""
        err = sys.exc_info()[1]
        if isinstance(err, (ConnectionError, TimeoutError)):
            return
        sys.stderr.write(f"octoc emulator: a request from {client_address[0]} failed: {type(err).__name__}: {err}\n")

    def dispatch(self, call: HttpCall) -> HttpReply:
        emu = self.emulator
        matches = []
        for wire, route, pattern in self.routes:
            match = pattern.match(call.path)
            if match is not None and route.method == call.method:
                matches.append((wire, route, match.groupdict()))
        if not matches:
            return HttpReply(404, {"error": {"message": f"the emulator has no route {call.method} {call.path}"}})
        # Providers share some paths (/v1/batches): the wire whose SDK sent its own kind of key answers.
        wire, route, params = next(((w, r, p) for w, r, p in matches if not r.auth or w.key_of(call)), matches[0])
        call.params = params
        if route.auth:
            key = wire.key_of(call)
            if not key or (emu.valid_keys is not None and key not in emu.valid_keys):
                return wire.error_reply(401, "Invalid API key (the emulator accepts any non-empty key"
                                             + (" from its list" if emu.valid_keys is not None else "") + ").")
        emu.counted(route.name)
        injected = route.fault and self._http_fault(wire, route.fault)
        if injected:
            return injected
        try:
            return route.handler(emu, call)
        except (ValueError, KeyError, TypeError) as err:  # a request the real API would refuse
            return wire.error_reply(400, f"Invalid request: {err}")

    def _http_fault(self, wire, where: str) -> HttpReply | None:
        faults = self.emulator.faults
        for suffix, status, message in (("429", 429, "Rate limit reached (injected fault)."),
                                         ("5xx", 503, "The service is temporarily unavailable (injected fault).")):
            if faults.take(f"{where}_{suffix}"):
                reply = wire.error_reply(status, message)
                reply.headers.update({"retry-after": "0", "retry-after-ms": "10"})
                return reply
        return None

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="octo-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
