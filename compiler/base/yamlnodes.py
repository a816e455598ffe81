"""Positioned YAML nodes: every key, value and scalar knows its span.

The loader turns PyYAML's composed node graph into these small classes. A
string scalar can also map an offset *inside its value* back to the file
(:meth:`YScalar.file_offset`), which is how an error inside an expression or a
template lands on the exact character, block scalars and quoting included.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Iterator

from .records import record_class
from .source import Span


@record_class(eq=False)
class YNode:
    span: Span

    @property
    def kind(self) -> str:
        raise NotImplementedError


@record_class(eq=False)
class YScalar(YNode):
    value: Any  # str, int, float, bool or None
    style: str | None = None  # None (plain), "'", '"', "|", ">"
    _offsets: list[int] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        if self.value is None:
            return "null"
        if isinstance(self.value, bool):
            return "boolean"
        if isinstance(self.value, (int, float)):
            return "number"
        return "string"

    @property
    def is_str(self) -> bool:
        return isinstance(self.value, str)

    def file_offset(self, i: int) -> int:
        """File offset of character ``i`` of this scalar's string value."""
        if not isinstance(self.value, str):
            return self.span.start
        if self._offsets is None:
            self._offsets = _align(self)
        if not self._offsets:
            return self.span.start
        if i >= len(self._offsets):
            return self._offsets[-1] + 1 + (i - len(self._offsets))
        return self._offsets[max(i, 0)]

    def sub_span(self, start: int, end: int) -> Span:
        """The file span of characters ``[start, end)`` of the value."""
        limit = len(self.span.source.text)
        a = min(self.file_offset(start), limit)
        b = min(self.file_offset(end - 1) + 1 if end > start else a, limit)
        return Span(self.span.source, a, max(a, b))


@record_class(eq=False)
class YMap(YNode):
    items: list[tuple[YScalar, YNode]] = field(default_factory=list)
    flow: bool = False

    @property
    def kind(self) -> str:
        return "mapping"

    def get(self, key: str) -> YNode | None:
        for k, v in self.items:
            if k.value == key:
                return v
        return None

    def key(self, key: str) -> YScalar | None:
        for k, _ in self.items:
            if k.value == key:
                return k
        return None

    def keys(self) -> list[str]:
        return [k.value for k, _ in self.items]

    def __iter__(self) -> Iterator[tuple[YScalar, YNode]]:
        return iter(self.items)


@record_class(eq=False)
class YSeq(YNode):
    items: list[YNode] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "list"

    def __iter__(self) -> Iterator[YNode]:
        return iter(self.items)


def to_python(node: YNode) -> Any:
    """Plain Python data (dicts, lists, scalars) of a node."""
    if isinstance(node, YMap):
        return {k.value: to_python(v) for k, v in node.items}
    if isinstance(node, YSeq):
        return [to_python(v) for v in node.items]
    assert isinstance(node, YScalar)
    return node.value


# --- offset alignment ---------------------------------------------------------

_WINDOW = 8  # how far ahead in the source to look for the next value character


def _content_positions(node: YScalar) -> list[int]:
    """Source offsets that may hold the value's characters, in order.

    For block scalars, the header line and each line's indentation are left
    out, so that spaces in the value never match indentation in the source.
    """
    text = node.span.source.text
    start, end = node.span.start, node.span.end
    if node.style in ("|", ">"):
        header_end = text.find("\n", start, end)
        if header_end < 0:
            return []
        lines = text[header_end + 1:end].split("\n")
        indent = min((len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip()), default=0)
        positions, pos = [], header_end + 1
        for ln in lines:
            positions.extend(range(pos + min(indent, len(ln)), pos + len(ln) + 1))
            pos += len(ln) + 1
        return [p for p in positions if p < len(text) or p == len(text)]
    if node.style in ("'", '"'):
        return list(range(start + 1, max(start + 1, end - 1)))
    return list(range(start, end))


def _align(node: YScalar) -> list[int]:
    """Map each character of the value to a source offset, greedily.

    Exact wherever the value's text appears verbatim in the file (the common
    case); after an escape or a line fold it re-synchronises on the next
    matching character.
    """
    text = node.span.source.text
    value: str = node.value
    candidates = _content_positions(node)
    out: list[int] = []
    j = 0
    for ch in value:
        k = j
        limit = min(len(candidates), j + _WINDOW)
        while k < limit and not _same(_char_at(text, candidates[k]), ch):
            k += 1
        if k < limit:
            out.append(candidates[k])
            j = k + 1
        else:  # an escape sequence or folding: consume one source character
            out.append(candidates[j] if j < len(candidates) else (out[-1] + 1 if out else node.span.start))
            j += 1
    return out


def _same(source_char: str, value_char: str) -> bool:
    # folding turns a line break into a space in the value
    return source_char == value_char or (value_char == " " and source_char == "\n")


def _char_at(text: str, i: int) -> str:
    return text[i] if i < len(text) else "\n"
