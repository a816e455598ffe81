"""The built parsers are cached only in a private directory of the user's, never in the shared temp
directory, where another user could plant the pickle that Lark would load (and so run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PARSE = "from octo.grammar import expression_parser, type_parser; expression_parser().parse('a + 1'); type_parser()"


def _parse_in_fresh_process(tmp_path: Path, cache_home: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "TMPDIR": str(temp)}
    subprocess.run([sys.executable, "-c", PARSE], env=env, check=True)


def test_parsers_are_cached_in_a_private_directory_and_nothing_in_the_temp_directory(tmp_path):
    cache_home = tmp_path / "cache"
    _parse_in_fresh_process(tmp_path, cache_home)
    octo_cache = cache_home / "octo"
    assert sorted(p.name.split("-")[1] for p in octo_cache.iterdir()) == ["expressions", "types"]
    assert all(p.name.startswith("parser-") and p.stat().st_mode & 0o077 == 0 for p in octo_cache.iterdir())
    assert octo_cache.stat().st_mode & 0o777 == 0o700
    assert list((tmp_path / "tmp").iterdir()) == []  # Lark's cache=True would have left .lark_cache_* here
    before = {p.name: p.stat().st_mtime_ns for p in octo_cache.iterdir()}
    _parse_in_fresh_process(tmp_path, cache_home)
    assert {p.name: p.stat().st_mtime_ns for p in octo_cache.iterdir()} == before  # read, not written again


def test_a_directory_others_may_write_is_not_used(tmp_path):
    cache_home = tmp_path / "cache"
    (cache_home / "octo").mkdir(parents=True)
    (cache_home / "octo").chmod(0o777)
    _parse_in_fresh_process(tmp_path, cache_home)
    assert list((cache_home / "octo").iterdir()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_no_cache_directory_at_all_still_parses(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    _parse_in_fresh_process(tmp_path, blocked)  # $XDG_CACHE_HOME/octo cannot be made: no cache, no error
    assert list((tmp_path / "tmp").iterdir()) == []
