"""Imports point one way: grammar ← compiler ← stdlib ← runtime ← cli, and inside the compiler
base ← expressions ← frontend ← planning (compiler/README.md)."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = ["grammar", "compiler", "stdlib", "runtime", "cli"]
COMPILER_LAYERS = ["base", "expressions", "frontend", "planning"]
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
