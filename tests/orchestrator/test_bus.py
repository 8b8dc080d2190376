"""The message bus as a timeline: what the handler saw, when, and what the counters say.

Every test drives a `MessageBus` with a `ManualClock` and a recording handler and
asserts the exact log, e.g. `assert log == [("applied", "src:1", 0.0)]`.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import BusCounters, InvalidEvent, InventoryEvent, ManualClock, MessageBus
from orchestrator.bus import BATCH_TYPES, EVENT_TYPES, SCHEMA_VERSION

#: the `events` block of the KPI contract (/work/shared/KPIS.md, "Event counts")
KPI_EVENT_KEYS = [
    "emitted",
    "applied",
    "duplicates_dropped",
    "out_of_order_held",
    "dead_lettered",
    "replayed",
]


class Recorder:
    """A handler that logs ("applied" | "failed", event id, time) and fails on request."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.log: list[tuple[str, str, float]] = []
        self.failures: dict[str, int] = {}  # event id -> failures still to raise

    def fail(self, event_id: str, times: int = 1_000_000) -> None:
        self.failures[event_id] = times

    def heal(self, event_id: str) -> None:
        self.failures.pop(event_id, None)

    def __call__(self, ev: InventoryEvent) -> None:
        left = self.failures.get(ev.event_id, 0)
        if left > 0:
            self.failures[ev.event_id] = left - 1
            self.log.append(("failed", ev.event_id, self.clock.now()))
            raise RuntimeError(f"boom {ev.event_id}")
        self.log.append(("applied", ev.event_id, self.clock.now()))


def make_bus(
    hold_timeout_s: float = 600.0, max_attempts: int = 4, backoff_s: float = 30.0
) -> tuple[ManualClock, MessageBus, Recorder]:
    clock = ManualClock()
    rec = Recorder(clock)
    bus = MessageBus(
        rec, clock, hold_timeout_s=hold_timeout_s, max_attempts=max_attempts, backoff_s=backoff_s
    )
    return clock, bus, rec


def counters(bus: MessageBus) -> dict[str, int]:
    return bus.counters.as_dict()


def emit_stream(bus: MessageBus, n: int, *, sku: int = 0, location: int = 0, source: str = "src"):
    """n receipts on one (sku, location) stream, seq 1..n, ids src:1..src:n."""
    pub = bus.publisher(source)
    return [pub.emit("stock.received", sku, location, 1, 0.0) for _ in range(n)]


# -- ordering and idempotency -------------------------------------------------------------


def test_events_delivered_in_order_are_applied_once_each_in_order():
    clock, bus, rec = make_bus()
    e1, e2, e3 = emit_stream(bus, 3)
    assert [e.seq for e in (e1, e2, e3)] == [1, 2, 3]
    outcomes = []
    for e in (e1, e2, e3):
        outcomes.append(bus.deliver(e))
        clock.advance(10)
    assert outcomes == ["applied", "applied", "applied"]
    assert rec.log == [
        ("applied", "src:1", 0.0),
        ("applied", "src:2", 10.0),
        ("applied", "src:3", 20.0),
    ]
    assert counters(bus) == dict(
        emitted=3, applied=3, duplicates_dropped=0, out_of_order_held=0, dead_lettered=0, replayed=0
    )
    assert bus.events_lost() == 0
    assert bus.next_due() is None


def test_a_duplicate_delivery_is_dropped_and_counted():
    clock, bus, rec = make_bus()
    e1, e2 = emit_stream(bus, 2)
    assert bus.deliver(e1) == "applied"
    assert bus.deliver(e1) == "duplicate"
    clock.advance(5)
    assert bus.deliver(e2) == "applied"
    assert bus.deliver(e1) == "duplicate"
    assert bus.deliver(e2) == "duplicate"
    assert rec.log == [("applied", "src:1", 0.0), ("applied", "src:2", 5.0)]
    assert counters(bus)["duplicates_dropped"] == 3
    assert counters(bus)["applied"] == 2
    assert bus.events_lost() == 0


