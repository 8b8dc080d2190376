"""The layer rules of ARCHITECTURE.md, enforced by walking every module's imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"orchestrator", "scenarios", "twin", "api"}

# package -> (first-party packages it may import, third-party packages it may import)
ALLOWED: dict[str, tuple[set[str], set[str] | None]] = {
    "orchestrator": (set(), {"numpy", "networkx"}),
    "scenarios": ({"orchestrator"}, {"pydantic", "yaml", "numpy"}),
    "twin": ({"orchestrator", "scenarios"}, None),  # any third party except the web stack
    "api": ({"orchestrator", "scenarios", "twin"}, None),
}
NEVER_IN_CORE = {"simpy", "mesa", "fastapi", "sqlalchemy", "uvicorn", "starlette"}
NEVER_IN_TWIN = {"fastapi", "starlette", "sqlalchemy", "uvicorn"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_its_layer_allows(package: str) -> None:
    first_ok, third_ok = ALLOWED[package]
    problems = []
    for path in modules(package):
        for root in imported_roots(path):
            if root == package or root in sys.stdlib_module_names or root == "__future__":
                continue
            rel = path.relative_to(ROOT)
            if root in FIRST_PARTY:
                if root not in first_ok:
                    problems.append(f"{rel} imports {root} (layer direction broken)")
            elif (
                (third_ok is not None and root not in third_ok)
                or (package == "orchestrator" and root in NEVER_IN_CORE)
                or (package == "twin" and root in NEVER_IN_TWIN)
            ):
                problems.append(f"{rel} imports third-party {root}, not allowed in {package}")
    assert problems == []


def test_the_layer_walker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import simpy\nfrom twin.cli import app\nfrom . import sibling\n")
    assert imported_roots(bad) == {"simpy", "twin"}


def test_the_core_imports_without_any_simulation_or_web_dependency() -> None:
    code = (
        "import sys, orchestrator, orchestrator.core;"
        f"bad = sorted(m for m in {sorted(NEVER_IN_CORE | {'pydantic', 'matplotlib'})!r}"
        " if m in sys.modules);"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
