"""Every numeric flag and setting of `octoc` is range-checked (NaN and infinities included):
a value out of range is a usage error, exit 2, with a message naming the flag and its range.
Also the run-time safety net for Gemini model names, which become part of a URL path."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from octo.cli.main import main
from octo.runtime.providers.base import ProviderError, Request

PIPELINE = "octo: 1\nname: p\nsteps:\n  a: {compute: {x: '1 + 1'}}\n"


def usage_error(capsys, *argv: str) -> str:
    """Run octoc with ``argv``; it must exit 2. Returns what it wrote to stderr."""
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    return err


@pytest.fixture
def never_serve(monkeypatch):
    """An emulator that would start serving fails at once instead (a test must not hang on a
    value octoc wrongly accepts: it would serve until stopped)."""
    def refuse(*args, **kwargs):
        raise RuntimeError("the emulator would have started serving")
    monkeypatch.setattr("octo.runtime.emulator.server.EmulatorServer", refuse)


@pytest.fixture
def pipeline(tmp_path):
    f = tmp_path / "p.octo"
    f.write_text(PIPELINE)
    return str(f)


@pytest.mark.parametrize("flag, value, message", [
    ("--poll-interval", "nan", "expected a number from 0 to 86400, not 'nan'"),
    ("--poll-interval", "-1", "expected a number from 0 to 86400, not '-1'"),
    ("--poll-interval", "inf", "expected a number from 0 to 86400, not 'inf'"),
    ("--outage-timeout", "nan", "expected a number from 1 to 604800, not 'nan'"),
    ("--outage-timeout", "-1", "expected a number from 1 to 604800, not '-1'"),
    ("--outage-timeout", "inf", "expected a number from 1 to 604800, not 'inf'"),
    ("--max-usd", "nan", "expected a number from 0 to 1000000000, not 'nan'"),
    ("--max-usd", "-5", "expected a number from 0 to 1000000000, not '-5'"),
    ("--max-usd", "1e400", "expected a number from 0 to 1000000000, not '1e400'"),
    ("--batch-size", "0", "expected a whole number from 1 to 1000000, not 0"),
    ("--batch-size", "2.5", "expected a whole number from 1 to 1000000, not '2.5'"),
    ("--max-in-flight", "100000", "expected a whole number from 1 to 1000, not 100000"),
    ("--concurrency", "1000000000", "expected a whole number from 1 to 1000, not 1000000000"),
])
def test_run_flags_are_range_checked(capsys, pipeline, flag, value, message):
    err = usage_error(capsys, "run", pipeline, flag, value)
    assert f"argument {flag}: {message}" in err


@pytest.mark.parametrize("value, message", [
    ("99999", "expected a whole number from 0 to 65535, not 99999"),
    ("-1", "expected a whole number from 0 to 65535, not -1"),
    ("http", "expected a whole number from 0 to 65535, not 'http'"),
])
def test_the_emulator_port_is_range_checked(capsys, never_serve, value, message):
    assert f"argument --port: {message}" in usage_error(capsys, "emulator", "--port", value)


def test_a_port_in_use_is_a_message(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = usage_error(capsys, "emulator", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another with --port" in err


@pytest.mark.parametrize("value", [str(2 ** 63), str(-2 ** 63 - 1), "1.5"])
def test_the_emulator_seed_is_range_checked(capsys, never_serve, value):
    assert "argument --seed: expected a whole number from" in usage_error(capsys, "emulator", "--seed", value)


@pytest.mark.parametrize("value", ["17", "-1", "two"])
def test_the_schema_indent_is_range_checked(capsys, value):
    assert "argument --indent: expected a whole number from 0 to 16" in usage_error(capsys, "schema", "--indent", value)


def test_a_huge_schema_indent_is_refused_at_once():
    # today's hang: json.dumps with an indent of 100,000,000 spaces per level
    out = subprocess.run([sys.executable, "-m", "octo", "schema", "--indent", "100000000"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "argument --indent: expected a whole number from 0 to 16" in out.stderr


@pytest.mark.parametrize("spec, message", [
    ("errored=nan", "fault 'errored' needs a fraction from 0 to 1, not 'nan'"),
    ("malformed=-0.1", "fault 'malformed' needs a fraction from 0 to 1, not '-0.1'"),
    ("invalid=1.5", "fault 'invalid' needs a fraction from 0 to 1, not '1.5'"),
    ("errored=inf", "fault 'errored' needs a fraction from 0 to 1, not 'inf'"),
    ("expire=1.5", "fault 'expire' needs a whole number from 0 to 1,000,000,000, not '1.5'"),
    ("submit_429=-2", "fault 'submit_429' needs a whole number from 0 to 1,000,000,000, not '-2'"),
    ("slow=10000000000", "fault 'slow' needs a whole number from 0 to 1,000,000,000, not '10000000000'"),
])
def test_fault_values_are_range_checked(capsys, never_serve, pipeline, spec, message):
    assert f"--faults: {message}" in usage_error(capsys, "run", pipeline, "--provider", "emulator", "--faults", spec)
    assert f"--faults: {message}" in usage_error(capsys, "emulator", "--faults", spec)


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize("value", ["nan", "0", "-3", "inf", "soon"])
def test_the_cpu_setting_is_range_checked_before_anything_runs(capsys, monkeypatch, pipeline, command, value):
    monkeypatch.setenv("OCTO_CPU_SECONDS", value)
    err = usage_error(capsys, command, pipeline)
    assert "OCTO_CPU_SECONDS must be a number of seconds from 0.001 to 1000000" in err


def test_in_range_values_are_taken(capsys, pipeline, tmp_path):
    code = main(["run", pipeline, "--run-dir", str(tmp_path / "r"), "--poll-interval", "0", "--max-usd", "0",
                 "--outage-timeout", "1", "--batch-size", "1", "--concurrency", "1000"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["schema", "--indent", "16"]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "object"


# --- Gemini model names: never part of a URL unchecked ------------------------------------------

@pytest.mark.parametrize("model", ["gem?x=1", "../../v1/files", "models/../../x", "a b", "x#y", ""])
def test_a_bad_gemini_model_name_is_a_provider_error(model):
    from octo.runtime.providers.gemini import GeminiAdapter

    adapter = GeminiAdapter("key", "http://127.0.0.1:9", retry_attempts=1)  # refused before any request
    request = Request("c1", model, "hello", max_tokens=10)
    for send in (lambda: adapter.call(request), lambda: adapter.submit("k", [request])):
        with pytest.raises(ProviderError, match="is not a model name") as info:
            send()
        assert info.value.kind == "model" and "Check the model name" in info.value.message


def test_a_stored_setting_of_zero_is_kept_not_replaced_by_the_default():
    """Settings are stored in the run and read back on resume: 0 is a value, not "unset"."""
    from octo.runtime.session import options_from

    assert options_from({"outage_timeout": 0}).outage_timeout == 0
    assert options_from({}).outage_timeout == 600.0
