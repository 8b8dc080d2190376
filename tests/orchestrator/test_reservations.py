"""Reservations: held -> confirmed -> fulfilled | released | expired, against available-to-sell."""

from __future__ import annotations

import math

import pytest

from orchestrator import (
    EventKind,
    IdempotencyConflict,
    InvalidCommand,
    InvalidTransition,
    OrderLine,
    ReservationState,
)

LAMP, RUG = 0, 1
DC = 0
WEB = 1


@pytest.fixture
def stocked(core):
    """The core with 5 LAMP and 2 RUG at the DC."""
    core.opening("LAMP", "dc", 5)
    core.opening("RUG", "dc", 2)
    return core


def hold(core, qty, order_id="o1", sku="LAMP", **kwargs):
    """Hold `qty` of a sku at the DC for the web channel; returns the reservation."""
    res = core.reserve(order_id, "web", [OrderLine(sku, qty, "dc")], confirm=False, **kwargs)
    assert res.status == "held", res
    return core.reservations.get(res.reservation_ids[0])


def confirmed(core, qty, order_id="o1", sku="LAMP"):
    res = core.reserve(order_id, "web", [OrderLine(sku, qty, "dc")])
    assert res.status == "confirmed", res
    return core.reservations.get(res.reservation_ids[0])


# -- the life cycle ---------------------------------------------------------------------------


def test_a_hold_takes_its_units_out_of_available_to_sell(stocked):
    r = hold(stocked, 3)

    assert r.state is ReservationState.HELD
    assert stocked.available("LAMP", "dc") == 2
    assert stocked.position("LAMP", "dc").reserved == 3
    assert stocked.position("LAMP", "dc").on_hand == 5


def test_a_hold_records_its_order_line_channel_and_expiry(stocked, clock):
    clock.set(100.0)

    r = hold(stocked, 3, order_id="web-42", ttl_s=60.0, placed_at=90.0)

    expected = ("web-42", 0, WEB, LAMP, DC, 3)
    assert (r.order_id, r.line_no, r.channel, r.sku, r.location, r.qty) == expected
    assert (r.created_at, r.placed_at, r.expires_at) == (100.0, 90.0, 160.0)


def test_confirming_a_hold_makes_it_permanent(stocked, clock):
    r = hold(stocked, 3, ttl_s=60.0)

    stocked.confirm(r.id)
    clock.advance(3600.0)

    assert r.state is ReservationState.CONFIRMED
    assert r.expires_at == math.inf
    assert stocked.available("LAMP", "dc") == 2


def test_an_order_can_be_confirmed_straight_away(stocked):
    r = confirmed(stocked, 3)

    assert r.state is ReservationState.CONFIRMED
    assert r.expires_at == math.inf


def test_shipping_a_confirmed_reservation_fulfils_it_and_takes_the_units_off_hand(stocked):
    r = confirmed(stocked, 3)

    stocked.ship(r.id)

    assert r.state is ReservationState.FULFILLED
    assert r.shipped_qty == 3
    pos = stocked.position("LAMP", "dc")
    assert (pos.on_hand, pos.reserved, pos.ats) == (2, 0, 2)


def test_releasing_a_reservation_gives_its_units_back(stocked):
    r = confirmed(stocked, 3)

    stocked.release(r.id)

    assert r.state is ReservationState.RELEASED
    assert stocked.available("LAMP", "dc") == 5
    assert stocked.position("LAMP", "dc").reserved_by_channel == {}


def test_cancelling_an_order_releases_every_active_line(stocked):
    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 2, "dc"), OrderLine("RUG", 1, "dc")])
    stocked.ship(res.reservation_ids[1])

    released = stocked.release_order("o1")

    assert released == 1
    assert stocked.available("LAMP", "dc") == 5
    assert stocked.reservations.get(res.reservation_ids[1]).state is ReservationState.FULFILLED


def test_the_life_cycle_is_written_to_the_event_log(stocked, clock):
    r = hold(stocked, 1, placed_at=0.0)
    clock.advance(5.0)
    stocked.confirm(r.id)
    clock.advance(5.0)
    stocked.ship(r.id)

    kinds = [e[1] for e in stocked.log.entries]
    assert kinds == [
        EventKind.RESERVATION_HELD,
        EventKind.RESERVATION_CONFIRMED,
        EventKind.RESERVATION_FULFILLED,
    ]
    assert stocked.log.of(EventKind.RESERVATION_CONFIRMED) == [
        (5.0, EventKind.RESERVATION_CONFIRMED, r.id, 1, 0.0)
    ]


