"""`octoc` in a separate process that starts in milliseconds, can be SIGKILLed, and cannot hang a test.

Starting `octoc run` with ``subprocess`` costs seconds: the provider SDKs alone
take 3-8 s to import. The probes start hundreds of runs, so they use
multiprocessing's *forkserver*: one clean, single-threaded process imports
octo and the SDKs once, and every run is a fresh fork of it running
``octo.cli.main.main(argv)`` — a real, separate process with its own pid and
process group, its own environment, stdout and stderr in files, that a test
can SIGKILL at any moment or time out.

Used by tests/test_fuzz_run.py, tests/test_chaos.py and bench/bench_chaos.py.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

# "__main__": the forkserver imports the main module once, so that a fork need not (pytest's, a bench script's)
PRELOAD = ["__main__", "octo.cli.main", "octo.cli.running", "octo.cli.reading", "octo.runtime.session",
           "octo.runtime.providers.openai", "octo.runtime.providers.anthropic", "octo.runtime.providers.gemini",
           "octo.runtime.emulator.server", "octo.stdlib", "openai", "anthropic", "google.genai", "octoproc"]

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)


@dataclass
class Outcome:
    code: int | None  # None: it did not end in time and was killed
    stdout: str
    stderr: str

    @property
    def hung(self) -> bool:
        return self.code is None


class OctocProcess:
    """One ``octoc`` invocation in a forked process; output goes to ``DIR/NAME.out`` and ``.err``."""

    def __init__(self, argv: list[str], out_dir: Path, name: str = "octoc", env: dict[str, str] | None = None):
        self.out = Path(out_dir) / f"{name}.out"
        self.err = Path(out_dir) / f"{name}.err"
        self.process = _CONTEXT.Process(target=_child, args=([str(a) for a in argv], str(self.out), str(self.err),
                                                             env or {}), daemon=True)
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def kill(self) -> None:
        """SIGKILL the process and everything it started (its own process group)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.join()

    def stdout(self) -> str:
        return _read(self.out)

    def stderr(self) -> str:
        return _read(self.err)

    def outcome(self, timeout: float) -> Outcome:
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return Outcome(code, self.stdout(), self.stderr())


def run(argv: list[str], out_dir: Path, timeout: float, name: str = "octoc", env: dict[str, str] | None = None) -> Outcome:
    """Run ``octoc ARGV`` to the end, or kill it after ``timeout`` seconds (then ``code`` is None)."""
    return OctocProcess(argv, out_dir, name, env).outcome(timeout)


def exit_code_of_kill() -> int:
    """What ``Process.exitcode`` says for a process killed by SIGKILL."""
    return -signal.SIGKILL


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _child(argv: list[str], out: str, err: str, env: dict[str, str]) -> None:
    os.setpgrp()  # so that a kill reaches whatever the run starts
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    code = 99
    try:
        from octo.cli.main import main

        code = main(argv)
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code if isinstance(stop.code, int) else 2
    except BaseException as exc:  # main() lets nothing through; if it ever does, say so
        sys.stderr.write(f"escaped octoc's main: {type(exc).__name__}: {exc}\n")
        code = 98
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
