"""The space of units: counted, indexed and iterated without materialising it.

Unit ``i`` of a pipeline is found by arithmetic: the replica is ``i // base``
and the rest is a mixed-radix number over the unit tables (the last table
varies fastest), each digit unranked into a row, a k-permutation or a
k-combination of rows. So a 10-million-unit cross product is counted in O(1)
and sampled or sliced in O(what is used).

Unit ids are stable (the same data and file give the same ids), readable
(``middle-r17``, ``grumpy-calm-weather``) and valid as provider custom ids
(``^[A-Za-z0-9_-]{1,64}$``); where the readable form could be ambiguous or is
too long, a hash of the exact key makes it unique.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .program import MAX_UNITS  # noqa: F401  (with the units' spec, where `check` reads it without this module)

MAX_ID = 64
_SAFE_ROW = re.compile(r"^[A-Za-z0-9_]+$")
_SAFE_IN_TUPLE = re.compile(r"^[A-Za-z0-9]+$")  # '_' joins the rows of a tuple


@dataclass(frozen=True)
class TableSpace:
    field: str
    rows: tuple[Any, ...]
    keys: tuple[str, ...]  # each row's raw key: its id, its value, or its position
    arrangement: str = "rows"  # rows | permutations | combinations
    k: int = 1

    @functools.cached_property
    def safe(self) -> tuple[bool, ...]:
        """Per row: can its key stand in a readable id as it is?"""
        pattern = _SAFE_ROW if self.k == 1 else _SAFE_IN_TUPLE
        return tuple(bool(pattern.match(key)) for key in self.keys)

    @functools.cached_property
    def size(self) -> int:
        n = len(self.rows)
        if self.arrangement == "permutations":
            return math.perm(n, self.k)
        if self.arrangement == "combinations":
            return math.comb(n, self.k)
        return n

    def indices(self, i: int) -> tuple[int, ...]:
        """Row positions of arrangement ``i`` (lexicographic order)."""
        n, k = len(self.rows), self.k
        if self.arrangement == "rows":
            return (i,)
        if self.arrangement == "permutations":
            pool, out = list(range(n)), []
            for j in range(k):
                block = math.perm(n - j - 1, k - j - 1)
                d, i = divmod(i, block)
                out.append(pool.pop(d))
            return tuple(out)
        out, x = [], 0
        for j in range(k):  # combinations: the combinatorial number system
            while True:
                block = math.comb(n - x - 1, k - j - 1)
                if i < block:
                    break
                i -= block
                x += 1
            out.append(x)
            x += 1
        return tuple(out)

    def value(self, idx: tuple[int, ...]) -> Any:
        return self.rows[idx[0]] if self.arrangement == "rows" else [self.rows[j] for j in idx]


def row_key(row: Any, position: int) -> str:
    if isinstance(row, dict):
        return str(row["id"]) if row.get("id") is not None else str(position)
    return str(row)


@dataclass(frozen=True)
class UnitSpace:
    tables: tuple[TableSpace, ...]
    repeat: int = 1

    @functools.cached_property
    def base(self) -> int:
        return math.prod(t.size for t in self.tables)

    @functools.cached_property
    def total(self) -> int:
        return self.base * self.repeat

    @functools.cached_property
    def _memo(self) -> dict[int, tuple] | None:
        """Per index within a replica: its row picks and id labels — kept when replicas repeat them."""
        return {} if self.repeat > 1 and self.base <= 65_536 else None

    def _entry(self, i: int) -> tuple[int, tuple[tuple[int, ...], ...], tuple | None]:
        """Unit ``i`` as (replica, row picks per table, id labels if already known)."""
        base = self.base
        r, rest = divmod(i, base) if base else (i, 0)
        memo = self._memo
        if memo is None:
            return r, self._picks(rest), None
        known = memo.get(rest)
        if known is None:
            picks = self._picks(rest)
            known = memo[rest] = (picks, self._labels(picks))
        return r, known[0], known[1]

    def _picks(self, rest: int) -> tuple[tuple[int, ...], ...]:
        picks: list[tuple[int, ...]] = []
        for table in reversed(self.tables):
            rest, d = divmod(rest, table.size)
            picks.append(table.indices(d))
        picks.reverse()
        return tuple(picks)

    def unit(self, i: int, unit_id: str | None = None) -> dict[str, Any]:
        """The `unit` record of unit ``i``: id, repeat and one entry per table (pass a known id to skip making it)."""
        r, picks, labels = self._entry(i)
        if unit_id is None:
            unit_id = self._id(r, labels or self._labels(picks))
        out: dict[str, Any] = {"id": unit_id, "repeat": r}
        fields = self._fields.get(picks) if self._fields is not None else None
        if fields is None:
            fields = {table.field: table.value(idx) for table, idx in zip(self.tables, picks)}
            if self._fields is not None and len(self._fields) < 65_536:
                self._fields[picks] = fields
        out.update(fields)
        return out

    def records(self, units: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
        """The `unit` records of a chunk of (position, index, id): :meth:`unit` of each, made in one call
        (from the kept entries, when a repeated space keeps them)."""
        memo, kept, base, unit = self._memo, self._fields, self.base, self.unit
        if memo is None or kept is None or not base:
            return [unit(idx, unit_id) for _, idx, unit_id in units]
        out = []
        for _, idx, unit_id in units:
            r, rest = divmod(idx, base)
            known = memo.get(rest)
            fields = kept.get(known[0]) if known is not None else None
            out.append({"id": unit_id, "repeat": r, **fields} if fields is not None else unit(idx, unit_id))
        return out

    @functools.cached_property
    def _fields(self) -> dict[tuple, dict] | None:
        """Per row picks, the tables' entries of a unit record — kept when replicas repeat them and every
        table gives its row itself (a row is shared by every unit that picks it already; the lists that
        permutations and combinations give are made per unit)."""
        keep = self.repeat > 1 and all(t.arrangement == "rows" for t in self.tables)
        return {} if keep else None

    def unit_id(self, i: int) -> str:
        prefixes = self._id_prefixes
        if prefixes is not None:  # a repeated space: an index's readable id is its rows' part, then `r<replica>`
            r, rest = divmod(i, self.base)
            prefix = prefixes.get(rest)
            if prefix is not None and len(prefix) + len(str(r)) < MAX_ID:
                return f"{prefix}r{r}"
        r, picks, labels = self._entry(i)
        labels = labels or self._labels(picks)
        if prefixes is not None and labels[2] and len(prefixes) < 65_536:  # safe keys: the id is readable as it is
            prefixes[i % self.base] = "".join(f"{part}-" for part in labels[0])
        return self._id(r, labels)

    def unit_ids(self, indices: list[int]) -> list[str]:
        """:meth:`unit_id` of each of ``indices``, made in one list comprehension when every index within a
        replica has a readable part (:attr:`_readable_parts`) and the longest id still fits: the same ids."""
        # the parts are made for every index within a replica: worth it only for a chunk not much smaller
        parts = self._readable_parts if indices and 4 * len(indices) >= self.base else None
        if parts is None or parts[1] + len(str(max(indices) // self.base)) >= MAX_ID:
            return [self.unit_id(i) for i in indices]
        prefixes, base = parts[0], self.base
        return [f"{prefixes[i % base]}r{i // base}" for i in indices]

    @functools.cached_property
    def _readable_parts(self) -> tuple[list[str], int] | None:
        """The readable part each index within a replica's ids start with (as :meth:`unit_id` keeps them),
        and the longest's length; None unless replicas repeat them and every index's keys are safe."""
        if self._id_prefixes is None:
            return None
        prefixes = []
        for rest in range(self.base):
            parts, _, safe = self._labels(self._picks(rest))
            if not safe:
                return None
            prefixes.append("".join(f"{part}-" for part in parts))
        return prefixes, max(map(len, prefixes), default=0)

    @functools.cached_property
    def _id_prefixes(self) -> dict[int, str] | None:
        """Per index within a replica whose keys are safe, the readable part its ids start with — kept when
        replicas repeat them (ids are made for every unit when a run is created)."""
        return {} if self._memo is not None else None

    def _labels(self, picks: tuple[tuple[int, ...], ...]) -> tuple[list[str], list[list[str]], bool]:
        """The tables' part of an id: readable parts, raw keys, and whether every key is safe as it is."""
        parts, raw, safe = [], [], True
        for table, idx in zip(self.tables, picks):
            keys = [table.keys[j] for j in idx]
            raw.append(keys)
            safe = safe and all(table.safe[j] for j in idx)
            parts.append("_".join(keys))
        return parts, raw, safe

    def _id(self, r: int, labels: tuple[list[str], list[list[str]], bool]) -> str:
        parts, raw, safe = labels
        if self.repeat > 1 or not parts:
            parts = [*parts, f"r{r}"]
        readable = "-".join(parts)
        if safe and len(readable) <= MAX_ID:
            return readable
        digest = hashlib.sha256(json.dumps([raw, r], ensure_ascii=False).encode()).hexdigest()[:16]
        prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", readable)[: MAX_ID - 17].rstrip("-_")
        return f"{prefix}-{digest}" if prefix else digest


