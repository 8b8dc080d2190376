"""Postings through the integration path to the ERP, and finance's close: what keeps the GL
from the ledger at a close (variances awaiting approval, rejected, doubled or late
postings), found after the period's postings and worked by hand."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from orchestrator import HOUR, Account, Fate, GeneralLedger, InvalidCommand, Mismatch

LAMP, RUG = 0, 1  # std cost 1000c, 2500c
DC, NORTH = 0, 1
INV = Account.INVENTORY


class ScriptedPath:
    """An ERP that answers `latency_s` after each send, with the scripted fates in turn
    (then POSTED); records every send."""

    def __init__(self, latency_s: float = 3.0, fates: Sequence[Fate] = ()) -> None:
        self.latency_s = latency_s
        self.fates = list(fates)
        self.sent: list[tuple[float, int]] = []

    def send(self, now: float, n: int) -> list[tuple[float, Fate]]:
        self.sent.append((now, n))
        out = []
        for _ in range(n):
            fate = self.fates.pop(0) if self.fates else Fate.POSTED
            out.append((now + self.latency_s, fate))
        return out


def test_through_a_path_an_entry_posts_when_the_erp_answers(make_core, clock):
    core = make_core(gl=GeneralLedger(path=ScriptedPath(latency_s=3.0)))
    clock.set(10 * HOUR)
    core.opening("LAMP", "dc", 5)

    assert core.gl.unposted == 1 and core.gl.balances == {}  # on its way
    clock.set(10 * HOUR + 2.9)
    core.poll()
    assert core.gl.unposted == 1
    clock.set(10 * HOUR + 3.0)
    core.poll()
    assert core.gl.unposted == 0
    assert core.gl.entries[0].posted_at == 10 * HOUR + 3.0
    assert core.gl.posting_delays() == [3.0]
    assert core.reconcile() == []


def test_a_batch_run_sends_the_journal_and_each_entry_posts_when_the_erp_answers(make_core, clock):
    path = ScriptedPath(latency_s=2.0)
    core = make_core(gl=GeneralLedger(mode="batch", nightly_at_h=2, path=path))
    clock.set(1 * HOUR)
    core.opening("LAMP", "dc", 5)
    core.sell("LAMP", "dc", 1)

    clock.set(3 * HOUR)
    core.poll()

    assert path.sent == [(2 * HOUR, 2)]
    assert [e.posted_at for e in core.gl.entries] == [2 * HOUR + 2.0] * 2


def test_a_rejected_posting_waits_raises_a_failed_posting_and_is_reposted_at_the_close(
    make_core, clock
):
    core = make_core(gl=GeneralLedger(path=ScriptedPath(fates=[Fate.REJECTED])))
    core.opening("LAMP", "dc", 5)
    clock.set(1 * HOUR)
    core.poll()

    assert core.gl.rejected == [core.gl.entries[0]] and core.gl.unposted == 1
    (exc,) = core.exceptions.open()
    assert (exc.kind, exc.subject) == ("failed_posting", "journal:0")
    assert core.reconcile() != []  # the GL lacks it

    found = core.close_period()

    assert found == [Mismatch("failed_posting", INV, DC, 0)]
    assert core.gl.entries[0].posted_at == 1 * HOUR  # by hand, at the close
    assert core.reconcile() == [] and core.exceptions.open() == []
    assert core.gl.corrections == [(1 * HOUR, "reposted", 0)]
    assert core.close_period() == []  # worked once


def test_a_posting_the_erp_posted_twice_is_found_at_the_close_and_reversed(make_core, clock):
    core = make_core(gl=GeneralLedger(path=ScriptedPath(fates=[Fate.POSTED, Fate.DUPLICATED])))
    core.opening("LAMP", "dc", 5)
    core.sell("LAMP", "dc", 2)
    clock.set(1 * HOUR)
    core.poll()

    (diff,) = core.reconcile()
    assert diff.delta_cents == -2000  # the sale's cost taken out of inventory twice

    assert core.close_period() == [Mismatch("duplicate_posting", INV, DC, 1)]
    assert core.reconcile() == []
    assert core.gl.all_balanced() and core.gl.trial_balance_zero()


def test_a_variance_over_the_auto_approval_limit_waits_for_finance_and_under_it_posts(
    make_core, clock
):
    core = make_core(gl=GeneralLedger(auto_approve_max_cents=2000))
    core.opening("LAMP", "dc", 10)
    core.adjust("LAMP", "dc", -2)  # 2000c: within the rules
    core.write_off("LAMP", "north", 3)  # 3000c: a person approves it
    core.adjust("RUG", "dc", 1)  # 2500c: a person approves it

    assert [e.id for e in core.gl.parked] == [2, 3]
    assert core.gl.unposted == 2 and core.reconcile() != []

    clock.set(18 * HOUR)
    found = core.close_period()

    assert found == [Mismatch("write_off", INV, NORTH, 2), Mismatch("count_adjustment", INV, DC, 3)]
    assert core.gl.parked == [] and core.reconcile() == []
    assert [e.posted_at for e in core.gl.entries] == [0.0, 0.0, 18 * HOUR, 18 * HOUR]


def test_without_a_limit_no_variance_waits(core):
    core.opening("LAMP", "dc", 10)
    core.adjust("LAMP", "dc", -9)
    assert core.gl.parked == [] and core.gl.unposted == 0


def test_a_receipt_short_of_what_shipped_is_a_receiving_variance(make_core, clock):
    core = make_core(gl=GeneralLedger(auto_approve_max_cents=0))
    core.opening("LAMP", "dc", 10)
    core.transfer_out("LAMP", "dc", "north", 4)
    core.transfer_in("LAMP", "north", "dc", 3)
    core.transit_loss("LAMP", "north", 1)

    assert core.close_period() == [Mismatch("receiving", Account.IN_TRANSIT, NORTH, 3)]


def test_a_batch_close_reconciles_up_to_the_last_run_not_what_the_next_run_will_post(
    make_core, clock
):
    gl = GeneralLedger(mode="batch", nightly_at_h=2, path=ScriptedPath(), auto_approve_max_cents=0)
    core = make_core(gl=gl)
    clock.set(1 * HOUR)
    core.opening("LAMP", "dc", 10)
    clock.set(3 * HOUR)
    core.poll()  # the 02:00 run
    clock.set(9 * HOUR)
    core.sell("LAMP", "dc", 1)  # today's movements: tonight's run posts them
    core.adjust("LAMP", "north", 2)  # a variance of today: tomorrow's close

    clock.set(18 * HOUR)
    assert core.gl.cutoff(clock.now()) == 2 * HOUR
    assert core.close_period() == []  # the timetable is not a discrepancy
    assert core.gl.unposted == 2

    clock.set(26.5 * HOUR)
    core.poll()  # the next night's run posts the sale
    clock.set(42 * HOUR)
    assert core.close_period() == [Mismatch("count_adjustment", INV, NORTH, 2)]
    clock.set(50.5 * HOUR)
    core.poll()  # approved yesterday, posted in the following run
    assert core.gl.unposted == 0 and core.reconcile() == []


def test_a_posting_still_on_its_way_at_the_close_is_late_for_the_period(make_core, clock):
    core = make_core(gl=GeneralLedger(path=ScriptedPath(latency_s=5.0)))
    clock.set(18 * HOUR - 2.0)
    core.opening("LAMP", "north", 3)

    clock.set(18 * HOUR)
    assert core.close_period() == [Mismatch("late_posting", INV, NORTH, 0)]
    clock.set(18 * HOUR + 3.0)
    core.poll()
    assert core.close_period() == []  # it arrived: nothing for the next close


def test_mismatches_name_each_inventory_line_an_entry_touches(make_core, clock):
    core = make_core(gl=GeneralLedger(path=ScriptedPath(fates=[Fate.POSTED, Fate.REJECTED])))
    core.opening("LAMP", "dc", 10)
    core.transfer_out("LAMP", "dc", "north", 4)  # inventory at the DC, in transit at north
    clock.set(1 * HOUR)
    assert core.close_period() == [
        Mismatch("failed_posting", INV, DC, 1),
        Mismatch("failed_posting", Account.IN_TRANSIT, NORTH, 1),
    ]


def test_the_auto_approval_limit_must_not_be_negative():
    with pytest.raises(InvalidCommand, match="auto_approve_max_cents"):
        GeneralLedger(auto_approve_max_cents=-1)