def test_a_duplicate_of_a_held_event_is_dropped_and_the_event_still_applies_once():
    clock, bus, rec = make_bus()
    e1, e2 = emit_stream(bus, 2)
    assert bus.deliver(e2) == "held"
    assert bus.deliver(e2) == "duplicate"
    clock.advance(1)
    assert bus.deliver(e1) == "applied"
    assert bus.deliver(e2) == "duplicate"
    assert rec.log == [("applied", "src:1", 1.0), ("applied", "src:2", 1.0)]
    assert counters(bus) == dict(
        emitted=2, applied=2, duplicates_dropped=2, out_of_order_held=1, dead_lettered=0, replayed=0
    )


def test_an_event_ahead_of_its_stream_is_held_until_its_predecessor_arrives():
    clock, bus, rec = make_bus()
    e1, e2, e3 = emit_stream(bus, 3)
    assert bus.deliver(e3) == "held"
    clock.advance(10)
    assert bus.deliver(e2) == "held"
    assert rec.log == []
    assert bus.in_flight() == 2
    assert bus.events_lost() == 1  # held events wait; only e1, still in the middleware, is missing
    clock.advance(10)
    assert bus.deliver(e1) == "applied"
    # the predecessor releases every held successor at once, in stream order
    assert rec.log == [
        ("applied", "src:1", 20.0),
        ("applied", "src:2", 20.0),
        ("applied", "src:3", 20.0),
    ]
    assert bus.in_flight() == 0
    assert counters(bus)["out_of_order_held"] == 2
    # the hold time-outs of released events do nothing when they come due
    clock.advance(3600)
    assert bus.poll() == 0
    assert bus.dead_letters == {}
    assert bus.events_lost() == 0


def test_a_gap_in_one_stream_does_not_hold_up_another_stream():
    _clock, bus, rec = make_bus()
    pub = bus.publisher("src")
    a1 = pub.emit("stock.received", 0, 0, 1, 0.0)
    a2 = pub.emit("stock.received", 0, 0, 1, 0.0)
    b1 = pub.emit("stock.received", 1, 0, 1, 0.0)  # another sku: its own stream
    c1 = pub.emit("stock.received", 0, 1, 1, 0.0)  # another location: its own stream
    assert (a1.seq, a2.seq, b1.seq, c1.seq) == (1, 2, 1, 1)
    assert bus.deliver(a2) == "held"
    assert bus.deliver(b1) == "applied"
    assert bus.deliver(c1) == "applied"
    assert bus.deliver(a1) == "applied"
    assert [e for _, e, _ in rec.log] == [b1.event_id, c1.event_id, a1.event_id, a2.event_id]


def test_two_sources_publishing_on_the_same_sku_and_location_do_not_collide():
    _clock, bus, rec = make_bus()
    pos = bus.publisher("pos")
    wms = bus.publisher("wms")
    sold = pos.emit("stock.sold", 0, 1, 1, 0.0)
    received = wms.emit("stock.received", 0, 1, 5, 0.0)
    assert sold.seq == received.seq == 1  # each source numbers its own streams
    assert bus.deliver(sold) == "applied"
    assert bus.deliver(received) == "applied"
    assert rec.log == [("applied", "pos:1", 0.0), ("applied", "wms:1", 0.0)]
    assert bus.dead_letters == {}
    assert bus.events_lost() == 0


def test_asking_twice_for_a_source_publisher_does_not_reuse_event_ids():
    _clock, bus, _rec = make_bus()
    first = bus.publisher("pos").emit("stock.sold", 0, 1, 1, 0.0)
    second = bus.publisher("pos").emit("stock.sold", 0, 1, 1, 0.0)
    assert first.event_id != second.event_id
    assert (first.seq, second.seq) == (1, 2)
    assert bus.deliver(first) == "applied"
    assert bus.deliver(second) == "applied"
    assert counters(bus)["duplicates_dropped"] == 0
    assert bus.events_lost() == 0


