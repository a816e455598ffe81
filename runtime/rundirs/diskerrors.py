"""What a full disk, an I/O error or a damaged store means for a run, said as a message with what to do.

SQLite ends a transaction it cannot write (``database or disk is full``,
``disk I/O error``) by rolling it back, and every earlier commit stays: so a
run stopped by a full disk has lost nothing and resumes once there is space.
A store damaged in the middle of its file is another matter: octoc cannot read
it, and says so instead of failing as if octoc itself were broken.
"""

from __future__ import annotations

import errno
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .rundir import PLAN_FILE, STORE_FILE, RunDirError

# SQLite's primary result codes (the low byte of an extended code)
_SQLITE_KIND = {13: "full", 10: "io", 8: "readonly", 3: "readonly", 11: "damaged", 26: "damaged", 14: "cannot open",
                5: "busy", 6: "busy"}
_ERRNO_KIND = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EIO: "io", errno.EROFS: "readonly",
               errno.EACCES: "readonly", errno.EPERM: "readonly"}


class StorageError(RunDirError):
    """The run's storage failed; the message says what happened and what to do."""


def kind_of(err: BaseException) -> str | None:
    """full | io | readonly | damaged | cannot open | busy, or None for an error that is not about storage."""
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorcode", None)
        if isinstance(code, int):
            return _SQLITE_KIND.get(code & 0xFF)
        return "damaged" if str(err).startswith("Could not decode to UTF-8") else None  # bytes of a text value hit
    if isinstance(err, json.JSONDecodeError):  # octoc writes only valid JSON into the store
        return "damaged"
    if isinstance(err, OSError) and not isinstance(err, ConnectionError):
        return _ERRNO_KIND.get(err.errno)
    return None


def describe(err: BaseException, run_dir: Path | None, restart: str | None = None, reading: bool = False) -> str | None:
    """The message for a storage error during work on ``run_dir`` (None: not a storage error).

    ``restart``: the command that starts the run again, for a creation that cannot be resumed yet;
    ``reading``: for status, results and report, which write nothing.
    """
    kind = kind_of(err)
    if kind is None:
        return None
    where = f" in '{run_dir}'" if run_dir is not None else ""
    why = _reason(err)
    what = {"full": f"the disk is full{where} ({why})", "io": f"a disk I/O error{where} ({why})",
            "readonly": f"cannot write{where} ({why})", "cannot open": f"cannot open the run store{where} ({why})",
            "busy": f"the run store{where} is locked by another program ({why})",
            "damaged": f"the run store{f' {run_dir / STORE_FILE}' if run_dir else ''} is damaged ({why})"}[kind]
    return f"{what}.\n{_what_to_do(kind, run_dir, restart, reading)}"


def _reason(err: BaseException) -> str:
    """The error in a few words, never the damaged bytes themselves."""
    if isinstance(err, json.JSONDecodeError):
        return "a stored value is not valid JSON"
    if str(err).startswith("Could not decode to UTF-8"):
        return "a stored text is not valid UTF-8"
    return str(err)


def _what_to_do(kind: str, run_dir: Path | None, restart: str | None, reading: bool) -> str:
    if kind == "damaged":
        return ("octoc cannot read it. Restore run.db from a backup, or save what SQLite can recover "
                f"(sqlite3 {run_dir / STORE_FILE if run_dir else 'run.db'} .recover), or start the run again")
    fix = {"full": "Free space", "io": "Check the disk", "readonly": "Make the run directory writable",
           "cannot open": "Check the run directory's files and permissions", "busy": "Close the other program"}[kind]
    if reading or run_dir is None:
        return f"{fix}, then try again."
    if restart is not None and not (run_dir / PLAN_FILE).exists():
        return f"Nothing had run yet. {fix}, then start again with: {restart}"
    return f"Nothing is lost. {fix}, then resume with: octoc run --resume {run_dir}"


@contextmanager
def storage_errors(run_dir: Path, restart: str | None = None, reading: bool = False) -> Iterator[None]:
    """Turn a storage error inside the block into a :class:`StorageError` saying what to do."""
    try:
        yield
    except (sqlite3.Error, OSError, json.JSONDecodeError) as err:
        message = describe(err, Path(run_dir), restart, reading)
        if message is None:
            raise
        raise StorageError(message) from None
