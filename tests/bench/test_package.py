"""bench/package.py keeps the harness's result contract on a tiny package (no timing)."""

from __future__ import annotations

from bench import package
from bench.common import check_result


def test_the_package_benchmark_runs_every_phase_on_a_tiny_package() -> None:
    r = package.run(quick=True, keep=False)
    assert check_result(r) == []
    assert [row["phase"] for row in r["table"]] == ["write", "load", "fit", "compare"]
    assert r["figures"]["compare"]["invariants_ok"] is True
    assert r["figures"]["load"]["sales_rows"] > 0
