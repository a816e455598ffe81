"""Headless Chromium for the tests and benchmarks: load a local HTML file and say what the page did.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: the browser reads
commands on fd 3 and writes answers and events on fd 4, each message JSON ending in a NUL byte), with the
standard library only; docs/design.md says why not Playwright. :class:`Chromium` starts one browser with a
fresh profile; :meth:`Chromium.load` opens a file in a new tab and returns a :class:`Page`:

- ``console`` — console messages of level error or warning, and the browser's own log entries of those
  levels (a resource that failed to load, a blocked request);
- ``exceptions`` — uncaught JavaScript exceptions;
- ``requests`` — every URL the page asked for other than the file itself and ``data:`` URIs. None reaches
  the network: each is failed on the spot (Fetch interception), so a test never waits for a timeout;
- ``counts`` / ``visible`` — per CSS selector asked for, the elements matching it after the load event,
  and those of them with a non-empty bounding box;
- ``load_ms`` (navigation start → end of the load event) and ``render_ms`` (navigation start → the first
  frame drawn after it, so layout and paint are in);
- ``png`` (the full page, at most MAX_HEIGHT CSS pixels tall) and ``pixels`` (colours of a thumbnail of
  it, decoded here with zlib: the page is blank when it has no pixel that is not white).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe",
         "--hide-scrollbars", "--mute-audio"]
WIDTH, HEIGHT = 1280, 800  # the viewport, CSS pixels
MAX_HEIGHT = 16000  # the tallest screenshot taken, CSS pixels: a taller page is cut there
THUMB_WIDTH = 320  # the width of the thumbnail whose pixels are counted
SKIP_REASON = "headless Chromium not found"


def find_chromium() -> str | None:
    """Debian's chromium when it is installed, or the browser OCTO_CHROMIUM names (only it, when set)."""
    if "OCTO_CHROMIUM" in os.environ:
        candidates = [os.environ["OCTO_CHROMIUM"]]
    else:
        candidates = ["/usr/bin/chromium", shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


class BrowserError(RuntimeError):
    """Chromium died, did not answer in time, or refused a command."""


@dataclass
class Pixels:
    """What a screenshot's thumbnail shows: its size, how many colours, how many pixels are not white."""

    width: int
    height: int
    colours: int
    not_white: int

    @property
    def blank(self) -> bool:
        return self.not_white == 0 or self.colours < 2


@dataclass
class Page:
    url: str
    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    visible: dict[str, int] = field(default_factory=dict)
    load_ms: float = 0.0
    render_ms: float = 0.0
    png: bytes = b""
    pixels: Pixels | None = None

    def problems(self) -> list[str]:
        """Everything that makes a self-contained page fail: console errors and warnings, exceptions, requests."""
        return ([f"console: {m}" for m in self.console] + [f"exception: {e}" for e in self.exceptions]
                + [f"request: {u}" for u in self.requests])


class Chromium:
    """One headless Chromium with a fresh profile in ``profile``; a context manager. ``load`` opens pages."""

    def __init__(self, profile: Path, executable: str | None = None, timeout: float = 60.0):
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError(f"{SKIP_REASON}: apt-get install chromium")
        self.timeout = timeout
        self._ids = 0
        self._buffer = b""
        self._loading: tuple[Page, str] | None = None  # the page being loaded, and its session
        self._loaded = False
        self._exit: int | None = None
        commands, self._to_browser = os.pipe()
        self._from_browser, answers = os.pipe()
        # Above fd 10, so that putting them at 3 and 4 in the child cannot overwrite one with the other.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands, answers)]
        null = os.open(os.devnull, os.O_RDWR)
        try:  # the browser gets fds 0-4 only (ours are close-on-exec); its own process group, to end it whole
            self.pid = os.posix_spawnp(
                executable, [executable, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
                             "about:blank"], os.environ,
                file_actions=[(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                              (os.POSIX_SPAWN_DUP2, null, 2), (os.POSIX_SPAWN_DUP2, high[0], 3),
                              (os.POSIX_SPAWN_DUP2, high[1], 4)], setsid=True)
        finally:
            for fd in (commands, answers, null, *high):
                os.close(fd)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def exit_code(self) -> int | None:
        """The browser's exit code once it has ended; None while it runs."""
        if self._exit is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._exit = os.waitstatus_to_exitcode(status)
        return self._exit

    def close(self) -> None:
        """Ask the browser to close; end its process group when it has not within 5 s."""
        with contextlib.suppress(BrowserError):  # it may be gone already
            if self.exit_code() is None:
                self._send("Browser.close")
        deadline = time.monotonic() + 5
        while self.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.exit_code() is None:
            os.killpg(self.pid, 9)
            self._exit = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the protocol ---------------------------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._ids += 1
        message = {"id": self._ids, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"Chromium is gone (exit {self.exit_code()})") from None
        return self._ids

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed its pipe (exit {self.exit_code()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and wait for its answer; events that arrive meanwhile go to the page being loaded."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        if "method" in message and self._loading and message.get("sessionId") == self._loading[1]:
            self._note(*self._loading, message)

    # -- a page ---------------------------------------------------------------------------------------------

    def load(self, path: Path, selectors: tuple[str, ...] = (), width: int = WIDTH, scale: float = 1.0) -> Page:
        """Open the HTML file at ``path`` in a new tab ``width`` CSS pixels wide, wait for its load event and first
        frame, and report (``png`` at ``scale``)."""
        url = Path(path).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(url)
        self._loading = (page, session)
        try:
            for method, params in [("Page.enable", {}), ("Runtime.enable", {}), ("Log.enable", {}),
                                   ("Network.enable", {}), ("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}),
                                   ("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})]:
                self.call(method, params, session)
            self._loaded = False  # from here on, a load event is the file's (about:blank's came before)
            navigated = self.call("Page.navigate", {"url": url}, session)
            if navigated.get("errorText"):
                raise BrowserError(f"{url}: {navigated['errorText']}")
            deadline = time.monotonic() + self.timeout
            while not self._loaded:
                self._dispatch(self._receive(deadline))
            self._measure(page, session, selectors)
            self._screenshot(page, session, scale)
            self.call("Runtime.evaluate", {"expression": "0"}, session)  # a round trip: every event sent is noted
        finally:
            self._loading = None
            with contextlib.suppress(BrowserError):  # a browser that died has said so above
                self.call("Target.closeTarget", {"targetId": target})
        return page

    def _note(self, page: Page, session: str, event: dict) -> None:
        method, params = event["method"], event.get("params", {})
        if method == "Page.loadEventFired":
            self._loaded = True
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", a.get("type")))) for a in params.get("args", []))
            page.console.append(f"{params['type']}: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
            entry = params["entry"]
            page.console.append(f"{entry['level']}: {entry.get('text', '')} {entry.get('url', '')}".rstrip())
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            page.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Network.requestWillBeSent":
            self._request(page, params["request"]["url"])
        elif method == "Fetch.requestPaused":
            asked = params["request"]["url"]
            if self._request(page, asked):
                self._send("Fetch.failRequest", {"requestId": params["requestId"], "errorReason": "BlockedByClient"},
                           session)
            else:
                self._send("Fetch.continueRequest", {"requestId": params["requestId"]}, session)

    @staticmethod
    def _request(page: Page, asked: str) -> bool:
        """Note a URL the page asked for; False for the page itself and data: URIs, which are allowed."""
        if asked.split("#")[0] == page.url or asked.startswith("data:"):
            return False
        if asked not in page.requests:
            page.requests.append(asked)
        return True

    def _measure(self, page: Page, session: str, selectors: tuple[str, ...]) -> None:
        script = """new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const counts = {};
            for (const s of %s) {
                const all = [...document.querySelectorAll(s)];
                const seen = all.filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
                counts[s] = [all.length, seen.length];
            }
            done(JSON.stringify({href: location.href, load: nav ? nav.loadEventEnd || nav.loadEventStart : 0,
                                 render: performance.now(), counts}));
        })))""" % json.dumps(list(selectors))
        answer = self.call("Runtime.evaluate", {"expression": script, "awaitPromise": True, "returnByValue": True},
                           session)
        if "exceptionDetails" in answer:
            raise BrowserError(f"measuring {page.url}: {answer['exceptionDetails'].get('text')}")
        measured = json.loads(answer["result"]["value"])
        if measured["href"].split("#")[0] != page.url:
            raise BrowserError(f"measured {measured['href']}, not {page.url}")
        page.load_ms, page.render_ms = measured["load"], measured["render"]
        for selector, (count, visible) in measured["counts"].items():
            page.counts[selector], page.visible[selector] = count, visible

    def _screenshot(self, page: Page, session: str, scale: float) -> None:
        size = self.call("Page.getLayoutMetrics", {}, session)["cssContentSize"]
        width, height = max(1, int(size["width"])), max(1, min(int(size["height"]), MAX_HEIGHT))

        def shot(scale: float) -> bytes:
            clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": scale}
            data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip},
                             session)["data"]
            return base64.b64decode(data)

        page.png = shot(scale)
        page.pixels = pixels(shot(min(1.0, THUMB_WIDTH / width)))


# -- PNG, with zlib --------------------------------------------------------------------------------------------

def pixels(png: bytes, most: int = 4096) -> Pixels:
    """Count the colours (up to ``most``) and the pixels that are not white of an 8-bit RGB or RGBA PNG."""
    width, height, channels, rows = _decode(png)
    colours, not_white = set(), 0
    white = b"\xff" * 3
    for row in rows:
        for x in range(0, width * channels, channels):
            rgb = bytes(row[x:x + 3])
            if rgb != white:
                not_white += 1
            if len(colours) < most:
                colours.add(rgb)
    return Pixels(width, height, len(colours), not_white)


def _decode(png: bytes) -> tuple[int, int, int, list[bytearray]]:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    at, idat, header = 8, [], None
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        body = png[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        at += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"an 8-bit RGB(A) PNG without interlacing expected, not {header}")
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous, channels)
        rows.append(row)
        previous = row
    return width, height, channels, rows


def _unfilter(kind: int, row: bytearray, up: bytearray, bpp: int) -> bytearray:
    """Undo one scanline's PNG filter (None, Sub, Up, Average, Paeth) in place."""
    if kind == 1:
        for i in range(bpp, len(row)):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(len(row)):
            row[i] = (row[i] + up[i]) & 0xFF
    elif kind == 3:
        for i in range(len(row)):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + up[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(row)):
            a = row[i - bpp] if i >= bpp else 0
            b, c = up[i], (up[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    elif kind != 0:
        raise ValueError(f"unknown PNG filter {kind}")
    return row
