"""Benchmark 1 of issue 8 ("Peer, same model"): the omnitwin side is the model the
benchmark describes, the unit-level (s, S) and opening stock fields are honoured, and
the run() contract holds. The SupplyNetPy comparison is skipped when it is not
installed (`pip install -e '.[bench]'`)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest

from bench import peer
from scenarios import ScenarioError, load, resolve
from twin.model import RetailTwin
from twin.simulate import RunResult, simulate

SHORT_DAYS, SHORT_STORES, SHORT_SEED = 90, 4, 7


def _model(overrides: list[str], seed: int = 1) -> RetailTwin:
    sc = load(peer.SCENARIO, overrides)
    return RetailTwin(sc, resolve(sc.policy, "orchestrated"), seed)


# ----------------------------------------------------------------------- the model
def test_the_peer_scenario_is_the_network_the_benchmark_describes() -> None:
    sc = peer.omnitwin_scenario()
    net, rp = sc.network, sc.policy.replenishment
    assert sc.horizon_days == peer.DAYS and sc.skus.count == 1 and sc.channels == []
    assert net.stores.count == peer.STORES and net.stores.initial_units == peer.STORE_INITIAL
    assert (net.stores.opening_hour, net.stores.closing_hour, net.stores.size_cv) == (0, 24, 0)
    [dc] = net.dcs
    assert dc.initial_units == peer.DC_INITIAL and not dc.ships_online
    assert net.dark_stores == [] and net.three_pl == []
    [sup] = net.suppliers
    assert (sup.lead_time_days.dist, sup.lead_time_days.mean) == ("fixed", peer.DC_LEAD_DAYS)
    assert sup.on_time_in_full == 1.0
    # reviewed at 22:00, shipped at 06:00, 40 h on the road: arrives 2 days after the order
    lane = net.lanes.dc_to_store_h
    assert lane.dist == "fixed" and 8 + lane.mean == 24 * peer.STORE_LEAD_DAYS
    d = sc.demand
    assert d.store_units_per_sku_day == peer.DEMAND_PER_DAY and d.unmet == "lost"
    assert d.day_of_week == [1] * 7 and d.seasonality_amplitude == 0 and d.events == []
    assert d.store_return_rate == 0
    assert (rp.store_policy, rp.store_review, rp.store_source) == ("s-S", "daily", "dc")
    assert (rp.store_s_units, rp.store_S_units) == (peer.STORE_s, peer.STORE_S)
    assert (rp.dc_s_units, rp.dc_S_units) == (peer.DC_s, peer.DC_S)
    ph = sc.physical
    assert ph.shrink_share_of_sales == ph.receiving_error_rate == 0
    assert ph.initial_record_error_share == ph.count_error_rate == 0
    assert sc.faults.duplicate_rate == sc.faults.reorder_rate == 0
    assert sc.policy.operating_model == "orchestrated" and sc.policy.counts_per_store_day == 0
    model = RetailTwin(sc, resolve(sc.policy, "orchestrated"), 1)
    assert np.all(model.network.lam_store == peer.DEMAND_PER_DAY)
    # every store alone in its region: no emergency transfers or balancing between stores
    assert len(set(model.network.store_region)) == peer.STORES
    assert set(model.network.region_dc.values()) == {model.network.n_store}  # one DC serves all
    assert np.all(model.physical.shelf[0, : peer.STORES] == peer.STORE_INITIAL)
    assert model.physical.shelf[0, peer.STORES] == peer.DC_INITIAL


def _spy_store_reviews(model: RetailTwin) -> list[tuple[float, int, int]]:
    """(time, inventory position, units ordered) at every store review of a one-store
    model. The position comes from physical flows only: opening + ordered − sold."""
    log: list[tuple[float, int, int]] = []
    ordered = {"total": 0, "now": 0}
    source = model.store_review.source  # the periodic review's orders to the DC
    review, dispatch = source.review, model.sites.dispatch

    def spy_dispatch(orders: dict[int, list[tuple[int, int]]], at: float) -> Any:
        ordered["now"] = sum(q for lines in orders.values() for _, q in lines)
        return dispatch(orders, at)

    def spy_review(model: RetailTwin) -> None:
        initial = model.scenario.network.stores.initial_units
        ip = initial + ordered["total"] - int(model.physical.sold[0])
        ordered["now"] = 0
        review(model)
        log.append((model.env.now, ip, ordered["now"]))
        ordered["total"] += ordered["now"]

    model.sites.dispatch = spy_dispatch  # type: ignore[method-assign]
    source.review = spy_review  # type: ignore[method-assign]
    return log


def test_a_store_orders_only_at_or_below_s_and_then_up_to_S() -> None:
    model = _model(["horizon_days=40", "network.stores.count=1", "network.stores.initial_units=90"])
    log = _spy_store_reviews(model)
    model.run()
    assert len(log) == 40 and all(t % 24 == 22 for t, _, _ in log)  # daily at 22:00
    for t, ip, q in log:
        if ip > peer.STORE_s:
            assert q == 0, f"ordered {q} at {t} h with position {ip} > s"
        else:
            assert q == peer.STORE_S - ip, f"ordered {q} at {t} h with position {ip}"
    assert sum(q > 0 for _, _, q in log) >= 5 and sum(q == 0 for _, _, q in log) >= 5


def test_store_orders_arrive_two_days_after_the_review() -> None:
    model = _model(["horizon_days=30", "network.stores.count=1", "network.stores.initial_units=60"])
    log = _spy_store_reviews(model)
    model.run()  # deliveries still on the road at the horizon arrive in the run's drain
    orders = sum(q > 0 for _, _, q in log)
    assert orders >= 5 and model.metrics.counts.store_delivery_h == [48.0] * orders


def test_the_dc_orders_only_at_or_below_its_s_and_then_up_to_its_S() -> None:
    s, S = 150, 300
    model = _model(
        [
            "horizon_days=40",
            "network.stores.count=1",
            "network.stores.initial_units=60",
            "network.dcs[0].initial_units=200",
            f"policy.replenishment.dc_s_units={s}",
            f"policy.replenishment.dc_S_units={S}",
        ]
    )
    dc = model.network.n_store
    log: list[tuple[float, int, int]] = []
    review = model.procurement.review
    raised: dict[int, int] = {}

    def spy(sku: int, loc: int, policy: Any, backorders: int | None = None, **kw: Any) -> Any:
        # position from physical flows: on the DC's floor + raised and not yet received
        on_floor = int(model.physical.shelf[sku, loc])
        ip = on_floor + sum(raised.values()) - int(model.physical.received[sku])
        po = review(sku, loc, policy, backorders, **kw)
        if po is not None:
            raised[po.id] = po.qty
        log.append((model.env.now, ip, 0 if po is None else po.qty))
        return po

    model.procurement.review = spy  # type: ignore[method-assign]
    model.run()
    assert log and all(loc_t % 24 == 23 for loc_t, _, _ in log)  # nightly at 23:00
    for t, ip, q in log:
        assert q == (S - ip if ip <= s else 0), f"DC ordered {q} at {t} h with position {ip}"
    assert sum(q > 0 for _, _, q in log) >= 2
    assert all(po.location == dc for po in model.procurement.pos)
    lead = model.procurement.lead_times_d()
    assert lead and all(math.isclose(x, peer.DC_LEAD_DAYS) for x in lead)


@cache
def _short_run() -> RunResult:
    """The peer model with fewer stores over a shorter horizon (a few seconds)."""
    return simulate(peer.omnitwin_scenario(SHORT_DAYS, SHORT_STORES), "orchestrated", SHORT_SEED)


def test_the_fill_rate_is_units_served_over_units_demanded_and_near_theory() -> None:
    r = _short_run()
    ex = r.extras
    assert r.kpis["units_demanded"] == ex["store_units_demanded"]
    served = ex["store_units_demanded"] - ex["store_lost_units"]
    assert r.kpis["fill_rate"] == pytest.approx(served / ex["store_units_demanded"])
    # about 7 200 units demanded: the run's fill has a spread of about 0.6 pt
    assert r.kpis["fill_rate"] == pytest.approx(peer.theory_fill_rate(SHORT_DAYS), abs=0.02)
    assert r.kpis["transfer_approval_time_p50_h"] is None  # no store-to-store transfers


def test_the_theory_agrees_with_a_monte_carlo_of_the_same_chain() -> None:
    rng = np.random.default_rng(3)
    n, days, s, S, lam = 20_000, 45, peer.STORE_s, peer.STORE_S, peer.DEMAND_PER_DAY
    x = np.full(n, peer.STORE_INITIAL)
    q1 = np.zeros(n, dtype=np.int64)
    d = rng.poisson(lam * 22 / 24, n)
    lost = int(np.maximum(d - x, 0).sum())
    x = np.maximum(x - d, 0)
    t = 22 / 24
    while t + 1 <= days:
        ip = x + q1
        q0 = np.where(ip <= s, S - ip, 0)
        d = rng.poisson(lam, n)
        lost += int(np.maximum(d - x, 0).sum())
        x, q1, t = np.maximum(x - d, 0) + q1, q0, t + 1
    d = rng.poisson(lam * (days - t), n)
    lost += int(np.maximum(d - x, 0).sum())
    mc = 1 - lost / (n * lam * days)
    assert peer.theory_fill_rate(days) == pytest.approx(mc, abs=0.002)


def test_supplynetpy_agrees_with_theory_and_with_omnitwin() -> None:
    pytest.importorskip("SupplyNetPy.Components")
    _, snp = peer.run_supplynetpy(SHORT_SEED, SHORT_DAYS, SHORT_STORES)
    omni = _short_run().kpis["fill_rate"]
    theory = peer.theory_fill_rate(SHORT_DAYS)
    assert snp == pytest.approx(theory, abs=0.02)
    assert snp == pytest.approx(omni, abs=0.025)


# ----------------------------------------------------------------------- run() contract
def test_run_returns_the_benchmark_contract_with_a_median_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int, float]] = []

    def fake(tool: str, wall: float, fill: float) -> Callable[..., tuple[float, ...]]:
        def run_tool(seed: int, days: float) -> tuple[float, ...]:
            calls.append((tool, seed, days))
            got = wall + seed % 10 / 100, fill
            return (*got, 2000 + seed % 10) if tool == "omnitwin" else got

        return run_tool

    monkeypatch.setattr(peer, "_scm", lambda: None)
    monkeypatch.setattr(peer.gc, "collect", lambda: 0)  # a full collection per run is slow here
    monkeypatch.setattr(peer, "run_supplynetpy", fake("supplynetpy", 4.0, 0.915))
    monkeypatch.setattr(peer, "run_omnitwin", fake("omnitwin", 0.1, 0.913))
    monkeypatch.setattr(peer, "theory_fill_rate", lambda days: 0.914)
    out = peer.run(repeats=3)
    assert set(out) == {"name", "title", "target", "met", "summary", "table"}
    assert (out["name"], out["title"]) == ("peer", "1. Peer, same model (SupplyNetPy)")
    assert out["target"] == "omnitwin >= 20x faster, fill rates within 0.5 pt"
    assert [r["rep"] for r in out["table"]] == [1, 2, 3, "median"]
    # the two tools alternate which goes first; seeds differ per repetition
    snp, omni = "supplynetpy", "omnitwin"
    assert [c[0] for c in calls] == [snp, omni, omni, snp, snp, omni]
    assert len({c[1] for c in calls}) == 3 and {c[2] for c in calls} == {peer.DAYS}
    med = out["table"][-1]
    assert med["speedup"] == pytest.approx(4.01 / 0.11, rel=1e-3)
    assert med["fill_diff_pt"] == pytest.approx(-0.2)
    # 4.01 s / 20 over 2,001 events; 0.11 s over 2,001 events
    assert med["omnitwin_events"] == 2001
    assert med["us_per_event_at_target"] == pytest.approx(1e6 * 4.01 / 20 / 2001, abs=0.01)
    assert med["omnitwin_us_per_event"] == pytest.approx(1e6 * 0.11 / 2001, abs=0.01)
    assert "leaves 100.2 µs of omnitwin's run per core event (2,001 events)" in out["summary"]
    assert out["met"] is True and out["summary"].endswith("; met")
    quick = peer.run(quick=True)
    assert [r["rep"] for r in quick["table"]] == [1, "median"] and calls[-1][2] == 30


def test_run_without_supplynetpy_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "SupplyNetPy.Components", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[bench\]'"):
        peer.run(quick=True)


# ----------------------------------------------------------------------- schema fields
BASE = {"name": "units", "skus": {"count": 2}, "network": {"stores": {"count": 2}}}


def _problems(**replenishment: Any) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load({**BASE, "policy": {"replenishment": replenishment}})
    return info.value.problems


def test_a_unit_reorder_point_must_be_below_the_order_up_to_level() -> None:
    assert _problems(store_s_units=100, store_S_units=100) == [
        "policy.replenishment.store_s_units: must be < store_S_units, got 100 >= 100"
    ]
    assert _problems(dc_s_units=9000, dc_S_units=8000) == [
        "policy.replenishment.dc_s_units: must be < dc_S_units, got 9000 >= 8000"
    ]


def test_a_unit_reorder_point_needs_its_order_up_to_level() -> None:
    assert _problems(store_s_units=45) == [
        "policy.replenishment.store_s_units: needs store_S_units (the order-up-to level)"
    ]
    assert _problems(dc_s_units=3000) == [
        "policy.replenishment.dc_s_units: needs dc_S_units (the order-up-to level)"
    ]


def test_unit_levels_and_opening_units_are_whole_numbers_in_range() -> None:
    assert _problems(dc_S_units=0) == ["policy.replenishment.dc_S_units: must be > 0, got 0"]
    assert _problems(store_s_units=-1, store_S_units=5) == [
        "policy.replenishment.store_s_units: must be >= 0, got -1"
    ]
    with pytest.raises(ScenarioError) as info:
        load(
            {
                **BASE,
                "network": {
                    "stores": {"count": 2, "initial_units": -5},
                    "dcs": [{"code": "D", "region": "north", "initial_units": -1}],
                },
            }
        )
    assert info.value.problems == [
        "network.stores.initial_units: must be >= 0, got -5",
        "network.dcs[0].initial_units: must be >= 0, got -1",
    ]


def test_without_unit_fields_levels_and_opening_stock_stay_in_days_of_cover() -> None:
    sc = load(BASE)
    rp = sc.policy.replenishment
    assert rp.store_s_units is rp.dc_s_units is rp.dc_S_units is None
    assert sc.network.stores.initial_units is None
    assert all(dc.initial_units is None for dc in sc.network.dcs)
    model = RetailTwin(sc, resolve(sc.policy, "orchestrated"), 1)
    for i in range(model.network.n_store):
        rate = model.network.lam_store[:, i]
        s = np.ceil(rp.store_s_days * rate).astype(np.int64)
        assert np.array_equal(model.stores.reorder_point[:, i], s)
        assert np.array_equal(
            model.stores.order_up_to[:, i], np.maximum(np.ceil(rp.store_S_days * rate), s + 1)
        )
    for j, site in enumerate(model.network.sites):
        loc = model.network.n_store + j
        rates = np.array([model.network.daily_rate(k, loc) for k in range(model.network.n_sku)])
        assert np.array_equal(
            model.sites.at(loc).reorder_point, np.ceil(rp.dc_s_days * rates).astype(np.int64)
        )
        opening = np.ceil(site.initial_cover_days * rates).astype(np.int64)
        assert np.array_equal(model.core.ledger.position(0, loc).on_hand, opening[0])


def test_unit_levels_replace_days_of_cover_at_stores_and_dcs() -> None:
    sc = load(
        {
            **BASE,
            "network": {
                "stores": {"count": 2, "initial_units": 7},
                "dcs": [{"code": "D", "region": "north", "initial_units": 11}],
                "regions": ["north"],
            },
            "policy": {
                "replenishment": {
                    "store_s_units": 3,
                    "store_S_units": 9,
                    "dc_s_units": 20,
                    "dc_S_units": 50,
                }
            },
        }
    )
    model = RetailTwin(sc, resolve(sc.policy, "orchestrated"), 1)
    assert (model.stores.reorder_point == 3).all() and (model.stores.order_up_to == 9).all()
    dc = model.network.n_store
    assert (model.sites.at(dc).reorder_point == 20).all() and (
        model.sites.at(dc).order_up_to == 50
    ).all()
    assert (model.physical.shelf[:, :dc] == 7).all() and (model.physical.shelf[:, dc] == 11).all()
    # an order-up-to level alone stays a base stock (s = S − 1), at stores and at DCs
    base = load({**BASE, "policy": {"replenishment": {"store_S_units": 9, "dc_S_units": 50}}})
    model = RetailTwin(base, resolve(base.policy, "orchestrated"), 1)
    assert (model.stores.reorder_point == 8).all() and (model.stores.order_up_to == 9).all()
    assert all((site.reorder_point == 49).all() for site in model.sites)