def test_a_second_event_claiming_a_held_sequence_number_is_dead_lettered():
    _clock, bus, rec = make_bus()
    e1, e2 = emit_stream(bus, 2)
    impostor = InventoryEvent("other:9", "stock.received", "src", 0, 0, 2, 1, 0.0)
    assert bus.deliver(e2) == "held"
    assert bus.deliver(impostor) == "dead-lettered"
    assert bus.dead_letters["other:9"].reason == "sequence conflict: seq 2 already held"
    assert bus.deliver(e1) == "applied"
    assert [e for _, e, _ in rec.log] == ["src:1", "src:2"]


# -- hold time-outs and late events -------------------------------------------------------


def test_a_held_event_timing_out_dead_letters_it_and_lower_held_ones_and_the_stream_moves_on():
    clock, bus, rec = make_bus(hold_timeout_s=600)
    _e1, e2, e3, e4, e5 = emit_stream(bus, 5)
    assert bus.deliver(e3) == "held"  # times out at 600
    clock.set(100)
    assert bus.deliver(e2) == "held"  # would time out at 700, but waits on the same gap
    clock.set(200)
    assert bus.deliver(e5) == "held"  # times out at 800; waits on seq 4 after the gap
    assert bus.next_due() == 600
    clock.set(599)
    assert bus.poll() == 0
    assert bus.dead_letters == {}
    clock.set(600)
    assert bus.poll() == 1
    assert list(bus.dead_letters) == ["src:2", "src:3"]
    assert {d.reason for d in bus.dead_letters.values()} == {"held 600s waiting for seq 1"}
    assert [d.at for d in bus.dead_letters.values()] == [600.0, 600.0]
    assert [d.attempts for d in bus.dead_letters.values()] == [0, 0]
    assert rec.log == []
    assert bus.in_flight() == 1  # e5 still waits for seq 4
    clock.set(650)
    assert bus.deliver(e4) == "applied"  # the stream moved on to seq 4
    assert rec.log == [("applied", "src:4", 650.0), ("applied", "src:5", 650.0)]
    clock.set(700)
    assert bus.poll() == 0  # e2's own time-out finds it already gone
    clock.set(800)
    assert bus.poll() == 0  # e5 was released in order before its time-out
    assert counters(bus) == dict(
        emitted=5, applied=2, duplicates_dropped=0, out_of_order_held=3, dead_lettered=2, replayed=0
    )
    assert bus.events_lost() == 1  # e1 has not been delivered yet: lost in the middleware


def test_a_late_predecessor_goes_to_the_dead_letter_queue_not_applied_twice_and_not_lost():
    clock, bus, rec = make_bus(hold_timeout_s=600)
    e1, e2 = emit_stream(bus, 2)
    assert bus.deliver(e2) == "held"
    clock.set(600)
    bus.poll()
    assert list(bus.dead_letters) == ["src:2"]
    clock.set(601)
    assert bus.deliver(e1) == "dead-lettered"
    assert bus.dead_letters["src:1"].reason == "late: stream already past seq 1"
    assert bus.deliver(e1) == "duplicate"  # a redelivery of the late event is only a duplicate
    assert rec.log == []
    assert bus.events_lost() == 0
    assert [d.event.event_id for d in bus.outstanding_dead_letters()] == ["src:2", "src:1"]
    clock.set(700)
    assert bus.replay() == 2
    # replay goes in dead-letter order; each is applied exactly once
    assert rec.log == [("applied", "src:2", 700.0), ("applied", "src:1", 700.0)]
    assert bus.replay() == 0
    assert counters(bus) == dict(
        emitted=2, applied=2, duplicates_dropped=1, out_of_order_held=1, dead_lettered=2, replayed=2
    )
    assert bus.events_lost() == 0


def test_drain_runs_every_timer_and_moves_the_manual_clock_to_each_due_time():
    clock, bus, rec = make_bus(hold_timeout_s=600, backoff_s=30, max_attempts=2)
    _e1, _e2, e3 = emit_stream(bus, 3)
    other = bus.publisher("other").emit("stock.received", 1, 1, 1, 0.0)
    rec.fail(other.event_id)
    assert bus.deliver(other) == "retrying"
    assert bus.deliver(e3) == "held"
    bus.drain()
    assert bus.next_due() is None
    assert clock.now() == 600.0
    assert rec.log == [("failed", "other:1", 0.0), ("failed", "other:1", 30.0)]
    assert [(k, d.at, d.attempts) for k, d in bus.dead_letters.items()] == [
        ("other:1", 30.0, 2),
        ("src:3", 600.0, 0),
    ]
    assert bus.in_flight() == 0


