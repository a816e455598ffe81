"""The run directory and its store: atomic creation, the snapshot jail, read-only readers, versions,
a full disk, a damaged store, strict JSON output.

Kills during creation use the crashpoints of runtime/base/crashpoints.py
(``create-before-plan``, ``create-last-units``). A full disk is made two ways:
SQLite's ``max_page_count`` on the store's connection (in this process, always
available), and a real tiny tmpfs (only where this process may mount one: it
needs root). A read-only disk is a read-only bind mount (root too): file modes
do not bind root, a read-only mount does.
"""

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT, octoc

LOCAL = """octo: 1
name: local
seed: 3
units: {{repeat: {repeat}}}
steps:
  roll:
    compute:
      value: randint(1, 6) + unit.repeat % 7
  sums:
    aggregate:
      metrics: {{total: sum(roll.value), n: count()}}
"""


def write(tmp_path, text, name="p.octo"):
    f = tmp_path / name
    f.write_text(text)
    return f


def run(*args, env=None):
    full = {k: v for k, v in os.environ.items() if k != "OCTO_CRASHPOINT"}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "octo", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=full, timeout=300)


@pytest.fixture
def cli(capsys):
    """`octoc ARGS` in this process (no start-up cost): (exit code, stdout, stderr)."""
    from octo.cli.main import main

    def call(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def plan_of(path):
    from octo.compiler.base.diagnostics import Reporter
    from octo.compiler.frontend.check import check_file
    from octo.compiler.planning.planner import build_plan
    from octo.stdlib import default_language

    result = check_file(str(path), default_language())
    assert result.ok, result.diagnostics
    return build_plan(result.program, default_language(), Reporter())


def rows(run_dir, sql):
    db = sqlite3.connect(f"file:{run_dir / 'run.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def status(cli, run_dir):
    code, out, err = cli("status", run_dir, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def results(cli, run_dir):
    code, out, err = cli("results", run_dir)
    assert code == 0, err
    return out


# --- creating a run is atomic ----------------------------------------------------------------------


def test_a_kill_in_the_last_transaction_of_creation_is_not_done_and_resume_redoes_it(tmp_path, cli):
    f = write(tmp_path, LOCAL.format(repeat=30))
    assert cli("run", f, "--run-dir", tmp_path / "ref")[0] == 0
    killed = run("run", f, "--run-dir", tmp_path / "k", env={"OCTO_CRASHPOINT": "create-last-units"})
    assert killed.returncode == 137, killed.stdout + killed.stderr
    data = status(cli, tmp_path / "k")
    assert data["state"] == "creating" and data["units"] == 0  # not "done … 0 units"
    assert "creation is not finished" in cli("status", tmp_path / "k")[1]
    code, out, err = cli("run", "--resume", tmp_path / "k")
    assert code == 0, out + err
    assert "30 units — 30 done" in out
    assert results(cli, tmp_path / "k") == results(cli, tmp_path / "ref")


def test_resuming_an_interrupted_creation_keeps_the_stored_chunks_and_adds_the_rest(tmp_path, cli):
    from octo.runtime.rundirs.rundir import CREATE_CHUNK, create_run

    f = write(tmp_path, LOCAL.format(repeat=CREATE_CHUNK + 500))
    create_run(plan_of(f), tmp_path / "ref")  # the units an uninterrupted creation stores
    killed = run("run", f, "--run-dir", tmp_path / "k", env={"OCTO_CRASHPOINT": "create-last-units"})
    assert killed.returncode == 137
    assert rows(tmp_path / "k", "SELECT count(*) FROM units") == [(CREATE_CHUNK,)]  # the first chunk was committed
    from octo.runtime.rundirs.rundir import complete_creation
    from octo.runtime.rundirs.runlock import run_lock

    with run_lock(tmp_path / "k"):  # what `run --resume` and `tick` do first
        complete_creation(tmp_path / "k")
    every = "SELECT pos, idx, id FROM units ORDER BY pos"
    assert rows(tmp_path / "k", every) == rows(tmp_path / "ref", every)
    assert status(cli, tmp_path / "k")["state"] == "interrupted"  # created, no longer creating; its process was killed


def test_resuming_a_creation_whose_stored_units_are_not_the_plans_is_refused(tmp_path):
    """The last unit stored must be the plan's unit at its position (ids are made a chunk at a time)."""
    import sqlite3

    from octo.runtime.rundirs.rundir import CREATE_CHUNK, RunDirError, complete_creation
    from octo.runtime.rundirs.runlock import run_lock

    f = write(tmp_path, LOCAL.format(repeat=CREATE_CHUNK + 500))
    killed = run("run", f, "--run-dir", tmp_path / "k", env={"OCTO_CRASHPOINT": "create-last-units"})
    assert killed.returncode == 137
    db = sqlite3.connect(str(tmp_path / "k" / "run.db"))
    with db:
        db.execute("UPDATE units SET id = 'elsewhere' WHERE pos = ?", (CREATE_CHUNK - 1,))
    db.close()
    with run_lock(tmp_path / "k"), pytest.raises(RunDirError, match="not those of its plan"):
        complete_creation(tmp_path / "k")


def test_a_kill_before_the_plan_is_written_is_refused_with_how_to_start_again(tmp_path, cli):
    f = write(tmp_path, LOCAL.format(repeat=5))
    killed = run("run", f, "--run-dir", tmp_path / "k", env={"OCTO_CRASHPOINT": "create-before-plan"})
    assert killed.returncode == 137
    for command in (["run", "--resume"], ["tick"]):
        code, _, err = cli(*command, tmp_path / "k")
        assert code == 2 and "nothing to resume" in err, err
        assert f"rm -r {tmp_path / 'k'} && octoc run {f} --run-dir {tmp_path / 'k'}" in err
    assert cli("run", f, "--run-dir", tmp_path / "k")[0] == 2  # not over a half-made run
    subprocess.run(["rm", "-r", str(tmp_path / "k")], check=True)
    code, out, _ = cli("run", f, "--run-dir", tmp_path / "k")
    assert code == 0 and "5 units — 5 done" in out


def test_ctrl_c_stops_a_ten_million_unit_creation_and_leaves_it_unfinished_not_done(tmp_path, cli):
    import signal

    f = write(tmp_path, LOCAL.format(repeat=10_000_000))
    proc = subprocess.Popen([sys.executable, "-m", "octo", "run", str(f), "--run-dir", str(tmp_path / "big")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if rows(tmp_path / "big", "SELECT count(*) FROM units")[0][0] > 0:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "stopped while creating the run" in stdout and f"octoc run --resume {tmp_path / 'big'}" in stdout
    assert "Traceback" not in stderr
    data = status(cli, tmp_path / "big")
    assert data["state"] == "creating" and 0 < data["units"] < 10_000_000


# --- the snapshot writes inside source/ only -----------------------------------------------------------


def _plan_with_data_file(tmp_path, name):
    (tmp_path / "pipe").mkdir(exist_ok=True)
    (tmp_path / "pipe" / "t.csv").write_text("a\n1\n")
    plan = plan_of(write(tmp_path / "pipe", "octo: 1\ndata:\n  t: {file: t.csv}\nunits: {for: {row: t}}\n"
                                           "steps:\n  s: {compute: {x: unit.row.a}}\n"))
    plan.data["data"]["t"]["file"] = name  # as if a path slipped past the checker
    return plan


@pytest.mark.parametrize("name", ["../../victim/v.csv", "sub/../../v.csv", "/tmp/octo-abs-victim.csv"])
def test_a_data_path_that_would_land_outside_the_snapshot_is_refused_before_anything_is_made(tmp_path, name):
    from octo.runtime.rundirs.rundir import RunDirError, create_run

    plan = _plan_with_data_file(tmp_path, name)
    with pytest.raises(RunDirError, match="outside the run's source/ snapshot"):
        create_run(plan, tmp_path / "runs" / "r")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "victim").exists()
    assert not os.path.exists("/tmp/octo-abs-victim.csv")


def test_the_snapshot_never_writes_through_a_symlink(tmp_path):
    from octo.runtime.rundirs.rundir import RunDirError, _copy_inside

    root, outside = tmp_path / "source", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (tmp_path / "data.csv").write_text("a\n1\n")
    (root / "linked").symlink_to(outside)
    (root / "planted.csv").symlink_to(outside / "planted.csv")
    from pathlib import PurePath

    with pytest.raises(RunDirError, match="outside"):
        _copy_inside(tmp_path / "data.csv", root.resolve(), PurePath("linked/data.csv"))
    with pytest.raises(RunDirError, match="already exists"):
        _copy_inside(tmp_path / "data.csv", root.resolve(), PurePath("planted.csv"))
    assert list(outside.iterdir()) == []


def test_a_fifo_named_as_a_data_file_is_refused_by_the_snapshot_without_hanging(tmp_path):
    from octo.runtime.rundirs.rundir import RunDirError, create_run

    plan = _plan_with_data_file(tmp_path, "pipe.csv")
    os.mkfifo(tmp_path / "pipe" / "pipe.csv")
    with pytest.raises(RunDirError, match="not a regular file"):
        create_run(plan, tmp_path / "r")
    assert not (tmp_path / "r" / "plan.json").exists()


# --- reading commands open the store read-only -------------------------------------------------------


def _finished(tmp_path, cli, text=None, name="done"):
    f = write(tmp_path, text or LOCAL.format(repeat=20), f"{name}.octo")
    code, out, err = cli("run", f, "--run-dir", tmp_path / name)
    assert code == 0, out + err
    return tmp_path / name


READS = [["status"], ["status", "--format", "json"], ["results"], ["results", "--format", "csv"], ["report"],
         ["report", "--format", "json"]]


KILLED_WRITER = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("INSERT INTO events(at, kind) VALUES (0, 'a commit still in the WAL')")
os._exit(0)  # killed: the WAL is not checkpointed into run.db
"""


def _bytes_and_time(path):
    return (path.read_bytes(), path.stat().st_mtime_ns) if path.exists() else None


def test_reading_commands_change_no_byte_of_the_store_even_after_a_killed_writer(tmp_path, cli):
    run_dir = _finished(tmp_path, cli)
    store, wal = run_dir / "run.db", run_dir / "run.db-wal"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(store)], check=True)
    before = [_bytes_and_time(f) for f in (store, wal)]
    for command in READS:
        out = run(command[0], run_dir, *command[1:])  # in processes of their own: nothing shared with this one
        assert out.returncode == 0, (command, out.stderr)
    assert [_bytes_and_time(f) for f in (store, wal)] == before  # not even a checkpoint


def test_reading_commands_use_a_store_that_refuses_writes(tmp_path, cli, monkeypatch):
    from octo.runtime.base import store as store_module
    from octo.runtime.reading.report import report, unit_rows
    from octo.runtime.reading.status import run_status

    run_dir = _finished(tmp_path, cli)
    opened = []
    original = store_module.Store.__init__

    def recording(self, path, readonly=False):
        original(self, path, readonly)
        opened.append(self)

    monkeypatch.setattr(store_module.Store, "__init__", recording)
    run_status(run_dir)
    list(unit_rows(run_dir))
    report(run_dir)
    assert len(opened) == 3 and all(s.readonly for s in opened)
    probe = store_module.Store(run_dir / "run.db", readonly=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        probe.db.execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")
    probe.close()


@contextlib.contextmanager
def _mounted(*commands):
    """Run mount commands (root only); skip the test where this process may not mount."""
    done = []
    try:
        for command, target in commands:
            if subprocess.run(command, capture_output=True).returncode != 0:
                pytest.skip("this test needs to mount a file system (root)")
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_finished_run_on_a_read_only_file_system_can_be_read_but_not_resumed(tmp_path, cli):
    run_dir = _finished(tmp_path, cli)
    ro = tmp_path / "ro"
    ro.mkdir()
    with _mounted((["mount", "--bind", str(run_dir), str(ro)], ro),
                  (["mount", "-o", "remount,bind,ro", str(ro)], ro)):
        assert subprocess.run(["touch", str(ro / "x")], capture_output=True).returncode != 0  # it is read-only
        for command in READS:
            mine, theirs = cli(command[0], ro, *command[1:]), cli(command[0], run_dir, *command[1:])
            assert mine[0] == 0, (command, mine[2])
            if command[0] != "status":  # status shows the directory and the elapsed time
                assert mine[1] == theirs[1]
        for command in (["run", "--resume"], ["tick"]):
            code, _, err = cli(*command, ro)
            assert code == 2 and "Read-only file system" in err, err


# --- versions ------------------------------------------------------------------------------------------


def test_a_store_of_another_schema_version_is_refused_with_what_to_do(tmp_path, cli):
    run_dir = _finished(tmp_path, cli)
    db = sqlite3.connect(run_dir / "run.db")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    for command in (["status"], ["results"], ["report"], ["tick"], ["run", "--resume"]):
        code, _, err = cli(*command, run_dir)
        assert code == 2, (command, err)
        assert "run store version 99" in err and "reads version 1" in err, err
        assert "with the octoc that created it" in err and "internal error" not in err


@pytest.mark.parametrize("version", [1, 99])  # 1: a run created before loops (plan version 2) existed
def test_a_plan_of_another_version_is_refused_with_what_to_do(tmp_path, cli, version):
    run_dir = _finished(tmp_path, cli)
    plan = json.loads((run_dir / "plan.json").read_text())
    plan["version"] = version
    (run_dir / "plan.json").write_text(json.dumps(plan))
    for command in (["status"], ["results"], ["report"], ["tick"], ["run", "--resume"]):
        code, _, err = cli(*command, run_dir)
        assert code == 2, (command, err)
        assert f"plan version {version}" in err and "reads plan versions 2 and 3" in err, err
        assert "with the octoc that created it" in err


def test_a_plan_of_version_2_made_before_unique_by_and_export_files_still_reads(tmp_path, cli):
    run_dir = _finished(tmp_path, cli)
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["version"] == 3
    plan["version"] = 2  # it has none of version 3's fields
    (run_dir / "plan.json").write_text(json.dumps(plan))
    for command in (["status"], ["results"], ["report"]):
        code, _, err = cli(*command, run_dir)
        assert code == 0, (command, err)


# --- a full disk, an I/O error, a damaged store ---------------------------------------------------------


@pytest.fixture
def small_store(monkeypatch):
    """While ``pages`` is set, a writable store may grow by that many pages only: SQLite reports the disk full."""
    from octo.runtime.base import store as store_module

    original = store_module.Store.__init__
    limit = {"pages": None}

    def limited(self, path, readonly=False):
        original(self, path, readonly)
        if not readonly and limit["pages"] is not None:
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            self.db.execute(f"PRAGMA max_page_count = {pages + limit['pages']}")

    monkeypatch.setattr(store_module.Store, "__init__", limited)
    return limit


def test_a_full_disk_during_a_run_is_a_message_and_the_resumed_run_loses_nothing(tmp_path, cli, small_store):
    from octo.runtime.rundirs.rundir import create_run

    f = write(tmp_path, LOCAL.format(repeat=3000))
    reference = create_run(plan_of(f), tmp_path / "ref")
    assert cli("run", "--resume", reference)[0] == 0
    run_dir = create_run(plan_of(f), tmp_path / "full")
    small_store["pages"] = 4
    code, _, err = cli("run", "--resume", run_dir)
    assert code == 2, err
    assert err.startswith(f"octoc: error: the disk is full in '{run_dir}' (database or disk is full)")
    assert f"Nothing is lost. Free space, then resume with: octoc run --resume {run_dir}" in err
    assert "internal error" not in err
    small_store["pages"] = None  # space freed
    code, out, err = cli("run", "--resume", run_dir)
    assert code == 0, err
    assert results(cli, run_dir) == results(cli, reference)


def test_a_full_disk_while_creating_is_resumable_and_the_creation_completes(tmp_path, cli, small_store, monkeypatch):
    from octo.runtime.rundirs.rundir import CREATE_CHUNK

    monkeypatch.setenv("OCTO_WORKERS", "1")
    f = write(tmp_path, LOCAL.format(repeat=CREATE_CHUNK + 5000))
    small_store["pages"] = 40  # the store's tables fit, a chunk of units does not
    code, _, err = cli("run", f, "--run-dir", tmp_path / "r")
    assert code == 2 and "the disk is full" in err and f"resume with: octoc run --resume {tmp_path / 'r'}" in err
    assert status(cli, tmp_path / "r")["state"] == "creating"
    small_store["pages"] = None
    code, out, err = cli("run", "--resume", tmp_path / "r")
    assert code == 0, err
    assert "25,000 units — 25,000 done" in out


def test_an_io_error_is_a_message_with_the_resume_command(tmp_path, cli, monkeypatch):
    import errno

    from octo.runtime import engine as engine_module
    from octo.runtime.rundirs.rundir import create_run

    run_dir = create_run(plan_of(write(tmp_path, LOCAL.format(repeat=10))), tmp_path / "r")

    def failing(self, name, rows, dedup=None):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(engine_module.Engine, "_commit", failing)
    code, _, err = cli("run", "--resume", run_dir)
    assert code == 2 and "a disk I/O error" in err
    assert f"Nothing is lost. Check the disk, then resume with: octoc run --resume {run_dir}" in err


FAT = """octo: 1
name: fat
units: {repeat: 3000}
steps:
  pad:
    compute:
      text: "'0123456789' * 60 + str(unit.repeat)"
"""


def test_a_real_full_disk_stops_the_run_and_resume_after_freeing_space_finishes_it(tmp_path, cli):
    f = write(tmp_path, FAT)
    disk = tmp_path / "disk"
    disk.mkdir()
    with _mounted((["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(disk)], disk)):
        code, out, err = cli("run", f, "--run-dir", disk / "r")
        assert code == 2, out + err
        assert "the disk is full" in err and f"resume with: octoc run --resume {disk / 'r'}" in err
        assert "internal error" not in err
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # space freed
        code, out, err = cli("run", "--resume", disk / "r")
        assert code == 0, out + err
        assert "3,000 units — 3,000 done" in out


def test_a_full_disk_before_the_plan_is_written_says_start_again_and_leaves_nothing(tmp_path, cli):
    pipe = tmp_path / "pipe"
    pipe.mkdir()
    (pipe / "t.csv").write_text("a\n" + "\n".join(str(i) for i in range(200_000)) + "\n")  # ~1.3 MB to snapshot
    f = write(pipe, "octo: 1\ndata:\n  t: {file: t.csv}\nunits: {repeat: 2}\nsteps:\n  s: {compute: {x: 1}}\n")
    disk = tmp_path / "disk"
    disk.mkdir()
    with _mounted((["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], disk)):
        code, out, err = cli("run", f, "--run-dir", disk / "r")
        assert code == 2, out + err
        assert "the disk is full" in err
        assert f"Nothing had run yet. Free space, then start again with: octoc run {f} --run-dir {disk / 'r'}" in err
        assert not (disk / "r").exists()  # nothing half-made is left behind


@pytest.mark.parametrize("where", ["middle", "header"])
def test_a_damaged_store_is_a_message_not_an_internal_error(tmp_path, cli, where):
    run_dir = _finished(tmp_path, cli, LOCAL.format(repeat=3000))
    store = run_dir / "run.db"
    with open(store, "r+b") as damaged:
        damaged.seek(_middle_of_the_results(store) if where == "middle" else 0)
        damaged.write(bytes(range(256)) * 32)  # 8 KiB of garbage
    for command in (["status"], ["results"], ["report", "--format", "json"], ["tick"], ["run", "--resume"]):
        code, out, err = cli(*command, run_dir)
        assert code == 2, (command, out[-300:], err)
        assert "is damaged" in err and "internal error" not in err, (command, err)


def _middle_of_the_results(store) -> int:
    """Where in the file the middle page of the results table is (every command reads results); the middle of
    the file where SQLite's page statistics are not compiled in."""
    import sqlite3

    db = sqlite3.connect(store)
    try:
        pages = [r[0] for r in db.execute("SELECT pageno FROM dbstat WHERE name = 'results' ORDER BY pageno")]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.OperationalError:  # no dbstat
        return store.stat().st_size // 2
    finally:
        db.close()
    return (pages[len(pages) // 2] - 1) * page_size


# --- strict JSON ------------------------------------------------------------------------------------------

INFINITE = """octo: 1
name: infinite
units: {repeat: 3}
steps:
  a:
    compute:
      big: 1e308 * 10 * (unit.repeat + 1)
      odd: 1e308 * 10 * (unit.repeat + 1) - 1e308 * 10
      fine: unit.repeat
  s:
    aggregate:
      metrics: {m: mean(a.big), n: mean(a.odd), k: count()}
"""


def _strict(text):
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_results_report_and_status_write_nan_and_infinities_as_null(tmp_path, cli):
    run_dir = _finished(tmp_path, cli, INFINITE, "inf")
    lines = [_strict(line) for line in cli("results", run_dir)[1].splitlines()]
    assert [line["steps"]["a"]["output"] for line in lines] == [{"big": None, "odd": None, "fine": i} for i in range(3)]
    step = [_strict(line) for line in cli("results", run_dir, "--step", "a")[1].splitlines()]
    assert step[0]["big"] is None and step[0]["fine"] == 0
    report = _strict(cli("report", run_dir, "--format", "json")[1])
    assert report["aggregates"][0]["groups"][0]["metrics"] == {"m": None, "n": None, "k": 3}
    _strict(cli("status", run_dir, "--format", "json")[1])
    assert "nan" not in cli("results", run_dir, "--format", "csv")[1].lower()


# --- a run made before a table existed is still read ----------------------------------------------------

def test_the_reading_commands_read_a_run_made_before_the_requeues_table_existed(tmp_path, cli):
    """Readers open the store read-only and create nothing, so a run store without a table added
    later (here `requeues`, added with `octoc retry`) must still be readable by status, report and runs."""
    f = write(tmp_path, "octo: 1\nunits: {repeat: 3}\nsteps:\n  a: {compute: {x: unit.repeat}}\n")
    run_dir = tmp_path / "runs" / "old"
    code, _, err = cli("run", f, "--run-dir", run_dir)
    assert code == 0, err
    db = sqlite3.connect(run_dir / "run.db")
    db.execute("DROP TABLE requeues")
    db.close()
    assert status(cli, run_dir)["state"] == "done"
    for args in (("report", run_dir), ("runs", tmp_path / "runs"), ("results", run_dir)):
        code, out, err = cli(*args)
        assert code == 0 and "readonly" not in err, (args, out, err)
