"""Runs of a package scenario: the stock snapshot is the opening, a replay yields exactly the
recorded units, the same seed gives the same result, `run` and `compare` work on it like on
the catalogue, `--export` writes the four Parquet tables, and a scenario that disagrees
with its package is refused by field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scenarios import ScenarioError, load, resolve
from twin.cli import app
from twin.data.commands import fit_package
from twin.data.network import build_package_network
from twin.data.package import WALK_IN, date_of
from twin.data.package import load as load_package
from twin.data.sample import write_sample
from twin.model import RetailTwin
from twin.rand import Streams
from twin.simulate import simulate

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted sample: 4 stores, 24 skus, nine weeks of sales."""
    root = tmp_path_factory.mktemp("shop")
    write_sample(root / "pkg", stores=4, skus=24, days=63, seed=5)
    fit_package(root / "pkg", root / "shop.yaml")
    return root / "shop.yaml"


def test_starting_stock_equals_the_snapshot(shop: Path) -> None:
    sc = load(str(shop), ["horizon_days=2"])
    model = RetailTwin(sc, resolve(sc.policy, "legacy"), 1)
    package = load_package(shop.parent / "pkg", sales=False)
    cat = model.core.catalog
    dense = model.core.ledger.dense(model.network.n_sku, model.network.n_loc)
    expected = np.zeros_like(dense.on_hand)
    st = package.stock
    for loc, k, q in zip(st.location.tolist(), st.sku.tolist(), st.on_hand.tolist(), strict=True):
        expected[cat.sku(package.skus.code[k]), cat.location(package.locations.code[loc])] = q
    assert (dense.on_hand == expected).all()
    # what the snapshot had on order is on order from each sku's supplier
    on_order = {(po.sku, po.location): po.qty for po in model.procurement.pos}
    want = {
        (cat.sku(package.skus.code[k]), cat.location(package.locations.code[loc])): q
        for loc, k, q in zip(st.location.tolist(), st.sku.tolist(), st.on_order.tolist(),
                             strict=True)
        if q
    }  # fmt: skip
    assert on_order == want and want
    suppliers = {po.supplier for po in model.procurement.pos}
    assert suppliers <= set(package.skus.supplier)


def test_a_replayed_history_yields_exactly_the_recorded_units(shop: Path) -> None:
    package = load_package(shop.parent / "pkg")
    sales = package.sales
    assert sales is not None
    start = sales.first_day + (7 - (sales.first_day + 3) % 7) % 7  # the first Monday
    days = 9
    sets = [
        "demand.mode=replay",
        f"network.package.start_date={date_of(start)}",
        f"horizon_days={days}",
    ]
    sc = load(str(shop), sets)
    inside = (sales.day >= start) & (sales.day < start + days)
    recorded = int(sales.units[inside].sum())
    walk_ins = int(sales.units[inside & (sales.channel == WALK_IN)].sum())
    results = [simulate(sc, policy, 3) for policy in ("legacy", "orchestrated")]
    for r in results:
        assert r.kpis["units_demanded"] == recorded
        assert r.extras["store_units_demanded"] == walk_ins
        assert r.extras["online_cancelled_units"] == 0
        orders = len(np.unique(sales.order[inside & (sales.channel != WALK_IN)]))
        assert r.kpis["orders_total"] == orders
    # a replay draws nothing about demand: another seed, the same units
    assert simulate(sc, "legacy", 4).kpis["units_demanded"] == recorded


def test_a_package_run_is_the_same_bit_for_bit_on_the_same_seed(shop: Path) -> None:
    sc = load(str(shop), ["horizon_days=4"])
    a, b = (simulate(sc, "orchestrated", 11) for _ in range(2))
    strip = ("wall_seconds", "core_events_per_second")
    da = {k: v for k, v in a.to_dict().items() if k not in strip}
    db = {k: v for k, v in b.to_dict().items() if k not in strip}
    assert json.dumps(da, default=float) == json.dumps(db, default=float)
    assert a.series == b.series
    c = simulate(sc, "orchestrated", 12)
    assert c.kpis["units_demanded"] != a.kpis["units_demanded"]


