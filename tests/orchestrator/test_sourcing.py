"""Sourcing policies: which location fills an online order, and a trace that says why."""

from __future__ import annotations

import math

import pytest

from orchestrator import (
    SOURCING_POLICIES,
    Buffered,
    Candidate,
    Cost,
    InvalidCommand,
    LaneNetwork,
    Nearest,
    OrderLine,
    ShipFromStore,
    SourcingPolicy,
    SourcingTrace,
)

LAMP, RUG = 0, 1
DC, NORTH, SOUTH, EAST, DC_WEST = 0, 1, 2, 3, 4

STORE_DROPPED = "store does not ship online orders under this policy"


@pytest.fixture
def two_dcs(catalog, network):
    """A second DC, closer to zone-n than the first (12 h against 24 h) but dearer."""
    catalog.add_location("dc-west", "dc", region="west")
    network.add_lane("dc-west", "zone-n", transit_h=12, cost_cents=900)


def stock(core, *placements):
    """Opening balances from (sku, location, qty) triples."""
    for sku, location, qty in placements:
        core.opening(sku, location, qty)


def order(core, *lines, destination="zone-n", order_id="o1", channel="web"):
    """Reserve lines that name no location; `lines` are (sku, qty) pairs."""
    return core.reserve(
        order_id, channel, [OrderLine(s, q) for s, q in lines], destination=destination
    )


def decisions(trace):
    """{location code: (kept, reason)} for every candidate of a trace."""
    return {c.location: (c.kept, c.reason) for c in trace.candidates}


# -- nearest ------------------------------------------------------------------------------------


def test_nearest_ships_from_the_dc_with_the_shortest_transit(make_core, two_dcs):
    core = make_core(sourcing=Nearest())
    stock(core, ("LAMP", "dc", 10), ("LAMP", "dc-west", 10))

    res = order(core, ("LAMP", 3))

    assert res.status == "confirmed"
    assert res.lines[0].location == DC_WEST
    assert res.traces[0].chosen == DC_WEST
    assert res.traces[0].note == "shortest transit: dc-west"


def test_nearest_is_the_default_sourcing_policy(core):
    assert isinstance(core.sourcing, Nearest)


def test_nearest_ignores_stores_even_when_they_are_closer_and_stocked(make_core, two_dcs):
    core = make_core(sourcing=Nearest())
    stock(core, ("LAMP", "dc", 10), ("LAMP", "north", 10))

    res = order(core, ("LAMP", 3))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0]) == {
        "dc": (True, "10 promisable, transit 24 h, cost 1800c"),
        "north": (False, STORE_DROPPED),
        "south": (False, STORE_DROPPED),
        "east": (False, STORE_DROPPED),
        "dc-west": (False, "only 0 promisable, 3 needed"),
    }


def test_nearest_passes_over_a_dc_that_cannot_fill_the_line(make_core, two_dcs):
    core = make_core(sourcing=Nearest())
    stock(core, ("LAMP", "dc", 10), ("LAMP", "dc-west", 2))

    res = order(core, ("LAMP", 3))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0])["dc-west"] == (False, "only 2 promisable, 3 needed")


def test_nearest_breaks_a_transit_tie_by_catalog_order(make_core, catalog, network):
    catalog.add_location("dc-twin", "dc")
    network.add_lane("dc-twin", "zone-n", transit_h=24, cost_cents=1)
    core = make_core(sourcing=Nearest())
    stock(core, ("LAMP", "dc-twin", 10), ("LAMP", "dc", 10))

    assert order(core, ("LAMP", 1)).lines[0].location == DC


# -- ship from store ----------------------------------------------------------------------------


def test_ship_from_store_uses_a_closer_store_that_keeps_its_protection(make_core):
    core = make_core(sourcing=ShipFromStore(store_protection=2))
    stock(core, ("LAMP", "dc", 10), ("LAMP", "north", 5))

    res = order(core, ("LAMP", 3))

    assert res.lines[0].location == NORTH
    assert decisions(res.traces[0])["north"] == (True, "5 promisable, transit 4 h, cost 900c")
    assert core.available("LAMP", "north") == 2


def test_ship_from_store_falls_back_to_the_dc_when_the_store_would_dip_into_protection(
    make_core,
):
    core = make_core(sourcing=ShipFromStore(store_protection=2))
    stock(core, ("LAMP", "dc", 10), ("LAMP", "north", 4))

    res = order(core, ("LAMP", 3))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0])["north"] == (
        False,
        "only 4 promisable, 3 needed above store protection 2",
    )
    assert core.available("LAMP", "north") == 4


def test_a_store_with_no_lane_to_the_customer_is_dropped_with_that_reason(make_core):
    core = make_core(sourcing=ShipFromStore())
    stock(core, ("LAMP", "east", 10), ("LAMP", "dc", 10))

    res = order(core, ("LAMP", 1))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0])["east"] == (False, "no lane to destination")


