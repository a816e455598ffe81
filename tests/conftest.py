import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture
def language():
    from octo.stdlib import default_language

    return default_language()


@pytest.fixture
def check_text(language):
    """Check a program given as text; returns the diagnostics."""
    from octo.compiler.base.source import Source
    from octo.compiler.frontend.check import check_source

    def run(text: str, path: str = "t.octo"):
        return check_source(Source(path, text), language).diagnostics

    return run


def octoc(*args: str, cwd=None):
    import subprocess

    return subprocess.run([sys.executable, "-m", "octo", *args], capture_output=True, text=True, cwd=cwd or ROOT)
