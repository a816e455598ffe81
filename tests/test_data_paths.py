"""Data files: the pipeline's folder is a jail, and reading is bounded (issue 9, finding J).

A data path must be relative, without `..`, and (symbolic links followed) name a
regular file inside the folder of the .octo file, of at most MAX_DATA_FILE_BYTES
(E0010, E0011, E0012). Each refusal points at the path in the .octo file. The
cases that hang or exhaust memory on an unguarded checker (a FIFO, /dev/zero) run
in a child process with a timeout and a memory cap, so the suite cannot hang.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from octo.cli.main import main
from octo.compiler.base.render import render_text
from octo.compiler.frontend import datapath
from octo.compiler.frontend.check import check_file
from octo.compiler.frontend.data import DataPathError, read_data_file, resolve_data_path
from octo.stdlib import default_language

ROOT = Path(__file__).resolve().parent.parent
ROWS = "id,x\na,1\nb,2\n"
SECRET = "root:SECRET-LINE-FROM-OUTSIDE:0:0"
PATH_LINE, PATH_COL = 3, 13  # where the path value starts in pipeline()'s text


def pipeline(folder: Path, data_path: str, name: str = "p.octo") -> Path:
    """A pipeline in ``folder`` whose one data table is read from ``data_path``."""
    folder.mkdir(parents=True, exist_ok=True)
    octo = folder / name
    octo.write_text("octo: 1\n"
                    "data:\n"
                    f"  t: {{file: {json.dumps(data_path)}}}\n"
                    "units:\n"
                    "  for: {r: t}\n"
                    "steps:\n"
                    "  s:\n"
                    "    compute: {x: unit.r.id}\n", encoding="utf-8")
    return octo


def diagnostics(octo: Path):
    return check_file(str(octo), default_language()).diagnostics


def only(octo: Path, code: str):
    """The one diagnostic of ``octo``, which must have ``code`` and point at the data path."""
    diags = diagnostics(octo)
    assert [d.code for d in diags] == [code], [f"{d.code} {d.message}" for d in diags]
    diag = diags[0]
    assert (diag.span.path, diag.span.line, diag.span.column) == (str(octo), PATH_LINE, PATH_COL)
    assert diag.span.text().startswith('"') and diag.span.text().endswith('"')  # the whole quoted value
    assert diag.hint
    return diag


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A readable CSV outside the pipeline's folder, shaped so that a CSV reader would quote it."""
    victim = tmp_path / "victimdir"
    victim.mkdir()
    (victim / "v.csv").write_text(f"user\n{SECRET}\n{SECRET},x\n", encoding="utf-8")
    return victim / "v.csv"


def in_child(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child capped at 1 GB of memory and 60 s (a hang or a
    MemoryError there must not take the suite with it)."""
    prelude = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
    try:
        return subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("octoc check hung")


def check_in_child(octo: Path) -> tuple[int, str]:
    out = in_child(f"from octo.cli.main import main; raise SystemExit(main(['check', {str(octo)!r}]))", octo.parent)
    return out.returncode, out.stdout + out.stderr


# --- the path must stay inside the folder ---------------------------------------------------


def test_dotdot_out_of_the_folder_is_refused(tmp_path, outside):
    octo = pipeline(tmp_path / "proj" / "sub", "../../victimdir/v.csv")
    diag = only(octo, "E0010")
    assert "'..'" in diag.message


def test_dotdot_that_stays_inside_is_refused_too(tmp_path):
    (tmp_path / "proj" / "data").mkdir(parents=True)
    (tmp_path / "proj" / "x.csv").write_text(ROWS)
    only(pipeline(tmp_path / "proj", "data/../x.csv"), "E0010")


def test_absolute_path_outside_is_refused(tmp_path, outside):
    diag = only(pipeline(tmp_path / "proj", str(outside)), "E0010")
    assert "absolute" in diag.message


def test_absolute_path_inside_is_refused(tmp_path):
    """The run snapshots a data file at its relative path, so only relative paths are allowed."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "x.csv").write_text(ROWS)
    only(pipeline(tmp_path / "proj", str(tmp_path / "proj" / "x.csv")), "E0010")


def test_symlink_out_of_the_folder_is_refused_and_nothing_of_the_target_is_echoed(tmp_path, outside):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "pw.csv").symlink_to(outside)
    octo = pipeline(tmp_path / "proj", "pw.csv")
    diag = only(octo, "E0010")
    assert "symbolic link" in diag.message and "SECRET-LINE" not in render_text(diag)


