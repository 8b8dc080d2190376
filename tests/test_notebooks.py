"""The researcher notebooks in `notebooks/` run top to bottom with small settings.

Each notebook has one code cell tagged `parameters`; the test inserts a cell tagged
`injected-parameters` right after it (as papermill does) with tiny settings, executes the
notebook with nbclient in a fresh kernel and fails on the first cell that raises. It also
checks the stored notebooks: valid nbformat, no outputs, every injected name a parameter.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# small settings per notebook: a few stores and skus, short horizons, two replications
SMALL: dict[str, dict[str, object]] = {
    "01_policy_comparison.ipynb": {
        "REPLICATIONS": 2,
        "HORIZON_DAYS": 9,
        "BLACK_FRIDAY_DAY": 5,
        "STORES": 3,
        "SKUS": 8,
        "ORDER_SCALE": 0.15,
    },
    "02_custom_policy.ipynb": {
        "REPLICATIONS": 2,
        "HORIZON_DAYS": 9,
        "BLACK_FRIDAY_DAY": 5,
        "STORES": 3,
        "SKUS": 8,
        "ORDER_SCALE": 0.15,
    },
    "03_peak_resilience.ipynb": {
        "REPLICATIONS": 2,
        "HORIZON_DAYS": 10,
        "BLACK_FRIDAY_DAY": 5,
        "STORES": 3,
        "SKUS": 8,
        "ORDER_SCALE": 0.15,
    },
    "05_roadmap.ipynb": {
        "REPLICATIONS": 2,
        "HORIZON_DAYS": 3,
        "STORES": 4,
        "SKUS": 6,
        "ORDER": "seed",
    },
    "04_model_validation.ipynb": {
        "REPLICATIONS": 2,
        "STORE_DAYS": 20,
        "QUEUE_DAYS": 3,
        "S_GRID": [8, 12],
        "S_GRID_DAILY": [14, 18],
        "LEAD_GRID": [1, 2],
        "ORDERS_GRID": [48, 72],
    },
}


def _read(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    return nb


def _tagged(nb: nbformat.NotebookNode, tag: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


def _assigned(source: str) -> set[str]:
    return {
        t.id
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def test_every_notebook_is_covered_and_stored_without_outputs() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(SMALL)
    for name, settings in SMALL.items():
        nb = _read(name)
        params = _tagged(nb, "parameters")
        assert len(params) == 1, f"{name}: one cell tagged 'parameters'"
        assert set(settings) <= _assigned(nb.cells[params[0]].source), name
        assert len(_tagged(nb, "conclusion")) == 1, f"{name}: one cell tagged 'conclusion'"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{name}: store notebooks without outputs"
                )


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom_with_small_settings(name: str) -> None:
    nb = _read(name)
    at = _tagged(nb, "parameters")[0]
    source = "\n".join(f"{k} = {v!r}" for k, v in SMALL[name].items())
    nb.cells.insert(
        at + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    )
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell if any cell raises
    wall = time.perf_counter() - t0
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no plot drawn"
    conclusion = nb.cells[_tagged(nb, "conclusion")[0]]
    text = "".join(o.get("text", "") for o in conclusion.outputs if o.output_type == "stream")
    assert len(text.strip()) > 80, f"{name}: the conclusion cell printed nothing useful"
    print(f"{name}: {wall:.1f} s")