@dataclass(frozen=True)
class Selection:
    """`where`, `sample` and `limit` over a unit space, applied in that order."""

    space: UnitSpace
    where: Callable[[dict], bool] | None = None
    sample: int | None = None
    limit: int | None = None
    seed: int = 0

    def indices(self) -> Iterator[int]:
        """Indices of the selected units, in unit order, streaming."""
        if self.sample is None and self.where is None:  # a range: no generator to step through per unit
            total = self.space.total
            return iter(range(total if self.limit is None else min(total, max(self.limit, 0))))
        return self._selected()

    def _selected(self) -> Iterator[int]:
        if self.sample is None:
            stream = self._filtered(range(self.space.total))
        else:
            stream = iter(self._sampled())
        for n, i in enumerate(stream):
            if self.limit is not None and n >= self.limit:
                return
            yield i

    def count(self) -> int:
        """How many units are selected (O(1) without `where`)."""
        if self.where is None:
            n = self.space.total
            n = min(n, self.sample) if self.sample is not None else n
            return min(n, self.limit) if self.limit is not None else n
        return sum(1 for _ in self.indices())

    def _filtered(self, indices) -> Iterator[int]:
        if self.where is None:
            yield from indices
            return
        for i in indices:
            if self.where(self.space.unit(i)):
                yield i

    def _sampled(self) -> list[int]:
        rng = random.Random(f"{self.seed}:units.sample")
        if self.where is None:
            total = self.space.total
            return sorted(rng.sample(range(total), min(self.sample, total)))
        reservoir: list[int] = []  # Algorithm R over the filtered stream, in one pass
        for n, i in enumerate(self._filtered(range(self.space.total))):
            if n < self.sample:
                reservoir.append(i)
            else:
                j = rng.randrange(n + 1)
                if j < self.sample:
                    reservoir[j] = i
        return sorted(reservoir)
