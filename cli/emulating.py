"""`octoc emulator`: serve the provider emulator until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading


def serve(port: int, seed: int, faults: str | None) -> int:
    from octo.runtime.emulator.core import Emulator
    from octo.runtime.emulator.faults import FaultSpecError
    from octo.runtime.emulator.server import EmulatorServer

    try:
        emulator = Emulator(seed=seed, faults=faults, keep_history=False)
    except FaultSpecError as err:
        sys.stderr.write(f"octoc: error: --faults: {err}\n")
        return 2
    try:
        server = EmulatorServer(emulator, port=port)
    except OSError as err:
        sys.stderr.write(f"octoc: error: cannot listen on 127.0.0.1:{port}: {err.strerror or err}; "
                         f"pick another with --port\n")
        return 2
    url = server.url
    sys.stdout.write(
        f"octo emulator on {url} (seed {seed}; faults: {emulator.faults.describe()})\n"
        f"Point the SDKs at it (any non-empty API key works):\n"
        f"  export OPENAI_BASE_URL={url}/v1 OPENAI_API_KEY=emulator\n"
        f"  export ANTHROPIC_BASE_URL={url} ANTHROPIC_API_KEY=emulator\n"
        f"  export GOOGLE_GEMINI_BASE_URL={url} GEMINI_API_KEY=emulator\n"
        f"Ctrl-C stops it.\n")
    sys.stdout.flush()
    stopped = threading.Event()
    # Explicit handlers: a process started in the background inherits SIGINT ignored, and SIGTERM
    # (a service manager's stop) should stop it as cleanly as Ctrl-C.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stopped.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        while not stopped.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    sys.stdout.write("emulator stopped\n")
    return 0
