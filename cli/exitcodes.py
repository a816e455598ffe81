"""The exit codes of `octoc`, one meaning each (documented in docs/cli.md and docs/run.md).

CI gates on them: a run exits 0 only when everything passed.
"""

OK = 0
"""Done: no unit failed and every expectation passed (`check`: no errors, warnings allowed)."""

ERRORS = 1
"""The .octo file has errors (check, plan, run refuse it)."""

USAGE = 2
"""Bad flags, a missing file, an I/O problem, or the run is locked by a live process."""

INTERNAL = 3
"""A bug in octoc itself, reported in one line (never a traceback)."""

PROVIDER = 4
"""Stopped by a provider: an outage, a refusal, a missing key; the run is resumable."""

STUCK = 5
"""No progress is possible: units wait on something that can never come."""

UNITS_FAILED = 6
"""The run finished and some units failed."""

EXPECT_FAILED = 7
"""The run finished and an `expect` failed (wins over UNITS_FAILED)."""

WAITING = 8
"""Left with batches out at a provider (e.g. after `octoc tick`); tick or resume later."""

INTERRUPTED = 130
"""Stopped by Ctrl-C, SIGTERM or a closed stdout; the run is resumable."""

DONE = (OK, UNITS_FAILED, EXPECT_FAILED)
"""The codes of a run that finished, whatever its verdict."""
