"""`python -m bench` (from the repository's root): every benchmark of issues 14 and 15 in one table (bench/harness.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import main  # noqa: E402

raise SystemExit(main())
