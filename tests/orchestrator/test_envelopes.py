"""Envelopes: many locations' lines in one event, applied by column through the core.

The central property: an envelope leaves the core exactly as the same lines applied one
command at a time (positions, the movement log, anomaly records, GL balances, posting
delays, reconciliation), for every kind, including refusals — a bad line refuses the
whole envelope, naming the line the commands would have stopped at, and nothing changes.
Then the bus: duplicates and reorders of any sub-streams change nothing, nothing is
lost or applied twice (`test_envelope_bus.py` holds that property).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestrator import (
    BusCounters,
    Catalog,
    Disposition,
    Envelope,
    EnvelopePublisher,
    Fate,
    GeneralLedger,
    InvalidCommand,
    ManualClock,
    MovementKind,
    Orchestrator,
    UnknownReference,
)
from orchestrator import ledger as ledger_module
from orchestrator.envelope import DEFAULT_ACTOR_REASON

K = MovementKind
SKUS = [("TEE", 1299), ("MUG", 450), ("PIN", 3)]
LOCS = [("dc", "dc"), ("s1", "store"), ("s2", "store"), ("s3", "store")]
S = range(len(SKUS))
L = range(len(LOCS))
BATCH_H = 4


def build_core(gl_mode: str = "immediate") -> Orchestrator:
    cat = Catalog()
    for code, cost in SKUS:
        cat.add_sku(code, cost)
    for code, kind in LOCS:
        cat.add_location(code, kind)
    cat.add_channel("web", "web")
    gl = GeneralLedger() if gl_mode == "immediate" else GeneralLedger("batch", batch_every_h=4)
    return Orchestrator(cat, ManualClock(), gl=gl)


def emit(core: Orchestrator, kind: MovementKind, lines: list[tuple], **kw: Any) -> Envelope:
    """An envelope of (location, sku, qty) lines (stream = location) from source "src"."""
    loc, sku, qty = (list(c) for c in zip(*lines, strict=True))
    return core.bus.envelope_publisher("src").emit(kind, loc, sku, qty, 100.0, **kw)


# -- the envelope itself ----------------------------------------------------------------------


def test_a_publisher_groups_lines_by_stream_and_stamps_a_seq_and_key_per_stream():
    core = build_core()
    pub = core.bus.envelope_publisher("pos")
    env = pub.emit(K.SALE, [2, 1, 2, 1], [0, 1, 2, 0], [1, 2, 3, 4], [10.0, 11.0, 12.0, 13.0])
    assert env.stream.tolist() == [1, 2]
    assert env.seq.tolist() == [1, 1]
    assert env.key.tolist() == [1, 2]
    assert env.at.tolist() == [11.0, 10.0]  # a sub-stream's first line's time
    assert env.start.tolist() == [0, 2, 4]
    assert env.location.tolist() == [1, 1, 2, 2]
    assert env.sku.tolist() == [1, 0, 0, 2]  # kept in order within a stream
    assert env.qty.tolist() == [2, 4, 1, 3]
    again = pub.emit(K.SALE, [1], [0], [1], 20.0)
    assert (again.seq.tolist(), again.key.tolist()) == ([2], [3])
    assert env.event_id == "pos/1+1" and again.event_id == "pos/3"
    assert core.bus.counters.emitted == 3  # a sub-stream is an event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": [0, 1]}, "start"),
        ({"start": [0, 2, 1, 3]}, "start"),
        ({"seq": [0, 1]}, "seq"),
        ({"qty": [1, 1]}, "location, qty"),
        ({"counterparty": [1, 1, 1]}, "counterparty"),
        ({"price": [1, 1, 1]}, "price"),
        ({"disposition": Disposition.SCRAP}, "disposition"),
        ({"sku": [0.5, 1.0, 2.0]}, "sku"),
        ({"stream": []}, "stream"),
    ],
)
def test_an_envelope_with_a_broken_layout_is_refused_naming_the_field(change, field):
    cols: dict[str, Any] = dict(
        stream=[1, 2],
        seq=[1, 1],
        key=[1, 2],
        at=[0.0, 0.0],
        start=[0, 2, 3],
        location=[1, 1, 2],
        sku=[0, 1, 2],
        qty=[1, 1, 1],
    )
    if change.get("stream") == []:
        cols.update(stream=[], seq=[], key=[], at=[], start=[0])
    else:
        cols.update(change)
    with pytest.raises(InvalidCommand, match=field):
        Envelope("pos", K.SALE, **cols)


def test_a_transfer_needs_its_counterparty_column_and_a_disposition_its_disposition():
    core = build_core()
    with pytest.raises(InvalidCommand, match="counterparty"):
        emit(core, K.TRANSFER_OUT, [(0, 0, 1)])
    with pytest.raises(InvalidCommand, match="disposition"):
        emit(core, K.DISPOSITION, [(0, 0, 1)])
    emit(core, K.TRANSFER_OUT, [(0, 0, 1)], counterparty=[1])
    emit(core, K.DISPOSITION, [(0, 0, 1)], disposition=Disposition.RESTOCK)


def test_the_columns_of_an_envelope_are_read_only():
    env = emit(build_core(), K.SALE, [(1, 0, 1)])
    with pytest.raises(ValueError):
        env.qty[0] = 5


def test_sub_streams_move_between_envelopes_with_their_lines():
    core = build_core()
    env = emit(core, K.SALE, [(1, 0, 1), (2, 1, 2), (2, 2, 3), (3, 0, 4)])
    chosen, rest = env.split([False, True, False])
    assert chosen is not None and rest is not None
    assert chosen.stream.tolist() == [2] and chosen.qty.tolist() == [2, 3]
    assert rest.stream.tolist() == [1, 3] and rest.qty.tolist() == [1, 4]
    back = Envelope.concat([rest, chosen])
    assert back.stream.tolist() == [1, 3, 2]
    assert back.qty.tolist() == [1, 4, 2, 3]
    assert back.start.tolist() == [0, 1, 2, 4]
    assert [p.stream.tolist() for p in env.parts()] == [[1], [2], [3]]
    assert env.split([True, True, True])[1] is None
    other = emit(core, K.RECEIPT, [(1, 0, 1)])
    with pytest.raises(InvalidCommand, match="differs"):
        Envelope.concat([env, other])


# -- applied by the core ------------------------------------------------------------------------


def test_an_envelope_of_sales_moves_every_store_and_books_one_journal_entry():
    core = build_core()
    core.apply_envelope(emit(core, K.OPENING, [(loc, s, 10) for loc in L for s in S]))
    entries = len(core.gl.entries)
    core.apply_envelope(emit(core, K.SALE, [(1, 0, 3), (2, 0, 12), (3, 2, 1), (1, 1, 2)]))
    assert len(core.gl.entries) == entries + 1
    assert core.position(0, 1).on_hand == 7
    assert core.position(0, 2).on_hand == -2
    assert core.ledger.dips == [(0, 2, 100.0)]
    assert core.gl.balances[(1400, 1, 0)] == 7 * 1299
    assert core.reconcile() == []
    assert core.check().invariants["gl_balanced"]
    assert core.check().invariants["units_conserved"]


def test_a_bad_line_refuses_the_whole_envelope_naming_it_and_nothing_changes():
    core = build_core()
    core.apply_envelope(emit(core, K.OPENING, [(1, 0, 5)]))
    before = (len(core.ledger.movements), len(core.gl.entries), core.ledger.live_balances())
    env = emit(core, K.SALE, [(1, 0, 1), (1, 1, 2), (2, 2, 0), (2, 0, 1)])
    with pytest.raises(InvalidCommand) as err:
        core.apply_envelope(env)
    assert str(err.value) == (
        "envelope src/2+1 line 2 (stream 2 seq 1, location 2, sku 2):"
        " qty: must be > 0 for sale, got 0"
    )
    assert (len(core.ledger.movements), len(core.gl.entries), core.ledger.live_balances()) == (
        before
    )


def test_an_unknown_reference_is_named_by_line_with_the_catalogs_words():
    core = build_core()
    with pytest.raises(UnknownReference, match=r"line 1 .*: sku: no sku with id 7"):
        core.apply_envelope(emit(core, K.RECEIPT, [(1, 0, 1), (1, 7, 1)]))
    with pytest.raises(UnknownReference, match=r"line 0 .*: location: no location with id 9"):
        core.apply_envelope(emit(core, K.TRANSFER_OUT, [(1, 0, 1)], counterparty=[9]))
    assert len(core.ledger.movements) == 0


def test_a_transfer_in_beyond_what_is_in_transit_counts_the_envelopes_earlier_lines():
    core = build_core()
    core.opening(0, 0, 10)
    core.transfer_out(0, 0, 1, 5)
    env = emit(core, K.TRANSFER_IN, [(1, 0, 3), (1, 0, 3)], counterparty=[0, 0])
    with pytest.raises(InvalidCommand, match=r"line 1 .*: qty: 3 units received but only 2 in"):
        core.apply_envelope(env)


def test_an_envelopes_movements_read_like_any_other_in_the_log():
    core = build_core()
    core.receive(0, 1, 4)  # a command before: in the log's tail
    core.apply_envelope(emit(core, K.RECEIPT, [(1, 1, 2), (2, 2, 3)], price=[500, 2]))
    core.sell(0, 1, 1)  # and after
    log = core.ledger.movements
    assert [m.event_id for m in log] == ["cmd:1", "src/1#0", "src/2#0", "cmd:2"]
    assert [m.price_cents for m in log] == [1299, 500, 2, 0]
    assert log[1].actor == DEFAULT_ACTOR_REASON[K.RECEIPT][0]
    assert log.column("qty").tolist() == [4, 2, 3, 1]
    assert log.column("location", 1, 3).tolist() == [1, 2]
    assert log.take("kind", np.array([3, 0, 2])).tolist() == [K.SALE, K.RECEIPT, K.RECEIPT]
    assert core.gl.balances[(5200, -1, 1)] == 2 * (500 - 450)  # price variance
    assert core.reconcile() == [] and core.check().invariants["gl_balanced"]


def test_a_log_spanning_several_numpy_blocks_reads_back_whole(monkeypatch):
    monkeypatch.setattr(ledger_module, "LINE_BLOCK", 4)
    core = build_core()
    core.apply_envelope(emit(core, K.OPENING, [(loc, s, 9) for loc in L for s in S]))
    core.sell(1, 1, 2)
    core.apply_envelope(emit(core, K.SALE, [(2, 0, 1), (3, 1, 1), (3, 2, 2)]))
    log = core.ledger.movements
    assert len(log) == 16
    assert log.column("qty").tolist() == [9] * 12 + [2, 1, 1, 2]
    assert log.column("sku", 5, 14).tolist() == [2, 0, 1, 2, 0, 1, 2, 1, 0]
    assert log.take("qty", np.array([15, 0, 12])).tolist() == [2, 9, 2]
    assert [m.qty for m in log[11:15]] == [9, 2, 1, 1]
    assert core.ledger.rebuild_matches() == []


def test_a_network_too_big_for_the_dense_slot_map_is_looked_up_sparsely(monkeypatch):
    def run() -> Orchestrator:
        core = build_core()
        core.apply_envelope(emit(core, K.RECEIPT, [(1, 0, 4), (2, 1, 2), (3, 2, 1)]))
        core.sell(2, 3, 1)  # a position the map has not seen yet
        core.apply_envelope(emit(core, K.SALE, [(2, 1, 1), (1, 0, 5), (3, 2, 2)]))
        return core

    dense = run()
    monkeypatch.setattr(ledger_module, "DENSE_MAX_CELLS", 2)
    sparse = run()
    assert sparse.ledger._map is None and dense.ledger._map is not None
    assert sparse.ledger.live_balances() == dense.ledger.live_balances()
    assert sparse.ledger.dips == dense.ledger.dips
    assert (0, 1, 100.0) in dense.ledger.dips


def test_reconcile_recent_sees_the_lines_an_envelope_posted():
    core = build_core("batch")
    core.apply_envelope(emit(core, K.RECEIPT, [(1, 0, 4), (2, 1, 2)]))
    assert {(d.location, d.sku) for d in core.reconcile_recent()} == {(1, 0), (2, 1)}
    core.clock.set(BATCH_H * 3600)
    core.post_due()
    assert core.reconcile_recent() == []
    assert core.gl.posting_delays() == [BATCH_H * 3600 - 100.0] * 2


# -- the property: an envelope is its lines one command at a time --------------------------------


def one_command(core: Orchestrator, kind: MovementKind, line: dict[str, Any]) -> None:
    """Apply one envelope line through the per-command API."""
    kw = {"event_id": line["event_id"], "at": line["at"]}
    loc, sku, q, cp = line["location"], line["sku"], line["qty"], line.get("counterparty")
    if kind is K.OPENING:
        core.opening(sku, loc, q, **kw)
    elif kind is K.RECEIPT:
        core.receive(sku, loc, q, price_cents=line.get("price"), **kw)
    elif kind is K.SALE:
        core.sell(sku, loc, q, **kw)
    elif kind is K.SHIPMENT:  # the movement `ship` records, without a reservation
        core._move(K.SHIPMENT, sku, loc, q, actor="shipping", **kw)
    elif kind is K.TRANSFER_OUT:
        core.transfer_out(sku, loc, cp, q, **kw)
    elif kind is K.TRANSFER_IN:
        core.transfer_in(sku, loc, cp, q, **kw)
    elif kind is K.TRANSIT_LOSS:
        core.transit_loss(sku, loc, q, **kw)
    elif kind is K.RETURN_IN:
        core.return_in(sku, loc, q, **kw)
    elif kind is K.DISPOSITION:
        core.dispose(sku, loc, q, line["disposition"], **kw)
    elif kind is K.ADJUSTMENT:
        core.adjust(sku, loc, q, **kw)
    else:
        assert kind is K.SHRINK
        core.write_off(sku, loc, q, **kw)


def lines_of(env: Envelope) -> list[dict[str, Any]]:
    """The envelope's lines in order, with what a command needs for each."""
    out = []
    for i in range(env.n_lines):
        s = int(env.line_stream(np.array([i]))[0])
        line = {
            "location": int(env.location[i]),
            "sku": int(env.sku[i]),
            "qty": int(env.qty[i]),
            "at": float(env.at[s]),
            "event_id": f"{env.source}/{int(env.key[s])}#{i - int(env.start[s])}",
            "disposition": env.disposition,
        }
        if env.counterparty is not None:
            line["counterparty"] = int(env.counterparty[i])
        if env.price is not None:
            line["price"] = int(env.price[i])
        out.append(line)
    return out


