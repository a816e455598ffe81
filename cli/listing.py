"""`octoc runs [DIR]`: the runs under DIR (default runs/), the youngest first, with their state."""

from __future__ import annotations

import sys
from pathlib import Path

from .exitcodes import OK, USAGE


def list_runs(base: str, fmt: str) -> int:
    from octo.runtime.reading.runlist import list_runs as runs_under, render_runs
    from octo.runtime.base.strictjson import dumps

    path = Path(base)
    if not path.is_dir():
        sys.stderr.write(f"octoc: error: '{base}' is not a directory; give the directory that holds the runs "
                         "(octoc runs DIR; runs/ by default)\n")
        return USAGE
    try:
        rows = runs_under(path)
    except OSError as err:
        sys.stderr.write(f"octoc: error: cannot list '{base}': {err.strerror or err}\n")
        return USAGE
    sys.stdout.write(dumps(rows, indent=2) + "\n" if fmt == "json" else render_runs(rows, path))
    return OK