def test_symlinked_folder_out_of_the_folder_is_refused(tmp_path, outside):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "data").symlink_to(outside.parent, target_is_directory=True)
    only(pipeline(tmp_path / "proj", "data/v.csv"), "E0010")


def test_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "z.csv").symlink_to("/dev/zero")
    octo = pipeline(tmp_path / "proj", "z.csv")
    code, shown = check_in_child(octo)
    assert code == 1, shown
    assert "error[E0010]" in shown and f"p.octo:{PATH_LINE}:{PATH_COL}" in shown
    assert "MemoryError" not in shown and "internal error" not in shown


def test_nul_in_the_path_is_a_diagnostic(tmp_path):
    diag = only(pipeline(tmp_path / "proj", "a\0.csv"), "E0006")
    assert "\0" not in diag.message


# --- only regular files are opened ------------------------------------------------------------


def test_fifo_is_refused_without_blocking(tmp_path):
    (tmp_path / "proj").mkdir()
    os.mkfifo(tmp_path / "proj" / "x.csv")
    octo = pipeline(tmp_path / "proj", "x.csv")
    code, shown = check_in_child(octo)
    assert code == 1, shown
    assert "error[E0011]" in shown and "named pipe" in shown and f"p.octo:{PATH_LINE}:{PATH_COL}" in shown
    only(octo, "E0011")


def test_directory_is_refused(tmp_path):
    (tmp_path / "proj" / "rows.csv").mkdir(parents=True)
    assert "a directory" in only(pipeline(tmp_path / "proj", "rows.csv"), "E0011").message
    assert "folder itself" in only(pipeline(tmp_path / "proj", "."), "E0011").message


def test_socket_is_refused(tmp_path):
    (tmp_path / "proj").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "proj" / "s.csv"))
        assert "a socket" in only(pipeline(tmp_path / "proj", "s.csv"), "E0011").message
    finally:
        sock.close()


def test_a_device_is_refused():
    """No device can be made inside a test folder without root: the rule itself, on /dev."""
    with pytest.raises(DataPathError) as err:
        resolve_data_path("/dev", "zero")
    assert (err.value.code, "a device" in err.value.message) == ("E0011", True)


# --- reading is bounded -----------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(datapath, "MAX_DATA_FILE_BYTES", len(ROWS) - 1)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "x.csv").write_text(ROWS)
    diag = only(pipeline(tmp_path / "proj", "x.csv"), "E0012")
    assert f"the limit is {len(ROWS) - 1} bytes" in diag.message


def test_a_file_at_the_limit_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(datapath, "MAX_DATA_FILE_BYTES", len(ROWS))
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "x.csv").write_text(ROWS)
    assert diagnostics(pipeline(tmp_path / "proj", "x.csv")) == []


def test_reading_stops_at_the_limit_whatever_the_size_said(monkeypatch):
    """A file that grows after its size was read is cut off at the limit, not read to the end."""
    monkeypatch.setattr(datapath, "MAX_DATA_FILE_BYTES", 16)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x" * 100)
        with pytest.raises(DataPathError) as err:
            datapath._read_at_most(read_end, "x.csv")
        assert err.value.code == "E0012"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_pipeline_file_itself_is_read_with_a_bound(tmp_path):
    out = in_child("from octo.cli.main import main; raise SystemExit(main(['check', '/dev/zero']))", tmp_path)
    shown = out.stdout + out.stderr
    assert out.returncode == 2, shown
    assert "error[E0006]" in shown and "too large" in shown and "internal error" not in shown


# --- what a malformed data file shows is clipped ------------------------------------------------


def test_malformed_line_is_shown_cut(tmp_path):
    (tmp_path / "proj").mkdir()
    long_line = '{"id": "a", "text": "' + "y" * 100_000 + '"'  # no closing brace
    (tmp_path / "proj" / "x.jsonl").write_text('{"id": "b"}\n' + long_line + "\n", encoding="utf-8")
    diags = diagnostics(pipeline(tmp_path / "proj", "x.jsonl"))
    assert [d.code for d in diags] == ["E0007"]
    assert (diags[0].span.line, diags[0].span.column) == (2, len(long_line) + 1)  # the position stays exact
    shown = render_text(diags[0])
    assert len(shown) < 1000 and "…" in shown