# -- expiry ------------------------------------------------------------------------------------


def test_a_hold_counts_against_ats_until_its_ttl_runs_out(stocked, clock):
    hold(stocked, 3, ttl_s=60.0)

    clock.advance(59.0)

    assert stocked.available("LAMP", "dc") == 2


def test_an_expired_hold_stops_counting_against_ats_when_availability_is_read(stocked, clock):
    r = hold(stocked, 3, ttl_s=60.0)

    clock.advance(60.0)

    assert stocked.available("LAMP", "dc") == 5
    assert r.state is ReservationState.EXPIRED
    assert r.closed_at == 60.0
    assert stocked.reservations.stats.expired == 1
    assert stocked.log.of(EventKind.RESERVATION_EXPIRED) == [
        (60.0, EventKind.RESERVATION_EXPIRED, r.id, 3, None)
    ]


def test_an_expired_hold_does_not_block_a_new_order(stocked, clock):
    hold(stocked, 5, ttl_s=60.0)
    clock.advance(61.0)

    res = stocked.reserve("o2", "web", [OrderLine("LAMP", 5, "dc")])

    assert res.status == "confirmed"


def test_holds_expire_after_the_orchestrators_default_ttl(make_core, clock):
    core = make_core(hold_ttl_s=120.0)
    core.opening("LAMP", "dc", 5)
    r = hold(core, 2)

    clock.advance(120.0)

    assert core.available("LAMP", "dc") == 5
    assert r.state is ReservationState.EXPIRED


def test_a_confirmed_reservation_never_expires(stocked, clock):
    r = confirmed(stocked, 3)

    clock.advance(10 * 86400.0)

    assert stocked.available("LAMP", "dc") == 2
    assert r.state is ReservationState.CONFIRMED


def test_the_next_expiry_is_offered_to_the_scheduler(stocked, clock):
    hold(stocked, 1, ttl_s=60.0)
    hold(stocked, 1, order_id="o2", ttl_s=30.0)

    assert stocked.next_due() == 30.0


# -- all or nothing, never oversell ------------------------------------------------------------


def test_a_line_for_more_than_is_available_reserves_nothing(stocked):
    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 6, "dc")])

    assert res.status == "rejected"
    (line,) = res.lines
    assert (line.status, line.reservation_id) == ("rejected", None)
    assert line.reason == "only 5 promisable, 6 needed"
    assert stocked.position("LAMP", "dc").reserved == 0


def test_each_line_is_all_or_nothing_and_the_order_can_be_partly_reserved(stocked):
    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 3, "dc"), OrderLine("RUG", 4, "dc")])

    assert res.status == "partial"
    assert [ln.status for ln in res.lines] == ["confirmed", "rejected"]
    assert stocked.available("LAMP", "dc") == 2
    assert stocked.available("RUG", "dc") == 2


def test_lines_for_the_same_sku_are_summed_before_checking(stocked):
    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 3, "dc"), OrderLine("LAMP", 3, "dc")])

    assert res.status == "rejected"
    assert [(ln.status, ln.reason) for ln in res.lines] == [
        ("rejected", "only 5 promisable, 6 needed"),
        ("rejected", "only 5 promisable, 6 needed"),
    ]
    assert stocked.available("LAMP", "dc") == 5


def test_lines_for_the_same_sku_that_fit_together_each_get_a_reservation(stocked):
    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 2, "dc"), OrderLine("LAMP", 3, "dc")])

    assert res.status == "confirmed"
    assert len(set(res.reservation_ids)) == 2
    assert [stocked.reservations.get(i).qty for i in res.reservation_ids] == [2, 3]
    assert stocked.available("LAMP", "dc") == 0


def test_reserving_never_drives_available_to_sell_below_zero(stocked):
    confirmed(stocked, 5)

    res = stocked.reserve("o2", "mkt-a", [OrderLine("LAMP", 1, "dc")])

    assert res.status == "rejected"
    pos = stocked.position("LAMP", "dc")
    assert (pos.available, pos.ats) == (0, 0)
    assert stocked.reservations.stats.negative_available == 0
    assert stocked.invariants()["negative_available"] == 0


def test_the_safety_buffer_is_never_promised(stocked):
    stocked.set_safety_buffer("LAMP", "dc", 2)

    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 4, "dc")])

    assert res.status == "rejected"
    assert stocked.available("LAMP", "dc") == 3


def test_a_safety_buffer_must_be_a_whole_number_of_units(stocked):
    with pytest.raises(InvalidCommand, match=r"^safety buffer: must be a whole number >= 0"):
        stocked.set_safety_buffer("LAMP", "dc", -1)