def test_ship_from_store_respects_the_channels_allocation_as_well_as_protection(make_core):
    # Buffered keeps 3 units on north's shelf from online channels; 6 - 3 = 3 promisable,
    # and the policy's own protection of 2 leaves only 1 for the order
    core = make_core(
        sourcing=ShipFromStore(store_protection=2), allocation=Buffered(store_buffer=3)
    )
    stock(core, ("LAMP", "dc", 10), ("LAMP", "north", 6))

    res = order(core, ("LAMP", 2))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0])["north"] == (
        False,
        "only 3 promisable, 2 needed above store protection 2",
    )


# -- cost ---------------------------------------------------------------------------------------
# per unit to zone-n: dc 600c, north 300c. With LAMP at both and RUG only at the DC, one
# parcel from the DC costs 1200c; splitting costs 300c + 600c + the penalty.


@pytest.fixture
def lamp_at_both_rug_at_dc():
    return [("LAMP", "dc", 5), ("RUG", "dc", 5), ("LAMP", "north", 5)]


def test_cost_prefers_one_parcel_when_splitting_saves_less_than_the_penalty(
    make_core, lamp_at_both_rug_at_dc
):
    core = make_core(sourcing=Cost(split_penalty_cents=500, store_protection=0))
    stock(core, *lamp_at_both_rug_at_dc)

    res = order(core, ("LAMP", 1), ("RUG", 1))

    assert [ln.location for ln in res.lines] == [DC, DC]
    assert res.traces[0].note == "one parcel from dc: 1200c vs split 1400c"


def test_cost_prefers_one_parcel_when_splitting_saves_exactly_the_penalty(
    make_core, lamp_at_both_rug_at_dc
):
    core = make_core(sourcing=Cost(split_penalty_cents=300, store_protection=0))
    stock(core, *lamp_at_both_rug_at_dc)

    res = order(core, ("LAMP", 1), ("RUG", 1))

    assert [ln.location for ln in res.lines] == [DC, DC]


def test_cost_splits_when_splitting_saves_more_than_the_penalty(make_core, lamp_at_both_rug_at_dc):
    core = make_core(sourcing=Cost(split_penalty_cents=200, store_protection=0))
    stock(core, *lamp_at_both_rug_at_dc)

    res = order(core, ("LAMP", 1), ("RUG", 1))

    assert [ln.location for ln in res.lines] == [NORTH, DC]
    assert res.traces[0].note == "split over 2 locations: 1100c incl. penalties"


def test_cost_splits_whatever_the_penalty_when_no_single_location_can_fill_the_order(
    make_core,
):
    core = make_core(sourcing=Cost(split_penalty_cents=10_000, store_protection=0))
    stock(core, ("LAMP", "dc", 5), ("RUG", "north", 5))

    res = order(core, ("LAMP", 1), ("RUG", 1))

    assert res.status == "confirmed"
    assert [ln.location for ln in res.lines] == [DC, NORTH]
    assert res.traces[1].note == "split over 2 locations: 10900c incl. penalties"


def test_cost_picks_the_cheapest_location_that_can_fill_everything(make_core):
    core = make_core(sourcing=Cost(store_protection=0))
    stock(core, ("LAMP", "dc", 5), ("RUG", "dc", 5), ("LAMP", "north", 5), ("RUG", "north", 5))

    res = order(core, ("LAMP", 2), ("RUG", 1))

    assert [ln.location for ln in res.lines] == [NORTH, NORTH]
    assert res.traces[0].note == "one parcel from north: 900c vs split 900c"


def test_cost_without_stores_ships_only_from_fulfilment_centres(make_core):
    core = make_core(sourcing=Cost(allow_stores=False))
    stock(core, ("LAMP", "dc", 5), ("LAMP", "north", 50))

    res = order(core, ("LAMP", 1))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0])["north"] == (False, STORE_DROPPED)


def test_cost_keeps_the_store_protection(make_core):
    core = make_core(sourcing=Cost(store_protection=2))
    stock(core, ("LAMP", "dc", 5), ("LAMP", "north", 2))

    res = order(core, ("LAMP", 1))

    assert res.lines[0].location == DC
    assert decisions(res.traces[0])["north"] == (
        False,
        "only 2 promisable, 1 needed above store protection 2",
    )