def test_long_values_from_a_data_file_are_clipped_in_messages(tmp_path):
    (tmp_path / "proj").mkdir()
    long_id = "k" * 10_000
    (tmp_path / "proj" / "x.csv").write_text(f"id\n{long_id}\n{long_id}\n", encoding="utf-8")
    diags = diagnostics(pipeline(tmp_path / "proj", "x.csv"))
    assert [d.code for d in diags] == ["E0108"]
    assert len(diags[0].message) < 300


# --- ordinary paths still work --------------------------------------------------------------


@pytest.mark.parametrize("data_path", ["x.csv", "./x.csv", "data/x.csv", "data/deeper/x.csv", "link.csv",
                                       "linked/x.csv"])
def test_paths_inside_the_folder_are_read(tmp_path, data_path):
    proj = tmp_path / "proj"
    for rel in ("x.csv", "data/x.csv", "data/deeper/x.csv"):
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text(ROWS)
    (proj / "link.csv").symlink_to("data/x.csv")  # links that stay inside the folder are fine
    (proj / "linked").symlink_to(proj / "data", target_is_directory=True)
    octo = pipeline(proj, data_path)
    assert diagnostics(octo) == []
    assert read_data_file(proj, data_path) == ROWS.encode()


def test_relative_pipeline_path_and_crlf_line_endings(tmp_path, monkeypatch):
    """The folder is the .octo file's folder however the file is named; CRLF files keep their positions."""
    (tmp_path / "proj" / "data").mkdir(parents=True)
    (tmp_path / "proj" / "data" / "x.csv").write_bytes(b"id,x\r\na,1\r\nb,2,3\r\n")
    octo = pipeline(tmp_path / "proj", "data/x.csv")
    octo.write_bytes(octo.read_bytes().replace(b"\n", b"\r\n"))
    monkeypatch.chdir(tmp_path)
    diags = check_file("proj/p.octo", default_language()).diagnostics
    assert [(d.code, d.span.path, d.span.line) for d in diags] == [("E0007", "proj/data/x.csv", 3)]
    escaping = pipeline(tmp_path / "proj", "../proj/data/x.csv", name="q.octo")
    escaping.write_bytes(escaping.read_bytes().replace(b"\n", b"\r\n"))
    diags = check_file("proj/q.octo", default_language()).diagnostics
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E0010", PATH_LINE, PATH_COL)]


# --- through the command line ----------------------------------------------------------------


def test_check_reports_the_path_in_json(tmp_path, outside, capsys):
    octo = pipeline(tmp_path / "proj" / "sub", "../../victimdir/v.csv")
    assert main(["check", "--format", "json", str(octo)]) == 1
    (diag,) = json.loads(capsys.readouterr().out)["diagnostics"]
    assert (diag["code"], diag["span"]["line"], diag["span"]["column"]) == ("E0010", PATH_LINE, PATH_COL)
    assert diag["span"]["end_column"] == PATH_COL + len('"../../victimdir/v.csv"')


def test_run_refuses_before_writing_anything(tmp_path, outside, capsys):
    octo = pipeline(tmp_path / "proj" / "sub", "../../victimdir/v.csv")
    before = outside.read_bytes()
    runs = tmp_path / "runs" / "r1"
    assert main(["run", str(octo), "--run-dir", str(runs)]) == 1
    assert "E0010" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists() and outside.read_bytes() == before


# --- what is opened is what was checked --------------------------------------------------------


def unchecked(monkeypatch):
    """Let read_data_file open whatever is there now, as if the path changed after it was checked."""
    monkeypatch.setattr(datapath, "resolve_data_path", lambda folder, rel: Path(os.path.realpath(folder)) / rel)


def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(tmp_path, outside, monkeypatch):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "data").symlink_to(outside.parent, target_is_directory=True)
    unchecked(monkeypatch)
    with pytest.raises(OSError):
        read_data_file(tmp_path / "proj", "data/v.csv")


def test_a_file_swapped_for_a_pipe_after_the_check_is_refused_without_blocking(tmp_path, monkeypatch):
    (tmp_path / "proj").mkdir()
    os.mkfifo(tmp_path / "proj" / "x.csv")
    unchecked(monkeypatch)
    with pytest.raises(DataPathError) as err:
        read_data_file(tmp_path / "proj", "x.csv")  # opened without waiting for a writer
    assert err.value.code == "E0011"


def test_a_symlink_loop_is_a_diagnostic(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "loop.csv").symlink_to("loop.csv")
    diag = only(pipeline(tmp_path / "proj", "loop.csv"), "E0006")
    assert "symbolic links" in diag.message