# -- retries ------------------------------------------------------------------------------


def test_a_failing_handler_is_retried_with_exponential_backoff_then_dead_lettered():
    clock, bus, rec = make_bus(max_attempts=4, backoff_s=30, hold_timeout_s=3600)
    e1, e2 = emit_stream(bus, 2)
    rec.fail("src:1")
    assert bus.deliver(e1) == "retrying"
    assert bus.deliver(e2) == "held"  # the stream waits for its failing head
    expected_due = [30.0, 90.0, 210.0]  # failure n at t -> retry at t + 30 * 2**(n-1)
    for due in expected_due:
        assert bus.next_due() == due
        clock.set(due - 0.5)
        assert bus.poll() == 0
        clock.set(due)
        assert bus.poll() == 1
    assert rec.log == [
        ("failed", "src:1", 0.0),
        ("failed", "src:1", 30.0),
        ("failed", "src:1", 90.0),
        ("failed", "src:1", 210.0),
        ("applied", "src:2", 210.0),  # the stream moves past the dead letter
    ]
    dl = bus.dead_letters["src:1"]
    assert (dl.at, dl.attempts) == (210.0, 4)
    assert dl.reason == "handler failed 4x: boom src:1"
    assert bus.in_flight() == 0
    assert counters(bus) == dict(
        emitted=2, applied=1, duplicates_dropped=0, out_of_order_held=1, dead_lettered=1, replayed=0
    )
    assert bus.events_lost() == 0
    # a redelivery while the event sits in the dead-letter queue is a duplicate
    assert bus.deliver(e1) == "duplicate"
    clock.set(3600)
    assert bus.poll() == 0  # e2's hold time-out: already released
    rec.heal("src:1")
    assert bus.replay() == 1
    assert rec.log[-1] == ("applied", "src:1", 3600.0)
    assert bus.events_lost() == 0


def test_a_retry_timeline_follows_the_failure_time_when_polled_late():
    clock, bus, rec = make_bus(max_attempts=3, backoff_s=10)
    (e1,) = emit_stream(bus, 1)
    rec.fail("src:1")
    bus.deliver(e1)  # failure 1 at 0 -> due 10
    clock.set(25)
    assert bus.poll() == 1  # failure 2 at 25 -> due 25 + 20 = 45
    assert bus.next_due() == 45.0
    clock.set(45)
    bus.poll()  # failure 3 -> dead letter
    assert rec.log == [
        ("failed", "src:1", 0.0),
        ("failed", "src:1", 25.0),
        ("failed", "src:1", 45.0),
    ]
    assert list(bus.dead_letters) == ["src:1"]


def test_a_handler_that_recovers_on_retry_is_applied_once_and_releases_its_successors():
    clock, bus, rec = make_bus(max_attempts=4, backoff_s=30)
    e1, e2, e3 = emit_stream(bus, 3)
    rec.fail("src:1", times=2)
    assert bus.deliver(e1) == "retrying"
    assert bus.deliver(e1) == "duplicate"  # a redelivery during the retry is a duplicate
    assert bus.deliver(e3) == "held"
    clock.set(30)
    bus.poll()
    clock.set(40)
    assert bus.deliver(e2) == "held"
    clock.set(90)
    assert bus.poll() == 1
    assert rec.log == [
        ("failed", "src:1", 0.0),
        ("failed", "src:1", 30.0),
        ("applied", "src:1", 90.0),
        ("applied", "src:2", 90.0),
        ("applied", "src:3", 90.0),
    ]
    assert bus.dead_letters == {}
    assert counters(bus) == dict(
        emitted=3, applied=3, duplicates_dropped=1, out_of_order_held=2, dead_lettered=0, replayed=0
    )
    assert bus.events_lost() == 0


