"""Envelopes through the bus: sequencing and idempotency per sub-stream.

Timelines on a `ManualClock` for each path (in order, duplicated, held, late, timed out,
refused and retried, replayed), then the property: the same envelopes delivered once in
order, or cut into sub-streams that are duplicated, shuffled and packed into other
envelopes with time passing, leave the same books; nothing is lost or applied twice.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import (
    Catalog,
    Disposition,
    Envelope,
    GeneralLedger,
    InvalidCommand,
    ManualClock,
    MovementKind,
    Orchestrator,
)

K = MovementKind
SKUS = [("TEE", 1299), ("MUG", 450), ("PIN", 3)]
LOCS = [("dc", "dc"), ("s1", "store"), ("s2", "store")]
S = range(len(SKUS))
L = range(len(LOCS))
KEYS = [(s, loc) for s in S for loc in L]


def build_core(gl_mode: str = "immediate") -> Orchestrator:
    cat = Catalog()
    for code, cost in SKUS:
        cat.add_sku(code, cost)
    for code, kind in LOCS:
        cat.add_location(code, kind)
    gl = GeneralLedger() if gl_mode == "immediate" else GeneralLedger("batch", batch_every_h=4)
    return Orchestrator(cat, ManualClock(), gl=gl)


def till(core: Orchestrator, lines: list[tuple[int, int, int]], source: str = "pos") -> Envelope:
    """(location, sku, qty) sales, one sub-stream per location."""
    loc, sku, qty = (list(c) for c in zip(*lines, strict=True))
    return core.bus.envelope_publisher(source).emit(K.SALE, loc, sku, qty, core.clock.now())


def stocked() -> Orchestrator:
    core = build_core()
    for s, loc in KEYS:
        core.opening(s, loc, 20)
    return core


def outcome(**n: int) -> dict[str, int]:
    out = dict.fromkeys(("applied", "duplicate", "held", "dead-lettered", "retrying"), 0)
    out.update({k.replace("_", "-"): v for k, v in n.items()})
    return out


# -- timelines -----------------------------------------------------------------------------------


def test_an_envelope_in_order_is_applied_whole_and_each_sub_stream_counts_as_an_event():
    core = stocked()
    seen: list[str] = []
    core.bus.subscribe_envelopes(lambda e: seen.append(e.event_id))
    env = till(core, [(1, 0, 2), (2, 0, 1), (2, 1, 1)])
    assert core.bus.deliver_envelope(env) == outcome(applied=2)
    assert core.position(0, 1).on_hand == 18 and core.position(1, 2).on_hand == 19
    assert seen == ["pos/1+1"]
    assert core.bus.counters.as_dict() == {
        "emitted": 2,
        "applied": 2,
        "duplicates_dropped": 0,
        "out_of_order_held": 0,
        "dead_lettered": 0,
        "replayed": 0,
    }


def test_a_duplicated_sub_stream_is_dropped_wherever_it_travels():
    core = stocked()
    env = till(core, [(1, 0, 2), (2, 0, 1)])
    core.bus.deliver_envelope(env)
    assert core.bus.deliver_envelope(env) == outcome(duplicate=2)
    nxt = till(core, [(1, 1, 1)])
    both = Envelope.concat([nxt, env.take([1]), nxt])  # a copy of an old one, and twice in one
    assert core.bus.deliver_envelope(both) == outcome(applied=1, duplicate=2)
    assert core.position(0, 2).on_hand == 19 and core.position(1, 1).on_hand == 19
    assert core.bus.counters.duplicates_dropped == 4
    assert core.ledger.duplicate_applications == 0 and core.bus.events_lost() == 0


def test_a_sub_stream_ahead_of_its_stream_waits_for_its_predecessor_the_others_apply():
    core = stocked()
    first = till(core, [(1, 0, 1), (2, 0, 1)])
    second = till(core, [(1, 0, 5), (2, 0, 5)])
    late_store_1, on_time = first.split([True, False])
    assert late_store_1 is not None and on_time is not None
    assert core.bus.deliver_envelope(on_time) == outcome(applied=1)
    assert core.bus.deliver_envelope(second) == outcome(applied=1, held=1)
    assert core.bus.in_flight() == 1
    assert core.position(0, 1).on_hand == 20
    assert core.bus.deliver_envelope(late_store_1) == outcome(applied=2)  # and releases seq 2
    assert core.position(0, 1).on_hand == 14
    assert [m.event_id for m in core.ledger.movements][-2:] == ["pos/1#0", "pos/3#0"]
    assert core.bus.in_flight() == 0 and core.bus.events_lost() == 0


def test_one_envelope_may_carry_a_streams_next_two_sub_streams_in_any_order():
    core = stocked()
    a = till(core, [(1, 0, 1)])
    b = till(core, [(1, 0, 2)])
    assert core.bus.deliver_envelope(Envelope.concat([b, a])) == outcome(applied=2)
    assert [m.qty for m in core.ledger.movements][-2:] == [1, 2]  # seq 1, then seq 2


def test_a_different_event_at_a_sequence_number_already_passed_is_dead_lettered():
    core = stocked()
    env = till(core, [(1, 0, 1)])
    core.bus.deliver_envelope(env)
    impostor = Envelope("pos", K.SALE, [1], [1], [99], [0.0], [0, 1], [1], [0], [4])
    assert core.bus.deliver_envelope(impostor) == outcome(dead_lettered=1)
    dl = core.bus.dead_letters["pos/99"]
    assert dl.reason == "late: stream already past seq 1" and dl.n_events == 1
    assert core.position(0, 1).on_hand == 19


def test_a_held_sub_stream_times_out_to_the_dead_letter_queue_and_its_stream_moves_on():
    core = stocked()
    lost = till(core, [(1, 0, 1)])
    ahead = till(core, [(1, 0, 2)])
    assert core.bus.deliver_envelope(ahead) == outcome(held=1)
    core.clock.advance(3599)
    core.poll()
    assert core.bus.in_flight() == 1
    core.clock.advance(1)
    core.poll()
    assert core.bus.dead_letters["pos/2"].reason == "held 3600s waiting for seq 1"
    assert core.bus.events_lost() == 1  # `lost` never arrived: emitted, nowhere in the bus
    after = till(core, [(1, 0, 3)])
    assert core.bus.deliver_envelope(after) == outcome(applied=1)  # seq 3: the stream moved on
    assert core.bus.replay() == 1
    assert core.bus.deliver_envelope(lost) == outcome(dead_lettered=1)  # late, not lost
    assert core.bus.deliver_envelope(lost) == outcome(duplicate=1)
    assert core.bus.replay() == 1
    assert core.position(0, 1).on_hand == 14
    assert core.bus.events_lost() == 0


def test_a_refused_envelope_is_retried_with_backoff_then_dead_lettered_naming_its_line():
    core = stocked()
    pub = core.bus.envelope_publisher("wms")
    early = pub.emit(K.TRANSFER_IN, [1, 2], [0, 0], [3, 3], 0.0, counterparty=[0, 0])
    assert core.bus.deliver_envelope(early) == outcome(retrying=2)
    for wait in (30, 60, 120):
        assert core.bus.next_due() == core.clock.now() + wait
        core.clock.advance(wait)
        core.poll()
    (dl,) = core.bus.outstanding_dead_letters()
    assert dl.n_events == 2 and dl.attempts == 4
    assert dl.reason == (
        "handler failed 4x: envelope wms/1+1 line 0 (stream 1 seq 1, location 1, sku 0,"
        " counterparty 0): qty: 3 units received but only 0 in transit to location"
    )
    assert core.bus.counters.dead_lettered == 2 and core.bus.events_lost() == 0
    nxt = pub.emit(K.TRANSFER_IN, [1], [1], [1], 0.0, counterparty=[0])
    assert core.bus.deliver_envelope(nxt) == outcome(retrying=1)  # its stream moved on to seq 2
    core.transfer_out(0, 0, 1, 3)
    core.transfer_out(0, 0, 2, 3)
    core.transfer_out(1, 0, 1, 1)
    assert core.bus.replay() == 1
    core.clock.advance(240)
    core.poll()
    assert core.position(0, 1).on_hand == 23 and core.position(1, 1).on_hand == 21
    assert core.bus.counters.replayed == 2 and core.bus.events_lost() == 0


def test_a_bus_without_an_envelope_handler_refuses_envelopes():
    from orchestrator import MessageBus

    bus = MessageBus(lambda ev: None, ManualClock())
    env = bus.envelope_publisher("pos").emit(K.SALE, [1], [0], [1], 0.0)
    with pytest.raises(InvalidCommand, match="envelope_handler"):
        bus.deliver_envelope(env)


# -- the property ----------------------------------------------------------------------------------

Fact = tuple[str, MovementKind, list[tuple[int, int, int, int]], Disposition]


@st.composite
def envelope_phases(draw: st.DrawFn) -> list[list[Fact]]:
    """Two phases of envelopes (source, kind, (location, sku, qty, counterparty) lines,
    disposition); every line of the second phase is feasible in any order once the first
    phase is in (what arrives or is disposed of was shipped or returned before)."""
    on_hand = dict.fromkeys(KEYS, 0)
    transit = dict.fromkeys(KEYS, 0)
    quarantine = dict.fromkeys(KEYS, 0)
    first: list[Fact] = []
    for _ in range(draw(st.integers(1, 4))):
        source = draw(st.sampled_from(["wms", "pos", "rc"]))
        kind = draw(st.sampled_from([K.OPENING, K.RECEIPT, K.ADJUSTMENT, K.RETURN_IN]))
        kind = draw(st.sampled_from([kind, K.TRANSFER_OUT]))
        lines = []
        for _ in range(draw(st.integers(1, 5))):
            s, loc = draw(st.sampled_from(KEYS))
            q = draw(st.integers(1, 6))
            cp = -1
            if kind is K.TRANSFER_OUT:
                cp = draw(st.sampled_from([x for x in L if x != loc]))
                transit[(s, cp)] += q
            elif kind is K.RETURN_IN:
                quarantine[(s, loc)] += q
            else:
                on_hand[(s, loc)] += q
            lines.append((loc, s, q, cp))
        first.append((source, kind, lines, Disposition.NONE))
    second: list[Fact] = []
    for _ in range(draw(st.integers(0, 4))):
        source = draw(st.sampled_from(["wms", "pos", "rc"]))
        kind = draw(
            st.sampled_from(
                [K.SALE, K.SHRINK, K.ADJUSTMENT, K.TRANSFER_IN, K.TRANSIT_LOSS, K.DISPOSITION]
            )
        )
        held = {K.TRANSFER_IN: transit, K.TRANSIT_LOSS: transit, K.DISPOSITION: quarantine}
        pool = held.get(kind, on_hand)
        lines = []
        for _ in range(draw(st.integers(1, 5))):
            s, loc = draw(st.sampled_from(KEYS))
            if pool[(s, loc)] <= 0:
                continue
            q = draw(st.integers(1, pool[(s, loc)]))
            pool[(s, loc)] -= q
            cp = draw(st.sampled_from([x for x in L if x != loc])) if kind is K.TRANSFER_IN else -1
            lines.append((loc, s, -q if kind is K.ADJUSTMENT else q, cp))
        if lines:
            disp = draw(st.sampled_from(list(Disposition)[1:])) if kind is K.DISPOSITION else None
            second.append((source, kind, lines, disp or Disposition.NONE))
    return [first, second]


def emit_all(core: Orchestrator, phases: list[list[Fact]]) -> list[list[Envelope]]:
    out = []
    for phase in phases:
        envs = []
        for source, kind, lines, disp in phase:
            loc, sku, qty, cp = (list(c) for c in zip(*lines, strict=True))
            envs.append(
                core.bus.envelope_publisher(source).emit(
                    kind,
                    loc,
                    sku,
                    qty,
                    core.clock.now(),
                    counterparty=cp if kind in (K.TRANSFER_OUT, K.TRANSFER_IN) else None,
                    disposition=disp,
                )
            )
        out.append(envs)
    return out


def same(e: Envelope, f: Envelope) -> bool:
    names = ("stream", "seq", "key", "at", "start", "location", "sku", "qty")
    return (e.source, e.kind, e.disposition) == (f.source, f.kind, f.disposition) and all(
        getattr(e, n).tolist() == getattr(f, n).tolist() for n in names
    )


def settle(core: Orchestrator) -> None:
    """Run every timer, then replay dead letters until none is outstanding."""
    core.bus.drain()
    for _ in range(5):
        if not core.bus.outstanding_dead_letters():
            break
        core.bus.replay()
    assert core.bus.outstanding_dead_letters() == []
    assert core.bus.in_flight() == 0


def movements(core: Orchestrator) -> list[tuple[Any, ...]]:
    """The log as a multiset (order and recording time aside)."""
    return sorted(
        (m.event_id, m.kind, m.sku, m.location, m.qty, m.at, m.counterparty, m.disposition)
        for m in core.ledger.movements
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    phases=envelope_phases(),
    gl_mode=st.sampled_from(["immediate", "batch"]),
    data=st.data(),
)
def test_duplicates_and_reorders_of_any_sub_streams_change_nothing(phases, gl_mode, data):
    a, b = build_core(gl_mode), build_core(gl_mode)
    envs_a, envs_b = emit_all(a, phases), emit_all(b, phases)
    pairs = [
        (e, f) for pa, pb in zip(envs_a, envs_b, strict=True) for e, f in zip(pa, pb, strict=True)
    ]
    assert all(same(e, f) for e, f in pairs)  # same source, same facts: same seqs and keys

    for phase in envs_a:  # A: every envelope once, in order
        for env in phase:
            assert a.bus.deliver_envelope(env)["applied"] == env.n_streams
        a.clock.advance(60)

    for n, phase in enumerate(envs_b):  # B: sub-streams duplicated, shuffled and repacked
        parts = [p for env in phase for p in env.parts()]
        if not parts:
            continue
        extra = data.draw(st.lists(st.sampled_from(parts), max_size=len(parts)), label="dups")
        order = data.draw(st.permutations(parts + extra), label=f"phase {n} order")
        packs: list[list[Envelope]] = []
        for p in order:
            fits = packs and (packs[-1][0].kind, packs[-1][0].disposition) == (
                p.kind,
                p.disposition,
            )
            if fits and packs[-1][0].source == p.source and data.draw(st.booleans(), "join"):
                packs[-1].append(p)
            else:
                packs.append([p])
        for pack in packs:
            b.bus.deliver_envelope(Envelope.concat(pack))
            b.clock.advance(data.draw(st.sampled_from([0, 1, 120, 3599, 3600, 7200]), "dt"))
            b.poll()
            if data.draw(st.booleans(), label="replay now"):
                b.bus.replay()
        settle(b)
    settle(a)

    total = sum(e.n_streams for phase in envs_a for e in phase)
    for core in (a, b):
        core.flush_postings()
        assert core.ledger.duplicate_applications == 0
        assert core.bus.events_lost() == 0
        assert core.reconcile() == []
        inv = core.invariants()
        assert inv["units_conserved"] and inv["gl_reconciled"] and inv["gl_balanced"]
        assert core.bus.counters.applied == core.bus.counters.emitted == total
    assert {k: v for k, v in b.ledger.live_balances().items() if any(v)} == {
        k: v for k, v in a.ledger.live_balances().items() if any(v)
    }
    assert {k: v for k, v in b.gl.balances.items() if v} == {
        k: v for k, v in a.gl.balances.items() if v
    }
    assert movements(b) == movements(a)
    assert a.bus.counters.as_dict() == {
        "emitted": total,
        "applied": total,
        "duplicates_dropped": 0,
        "out_of_order_held": 0,
        "dead_lettered": 0,
        "replayed": 0,
    }
    counts = b.bus.counters.as_dict()
    assert counts["dead_lettered"] == counts["replayed"]
