"""A simulate step's loop run over a whole chunk of units in one call.

:func:`kernel_source` turns the fused loop that :mod:`loopgen` generates for
one unit (``_octo_sim(env, rng)``) into a second function that walks a chunk::

    def _octo_chunk(units, records, data, rng, seed, step, clock, values):
        r_bits = _rng_bits(rng)                 # the stream's methods, once a chunk
        for (_pos, _idx, _uid), _record in _zip(units, records):
            env = {'unit': _record, 'data': data}
            if rng is not None:                 # the unit's stream, reseeded in place (UnitStreams) with
                _seed_in_place(rng, <stream_key(seed, _uid, step), written out>)
                rng.gauss_next = None
            clock.started = None                # one CPU budget per unit (CLOCK.start_unit)
            clock.unit = True
            if _KNOWN or _LAST[0] is not None:  # sizes measured by an earlier unit may be stale
                _forget_sizes()
            try:
                ...                             # _octo_sim's body, its `return {...}` → `_value = {...}`
            except Exception:
                _value = _FAILED                # the caller runs this unit again the ordinary way
            values.append(_value)

Why: per unit, the ordinary path makes ~8 Python-level calls around the loop
(run_unit, the stream's reseeding, CompiledSimulation.run, fetching the
stream's methods, the CPU clock's start and end); for the drunken sailor's
~25 iterations a unit that bookkeeping costs about as much as the walk.

A unit that fails is not explained here: its line numbers are the kernel's,
not the per-unit function's. The caller runs it again through the per-unit
path, on a stream reseeded to the same state, so it fails in the same place
with the same reason and file:line:col (a pure function of the unit and its
stream), and the kernel's run of it is thrown away.
"""

from __future__ import annotations

import hashlib
from typing import Any

FAILED = object()  # a unit the kernel could not finish: rerun it the ordinary way

_HEAD = """\
def _octo_chunk(units, records, data, rng, seed, step, clock, values):
{methods}    _before, _after = f'octo-stream:{{seed}}:', f':{{step}}'
    for (_pos, _idx, _uid), _record in _zip(units, records):
        env = {{'unit': _record, 'data': data}}
        if rng is not None:
            _seed_in_place(rng, _from_bytes(_sha256((_before + _uid + _after).encode()).digest()[:16], 'big'))
            rng.gauss_next = None
        clock.started = None
        clock.unit = True
        if _KNOWN or _LAST[0] is not None:
            _forget_sizes()
        try:
"""

_TAIL = """\
        except _Exception:
            _value = _FAILED
        values.append(_value)
    clock.started = None
    clock.unit = False
"""


def kernel_source(prologue: list[str], lines: list[tuple[int, str]], rng_methods: list[str]) -> str | None:
    """The chunk kernel's source from the per-unit function's parts: ``prologue`` (the names read from
    env, unindented), ``lines`` (the body as (indent, text), indent 1 at the function's level, ending
    in its one `return`) and the stream methods it fetches. None when the body is not of that shape."""
    returns = [i for i, (indent, text) in enumerate(lines) if indent == 1 and text.startswith("return ")]
    if returns != [len(lines) - 1]:
        return None
    body = [" " * 12 + text for text in prologue]
    for indent, text in lines[:-1]:
        body.append("    " * (indent + 2) + text)
    body.append(" " * 12 + "_value = " + lines[-1][1][len("return "):])
    methods = "".join(f"    r_{m} = _rng_{m}(rng)\n" for m in rng_methods)
    return _HEAD.format(methods=methods) + "\n".join(body) + "\n" + _TAIL


def kernel_namespace() -> dict[str, Any]:
    """What the kernel's scaffolding calls besides the per-unit function's own names."""
    from .evalsupport import KNOWN, LAST, _seed_in_place, forget_sizes

    return {"_seed_in_place": _seed_in_place, "_sha256": hashlib.sha256, "_from_bytes": int.from_bytes, "_zip": zip,
            "_KNOWN": KNOWN, "_LAST": LAST,
            "_forget_sizes": forget_sizes, "_FAILED": FAILED,
            "_Exception": Exception}  # the generated code has no builtins
