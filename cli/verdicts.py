"""Exit codes from a run's verdict and state: what `run`, `tick` and `report` exit with.

`octoc report DIR` exits with the code the run's own `octoc run` would give
at this moment: its verdict once done; while unfinished, what its state says
(docs/cli.md#exit-codes).
"""

from __future__ import annotations

from . import exitcodes

VERDICT_CODES = {"passed": exitcodes.OK, "units_failed": exitcodes.UNITS_FAILED,
                 "expect_failed": exitcodes.EXPECT_FAILED}

# An unfinished run: running or left waiting on providers → WAITING (come back later); stopped, interrupted
# or never fully created → INTERRUPTED (resume it); stopped by a provider → PROVIDER; stuck → STUCK.
STATE_CODES = {"running": exitcodes.WAITING, "waiting": exitcodes.WAITING, "stopped": exitcodes.INTERRUPTED,
               "interrupted": exitcodes.INTERRUPTED, "creating": exitcodes.INTERRUPTED, "stuck": exitcodes.STUCK}


def finished_code(store) -> int:
    """The exit code of a finished run: OK, UNITS_FAILED or EXPECT_FAILED."""
    from octo.runtime.rundirs.liveness import verdict

    return VERDICT_CODES[verdict(store)]


def state_code(state: dict, store) -> int:
    """The exit code a run in ``state`` (runtime.rundirs.liveness.run_state) stands for."""
    if state["state"] == "done":
        return finished_code(store)
    if state["state"] == "stopped" and (state.get("ended") or {}).get("how") == "provider":
        return exitcodes.PROVIDER
    return STATE_CODES.get(state["state"], exitcodes.INTERRUPTED)