def test_fitted_demand_follows_the_fit_and_the_class_shapes(shop: Path) -> None:
    sc = load(str(shop), ["horizon_days=7"])
    net = build_package_network(sc, Streams(0).network)
    pkg = net.package
    assert pkg is not None and net.lam_draw is not None
    expected = sum(
        float(net.lam_draw[pkg.sku_class == c].sum() * pkg.store_factor[c, :7].sum())
        for c in range(len(pkg.classes))
    )
    draws = [simulate(sc, "orchestrated", s).extras["store_units_demanded"] for s in (1, 2, 3)]
    assert abs(np.mean(draws) - expected) < 4 * math.sqrt(expected / 3)
    # stores keep their own hours and pickers; lanes come from coordinates
    assert net.store_hours is not None and net.store_pickers is not None
    assert net.store_lane_h is not None and (net.store_lane_h > 16).all()


def test_run_and_compare_work_on_a_fitted_scenario_and_export_parquet(
    shop: Path, tmp_path: Path
) -> None:
    res = runner.invoke(
        app,
        ["run", str(shop), "--set", "horizon_days=3", "-r", "1", "--quiet",
         "--out", str(tmp_path / "run"), "--export", str(tmp_path / "x")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "report.md").is_file()
    folder = tmp_path / "x" / "orchestrated" / "rep0"
    tables = {n: pd.read_parquet(folder / f"{n}.parquet") for n in
              ("movements", "journal", "exceptions", "orders")}  # fmt: skip
    moves, journal, orders = tables["movements"], tables["journal"], tables["orders"]
    assert {"seq", "event_id", "kind", "at_h", "location", "sku", "qty"} <= set(moves.columns)
    assert moves["kind"].iloc[0] == "opening"
    assert journal["debit_cents"].sum() == journal["credit_cents"].sum()  # balanced
    assert set(journal["account"]) >= {1400, 3900}
    assert len(orders) and set(orders["channel"]) <= {"web", "mkt-a"}
    assert orders["sku"].str.startswith("K").all()
    assert {"kind", "opened_at_h", "resolved_at_h"} <= set(tables["exceptions"].columns)
    cmp = runner.invoke(
        app,
        ["compare", str(shop), "--set", "horizon_days=3", "-r", "1", "--json",
         "--export", str(tmp_path / "y")],
    )  # fmt: skip
    assert cmp.exit_code == 0, cmp.output
    body = json.loads(cmp.stdout)
    assert set(body["policies"]) == {"legacy", "orchestrated"}
    legacy = body["policies"]["legacy"]["kpis"]["units_demanded"]
    assert legacy == body["policies"]["orchestrated"]["kpis"]["units_demanded"]
    for policy in ("legacy", "orchestrated"):
        assert (tmp_path / "y" / policy / "rep0" / "orders.parquet").is_file()


def test_a_scenario_that_disagrees_with_its_package_is_refused_by_field(
    shop: Path, tmp_path: Path
) -> None:
    cases = [
        (["network.stores.count=9"], "network.stores.count: 9, but the package has 4 stores"),
        (["skus.count=5"], "skus.count: 5, but the package has 24 skus"),
        (["network.package.fit=nowhere"], "network.package.fit: no fit folder 'nowhere'"),
        (["network.package.path=nowhere"], "network.package.path: no package folder 'nowhere'"),
        (["network.dcs[0].code=DC-X"], "network.dcs: ['DC-SOUTH', 'DC-X'], but the package's"),
        (
            ["demand.mode=replay", "network.package.start_date=2030-01-07"],
            "network.package.start_date: a replay of 28 days from 2030-01-07",
        ),
        (
            ["network.package.start_date=2025-03-08"],
            "network.package.start_date: 2025-03-08 is a Saturday; runs start on a Monday",
        ),
        (["demand.mode=customer"], "demand.mode: 'customer' is not available with a data"),
    ]
    for sets, message in cases:
        args = ["run", str(shop), "--quiet", "--json"]
        for s in sets:
            args += ["--set", s]
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (sets, res.output)
        assert message in " ".join(res.output.split()), (sets, res.output)
        assert "Traceback" not in res.output
    with pytest.raises(ScenarioError, match="replays a data package"):
        load({"name": "x", "demand": {"mode": "replay"}})


def test_scenarios_validate_checks_a_package_scenario_against_its_package(shop: Path) -> None:
    ok = runner.invoke(app, ["scenarios", "validate", str(shop)])
    assert ok.exit_code == 0 and "valid:" in ok.output
    bad = shop.with_name("bad.yaml")
    bad.write_text(shop.read_text().replace("count: 24", "count: 25"))
    res = runner.invoke(app, ["scenarios", "validate", str(bad)])
    assert res.exit_code == 2
    assert "skus.count: 25, but the package has 24 skus" in " ".join(res.output.split())
