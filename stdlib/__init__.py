"""The standard library: step kinds, built-in functions and dated model prices.

:func:`default_language` assembles what the compiler needs to check a file.
A new step kind is one module here exposing ``KIND``, listed in ``KINDS``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources

from octo.compiler.frontend.language import Language

from . import aggregate, compute, fanout, gate, generate, judge, simulate
from .builtins import FUNCTIONS
from .capabilities import capability_table, load_capabilities

KINDS = {m.KIND.name: m.KIND for m in (generate, judge, gate, simulate, compute, aggregate, fanout)}


@functools.cache
def price_table() -> dict:
    """The dated price table (``stdlib/prices.json``)."""
    return json.loads(resources.files(__name__).joinpath("prices.json").read_text(encoding="utf-8"))


@functools.cache
def default_language() -> Language:
    return Language(kinds=KINDS, functions=FUNCTIONS, models=frozenset(price_table()["models"]), prices=price_table(),
                    capabilities=capability_table())


def language_with_models(path: str | None) -> Language:
    """The standard language, with the model-capability table of ``path`` (``--models FILE``) in front of the
    built-in one; raises ValueError (a TableError) saying what is wrong with the file."""
    if path is None:
        return default_language()
    return dataclasses.replace(default_language(), capabilities=load_capabilities(path))
