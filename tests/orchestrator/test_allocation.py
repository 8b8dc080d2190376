"""Allocation policies: how much each channel may promise, always clamped to available-to-sell."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator import (
    ALLOCATION_POLICIES,
    AllocationPolicy,
    Buffered,
    InvalidCommand,
    OrderLine,
    Pooled,
    Siloed,
)


def stocked_core(make_core, policy, units=10, location="dc"):
    core = make_core(allocation=policy)
    core.opening("LAMP", location, units)
    return core


def reserve(core, channel, qty, location="dc", order_id=None):
    order_id = order_id or f"{channel}-{qty}-{len(core.reservations.by_id)}"
    return core.reserve(order_id, channel, [OrderLine("LAMP", qty, location)])


def promisable(core, location="dc"):
    """What each channel may promise for LAMP at `location`."""
    return {ch: core.available("LAMP", location, ch) for ch in ("pos", "web", "mkt-a")}


# -- pooled -------------------------------------------------------------------------------------


def test_pooled_lets_every_channel_promise_the_whole_available_to_sell(make_core):
    core = stocked_core(make_core, Pooled())

    assert promisable(core) == {"pos": 10, "web": 10, "mkt-a": 10}


def test_pooled_is_the_default_policy(core):
    assert isinstance(core.allocation, Pooled)


def test_under_pooled_one_channels_reservation_reduces_what_every_channel_may_promise(make_core):
    core = stocked_core(make_core, Pooled())

    reserve(core, "mkt-a", 7)

    assert promisable(core) == {"pos": 3, "web": 3, "mkt-a": 3}


# -- siloed -------------------------------------------------------------------------------------


def test_siloed_gives_each_channel_named_by_code_its_share(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.6, "mkt-a": 0.4}))

    assert promisable(core) == {"pos": 0, "web": 6, "mkt-a": 4}


def test_siloed_quotas_may_be_set_per_channel_kind(make_core):
    core = stocked_core(make_core, Siloed({"store": 0.5, "web": 0.2, "marketplace": 0.3}))

    assert promisable(core) == {"pos": 5, "web": 2, "mkt-a": 3}


def test_a_quota_for_the_channel_code_wins_over_one_for_its_kind(make_core):
    core = stocked_core(make_core, Siloed({"marketplace": 0.2, "mkt-a": 0.4}))

    assert core.available("LAMP", "dc", "mkt-a") == 4


def test_a_channel_not_named_gets_the_default_share(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.5}, default_share=0.25))

    assert promisable(core) == {"pos": 2, "web": 5, "mkt-a": 2}


def test_a_quota_rounds_down_to_whole_units(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.33}))

    assert core.available("LAMP", "dc", "web") == 3


def test_a_quota_is_a_share_of_stock_above_the_safety_buffer(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.5}))
    core.set_safety_buffer("LAMP", "dc", 2)

    assert core.available("LAMP", "dc", "web") == 4


def test_a_channels_own_reservations_use_up_its_quota(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.6, "mkt-a": 0.4}))

    reserve(core, "web", 4)

    assert promisable(core) == {"pos": 0, "web": 2, "mkt-a": 4}


def test_a_channel_cannot_reserve_beyond_its_quota_even_when_stock_is_free(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.6, "mkt-a": 0.4}))

    res = reserve(core, "web", 7)

    assert res.status == "rejected"
    assert res.lines[0].reason == "only 6 promisable, 7 needed"
    assert core.available("LAMP", "dc") == 10


def test_released_reservations_give_the_quota_back(make_core):
    core = stocked_core(make_core, Siloed({"web": 0.6}))
    res = reserve(core, "web", 6)

    core.release(res.reservation_ids[0])

    assert core.available("LAMP", "dc", "web") == 6


def test_overlapping_quotas_are_still_clamped_to_what_is_left(make_core):
    core = stocked_core(make_core, Siloed({"web": 1.0, "mkt-a": 1.0}))
    reserve(core, "web", 8)

    assert core.available("LAMP", "dc", "mkt-a") == 2
    assert reserve(core, "mkt-a", 3).status == "rejected"


# -- buffered -----------------------------------------------------------------------------------


def test_buffered_leaves_each_channels_buffer_unpromised(make_core):
    core = stocked_core(make_core, Buffered({"web": 2, "mkt-a": 3}))

    assert promisable(core) == {"pos": 10, "web": 8, "mkt-a": 7}


def test_buffers_may_be_set_per_channel_kind_and_the_code_wins(make_core):
    core = stocked_core(make_core, Buffered({"marketplace": 4, "web": 1, "mkt-a": 2}))

    assert promisable(core) == {"pos": 10, "web": 9, "mkt-a": 8}


def test_the_store_buffer_holds_back_store_shelves_from_online_channels_only(make_core):
    core = stocked_core(make_core, Buffered(store_buffer=3), location="north")

    assert promisable(core, "north") == {"pos": 10, "web": 7, "mkt-a": 7}


def test_the_store_buffer_does_not_apply_at_a_dc(make_core):
    core = stocked_core(make_core, Buffered(store_buffer=3))

    assert promisable(core) == {"pos": 10, "web": 10, "mkt-a": 10}


def test_a_channel_buffer_and_the_store_buffer_add_up(make_core):
    core = stocked_core(make_core, Buffered({"web": 2}, store_buffer=3), location="north")

    assert promisable(core, "north") == {"pos": 10, "web": 5, "mkt-a": 7}


def test_an_online_order_that_would_dip_into_the_store_buffer_is_rejected(make_core):
    core = stocked_core(make_core, Buffered(store_buffer=3), location="north")

    assert reserve(core, "web", 8, location="north").status == "rejected"
    assert reserve(core, "pos", 8, location="north").status == "confirmed"


def test_buffers_over_quotas_keep_each_channel_within_its_quota_and_above_its_buffers(make_core):
    policy = Buffered({"web": 1}, store_buffer=2, quotas={"web": 0.5, "mkt-a": 0.5})
    core = stocked_core(make_core, policy, location="north")

    # web: min(quota 5, 10 − 1 − 2); mkt-a: min(quota 5, 10 − 2)
    assert promisable(core, "north") == {"pos": 0, "web": 5, "mkt-a": 5}
    reserve(core, "mkt-a", 4, location="north")
    assert promisable(core, "north") == {"pos": 0, "web": 3, "mkt-a": 1}


@pytest.mark.parametrize(
    "policy",
    [Pooled(), Buffered({"marketplace": 1}, store_buffer=2), Buffered({"web": 3})],
    ids=lambda p: p.name,
)
def test_the_grid_form_promises_what_the_core_promises_position_by_position(make_core, policy):
    core = make_core(allocation=policy)
    for sku, where, units in [("LAMP", "dc", 9), ("RUG", "north", 4), ("LAMP", "north", 1)]:
        core.opening(sku, where, units)
    reserve(core, "web", 2)
    locs = core.catalog.locations
    d = core.ledger.dense(len(core.catalog.skus), len(locs))
    for ch in ("web", "mkt-a"):
        channel = core.catalog.channels[core.catalog.channel(ch)]
        grid = policy.promisable_grid(d.on_hand - d.reserved - d.safety, locs, channel)
        grid = np.maximum(np.minimum(grid, d.on_hand - d.reserved - d.safety), 0)
        for k, sku in enumerate(core.catalog.skus):
            for loc in locs:
                assert grid[k, loc.id] == core.available(sku.code, loc.code, ch), (ch, sku, loc)


def test_quotas_have_no_grid_form():
    assert Siloed({"web": 1.0}).promisable_grid(np.zeros((1, 1)), [], None) is None
    assert Buffered(quotas={"web": 1.0}).promisable_grid(np.zeros((1, 1)), [], None) is None


# -- the core clamps every policy ---------------------------------------------------------------


class Generous:
    """A researcher's policy that promises far more than there is."""

    name = "generous"

    def promisable(self, position, location, channel):
        return 10**9


