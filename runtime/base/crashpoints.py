"""Named points where a test can kill the process, to prove that a run survives a kill there.

``OCTO_CRASHPOINT=NAME`` makes the process exit at once (``os._exit``: no
cleanup, no commit, exactly as SIGKILL would) the first time it reaches the
point called NAME; ``NAME@N`` the N-th time (for a point in a loop of
transactions: after N − 1 of them were committed). The points sit at the
boundaries that matter for exactly-once submission and ingestion:

- ``before-submit``: the batch's intent is committed, the provider not yet called;
- ``after-submit``: the provider accepted the batch, its id is not yet stored;
- ``during-ingest``: answers of an ended batch are written but not committed;
- ``during-capacity``: a batch that failed for an organisation-wide limit is re-queued (and its backoff
  recorded) but not committed (runtime/attempts/capacity.py);
- ``before-delete``: an ended batch is ingested, its input file not yet deleted (runtime/attempts/inputfiles.py);
- ``during-send-back``: a failed verdict's send-back (runtime/work/loops.py) is written but not committed;
- ``during-fanout``: a chunk of a fan-out's parents, their child units and results are written but not committed;
- ``during-dedup``: a chunk of a `unique_by` step, its results and the keys it claimed are written but not
  committed (runtime/work/dedup.py; not in POINTS: the chaos pipelines have no `unique_by`);
- ``during-retry``: a chunk of failed units put back by `octoc retry` is written but not committed;
- ``during-revalidate``: a chunk of answers checked again by `octoc revalidate` is written but not committed;
- ``before-edited-plan``: `octoc revalidate DIR FILE` recorded its fix and wrote the edited plan beside
  ``plan.json``, which it has not replaced yet;

and at the steps of creating a run (runtime/rundirs/rundir.py):

- ``create-before-plan``: the store says ``creating``, the snapshot is made, ``plan.json`` is not written;
- ``create-last-units``: the last chunk of units and the "created" mark are written but not committed.
"""

from __future__ import annotations

import os
import sys

POINTS = ("before-submit", "after-submit", "during-ingest", "during-capacity", "before-delete", "during-send-back",
          "during-fanout", "create-before-plan", "create-last-units")
FIX_POINTS = ("during-retry", "during-revalidate", "before-edited-plan")  # reached by `retry` and `revalidate` only

_reached: dict[str, int] = {}


def crashpoint(name: str) -> None:
    wanted = os.environ.get("OCTO_CRASHPOINT")
    if wanted is None or not wanted.startswith(name):
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= int(nth or 1):
        sys.stdout.flush()
        os._exit(137)
