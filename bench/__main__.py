"""`python -m bench` (from the repository's root): every issue-14 benchmark in one table (bench/harness.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import main  # noqa: E402

raise SystemExit(main())
