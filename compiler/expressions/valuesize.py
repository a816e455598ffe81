"""The size of a value as it would be stored, counting every reference.

A list that holds the same list a million times is a million copies once it is
written out as JSON, so its size counts each appearance: ``[[0] * 100000] *
100000`` is 10,000,100,001, not 100,001. Measuring it never costs that much:
each distinct list, set or dict is walked once (a shared one is looked up), a
container whose size is already known (``known``) is not walked at all, and
long lists of plain values are measured at C speed.
"""

from __future__ import annotations

_NONE = type(None)
_ONES = frozenset({float, bool, _NONE})  # values that count one each
_SCALARS = _ONES | {int, str}
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})
_BIG = 1 << 63  # ints beyond this count one more per 64 bits (about 19 digits)
_SHORT = 16  # containers up to this long are measured item by item; longer ones at C speed first

Known = dict  # id(container) → (container, size, height): sizes known without walking


class TooDeep(ValueError):
    """Lists, sets and dicts nested deeper than the limit given."""


def value_size(x, max_depth: int) -> int:
    """The size of ``x`` as stored: 1 for each value — number, bool, null, string,
    list, set or dict (a dict's keys and values both count) — plus 1 per character
    of a string and 1 per 64 bits of a whole number beyond 63 bits; a value that
    appears n times counts n times. Raises :class:`TooDeep` when lists, sets and
    dicts nest more than ``max_depth`` deep."""
    return measure(x, max_depth, {})[0]


def measure(x, max_depth: int, known: Known) -> tuple[int, int]:
    """(size, height) of ``x``: height is how deep its lists, sets and dicts nest (0 for a
    plain value, 1 for a list of plain values). ``known`` is only read: the sizes of
    containers measured before (the container itself is kept there, so its id is its own)."""
    cls = x.__class__
    if cls in _CONTAINERS:
        return _container(x, 1, {}, known, max_depth)
    if cls is str:
        return 1 + len(x), 0
    if cls is int:
        return (1 if -_BIG < x < _BIG else 1 + (x.bit_length() >> 6)), 0
    return 1, 0


def _container(x, depth: int, seen: dict, known: Known, max_depth: int) -> tuple[int, int]:
    """(size, height) of a list, set or dict at ``depth``; ``seen``: what this walk measured."""
    key = id(x)
    found = seen.get(key)
    if found is None:
        remembered = known.get(key)
        if remembered is not None and remembered[0] is x:
            found = (remembered[1], remembered[2])
        else:
            if depth > max_depth:
                raise TooDeep(max_depth)
            if x.__class__ is dict:
                keys, height_k = _items(x, depth, seen, known, max_depth)
                values, height_v = _items(x.values(), depth, seen, known, max_depth)
                found = (1 + keys + values, max(height_k, height_v))
            else:
                size, height = _items(x, depth, seen, known, max_depth)
                found = (1 + size, height)
        seen[key] = found
    if depth + found[1] - 1 > max_depth:  # measured before, higher up
        raise TooDeep(max_depth)
    return found


def _items(xs, depth: int, seen: dict, known: Known, max_depth: int) -> tuple[int, int]:
    """(total size of the items, height of their container) for a container at ``depth``."""
    if len(xs) > _SHORT:
        flat = _flat(xs)
        if flat is not None:
            return flat, 1
    n, height = 0, 1
    for v in xs:
        cls = v.__class__
        if cls is str:
            n += 1 + len(v)
        elif cls is int:
            n += 1 if -_BIG < v < _BIG else 1 + (v.bit_length() >> 6)
        elif cls in _CONTAINERS:
            size, h = _container(v, depth + 1, seen, known, max_depth)
            n += size
            if h >= height:
                height = h + 1
        else:
            n += 1
    return n, height


def _flat(xs) -> int | None:
    """The total size of items that are all plain values, at C speed; None if some are not."""
    kinds = set(map(type, xs))
    if kinds <= _ONES:
        return len(xs)
    if not kinds <= _SCALARS:
        return None
    n = len(xs)
    if str in kinds:
        n += sum(map(len, xs)) if len(kinds) == 1 else sum([len(v) for v in xs if v.__class__ is str])
    if int in kinds:
        ints = xs if len(kinds) == 1 else [v for v in xs if v.__class__ is int]
        if max(ints) >= _BIG or min(ints) <= -_BIG:
            n += sum([v.bit_length() >> 6 for v in ints if not -_BIG < v < _BIG])
    return n