def test_a_held_event_whose_handler_fails_when_released_is_retried_and_the_stream_waits():
    clock, bus, rec = make_bus(max_attempts=2, backoff_s=5)
    e1, e2, e3 = emit_stream(bus, 3)
    rec.fail("src:2")
    bus.deliver(e2)
    bus.deliver(e3)
    clock.set(1)
    assert bus.deliver(e1) == "applied"
    assert rec.log == [("applied", "src:1", 1.0), ("failed", "src:2", 1.0)]
    assert bus.in_flight() == 2
    clock.set(6)
    bus.poll()
    assert rec.log[2:] == [("failed", "src:2", 6.0), ("applied", "src:3", 6.0)]
    assert list(bus.dead_letters) == ["src:2"]
    assert bus.events_lost() == 0


def test_a_single_attempt_bus_dead_letters_on_the_first_failure():
    _clock, bus, rec = make_bus(max_attempts=1)
    e1, e2 = emit_stream(bus, 2)
    rec.fail("src:1")
    assert bus.deliver(e1) == "dead-lettered"
    assert bus.deliver(e2) == "applied"
    assert bus.next_due() is None
    assert bus.dead_letters["src:1"].attempts == 1


# -- replay -------------------------------------------------------------------------------


def test_replaying_a_dead_letter_applies_it_once_and_a_second_replay_does_nothing():
    clock, bus, rec = make_bus(max_attempts=1)
    (e1,) = emit_stream(bus, 1)
    rec.fail("src:1", times=1)
    bus.deliver(e1)
    assert bus.events_lost() == 0
    clock.set(50)
    assert bus.replay("src:1") == 1
    assert bus.dead_letters["src:1"].replayed_at == 50.0
    clock.set(60)
    assert bus.replay("src:1") == 0
    assert bus.replay() == 0
    assert bus.deliver(e1) == "duplicate"
    assert rec.log == [("failed", "src:1", 0.0), ("applied", "src:1", 50.0)]
    assert bus.outstanding_dead_letters() == []
    assert bus.has_applied("src:1")
    assert counters(bus) == dict(
        emitted=1, applied=1, duplicates_dropped=1, out_of_order_held=0, dead_lettered=1, replayed=1
    )
    assert bus.events_lost() == 0


def test_a_failing_replay_keeps_the_dead_letter_outstanding_until_a_replay_succeeds():
    clock, bus, rec = make_bus(max_attempts=1)
    (e1,) = emit_stream(bus, 1)
    rec.fail("src:1")
    bus.deliver(e1)
    clock.set(10)
    assert bus.replay() == 0
    dl = bus.dead_letters["src:1"]
    assert dl.reason == "replay failed: boom src:1"
    assert dl.replayed_at is None
    assert bus.outstanding_dead_letters() == [dl]
    assert bus.events_lost() == 0
    rec.heal("src:1")
    clock.set(20)
    assert bus.replay() == 1
    assert rec.log == [
        ("failed", "src:1", 0.0),
        ("failed", "src:1", 10.0),
        ("applied", "src:1", 20.0),
    ]
    assert counters(bus)["replayed"] == 1
    assert counters(bus)["applied"] == 1
    assert bus.events_lost() == 0


# -- subscribers --------------------------------------------------------------------------


def test_a_subscriber_sees_every_applied_event_once_by_every_path_and_nothing_else():
    clock, bus, rec = make_bus(max_attempts=2, backoff_s=10, hold_timeout_s=100)
    seen: list[tuple[str, float, bool]] = []
    bus.subscribe(lambda ev: seen.append((ev.event_id, clock.now(), bus.has_applied(ev.event_id))))
    e1, e2, e3 = emit_stream(bus, 3)
    (f1,) = emit_stream(bus, 1, sku=1, source="f")
    (d1, d2) = emit_stream(bus, 2, sku=2, source="d")
    bus.deliver(e2)  # held
    bus.deliver(e1)  # applied, releases e2
    bus.deliver(e1)  # duplicate: not seen again
    rec.fail("src:3", times=1)
    bus.deliver(e3)  # fails, retried at 10
    rec.fail("f:1")
    bus.deliver(f1)  # fails, retried at 10, then dead-lettered at 30
    bus.deliver(d2)  # held, dead-lettered at its time-out (100), never applied
    clock.set(10)
    bus.poll()
    clock.set(30)
    bus.poll()
    clock.set(100)
    bus.poll()
    rec.heal("f:1")
    clock.set(200)
    bus.replay("f:1")
    assert seen == [
        ("src:1", 0.0, True),
        ("src:2", 0.0, True),
        ("src:3", 10.0, True),
        ("f:1", 200.0, True),
    ]
    assert [e for e, _, _ in seen] == [e for outcome, e, _ in rec.log if outcome == "applied"]
    assert d1.event_id not in {e for e, _, _ in seen}


