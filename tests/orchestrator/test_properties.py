"""Properties of the inventory core under random sequences of commands and events.

A `RuleBasedStateMachine` drives an `Orchestrator` (small catalog, `ManualClock`)
with every command, while an independent model tracks balances, flows and
reservations; after every step the invariants of the KPI contract must hold
(/work/shared/KPIS.md, "Invariants"). A second property delivers the same facts
twice over the bus, once in order and once shuffled with duplicates, and expects
the same books. Stock-reducing facts are generated only against unreserved units
(a till sale may legitimately drive the system negative, but not here).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orchestrator import (
    Buffered,
    Catalog,
    Disposition,
    GeneralLedger,
    IdempotencyConflict,
    InvalidCommand,
    InvalidTransition,
    LaneNetwork,
    ManualClock,
    Nearest,
    Orchestrator,
    OrderLine,
    Pooled,
    ShipFromStore,
    UnknownReference,
)

# -- the small world ------------------------------------------------------------------------

SKUS = [("TEE", 1299), ("MUG", 450), ("PIN", 3)]
LOCS = [("dc", "dc"), ("s1", "store"), ("s2", "store")]
CHANNELS = [("web", "web"), ("mp", "marketplace"), ("till", "store")]
ZONE = "zone"
TRANSIT_H = {0: 24.0, 1: 4.0, 2: 6.0}  # lane transit to ZONE per location id
TTL = 900.0
BATCH_H = 4
CHANNEL_BUFFERS = {"marketplace": 2}  # Buffered: by channel kind
STORE_BUFFER = 1
STORE_PROTECTION = 1

S = range(len(SKUS))
L = range(len(LOCS))
KEYS = [(s, loc) for s in S for loc in L]
FLOW_KEYS = ("opening", "received", "sold", "shipped", "scrapped", "shrink")
SELLABLE = {Disposition.RESTOCK, Disposition.REFURBISH}
DISPOSITION_FORMS: list[Disposition | str] = [
    *[d for d in Disposition if d is not Disposition.NONE],
    "restock",
    "refurbish",
    "return_to_vendor",
    "return-to-vendor",
    "liquidate",
    "scrap",
]
ADVANCES = [0.5, 1, 59, 60, 61, 300, 899, 900, 901, 3600, BATCH_H * 3600 - 1, BATCH_H * 3600, 86400]


def build_catalog() -> Catalog:
    cat = Catalog()
    for code, cost in SKUS:
        cat.add_sku(code, cost)
    for code, kind in LOCS:
        cat.add_location(code, kind)
    for code, kind in CHANNELS:
        cat.add_channel(code, kind)
    return cat


def make_gl(mode: str) -> GeneralLedger:
    return GeneralLedger() if mode == "immediate" else GeneralLedger("batch", batch_every_h=BATCH_H)


def build_core(gl_mode: str, allocation: str = "pooled", sourcing: str = "nearest") -> Orchestrator:
    cat = build_catalog()
    net = LaneNetwork(cat)
    for loc, transit in TRANSIT_H.items():
        net.add_lane(LOCS[loc][0], ZONE, transit, 100 * transit)
    return Orchestrator(
        cat,
        ManualClock(),
        allocation=Pooled()
        if allocation == "pooled"
        else Buffered(CHANNEL_BUFFERS, store_buffer=STORE_BUFFER),
        sourcing=Nearest() if sourcing == "nearest" else ShipFromStore(STORE_PROTECTION),
        network=net,
        gl=make_gl(gl_mode),
        hold_ttl_s=TTL,
    )


def nonzero_positions(core: Orchestrator) -> dict[tuple[int, int], tuple[int, int, int]]:
    return {k: b for k, b in core.ledger.live_balances().items() if any(b)}


def nonzero_gl(core: Orchestrator) -> dict[Any, int]:
    return {k: v for k, v in core.gl.balances.items() if v}


# -- the state machine ----------------------------------------------------------------------

lines_strategy = st.lists(
    st.tuples(st.sampled_from(S), st.integers(1, 4), st.sampled_from([None, *L])),
    min_size=1,
    max_size=3,
)


class InventoryCore(RuleBasedStateMachine):
    """Random commands against the core, mirrored in a plain-Python model."""

    gl_mode = "immediate"

    def __init__(self) -> None:
        super().__init__()
        self.core: Orchestrator | None = None
        # model: balances [on_hand, in_transit, quarantined], safety, flows, reservations
        self.bal = {k: [0, 0, 0] for k in KEYS}
        self.safety = dict.fromkeys(KEYS, 0)
        self.flows = {s: dict.fromkeys(FLOW_KEYS, 0) for s in S}
        self.res: list[dict[str, Any]] = []
        self.idem: dict[str, tuple[Any, Any]] = {}
        self.orders = 0
        self.bus_events = 0

    @initialize(
        allocation=st.sampled_from(["pooled", "buffered"]),
        sourcing=st.sampled_from(["nearest", "ship-from-store"]),
        opening=st.lists(st.integers(0, 8), min_size=len(KEYS), max_size=len(KEYS)),
    )
    def build(self, allocation: str, sourcing: str, opening: list[int]) -> None:
        self.allocation = allocation
        self.sourcing = sourcing
        self.core = build_core(self.gl_mode, allocation, sourcing)
        self.clock: ManualClock = self.core.clock  # type: ignore[assignment]
        self.pub = self.core.bus.publisher("wms")
        for key, qty in zip(KEYS, opening, strict=True):
            if qty:
                self.core.opening(key[0], key[1], qty)
                self.bal[key][0] += qty
                self.flows[key[0]]["opening"] += qty

    # -- model helpers ----------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now()

    def expire(self) -> None:
        for r in self.res:
            if r["state"] == "held" and r["expires"] <= self.now:
                r["state"] = "expired"

    def reserved(self, key: tuple[int, int]) -> int:
        self.expire()
        return sum(
            r["qty"] for r in self.res if r["key"] == key and r["state"] in {"held", "confirmed"}
        )

    def free(self, key: tuple[int, int]) -> int:
        """Unreserved, unprotected on-hand: what a physical fact may take without overselling."""
        return self.bal[key][0] - self.reserved(key) - self.safety[key]

    def ats(self, key: tuple[int, int]) -> int:
        return max(0, self.free(key))

    def limit(self, key: tuple[int, int], channel: int) -> int:
        ats = self.ats(key)
        if self.allocation == "pooled":
            return ats
        kind = CHANNELS[channel][1]
        buffer = CHANNEL_BUFFERS.get(kind, 0)
        if LOCS[key[1]][1] == "store" and kind != "store":
            buffer += STORE_BUFFER
        return min(ats - buffer, ats)

    def source(self, sku: int, qty: int, channel: int) -> int | None:
        """The location the sourcing policy should pick, by shortest transit."""
        if self.sourcing == "nearest":
            options = [(0, 0)]  # only the DC ships online orders
        else:
            options = [(loc, STORE_PROTECTION if LOCS[loc][1] == "store" else 0) for loc in L]
        ok = [loc for loc, prot in options if self.limit((sku, loc), channel) - prot >= qty]
        return min(ok, key=lambda loc: (TRANSIT_H[loc], loc), default=None)

    def candidates(self, pred) -> list[tuple[int, int]]:
        return [k for k in KEYS if pred(k)]

    def snapshot(self) -> tuple:
        core = self.core
        core.reservations.sweep(self.now)
        return (
            len(core.ledger.movements),
            core.ledger.live_balances(),
            {k: p.reserved for k, p in core.ledger.positions.items()},
            len(core.gl.entries),
            [(r.state, r.qty) for r in core.reservations.by_id],
            core.ledger.duplicate_applications,
        )

    # -- time -------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from(ADVANCES))
    def advance_the_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.expire()

    @rule()
    def run_the_gl_batches_that_are_due(self) -> None:
        before = self.core.gl.unposted
        posted = self.core.post_due()
        assert 0 <= posted <= before
        if self.gl_mode == "batch":
            assert self.core.gl.next_run > self.now
        else:
            assert posted == 0

    @rule()
    def flush_postings_and_reconcile(self) -> None:
        self.core.flush_postings()
        assert self.core.gl.unposted == 0
        assert self.core.reconcile() == []
        assert self.core.gl.trial_balance_zero()

    # -- stock in ---------------------------------------------------------------------------
    @rule(
        key=st.sampled_from(KEYS),
        qty=st.integers(1, 12),
        price=st.none() | st.integers(0, 3000),
    )
    def receive(self, key, qty, price) -> None:
        m = self.core.receive(key[0], key[1], qty, price_cents=price)
        assert m.qty == qty
        self.bal[key][0] += qty
        self.flows[key[0]]["received"] += qty

    @rule(key=st.sampled_from(KEYS), qty=st.integers(1, 12))
    def load_an_opening_balance(self, key, qty) -> None:
        self.core.opening(key[0], key[1], qty)
        self.bal[key][0] += qty
        self.flows[key[0]]["opening"] += qty

    @rule(key=st.sampled_from(KEYS), qty=st.integers(1, 5))
    def deliver_a_receipt_over_the_bus_twice(self, key, qty) -> None:
        ev = self.pub.emit("stock.received", key[0], key[1], qty, self.now)
        assert self.core.bus.deliver(ev) == "applied"
        assert self.core.bus.deliver(ev) == "duplicate"
        self.bus_events += 1
        self.bal[key][0] += qty
        self.flows[key[0]]["received"] += qty

    @rule(key=st.sampled_from(KEYS), qty=st.integers(1, 4))
    def a_customer_return_arrives(self, key, qty) -> None:
        self.core.return_in(key[0], key[1], qty)
        self.bal[key][2] += qty
        self.flows[key[0]]["received"] += qty

    # -- stock out (feasible: never more than the unreserved units) ---------------------------
    def _take(self, data, what: str) -> tuple[tuple[int, int], int]:
        key = data.draw(st.sampled_from(self.candidates(lambda k: self.free(k) > 0)), label="key")
        qty = data.draw(st.integers(1, self.free(key)), label=f"{what} qty")
        return key, qty

    def _any_free(self) -> bool:
        return any(self.free(k) > 0 for k in KEYS)

    @precondition(lambda self: self.core is not None and self._any_free())
    @rule(data=st.data())
    def sell_unreserved_units_at_the_till(self, data) -> None:
        key, qty = self._take(data, "sale")
        self.core.sell(key[0], key[1], qty)
        self.bal[key][0] -= qty
        self.flows[key[0]]["sold"] += qty

    @precondition(lambda self: self.core is not None and self._any_free())
    @rule(data=st.data())
    def write_off_unreserved_units(self, data) -> None:
        key, qty = self._take(data, "shrink")
        self.core.write_off(key[0], key[1], qty)
        self.bal[key][0] -= qty
        self.flows[key[0]]["shrink"] += qty

    @rule(data=st.data(), key=st.sampled_from(KEYS), delta=st.integers(1, 6), down=st.booleans())
    def adjust_the_count(self, data, key, delta, down) -> None:
        if down:
            if self.free(key) <= 0:
                return
            delta = -data.draw(st.integers(1, self.free(key)), label="count down")
        self.core.adjust(key[0], key[1], delta)
        self.bal[key][0] += delta
        self.flows[key[0]]["shrink"] -= delta

    @precondition(lambda self: self.core is not None and self._any_free())
    @rule(data=st.data())
    def ship_a_transfer_out(self, data) -> None:
        key, qty = self._take(data, "transfer")
        dst = data.draw(st.sampled_from([loc for loc in L if loc != key[1]]), label="dst")
        self.core.transfer_out(key[0], key[1], dst, qty)
        self.bal[key][0] -= qty
        self.bal[(key[0], dst)][1] += qty

    def _in_transit(self) -> list[tuple[int, int]]:
        return self.candidates(lambda k: self.bal[k][1] > 0)

    @precondition(lambda self: self.core is not None and self._in_transit())
    @rule(data=st.data())
    def receive_a_transfer_in(self, data) -> None:
        key = data.draw(st.sampled_from(self._in_transit()), label="key")
        qty = data.draw(st.integers(1, self.bal[key][1]), label="qty")
        src = data.draw(st.sampled_from([loc for loc in L if loc != key[1]]), label="src")
        self.core.transfer_in(key[0], key[1], src, qty)
        self.bal[key][1] -= qty
        self.bal[key][0] += qty

    @precondition(lambda self: self.core is not None and self._in_transit())
    @rule(data=st.data())
    def lose_units_in_transit(self, data) -> None:
        key = data.draw(st.sampled_from(self._in_transit()), label="key")
        qty = data.draw(st.integers(1, self.bal[key][1]), label="qty")
        self.core.transit_loss(key[0], key[1], qty)
        self.bal[key][1] -= qty
        self.flows[key[0]]["shrink"] += qty

    @precondition(lambda self: self.core is not None and any(self.bal[k][2] > 0 for k in KEYS))
    @rule(data=st.data(), disposition=st.sampled_from(DISPOSITION_FORMS))
    def dispose_of_quarantined_returns(self, data, disposition) -> None:
        key = data.draw(st.sampled_from(self.candidates(lambda k: self.bal[k][2] > 0)), label="k")
        qty = data.draw(st.integers(1, self.bal[key][2]), label="qty")
        m = self.core.dispose(key[0], key[1], qty, disposition)
        self.bal[key][2] -= qty
        if m.disposition in SELLABLE:
            self.bal[key][0] += qty
        else:
            self.flows[key[0]]["scrapped"] += qty

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def set_a_safety_buffer_the_stock_can_cover(self, data, key) -> None:
        room = self.bal[key][0] - self.reserved(key)
        if room < 0:
            return
        units = data.draw(st.integers(0, min(room, 5)), label="safety")
        self.core.set_safety_buffer(key[0], key[1], units)
        self.safety[key] = units

    # -- reservations -----------------------------------------------------------------------
    def expected_reservation(self, channel: int, lines, confirm: bool, ttl: float):
        """What `reserve` must do, computed from the model: (status, [(status, loc, rid)])."""
        groups: dict[tuple[int, int | None], list[int]] = {}
        for i, (s, _q, loc) in enumerate(lines):
            groups.setdefault((s, loc), []).append(i)
        chosen = {}
        for key in groups:  # sourcing sees the stock before any line of this order is held
            if key[1] is None:
                total = sum(lines[i][1] for i in groups[key])
                chosen[key] = self.source(key[0], total, channel)
            else:
                chosen[key] = key[1]
        out: list[Any] = [None] * len(lines)
        new: list[dict[str, Any]] = []
        next_id = len(self.res)
        for key, idxs in groups.items():
            loc = chosen[key]
            total = sum(lines[i][1] for i in idxs)
            ok = loc is not None and total <= self.limit((key[0], loc), channel)
            for i in idxs:
                if ok:
                    out[i] = ("confirmed" if confirm else "held", loc, next_id)
                    r = {
                        "key": (key[0], loc),
                        "qty": lines[i][1],
                        "channel": channel,
                        "state": "confirmed" if confirm else "held",
                        "expires": math.inf if confirm else self.now + ttl,
                    }
                    self.res.append(r)  # so later groups of this order see it held
                    new.append(r)
                    next_id += 1
                else:
                    out[i] = ("rejected", loc, None)
        n_ok = sum(1 for o in out if o[0] != "rejected")
        if n_ok == len(out):
            status = "confirmed" if confirm else "held"
        elif n_ok == 0:
            status = "rejected"
        else:
            status = "partial"
        return status, out

    def _reserve(self, order_id, channel, lines, confirm, ttl, key=None):
        self.expire()
        status, expected = self.expected_reservation(channel, lines, confirm, ttl or TTL)
        result = self.core.reserve(
            order_id,
            CHANNELS[channel][0],
            [OrderLine(s, q, loc) for s, q, loc in lines],
            idempotency_key=key,
            destination=ZONE,
            confirm=confirm,
            ttl_s=ttl,
        )
        got = [(ln.status, ln.location, ln.reservation_id) for ln in result.lines]
        assert got == expected, (lines, got, expected)
        assert result.status == status
        assert [ln.qty for ln in result.lines] == [q for _s, q, _loc in lines]
        return result

    @rule(
        channel=st.sampled_from(range(len(CHANNELS))),
        lines=lines_strategy,
        confirm=st.booleans(),
        ttl=st.sampled_from([None, 60.0, 3600.0]),
    )
    def reserve_an_order(self, channel, lines, confirm, ttl) -> None:
        self.orders += 1
        self._reserve(f"o{self.orders}", channel, lines, confirm, ttl)

    @rule(
        key=st.sampled_from(["k1", "k2"]),
        order_id=st.sampled_from(["o-a", "o-b"]),
        channel=st.sampled_from(range(len(CHANNELS))),
        lines=st.lists(
            st.tuples(st.sampled_from(S), st.integers(1, 2), st.sampled_from([None, 0])),
            min_size=1,
            max_size=2,
        ),
        confirm=st.booleans(),
    )
    def reserve_with_an_idempotency_key(self, key, order_id, channel, lines, confirm) -> None:
        fingerprint = (order_id, channel, tuple(lines), confirm)
        seen = self.idem.get(key)
        if seen is None:
            result = self._reserve(order_id, channel, lines, confirm, None, key=key)
            self.idem[key] = (fingerprint, result)
            return
        before = self.snapshot()
        order = [OrderLine(s, q, loc) for s, q, loc in lines]
        ch = CHANNELS[channel][0]
        if seen[0] == fingerprint:
            again = self.core.reserve(
                order_id, ch, order, idempotency_key=key, destination=ZONE, confirm=confirm
            )
            assert again is seen[1]
        else:
            with pytest.raises(IdempotencyConflict, match=key):
                self.core.reserve(
                    order_id, ch, order, idempotency_key=key, destination=ZONE, confirm=confirm
                )
        assert self.snapshot() == before

    def _pick(self, data) -> tuple[int, dict[str, Any]]:
        rid = data.draw(st.integers(0, len(self.res) - 1), label="reservation")
        self.expire()
        return rid, self.res[rid]

    def _in_state(self, *states: str) -> list[int]:
        self.expire()
        return [i for i, r in enumerate(self.res) if r["state"] in states]

    @precondition(lambda self: self._in_state("held"))
    @rule()
    def let_the_next_hold_expire_exactly_at_its_expiry(self) -> None:
        self.clock.set(min(self.res[i]["expires"] for i in self._in_state("held")))
        self.expire()

    @precondition(lambda self: self._in_state("held"))
    @rule()
    def stop_the_clock_just_before_the_next_hold_expiry(self) -> None:
        due = min(self.res[i]["expires"] for i in self._in_state("held"))
        self.clock.set(max(self.now, due - 0.001))
        self.expire()

    @precondition(lambda self: self._in_state("held"))
    @rule(data=st.data())
    def confirm_a_live_hold(self, data) -> None:
        rid = data.draw(st.sampled_from(self._in_state("held")), label="hold")
        assert self.core.confirm(rid).state.name == "CONFIRMED"
        self.res[rid]["state"], self.res[rid]["expires"] = "confirmed", math.inf

    @precondition(lambda self: self._in_state("held", "confirmed"))
    @rule(data=st.data())
    def release_an_active_reservation(self, data) -> None:
        rid = data.draw(st.sampled_from(self._in_state("held", "confirmed")), label="active")
        assert self.core.release(rid).state.name == "RELEASED"
        self.res[rid]["state"] = "released"

    @precondition(lambda self: self._in_state("confirmed"))
    @rule(data=st.data(), short=st.booleans())
    def ship_a_confirmed_reservation(self, data, short) -> None:
        rid = data.draw(st.sampled_from(self._in_state("confirmed")), label="confirmed")
        r = self.res[rid]
        qty = data.draw(st.integers(0, r["qty"]), label="picked") if short else None
        shipped = r["qty"] if qty is None else qty
        assert self.core.ship(rid, qty).shipped_qty == shipped
        r["state"] = "fulfilled"
        self.bal[r["key"]][0] -= shipped
        self.flows[r["key"][0]]["shipped"] += shipped

    @precondition(lambda self: self.res)
    @rule(data=st.data())
    def confirm_a_reservation(self, data) -> None:
        rid, r = self._pick(data)
        if r["state"] in {"held", "confirmed"}:
            got = self.core.confirm(rid)
            assert got.state.name.lower() == "confirmed"
            r["state"], r["expires"] = "confirmed", math.inf
        else:
            with pytest.raises(InvalidTransition):
                self.core.confirm(rid)

    @precondition(lambda self: self.res)
    @rule(data=st.data())
    def release_a_reservation(self, data) -> None:
        rid, r = self._pick(data)
        if r["state"] in {"held", "confirmed", "released"}:
            assert self.core.release(rid).state.name.lower() == "released"
            r["state"] = "released"
        else:
            with pytest.raises(InvalidTransition):
                self.core.release(rid)

    @precondition(lambda self: self.res)
    @rule(data=st.data(), short=st.booleans())
    def ship_a_reservation_in_full_or_short(self, data, short) -> None:
        rid, r = self._pick(data)
        qty = data.draw(st.integers(0, r["qty"]), label="picked") if short else None
        if r["state"] == "confirmed":
            got = self.core.ship(rid, qty)
            shipped = r["qty"] if qty is None else qty
            assert got.shipped_qty == shipped
            r["state"] = "fulfilled"
            self.bal[r["key"]][0] -= shipped
            self.flows[r["key"][0]]["shipped"] += shipped
        else:
            before = self.snapshot()
            with pytest.raises(InvalidTransition):
                self.core.ship(rid, qty)
            assert self.snapshot() == before

    # -- refusals ---------------------------------------------------------------------------
    @rule(data=st.data(), key=st.sampled_from(KEYS), which=st.integers(0, 9))
    def an_impossible_command_is_refused_and_changes_nothing(self, data, key, which) -> None:
        s, loc = key
        other = (loc + 1) % len(LOCS)
        c = self.core
        attempts = [
            (InvalidCommand, lambda: c.transfer_in(s, loc, other, self.bal[key][1] + 1)),
            (InvalidCommand, lambda: c.transit_loss(s, loc, self.bal[key][1] + 1)),
            (InvalidCommand, lambda: c.dispose(s, loc, self.bal[key][2] + 1, "scrap")),
            (InvalidCommand, lambda: c.dispose(s, loc, 1, Disposition.NONE)),
            (InvalidCommand, lambda: c.dispose(s, loc, 1, "bin-it")),
            (InvalidCommand, lambda: c.adjust(s, loc, 0)),
            (InvalidCommand, lambda: c.receive(s, loc, data.draw(st.integers(-3, 0)))),
            (InvalidCommand, lambda: c.transfer_out(s, loc, loc, 1)),
            (InvalidCommand, lambda: c.reserve("bad", "web", [OrderLine(s, 0, loc)])),
            (UnknownReference, lambda: c.reserve("bad", "web", [OrderLine("NOPE", 1, loc)])),
        ]
        error, call = attempts[which]
        before = self.snapshot()
        with pytest.raises(error):
            call()
        assert self.snapshot() == before

    @precondition(lambda self: any(r["state"] == "confirmed" for r in self.res))
    @rule(data=st.data())
    def shipping_more_than_was_reserved_is_refused(self, data) -> None:
        confirmed = [i for i, r in enumerate(self.res) if r["state"] == "confirmed"]
        rid = data.draw(st.sampled_from(confirmed), label="reservation")
        before = self.snapshot()
        with pytest.raises(InvalidCommand):
            self.core.ship(rid, self.res[rid]["qty"] + 1)
        assert self.snapshot() == before

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def the_core_reports_every_invariant_held(self) -> None:
        if self.core is None:
            return
        assert self.core.invariants() == {
            "units_conserved": True,
            "gl_balanced": True,
            "gl_reconciled": True,
            "events_lost": 0,
            "duplicate_applications": 0,
            "negative_available": 0,
        }
        counters = self.core.bus.counters.as_dict()
        assert counters["emitted"] == counters["applied"] == self.bus_events
        assert counters["duplicates_dropped"] == self.bus_events

    @invariant()
    def no_position_is_reserved_beyond_its_stock(self) -> None:
        if self.core is None:
            return
        self.core.reservations.sweep(self.now)  # what any read does first
        for key, p in self.core.ledger.positions.items():
            assert 0 <= p.reserved <= p.on_hand - p.safety, (key, p)
            assert p.ats >= 0
            assert sum(p.reserved_by_channel.values()) == p.reserved
        for key in KEYS:
            assert self.core.available(*key) == self.ats(key)

    @invariant()
    def reserved_equals_the_sum_of_active_reservations(self) -> None:
        if self.core is None:
            return
        self.core.reservations.sweep(self.now)
        self.expire()
        book = self.core.reservations.by_id
        assert [r.state.name.lower() for r in book] == [r["state"] for r in self.res]
        assert [(r.sku, r.location, r.qty) for r in book] == [
            (*r["key"], r["qty"]) for r in self.res
        ]
        for key in KEYS:
            p = self.core.ledger.position(*key)
            assert p.reserved == self.reserved(key)
            by_channel = Counter()
            for r in self.res:
                if r["key"] == key and r["state"] in {"held", "confirmed"}:
                    by_channel[r["channel"]] += r["qty"]
            assert p.reserved_by_channel == dict(+by_channel)

    @invariant()
    def balances_match_the_model_and_units_are_conserved(self) -> None:
        if self.core is None:
            return
        ledger = self.core.ledger
        for key in KEYS:
            assert list(ledger.position(*key).balances()) == self.bal[key], key
            assert ledger.position(*key).safety == self.safety[key]
        assert ledger.units_conserved()
        assert ledger.rebuild_matches() == []
        for sku, t in ledger.conservation().items():
            assert {k: t[k] for k in FLOW_KEYS} == self.flows[sku]
            closing = sum(self.bal[(sku, loc)][0] + self.bal[(sku, loc)][2] for loc in L)
            in_transit = sum(self.bal[(sku, loc)][1] for loc in L)
            assert (t["closing"], t["in_transit"]) == (closing, in_transit)
            f = self.flows[sku]
            assert f["opening"] + f["received"] == (
                f["sold"] + f["shipped"] + f["scrapped"] + f["shrink"] + closing + in_transit
            )
            assert t["ok"] == 1

    @invariant()
    def every_journal_entry_balances_and_the_gl_reconciles(self) -> None:
        if self.core is None:
            return
        gl = self.core.gl
        assert gl.all_balanced()
        assert gl.trial_balance_zero()
        assert [e.movement_seq for e in gl.entries] == [m.seq for m in self.core.ledger.movements]
        assert self.core.reconcile(include_pending=True) == []
        if self.gl_mode == "immediate":
            assert gl.unposted == 0
        if gl.unposted == 0:
            assert self.core.reconcile() == []

    def teardown(self) -> None:
        if self.core is None:
            return
        self.core.flush_postings()
        assert self.core.gl.unposted == 0
        assert self.core.reconcile() == []
        assert self.core.gl.trial_balance_zero()
        assert all(e.posted for e in self.core.gl.entries)


MACHINE_SETTINGS = settings(
    max_examples=75,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("gl_mode", ["immediate", "batch"])
def test_random_commands_keep_every_invariant(gl_mode):
    machine = type(f"InventoryCore_{gl_mode}", (InventoryCore,), {"gl_mode": gl_mode})
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)


# -- duplicates and reordering on the bus ---------------------------------------------------


@st.composite
def fact_phases(draw) -> list[list[tuple[str, int, int, int, dict]]]:
    """Two phases of inventory facts; every fact of a phase is feasible in any order once the
    earlier phase has been applied (transfers and returns arrive before they are resolved)."""
    first: list[tuple[str, int, int, int, dict]] = []
    on_hand = dict.fromkeys(KEYS, 0)
    transit = dict.fromkeys(KEYS, 0)
    quarantine = dict.fromkeys(KEYS, 0)
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["received", "opening", "adjusted", "return", "transfer"]))
        key = draw(st.sampled_from(KEYS))
        qty = draw(st.integers(1, 9))
        if kind == "received":
            price = draw(st.none() | st.integers(0, 2000))
            first.append(
                ("stock.received", *key, qty, {} if price is None else {"price_cents": price})
            )
        elif kind == "opening":
            first.append(("stock.opening", *key, qty, {}))
        elif kind == "adjusted":
            first.append(("stock.adjusted", *key, qty, {"reason": "count"}))
        elif kind == "return":
            first.append(("return.received", *key, qty, {}))
            quarantine[key] += qty
            continue
        else:
            dst = draw(st.sampled_from([loc for loc in L if loc != key[1]]))
            first.append(("transfer.shipped", *key, qty, {"to": dst}))
            transit[(key[0], dst)] += qty
            continue
        on_hand[key] += qty
    second: list[tuple[str, int, int, int, dict]] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["sold", "shrink", "down", "arrived", "lost", "disposed"]))
        key = draw(st.sampled_from(KEYS))
        if kind in {"sold", "shrink", "down"}:
            if on_hand[key] <= 0:
                continue
            qty = draw(st.integers(1, on_hand[key]))
            on_hand[key] -= qty
            if kind == "down":
                second.append(("stock.adjusted", *key, -qty, {"reason": "count"}))
            else:
                second.append((f"stock.{kind}", *key, qty, {}))
        elif kind in {"arrived", "lost"}:
            if transit[key] <= 0:
                continue
            qty = draw(st.integers(1, transit[key]))
            transit[key] -= qty
            if kind == "arrived":
                src = draw(st.sampled_from([loc for loc in L if loc != key[1]]))
                second.append(("transfer.received", *key, qty, {"from": src}))
            else:
                second.append(("transfer.lost", *key, qty, {}))
        else:
            if quarantine[key] <= 0:
                continue
            qty = draw(st.integers(1, quarantine[key]))
            quarantine[key] -= qty
            disposition = draw(st.sampled_from(["restock", "refurbish", "scrap", "liquidate"]))
            second.append(("return.disposed", *key, qty, {"disposition": disposition}))
    return [first, second]


def emit_phases(core: Orchestrator, phases) -> list[list[Any]]:
    pub = core.bus.publisher("src")
    return [
        [pub.emit(t, s, loc, q, core.clock.now(), **a) for t, s, loc, q, a in p] for p in phases
    ]


def settle(core: Orchestrator) -> None:
    """Run every timer, then replay dead letters until none is outstanding."""
    core.bus.drain()
    for _ in range(5):
        if not core.bus.outstanding_dead_letters():
            break
        core.bus.replay()
    assert core.bus.outstanding_dead_letters() == []
    assert core.bus.in_flight() == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    phases=fact_phases(),
    gl_mode=st.sampled_from(["immediate", "batch"]),
    data=st.data(),
)
def test_duplicates_and_reordering_change_nothing(phases, gl_mode, data):
    a = build_core(gl_mode)
    b = build_core(gl_mode)
    events_a = emit_phases(a, phases)
    events_b = emit_phases(b, phases)
    assert events_a == events_b  # same source, same facts: same ids and sequence numbers

    for phase in events_a:  # A: every event once, in order
        for ev in phase:
            assert a.bus.deliver(ev) == "applied"
        a.clock.advance(60)

    for n, phase in enumerate(events_b):  # B: duplicated, shuffled, with time passing
        extra = (
            data.draw(st.lists(st.sampled_from(phase), max_size=len(phase)), label="dups")
            if phase
            else []
        )
        deliveries = data.draw(st.permutations(phase + extra), label=f"phase {n} order")
        for ev in deliveries:
            b.bus.deliver(ev)
            b.clock.advance(data.draw(st.sampled_from([0, 1, 120, 3599, 3600, 7200]), label="dt"))
            b.bus.poll()
            b.post_due()
            if data.draw(st.booleans(), label="replay now"):
                b.bus.replay()
        settle(b)
    settle(a)

    for core in (a, b):
        core.flush_postings()
        assert core.ledger.duplicate_applications == 0
        assert core.bus.events_lost() == 0
        assert core.reconcile() == []
        assert core.invariants()["units_conserved"]
        assert core.invariants()["gl_reconciled"]
    assert nonzero_positions(b) == nonzero_positions(a)
    assert nonzero_gl(b) == nonzero_gl(a)
    assert b.bus.counters.applied == a.bus.counters.applied == sum(map(len, phases))
    assert b.bus.counters.emitted == a.bus.counters.emitted
    assert sorted(m.event_id for m in b.ledger.movements) == sorted(
        m.event_id for m in a.ledger.movements
    )
    assert a.bus.counters.as_dict() == {
        "emitted": sum(map(len, phases)),
        "applied": sum(map(len, phases)),
        "duplicates_dropped": 0,
        "out_of_order_held": 0,
        "dead_lettered": 0,
        "replayed": 0,
    }
    b_counts = b.bus.counters.as_dict()
    assert b_counts["dead_lettered"] == b_counts["replayed"]


# -- idempotency keys ---------------------------------------------------------------------


order_lines = st.lists(
    st.builds(OrderLine, st.sampled_from(S), st.integers(1, 5), st.sampled_from([None, *L])),
    min_size=1,
    max_size=3,
)


def stocked_core() -> Orchestrator:
    core = build_core("immediate", sourcing="ship-from-store")
    for s in S:
        for loc in L:
            core.receive(s, loc, 6)
    return core


def reserved_total(core: Orchestrator) -> int:
    return sum(p.reserved for p in core.ledger.positions.values())


@settings(max_examples=60, deadline=None)
@given(lines=order_lines, confirm=st.booleans(), later=st.sampled_from([0, 10, 2 * TTL]))
def test_the_same_idempotency_key_and_request_returns_the_identical_result_and_reserves_once(
    lines, confirm, later
):
    core = stocked_core()
    first = core.reserve("o1", "web", lines, idempotency_key="k", destination=ZONE, confirm=confirm)
    reserved = reserved_total(core)
    n_reservations = len(core.reservations.by_id)
    core.clock.advance(later)
    again = core.reserve(
        "o1", "web", list(lines), idempotency_key="k", destination=ZONE, confirm=confirm
    )
    assert again is first
    assert len(core.reservations.by_id) == n_reservations
    core.reservations.sweep(core.clock.now())
    expired = sum(r.qty for r in core.reservations.by_id if r.state.name == "EXPIRED")
    assert reserved_total(core) == reserved - expired


@settings(max_examples=60, deadline=None)
@given(
    lines=order_lines,
    confirm=st.booleans(),
    change=st.sampled_from(["order", "channel", "qty", "location", "confirm", "destination"]),
)
def test_the_same_idempotency_key_with_a_different_request_raises_a_conflict(
    lines, confirm, change
):
    core = stocked_core()
    core.reserve("o1", "web", lines, idempotency_key="k", destination=ZONE, confirm=confirm)
    kw: dict[str, Any] = dict(
        order_id="o1", channel="web", lines=list(lines), destination=ZONE, confirm=confirm
    )
    if change == "order":
        kw["order_id"] = "o2"
    elif change == "channel":
        kw["channel"] = "mp"
    elif change == "qty":
        kw["lines"] = [OrderLine(lines[0].sku, lines[0].qty + 1, lines[0].location), *lines[1:]]
    elif change == "location":
        loc = lines[0].location
        kw["lines"] = [
            OrderLine(lines[0].sku, lines[0].qty, 0 if loc is None else None),
            *lines[1:],
        ]
    elif change == "confirm":
        kw["confirm"] = not confirm
    else:
        kw["destination"] = "elsewhere"
    before = (reserved_total(core), len(core.reservations.by_id))
    with pytest.raises(IdempotencyConflict, match="'k'"):
        core.reserve(idempotency_key="k", **kw)
    assert (reserved_total(core), len(core.reservations.by_id)) == before
    # a fresh key is a fresh request
    core.reserve(idempotency_key="k2", **{**kw, "destination": ZONE})


def test_an_idempotency_key_may_name_skus_and_locations_by_code_or_id():
    core = stocked_core()
    first = core.reserve("o1", "web", [OrderLine("TEE", 2, "dc")], idempotency_key="k")
    assert core.reserve("o1", 0, [OrderLine(0, 2, 0)], idempotency_key="k") is first
    assert reserved_total(core) == 2


# -- GL batch timing ------------------------------------------------------------------------


def test_a_batch_run_never_posts_an_entry_before_it_was_created():
    core = build_core("batch")
    core.clock.set(5 * 3600)  # after the 4 h batch time, before anyone polled
    core.receive(0, 0, 3)
    core.clock.set(10 * 3600)
    assert core.post_due() == 1
    (entry,) = core.gl.entries
    assert entry.posted_at >= entry.created_at
    assert min(core.gl.posting_delays()) >= 0


def test_a_batch_run_polled_on_time_posts_what_was_recorded_before_it():
    core = build_core("batch")
    core.clock.set(3600)
    core.receive(0, 0, 3)
    assert core.post_due() == 0
    assert core.reconcile() != []
    assert core.reconcile(include_pending=True) == []
    core.clock.set(BATCH_H * 3600)
    assert core.post_due() == 1
    assert core.gl.posting_delays() == [(BATCH_H - 1) * 3600]
    assert core.reconcile() == []
