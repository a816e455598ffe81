"""`octoc check`: exit codes, formats, and never a traceback."""

import json

from conftest import octoc

BAD = "octo: 1\nsteps:\n  a: {compute: {x: 'y + 1'}}\n"
WARN = "octo: 1\nexport: [a.x]\nsteps:\n  a: {compute: {x: '1 + 1'}}\n  b: {compute: {y: '2'}}\n"


def test_clean_file_exits_0(tmp_path):
    f = tmp_path / "ok.octo"
    f.write_text("octo: 1\nsteps:\n  a: {compute: {x: '1 + 1'}}\n")
    out = octoc("check", str(f))
    assert out.returncode == 0
    assert "no problems" in out.stdout


def test_warnings_alone_exit_0(tmp_path):
    f = tmp_path / "warn.octo"
    f.write_text(WARN)
    out = octoc("check", str(f))
    assert out.returncode == 0
    assert "warning[W0402]" in out.stdout


def test_errors_exit_1_and_are_all_reported(tmp_path):
    f = tmp_path / "bad.octo"
    f.write_text(BAD + "  b: {compute: {z: 'nope(1)'}}\n")
    out = octoc("check", str(f))
    assert out.returncode == 1
    assert "error[E0202]" in out.stdout and "error[E0204]" in out.stdout
    assert "2 errors" in out.stdout


def test_missing_file_exits_2_without_traceback(tmp_path):
    out = octoc("check", str(tmp_path / "nope.octo"))
    assert out.returncode == 2
    assert "cannot read" in out.stdout and "no such file" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_directory_and_binary_files_exit_2(tmp_path):
    binary = tmp_path / "b.octo"
    binary.write_bytes(b"\xff\xfe\x00\x01octo")
    for target in (tmp_path, binary):
        out = octoc("check", str(target))
        assert out.returncode == 2, out.stdout
        assert "Traceback" not in out.stdout + out.stderr


def test_missing_data_file_exits_2(tmp_path):
    f = tmp_path / "d.octo"
    f.write_text("octo: 1\ndata:\n  t: {file: rows.csv}\nunits: {for: {r: t}}\nsteps:\n  a: {compute: {x: 'unit.r'}}\n")
    out = octoc("check", str(f))
    assert out.returncode == 2
    assert "E0006" in out.stdout and "rows.csv" in out.stdout


def test_usage_error_exits_2():
    out = octoc("check")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert octoc("frobnicate").returncode == 2
    assert octoc().returncode == 2


def test_json_format_has_the_documented_shape(tmp_path):
    f = tmp_path / "bad.octo"
    f.write_text(BAD)
    out = octoc("check", "--format", "json", str(f))
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["version"] == 1 and data["files"] == [str(f)]
    assert data["summary"] == {"errors": 1, "warnings": 0}
    (d,) = data["diagnostics"]
    assert set(d) == {"severity", "code", "message", "file", "span", "label", "hint", "labels"}
    assert d["code"] == "E0202" and d["severity"] == "error"
    assert (d["span"]["line"], d["span"]["column"], d["span"]["end_column"]) == (3, 21, 22)


def test_colour_only_when_asked_or_on_a_terminal(tmp_path):
    f = tmp_path / "bad.octo"
    f.write_text(BAD)
    assert "\x1b[" not in octoc("check", str(f)).stdout
    assert "\x1b[" in octoc("check", "--color", "always", str(f)).stdout


def test_several_files_in_one_run(tmp_path):
    a, b = tmp_path / "a.octo", tmp_path / "b.octo"
    a.write_text(BAD)
    b.write_text(BAD.replace("y + 1", "q"))
    out = octoc("check", str(a), str(b))
    assert out.returncode == 1
    assert f"{a}:3:21" in out.stdout and f"{b}:3:21" in out.stdout
    assert "in 2 files checked" in out.stdout


def test_schema_command_prints_json():
    out = octoc("schema")
    assert out.returncode == 0
    assert json.loads(out.stdout)["title"] == ".octo pipeline"
