"""GL postings: the journal entry for each movement, batch posting, and reconciliation."""

from __future__ import annotations

import pytest

from orchestrator import (
    HOUR,
    Account,
    Difference,
    GeneralLedger,
    InvalidCommand,
    OrderLine,
)
from orchestrator.gl import JournalLine

LAMP, RUG = 0, 1  # std cost 1000c, 2500c
DC, NORTH = 0, 1
NONE = -1  # accounts not kept by location

INV = Account.INVENTORY
TRANSIT = Account.IN_TRANSIT
QUAR = Account.RETURNS_QUARANTINE
RESERVE = Account.RETURNS_RESERVE


def dr(account, location, sku, cents):
    return JournalLine(account, location, sku, cents, 0)


def cr(account, location, sku, cents):
    return JournalLine(account, location, sku, 0, cents)


def last_entry_lines(core):
    entry = core.gl.entries[-1]
    assert entry.balanced
    return list(entry.lines)


# -- the journal entry for each movement kind --------------------------------------------------


def test_an_opening_balance_is_posted_against_opening_equity(core):
    core.opening("LAMP", "dc", 10)

    assert last_entry_lines(core) == [
        dr(INV, DC, LAMP, 10_000),
        cr(Account.OPENING_EQUITY, NONE, LAMP, 10_000),
    ]


def test_a_receipt_at_standard_cost_debits_inventory_and_credits_grni(core):
    core.receive("LAMP", "dc", 5)

    assert last_entry_lines(core) == [dr(INV, DC, LAMP, 5000), cr(Account.GRNI, NONE, LAMP, 5000)]


def test_a_receipt_above_standard_cost_debits_the_difference_to_ppv(core):
    core.receive("LAMP", "dc", 5, price_cents=1100)

    assert last_entry_lines(core) == [
        dr(INV, DC, LAMP, 5000),
        cr(Account.GRNI, NONE, LAMP, 5500),
        dr(Account.PPV, NONE, LAMP, 500),
    ]


def test_a_receipt_below_standard_cost_credits_the_difference_to_ppv(core):
    core.receive("LAMP", "dc", 5, price_cents=900)

    assert last_entry_lines(core) == [
        dr(INV, DC, LAMP, 5000),
        cr(Account.GRNI, NONE, LAMP, 4500),
        cr(Account.PPV, NONE, LAMP, 500),
    ]


def test_a_receipt_price_must_be_a_whole_number_of_cents(core):
    with pytest.raises(InvalidCommand, match=r"^price_cents: must be a whole number >= 0"):
        core.receive("LAMP", "dc", 5, price_cents=-1)


def test_a_till_sale_moves_its_cost_from_inventory_to_cogs(core):
    core.opening("LAMP", "north", 5)

    core.sell("LAMP", "north", 2)

    assert last_entry_lines(core) == [
        dr(Account.COGS, NONE, LAMP, 2000),
        cr(INV, NORTH, LAMP, 2000),
    ]


def test_an_online_shipment_moves_its_cost_from_inventory_to_cogs(core):
    core.opening("RUG", "dc", 5)
    rid = core.reserve("o1", "web", [OrderLine("RUG", 2, "dc")]).reservation_ids[0]

    core.ship(rid)

    assert last_entry_lines(core) == [dr(Account.COGS, NONE, RUG, 5000), cr(INV, DC, RUG, 5000)]


def test_a_transfer_goes_through_in_transit_at_the_destination(core):
    core.opening("LAMP", "dc", 10)

    core.transfer_out("LAMP", "dc", "north", 4)
    assert last_entry_lines(core) == [dr(TRANSIT, NORTH, LAMP, 4000), cr(INV, DC, LAMP, 4000)]

    core.transfer_in("LAMP", "north", "dc", 3)
    assert last_entry_lines(core) == [dr(INV, NORTH, LAMP, 3000), cr(TRANSIT, NORTH, LAMP, 3000)]

    core.transit_loss("LAMP", "north", 1)
    assert last_entry_lines(core) == [
        dr(Account.SHRINK, NONE, LAMP, 1000),
        cr(TRANSIT, NORTH, LAMP, 1000),
    ]
    assert core.gl.account_total(TRANSIT) == 0