def test_subscribers_are_called_in_the_order_they_subscribed():
    _clock, bus, _rec = make_bus()
    calls: list[str] = []
    bus.subscribe(lambda ev: calls.append(f"a:{ev.event_id}"))
    bus.subscribe(lambda ev: calls.append(f"b:{ev.event_id}"))
    (e1,) = emit_stream(bus, 1)
    bus.deliver(e1)
    assert calls == ["a:src:1", "b:src:1"]


# -- counters -----------------------------------------------------------------------------


def test_counters_carry_exactly_the_kpi_events_block():
    assert list(BusCounters().as_dict()) == KPI_EVENT_KEYS
    assert BusCounters().as_dict() == dict.fromkeys(KPI_EVENT_KEYS, 0)


def test_a_busy_timeline_counts_every_outcome_and_loses_nothing():
    clock, bus, rec = make_bus(hold_timeout_s=100, max_attempts=2, backoff_s=10)
    a1, a2, a3 = emit_stream(bus, 3)
    b1, b2 = emit_stream(bus, 2, sku=1, source="pos")
    rec.fail(b1.event_id, times=2)

    bus.deliver(a1)  # applied
    bus.deliver(a1)  # duplicate
    bus.deliver(a3)  # held, times out at 100
    bus.deliver(b1)  # fails, retry at 10
    bus.deliver(b2)  # held behind b1
    clock.set(10)
    bus.poll()  # b1 fails again -> dead letter; b2 released
    clock.set(100)
    bus.poll()  # a3 times out -> dead letter
    clock.set(101)
    bus.deliver(a2)  # late -> dead letter
    bus.deliver(b2)  # duplicate
    assert bus.events_lost() == 0
    rec.heal(b1.event_id)
    clock.set(200)
    assert bus.replay() == 3
    assert bus.replay() == 0
    assert rec.log == [
        ("applied", "src:1", 0.0),
        ("failed", "pos:1", 0.0),
        ("failed", "pos:1", 10.0),
        ("applied", "pos:2", 10.0),
        ("applied", "pos:1", 200.0),
        ("applied", "src:3", 200.0),
        ("applied", "src:2", 200.0),
    ]
    assert counters(bus) == dict(
        emitted=5, applied=5, duplicates_dropped=2, out_of_order_held=2, dead_lettered=3, replayed=3
    )
    assert bus.events_lost() == 0
    assert bus.in_flight() == 0
    assert bus.next_due() is None


def test_the_bus_refuses_nonsense_settings():
    clock = ManualClock()
    with pytest.raises(ValueError, match="hold_timeout_s"):
        MessageBus(lambda e: None, clock, hold_timeout_s=0)
    with pytest.raises(ValueError, match="max_attempts"):
        MessageBus(lambda e: None, clock, max_attempts=0)
    with pytest.raises(ValueError, match="backoff_s"):
        MessageBus(lambda e: None, clock, backoff_s=-1)


# -- the canonical event schema -----------------------------------------------------------


def valid_dict(**over) -> dict:
    d = {
        "event_id": "pos:42",
        "type": "stock.sold",
        "source": "pos",
        "sku": 3,
        "location": 7,
        "seq": 12,
        "qty": 2,
        "occurred_at": 1234.5,
        "schema_version": SCHEMA_VERSION,
        "attrs": {"till": "T4"},
    }
    d.update(over)
    return d


def problems_of(d: dict) -> list[str]:
    with pytest.raises(InvalidEvent) as info:
        InventoryEvent.from_dict(d)
    assert str(info.value) == "; ".join(info.value.problems)
    return info.value.problems


