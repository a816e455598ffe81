"""API keys from a `.env` file next to the pipeline (python-dotenv's format).

Only the providers' key variables are taken from it (``KEY_ENV``); any
other line is ignored, so a `.env` shared with other tools changes nothing else
in octoc. A variable set in the environment wins over the file. The values stay
in this process: they are never written to the run directory, printed, or put
in a message — a problem with the file is told by its path and line numbers
only, and a key in use is registered as a secret (base.register_secret), so a
provider's error that quoted it is redacted. The run records the file's path
(not its contents), so a resume or a tick reads the same file again, as it is then.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

KEY_FILE = ".env"


class _Loaded:
    """The key file this process read: its path, the keys it held, and what was wrong with it."""

    def __init__(self):
        self.path: Path | None = None
        self.keys: dict[str, str] = {}
        self.problem: str | None = None  # the file could not be read at all
        self.bad_lines: list[int] = []  # lines that are not NAME=value (ignored)


_loaded = _Loaded()


def key_file_next_to(pipeline: str | Path) -> Path:
    """The `.env` in the pipeline's folder, as the path names it (a symlinked pipeline: the link's folder)."""
    return Path(os.path.abspath(pipeline)).parent / KEY_FILE


def load_key_file(path: Path | str | None) -> None:
    """Read the key file at ``path`` (a missing file holds no keys); None forgets any file read before."""
    global _loaded
    _loaded = _Loaded()
    if path is None:
        return
    _loaded.path = Path(path)
    try:
        with open(_loaded.path, "rb") as f:
            raw = f.read(1 << 20)
    except FileNotFoundError:
        return
    except OSError as err:
        _loaded.problem = f"cannot read {_loaded.path}: {err.strerror or type(err).__name__}"
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # its message would quote the bytes around the fault
        _loaded.problem = f"cannot read {_loaded.path}: it is not UTF-8 text"
        return
    _loaded.keys, _loaded.bad_lines = _parse(text)


def _parse(text: str) -> tuple[dict[str, str], list[int]]:
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    from . import KEY_ENV

    bad = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
    quiet = logging.getLogger("dotenv.main")  # it would log the bad lines itself; they are told with the key's absence
    level, quiet.level = quiet.level, logging.ERROR
    try:
        values = dotenv_values(stream=io.StringIO(text))
    finally:
        quiet.level = level
    names = {name for names in KEY_ENV.values() for name in names}
    return {k: v for k, v in values.items() if k in names and v}, bad


def file_key(name: str) -> str | None:
    return _loaded.keys.get(name)


def where_to_set(names: str) -> str:
    """Where a missing key may be set, for its message: the environment or the key file (named, with its faults)."""
    if _loaded.path is None:
        return f"set {names} in the environment or in a {KEY_FILE} file next to the pipeline"
    said = f"set {names} in the environment or in {_loaded.path}"
    if _loaded.problem:
        return f"{said} ({_loaded.problem})"
    if _loaded.bad_lines:
        lines = ", ".join(str(n) for n in _loaded.bad_lines)
        many = len(_loaded.bad_lines) > 1
        return f"{said} (line{'s' if many else ''} {lines} of it {'are' if many else 'is'} not NAME=value, ignored)"
    return said