class Stingy:
    """A researcher's policy that wants to hold back more than there is."""

    name = "stingy"

    def promisable(self, position, location, channel):
        return position.ats - 20


def test_a_custom_class_with_name_and_promisable_is_an_allocation_policy():
    assert isinstance(Generous(), AllocationPolicy)


def test_a_policy_that_promises_too_much_is_clamped_to_available_to_sell(make_core):
    core = stocked_core(make_core, Generous())
    reserve(core, "web", 4)

    assert promisable(core) == {"pos": 6, "web": 6, "mkt-a": 6}


def test_a_policy_that_promises_too_much_still_cannot_oversell(make_core):
    core = stocked_core(make_core, Generous())

    first = reserve(core, "web", 10)
    second = reserve(core, "mkt-a", 1)
    third = reserve(core, "pos", 11)

    assert [first.status, second.status, third.status] == ["confirmed", "rejected", "rejected"]
    pos = core.position("LAMP", "dc")
    assert (pos.reserved, pos.available) == (10, 0)
    assert core.invariants()["negative_available"] == 0


def test_a_policy_that_holds_back_more_than_there_is_promises_nothing(make_core):
    core = stocked_core(make_core, Stingy())

    assert reserve(core, "web", 1).status == "rejected"


@pytest.mark.parametrize(
    "policy", [Buffered({"web": 20}), Siloed({"web": 0.5})], ids=["buffered", "siloed"]
)
def test_a_built_in_policy_never_proposes_a_negative_number_of_units(make_core, policy):
    core = stocked_core(make_core, policy)
    core.reserve("o1", "web", [OrderLine("LAMP", 5, "dc")])
    core.write_off("LAMP", "dc", 4)  # stock falls below the buffer or what web already holds
    pos = core.position("LAMP", "dc")

    assert policy.promisable(pos, core.catalog.locations[0], core.catalog.channels[1]) == 0
    assert core.available("LAMP", "dc", "web") == 0


def test_what_a_channel_may_promise_is_never_negative_whatever_the_policy_says(make_core):
    core = stocked_core(make_core, Stingy())

    assert core.available("LAMP", "dc", "web") == 0


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_siloed_quota_outside_zero_to_one_is_refused_naming_the_channel(share):
    with pytest.raises(
        InvalidCommand, match=rf"^quotas\.web: share must be within 0\.\.1, got {share}$"
    ):
        Siloed({"web": share})


def test_a_siloed_default_share_outside_zero_to_one_is_refused():
    with pytest.raises(InvalidCommand, match=r"^default_share: must be within 0\.\.1, got 2"):
        Siloed({}, default_share=2)


def test_a_negative_channel_buffer_is_refused_naming_the_channel():
    with pytest.raises(InvalidCommand, match=r"^channel_buffers\.mkt-a: must be >= 0, got -1$"):
        Buffered({"mkt-a": -1})


def test_a_negative_store_buffer_is_refused():
    with pytest.raises(InvalidCommand, match=r"^store_buffer: must be >= 0, got -3$"):
        Buffered(store_buffer=-3)


def test_the_policy_registry_maps_each_name_to_its_class():
    assert {"pooled": Pooled, "siloed": Siloed, "buffered": Buffered} == ALLOCATION_POLICIES
    assert all(cls.name == key for key, cls in ALLOCATION_POLICIES.items())
