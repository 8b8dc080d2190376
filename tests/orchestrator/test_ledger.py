"""The stock ledger: movements, their effect on balances, validation, rebuild and audit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import (
    Disposition,
    InvalidCommand,
    MovementKind,
    OrderLine,
    StockLedger,
    UnknownReference,
)

# ids of the conftest catalog
LAMP, RUG, MUG = 0, 1, 2
DC, NORTH, SOUTH = 0, 1, 2


def balances(core, sku, location):
    """(on_hand, in_transit, quarantined) of one (sku, location)."""
    return core.position(sku, location).balances()


# -- the effect of each movement kind -------------------------------------------------------


def test_an_opening_balance_puts_units_on_hand(core):
    core.opening("LAMP", "dc", 10)

    assert balances(core, "LAMP", "dc") == (10, 0, 0)


def test_a_receipt_adds_to_on_hand(core):
    core.opening("LAMP", "dc", 10)

    core.receive("LAMP", "dc", 5)

    assert balances(core, "LAMP", "dc") == (15, 0, 0)


def test_a_till_sale_takes_from_on_hand(core):
    core.opening("LAMP", "north", 4)

    core.sell("LAMP", "north", 3)

    assert balances(core, "LAMP", "north") == (1, 0, 0)


def test_a_till_sale_may_drive_on_hand_below_zero_because_the_customer_has_the_goods(core):
    core.opening("LAMP", "north", 1)

    core.sell("LAMP", "north", 2)

    assert balances(core, "LAMP", "north") == (-1, 0, 0)


def test_a_shipment_takes_from_on_hand(core):
    core.opening("LAMP", "dc", 10)
    res = core.reserve("o1", "web", [OrderLine("LAMP", 4, "dc")])

    core.ship(res.reservation_ids[0])

    assert balances(core, "LAMP", "dc") == (6, 0, 0)
    assert core.ledger.movements[-1].kind is MovementKind.SHIPMENT


def test_a_transfer_out_moves_units_from_source_on_hand_to_destination_in_transit(core):
    core.opening("LAMP", "dc", 10)

    core.transfer_out("LAMP", "dc", "north", 4)

    assert balances(core, "LAMP", "dc") == (6, 0, 0)
    assert balances(core, "LAMP", "north") == (0, 4, 0)


def test_a_transfer_in_moves_units_from_in_transit_to_on_hand_at_the_destination(core):
    core.opening("LAMP", "dc", 10)
    core.transfer_out("LAMP", "dc", "north", 4)

    core.transfer_in("LAMP", "north", "dc", 3)

    assert balances(core, "LAMP", "north") == (3, 1, 0)
    assert balances(core, "LAMP", "dc") == (6, 0, 0)


def test_a_transit_loss_removes_units_from_in_transit_only(core):
    core.opening("LAMP", "dc", 10)
    core.transfer_out("LAMP", "dc", "north", 4)

    core.transit_loss("LAMP", "north", 1)

    assert balances(core, "LAMP", "north") == (0, 3, 0)
    assert balances(core, "LAMP", "dc") == (6, 0, 0)


def test_a_customer_return_goes_into_quarantine_not_on_hand(core):
    core.opening("LAMP", "north", 2)

    core.return_in("LAMP", "north", 1)

    assert balances(core, "LAMP", "north") == (2, 0, 1)
    assert core.available("LAMP", "north") == 2


@pytest.mark.parametrize("disposition", ["restock", "refurbish"])
def test_a_sellable_disposition_moves_units_from_quarantine_to_on_hand(core, disposition):
    core.return_in("LAMP", "north", 3)

    core.dispose("LAMP", "north", 2, disposition)

    assert balances(core, "LAMP", "north") == (2, 0, 1)
    assert core.available("LAMP", "north") == 2


@pytest.mark.parametrize(
    "disposition", ["return_to_vendor", "return-to-vendor", "liquidate", "scrap"]
)
def test_an_unsellable_disposition_takes_units_out_of_quarantine_and_the_network(core, disposition):
    core.return_in("LAMP", "north", 3)

    core.dispose("LAMP", "north", 2, disposition)

    assert balances(core, "LAMP", "north") == (0, 0, 1)


def test_a_disposition_accepts_the_enum_as_well_as_its_name(core):
    core.return_in("LAMP", "north", 1)

    m = core.dispose("LAMP", "north", 1, Disposition.SCRAP)

    assert m.disposition is Disposition.SCRAP


@pytest.mark.parametrize(("delta", "expected"), [(2, 12), (-3, 7)])
def test_an_adjustment_changes_on_hand_by_a_signed_delta(core, delta, expected):
    core.opening("LAMP", "dc", 10)

    core.adjust("LAMP", "dc", delta)

    assert balances(core, "LAMP", "dc") == (expected, 0, 0)


def test_shrink_writes_units_off_on_hand(core):
    core.opening("LAMP", "north", 5)

    core.write_off("LAMP", "north", 2, reason="damaged")

    assert balances(core, "LAMP", "north") == (3, 0, 0)


def test_a_movement_leaves_other_skus_and_locations_alone(core):
    core.opening("LAMP", "dc", 10)
    core.opening("RUG", "dc", 7)
    core.opening("LAMP", "north", 3)

    core.sell("LAMP", "north", 1)

    assert balances(core, "LAMP", "dc") == (10, 0, 0)
    assert balances(core, "RUG", "dc") == (7, 0, 0)


def test_commands_accept_integer_ids_as_well_as_codes(core):
    core.opening(LAMP, DC, 10)

    core.sell("LAMP", "dc", 1)

    assert balances(core, LAMP, DC) == (9, 0, 0)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("qty", [0, -1])
@pytest.mark.parametrize(
    "command",
    [
        lambda c, q: c.opening("LAMP", "dc", q),
        lambda c, q: c.receive("LAMP", "dc", q),
        lambda c, q: c.sell("LAMP", "dc", q),
        lambda c, q: c.write_off("LAMP", "dc", q),
        lambda c, q: c.transfer_out("LAMP", "dc", "north", q),
        lambda c, q: c.return_in("LAMP", "dc", q),
    ],
    ids=["opening", "receipt", "sale", "shrink", "transfer_out", "return"],
)
def test_a_movement_quantity_must_be_positive(core, command, qty):
    with pytest.raises(InvalidCommand, match=r"^qty: must be > 0 for \w+, got -?\d+$"):
        command(core, qty)


def test_an_adjustment_of_zero_is_refused(core):
    with pytest.raises(InvalidCommand, match=r"^qty: an adjustment must change stock \(got 0\)$"):
        core.adjust("LAMP", "dc", 0)


@pytest.mark.parametrize("qty", [1.5, "3", True])
def test_a_movement_quantity_must_be_a_whole_number(core, qty):
    with pytest.raises(InvalidCommand, match=r"^qty: must be a whole number"):
        core.receive("LAMP", "dc", qty)


def test_a_transfer_to_the_same_location_is_refused_naming_the_counterparty(core):
    core.opening("LAMP", "dc", 10)

    with pytest.raises(
        InvalidCommand, match=r"^counterparty: a transfer needs another destination"
    ):
        core.transfer_out("LAMP", "dc", "dc", 2)


def record(ledger, kind, location, *, event_id, **kwargs):
    """One LAMP unit moved straight on a bare StockLedger, at time 0 and standard cost."""
    times = {"at": 0.0, "recorded_at": 0.0}
    return ledger.record(
        kind, LAMP, location, 1, event_id=event_id, unit_cost_cents=1000, **times, **kwargs
    )


def test_a_transfer_without_a_destination_is_refused_naming_the_counterparty():
    with pytest.raises(InvalidCommand, match=r"^counterparty:"):
        record(StockLedger(), MovementKind.TRANSFER_OUT, DC, event_id="t1")


def test_receiving_more_than_is_in_transit_is_refused(core):
    core.opening("LAMP", "dc", 10)
    core.transfer_out("LAMP", "dc", "north", 2)

    with pytest.raises(
        InvalidCommand, match=r"^qty: 3 units received but only 2 in transit to location$"
    ):
        core.transfer_in("LAMP", "north", "dc", 3)


def test_losing_more_than_is_in_transit_is_refused(core):
    with pytest.raises(InvalidCommand, match=r"^qty: 1 units lost but only 0 in transit"):
        core.transit_loss("LAMP", "north", 1)


def test_disposing_more_than_is_quarantined_is_refused(core):
    core.return_in("LAMP", "north", 1)

    with pytest.raises(InvalidCommand, match=r"^qty: 2 units disposed but only 1 in quarantine$"):
        core.dispose("LAMP", "north", 2, "scrap")


def test_a_disposition_movement_without_a_disposition_is_refused():
    ledger = StockLedger()
    record(ledger, MovementKind.RETURN_IN, NORTH, event_id="r1")

    with pytest.raises(InvalidCommand, match=r"^disposition: required"):
        record(ledger, MovementKind.DISPOSITION, NORTH, event_id="d1")


def test_a_disposition_given_by_number_is_the_same_as_by_name(core):
    core.return_in("LAMP", "north", 2)

    m = core.dispose("LAMP", "north", 1, int(Disposition.RESTOCK))

    assert m.disposition is Disposition.RESTOCK
    assert balances(core, "LAMP", "north") == (1, 0, 1)
    assert core.reconcile() == []


@pytest.mark.parametrize("disposition", [9, -1])
def test_an_unknown_disposition_number_is_refused(core, disposition):
    core.return_in("LAMP", "north", 1)

    with pytest.raises(InvalidCommand, match=rf"^disposition: unknown disposition {disposition}$"):
        core.dispose("LAMP", "north", 1, disposition)

    assert balances(core, "LAMP", "north") == (0, 0, 1)


def test_an_unknown_disposition_name_is_refused_listing_the_allowed_ones(core):
    core.return_in("LAMP", "north", 1)

    with pytest.raises(InvalidCommand, match=r"^disposition: must be one of restock, refurbish"):
        core.dispose("LAMP", "north", 1, "burn")


def test_unknown_skus_and_locations_are_refused_by_name(core):
    with pytest.raises(UnknownReference, match=r"^sku: unknown sku 'SOFA'$"):
        core.receive("SOFA", "dc", 1)
    with pytest.raises(UnknownReference, match=r"^location: no location with id 99$"):
        core.receive("LAMP", 99, 1)


def test_a_refused_movement_changes_nothing(core):
    core.opening("LAMP", "dc", 10)
    core.transfer_out("LAMP", "dc", "north", 2)
    before = (len(core.ledger.movements), len(core.gl.entries), core.ledger.live_balances())

    with pytest.raises(InvalidCommand):
        core.transfer_in("LAMP", "north", "dc", 5)

    after = (len(core.ledger.movements), len(core.gl.entries), core.ledger.live_balances())
    assert after == before


# -- rebuild and conservation -----------------------------------------------------------------


def run_a_busy_day(core):
    core.opening("LAMP", "dc", 20)
    core.opening("RUG", "dc", 6)
    core.opening("LAMP", "north", 5)
    core.receive("LAMP", "dc", 10, price_cents=1100)
    core.sell("LAMP", "north", 2)
    res = core.reserve("o1", "web", [OrderLine("LAMP", 3, "dc"), OrderLine("RUG", 1, "dc")])
    for rid in res.reservation_ids:
        core.ship(rid)
    core.transfer_out("LAMP", "dc", "north", 6)
    core.transfer_in("LAMP", "north", "dc", 4)
    core.transit_loss("LAMP", "north", 1)
    core.return_in("LAMP", "north", 3)
    core.dispose("LAMP", "north", 1, "restock")
    core.dispose("LAMP", "north", 1, "scrap")
    core.adjust("LAMP", "north", -1)
    core.adjust("RUG", "dc", 2)
    core.write_off("LAMP", "dc", 1)


def test_rebuilding_from_the_movement_log_gives_the_live_balances(core):
    run_a_busy_day(core)

    rebuilt = StockLedger.rebuild(core.ledger.movements)

    assert rebuilt == core.ledger.live_balances()
    assert core.ledger.rebuild_matches() == []


def test_a_live_balance_that_drifted_from_the_log_is_reported(core):
    run_a_busy_day(core)

    core.ledger.position(LAMP, NORTH).on_hand += 1

    (problem,) = core.ledger.rebuild_matches()
    assert problem.startswith(f"sku {LAMP} at location {NORTH}: live (")
    assert core.invariants()["units_conserved"] is False


def test_the_conservation_identity_terms_per_sku(core):
    run_a_busy_day(core)

    terms = core.ledger.conservation()

    # LAMP: opening 25, received 10 + 3 returns; sold 2 at the till, shipped 3,
    # scrapped 1, shrink 1 lost in transit + 1 written off + 1 counted short;
    # closing on hand dc 20+10-3-6-1 = 20, north 5-2+4+1-1 = 7, quarantine 1; 1 in transit
    assert terms[LAMP] == {
        "opening": 25,
        "received": 13,
        "sold": 2,
        "shipped": 3,
        "scrapped": 1,
        "shrink": 3,
        "closing": 28,
        "in_transit": 1,
        "ok": 1,
    }
    # RUG: opening 6, shipped 1, counted 2 over (negative shrink), 7 on hand
    assert terms[RUG] == {
        "opening": 6,
        "received": 0,
        "sold": 0,
        "shipped": 1,
        "scrapped": 0,
        "shrink": -2,
        "closing": 7,
        "in_transit": 0,
        "ok": 1,
    }
    assert core.ledger.units_conserved()


def test_flows_from_the_log_match_the_conservation_terms(core):
    run_a_busy_day(core)

    flows = core.ledger.flows(LAMP)

    assert flows == {
        k: v
        for k, v in core.ledger.conservation()[LAMP].items()
        if k not in ("closing", "in_transit", "ok")
    }


def test_a_sku_whose_units_do_not_add_up_is_flagged(core):
    core.opening("LAMP", "dc", 10)

    core.ledger.position(LAMP, DC).on_hand = 9  # a unit vanished without a movement

    assert core.ledger.conservation()[LAMP]["ok"] == 0
    assert not core.ledger.units_conserved()


# -- valuation ---------------------------------------------------------------------------------


def test_stock_is_valued_at_standard_cost_whatever_was_paid(core):
    core.receive("LAMP", "dc", 10, price_cents=1300)
    core.transfer_out("LAMP", "dc", "north", 4)
    core.return_in("RUG", "south", 2)

    assert core.ledger.valuation([1000, 2500, 300]) == {
        ("on_hand", DC, LAMP): 6 * 1000,
        ("in_transit", NORTH, LAMP): 4 * 1000,
        ("quarantined", SOUTH, RUG): 2 * 2500,
    }


def test_every_movement_is_valued_at_its_skus_standard_cost(core):
    m = core.receive("RUG", "dc", 3, price_cents=2000)

    assert m.unit_cost_cents == 2500
    assert m.price_cents == 2000
    assert m.value_cents == 7500


# -- audit trail -------------------------------------------------------------------------------


def test_a_movement_carries_event_id_event_time_recorded_time_cost_and_actor(core, clock):
    clock.set(250.0)

    m = core.receive("LAMP", "dc", 5, event_id="po-7:1", at=100.0, reason="PO 7")

    assert (m.event_id, m.at, m.recorded_at) == ("po-7:1", 100.0, 250.0)
    assert (m.kind, m.sku, m.location, m.qty) == (MovementKind.RECEIPT, LAMP, DC, 5)
    assert (m.unit_cost_cents, m.price_cents) == (1000, 1000)
    assert (m.actor, m.reason) == ("receiving", "PO 7")


def test_event_time_defaults_to_the_clock(core, clock):
    clock.set(42.0)

    m = core.opening("LAMP", "dc", 1)

    assert (m.at, m.recorded_at) == (42.0, 42.0)


def test_each_command_names_the_actor_that_changed_stock(core):
    core.opening("LAMP", "dc", 10)
    core.receive("LAMP", "dc", 1)
    core.sell("LAMP", "dc", 1)
    rid = core.reserve("o-9", "web", [OrderLine("LAMP", 1, "dc")]).reservation_ids[0]
    core.ship(rid)
    core.transfer_out("LAMP", "dc", "north", 2)
    core.transfer_in("LAMP", "north", "dc", 1)
    core.transit_loss("LAMP", "north", 1)
    core.return_in("LAMP", "dc", 1)
    core.dispose("LAMP", "dc", 1, "restock")
    core.adjust("LAMP", "dc", 1)
    core.write_off("LAMP", "dc", 1)

    assert [(m.kind, m.actor) for m in core.ledger.movements] == [
        (MovementKind.OPENING, "migration"),
        (MovementKind.RECEIPT, "receiving"),
        (MovementKind.SALE, "pos"),
        (MovementKind.SHIPMENT, "order:o-9"),
        (MovementKind.TRANSFER_OUT, "transfer"),
        (MovementKind.TRANSFER_IN, "transfer"),
        (MovementKind.TRANSIT_LOSS, "carrier"),
        (MovementKind.RETURN_IN, "returns"),
        (MovementKind.DISPOSITION, "returns"),
        (MovementKind.ADJUSTMENT, "cycle-count"),
        (MovementKind.SHRINK, "loss-prevention"),
    ]


def test_transfers_record_the_other_location(core):
    core.opening("LAMP", "dc", 10)

    out = core.transfer_out("LAMP", "dc", "north", 2)
    arrived = core.transfer_in("LAMP", "north", "dc", 2)

    assert (out.location, out.counterparty) == (DC, NORTH)
    assert (arrived.location, arrived.counterparty) == (NORTH, DC)


def test_movements_are_numbered_in_order_and_get_unique_ids_when_none_is_given(core):
    core.opening("LAMP", "dc", 10)
    core.sell("LAMP", "dc", 1)
    core.sell("LAMP", "dc", 1, event_id="till-3:88")

    moves = core.ledger.movements
    assert [m.seq for m in moves] == [0, 1, 2]
    assert len({m.event_id for m in moves}) == 3
    assert moves[2].event_id == "till-3:88"
    assert all(core.ledger.has_applied(m.event_id) for m in moves)


def test_applying_an_event_id_twice_is_counted_as_a_duplicate_application(core):
    core.receive("LAMP", "dc", 5, event_id="po-1")

    core.receive("LAMP", "dc", 5, event_id="po-1")

    assert core.ledger.duplicate_applications == 1
    assert core.invariants()["duplicate_applications"] == 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(-5, 20)), max_size=12),
    st.lists(st.integers(0, 2), unique=True, max_size=3),
    st.integers(0, 3),
)
def test_ats_of_many_skus_at_once_is_each_positions_ats(setup, skus, location):
    """`ats_at` reads what `position(sku, location).ats` reads, line by line, and creates
    the positions it reads, as `position` does."""
    ledger = StockLedger()
    for sku, loc, q in setup:  # on hand, reservations and a safety buffer, some negative
        p = ledger.position(sku, loc)
        p.on_hand += q
        p.reserved += max(0, q // 3)
        p.safety = q % 4
    got = ledger.ats_at(skus, location)
    assert got.tolist() == [ledger.position(s, location).ats for s in skus]
    assert all((s, location) in ledger.positions for s in skus)


def test_ats_at_refuses_a_negative_index():
    with pytest.raises(InvalidCommand, match="catalog indices"):
        StockLedger().ats_at([0, -1], 1)
