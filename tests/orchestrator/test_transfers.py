"""Transfers: approval by versioned rules with humans above thresholds, shipping, receiving,
overdue approvals and the stock-balancing job."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import (
    Catalog,
    InvalidCommand,
    InvalidTransition,
    ManualClock,
    MovementKind,
    Orchestrator,
    OrderLine,
)
from orchestrator.transfers import (
    DEFAULT_BALANCING_RULE,
    TransferProposal,
    TransferState,
    TransferWorkflow,
)

HOUR = 3600.0

# sku TEE costs 10.00 (50 units = 500.00, within the default auto limits);
# sku TV costs 400.00 (7 units = 2,800.00, above auto_max_value_cents 250,000).
TEE_COST = 1_000
TV_COST = 40_000


def make_core() -> tuple[Orchestrator, ManualClock]:
    cat = Catalog()
    cat.add_sku("TEE", TEE_COST)
    cat.add_sku("TV", TV_COST)
    cat.add_location("DC1", "dc", "north")
    cat.add_location("N1", "store", "north")
    cat.add_location("N2", "store", "north")
    cat.add_location("N3", "store", "north")
    cat.add_location("S1", "store", "south")
    cat.add_location("S2", "store", "south")
    cat.add_channel("web", "web")
    clock = ManualClock()
    return Orchestrator(cat, clock), clock


@pytest.fixture
def env() -> tuple[Orchestrator, ManualClock, TransferWorkflow]:
    core, clock = make_core()
    core.opening("TEE", "DC1", 500)
    core.opening("TV", "DC1", 40)
    return core, clock, TransferWorkflow(core)


# -- timelines -----------------------------------------------------------------------------


def test_a_small_transfer_is_approved_by_rule_shipped_and_received_on_the_timeline(env):
    core, clock, wf = env
    t = wf.request("TEE", "DC1", "N1", 20, reason="replenish N1", requested_by="planner:1")
    assert t.state is TransferState.APPROVED
    assert t.value_cents == 20 * TEE_COST
    clock.set(HOUR)
    wf.ship(t.id)
    assert core.position("TEE", "N1").in_transit == 20
    assert core.position("TEE", "DC1").on_hand == 480
    clock.set(25 * HOUR)
    wf.receive(t.id)

    assert core.log.steps("transfer:0") == [
        (0.0, "transfer.requested"),
        (0.0, "transfer.approved"),
        (3600.0, "transfer.shipped"),
        (90000.0, "transfer.received"),
    ]
    assert t.state is TransferState.RECEIVED
    assert t.decided_by == "rule" and t.rule == "transfer_approval@v1"
    assert core.position("TEE", "N1").on_hand == 20
    assert core.position("TEE", "N1").in_transit == 0
    assert wf.approval_times_h() == [0.0]
    assert wf.cycle_times_h() == [25.0]
    [d] = core.audit.of("transfer.approved")
    assert (d.subject, d.rule, d.actor) == ("transfer:0", "transfer_approval@v1", "rule")


def test_a_large_transfer_waits_for_a_human_goes_overdue_escalates_and_resolves(env):
    core, clock, wf = env
    t = wf.request("TV", "DC1", "N2", 7)  # 280,000 cents > 250,000
    assert t.state is TransferState.PENDING_APPROVAL
    assert wf.pending_approvals() == [t]
    assert wf.next_due() == 4 * HOUR  # approval_sla_h of transfer_approval@v1

    clock.set(3 * HOUR)
    assert wf.poll() == []
    clock.set(4 * HOUR)
    assert wf.poll() == [t]
    [ex] = core.exceptions.open()
    assert (ex.kind, ex.subject, ex.opened_at) == ("approval_overdue", "transfer:0", 4 * HOUR)
    assert wf.next_due() is None
    assert wf.poll() == []  # raised once only

    clock.set(12 * HOUR)  # approval_overdue SLA is 8 h in exception_sla@v1
    [escalated] = core.exceptions.poll()
    assert escalated is ex and ex.level == 1 and ex.escalations == [12 * HOUR]

    clock.set(13 * HOUR)
    wf.decide(t.id, True, "maria", reason="store launch")
    assert not ex.is_open and ex.resolved_at == 13 * HOUR and ex.resolved_by == "approver:maria"
    assert wf.pending_approvals() == []
    clock.set(14 * HOUR)
    wf.ship(t.id)
    clock.set(40 * HOUR)
    wf.receive(t.id)

    assert core.log.steps("transfer:0") == [
        (0.0, "transfer.requested"),
        (0.0, "transfer.pending_approval"),
        (4 * HOUR, "transfer.approval_overdue"),
        (13 * HOUR, "transfer.approved"),
        (14 * HOUR, "transfer.shipped"),
        (40 * HOUR, "transfer.received"),
    ]
    assert t.decided_by == "approver:maria" and t.decision_reason == "store launch"
    assert wf.approval_times_h() == [13.0]
    assert wf.cycle_times_h() == [40.0]
    [d] = core.audit.of("transfer.approved", "transfer:0")
    assert (d.actor, d.rule) == ("approver:maria", "transfer_approval@v1")
    [routed] = core.audit.of("transfer.pending_approval")
    assert "auto_max_value_cents" in routed.reason and routed.actor == "rule"


def test_a_human_rejection_closes_the_transfer_without_moving_stock(env):
    core, clock, wf = env
    t = wf.request("TEE", "DC1", "N1", 60)  # 60 units > auto_max_units 50
    clock.set(2 * HOUR)
    wf.decide(t.id, False, "li", reason="not needed")
    assert t.state is TransferState.REJECTED
    assert core.log.steps("transfer:0")[-1] == (2 * HOUR, "transfer.rejected")
    assert wf.approval_times_h() == [2.0]
    assert core.position("TEE", "DC1").on_hand == 500
    with pytest.raises(InvalidTransition, match="only an approved transfer can ship"):
        wf.ship(t.id)


def test_the_approver_queue_is_ordered_oldest_first(env):
    _core, clock, wf = env
    a = wf.request("TV", "DC1", "N1", 7)
    clock.set(HOUR)
    b = wf.request("TEE", "DC1", "N2", 51)
    wf.request("TEE", "DC1", "N3", 5)  # auto-approved, not in the queue
    clock.set(2 * HOUR)
    c = wf.request("TV", "DC1", "S1", 8)
    assert [t.id for t in wf.pending_approvals()] == [a.id, b.id, c.id]


def test_a_short_receipt_posts_the_missing_units_as_transit_loss(env):
    core, clock, wf = env
    t = wf.request("TEE", "DC1", "N1", 30)
    wf.ship(t.id)
    clock.set(10 * HOUR)
    wf.receive(t.id, qty=27)
    assert (t.received_qty, t.lost_qty) == (27, 3)
    pos = core.position("TEE", "N1")
    assert (pos.on_hand, pos.in_transit) == (27, 0)
    kinds = [(m.kind, m.qty) for m in core.ledger.movements if m.event_id.startswith("transfer:")]
    assert kinds == [
        (MovementKind.TRANSFER_OUT, 30),
        (MovementKind.TRANSFER_IN, 27),
        (MovementKind.TRANSIT_LOSS, 3),
    ]
    assert core.invariants()["units_conserved"] and core.invariants()["gl_reconciled"]


def test_shipping_rechecks_the_source_and_rejects_when_the_stock_is_gone(env):
    core, clock, wf = env
    core.opening("TEE", "N1", 10)
    t = wf.request("TEE", "N1", "N2", 8)
    assert t.state is TransferState.APPROVED
    clock.set(HOUR)
    core.sell("TEE", "N1", 5)
    with pytest.raises(InvalidTransition, match="only 5 available, 8 requested"):
        wf.ship(t.id)
    assert t.state is TransferState.REJECTED
    assert core.position("TEE", "N1").on_hand == 5
    assert core.log.steps("transfer:0")[-1] == (HOUR, "transfer.rejected")


def test_reserved_stock_at_the_source_cannot_be_shipped_away(env):
    core, _clock, wf = env
    core.opening("TEE", "N1", 10)
    t = wf.request("TEE", "N1", "N2", 6)
    core.reserve("o1", "web", [OrderLine("TEE", 6, "N1")])
    with pytest.raises(InvalidTransition, match="only 4 available"):
        wf.ship(t.id)
    assert core.invariants()["negative_available"] == 0


def test_a_cancelled_pending_transfer_resolves_its_overdue_exception(env):
    core, clock, wf = env
    t = wf.request("TV", "DC1", "N1", 7)
    clock.set(5 * HOUR)
    wf.poll()
    wf.cancel(t.id, actor="planner:2", reason="duplicate")
    assert t.state is TransferState.CANCELLED
    assert core.exceptions.open() == []
    assert core.log.steps("transfer:0")[-1] == (5 * HOUR, "transfer.cancelled")
    with pytest.raises(InvalidTransition, match="cannot cancel a cancelled"):
        wf.cancel(t.id)


# -- rules -----------------------------------------------------------------------------------


def test_a_transfer_requested_after_a_new_rule_version_is_decided_under_it(env):
    core, clock, wf = env
    core.rules.publish(
        "transfer_approval",
        {
            "auto_max_units": 10,
            "auto_max_value_cents": 1_000_000,
            "protect_source_units": 0,
            "approval_sla_h": 2.0,
        },
        effective_from=10 * HOUR,
        author="ops-director",
    )
    before = wf.request("TEE", "DC1", "N1", 20)
    clock.set(10 * HOUR)
    after = wf.request("TEE", "DC1", "N2", 20)
    assert (before.state, before.rule) == (TransferState.APPROVED, "transfer_approval@v1")
    assert (after.state, after.rule) == (TransferState.PENDING_APPROVAL, "transfer_approval@v2")
    assert wf.next_due() == 12 * HOUR  # v2's approval SLA
    wf.decide(after.id, True, "sam")
    [d] = core.audit.of("transfer.approved", "transfer:1")
    assert d.rule == "transfer_approval@v2"


def test_a_transfer_that_would_breach_the_source_protection_is_rejected_by_rule(env):
    core, _clock, wf = env
    core.rules.publish(
        "transfer_approval",
        {
            "auto_max_units": 50,
            "auto_max_value_cents": 250_000,
            "protect_source_units": 5,
            "approval_sla_h": 4.0,
        },
    )
    core.opening("TEE", "N1", 12)
    t = wf.request("TEE", "N1", "N2", 8)
    assert t.state is TransferState.REJECTED
    assert t.decided_by == "rule" and t.rule == "transfer_approval@v2"
    assert "below protect_source_units 5" in t.decision_reason
    [d] = core.audit.of("transfer.rejected")
    assert (d.actor, d.rule, d.subject) == ("rule", "transfer_approval@v2", "transfer:0")
    assert core.log.steps("transfer:0") == [(0.0, "transfer.requested"), (0.0, "transfer.rejected")]
    assert wf.request("TEE", "N1", "N2", 7).state is TransferState.APPROVED


def test_a_transfer_for_more_than_the_source_has_is_rejected_even_above_thresholds(env):
    _core, _clock, wf = env
    t = wf.request("TV", "DC1", "N1", 41)  # DC1 has 40 TVs; above the value limit too
    assert t.state is TransferState.REJECTED
    assert "only 40 available, 41 requested" in t.decision_reason
    assert wf.pending_approvals() == []


def test_units_promised_to_open_transfers_cannot_be_requested_again(env):
    core, _clock, wf = env
    core.opening("TEE", "N1", 12)
    first = wf.request("TEE", "N1", "N2", 7)
    second = wf.request("TEE", "N1", "N3", 8)
    assert first.state is TransferState.APPROVED
    assert second.state is TransferState.REJECTED
    assert "less 7 promised to open transfers) has only 5 available, 8 requested" in (
        second.decision_reason
    )
    wf.cancel(first.id)
    assert wf.committed(0, 1) == 0
    assert wf.request("TEE", "N1", "N3", 8).state is TransferState.APPROVED


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("qty", [0, -3, 2.5, True])
def test_a_request_needs_a_positive_whole_quantity(env, qty):
    _core, _clock, wf = env
    with pytest.raises(InvalidCommand, match="qty: must be a whole number > 0"):
        wf.request("TEE", "DC1", "N1", qty)


def test_a_request_needs_different_source_and_destination(env):
    _core, _clock, wf = env
    with pytest.raises(InvalidCommand, match="destination: must differ from source"):
        wf.request("TEE", "N1", "N1", 3)


def test_an_unknown_transfer_id_is_named_in_the_error(env):
    _core, _clock, wf = env
    with pytest.raises(InvalidCommand, match="transfer_id: no transfer 7"):
        wf.ship(7)


def test_deciding_an_auto_approved_transfer_is_an_invalid_transition(env):
    _core, _clock, wf = env
    t = wf.request("TEE", "DC1", "N1", 3)
    with pytest.raises(InvalidTransition, match="only a pending_approval transfer"):
        wf.decide(t.id, True, "maria")


def test_receiving_needs_a_shipped_transfer_and_at_most_the_shipped_quantity(env):
    _core, _clock, wf = env
    t = wf.request("TEE", "DC1", "N1", 3)
    with pytest.raises(InvalidTransition, match="only a shipped transfer"):
        wf.receive(t.id)
    wf.ship(t.id)
    with pytest.raises(InvalidCommand, match=r"qty: must be a whole number within 0\.\.3"):
        wf.receive(t.id, qty=4)


# -- balancing -------------------------------------------------------------------------------


def test_balancing_rule_defaults_are_published_once_as_v1(env):
    core, _clock, wf = env
    TransferWorkflow(core)
    [v1] = core.rules.history("stock_balancing")
    assert v1.ref == "stock_balancing@v1" and dict(v1.params) == DEFAULT_BALANCING_RULE
    assert wf.core is core


def test_balancing_moves_surplus_to_deficit_within_a_region_only(env):
    core, _clock, wf = env
    # defaults: lower 3, target 8, upper 20, min move 2
    core.opening("TEE", "N1", 30)  # surplus 22
    core.opening("TEE", "N2", 1)  # deficit 7
    core.opening("TEE", "N3", 6)  # fine
    core.opening("TEE", "S1", 2)  # deficit 6, but in the south
    core.opening("TEE", "S2", 25)  # surplus 17 in the south
    north = wf.propose_balancing("TEE", "north")
    assert [(p.source, p.destination, p.qty) for p in north] == [(1, 2, 7)]
    assert north[0].rule == "stock_balancing@v1" and "N1 projects 30" in north[0].reason
    everywhere = wf.propose_balancing("TEE")
    assert [(p.source, p.destination, p.qty) for p in everywhere] == [(1, 2, 7), (5, 4, 6)]


def test_balancing_never_moves_more_than_surplus_or_deficit(env):
    core, _clock, wf = env
    core.opening("TEE", "N1", 22)  # surplus 14
    core.opening("TEE", "N3", 24)  # surplus 16
    # N2 has 0: deficit 8
    proposals = wf.propose_balancing("TEE", "north")
    assert [(p.source, p.destination, p.qty) for p in proposals] == [(3, 2, 8)]
    core.opening("TV", "N1", 21)  # surplus 13; N2 and N3 each short of 8
    proposals = wf.propose_balancing("TV", "north")
    assert [(p.source, p.destination, p.qty) for p in proposals] == [(1, 2, 8), (1, 3, 5)]


def test_balancing_proposals_become_requests_and_are_not_proposed_twice(env):
    core, _clock, wf = env
    core.opening("TEE", "N1", 30)
    proposals = wf.propose_balancing("TEE", "north")
    assert proposals == [
        TransferProposal(0, 1, 2, 8, proposals[0].reason, "stock_balancing@v1"),
        TransferProposal(0, 1, 3, 8, proposals[1].reason, "stock_balancing@v1"),
    ]
    transfers = wf.request_proposals(proposals)
    assert [t.state for t in transfers] == [TransferState.APPROVED] * 2
    assert transfers[0].requested_by == "balancing"
    assert "stock_balancing@v1" in transfers[0].reason
    assert wf.propose_balancing("TEE", "north") == []  # the open transfer counts


# -- properties ------------------------------------------------------------------------------

QUICK = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # keeps the file well under 10 s


@QUICK
@given(
    max_units=st.integers(0, 60),
    max_value=st.integers(0, 400_000),
    requests=st.lists(
        st.tuples(st.sampled_from(["TEE", "TV"]), st.integers(1, 45), st.booleans()),
        min_size=1,
        max_size=12,
    ),
)
def test_no_transfer_above_a_threshold_is_approved_without_a_human(max_units, max_value, requests):
    core, clock = make_core()
    core.rules.publish(
        "transfer_approval",
        {
            "auto_max_units": max_units,
            "auto_max_value_cents": max_value,
            "protect_source_units": 0,
            "approval_sla_h": 1.0,
        },
    )
    core.opening("TEE", "DC1", 10_000)
    core.opening("TV", "DC1", 10_000)
    wf = TransferWorkflow(core)
    for sku, qty, approve in requests:
        clock.advance(600.0)
        t = wf.request(sku, "DC1", "N1", qty)
        if t.state is TransferState.PENDING_APPROVAL:
            clock.advance(1800.0)
            wf.poll()
            wf.decide(t.id, approve, "p")
    for t in wf.transfers:
        within = t.qty <= max_units and t.value_cents <= max_value
        assert t.decided
        if t.state is TransferState.APPROVED:
            assert within or t.decided_by == "approver:p"
            assert t.decided_by == ("rule" if within else "approver:p")
    for d in core.audit.of("transfer.approved"):
        t = wf.transfers[int(d.subject.split(":")[1])]
        if d.actor == "rule":
            assert t.qty <= max_units and t.value_cents <= max_value
        assert d.rule == "transfer_approval@v2"


OPEN_STATES = {TransferState.PENDING_APPROVAL, TransferState.APPROVED}
MOVABLE = {TransferState.PENDING_APPROVAL, TransferState.APPROVED, TransferState.SHIPPED}
SKUS = ["TEE", "TV"]
LOCS = ["DC1", "N1", "N2", "S1"]
op = st.one_of(
    st.tuples(
        st.just("request"),
        st.sampled_from(SKUS),
        st.sampled_from(LOCS),
        st.sampled_from(LOCS),
        st.integers(1, 60),
    ),
    st.tuples(st.just("step"), st.integers(0, 30), st.booleans(), st.integers(0, 4)),
    st.tuples(st.just("step"), st.integers(0, 30), st.booleans(), st.just(4)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("sell"), st.sampled_from(SKUS), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("reserve"), st.sampled_from(SKUS), st.sampled_from(LOCS), st.integers(1, 20)),
    st.tuples(st.just("advance"), st.floats(0.0, 10 * HOUR)),
    st.tuples(st.just("balance"), st.sampled_from(SKUS)),
)


@QUICK
@given(ops=st.lists(op, min_size=5, max_size=40))
def test_random_transfer_sequences_keep_every_invariant(ops):
    core, clock = make_core()
    for sku in SKUS:
        core.opening(sku, "DC1", 200)
        core.opening(sku, "N1", 30)
        core.opening(sku, "S1", 10)
    wf = TransferWorkflow(core)
    n_orders = 0
    for o in ops:
        kind = o[0]
        if kind == "request":
            _, sku, src, dst, qty = o
            if src == dst:
                with pytest.raises(InvalidCommand):
                    wf.request(sku, src, dst, qty)
            else:
                wf.request(sku, src, dst, qty)
        elif kind == "advance":
            clock.advance(o[1])
            wf.poll()
            core.exceptions.poll()
        elif kind == "sell":
            _, sku, loc, qty = o
            on_hand = core.position(sku, loc).on_hand
            if on_hand > 0:
                core.sell(sku, loc, min(qty, on_hand))
        elif kind == "reserve":
            _, sku, loc, qty = o
            n_orders += 1
            core.reserve(f"o{n_orders}", "web", [OrderLine(sku, qty, loc)])
        elif kind == "balance":
            wf.request_proposals(wf.propose_balancing(o[1]))
        else:  # act on a transfer that can still move (or any, for a cancel)
            live = [t for t in wf.transfers if t.state in MOVABLE] or wf.transfers
            if not live:
                continue
            t = live[o[1] % len(live)]
            try:
                if kind == "cancel":
                    wf.cancel(t.id)
                elif t.state is TransferState.PENDING_APPROVAL:  # move it one step on
                    wf.decide(t.id, o[2], "p")
                elif t.state is TransferState.APPROVED:
                    wf.ship(t.id)  # may find the stock gone: rejected, InvalidTransition
                elif t.state is TransferState.SHIPPED:
                    wf.receive(t.id, t.qty * o[3] // 4)
                else:
                    with pytest.raises(InvalidTransition):
                        wf.ship(t.id)
            except InvalidTransition:
                assert kind == "cancel" or t.state is TransferState.REJECTED
        for p in core.ledger.positions.values():
            assert p.in_transit >= 0
        # the nightly pre-filter never drops a sku the balancing job would move
        candidates = wf.balancing_candidates(len(core.catalog.skus))
        for sku in SKUS:
            if wf.propose_balancing(sku):
                assert core.catalog.sku(sku) in candidates

    inv = core.invariants()
    assert inv["units_conserved"] is True
    assert inv["gl_balanced"] is True
    assert inv["gl_reconciled"] is True
    assert inv["events_lost"] == 0
    assert inv["duplicate_applications"] == 0
    assert inv["negative_available"] == 0
    assert core.ledger.rebuild_matches() == []
    # every unit in transit belongs to a shipped, not yet received transfer
    in_flight: dict[tuple[int, int], int] = {}
    for t in wf.transfers:
        if t.state is TransferState.SHIPPED:
            key = (t.sku, t.destination)
            in_flight[key] = in_flight.get(key, 0) + t.qty
        if t.state is TransferState.RECEIVED:
            assert t.received_qty + t.lost_qty == t.qty
        assert math.isnan(t.shipped_at) or t.shipped_at >= t.decided_at
    for sku in range(len(SKUS)):
        for loc in range(len(core.catalog.locations)):
            open_out = sum(
                t.qty
                for t in wf.transfers
                if (t.sku, t.source) == (sku, loc) and t.state in OPEN_STATES
            )
            assert wf.committed(sku, loc) == open_out
    live = {k: p.in_transit for k, p in core.ledger.positions.items() if p.in_transit}
    assert live == in_flight
    # an open approval_overdue exception exists only for a transfer still pending
    for ex in core.exceptions.open():
        assert ex.kind == "approval_overdue"
        t = wf.transfers[int(ex.subject.split(":")[1])]
        assert t.state is TransferState.PENDING_APPROVAL


def test_the_core_schedules_a_registered_workflows_timers() -> None:
    from orchestrator import Catalog, ManualClock, Orchestrator

    cat = Catalog()
    cat.add_sku("A", 100_000)
    cat.add_location("DC", "dc")
    cat.add_location("S1", "store")
    clock = ManualClock()
    core = Orchestrator(cat, clock)
    core.receive("A", "DC", 500)
    wf = TransferWorkflow(core)
    t = wf.request("A", "DC", "S1", 200)  # above the auto-approval thresholds
    assert t.state is TransferState.PENDING_APPROVAL
    due = core.next_due()
    assert due == wf.next_due() == 4 * 3600.0
    clock.set(due)
    core.poll()
    assert [e.kind for e in core.exceptions.open()] == ["approval_overdue"]
    assert core.next_due() > due
