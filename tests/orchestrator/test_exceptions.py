"""One exception queue: SLAs from the rule in force, automatic escalation, backlog."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import (
    EXCEPTION_KINDS,
    ExceptionQueue,
    InvalidCommand,
    InvalidTransition,
    ManualClock,
)
from orchestrator.governance import default_rules

H = 3600.0


def make() -> tuple[ExceptionQueue, ManualClock]:
    clock = ManualClock()
    return ExceptionQueue(default_rules(), clock), clock


def test_an_exception_takes_priority_owner_and_sla_from_the_rule_in_force() -> None:
    q, _ = make()
    ex = q.raise_("supplier_delay", "po:7", "ASN slipped 3 days")
    assert (ex.priority, ex.owner_role, ex.sla_s, ex.rule) == (
        2,
        "buyer",
        24 * H,
        "exception_sla@v1",
    )
    other = q.raise_("something_new", "x")
    assert (other.priority, other.owner_role) == (3, "ops")


def test_an_exception_open_past_its_sla_escalates_one_level_per_window() -> None:
    q, clock = make()
    ex = q.raise_("dead_letter", "event:abc")  # SLA 2 h, owner integration
    clock.set(2 * H - 1)
    assert q.poll() == []
    clock.set(2 * H)
    assert q.poll() == [ex]
    assert (ex.level, ex.owner_role, ex.priority) == (1, "team_lead", 1)
    clock.set(6 * H)
    q.poll()
    assert ex.escalations == [2 * H, 4 * H, 6 * H]
    assert ex.owner_role == "director"
    kinds = [d.kind for d in q.audit.decisions]
    assert kinds == ["exception.raised"] + ["exception.escalated"] * 3


def test_a_resolved_exception_no_longer_escalates_and_keeps_its_age() -> None:
    q, clock = make()
    ex = q.raise_("pick_shortage", "order:1")
    clock.set(3 * H)
    q.resolve(ex.id, "re-sourced", actor="store_ops:ann")
    clock.set(100 * H)
    assert q.poll() == []
    assert ex.level == 0 and q.ages_h(clock.now()) == [3.0]
    with pytest.raises(InvalidTransition):
        q.resolve(ex.id, "again")


def test_the_same_open_problem_counts_occurrences_instead_of_duplicating() -> None:
    q, _ = make()
    a = q.raise_("negative_stock", "A@S1")
    b = q.raise_("negative_stock", "A@S1", "again")
    assert a is b and a.occurrences == 2 and q.open_count == 1


def test_backlog_peak_and_open_ages_feed_the_kpis() -> None:
    q, clock = make()
    q.raise_("stock_drift", "a")
    q.raise_("stock_drift", "b")
    clock.set(H)
    q.resolve_subject("stock_drift", "a", "counted")
    q.raise_("stock_drift", "c")
    clock.set(5 * H)
    assert q.backlog_peak == 2 and q.open_count == 2
    assert sorted(q.ages_h(clock.now())) == [1.0, 4.0, 5.0]
    assert [e.subject for e in q.by_priority()] == ["b", "c"]


def test_a_new_sla_version_applies_to_exceptions_raised_after_it() -> None:
    rules = default_rules()
    clock = ManualClock()
    q = ExceptionQueue(rules, clock)
    params = dict(rules.current("exception_sla", 0).params)
    params["dead_letter"] = [1, "integration", 0.5]
    rules.publish("exception_sla", params, effective_from=10 * H)
    early = q.raise_("dead_letter", "e1")
    clock.set(10 * H)
    late = q.raise_("dead_letter", "e2")
    assert (early.sla_s, early.rule) == (2 * H, "exception_sla@v1")
    assert (late.sla_s, late.rule) == (0.5 * H, "exception_sla@v2")


def test_bad_priority_is_refused_with_the_field_named() -> None:
    q, _ = make()
    with pytest.raises(InvalidCommand, match=r"exception\.priority"):
        q.raise_("stock_drift", "x", priority=9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["raise", "resolve", "wait"]), st.integers(0, 5), st.floats(0, 30)
        ),
        max_size=40,
    )
)
def test_every_exception_is_either_resolved_or_open_with_its_age(ops) -> None:
    q, clock = make()
    for op, n, hours in ops:
        if op == "raise":
            q.raise_("stock_drift", f"s{n}")
        elif op == "resolve":
            q.resolve_subject("stock_drift", f"s{n}", "fixed")
        else:
            clock.advance(hours * H)
            q.poll()
    now = clock.now()
    assert q.open_count == len(q.open())
    assert q.backlog_peak >= q.open_count
    for ex in q.items:
        if ex.is_open:
            assert math.isnan(ex.resolved_at) and ex.age(now) == now - ex.opened_at
            assert ex.due_at > now  # poll escalated everything overdue
        else:
            assert ex.opened_at <= ex.resolved_at <= now
    assert len(q.ages_h(now)) == len(q.items)


def test_the_backlog_is_kept_per_kind_and_sums_to_the_whole() -> None:
    q, clock = make()
    a = q.raise_("supplier_delay", "po:1")
    q.raise_("approval_overdue", "t:1")
    clock.set(1 * H)
    b = q.raise_("approval_overdue", "t:2")
    clock.set(2 * H)
    q.resolve(b.id, "approved")
    clock.set(5 * H)
    q.resolve(a.id, "arrived")
    assert q.backlog() == (3, 1)
    assert q.backlog(kind="approval_overdue") == (2, 1)
    assert q.backlog(kind="supplier_delay") == (1, 0)
    assert q.backlog(kind="dead_letter") == (0, 0)
    # a window from hour 3 starts with the backlog then (2 open) and its changes
    assert q.backlog(since=3 * H) == (2, 1)
    assert q.backlog(since=3 * H, kind="approval_overdue") == (1, 1)
    by = q.by_kind(clock.now())
    assert sum(row["backlog_end"] for row in by.values()) == q.open_count
    assert by["supplier_delay"] == {"backlog_peak": 1, "backlog_end": 0, "age_p95_h": 5.0}
    assert by["approval_overdue"]["age_p95_h"] == pytest.approx(5 - 0.05 * 4)  # ages 5 h, 1 h
    assert by["dead_letter"] == {"backlog_peak": 0, "backlog_end": 0, "age_p95_h": None}
    assert list(by)[: len(EXCEPTION_KINDS)] == list(EXCEPTION_KINDS)


def test_a_kind_no_rule_names_still_gets_its_own_row() -> None:
    q, clock = make()
    q.raise_("something_new", "x")
    clock.set(2 * H)
    assert q.by_kind(clock.now())["something_new"] == {
        "backlog_peak": 1,
        "backlog_end": 1,
        "age_p95_h": 2.0,
    }
