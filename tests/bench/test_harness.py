"""The benchmark harness: quick runs write every section, the exponent fit is right,
and a failing benchmark is reported without stopping the others. No timing asserts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import growth
from bench.common import check_result, fit_exponent, markdown_table, result
from bench.run import Bench, main, parse_params

SIZES = [45, 90, 180, 360]


def test_a_quick_run_writes_every_section_and_the_growth_plot(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    names = ["engine", "engine_envelope", "scale", "growth", "scaleout"]
    code = main(["--quick", "--repeats", "1", "--only", *names, "--out", str(out)])
    assert code == 0
    text = out.read_text(encoding="utf-8")
    assert "## Summary" in text
    assert "cores: " in text and "git commit: " in text and "simpy: " in text
    for name in names:
        assert f"\n## {name}\n" in text
        assert f"--only {name} --repeats 1" in text  # the exact command of its section
    assert "failed" not in text.lower()
    assert "(bench_growth.png)" in text
    assert (tmp_path / "bench_growth.png").stat().st_size > 0


@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5])
def test_the_fit_recovers_a_known_exponent(exponent: float) -> None:
    times = [0.003 * n**exponent for n in SIZES]
    b, a = fit_exponent(SIZES, times)
    assert b == pytest.approx(exponent, abs=1e-9)
    assert a == pytest.approx(math.log(0.003), abs=1e-9)


def test_the_fit_needs_two_distinct_positive_sizes() -> None:
    with pytest.raises(ValueError):
        fit_exponent([10], [1.0])
    with pytest.raises(ValueError):
        fit_exponent([10, 10], [1.0, 2.0])
    with pytest.raises(ValueError):
        fit_exponent([10, 20], [0.0, 2.0])


def _fine(quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    return result("fine", "A fine one", "x ≥ 1", None, "x = 2", [{"x": 2, "ok": True}])


def _boom(quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    raise ModuleNotFoundError("No module named 'supplynetpy'")


def _sloppy(quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    return {"name": "sloppy", "table": "not a list"}


def test_a_failing_benchmark_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    benches = [Bench("boom", _boom), Bench("fine", _fine), Bench("sloppy", _sloppy)]
    code = main(["--quick", "--out", str(out)], benches=benches)
    assert code == 1
    text = out.read_text(encoding="utf-8")
    assert "## boom" in text and "## fine" in text and "## sloppy" in text
    assert "ModuleNotFoundError: No module named 'supplynetpy'" in text
    assert "broke the result contract" in text and "missing key 'title'" in text
    assert "| 2 | ✔ |" in text  # the fine one's table is there


def test_a_module_that_cannot_be_imported_is_a_failure_too(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    code = main(["--out", str(out)], benches=[Bench("no_such_bench"), Bench("fine", _fine)])
    assert code == 1
    text = out.read_text(encoding="utf-8")
    assert "No module named 'bench.no_such_bench'" in text
    assert "## fine" in text


def test_params_reach_the_module_as_keywords(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def spy(quick: bool = False, repeats: int = 3, **kw: Any) -> dict[str, Any]:
        seen.update(kw, repeats=repeats)
        return _fine()

    out = tmp_path / "bench.md"
    args = ["--repeats", "5", "--param", "spy.sizes=1,2", "--param", "spy.days=7.5"]
    assert main([*args, "--out", str(out)], benches=[Bench("spy", spy)]) == 0
    assert seen == {"sizes": [1, 2], "days": 7.5, "repeats": 5}
    assert "--param spy.sizes=1,2 --param spy.days=7.5" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        parse_params(["nope.x=1"], ["spy"])


def test_growth_stops_a_sweep_at_a_point_over_the_time_limit(tmp_path: Path) -> None:
    r = growth.run(quick=True, repeats=1, max_point_s=0.0, out_dir=tmp_path)
    assert not check_result(r)
    left_out = [row for row in r["table"] if row["wall s (median)"] is None]
    assert [row["sweep"] for row in left_out] == ["stores", "skus"]
    assert r["exponents"] == {"stores": None, "skus": None}
    assert r["met"] is None


def test_tables_render_as_markdown() -> None:
    text = markdown_table([{"a": 1234567, "b": 0.5}, {"a": None, "c": True}])
    assert text.splitlines() == [
        "| a | b | c |",
        "|---|---|---|",
        "| 1,234,567 | 0.5 | — |",
        "| — | — | ✔ |",
    ]


def test_the_ledger_floor_records_the_replayed_movements_again() -> None:
    """Engine (d) re-records a core's movement log in a bare ledger: the same lines
    (batch and single, every kind the run makes), the same balances; lines before
    `start` go in untimed and are not counted."""
    from bench.engine import ledger_floor
    from orchestrator import Catalog, ManualClock, MovementKind, Orchestrator

    cat = Catalog()
    for i in range(4):
        cat.add_sku(f"S{i}", std_cost_cents=100 * (i + 1), price_cents=500)
    cat.add_location("dc", "dc", region="r")
    cat.add_location("a", "store", region="r")
    cat.add_location("b", "store", region="r")
    cat.add_channel("pos", "store")
    clock = ManualClock(0.0)
    core = Orchestrator(cat, clock)
    core.move_lines(MovementKind.OPENING, "dc", [0, 1, 2, 3], [50, 60, 70, 80])
    core.move_lines(MovementKind.OPENING, "a", [0, 2], [5, 9])
    start = len(core.ledger.movements)
    clock.set(1.0)
    core.sell_lines("a", [0, 2], [3, 11])  # sku 2 goes below zero
    core.move_lines(MovementKind.TRANSFER_OUT, "dc", [1, 3], [7, 4], counterparty="b")
    core.move_lines(MovementKind.TRANSFER_IN, "b", [1, 3], [7, 2])
    core.move_lines(MovementKind.RETURN_IN, "a", [0, 2], [2, 1])
    core.move_lines(MovementKind.DISPOSITION, "a", [0], [2], disposition="restock")
    core.write_off(3, "dc", 5)
    core.receive(0, "dc", 9, price_cents=120)
    log = core.ledger.movements
    events, lines, seconds, ledger = ledger_floor(log, start)
    assert (events, lines) == (7, len(log) - start) and seconds > 0
    assert len(ledger.movements) == len(log)
    for name in ("sku", "qty", "kind", "location", "unit_cost_cents", "price_cents"):
        assert np.array_equal(ledger.movements.column(name), log.column(name)), name
    for name in ("counterparty", "disposition", "at", "recorded_at"):
        assert np.array_equal(ledger.movements.column(name), log.column(name)), name
    assert list(ledger.movements) == list(log)
    assert ledger.live_balances() == core.ledger.live_balances()
    assert ledger.dips == core.ledger.dips
