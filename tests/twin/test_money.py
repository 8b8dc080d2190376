"""The money block: every figure recomputes from what a run measured and the economics
section, and moves the way a planner expects when a price changes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from scenarios.schema import Economics
from twin.money import (
    COSTS,
    ROLES,
    MoneyInputs,
    mean_money,
    money_of,
    net_benefit_per_year,
    payback_months,
)

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
    year = 365.0 / i.window_days
    labour = {r: i.labour_hours[r] * getattr(e.labour_rates, r) for r in ROLES}
    assert m["labour_cost_by_role"] == pytest.approx(labour)
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
    assert m["total_cost"] == pytest.approx(sum(expected.values()), rel=1e-9, abs=1e-9)
    assert m["currency"] == e.currency


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
