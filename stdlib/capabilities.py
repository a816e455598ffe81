"""The dated model-capability table (``stdlib/models.json``) and a user's table merged over it.

What the table holds and how a model finds its family: ``octo.compiler.frontend.capabilities``.
A user's file (``--models FILE``) has the same shape; its families come first, so they override the
built-in ones for the models they match and add models the built-in table does not know.
"""

from __future__ import annotations

import functools
import json
import os
import stat
from importlib import resources

from octo.compiler.frontend.capabilities import CapabilityTable, TableError, table_from_json

MAX_TABLE_BYTES = 1 << 20  # a capability table is a few kilobytes


@functools.cache
def capability_table() -> CapabilityTable:
    """The built-in table."""
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    return table_from_json(json.loads(text), "the built-in model table (stdlib/models.json)")


def load_capabilities(path: str | None) -> CapabilityTable:
    """The built-in table, with the families of the file at ``path`` (if any) in front of it.

    Raises TableError with a message naming the file and what is wrong with it."""
    if path is None:
        return capability_table()
    return table_from_json(_read(path), f"models file '{path}'").over(capability_table())


def _read(path: str):
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe would block, a device never end
            raise TableError(f"models file '{path}' is not a regular file")
        with open(path, "rb") as f:
            data = f.read(MAX_TABLE_BYTES + 1)
        if len(data) > MAX_TABLE_BYTES:
            raise TableError(f"models file '{path}' is larger than 1 MiB")
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise TableError(f"models file '{path}' nests too deeply") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, TableError):
            raise
        raise TableError(f"cannot read models file '{path}': {getattr(err, 'strerror', None) or err}") from None