def test_stock_sold_at_the_till_after_a_reservation_is_flagged_as_negative_available(stocked):
    # the till is a fact, not a request: the core records it, and the reservation stands
    confirmed(stocked, 5)
    stocked.sell("LAMP", "dc", 1)

    assert stocked.position("LAMP", "dc").available == -1
    assert stocked.available("LAMP", "dc") == 0


# -- idempotency -------------------------------------------------------------------------------


def test_the_same_idempotency_key_and_request_returns_the_first_result(stocked):
    lines = [OrderLine("LAMP", 3, "dc")]
    first = stocked.reserve("o1", "web", lines, idempotency_key="k1")

    again = stocked.reserve("o1", "web", lines, idempotency_key="k1")

    assert again is first
    assert stocked.available("LAMP", "dc") == 2
    assert len(stocked.reservations.by_id) == 1


def test_a_retry_naming_skus_by_id_instead_of_code_is_the_same_request(stocked):
    first = stocked.reserve("o1", "web", [OrderLine("LAMP", 3, "dc")], idempotency_key="k1")

    again = stocked.reserve("o1", 1, [OrderLine(LAMP, 3, DC)], idempotency_key="k1")

    assert again is first


def test_the_reservation_remembers_its_idempotency_key(stocked):
    res = stocked.reserve("o1", "web", [OrderLine("LAMP", 3, "dc")], idempotency_key="k1")

    assert stocked.reservations.get(res.reservation_ids[0]).idempotency_key == "k1"


@pytest.mark.parametrize(
    "other",
    [
        {"order_id": "o2", "channel": "web", "lines": [OrderLine("LAMP", 3, "dc")]},
        {"order_id": "o1", "channel": "mkt-a", "lines": [OrderLine("LAMP", 3, "dc")]},
        {"order_id": "o1", "channel": "web", "lines": [OrderLine("LAMP", 2, "dc")]},
        {"order_id": "o1", "channel": "web", "lines": [OrderLine("RUG", 3, "dc")]},
    ],
    ids=["other order", "other channel", "other qty", "other sku"],
)
def test_reusing_an_idempotency_key_for_a_different_request_is_a_conflict(stocked, other):
    stocked.reserve("o1", "web", [OrderLine("LAMP", 3, "dc")], idempotency_key="k1")

    with pytest.raises(
        IdempotencyConflict,
        match=r"^idempotency_key 'k1': already used for a different request \(order 'o1'\); "
        r"use a new key for a new request$",
    ):
        stocked.reserve(**other, idempotency_key="k1")

    assert stocked.available("LAMP", "dc") == 2


def test_a_rejected_request_is_replayed_as_rejected_too(stocked):
    first = stocked.reserve("o1", "web", [OrderLine("LAMP", 9, "dc")], idempotency_key="k1")
    stocked.receive("LAMP", "dc", 10)

    again = stocked.reserve("o1", "web", [OrderLine("LAMP", 9, "dc")], idempotency_key="k1")

    assert again is first
    assert again.status == "rejected"


# -- shipping ----------------------------------------------------------------------------------


def test_a_short_ship_releases_the_remainder(stocked):
    r = confirmed(stocked, 4)

    stocked.ship(r.id, 3)

    pos = stocked.position("LAMP", "dc")
    assert (pos.on_hand, pos.reserved, pos.ats) == (2, 0, 2)
    assert r.state is ReservationState.FULFILLED
    assert r.shipped_qty == 3
    (entry,) = stocked.log.of(EventKind.RESERVATION_FULFILLED)
    assert entry[2:] == (r.id, 3, 1)  # shipped 3, short 1


def test_a_short_ship_raises_a_pick_shortage_exception(stocked):
    r = confirmed(stocked, 4)

    stocked.ship(r.id, 3)

    (ex,) = stocked.exceptions.open()
    assert (ex.kind, ex.subject, ex.owner_role) == (
        "pick_shortage",
        f"reservation:{r.id}",
        "store_ops",
    )
    assert "1 of 4 units" in ex.detail


def test_shipping_nothing_after_an_empty_pick_records_no_movement(stocked):
    r = confirmed(stocked, 2)
    moves = len(stocked.ledger.movements)

    stocked.ship(r.id, 0)

    assert len(stocked.ledger.movements) == moves
    assert stocked.available("LAMP", "dc") == 5


