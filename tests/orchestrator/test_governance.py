"""Versioned business rules and the audit trail."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import AuditTrail, Catalog, InvalidCommand, ManualClock, Orchestrator, RuleBook


def test_the_version_in_force_is_the_latest_whose_effective_time_has_come() -> None:
    rb = RuleBook()
    rb.publish("transfer_approval", {"auto_max_units": 50}, effective_from=0)
    rb.publish("transfer_approval", {"auto_max_units": 20}, effective_from=100, author="ops")
    assert rb.current("transfer_approval", 0).ref == "transfer_approval@v1"
    assert rb.current("transfer_approval", 99.9)["auto_max_units"] == 50
    assert rb.current("transfer_approval", 100).ref == "transfer_approval@v2"
    assert rb.current("transfer_approval", 1e9)["auto_max_units"] == 20
    assert [v.version for v in rb.history("transfer_approval")] == [1, 2]


def test_a_future_dated_version_does_not_apply_before_its_time() -> None:
    rb = RuleBook()
    rb.publish("buffers", {"store": 2}, effective_from=0)
    rb.publish("buffers", {"store": 5}, effective_from=86400)
    assert rb.current("buffers", 86399)["store"] == 2


def test_versions_must_take_effect_in_order() -> None:
    rb = RuleBook()
    rb.publish("x", {}, effective_from=100)
    with pytest.raises(InvalidCommand, match=r"rules\.x\.effective_from"):
        rb.publish("x", {}, effective_from=50)


def test_asking_for_an_unknown_rule_or_parameter_names_it() -> None:
    rb = RuleBook()
    with pytest.raises(InvalidCommand, match=r"rules\.nope"):
        rb.current("nope", 0)
    rv = rb.publish("x", {"a": 1}, effective_from=10)
    with pytest.raises(InvalidCommand, match="no version in force"):
        rb.current("x", 0)
    with pytest.raises(InvalidCommand, match=r"rules\.x\.b: not set in x@v1"):
        rv["b"]


def test_ensure_publishes_a_default_only_once() -> None:
    rb = RuleBook()
    first = rb.ensure("disposition_rules", {"new": "restock"})
    again = rb.ensure("disposition_rules", {"new": "scrap"})
    assert again is first and rb.current("disposition_rules", -1e12)["new"] == "restock"


def test_the_audit_trail_lists_who_changed_stock_and_why() -> None:
    cat = Catalog()
    cat.add_sku("A", 100)
    cat.add_location("S1", "store")
    clock = ManualClock()
    core = Orchestrator(cat, clock)
    core.receive("A", "S1", 10, event_id="po-1")
    clock.advance(60)
    core.adjust("A", "S1", -2, reason="count found 8", event_id="cc-1")
    assert AuditTrail.stock_changes(core.ledger) == [
        (0.0, "receipt", "po-1", 10, "receiving", ""),
        (60.0, "adjustment", "cc-1", -2, "cycle-count", "count found 8"),
    ]
    core.audit.record(
        60.0, "count.approved", "S1/A", "approved", rule="action_risk@v1", actor="approver:kim"
    )
    assert [d.actor for d in core.audit.of("count.")] == ["approver:kim"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["count.cycle", "count.spot", "return.disposed", "transfer.approved"]),
            st.sampled_from(["a", "b"]),
        ),
        max_size=30,
    ),
    st.sampled_from(["", "count", "count.cycle", "return", "x"]),
    st.sampled_from([None, "a"]),
)
def test_audit_lookup_by_kind_reads_as_a_filter_over_every_decision(records, prefix, subject):
    trail = AuditTrail()
    for i, (kind, subj) in enumerate(records):
        trail.record(float(i), kind, subj, "ok")
    naive = [
        d
        for d in trail.decisions
        if d.kind.startswith(prefix) and (subject is None or d.subject == subject)
    ]
    assert trail.of(prefix, subject) == naive
    given_list = AuditTrail(decisions=list(trail.decisions))  # built from a list: indexed late
    assert given_list.of(prefix, subject) == naive