def state(core: Orchestrator) -> dict[str, Any]:
    """Everything an envelope may change, in comparable form."""
    t, led, gl = core.ledger.table, core.ledger, core.gl
    first = t.column("first_moved_at")
    return {
        "slots": list(zip(t.sku, t.location, strict=True)),
        "balances": led.live_balances(),
        "first_moved": led.first_moved,
        "unmoved": (t.unmoved, int(np.isnan(first).sum())),
        "log": list(led.movements),
        "dips": list(led.dips),
        "loss_rows": led.loss_rows.tolist(),
        "duplicates": led.duplicate_applications,
        "gl": dict(gl.balances.items()),
        "pending": sorted(gl.reconcile(led, core._std_table(), include_pending=True), key=str),
        "unposted": gl.unposted,
        "delays": gl.posting_delays(),
    }


LINE_KINDS = list(MovementKind)


@st.composite
def envelope_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A kind, a starting state (by commands) and an envelope's lines, sometimes bad: for
    kinds that take stock in transit or in quarantine, lines mostly name such stock."""
    kind = draw(st.sampled_from(LINE_KINDS))
    setup = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["open", "ship", "ship", "return", "return"]),
                st.sampled_from(S),
                st.sampled_from(L),
                st.integers(1, 6),
                st.sampled_from(L),
            ),
            max_size=10,
        )
    )
    moving = [(to, s) for what, s, at, _q, to in setup if what == "ship" and to != at]
    held = {
        K.TRANSFER_IN: moving,
        K.TRANSIT_LOSS: moving,
        K.DISPOSITION: [(at, s) for what, s, at, _q, _o in setup if what == "return"],
    }.get(kind)
    valid = draw(st.integers(0, 2)) > 0  # two cases in three stay within the catalog
    loc = st.sampled_from(L) if valid else st.sampled_from([*L, *L, -1, len(LOCS)])
    sku = st.sampled_from(S) if valid else st.sampled_from([*S, *S, -1, len(SKUS)])
    low = -3 if kind is K.ADJUSTMENT else (1 if valid else -1)
    # lines mostly at a few positions, so they meet: running totals, dips, first moves
    pool = draw(st.lists(st.tuples(loc, sku), min_size=1, max_size=3))
    if held:
        pool = draw(st.lists(st.sampled_from(held), min_size=1, max_size=2))
    n = draw(st.integers(1, 4 if held else 8))
    lines = []
    for _ in range(n):
        if draw(st.integers(0, 9 if held else 3)):
            where, what = draw(st.sampled_from(pool))
            q = draw(st.integers(low, 2 if held else 3))
        else:
            where, what, q = draw(loc), draw(sku), draw(st.integers(low, 6))
        lines.append(
            {
                "location": where,
                "sku": what,
                "qty": q,
                "stream": draw(st.integers(0, 3)),
                "counterparty": draw(loc),
                "price": draw(st.integers(0, 3000)),
                "at": float(draw(st.integers(0, 10**6))),
            }
        )
    priced = kind is K.RECEIPT and draw(st.booleans())
    disposition = draw(st.sampled_from([d for d in Disposition if d is not Disposition.NONE]))
    gl_mode = draw(st.sampled_from(["immediate", "batch"]))
    return {
        "kind": kind,
        "setup": setup,
        "lines": lines,
        "priced": priced,
        "disposition": disposition,
        "gl_mode": gl_mode,
    }


def prepared(case: dict[str, Any]) -> Orchestrator:
    core = build_core(case["gl_mode"])
    core.clock.set(50.0)
    for what, s, loc, q, other in case["setup"]:
        if what == "open":
            core.opening(s, loc, q)
        elif what == "ship" and other != loc:
            core.opening(s, loc, q)
            core.transfer_out(s, loc, other, q)  # in transit to `other`
        elif what == "return":
            core.return_in(s, loc, q)
    return core


def case_of(kind: MovementKind, lines: list[tuple], setup: list | None = None) -> dict:
    """A fixed case: (location, sku, qty, stream, counterparty, at) lines."""
    return {
        "kind": kind,
        "setup": setup or [],
        "lines": [
            dict(location=lc, sku=s, qty=q, stream=st_, counterparty=cp, price=0, at=at)
            for lc, s, q, st_, cp, at in lines
        ],
        "priced": False,
        "disposition": Disposition.RESTOCK,
        "gl_mode": "immediate",
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=envelope_cases())
# counts at one position: the +3 keeps the -2 from dipping, the -3 dips twice
@example(
    case=case_of(K.ADJUSTMENT, [(1, 0, 3, 0, 0, 5.0), (1, 0, -2, 1, 0, 6.0), (1, 0, 2, 2, 0, 7.0)])
)
@example(
    case=case_of(K.ADJUSTMENT, [(1, 0, -1, 0, 0, 5.0), (1, 0, 1, 1, 0, 6.0), (1, 0, -3, 2, 0, 7.0)])
)
# two receipts of one transfer: the second finds what the first left in transit
@example(
    case=case_of(
        K.TRANSFER_IN, [(2, 1, 2, 0, 0, 5.0), (2, 1, 2, 1, 0, 6.0)], [("ship", 1, 0, 3, 2)]
    )
)
def test_an_envelope_leaves_the_core_exactly_as_its_lines_one_command_at_a_time(case):
    same_as_one_command_at_a_time(case)


def same_as_one_command_at_a_time(case: dict[str, Any]) -> None:
    kind = case["kind"]
    a, b = prepared(case), prepared(case)
    lines = case["lines"]
    col = {name: [ln[name] for ln in lines] for name in lines[0]}
    env = EnvelopePublisher("src", BusCounters()).emit(  # not through the bus: no emitted count
        kind,
        col["location"],
        col["sku"],
        col["qty"],
        col["at"],
        stream=col["stream"],
        counterparty=col["counterparty"] if kind in (K.TRANSFER_OUT, K.TRANSFER_IN) else None,
        price=col["price"] if case["priced"] else None,
        disposition=case["disposition"] if kind is K.DISPOSITION else Disposition.NONE,
    )
    before = state(a)
    a.clock.advance(7.0)
    b.clock.advance(7.0)

    refused: tuple[int, Exception] | None = None
    for i, line in enumerate(lines_of(env)):
        try:
            one_command(b, kind, line)
        except (InvalidCommand, UnknownReference) as exc:
            refused = (i, exc)
            break
    try:
        a.apply_envelope(env)
    except (InvalidCommand, UnknownReference) as exc:
        assert refused is not None, f"the envelope refused what commands took: {exc}"
        i, theirs = refused
        assert type(exc) is type(theirs)
        assert f" line {i} (" in str(exc)
        assert str(exc).endswith(f": {theirs}")
        assert state(a) == before  # nothing changed, nothing was created
        return
    assert refused is None, f"the envelope took what a command refused: {refused[1]}"

    sa, sb = state(a), state(b)
    assert sa == sb
    for core in (a, b):
        core.flush_postings()
    assert dict(a.gl.balances.items()) == dict(b.gl.balances.items())
    assert a.gl.posting_delays() == b.gl.posting_delays()
    assert a.reconcile() == b.reconcile() == []
    assert a.reconcile_recent() == b.reconcile_recent() == []
    assert a.check().invariants == b.check().invariants
    assert a.check().invariants["gl_balanced"] and a.check().invariants["units_conserved"]
    assert a.ledger.rebuild_matches() == []


# -- an envelope's one journal entry along the ERP's path and finance's close -------------------


class Fated:
    """An ERP answering 1 s after each send with the scripted fates in turn (then POSTED)."""

    def __init__(self, *fates: Fate) -> None:
        self.fates = list(fates)

    def send(self, now: float, n: int) -> list[tuple[float, Fate]]:
        return [(now + 1.0, self.fates.pop(0) if self.fates else Fate.POSTED) for _ in range(n)]


def gl_core(gl: GeneralLedger) -> Orchestrator:
    core = build_core()
    core.gl = gl
    core.gl.on_rejected = core._posting_rejected
    return core


def test_a_count_envelope_over_the_approval_limit_waits_for_finance_as_one_entry():
    core = gl_core(GeneralLedger(auto_approve_max_cents=5000))
    core.opening(0, 1, 10)
    core.apply_envelope(emit(core, K.ADJUSTMENT, [(1, 0, -3), (2, 1, 20), (3, 2, -1)]))
    assert core.gl.unposted == 3
    found = core.close_period()
    assert sorted((m.kind, m.location) for m in found) == [
        ("count_adjustment", loc) for loc in L[1:]
    ]
    assert core.gl.unposted == 0 and core.reconcile() == []


def test_an_envelope_entry_rejected_or_posted_twice_is_put_right_at_the_close():
    core = gl_core(GeneralLedger(path=Fated(Fate.REJECTED, Fate.DUPLICATED)))
    core.apply_envelope(emit(core, K.RECEIPT, [(1, 0, 4), (2, 1, 2)]))
    core.apply_envelope(emit(core, K.SALE, [(1, 0, 1)]))
    core.clock.advance(1.0)
    core.poll()
    assert core.gl.rejected and core.gl.duplicates
    assert len(core.exceptions.open()) == 1
    assert core.reconcile() != []
    kinds = sorted({m.kind for m in core.close_period()})
    assert kinds == ["duplicate_posting", "failed_posting"]
    assert core.reconcile() == [] and core.check().invariants["gl_reconciled"]
    assert core.exceptions.open() == []


def test_a_command_envelope_moves_many_locations_as_their_commands_do_one_by_one():
    lines = [(1, 0, 4), (2, 0, -3), (1, 2, 7), (3, 1, -1)]
    by_envelope, by_command = build_core(), build_core()
    for core in (by_envelope, by_command):
        for loc, sku, _q in lines:
            core.receive(sku, loc, 10)
    env = by_envelope.move_envelope(
        MovementKind.ADJUSTMENT,
        [ln[0] for ln in lines],
        [ln[1] for ln in lines],
        [ln[2] for ln in lines],
        reason="cycle count",
    )
    for loc, sku, q in sorted(lines, key=lambda ln: ln[0]):  # grouped by location, in order
        by_command.adjust(sku, loc, q)
    got, want = state(by_envelope), state(by_command)
    assert got["balances"] == want["balances"]
    assert got["gl"] == want["gl"]
    assert [(m.kind, m.sku, m.location, m.qty, m.reason) for m in got["log"]] == [
        (m.kind, m.sku, m.location, m.qty, m.reason) for m in want["log"]
    ]
    assert env.n_streams == 3  # a sub-stream per location
    assert by_envelope.bus.counters.emitted == 0  # a command, not a bus event


def test_a_command_envelope_with_a_bad_line_changes_nothing_and_names_it():
    core = build_core()
    core.receive(0, 1, 5)
    before = state(core)
    with pytest.raises(UnknownReference, match="line"):
        core.move_envelope(MovementKind.ADJUSTMENT, [1, 9], [0, 0], [1, 1])
    assert state(core) == before
