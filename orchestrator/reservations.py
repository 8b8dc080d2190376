"""Reservations: holds against available-to-sell, owned by an order line.

Life cycle: held → confirmed (allocated) → fulfilled | released | expired.
A hold that passes its expiry stops counting against available-to-sell the next
time anything reads it, and is swept then. Reserving is all-or-nothing per
demand group: lines of one order for the same sku at the same location are
summed and either all reserved or all rejected.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from enum import IntEnum

from .catalog import Catalog
from .errors import InvalidCommand, InvalidTransition
from .events import EventKind, EventLog
from .ledger import StockLedger


class ReservationState(IntEnum):
    HELD = 1
    CONFIRMED = 2
    FULFILLED = 3
    RELEASED = 4
    EXPIRED = 5

    @property
    def active(self) -> bool:
        return self is ReservationState.HELD or self is ReservationState.CONFIRMED


@dataclass(slots=True)
class Reservation:
    id: int
    order_id: str
    line_no: int
    channel: int
    sku: int
    location: int
    qty: int
    state: ReservationState
    created_at: float
    expires_at: float  # math.inf once confirmed
    idempotency_key: str
    placed_at: float
    closed_at: float = math.nan
    shipped_qty: int = 0


@dataclass(slots=True)
class GroupRequest:
    """One demand group ready to reserve: the lines of an order for one sku at one location."""

    sku: int
    location: int
    line_nos: list[int]
    qtys: list[int]
    limit: int  # units the allocation policy lets this channel promise here (already clamped)

    @property
    def total(self) -> int:
        return sum(self.qtys)


@dataclass(slots=True)
class ReservationLedgerStats:
    """Counters the invariants read."""

    negative_available: int = 0  # reservations that left reserved > on-hand − safety
    holds: int = 0
    confirmed: int = 0
    rejected: int = 0
    expired: int = 0


class ReservationBook:
    """Stores reservations and moves them through their life cycle against the ledger."""

    def __init__(self, ledger: StockLedger, catalog: Catalog, log: EventLog) -> None:
        self.ledger = ledger
        self.catalog = catalog
        self.log = log
        self.by_id: list[Reservation] = []
        self.by_order: dict[str, list[int]] = {}
        self._expiry: list[tuple[float, int]] = []
        self.stats = ReservationLedgerStats()

    # -- reading -------------------------------------------------------------------
    def sweep(self, now: float) -> int:
        """Expire every hold whose expiry has passed; returns how many."""
        n = 0
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, rid = heapq.heappop(heap)
            r = self.by_id[rid]
            if r.state is ReservationState.HELD and r.expires_at <= now:
                self._close(r, ReservationState.EXPIRED, now)
                self.stats.expired += 1
                self.log.add(now, EventKind.RESERVATION_EXPIRED, rid, r.qty)
                n += 1
        return n

    def next_expiry(self) -> float | None:
        return self._expiry[0][0] if self._expiry else None

    def get(self, reservation_id: int) -> Reservation:
        if not 0 <= reservation_id < len(self.by_id):
            raise InvalidCommand(f"reservation_id: no reservation {reservation_id}")
        return self.by_id[reservation_id]

    def of_order(self, order_id: str) -> list[Reservation]:
        return [self.by_id[i] for i in self.by_order.get(order_id, ())]

    # -- writing -------------------------------------------------------------------
    def hold_group(
        self,
        g: GroupRequest,
        *,
        order_id: str,
        channel: int,
        now: float,
        placed_at: float,
        ttl: float,
        confirm: bool,
        idempotency_key: str,
    ) -> list[int] | None:
        """Reserve a whole group or nothing; returns the reservation ids, or None if rejected."""
        total = g.total
        pos = self.ledger.position(g.sku, g.location)
        if total > g.limit or total > pos.ats:
            self.stats.rejected += 1
            self.log.add(now, EventKind.RESERVATION_REJECTED, order_id, total, placed_at)
            return None
        state = ReservationState.CONFIRMED if confirm else ReservationState.HELD
        expires = math.inf if confirm else now + ttl
        ids = []
        for line_no, qty in zip(g.line_nos, g.qtys, strict=True):
            rid = len(self.by_id)
            r = Reservation(
                rid,
                order_id,
                line_no,
                channel,
                g.sku,
                g.location,
                qty,
                state,
                now,
                expires,
                idempotency_key,
                placed_at,
            )
            self.by_id.append(r)
            self.by_order.setdefault(order_id, []).append(rid)
            ids.append(rid)
            if confirm:
                self.stats.confirmed += 1
                self.log.add(now, EventKind.RESERVATION_CONFIRMED, rid, qty, placed_at)
            else:
                self.stats.holds += 1
                heapq.heappush(self._expiry, (expires, rid))
                self.log.add(now, EventKind.RESERVATION_HELD, rid, qty, placed_at)
        pos.reserved += total
        by_ch = pos.reserved_by_channel
        by_ch[channel] = by_ch.get(channel, 0) + total
        if pos.reserved > pos.on_hand - pos.safety:
            self.stats.negative_available += 1
        return ids

    def confirm(self, reservation_id: int, now: float) -> Reservation:
        self.sweep(now)
        r = self.get(reservation_id)
        if r.state is ReservationState.CONFIRMED:
            return r
        if r.state is not ReservationState.HELD:
            raise InvalidTransition(
                f"reservation {reservation_id}: cannot confirm a {r.state.name.lower()} reservation"
            )
        r.state = ReservationState.CONFIRMED
        r.expires_at = math.inf
        self.stats.confirmed += 1
        self.log.add(now, EventKind.RESERVATION_CONFIRMED, r.id, r.qty, r.placed_at)
        return r

    def release(self, reservation_id: int, now: float) -> Reservation:
        self.sweep(now)
        r = self.get(reservation_id)
        if r.state is ReservationState.RELEASED:
            return r
        if not r.state.active:
            raise InvalidTransition(
                f"reservation {reservation_id}: cannot release a {r.state.name.lower()} reservation"
            )
        self._close(r, ReservationState.RELEASED, now)
        self.log.add(now, EventKind.RESERVATION_RELEASED, r.id, r.qty)
        return r

    def fulfil(self, reservation_id: int, shipped: int, now: float) -> Reservation:
        """Mark a confirmed reservation shipped (`shipped` ≤ qty; the rest is released)."""
        self.sweep(now)
        r = self.get(reservation_id)
        if r.state is not ReservationState.CONFIRMED:
            raise InvalidTransition(
                f"reservation {reservation_id}: only a confirmed reservation can be fulfilled, "
                f"this one is {r.state.name.lower()}"
            )
        if not isinstance(shipped, int) or isinstance(shipped, bool):
            raise InvalidCommand(f"qty: shipped must be a whole number, got {shipped!r}")
        if not 0 <= shipped <= r.qty:
            raise InvalidCommand(f"qty: shipped must be within 0..{r.qty}, got {shipped}")
        r.shipped_qty = shipped
        self._close(r, ReservationState.FULFILLED, now)
        self.log.add(now, EventKind.RESERVATION_FULFILLED, r.id, shipped, r.qty - shipped)
        return r

    def _close(self, r: Reservation, state: ReservationState, now: float) -> None:
        pos = self.ledger.position(r.sku, r.location)
        pos.reserved -= r.qty
        by_ch = pos.reserved_by_channel
        left = by_ch.get(r.channel, 0) - r.qty
        if left:
            by_ch[r.channel] = left
        else:
            by_ch.pop(r.channel, None)
        r.state = state
        r.closed_at = now

    def active_reserved(self) -> dict[tuple[int, int], int]:
        """Reserved units per (sku, location) recomputed from the reservations themselves."""
        out: dict[tuple[int, int], int] = {}
        for r in self.by_id:
            if r.state.active:
                key = (r.sku, r.location)
                out[key] = out.get(key, 0) + r.qty
        return out