def test_a_return_goes_into_quarantine_against_the_returns_reserve(core):
    core.return_in("LAMP", "north", 2)

    assert last_entry_lines(core) == [dr(QUAR, NORTH, LAMP, 2000), cr(RESERVE, NONE, LAMP, 2000)]


@pytest.mark.parametrize("disposition", ["restock", "refurbish"])
def test_a_sellable_disposition_returns_the_units_to_inventory_and_reverses_cogs(core, disposition):
    core.return_in("LAMP", "north", 2)

    core.dispose("LAMP", "north", 2, disposition)

    assert last_entry_lines(core) == [
        dr(INV, NORTH, LAMP, 2000),
        cr(QUAR, NORTH, LAMP, 2000),
        dr(RESERVE, NONE, LAMP, 2000),
        cr(Account.COGS, NONE, LAMP, 2000),
    ]


def test_a_return_to_vendor_becomes_a_vendor_claim_and_reverses_cogs(core):
    core.return_in("LAMP", "north", 2)

    core.dispose("LAMP", "north", 2, "return_to_vendor")

    assert last_entry_lines(core) == [
        dr(Account.VENDOR_RECEIVABLE, NONE, LAMP, 2000),
        cr(QUAR, NORTH, LAMP, 2000),
        dr(RESERVE, NONE, LAMP, 2000),
        cr(Account.COGS, NONE, LAMP, 2000),
    ]


@pytest.mark.parametrize("disposition", ["scrap", "liquidate"])
def test_scrapping_or_liquidating_a_return_releases_the_reserve_and_the_sales_cost_stands(
    core, disposition
):
    core.return_in("LAMP", "north", 2)

    core.dispose("LAMP", "north", 1, disposition)

    assert last_entry_lines(core) == [dr(RESERVE, NONE, LAMP, 1000), cr(QUAR, NORTH, LAMP, 1000)]


def test_a_positive_adjustment_debits_inventory_and_credits_shrink(core):
    core.opening("LAMP", "dc", 10)

    core.adjust("LAMP", "dc", 2)

    assert last_entry_lines(core) == [dr(INV, DC, LAMP, 2000), cr(Account.SHRINK, NONE, LAMP, 2000)]


def test_a_negative_adjustment_credits_inventory_and_debits_shrink(core):
    core.opening("LAMP", "dc", 10)

    core.adjust("LAMP", "dc", -3)

    assert last_entry_lines(core) == [cr(INV, DC, LAMP, 3000), dr(Account.SHRINK, NONE, LAMP, 3000)]


def test_shrink_debits_the_shrink_account_and_credits_inventory(core):
    core.opening("LAMP", "north", 5)

    core.write_off("LAMP", "north", 1)

    assert last_entry_lines(core) == [
        dr(Account.SHRINK, NONE, LAMP, 1000),
        cr(INV, NORTH, LAMP, 1000),
    ]


def run_every_kind_of_movement(core):
    core.opening("LAMP", "dc", 20)
    core.opening("RUG", "dc", 4)
    core.receive("LAMP", "dc", 10, price_cents=1234)
    core.receive("RUG", "dc", 2, price_cents=2100)
    core.sell("LAMP", "dc", 2)
    for rid in core.reserve(
        "o1", "web", [OrderLine("LAMP", 3, "dc"), OrderLine("RUG", 1, "dc")]
    ).reservation_ids:
        core.ship(rid)
    core.transfer_out("LAMP", "dc", "north", 6)
    core.transfer_in("LAMP", "north", "dc", 4)
    core.transit_loss("LAMP", "north", 1)
    core.return_in("LAMP", "north", 5)
    for d in ("restock", "refurbish", "return_to_vendor", "liquidate", "scrap"):
        core.dispose("LAMP", "north", 1, d)
    core.adjust("LAMP", "dc", -2)
    core.adjust("RUG", "dc", 1)
    core.write_off("LAMP", "north", 1)


def test_every_entry_is_balanced_and_the_trial_balance_is_zero(core):
    run_every_kind_of_movement(core)

    assert len(core.gl.entries) == len(core.ledger.movements)
    assert all(e.balanced for e in core.gl.entries)
    assert core.gl.all_balanced()
    assert core.gl.trial_balance_zero()
    assert core.invariants()["gl_balanced"] is True


