"""The twin's rooms stay rooms: small modules, a short `RetailTwin`, a docstring on every
class and process, and operating-model knobs compared only where strategies are picked."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from scenarios.schema import Demand, Policy, Replenishment

TWIN = Path(__file__).resolve().parents[2] / "twin"
#: the rooms of issue 16; the rest of twin/ (CLI, experiments, reports) is not the model
ROOMS = sorted(
    [TWIN / "agents" / p.name for p in (TWIN / "agents").glob("*.py")]
    + [
        TWIN / f"{name}.py"
        for name in (
            "model",
            "physical",
            "metrics",
            "demand",
            "faults",
            "network",
            "operating",
            "group",
        )
    ]
)
#: where knob values may be compared: picking strategies and building the core
PICKERS = {("operating.py", "operating_model"), ("operating.py", "reservation")}
PICKERS |= {("model.py", "_build_core"), ("model.py", "_build_agents")}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def functions(path: Path) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(tree(path)) if isinstance(n, ast.FunctionDef)]


def is_process(fn: ast.FunctionDef) -> bool:
    """A generator function: in the twin, a SimPy process body."""
    own = [n for n in ast.walk(fn) if isinstance(n, ast.Yield | ast.YieldFrom)]
    nested = [
        n
        for inner in ast.walk(fn)
        if isinstance(inner, ast.FunctionDef | ast.Lambda) and inner is not fn
        for n in ast.walk(inner)
        if isinstance(n, ast.Yield | ast.YieldFrom)
    ]
    return len(own) > len(nested)


def knob_values() -> set[str]:
    """Every string value an operating-model knob can take (policy, replenishment, demand)."""
    values: set[str] = set()
    for model in (Policy, Replenishment, Demand):
        for f in model.model_fields.values():
            for arg in (f.annotation, *typing.get_args(f.annotation)):
                if typing.get_origin(arg) is typing.Literal:
                    values.update(typing.get_args(arg))
    return values


def test_every_room_is_a_few_hundred_lines_and_retail_twin_is_short() -> None:
    sizes = {p.relative_to(TWIN).as_posix(): len(p.read_text().splitlines()) for p in ROOMS}
    assert {name: n for name, n in sizes.items() if n > 500} == {}
    [twin] = [
        n
        for n in tree(TWIN / "model.py").body
        if isinstance(n, ast.ClassDef) and n.name == "RetailTwin"
    ]
    assert twin.end_lineno is not None and twin.end_lineno - twin.lineno < 300


@pytest.mark.parametrize("path", ROOMS, ids=lambda p: p.relative_to(TWIN).as_posix())
def test_every_class_and_process_says_what_it_models(path: Path) -> None:
    missing = [
        f"class {n.name}"
        for n in ast.walk(tree(path))
        if isinstance(n, ast.ClassDef) and not ast.get_docstring(n)
    ]
    missing += [
        f"process {fn.name}"
        for fn in functions(path)
        if is_process(fn) and not ast.get_docstring(fn)
    ]
    assert missing == []


@pytest.mark.parametrize("path", ROOMS, ids=lambda p: p.relative_to(TWIN).as_posix())
def test_no_process_or_method_compares_an_operating_model_knob(path: Path) -> None:
    knobs = knob_values()
    found = []
    for fn in functions(path):
        if (path.name, fn.name) in PICKERS:
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                strings = {s.value for s in sides if isinstance(s, ast.Constant)}
                for s in sides:
                    if isinstance(s, ast.Tuple | ast.Set | ast.List):
                        strings |= {e.value for e in s.elts if isinstance(e, ast.Constant)}
                found += [f"{fn.name}: {v!r}" for v in strings & knobs]
    assert found == []


def test_the_knob_check_knows_the_knobs_and_catches_a_comparison(tmp_path: Path) -> None:
    assert {"batch", "rules", "api", "own_feed", "continuous", "backorder"} <= knob_values()
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def sync(self):\n    if self.policy.returns_mode == 'rules':\n        yield 1\n"
    )
    [fn] = functions(bad)
    assert is_process(fn) and not ast.get_docstring(fn)
    compares = [n for n in ast.walk(fn) if isinstance(n, ast.Compare)]
    assert compares and compares[0].comparators[0].value in knob_values()  # type: ignore[attr-defined]