def test_a_valid_event_round_trips_through_its_dict():
    ev = InventoryEvent.from_dict(valid_dict())
    assert ev == InventoryEvent(
        "pos:42", "stock.sold", "pos", 3, 7, 12, 2, 1234.5, 1, {"till": "T4"}
    )
    assert ev.to_dict() == valid_dict()
    assert InventoryEvent.from_dict(ev.to_dict()) == ev


def test_schema_version_and_attrs_may_be_left_out():
    d = valid_dict()
    del d["schema_version"], d["attrs"]
    ev = InventoryEvent.from_dict(d)
    assert ev.schema_version == SCHEMA_VERSION
    assert ev.attrs == {}
    assert isinstance(InventoryEvent.from_dict(valid_dict(occurred_at=5)).occurred_at, float)


def test_every_missing_field_is_reported_by_name():
    assert problems_of({}) == [
        "event_id: required",
        "type: required",
        "source: required",
        "sku: required",
        "location: required",
        "seq: required",
        "qty: required",
        "occurred_at: required",
    ]


def test_every_bad_field_is_reported_by_name_at_once():
    problems = problems_of(
        valid_dict(
            event_id="  ",
            type="stock.teleported",
            source="",
            sku=-1,
            location=True,
            seq=0,
            qty="2",
            occurred_at=math.nan,
            schema_version=2,
            attrs=["x"],
        )
    )
    assert problems == [
        "event_id: must not be empty, got '  '",
        "type: must be one of " + ", ".join(EVENT_TYPES) + ", got 'stock.teleported'",
        "source: must not be empty, got ''",
        "sku: must be >= 0, got -1",
        "location: must be int, got bool",
        "seq: must be >= 1, got 0",
        "qty: must be int, got str",
        "occurred_at: must be a number, got nan",
        "schema_version: only 1 is understood, got 2",
        "attrs: must be an object",
    ]


@pytest.mark.parametrize(
    "etype", [t for t in EVENT_TYPES if t != "stock.adjusted" and t not in BATCH_TYPES]
)
@pytest.mark.parametrize("qty", [0, -3])
def test_a_non_positive_quantity_is_refused_for_every_type_but_an_adjustment(etype, qty):
    assert problems_of(valid_dict(type=etype, qty=qty)) == [
        f"qty: must be > 0 for {etype}, got {qty}"
    ]


def test_an_adjustment_may_be_negative_but_not_zero():
    assert InventoryEvent.from_dict(valid_dict(type="stock.adjusted", qty=-4)).qty == -4
    assert problems_of(valid_dict(type="stock.adjusted", qty=0)) == [
        "qty: must not be 0 for stock.adjusted, got 0"
    ]


def test_wrong_types_are_named_with_what_was_expected():
    assert problems_of(valid_dict(sku=1.0, occurred_at="noon")) == [
        "sku: must be int, got float",
        "occurred_at: must be int/float, got str",
    ]


_events = st.builds(
    InventoryEvent,
    event_id=st.text(min_size=1).filter(lambda s: s.strip()),
    type=st.sampled_from([t for t in EVENT_TYPES if t not in BATCH_TYPES]),  # test_lines.py
    source=st.text(min_size=1).filter(lambda s: s.strip()),
    sku=st.integers(0, 10**6),
    location=st.integers(0, 10**6),
    seq=st.integers(1, 10**9),
    qty=st.integers(1, 10**6),
    occurred_at=st.floats(allow_nan=False, allow_infinity=False),
    attrs=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(_events)
def test_any_valid_event_round_trips_through_to_dict_and_from_dict(ev):
    assert InventoryEvent.from_dict(ev.to_dict()) == ev


def test_replaying_an_unknown_dead_letter_names_the_event_id() -> None:
    from orchestrator import InvalidCommand, ManualClock, MessageBus

    bus = MessageBus(lambda ev: None, ManualClock())
    with pytest.raises(InvalidCommand, match="event_id: 'nope' is not in the dead-letter queue"):
        bus.replay("nope")
