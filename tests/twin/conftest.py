"""Small scenarios for the twin's tests: a few stores, 10-12 skus, one to two weeks."""

from __future__ import annotations

from typing import Any

import pytest

from scenarios import load, resolve
from scenarios.loader import deep_merge
from twin.model import RetailTwin
from twin.simulate import RunResult, reduce

SMALL: dict[str, Any] = {
    "name": "small",
    "horizon_days": 10,
    "network": {
        "regions": ["north"],
        "stores": {"count": 3},
        "dcs": [{"code": "DC-N", "region": "north", "pickers": 4}],
    },
    "skus": {"count": 12},
    "channels": [
        {"code": "web", "kind": "web", "orders_per_day": 40},
        {"code": "mkt", "kind": "marketplace", "orders_per_day": 30},
    ],
}

#: no physical error source: no shrink, receiving or count errors, no wrong records
NO_PHYSICAL_ERRORS: dict[str, Any] = {
    "shrink_share_of_sales": 0,
    "receiving_error_rate": 0,
    "initial_record_error_share": 0,
    "count_error_rate": 0,
}


def scenario(**over: Any) -> dict[str, Any]:
    """The small scenario with nested overrides merged on top (mappings merge key by key)."""
    return deep_merge(SMALL, over)


def run_model(data: dict[str, Any], policy: str, seed: int = 1) -> tuple[RetailTwin, RunResult]:
    """Run a scenario and keep the model, for tests that look inside it."""
    sc = load(data)
    model = RetailTwin(sc, resolve(sc.policy, policy), seed)
    model.run()
    return model, reduce(model, 1.0, sc.name)


@pytest.fixture
def small() -> dict[str, Any]:
    return scenario()
