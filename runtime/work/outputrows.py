"""A chunk kernel's outputs turned into result rows by one generated loop.

A simulate step's chunk kernel (compiler/expressions/chunkkernel.py) gives one
dict per unit, all made by the same dict literal: the same keys in the same
order. Written generically (``unitwork.flat_encoder``) each output costs two
sets of types, a call of the C encoder and a join, about 2 µs a unit; the
sailor's walk itself is ~10. :func:`row_writer` writes the JSON out for one
tuple of keys::

    def _octo_rows(units, records, values, rows, kept, slow):
        for (_pos, _idx, _uid), _record, _value in zip(units, records, values):
            try:
                if tuple(_value) != _keys:         # ('outcome', 'steps')
                    raise _Other
                _v0 = _value['outcome']
                _v1 = _value['steps']
                _text = '{"outcome": ' + _enc[type(_v0)](_v0) + ', "steps": ' + _enc[type(_v1)](_v1) + '}'
            except Exception:
                slow(_pos, _idx, _uid, _record, _value)   # anything else: the generic path, which says why
                continue
            rows.append((_pos, 'done', _text, None))
            kept.append((_record, _value))

Per value type the text is what the C encoder of runtime/base/encoding.py
writes: a string ASCII-escaped with quotes, an int (exactly ``int``) its
``repr``, a bool ``true``/``false``, None ``null``, a finite float its
``repr``. Any other value — a non-finite float, a whole number too long to
write, a container, a subclass — raises and goes to ``slow``, as does a unit
the kernel could not finish. Decoding such a text gives the output back as it
is, so the output itself is kept for the fold. tests/test_output_rows.py
compares the text with ``encode_output``'s over generated outputs.
"""

from __future__ import annotations

import itertools
import math
from json.encoder import encode_basestring_ascii
from typing import Callable

from octo.compiler.expressions.generated import load_generated

from ..base.encoding import DICT_TAG

_counter = itertools.count()


def _finite_float(value: float) -> str:
    if math.isfinite(value):
        return float.__repr__(value)
    raise ValueError("not finite")  # NaN and infinities read back otherwise: the generic path


_ENCODE = {str: encode_basestring_ascii, int: int.__repr__, bool: lambda v: "true" if v else "false",
           type(None): lambda v: "null", float: _finite_float}


class _Other(Exception):
    """An output with other keys than the writer's, or in another order."""


def row_writer(keys: tuple) -> Callable | None:
    """The generated loop for outputs with exactly ``keys`` (strings, in that order), called as
    ``write(units, records, values, rows, kept, slow)``; None for keys it does not write (the tag)."""
    if not keys or not all(type(k) is str for k in keys) or DICT_TAG in keys:
        return None
    parts = []
    for i, key in enumerate(keys):
        parts.append(repr(("{" if i == 0 else ", ") + encode_basestring_ascii(key) + ": "))
        parts.append(f"_enc[type(_v{i})](_v{i})")
    lines = ["def _octo_rows(units, records, values, rows, kept, slow):",
             "    for (_pos, _idx, _uid), _record, _value in zip(units, records, values):",
             "        try:",
             "            if tuple(_value) != _keys:  # the same keys in the same order: the same JSON",
             "                raise _Other",
             *[f"            _v{i} = _value[{key!r}]" for i, key in enumerate(keys)],
             f"            _text = {' + '.join(parts)} + '}}'",
             "        except Exception:",
             "            slow(_pos, _idx, _uid, _record, _value)",
             "            continue",
             "        rows.append((_pos, 'done', _text, None))",
             "        kept.append((_record, _value))"]
    namespace = {"__builtins__": {}, "zip": zip, "tuple": tuple, "_keys": tuple(keys), "type": type, "Exception": Exception,
                 "_Other": _Other, "_enc": _ENCODE}
    return load_generated("\n".join(lines) + "\n", f"<octo output rows {next(_counter)}>", namespace, "_octo_rows")