# -- unsourceable lines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy", [Nearest(), ShipFromStore(), Cost()], ids=["nearest", "ship-from-store", "cost"]
)
def test_a_line_no_location_can_fill_is_rejected_with_a_reason(make_core, policy):
    core = make_core(sourcing=policy)
    stock(core, ("LAMP", "dc", 5), ("RUG", "dc", 1))

    res = order(core, ("LAMP", 2), ("RUG", 3))

    assert res.status == "partial"
    assert [(ln.status, ln.location) for ln in res.lines] == [("confirmed", DC), ("rejected", None)]
    assert res.lines[1].reason == "no location can promise it"
    assert res.traces[1].chosen is None
    assert res.traces[1].note == "no location can promise it"
    assert decisions(res.traces[1])["dc"] == (False, "only 1 promisable, 3 needed")
    assert core.available("RUG", "dc") == 1


def test_sourcing_needs_a_destination(core):
    core.opening("LAMP", "dc", 5)

    with pytest.raises(InvalidCommand, match=r"^destination: needed to source lines"):
        core.reserve("o1", "web", [OrderLine("LAMP", 1)])


def test_a_destination_no_lane_reaches_is_refused(core):
    core.opening("LAMP", "dc", 5)

    with pytest.raises(InvalidCommand, match=r"^destination: no lane reaches 'zone-x'$"):
        order(core, ("LAMP", 1), destination="zone-x")


def test_lines_that_name_a_location_are_not_sourced(core):
    stock(core, ("LAMP", "dc", 5), ("RUG", "south", 5))

    res = core.reserve(
        "o1", "web", [OrderLine("RUG", 1, "south"), OrderLine("LAMP", 1)], destination="zone-n"
    )

    assert [ln.location for ln in res.lines] == [SOUTH, DC]
    assert [t.sku for t in res.traces] == [LAMP]


# -- traces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy", [Nearest(), ShipFromStore(), Cost()], ids=["nearest", "ship-from-store", "cost"]
)
def test_every_decision_lists_each_candidate_kept_or_dropped_with_a_reason(make_core, policy):
    core = make_core(sourcing=policy)
    stock(core, ("LAMP", "dc", 5), ("LAMP", "north", 5))

    res = order(core, ("LAMP", 1))

    (trace,) = res.traces
    assert [c.location for c in trace.candidates] == ["dc", "north", "south", "east"]
    assert all(isinstance(c.kept, bool) and c.reason for c in trace.candidates)
    assert {c.location for c in trace.candidates if c.kept} >= {"dc"}


def test_a_trace_explains_itself_in_plain_words(make_core, catalog):
    core = make_core(sourcing=ShipFromStore(store_protection=2))
    stock(core, ("LAMP", "dc", 10), ("LAMP", "north", 4))

    (trace,) = order(core, ("LAMP", 3)).traces

    assert trace.explain(catalog) == "\n".join(
        [
            "sku LAMP x3: from dc (shortest transit: dc)",
            "  kept    dc: 10 promisable, transit 24 h, cost 1800c",
            "  dropped north: only 4 promisable, 3 needed above store protection 2",
            "  dropped south: no lane to destination",
            "  dropped east: no lane to destination",
        ]
    )


def test_an_unsourced_trace_says_so(make_core, catalog):
    core = make_core(sourcing=Nearest())

    (trace,) = order(core, ("RUG", 1)).traces

    assert trace.explain(catalog).splitlines()[0] == (
        "sku RUG x1: unsourced (no location can promise it)"
    )


# -- plugging in a policy -----------------------------------------------------------------------


class FromSouth:
    """A researcher's policy: everything ships from the south store; it records what it saw."""

    name = "from-south"

    def __init__(self):
        self.seen = []

    def source(self, demands, ctx):
        south = ctx.catalog.location("south")
        out = []
        for d in demands:
            p = ctx.promisable(d.sku, south)
            self.seen.append((d.sku, d.qty, ctx.destination, p))
            cand = Candidate("south", True, "house rule", p, 0.0, 0.0)
            out.append(SourcingTrace(d.sku, d.qty, south, [cand], "always south"))
        return out


def test_a_custom_class_with_name_and_source_is_a_sourcing_policy():
    assert isinstance(FromSouth(), SourcingPolicy)


def test_a_custom_sourcing_policy_decides_where_lines_ship_from(make_core):
    policy = FromSouth()
    core = make_core(sourcing=policy)
    stock(core, ("LAMP", "dc", 10), ("LAMP", "south", 5))

    res = order(core, ("LAMP", 2), destination="zone-s")

    assert res.lines[0].location == SOUTH
    assert res.traces[0].note == "always south"
    assert policy.seen == [(LAMP, 2, "zone-s", 5)]


def test_a_custom_sourcing_policy_sees_what_the_channel_may_promise(make_core):
    policy = FromSouth()
    core = make_core(sourcing=policy, allocation=Buffered(store_buffer=3))
    stock(core, ("LAMP", "south", 5))

    order(core, ("LAMP", 1), destination="zone-s", channel="web")
    order(core, ("LAMP", 1), destination="zone-s", channel="pos", order_id="o2")

    assert [p for *_, p in policy.seen] == [2, 4]


