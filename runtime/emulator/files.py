"""The emulator's files on disk: batch input files and result files live in a directory of the emulator's own,
never in memory whole (a 50,000-request batch file is ~70 MB; an emulator that held its files in memory grew
with every batch in flight).

``FileDir`` makes the directory on first use and removes it, with everything in it, when the emulator closes
(or, failing that, when it is garbage-collected or the process exits). Request bodies too large to hold
(uploads) are spooled to disk by the server (server.py) and their multipart fields located by offset
(``multipart_fields``), so an upload is copied from socket to file in fixed-size pieces.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

PIECE = 1 << 16  # bytes read or written at a time


class FileDir:
    """A directory of the emulator's own, made on first use, removed on ``close``."""

    def __init__(self):
        self._dir: tempfile.TemporaryDirectory | None = None
        self._lock = threading.Lock()

    def new(self, prefix: str) -> Path:
        """A path for a new file, not yet created."""
        with self._lock:
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="octo-emulator-")
            handle, name = tempfile.mkstemp(prefix=prefix, dir=self._dir.name)
        os.close(handle)
        return Path(name)

    def link(self, path: str | Path, prefix: str) -> Path:
        """A second name for the file at ``path`` (a hard link: no copy), which outlives the first's deletion."""
        name = self.new(prefix)
        os.unlink(name)
        os.link(path, name)
        return name

    def close(self) -> None:
        with self._lock:
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None


def remove(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def copy_range(source: BinaryIO, start: int, end: int, path: Path) -> int:
    """Copy bytes ``start``..``end`` of ``source`` into a new file at ``path``, a piece at a time."""
    source.seek(start)
    left = end - start
    with open(path, "wb") as out:
        while left > 0:
            piece = source.read(min(PIECE, left))
            if not piece:
                raise ValueError("the upload is cut off")
            out.write(piece)
            left -= len(piece)
    return end - start


# --- multipart/form-data bodies, located by offset -----------------------------------------------

def multipart_fields(body: BinaryIO, content_type: str) -> dict[str, tuple[str | None, int, int]]:
    """name → (filename, start, end) of each part of a multipart/form-data ``body`` (offsets of its content).
    The body is scanned a piece at a time for the boundary; only each part's headers are read into memory."""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError("files must be uploaded as multipart/form-data")
    head = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    boundary = head.get_param("boundary")
    if not boundary:
        raise ValueError("the multipart/form-data body has no boundary")
    delimiter = b"--" + boundary.encode()
    # the first delimiter starts the body (after an optional preamble); each later one follows a CRLF
    starts = [at + 2 for at in _offsets(body, b"\r\n" + delimiter)]
    body.seek(0)
    if body.read(len(delimiter)) == delimiter:
        starts.insert(0, 0)
    fields = {}
    for start, following in zip(starts, starts[1:]):
        body.seek(start + len(delimiter))
        if body.read(2) != b"\r\n":  # "--": the closing delimiter
            break
        headers = body.read(min(following - start, 16_384))
        cut = headers.find(b"\r\n\r\n")
        if cut < 0:
            raise ValueError("the multipart/form-data body is cut off")
        part = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(headers[:cut + 4])
        content_at = start + len(delimiter) + 2 + cut + 4
        fields[part.get_param("name", header="content-disposition")] = (part.get_filename(), content_at, following - 2)
    if not fields:
        raise ValueError("the multipart/form-data body is cut off")
    return fields


def read_range(body: BinaryIO, start: int, end: int) -> bytes:
    body.seek(start)
    return body.read(end - start)


def _offsets(body: BinaryIO, needle: bytes):
    """The offsets of ``needle`` in ``body``, read a piece at a time (a match across two pieces included)."""
    body.seek(0)
    tail, at = b"", 0  # tail: the last len(needle) - 1 bytes read, too short to hold a match of their own
    while True:
        piece = body.read(PIECE)
        if not piece:
            return
        window, base = tail + piece, at - len(tail)
        found = window.find(needle)
        while found >= 0:
            yield base + found
            found = window.find(needle, found + 1)
        tail = window[-(len(needle) - 1):] if len(needle) > 1 else b""
        at += len(piece)
