"""Imports point one way: grammar ← compiler ← stdlib ← runtime ← cli."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = ["grammar", "compiler", "stdlib", "runtime", "cli"]
PROVIDER_SDKS = ("openai", "anthropic", "google")


def imported_modules(source: str, package: str) -> list[str]:
    """Absolute names of the octo modules a file imports (relative imports resolved)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append(f"octo.{package}" + (f".{node.module}" if node.module else ""))
            elif node.module:
                out.append(node.module)
    return out


def forbidden_edges(files: dict[str, str]) -> list[str]:
    """`layer/file.py → octo.higher` for every import of a higher layer or a provider SDK."""
    bad = []
    for rel, text in files.items():
        layer = rel.split("/")[0]
        rank = LAYERS.index(layer)
        for name in imported_modules(text, layer):
            parts = name.split(".")
            if parts[0] == "octo" and len(parts) > 1 and parts[1] in LAYERS and LAYERS.index(parts[1]) > rank:
                bad.append(f"{rel} → {name}")
            if parts[0] in PROVIDER_SDKS and layer in ("grammar", "compiler", "stdlib"):
                bad.append(f"{rel} → {name}")
    return bad


def project_files() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}


def test_no_import_points_up_the_layers():
    assert forbidden_edges(project_files()) == []


def test_the_layer_check_catches_a_forbidden_edge():
    files = {
        "compiler/x.py": "from octo.stdlib import default_language\n",
        "grammar/y.py": "import octo.compiler.ast\n",
        "stdlib/z.py": "from octo.compiler import ast\nimport openai\n",
        "compiler/ok.py": "from .ast import Name\nfrom octo.grammar import expression_parser\n",
    }
    assert forbidden_edges(files) == [
        "compiler/x.py → octo.stdlib",
        "grammar/y.py → octo.compiler.ast",
        "stdlib/z.py → openai",
    ]


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