def test_a_custom_sourcing_policy_cannot_make_the_core_oversell(make_core):
    core = make_core(sourcing=FromSouth())
    stock(core, ("LAMP", "dc", 10), ("LAMP", "south", 1))

    res = order(core, ("LAMP", 3), destination="zone-s")

    assert res.status == "rejected"
    assert res.lines[0].reason == "only 1 promisable, 3 needed"
    assert core.position("LAMP", "south").reserved == 0


def test_a_sourcing_policy_that_skips_a_demand_is_refused(make_core):
    class Lazy:
        name = "lazy"

        def source(self, demands, ctx):
            return []

    core = make_core(sourcing=Lazy())

    with pytest.raises(
        InvalidCommand, match=r"^sourcing policy 'lazy' returned 0 decisions for 1 demands$"
    ):
        order(core, ("LAMP", 1))


# -- lanes and settings -------------------------------------------------------------------------


def test_lane_transit_and_cost_add_up_over_a_hub(catalog):
    net = LaneNetwork(catalog)
    net.add_lane("dc", "hub", transit_h=10, cost_cents=100)
    net.add_lane("hub", "zone-x", transit_h=5, cost_cents=50)

    dc = catalog.locations[DC]
    assert (net.transit_h(dc, "zone-x"), net.cost_cents(dc, "zone-x")) == (15.0, 150.0)


def test_the_fastest_and_the_cheapest_route_are_found_separately(catalog):
    net = LaneNetwork(catalog)
    net.add_lane("dc", "zone-x", transit_h=10, cost_cents=900)
    net.add_lane("dc", "rail", transit_h=30, cost_cents=100)
    net.add_lane("rail", "zone-x", transit_h=30, cost_cents=100)

    dc = catalog.locations[DC]
    assert (net.transit_h(dc, "zone-x"), net.cost_cents(dc, "zone-x")) == (10.0, 200.0)


def test_a_new_lane_is_seen_by_the_next_decision(catalog, network):
    dc = catalog.locations[DC]
    assert network.transit_h(dc, "zone-n") == 24.0

    network.add_lane("dc", "zone-n", transit_h=8, cost_cents=600)

    assert network.transit_h(dc, "zone-n") == 8.0


def test_a_location_with_no_lane_is_infinitely_far(catalog, network):
    east = catalog.locations[EAST]

    assert network.transit_h(east, "zone-n") == math.inf
    assert network.cost_cents(east, "zone-n") == math.inf


@pytest.mark.parametrize(
    ("transit", "cost", "field"), [(-1, 10, "transit_h"), (1, -10, "cost_cents")]
)
def test_a_lane_with_a_negative_transit_or_cost_is_refused_naming_it(catalog, transit, cost, field):
    net = LaneNetwork(catalog)

    with pytest.raises(InvalidCommand, match=rf"^lanes\[dc->zone-n\]\.{field}: must be >= 0$"):
        net.add_lane("dc", "zone-n", transit_h=transit, cost_cents=cost)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ShipFromStore(store_protection=-1), "store_protection"),
        (lambda: Cost(store_protection=-1), "store_protection"),
        (lambda: Cost(split_penalty_cents=-1), "split_penalty_cents"),
    ],
)
def test_invalid_sourcing_settings_are_refused_naming_the_field(make, field):
    with pytest.raises(InvalidCommand, match=rf"^{field}: must be >= 0, got -1"):
        make()


def test_the_policy_registry_maps_each_name_to_its_class():
    assert {"nearest": Nearest, "ship-from-store": ShipFromStore, "cost": Cost} == SOURCING_POLICIES
    assert all(cls.name == key for key, cls in SOURCING_POLICIES.items())


@pytest.mark.parametrize("policy_cls", [Nearest, ShipFromStore])
def test_a_short_trace_chooses_exactly_what_the_full_evaluation_chooses(
    policy_cls, catalog, network, clock
):
    from orchestrator import Orchestrator

    full = Orchestrator(catalog, clock, sourcing=policy_cls(), network=network)
    short = Orchestrator(catalog, clock, sourcing=policy_cls(full_trace=False), network=network)
    for core in (full, short):
        core.receive("LAMP", "dc", 5)
        core.receive("LAMP", "north", 3)
        core.receive("RUG", "south", 1)
    for i, (sku, qty, zone) in enumerate(
        [("LAMP", 1, "zone-n"), ("LAMP", 4, "zone-n"), ("RUG", 1, "zone-s"), ("RUG", 2, "zone-s")]
    ):
        a = full.reserve(f"o{i}", "web", [OrderLine(sku, qty)], destination=zone)
        b = short.reserve(f"o{i}", "web", [OrderLine(sku, qty)], destination=zone)
        assert [ln.location for ln in a.lines] == [ln.location for ln in b.lines]
        assert a.status == b.status
