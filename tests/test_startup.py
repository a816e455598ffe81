"""What each command imports (issue 14, startup): `check` and `plan` no networkx and no provider SDK
and no third-party library beyond the compiler's (the floor bench/bench_startup.py measures them
against); `check` none of the evaluation side (it types calls, it never runs them); a run imports the
SDKs of the providers its steps use, and no other. Structure, not time."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_startup import COMPILER_LIBRARIES  # noqa: E402

# What the compiler's libraries themselves import (private modules, `_name`, are not counted).
COMPILER_DEPENDENCIES = {"attr", "attrs", "idna", "jsonschema_specifications", "markupsafe", "referencing", "rpds",
                         "typing_extensions", "cython_runtime"}
SDKS = ("openai", "anthropic", "google")

ANTHROPIC_ONLY = """octo: 1
name: anthropic-only
units: {repeat: 2}
steps:
  answer:
    generate:
      model: anthropic:claude-haiku-4-5
      prompt: "Name a sea creature {{ unit.repeat }}."
      output: {name: str}
"""

LOCAL_ONLY = """octo: 1
name: local-only
units: {repeat: 3}
steps:
  square: {compute: {x: unit.repeat * unit.repeat}}
"""


# What evaluates expressions and runs steps: code generation, the built-ins' implementations. `check` types
# calls against the built-ins' signatures and never runs anything, so it imports none of these.
EVALUATION = {"octo.compiler.expressions.codegen", "octo.compiler.expressions.evalmessages",
              "octo.compiler.expressions.evalsupport",  # the step kinds name EvalError: evalerror.py
              "octo.compiler.expressions.loopgen", "octo.compiler.expressions.astjson", "octo.stdlib.builtin_impls",
              "octo.stdlib.text", "octo.stdlib.execution", "octo.stdlib.aggregate_run"}


def modules_after(argv: list[str], cwd: Path) -> tuple[int, list[str]]:
    """The exit code of `octoc ARGV` in a fresh process and every module it loaded."""
    code = ("import json, sys\nfrom octo.cli.main import main\n"
            f"code = main({argv!r})\nprint(json.dumps([code, sorted(sys.modules)]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)
    code, modules = json.loads(out.stdout.strip().splitlines()[-1])
    return code, modules


def third_party_after(argv: list[str], cwd: Path) -> tuple[int, set[str]]:
    """The exit code of `octoc ARGV` in a fresh process and the top-level non-standard modules it loaded."""
    code, modules = modules_after(argv, cwd)
    tops = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names)
    return code, {t for t in tops if t != "octo" and not t.startswith("_")}


@pytest.mark.parametrize("command", ["check", "plan"])
def test_check_and_plan_import_only_the_compilers_libraries(command):
    code, tops = third_party_after([command, "examples/drunken_sailor.octo"], ROOT)
    assert code == 0
    assert "networkx" not in tops
    assert tops - set(COMPILER_LIBRARIES) - COMPILER_DEPENDENCIES == set()


def test_check_imports_neither_the_unit_space_nor_a_csv_reader_it_does_not_use():
    # the unit space enumerates units (plan, run); the sailor's data are inline, not a CSV file
    code, modules = modules_after(["check", "examples/drunken_sailor.octo"], ROOT)
    assert code == 0
    assert {"octo.compiler.frontend.unitspace", "csv"} & set(modules) == set()


def test_check_imports_none_of_the_evaluation_side():
    # the sailor calls built-ins (typed against their signatures) in compute, simulate and aggregate steps
    code, modules = modules_after(["check", "examples/drunken_sailor.octo"], ROOT)
    assert code == 0
    assert set(modules) & EVALUATION == set()


def test_a_run_imports_the_implementations_check_leaves_out(tmp_path):
    (tmp_path / "local.octo").write_text(LOCAL_ONLY.replace("unit.repeat * unit.repeat", "abs(unit.repeat) * 2"))
    code, modules = modules_after(["run", "local.octo", "--run-dir", "run"], tmp_path)
    assert code == 0
    assert {"octo.compiler.expressions.codegen", "octo.stdlib.builtin_impls", "octo.stdlib.execution"} <= set(modules)


def test_a_run_of_local_steps_imports_no_provider_sdk(tmp_path):
    (tmp_path / "local.octo").write_text(LOCAL_ONLY)
    code, tops = third_party_after(["run", "local.octo", "--run-dir", "run"], tmp_path)
    assert code == 0
    assert tops & set(SDKS) == set()


def test_a_run_of_local_steps_on_one_worker_imports_neither_the_provider_side_nor_multiprocessing(tmp_path, monkeypatch):
    """20,000 units, a step large enough for worker processes were there more than one: deciding on none imports
    no multiprocessing (runtime/work/workers.py); nothing of the provider side is wired for local steps (the
    ledger's tables are made in every run, so its module is imported)."""
    monkeypatch.setenv("OCTO_WORKERS", "1")
    (tmp_path / "local.octo").write_text(LOCAL_ONLY.replace("repeat: 3", "repeat: 20000").replace("{repeat: 3}", "{repeat: 20000}"))
    code, modules = modules_after(["run", "local.octo", "--run-dir", "run"], tmp_path)
    assert code == 0 and "octo.runtime.work.workers" in modules
    assert {"multiprocessing", "concurrent.futures", "octo.runtime.attempts.dispatch",
            "octo.runtime.attempts.sending"} & set(modules) == set()


def test_a_run_imports_the_sdk_of_the_providers_it_uses_and_no_other(tmp_path):
    (tmp_path / "anthropic.octo").write_text(ANTHROPIC_ONLY)
    code, tops = third_party_after(["run", "anthropic.octo", "--provider", "emulator", "--run-dir", "run"], tmp_path)
    assert code == 0
    assert tops & set(SDKS) == {"anthropic"}


def test_the_emulator_server_needs_no_sdk():
    code = ("import sys\nfrom octo.cli.emulating import serve\nfrom octo.runtime.emulator.core import Emulator\n"
            "from octo.runtime.emulator.server import EmulatorServer\n"
            "server = EmulatorServer(Emulator(seed=0), port=0)\nserver.server_close()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'openai', 'anthropic', 'google'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


def _spy_on_check(setup: str, report: str) -> list:
    """Run `octoc check` on the sailor in a fresh process after ``setup``; the JSON of ``report`` after it."""
    code = (f"import json, sys, io, contextlib\n{setup}\nfrom octo.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    code = main(['check', 'examples/drunken_sailor.octo'])\n"
            f"print(json.dumps([code, {report}]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spying(module: str, target: str, record: str) -> str:
    """Setup for :func:`_spy_on_check`: ``module.target`` (a function, or a method of a class) replaced by one that
    appends ``record`` (an expression of the call's ``args`` and ``kwargs``) to the list ``seen``, then calls it."""
    return (f"import {module}\nseen = []\norig = {module}.{target}\n"
            f"def spy(*args, **kwargs):\n    seen.append({record})\n    return orig(*args, **kwargs)\n"
            f"{module}.{target} = spy\n")


def test_check_makes_no_dataclass_of_the_front_end():
    # `dataclass` compiles each class's methods from source at import, in every process, and its field
    # machinery costs ~200,000 instructions a class; record_class and plain_dataclass
    # (compiler/base/records.py) share the methods and collect the fields themselves
    setup = _spying("dataclasses", "_process_class", "f'{args[0].__module__}.{args[0].__qualname__}'")
    code, made = _spy_on_check(setup, "seen")
    assert code == 0
    # the step kinds' configurations and the AST nodes included; one template, to copy what dataclass leaves
    assert {m for m in made if m.startswith("octo.")} == {"octo.compiler.base.records._Template"}


def test_check_builds_the_parser_of_check_alone():
    # argparse builds a parser per command; `octoc check` needs the top one and its own
    code, built = _spy_on_check(_spying("argparse", "ArgumentParser.__init__", "kwargs.get('prog')"), "seen")
    assert code == 0
    assert len(built) == 2, built


def test_check_compiles_no_regular_expression_for_the_model_families_globs():
    # fnmatch compiles each glob ("gpt-5*") to a regular expression; capabilities.glob_matches
    # matches a glob of text and `*` by its pieces
    code, compiled = _spy_on_check(_spying("fnmatch", "_compile_pattern", "args[0]"), "seen")
    assert code == 0
    assert compiled == []


@pytest.mark.skipif(not __import__("yaml").__with_libyaml__, reason="PyYAML built without libyaml")
def test_check_reads_the_yaml_with_libyaml():
    # PyYAML's pure-Python parser takes a few milliseconds for the sailor; libyaml a tenth of that, with the
    # same nodes and positions (tests/test_yaml_composers.py), and the pure-Python one reads what libyaml would not
    code, used = _spy_on_check(_spying("yaml", "SafeLoader.__init__", "1"), "seen")
    assert code == 0
    assert used == []


def test_check_compiles_no_pattern_it_never_uses():
    # a regular expression compiled at import costs ~0.1-0.4 ms at every start; these serve a YAML error, the
    # run-time messages, a template's formatting and re.sub's replacement templates: compiled when first used
    from octo.compiler.expressions import evalerror, templatebounds
    from octo.compiler.frontend import loader
    from octo.stdlib import regex

    unused = [getattr(p, "pattern", p) for p in (loader._QUOTED_START, evalerror._ORIGIN, templatebounds._WIDTHS,
                                                 regex._TEMPLATE_PART)]
    setup = _spying("re._compiler", "compile", "args[0] if isinstance(args[0], str) else None")
    code, compiled = _spy_on_check(setup, "seen")
    assert code == 0
    assert set(compiled) & set(unused) == set()


def test_check_of_a_pipeline_without_templates_builds_no_template_environment(tmp_path):
    # the sandbox (Jinja2's and its bounds) is built at the first template, once per process
    (tmp_path / "local.octo").write_text(LOCAL_ONLY)
    code, modules = modules_after(["check", "local.octo"], tmp_path)
    assert code == 0
    assert {"jinja2.sandbox", "octo.compiler.expressions.templatebounds"} & set(modules) == set()


def test_check_builds_one_template_environment():
    # the sailor has three templates (two prompts and a judge's); each is read by one environment
    code, built = _spy_on_check(_spying("jinja2", "Environment.__init__", "type(args[0]).__name__"), "seen")
    assert code == 0
    assert built == ["BoundedSandbox"]
