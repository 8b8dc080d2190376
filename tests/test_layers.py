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


def runtime_imports(path: Path) -> set[str]:
    """First-party modules a module imports when it runs (`if TYPE_CHECKING:` blocks left
    out), relative imports resolved: e.g. {"twin.agents.store", "twin.rand"}."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
    known = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in modules("twin")}
    return {m.removesuffix(".__init__") for m in found if m in known or f"{m}.__init__" in known}


def twin_graph() -> dict[str, set[str]]:
    graph = {}
    for path in modules("twin"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = runtime_imports(path) - {name}
    return graph


def test_agent_modules_never_import_one_another_or_the_model_when_they_run() -> None:
    problems = [
        f"{name} imports {other}"
        for name, deps in twin_graph().items()
        if name.startswith("twin.agents.")
        for other in deps
        if other.startswith("twin.agents.") or other == "twin.model"
    ]
    assert problems == []


def test_the_twins_modules_import_one_another_without_a_circle() -> None:
    graph = twin_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def circle(name: str, path: list[str]) -> list[str]:
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return [*path, name, dep]
            if dep not in state and (found := circle(dep, [*path, name])):
                return found
        state[name] = 2
        return []

    circles = [c for name in sorted(graph) if name not in state and (c := circle(name, []))]
    assert circles == []


def test_the_graph_walker_resolves_relative_imports_and_skips_type_checking() -> None:
    graph = twin_graph()
    assert "twin.faults" in graph["twin.agents.store"] and "twin.rand" in graph["twin.demand"]
    assert "twin.model" not in graph["twin.agents.store"]  # only under TYPE_CHECKING there
    assert "twin.agents.returns" in graph["twin.operating"]
