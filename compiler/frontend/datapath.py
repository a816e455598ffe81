"""Data paths: which files a pipeline may read as data, and reading them with a bound.

The rule (docs/language.md, "Data files"): a data path is written relative to
the pipeline's folder (the folder of the ``.octo`` file), has no ``..`` part,
and — symbolic links followed — names a regular file inside that folder of at
most :data:`MAX_DATA_FILE_BYTES`. There is no other allowed root. A run
snapshots each data file at the same relative path under its run directory, so
this rule is also what keeps the snapshot inside the run directory: the
runtime calls :func:`resolve_data_path` (or :func:`read_data_file`) too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePath

# 64 MiB: checking a CSV costs about 0.5 s and 16 MB of memory per MiB (measured),
# so this keeps `octoc check` near 30 s and 1 GB at worst.
MAX_DATA_FILE_BYTES = 64 * 1024 * 1024

_ECHO = 120  # at most this many characters of a path or of file text are echoed in a message

_INSIDE_HINT = ("copy the file into the .octo file's folder (a subfolder is fine) and write the path "
                "relative to it, e.g. 'data/rows.csv'")

_REGULAR_HINT = "point the path at a regular file; octoc never opens directories, pipes or devices"


class DataPathError(Exception):
    """A data path the rule refuses: a diagnostic code (E0006, E0010, E0011 or E0012), a message and a hint."""

    def __init__(self, code: str, message: str, hint: str):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def clip(text: str, limit: int = _ECHO) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), for echoing in a message."""
    return text if len(text) <= limit else text[:limit] + "…"


def resolve_data_path(pipeline_dir: str | Path, relative: str) -> Path:
    """The real path of data file ``relative`` of the pipeline in ``pipeline_dir``.

    Raises :class:`DataPathError` when the rule refuses it: E0010 (absolute,
    ``..``, or a symbolic link out of the folder), E0011 (a directory, pipe,
    device or socket), E0012 (over the size limit), E0006 (a NUL character).
    A path that does not exist is returned as is: opening it says why.
    """
    _check_form(relative)
    # os.path.realpath, not Path.resolve: a symbolic link loop comes back as a path that
    # fails to open (ELOOP), where Path.resolve raises RuntimeError on Python 3.11
    root = Path(os.path.realpath(pipeline_dir))
    real = Path(os.path.realpath(root / relative))
    if not real.is_relative_to(root):
        raise DataPathError("E0010", f"data path '{clip(relative)}' leads out of the pipeline's folder "
                                     f"through a symbolic link (to '{clip(str(real))}')", _INSIDE_HINT)
    if real == root:
        raise DataPathError("E0011", f"data path '{clip(relative)}' is the pipeline's folder itself, "
                                     "not a regular file", _REGULAR_HINT)
    try:
        info = os.stat(real)
    except OSError:
        return real
    _check_file(relative, info)
    return real


def read_data_file(pipeline_dir: str | Path, relative: str) -> bytes:
    """The bytes of data file ``relative``, checked by :func:`resolve_data_path`.

    Never opens anything but a regular file (the opened file is checked, so a
    file swapped after the check is refused too) and never reads more than the
    limit. Raises :class:`DataPathError`, or OSError when the file cannot be read.
    """
    real = resolve_data_path(pipeline_dir, relative)
    fd = _open_inside(Path(os.path.realpath(pipeline_dir)), real)
    try:
        _check_file(relative, os.fstat(fd))
        return _read_at_most(fd, relative)
    finally:
        os.close(fd)


def _open_inside(root: Path, real: Path) -> int:
    """Open ``real`` one name at a time from ``root``, following no link and waiting on no pipe:
    a folder swapped for a link after the check cannot lead the open out of ``root``."""
    *folders, name = real.relative_to(root).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for folder in folders:
            inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def _check_form(relative: str) -> None:
    if "\0" in relative:
        raise DataPathError("E0006", "the data path contains a NUL character (\\0), which no file name can hold",
                            "remove the \\0 from the path")
    path = PurePath(relative)
    if path.is_absolute():
        raise DataPathError("E0010", f"data path '{clip(relative)}' is absolute", _INSIDE_HINT)
    if ".." in path.parts:
        raise DataPathError("E0010", f"data path '{clip(relative)}' leads out of the pipeline's folder with '..'",
                            _INSIDE_HINT)


def _check_file(relative: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise DataPathError("E0011", f"data path '{clip(relative)}' is {_kind(info.st_mode)}, not a regular file",
                            _REGULAR_HINT)
    if info.st_size > MAX_DATA_FILE_BYTES:
        raise _too_large(relative, f"is {_size(info.st_size)}")


def _read_at_most(fd: int, relative: str) -> bytes:
    chunks, size = [], 0
    while size <= MAX_DATA_FILE_BYTES:
        chunk = os.read(fd, min(1 << 20, MAX_DATA_FILE_BYTES + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise _too_large(relative, "grew while it was read")  # its size said less than it held


def _too_large(relative: str, what: str) -> DataPathError:
    return DataPathError("E0012", f"data file '{clip(relative)}' {what}; the limit is {_size(MAX_DATA_FILE_BYTES)}",
                         "keep only the rows the pipeline needs, or split the table into several files")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _size(size: int) -> str:
    if size < 1 << 20:
        return f"{size} bytes"
    return f"{size >> 20} MiB" if size % (1 << 20) == 0 else f"{size / (1 << 20):.1f} MiB"


__all__ = ["MAX_DATA_FILE_BYTES", "DataPathError", "resolve_data_path", "read_data_file", "clip"]
