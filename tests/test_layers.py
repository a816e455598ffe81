"""Imports point one way: grammar ← compiler ← stdlib ← runtime ← cli; inside the compiler
base ← expressions ← frontend ← planning (compiler/README.md); inside the runtime
base, providers, emulator ← work ← attempts ← rundirs ← reading, fixing ← the top-level modules (runtime/README.md)."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = ["grammar", "compiler", "stdlib", "runtime", "cli"]
COMPILER_LAYERS = ["base", "expressions", "frontend", "planning"]
# The runtime's subpackages by rank, lowest first; subpackages of one rank are siblings that never import each other.
RUNTIME_RANKS = [("base", "providers", "emulator"), ("work",), ("attempts",), ("rundirs",), ("reading", "fixing")]
# The modules directly in runtime/, above every subpackage: they drive a run with the engine.
RUNTIME_TOP = {"engine", "session", "fixes", "scripted", "answersfile", "headstart"}
PROVIDER_SDKS = ("openai", "anthropic", "google")


def package_of(rel: str) -> str:
    """The package a repository file belongs to: `compiler/frontend/kinds.py` → `octo.compiler.frontend`."""
    return ".".join(["octo", *rel.split("/")[:-1]])


def imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of the modules a file of ``package`` imports, at any depth (relative imports resolved)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                out.append(".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])))
            elif node.module:
                out.append(node.module)
    return out


def forbidden_edges(files: dict[str, str]) -> list[str]:
    """`layer/file.py → octo.higher` for every import of a higher layer or a provider SDK."""
    bad = []
    for rel, text in files.items():
        layer = rel.split("/")[0]
        rank = LAYERS.index(layer)
        for name in imported_modules(text, package_of(rel)):
            parts = name.split(".")
            if parts[0] == "octo" and len(parts) > 1 and parts[1] in LAYERS and LAYERS.index(parts[1]) > rank:
                bad.append(f"{rel} → {name}")
            if parts[0] in PROVIDER_SDKS and layer in ("grammar", "compiler", "stdlib"):
                bad.append(f"{rel} → {name}")
    return bad


def compiler_rank(module: str) -> int | None:
    """Where a module of ``octo.compiler`` sits in COMPILER_LAYERS; the package root (and a file directly
    in it) sits above every subpackage; None outside the compiler."""
    parts = module.split(".")
    if parts[:2] != ["octo", "compiler"]:
        return None
    return COMPILER_LAYERS.index(parts[2]) if len(parts) > 2 and parts[2] in COMPILER_LAYERS else len(COMPILER_LAYERS)


def compiler_edges(files: dict[str, str]) -> list[str]:
    """`compiler/sub/file.py → octo.compiler.higher…` for every import of a higher compiler subpackage (or of the
    package root, which may re-export any of them)."""
    bad = []
    for rel, text in files.items():
        if rel.split("/")[0] != "compiler":
            continue
        rank = compiler_rank(package_of(rel))
        for name in imported_modules(text, package_of(rel)):
            other = compiler_rank(name)
            if other is not None and other > rank:
                bad.append(f"{rel} → {name}")
    return bad


def runtime_place(module: str) -> tuple[int, str] | None:
    """(rank, subpackage) of a module of ``octo.runtime``; the package root and a module directly in it rank above
    every subpackage (as ``""``); None outside the runtime."""
    parts = module.split(".")
    if parts[:2] != ["octo", "runtime"]:
        return None
    for rank, siblings in enumerate(RUNTIME_RANKS):
        if len(parts) > 2 and parts[2] in siblings:
            return rank, parts[2]
    return len(RUNTIME_RANKS), ""


def runtime_edges(files: dict[str, str]) -> list[str]:
    """`runtime/sub/file.py → octo.runtime.other…` for every import of a higher runtime subpackage, of a sibling of
    the same rank, or of the top level (the package root or a module directly in runtime/)."""
    bad = []
    for rel, text in files.items():
        if rel.split("/")[0] != "runtime":
            continue
        rank, sub = runtime_place(package_of(rel))
        for name in imported_modules(text, package_of(rel)):
            other = runtime_place(name)
            if other is not None and (other[0] > rank or (other[0] == rank and other[1] != sub)):
                bad.append(f"{rel} → {name}")
    return bad


def project_files() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}


def test_no_import_points_up_the_layers():
    assert forbidden_edges(project_files()) == []


def test_the_layer_check_catches_a_forbidden_edge():
    files = {
        "compiler/x.py": "from octo.stdlib import default_language\n",
        "grammar/y.py": "import octo.compiler.expressions.ast\n",
        "stdlib/z.py": "from octo.compiler.expressions import ast\nimport openai\n",
        "compiler/expressions/ok.py": "from .ast import Name\nfrom octo.grammar import expression_parser\n",
    }
    assert forbidden_edges(files) == [
        "compiler/x.py → octo.stdlib",
        "grammar/y.py → octo.compiler.expressions.ast",
        "stdlib/z.py → openai",
    ]


def test_no_compiler_subpackage_imports_a_higher_one():
    assert compiler_edges(project_files()) == []


def test_the_compiler_check_catches_a_forbidden_edge():
    files = {
        "compiler/base/x.py": "from ..expressions.ast import Name\n",
        "compiler/expressions/y.py": "def f():\n    from octo.compiler.planning import estimate\n",
        "compiler/frontend/z.py": "from .. import planning\n",
        "compiler/planning/ok.py": ("from ..base.source import Span\nfrom ..frontend import kinds\n"
                                    "from .estimate import Tries\nfrom octo.grammar import type_parser\n"),
        "stdlib/ok.py": "from octo.compiler.planning.planner import build_plan\n",
    }
    assert compiler_edges(files) == [
        "compiler/base/x.py → octo.compiler.expressions.ast",
        "compiler/expressions/y.py → octo.compiler.planning",
        "compiler/frontend/z.py → octo.compiler",
    ]


def test_every_compiler_module_is_in_an_ordered_subpackage():
    stray = [str(p.relative_to(ROOT)) for p in (ROOT / "compiler").rglob("*.py")
             if p.relative_to(ROOT).parts not in (("compiler", "__init__.py"),)
             and not (len(p.relative_to(ROOT).parts) == 3 and p.parent.name in COMPILER_LAYERS)]
    assert stray == []


def test_no_runtime_subpackage_imports_a_higher_one_or_a_sibling():
    assert runtime_edges(project_files()) == []


def test_the_runtime_check_catches_a_forbidden_edge():
    files = {
        "runtime/base/x.py": "def f():\n    from ..work.unitwork import decode_output\n",
        "runtime/work/y.py": "from octo.runtime.attempts.ledger import Ledger\n",
        "runtime/attempts/z.py": "from .. import engine\n",
        "runtime/reading/w.py": "from ..fixing import withdraw\n",
        "runtime/providers/v.py": "from ..emulator.core import Emulator\n",
        "runtime/fixing/ok.py": ("from ..rundirs.rundir import RUNNING\nfrom ..attempts.ledger import Ledger\n"
                                 "from ..work.scopes import ROOT\nfrom ..base.crashpoints import crashpoint\n"
                                 "from .withdraw import Withdrawal\nfrom octo.stdlib import default_language\n"),
        "runtime/engine.py": "from .reading import status\nfrom .session import open_session\n",
        "cli/ok.py": "from octo.runtime.engine import Engine\n",
    }
    assert runtime_edges(files) == [
        "runtime/base/x.py → octo.runtime.work.unitwork",
        "runtime/work/y.py → octo.runtime.attempts.ledger",
        "runtime/attempts/z.py → octo.runtime",
        "runtime/reading/w.py → octo.runtime.fixing",
        "runtime/providers/v.py → octo.runtime.emulator.core",
    ]


def test_every_runtime_module_is_in_a_ranked_subpackage_or_at_the_top():
    ranked = {sub for siblings in RUNTIME_RANKS for sub in siblings}
    stray = []
    for p in (ROOT / "runtime").rglob("*.py"):
        parts = p.relative_to(ROOT).parts
        if len(parts) == 2 and p.stem not in RUNTIME_TOP | {"__init__"}:
            stray.append("/".join(parts))
        if len(parts) > 2 and parts[1] not in ranked:
            stray.append("/".join(parts))
    assert stray == []


def test_check_imports_no_provider_sdk():
    code = (
        "import sys\nfrom octo.cli.main import main\n"
        "code = main(['check', 'examples/drunken_sailor.octo'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'anthropic', 'google'))\n"
        "print(code, loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def test_generic_names_are_not_top_level_imports():
    code = "import importlib.util as u; print([n for n in ('compiler', 'runtime', 'stdlib', 'grammar', 'cli') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "[]"
