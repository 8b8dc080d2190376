"""The money block: every figure recomputes from what a run measured and the economics
section, and moves the way a planner expects when a price changes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from scenarios import load
from scenarios.schema import Economics
from twin.faults import OPERATOR
from twin.money import (
    BLOCK_KEYS,
    COSTS,
    ROLES,
    MoneyInputs,
    inputs_of,
    mean_money,
    money_of,
    net_benefit_per_year,
    operating_cost_per_year,
    payback_months,
    total_cost_per_year,
)
from twin.simulate import simulate

from .conftest import run_model, scenario

POLICIES = ("legacy", "orchestrated")

money = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
amount = st.floats(min_value=0, max_value=1e5, allow_nan=False, allow_infinity=False)


@st.composite
def inputs(draw: st.DrawFn, platform: bool | None = None) -> MoneyInputs:
    return MoneyInputs(
        window_days=draw(st.floats(min_value=0.5, max_value=400)),
        on_platform=draw(st.booleans()) if platform is None else platform,
        lost_margin=draw(money),
        oversold_orders=draw(st.integers(0, 10_000)),
        labour_hours={r: draw(amount) for r in ROLES},
        mean_inventory_value=draw(money),
        expedited_pos=draw(st.integers(0, 500)),
        resourced_pos=draw(st.integers(0, 500)),
        events=draw(st.integers(0, 10**7)),
    )


@st.composite
def economics(draw: st.DrawFn) -> Economics:
    rates = {r: draw(st.floats(0, 200)) for r in ROLES}
    return Economics(
        oversell_cost=draw(st.floats(0, 500)),
        labour_rates=rates,
        carrying_cost_rate=draw(st.floats(0, 1)),
        expedite_cost_per_po=draw(st.floats(0, 1000)),
        resource_cost_per_po=draw(st.floats(0, 1000)),
        platform_cost_per_month=draw(amount),
        platform_cost_per_event=draw(st.floats(0, 0.01)),
        programme_cost=draw(money),
    )


@given(inputs(), economics())
def test_every_money_figure_recomputes_from_the_inputs_and_the_prices(
    i: MoneyInputs, e: Economics
) -> None:
    m = money_of(i, e)
    assert tuple(m) == BLOCK_KEYS
    year = 365.0 / i.window_days
    labour = {r: i.labour_hours[r] * getattr(e.labour_rates, r) for r in ROLES}
    assert m["labour_hours_by_role"] == pytest.approx(i.labour_hours)
    per_year = {r: h * year for r, h in i.labour_hours.items()}
    assert m["labour_hours_by_role_per_year"] == pytest.approx(per_year)
    expected = {
        "lost_margin": i.lost_margin,
        "oversell_cost": i.oversold_orders * e.oversell_cost,
        "labour_cost": sum(labour.values()),
        "carrying_cost": i.mean_inventory_value * e.carrying_cost_rate * i.window_days / 365,
        "expedite_cost": i.expedited_pos * e.expedite_cost_per_po
        + i.resourced_pos * e.resource_cost_per_po,
        "running_cost": (
            e.platform_cost_per_month * i.window_days * 12 / 365
            + e.platform_cost_per_event * i.events
        )
        if i.on_platform
        else 0.0,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
        assert m[f"{key}_per_year"] == pytest.approx(value * year, rel=1e-9, abs=1e-6), key
    total = sum(expected.values()) * year
    assert total_cost_per_year(m) == pytest.approx(total, rel=1e-9, abs=1e-6)
    operating = total - expected["running_cost"] * year
    assert operating_cost_per_year(m) == pytest.approx(operating, rel=1e-9, abs=1e-6)


@given(inputs(platform=False), inputs(platform=True), economics(), st.floats(0, 500))
def test_a_higher_oversell_cost_never_lowers_the_value_of_fewer_oversells(
    base: MoneyInputs, other: MoneyInputs, e: Economics, extra: float
) -> None:
    other = MoneyInputs(**{**other.as_dict(), "window_days": base.window_days})
    dearer = e.model_copy(update={"oversell_cost": e.oversell_cost + extra})
    gain = net_benefit_per_year(money_of(base, e), money_of(other, e))
    gain_dearer = net_benefit_per_year(money_of(base, dearer), money_of(other, dearer))
    fewer = other.oversold_orders <= base.oversold_orders
    if fewer:
        assert gain_dearer >= gain - 1e-6 * (1 + abs(gain))
    else:
        assert gain_dearer <= gain + 1e-6 * (1 + abs(gain))


def test_payback_is_the_programme_cost_over_the_monthly_benefit_and_none_without_one() -> None:
    assert payback_months(120_000.0, 500_000.0) == pytest.approx(50.0)
    assert payback_months(0.0, 500_000.0) is None
    assert payback_months(-10.0, 500_000.0) is None
    assert payback_months(math.inf, 1.0) is None


def test_the_mean_block_averages_every_figure_and_role() -> None:
    e = Economics()
    a = money_of(MoneyInputs(7, False, lost_margin=100, labour_hours={"counts": 2}), e)
    b = money_of(MoneyInputs(7, False, lost_margin=300, labour_hours={"counts": 4}), e)
    m = mean_money([a, b])
    assert tuple(m) == BLOCK_KEYS
    assert m["lost_margin"] == 200 and m["labour_hours_by_role"]["counts"] == 3
    for key in COSTS:
        assert m[f"{key}_per_year"] == pytest.approx(
            (a[f"{key}_per_year"] + b[f"{key}_per_year"]) / 2
        )


def test_the_platform_costs_nothing_until_a_capability_runs_on_it() -> None:
    e = Economics()
    off = money_of(MoneyInputs(30, False, events=1_000_000), e)
    on = money_of(MoneyInputs(30, True, events=1_000_000), e)
    assert off["running_cost"] == 0
    assert on["running_cost"] == pytest.approx(e.platform_cost_per_month * 30 * 12 / 365 + 200)


def test_economics_refuses_a_negative_price_naming_it() -> None:
    with pytest.raises(ValidationError, match="oversell_cost"):
        Economics(oversell_cost=-1)


# --------------------------------------------------------- each figure from its mechanism
#: dead letters (events overtaken for longer than the bus holds them), transfers between
#: eight stores, variances at the close: every role has work under both policies
BUSY: dict[str, Any] = {
    "faults": {"reorder_rate": 0.5},
    "demand": {"store_units_per_sku_day": 4},
    "network": {"stores": {"count": 8}},
    "horizon_days": 14,
}


@pytest.mark.parametrize("policy", ["legacy", "orchestrated"])
def test_every_money_input_is_the_record_of_the_mechanism_behind_it(policy: str) -> None:
    model, r = run_model(scenario(**BUSY), policy, seed=5)
    i = inputs_of(model)
    minutes = model.scenario.economics.task_minutes
    w, end = model.warmup_h * 3600.0, model.horizon_h * 3600.0
    hours = i.labour_hours
    # the close's hours on true mismatches are the KPI's
    assert hours["reconciliation"] == r.kpis["manual_reconciliation_hours"] > 0
    # a person decided these transfers (an e-mail, or a task above the rules' thresholds)
    by_people = [
        t
        for t in model.transfers.transfers
        if t.decided_by.startswith("approver:") and w <= t.decided_at <= end
    ]
    assert hours["approvals"] == pytest.approx(len(by_people) * minutes.approval / 60)
    # every count inventory control took in the window
    assert model.inventory_control.log
    assert hours["counts"] == pytest.approx(len(model.inventory_control.log) * minutes.count / 60)
    # dead letters an operator replayed by hand, and escalations past an SLA
    exc = model.core.exceptions.items
    replayed = [e for e in exc if e.kind == "dead_letter" and e.resolved_at <= end]
    escalations = [at for e in exc for at in e.escalations if w <= at <= end]
    assert replayed and escalations
    assert all(e.resolved_by == OPERATOR for e in replayed)
    assert hours["exceptions"] == pytest.approx(
        (len(replayed) * minutes.exception + len(escalations) * minutes.escalation) / 60
    )
    # lost margin is the margin of the units of lost_sales_units, oversells the KPI's
    margins = model.metrics.margin_cents / 100
    lost = r.kpis["lost_sales_units"]
    assert lost > 0
    assert margins.min() * lost <= i.lost_margin <= margins.max() * lost
    assert i.oversold_orders == r.kpis["oversell_incidents"]
    # expediting and re-sourcing: what the supplier escalations did, as the run reports it
    assert (i.expedited_pos, i.resourced_pos) == (
        r.extras["pos_expedited"],
        r.extras["pos_resourced"],
    )


def test_store_picking_hours_are_the_pick_and_staging_time_of_every_store_line() -> None:
    fixed = {"dist": "fixed", "mean": 6.0}
    data = scenario(
        network={"stores": {"count": 3, "pick_time_min": fixed, "stage_time_min": fixed}},
        # every web order collected in store; nobody cancels; the shelf is what the
        # system says, so every line picked is found and staged
        physical={"shrink_share_of_sales": 0.0, "receiving_error_rate": 0.0},
    )
    data["channels"][0]["bopis_share"] = 1.0
    for channel in data["channels"]:
        channel["cancel_rate"] = 0.0
    model, r = run_model(data, "orchestrated", seed=3)
    n_store = model.network.n_store
    lines = [
        res
        for res in model.core.reservations.by_id
        if res.location < n_store and res.shipped_qty > 0
    ]
    assert lines and r.kpis["pick_shortages"] == 0
    assert inputs_of(model).labour_hours["store_picking"] == pytest.approx(len(lines) * 12 / 60)


def test_no_money_figure_is_zero_or_the_same_under_both_policies_by_construction() -> None:
    """On a supply shock every cost line and every role's hours come out different under
    legacy and orchestrated, and none is zero under both (the platform runs only under
    orchestrated): each is measured, none fixed by the bundle."""
    sc = load("supply-shock", ["network.stores.count=10", "horizon_days=14"])
    legacy, orch = (simulate(sc, p).money for p in POLICIES)
    for key in COSTS:
        assert legacy[key] != orch[key], key
        assert legacy[key] > 0 or orch[key] > 0, key
    assert legacy["running_cost"] == 0 < orch["running_cost"]
    for role in ROLES:
        pair = legacy["labour_hours_by_role"][role], orch["labour_hours_by_role"][role]
        assert pair[0] != pair[1] and pair[0] > 0, role
