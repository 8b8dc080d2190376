"""Time that passes as it does in a business, on the tiny model of test_agents (one store,
one DC, one sku; day 0 is a Monday): the intraday curve of online orders."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.schema import ChannelSpec
from twin.model import RetailTwin

from .test_agents import tiny


# ----------------------------------------------------------------------- demand
def orders_by_hour(model: RetailTwin, days: int = 7) -> np.ndarray:
    """A web shop's orders (2,400 a day) over `days`, counted by the hour they are placed."""
    spec = ChannelSpec(code="web", kind="web", orders_per_day=2400, lines_per_order=1)
    by_hour = np.zeros(24)
    for t in range(24 * days):
        model.env.run(until=t + 1e-9)
        for _off, o in model.online_demand.hour(spec, 0, 0):
            by_hour[int(o.placed_h) % 24] += 1
    return by_hour / days


def test_the_intraday_curve_puts_more_online_orders_in_the_evening_than_at_night() -> None:
    model = tiny()
    per_hour = orders_by_hour(model)
    assert per_hour.sum() == pytest.approx(2400 * np.mean(model.scenario.demand.day_of_week), 0.03)
    evening, night, morning = per_hour[19:22].mean(), per_hour[1:5].mean(), per_hour[7:10].mean()
    assert evening > 1.6 * per_hour.mean()
    assert evening > 1.5 * morning
    assert evening > 7 * night


def test_a_flat_intraday_curve_spreads_online_orders_evenly_over_the_day() -> None:
    per_hour = orders_by_hour(tiny(demand={"online_hourly": [1] * 24}))
    assert per_hour[19:22].mean() == pytest.approx(per_hour[1:5].mean(), rel=0.15)
