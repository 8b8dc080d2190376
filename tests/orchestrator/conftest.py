"""Small world for the orchestrator's unit tests.

Catalog (ids are dense in insertion order, so tests may rely on them):

    skus       0 LAMP  std 1000c      1 RUG  std 2500c      2 MUG  std 300c
    locations  0 dc    (DC, central)  1 north (store)  2 south (store)  3 east (store, no lanes)
    channels   0 pos   (store)        1 web  (web)     2 mkt-a (marketplace)

Lanes to customer zones (transit hours, cost cents per unit):

    dc    -> zone-n 24 h 600c      dc    -> zone-s 30 h 700c
    north -> zone-n  4 h 300c      north -> zone-s 20 h 900c
    south -> zone-s  5 h 350c
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from orchestrator import Catalog, LaneNetwork, ManualClock, Orchestrator


@pytest.fixture
def catalog() -> Catalog:
    c = Catalog()
    c.add_sku("LAMP", std_cost_cents=1000, price_cents=2500)
    c.add_sku("RUG", std_cost_cents=2500, price_cents=6000)
    c.add_sku("MUG", std_cost_cents=300, price_cents=800)
    c.add_location("dc", "dc", region="central")
    c.add_location("north", "store", region="north")
    c.add_location("south", "store", region="south")
    c.add_location("east", "store", region="east")
    c.add_channel("pos", "store")
    c.add_channel("web", "web")
    c.add_channel("mkt-a", "marketplace")
    return c


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(0.0)


@pytest.fixture
def network(catalog: Catalog) -> LaneNetwork:
    n = LaneNetwork(catalog)
    n.add_lane("dc", "zone-n", transit_h=24, cost_cents=600)
    n.add_lane("dc", "zone-s", transit_h=30, cost_cents=700)
    n.add_lane("north", "zone-n", transit_h=4, cost_cents=300)
    n.add_lane("north", "zone-s", transit_h=20, cost_cents=900)
    n.add_lane("south", "zone-s", transit_h=5, cost_cents=350)
    return n


@pytest.fixture
def make_core(
    catalog: Catalog, clock: ManualClock, network: LaneNetwork
) -> Callable[..., Orchestrator]:
    """Build an Orchestrator on the shared catalog, clock and lanes; kwargs override them."""

    def _make(**kwargs) -> Orchestrator:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("network", network)
        return Orchestrator(catalog, **kwargs)

    return _make


@pytest.fixture
def core(make_core: Callable[..., Orchestrator]) -> Orchestrator:
    return make_core()
