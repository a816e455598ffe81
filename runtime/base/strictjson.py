"""JSON that every parser accepts: NaN and the infinities are written as null.

Python's ``json`` writes a non-finite float as ``NaN`` / ``Infinity``, which
is not JSON. What octoc prints (results, report, status) goes through
:func:`dumps`, which writes them as ``null`` — "no number" — rather than as
strings, so a numeric column keeps one type. The store keeps the value as
computed; only what is printed is changed.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **options) -> str:
    try:  # the common case: nothing to replace, and no copy made
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False, **options)