def test_an_entry_is_traced_to_its_movement(core, clock):
    clock.set(500.0)

    m = core.receive("LAMP", "dc", 1, event_id="po-3", at=400.0)

    e = core.gl.entries[-1]
    assert (e.movement_seq, e.event_id, e.movement_at, e.created_at) == (
        m.seq,
        "po-3",
        400.0,
        500.0,
    )


def test_an_unbalanced_entry_is_detected(core):
    core.receive("LAMP", "dc", 1, price_cents=900)  # with price variance: entry of lines
    assert core.gl.all_balanced()

    core.gl.entries[-1].lines = (dr(INV, DC, LAMP, 1000),)

    assert not core.gl.all_balanced()


# -- posting modes -----------------------------------------------------------------------------


def test_immediate_mode_posts_each_entry_when_the_movement_is_recorded(core, clock):
    clock.set(3 * HOUR)

    core.opening("LAMP", "dc", 1)

    assert core.gl.entries[-1].posted_at == 3 * HOUR
    assert core.gl.unposted == 0
    assert core.gl.posting_delays() == [0.0]


def test_in_batch_mode_an_entry_waits_for_the_next_run(make_core, clock):
    core = make_core(gl=GeneralLedger(mode="batch", batch_every_h=4))
    clock.set(1 * HOUR)
    core.opening("LAMP", "dc", 10)

    clock.set(3.9 * HOUR)
    assert core.post_due() == 0
    assert core.gl.unposted == 1
    assert core.gl.balances == {}

    clock.set(4 * HOUR)
    assert core.post_due() == 1
    assert core.gl.unposted == 0
    assert core.gl.entries[0].posted_at == 4 * HOUR
    assert core.gl.posting_delays() == [3 * HOUR]
    assert core.gl.balances[(INV, DC, LAMP)] == 10_000


def test_batch_runs_repeat_every_n_hours(make_core, clock):
    core = make_core(gl=GeneralLedger(mode="batch", batch_every_h=4))
    clock.set(1 * HOUR)
    core.opening("LAMP", "dc", 10)
    clock.set(4 * HOUR)
    core.post_due()

    clock.set(5 * HOUR)
    core.sell("LAMP", "dc", 1)
    clock.set(8 * HOUR)
    core.post_due()

    assert [e.posted_at for e in core.gl.entries] == [4 * HOUR, 8 * HOUR]
    assert core.gl.posting_delays() == [3 * HOUR, 3 * HOUR]
    assert core.gl.next_run == 12 * HOUR
    assert core.next_due() == 12 * HOUR


def test_a_late_poll_posts_each_entry_at_the_first_run_after_it_was_recorded(make_core, clock):
    core = make_core(gl=GeneralLedger(mode="batch", batch_every_h=4))
    clock.set(1 * HOUR)
    core.opening("LAMP", "dc", 10)
    clock.set(5 * HOUR)
    core.sell("LAMP", "dc", 1)

    clock.set(9 * HOUR)  # the 4 h and 8 h runs are both overdue
    assert core.post_due() == 2

    assert [e.posted_at for e in core.gl.entries] == [4 * HOUR, 8 * HOUR]
    assert all(d >= 0 for d in core.gl.posting_delays())
    assert core.gl.next_run == 12 * HOUR


def test_the_nightly_batch_runs_at_its_hour(make_core, clock):
    core = make_core(gl=GeneralLedger(mode="batch", nightly_at_h=2))
    assert core.gl.next_run == 2 * HOUR

    clock.set(3 * HOUR)
    core.opening("LAMP", "dc", 10)  # just missed tonight's run
    clock.set(25 * HOUR)
    assert core.post_due() == 0

    clock.set(26 * HOUR)
    assert core.post_due() == 1
    assert core.gl.entries[0].posted_at == 26 * HOUR
    assert core.gl.posting_delays() == [23 * HOUR]
    assert core.gl.next_run == 50 * HOUR


def test_the_first_nightly_run_is_tomorrow_when_the_hour_has_passed_today():
    gl = GeneralLedger(mode="batch", nightly_at_h=2, start=5 * HOUR)

    assert gl.next_run == 26 * HOUR