@pytest.mark.parametrize("qty", [-1, 5])
def test_shipping_outside_the_reserved_quantity_is_refused(stocked, qty):
    r = confirmed(stocked, 4)

    with pytest.raises(InvalidCommand, match=r"^qty: shipped must be within 0\.\.4, got -?\d+$"):
        stocked.ship(r.id, qty)

    assert r.state is ReservationState.CONFIRMED


@pytest.mark.parametrize("qty", [1.5, True, "2"])
def test_a_fractional_or_non_numeric_shipped_quantity_is_refused_and_the_reservation_stands(
    stocked, qty
):
    r = confirmed(stocked, 4)

    with pytest.raises(InvalidCommand, match=r"^qty: shipped must be a whole number, got "):
        stocked.ship(r.id, qty)

    assert (r.state, r.shipped_qty) == (ReservationState.CONFIRMED, 0)
    pos = stocked.position("LAMP", "dc")
    assert (pos.on_hand, pos.reserved) == (5, 4)


# -- transitions that are not allowed ----------------------------------------------------------


def held(core):
    return hold(core, 1, order_id="held")


def released(core):
    r = confirmed(core, 1, order_id="rel")
    core.release(r.id)
    return r


def fulfilled(core):
    r = confirmed(core, 1, order_id="ful")
    core.ship(r.id)
    return r


def expired(core):
    r = hold(core, 1, order_id="exp", ttl_s=10.0)
    core.clock.advance(10.0)
    return r


@pytest.mark.parametrize(
    ("make", "action", "message"),
    [
        (released, "confirm", "cannot confirm a released reservation"),
        (fulfilled, "confirm", "cannot confirm a fulfilled reservation"),
        (expired, "confirm", "cannot confirm a expired reservation"),
        (fulfilled, "release", "cannot release a fulfilled reservation"),
        (expired, "release", "cannot release a expired reservation"),
        (held, "ship", "only a confirmed reservation can be fulfilled, this one is held"),
        (released, "ship", "only a confirmed reservation can be fulfilled, this one is released"),
        (fulfilled, "ship", "only a confirmed reservation can be fulfilled, this one is fulfilled"),
        (expired, "ship", "only a confirmed reservation can be fulfilled, this one is expired"),
    ],
)
def test_a_transition_the_life_cycle_does_not_allow_is_refused(stocked, make, action, message):
    r = make(stocked)
    before = stocked.position("LAMP", "dc").balances(), stocked.position("LAMP", "dc").reserved

    with pytest.raises(InvalidTransition, match=rf"^reservation {r.id}: {message}$"):
        getattr(stocked, action)(r.id)

    after = stocked.position("LAMP", "dc").balances(), stocked.position("LAMP", "dc").reserved
    assert after == before


def test_confirming_or_releasing_twice_is_harmless(stocked):
    r = confirmed(stocked, 2)
    stocked.confirm(r.id)
    stocked.release(r.id)

    stocked.release(r.id)

    assert r.state is ReservationState.RELEASED
    assert stocked.available("LAMP", "dc") == 5


def test_an_unknown_reservation_id_is_refused(stocked):
    with pytest.raises(InvalidCommand, match=r"^reservation_id: no reservation 7$"):
        stocked.confirm(7)


# -- bad requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("qty", [0, -2, 1.5, True, "3"])
def test_a_line_quantity_must_be_a_positive_whole_number_naming_the_line(stocked, qty):
    lines = [OrderLine("LAMP", 1, "dc"), OrderLine("RUG", qty, "dc")]

    with pytest.raises(InvalidCommand, match=r"^lines\[1\]\.qty: must be a whole number > 0, got "):
        stocked.reserve("o1", "web", lines)

    assert stocked.available("LAMP", "dc") == 5


def test_an_order_needs_an_id(stocked):
    with pytest.raises(InvalidCommand, match=r"^order_id: must not be empty$"):
        stocked.reserve("", "web", [OrderLine("LAMP", 1, "dc")])


def test_an_order_needs_at_least_one_line(stocked):
    with pytest.raises(InvalidCommand, match=r"^lines: an order needs at least one line$"):
        stocked.reserve("o1", "web", [])


@pytest.mark.parametrize("ttl", [0.0, -5.0])
def test_a_hold_needs_a_positive_ttl(stocked, ttl):
    with pytest.raises(InvalidCommand, match=r"^ttl_s: must be > 0"):
        stocked.reserve("o1", "web", [OrderLine("LAMP", 1, "dc")], confirm=False, ttl_s=ttl)


def test_the_orchestrator_needs_a_positive_default_ttl(make_core):
    with pytest.raises(InvalidCommand, match=r"^hold_ttl_s: must be > 0, got 0"):
        make_core(hold_ttl_s=0)
