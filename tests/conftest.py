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


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless Chromium (tests/browser.py) with a fresh profile for the session; the test is skipped, with a
    line in the summary, where Chromium is not installed."""
    from browser import SKIP_REASON, Chromium, find_chromium

    if find_chromium() is None:
        pytest.skip(SKIP_REASON)
    with Chromium(tmp_path_factory.mktemp("chromium-profile")) as browser:
        yield browser


def pytest_terminal_summary(terminalreporter):
    """Say, in the normal output (not only with -rs), that the browser tests were skipped and how to run them."""
    from browser import SKIP_REASON

    skipped = [r for r in terminalreporter.stats.get("skipped", []) if SKIP_REASON in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{SKIP_REASON}: {len(skipped)} browser tests skipped — apt-get install chromium",
                                    yellow=True)