def test_the_posting_delay_runs_from_event_time_not_from_when_the_core_heard_of_it(
    make_core, clock
):
    core = make_core(gl=GeneralLedger(mode="batch", batch_every_h=4))
    clock.set(1 * HOUR)
    core.sell("LAMP", "dc", 1, at=0.0)  # the till event arrived an hour late

    clock.set(4 * HOUR)
    core.post_due()

    assert core.gl.posting_delays() == [4 * HOUR]


def test_flushing_posts_everything_pending_now(make_core, clock):
    core = make_core(gl=GeneralLedger(mode="batch", nightly_at_h=2))
    clock.set(3 * HOUR)
    core.opening("LAMP", "dc", 10)
    core.sell("LAMP", "dc", 1)

    clock.set(10 * HOUR)
    assert core.flush_postings() == 2

    assert [e.posted_at for e in core.gl.entries] == [10 * HOUR, 10 * HOUR]
    assert core.gl.unposted == 0


# -- reconciliation ----------------------------------------------------------------------------


def test_after_flushing_the_gl_reconciles_to_the_ledger(make_core, clock):
    core = make_core(gl=GeneralLedger(mode="batch", batch_every_h=24))
    run_every_kind_of_movement(core)

    core.flush_postings()

    assert core.reconcile() == []
    assert core.invariants()["gl_reconciled"] is True


def test_pending_postings_show_as_differences_unless_counted(make_core):
    core = make_core(gl=GeneralLedger(mode="batch", batch_every_h=24))
    core.opening("LAMP", "dc", 10)

    assert core.reconcile() == [Difference(INV, DC, LAMP, gl_cents=0, ledger_cents=10_000)]
    assert core.reconcile(include_pending=True) == []


def test_a_tampered_gl_balance_is_listed_by_account_location_and_sku(core):
    run_every_kind_of_movement(core)
    ledger_value = core.ledger.position(LAMP, DC).on_hand * 1000

    core.gl.balances[(INV, DC, LAMP)] += 100

    (diff,) = core.reconcile()
    assert (diff.account, diff.location, diff.sku, diff.delta_cents) == (INV, DC, LAMP, 100)
    assert (diff.gl_cents, diff.ledger_cents) == (ledger_value + 100, ledger_value)
    assert str(diff) == (
        f"1400 Inventory loc {DC} sku {LAMP}:"
        f" GL {ledger_value + 100} vs ledger {ledger_value} (+100)"
    )
    assert core.invariants()["gl_reconciled"] is False


def test_a_bogus_gl_balance_the_ledger_knows_nothing_of_is_listed(core):
    run_every_kind_of_movement(core)

    core.gl.balances[(TRANSIT, DC, RUG)] = 7500

    assert core.reconcile() == [Difference(TRANSIT, DC, RUG, gl_cents=7500, ledger_cents=0)]


def test_stock_missing_from_the_gl_is_listed_with_a_negative_delta(core):
    core.return_in("RUG", "north", 2)

    del core.gl.balances[(QUAR, NORTH, RUG)]

    (diff,) = core.reconcile()
    assert (diff.account, diff.location, diff.sku, diff.delta_cents) == (QUAR, NORTH, RUG, -5000)


def test_accounts_outside_inventory_are_not_reconciled_against_stock(core):
    core.opening("LAMP", "dc", 1)

    core.gl.balances[(Account.COGS, NONE, LAMP)] = 999

    assert core.reconcile() == []


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "weekly"}, r"^posting\.mode: must be 'immediate' or 'batch', got 'weekly'$"),
        ({"mode": "batch"}, r"^posting: batch mode needs exactly one of batch_every_h or"),
        (
            {"mode": "batch", "batch_every_h": 4, "nightly_at_h": 2},
            r"^posting: batch mode needs exactly one of batch_every_h or nightly_at_h$",
        ),
        ({"mode": "batch", "batch_every_h": 0}, r"^posting\.batch_every_h: must be > 0, got 0$"),
        ({"mode": "batch", "batch_every_h": -2}, r"^posting\.batch_every_h: must be > 0"),
        ({"mode": "batch", "nightly_at_h": 24}, r"^posting\.nightly_at_h: must be within 0\.\.24"),
        ({"mode": "batch", "nightly_at_h": -1}, r"^posting\.nightly_at_h: must be within"),
    ],
)
def test_invalid_posting_settings_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(InvalidCommand, match=message):
        GeneralLedger(**kwargs)
