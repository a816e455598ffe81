"""Source files and spans: where every diagnostic points.

A :class:`Span` is a half-open range of character offsets into one
:class:`Source`. Lines and columns are computed on demand (1-based, columns
counted in characters) so that spans stay two integers and a reference.
"""

from __future__ import annotations

import bisect
import errno
from dataclasses import field
from pathlib import Path

from .records import record_class


# A pipeline file is a few kilobytes; data belongs in data files (compiler/frontend/datapath.py bounds those).
MAX_SOURCE_BYTES = 16 * 1024 * 1024


def decode_text(data: bytes) -> str:
    """UTF-8 bytes as text, newlines translated as a file opened in text mode does (raises UnicodeDecodeError)."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


@record_class(eq=False)
class Source:
    """The text of one file, with a line index for offset → (line, column)."""

    path: str
    text: str
    _line_starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        self._line_starts = starts

    @classmethod
    def read(cls, path: str | Path) -> "Source":
        """Read a UTF-8 file of at most MAX_SOURCE_BYTES; raises OSError or UnicodeDecodeError."""
        with open(path, "rb") as f:
            data = f.read(MAX_SOURCE_BYTES + 1)  # bounded: the path may name /dev/zero or a pipe
        if len(data) > MAX_SOURCE_BYTES:
            raise OSError(errno.EFBIG, f"file too large (more than {MAX_SOURCE_BYTES >> 20} mebibytes)", str(path))
        return cls(str(path), decode_text(data))

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self._line_starts[line] - 1 if line < len(self._line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def offset_of(self, line: int, col: int) -> int:
        """Character offset of a 1-based (line, column)."""
        line = max(1, min(line, len(self._line_starts)))
        return min(self._line_starts[line - 1] + col - 1, len(self.text))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)


@record_class(frozen=True)
class Span:
    """A half-open range ``[start, end)`` of character offsets in a source."""

    source: Source = field(compare=False)
    start: int
    end: int

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def line(self) -> int:
        return self.source.line_col(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.line_col(self.start)[1]

    def end_line_col(self) -> tuple[int, int]:
        return self.source.line_col(max(self.start, self.end))

    def to(self, other: "Span") -> "Span":
        """The smallest span covering this one and ``other``."""
        return Span(self.source, min(self.start, other.start), max(self.end, other.end))

    def text(self) -> str:
        return self.source.text[self.start:self.end]

    def __repr__(self) -> str:
        return f"Span({self.path}:{self.line}:{self.column}+{self.end - self.start})"
