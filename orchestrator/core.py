"""The orchestrator: one entry point that turns commands and inventory events into
ledger movements, reservations and GL postings, and checks its own invariants.

Commands are imperative methods (`receive`, `reserve`, `ship`, ...); facts from
sources arrive as canonical events through the message bus (`bus.deliver`),
whose handler is `apply_event`. Time comes only from the `Clock` port.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .allocation import AllocationPolicy, Pooled
from .bus import InventoryEvent, MessageBus
from .catalog import Catalog, Ref
from .clock import Clock, ManualClock
from .envelope import Envelope, EnvelopePublisher
from .errors import IdempotencyConflict, InvalidCommand, InvalidEvent, UnknownReference
from .events import EventKind, EventLog
from .exceptions import ExceptionQueue
from .gl import RECONCILED, Account, AnyEntry, Difference, GeneralLedger, Mismatch
from .governance import AuditTrail, RuleBook, default_rules
from .ledger import Disposition, Movement, MovementKind, Position, StockLedger
from .reservations import GroupRequest, Reservation, ReservationBook
from .sourcing import Demand, LaneNetwork, Nearest, SourcingContext, SourcingPolicy, SourcingTrace


class Timed(Protocol):
    """A workflow with its own timers (approval SLAs, ...), driven through the core's clock."""

    def next_due(self) -> float | None: ...

    def poll(self) -> object: ...


@dataclass(slots=True, frozen=True)
class OrderLine:
    """One line of an order: a sku, a quantity and optionally the location to take it from."""

    sku: Ref
    qty: int
    location: Ref | None = None


@dataclass(slots=True)
class LineResult:
    line_no: int
    sku: int
    qty: int
    location: int | None
    reservation_id: int | None
    status: str  # "held", "confirmed" or "rejected"
    reason: str = ""


@dataclass(slots=True)
class ReservationResult:
    """What `reserve` did with each line; `status` sums it up for the order."""

    order_id: str
    status: str  # "confirmed", "held", "partial" or "rejected"
    lines: list[LineResult]
    traces: list[SourcingTrace] = field(default_factory=list)

    @property
    def reservation_ids(self) -> list[int]:
        return [ln.reservation_id for ln in self.lines if ln.reservation_id is not None]


_DISPOSITIONS = {d.name.lower(): d for d in Disposition if d is not Disposition.NONE}


def _disposition(d: Disposition | str) -> Disposition:
    """A disposition by value or by name ("restock", "return-to-vendor", …)."""
    if isinstance(d, str):
        try:
            return _DISPOSITIONS[d.replace("-", "_")]
        except KeyError:
            raise InvalidCommand(
                f"disposition: must be one of {', '.join(_DISPOSITIONS)}, got {d!r}"
            ) from None
    return d


class Orchestrator:
    """The inventory-truth core: ledger, reservations, policies, GL postings and the bus."""

    def __init__(
        self,
        catalog: Catalog,
        clock: Clock | None = None,
        *,
        allocation: AllocationPolicy | None = None,
        sourcing: SourcingPolicy | None = None,
        network: LaneNetwork | None = None,
        gl: GeneralLedger | None = None,
        rules: RuleBook | None = None,
        hold_ttl_s: float = 900.0,
        bus_hold_timeout_s: float = 3600.0,
        bus_max_attempts: int = 4,
        bus_backoff_s: float = 30.0,
    ) -> None:
        if hold_ttl_s <= 0:
            raise InvalidCommand(f"hold_ttl_s: must be > 0, got {hold_ttl_s}")
        self.catalog = catalog
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.allocation: AllocationPolicy = allocation if allocation is not None else Pooled()
        self.sourcing: SourcingPolicy = sourcing if sourcing is not None else Nearest()
        self.network = network if network is not None else LaneNetwork(catalog)
        self.gl = gl if gl is not None else GeneralLedger()
        self.hold_ttl_s = hold_ttl_s
        self.log = EventLog()
        self.rules = rules if rules is not None else default_rules()
        self.audit = AuditTrail()
        self.exceptions = ExceptionQueue(self.rules, self.clock, self.audit)
        self.gl.on_rejected = self._posting_rejected
        self.ledger = StockLedger()
        self.reservations = ReservationBook(self.ledger, catalog, self.log)
        self.bus = MessageBus(
            self.apply_event,
            self.clock,
            hold_timeout_s=bus_hold_timeout_s,
            max_attempts=bus_max_attempts,
            backoff_s=bus_backoff_s,
            envelope_handler=self.apply_envelope,
        )
        self._idem: dict[str, tuple[tuple[Any, ...], ReservationResult]] = {}
        self._cmd = 0
        self._envelopes = EnvelopePublisher("cmd", _Tally())  # commands, not bus events
        self._timed: list[Timed] = []
        self._recon_from = 0  # movements already covered by `reconcile_recent`
        self._recon_open = np.zeros(0, dtype=np.int64)  # GL lines that differed then (packed)
        self._std = [s.std_cost_cents for s in catalog.skus]
        self._std_np = np.asarray(self._std, dtype=np.int64)

    # -- helpers -----------------------------------------------------------------------
    def _event_id(self, event_id: str | None) -> str:
        if event_id is not None:
            return event_id
        self._cmd += 1
        return f"cmd:{self._cmd}"

    def _std_table(self) -> list[int]:
        if len(self._std) != len(self.catalog.skus):  # catalog grew after construction
            self._std = [s.std_cost_cents for s in self.catalog.skus]
        return self._std

    def _std_array(self) -> np.ndarray:
        """Standard cost per sku id, as numpy (for envelopes)."""
        std = self._std_table()
        if len(self._std_np) != len(std):
            self._std_np = np.asarray(std, dtype=np.int64)
        return self._std_np

    def std_costs(self) -> np.ndarray:
        """Standard cost per sku id in cents (read-only numpy)."""
        a = self._std_array().view()
        a.flags.writeable = False
        return a

    def _std_cost(self, sku: int) -> int:
        std = self._std if sku < len(self._std) else self._std_table()
        return std[sku]

    def _move(
        self,
        kind: MovementKind,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        event_id: str | None,
        at: float | None,
        **extra: Any,
    ) -> Movement:
        s = self.catalog.sku(sku)
        loc = self.catalog.location(location)
        if not isinstance(qty, int) or isinstance(qty, bool):
            raise InvalidCommand(f"qty: must be a whole number, got {qty!r}")
        now = self.clock.now()
        m = self.ledger.record(
            kind,
            s,
            loc,
            qty,
            event_id=self._event_id(event_id),
            at=now if at is None else at,
            recorded_at=now,
            unit_cost_cents=self._std_cost(s),
            **extra,
        )
        self.gl.record(m, now)
        return m

    def move_lines(
        self,
        kind: MovementKind,
        location: Ref,
        skus: Sequence[Ref],
        qtys: Sequence[int],
        *,
        event_id: str | None = None,
        at: float | None = None,
        actor: str = "",
        reason: str = "",
        counterparty: Ref | None = None,
        disposition: Disposition | str | None = None,
    ) -> int:
        """Record one batch event: a movement of `kind` for each (sku, qty) line at one
        location, with one journal entry and one log entry. Returns the first line's seq.

        The same effect as one command per line, at a fraction of the cost: a till's sales
        of an interval, a location's opening balances, a store's returns of a day and
        their dispositions (one `disposition` for every line of a batch).
        """
        disp = Disposition.NONE if disposition is None else _disposition(disposition)
        loc = self.catalog.location(location)
        cp = -1 if counterparty is None else self.catalog.location(counterparty)
        n_sku = len(self.catalog.skus)
        if skus and set(map(type, skus)) <= {int} and min(skus) >= 0 and max(skus) < n_sku:
            ids = list(skus)  # the common case, checked in C: already valid sku ids
        else:
            ids = [self.catalog.sku(s) for s in skus]
        std = self._std_table()
        costs = list(map(std.__getitem__, ids))
        now = self.clock.now()
        eid = self._event_id(event_id)
        when = now if at is None else at
        start = self.ledger.record_lines(
            kind,
            loc,
            ids,
            qtys,
            event_id=eid,
            at=when,
            recorded_at=now,
            unit_costs=costs,
            reason=reason,
            actor=actor,
            counterparty=cp,
            disposition=disp,
        )
        values = list(map(operator.mul, qtys, costs))
        self.gl.record_lines(
            kind,
            loc,
            ids,
            values,
            first_seq=start,
            event_id=eid,
            at=when,
            now=now,
            counterparty=cp,
            disposition=disp,
        )
        return start

    def sell_lines(
        self,
        location: Ref,
        skus: Sequence[Ref],
        qtys: Sequence[int],
        *,
        event_id: str | None = None,
        at: float | None = None,
    ) -> int:
        """A till's sales batch: `qtys[i]` units of `skus[i]` carried out at `location`."""
        return self.move_lines(
            MovementKind.SALE, location, skus, qtys, event_id=event_id, at=at, actor="pos"
        )

    def apply_envelope(self, env: Envelope) -> int:
        """Apply an envelope (the bus's handler for them): every line is checked against
        the catalog and the ledger first, as if recorded one command at a time; then the
        ledger records them by column and the GL books one entry. A bad line refuses the
        whole envelope, naming it, and nothing changes. Returns the first line's seq."""
        n_sku, n_loc = len(self.catalog.skus), len(self.catalog.locations)
        bad = _first_unknown(env, n_sku, n_loc)
        if bad < env.n_lines:
            problem = self.ledger.envelope_problem(env, upto=bad, extent=(n_loc, n_sku))
            if problem is not None:
                raise InvalidCommand(f"{env.describe(problem[0])}: {problem[1]}")
            raise UnknownReference(f"{env.describe(bad)}: {_unknown(env, bad, n_sku, n_loc)}")
        unit_cost = self._std_array()[env.sku]
        now = self.clock.now()
        start = self.ledger.record_envelope(env, unit_cost, recorded_at=now, extent=(n_loc, n_sku))
        self.gl.record_envelope(
            env, env.qty * unit_cost, first_seq=start, now=now, extent=(n_loc + 1, n_sku)
        )
        return start

    def move_envelope(
        self,
        kind: MovementKind,
        location: Sequence[int] | np.ndarray,
        sku: Sequence[int] | np.ndarray,
        qty: Sequence[int] | np.ndarray,
        *,
        at: float | None = None,
        counterparty: Sequence[int] | np.ndarray | None = None,
        price: Sequence[int] | np.ndarray | None = None,
        disposition: Disposition | str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Envelope:
        """Record lines of many locations at once as one command (a night's counts, say):
        one envelope, a sub-stream per location, through the ledger and the GL as
        `apply_envelope` does; the same effect as one command per line. Returns it."""
        env = self._envelopes.emit(
            kind,
            location,
            sku,
            qty,
            self.clock.now() if at is None else at,
            counterparty=counterparty,
            price=price,
            disposition=Disposition.NONE if disposition is None else _disposition(disposition),
            reason=reason,
            actor=actor,
        )
        self.apply_envelope(env)
        return env

    # -- stock commands ------------------------------------------------------------------
    def opening(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        event_id: str | None = None,
        at: float | None = None,
    ) -> Movement:
        """Load an opening balance."""
        return self._move(
            MovementKind.OPENING, sku, location, qty, event_id=event_id, at=at, actor="migration"
        )

    def receive(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        price_cents: int | None = None,
        event_id: str | None = None,
        at: float | None = None,
        actor: str = "receiving",
        reason: str = "",
    ) -> Movement:
        """Goods received from a supplier; `price_cents` defaults to standard cost."""
        s = self.catalog.sku(sku)
        price = self._std_cost(s) if price_cents is None else price_cents
        if not isinstance(price, int) or price < 0:
            raise InvalidCommand(f"price_cents: must be a whole number >= 0, got {price!r}")
        return self._move(
            MovementKind.RECEIPT,
            s,
            location,
            qty,
            event_id=event_id,
            at=at,
            price_cents=price,
            actor=actor,
            reason=reason,
        )

    def sell(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        event_id: str | None = None,
        at: float | None = None,
    ) -> Movement:
        """A till sale: the customer carried the units out (may drive on-hand below zero)."""
        return self._move(
            MovementKind.SALE, sku, location, qty, event_id=event_id, at=at, actor="pos"
        )

    def transfer_out(
        self,
        sku: Ref,
        source: Ref,
        destination: Ref,
        qty: int,
        *,
        event_id: str | None = None,
        at: float | None = None,
        reason: str = "",
    ) -> Movement:
        dst = self.catalog.location(destination)
        return self._move(
            MovementKind.TRANSFER_OUT,
            sku,
            source,
            qty,
            event_id=event_id,
            at=at,
            counterparty=dst,
            actor="transfer",
            reason=reason,
        )

    def transfer_in(
        self,
        sku: Ref,
        destination: Ref,
        source: Ref,
        qty: int,
        *,
        event_id: str | None = None,
        at: float | None = None,
    ) -> Movement:
        src = self.catalog.location(source)
        return self._move(
            MovementKind.TRANSFER_IN,
            sku,
            destination,
            qty,
            event_id=event_id,
            at=at,
            counterparty=src,
            actor="transfer",
        )

    def transit_loss(
        self,
        sku: Ref,
        destination: Ref,
        qty: int,
        *,
        event_id: str | None = None,
        at: float | None = None,
        reason: str = "lost in transit",
    ) -> Movement:
        return self._move(
            MovementKind.TRANSIT_LOSS,
            sku,
            destination,
            qty,
            event_id=event_id,
            at=at,
            actor="carrier",
            reason=reason,
        )

    def return_in(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        event_id: str | None = None,
        at: float | None = None,
        reason: str = "",
    ) -> Movement:
        """A customer return arrives and waits in quarantine (not sellable)."""
        return self._move(
            MovementKind.RETURN_IN,
            sku,
            location,
            qty,
            event_id=event_id,
            at=at,
            actor="returns",
            reason=reason,
        )

    def dispose(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        disposition: Disposition | str,
        *,
        event_id: str | None = None,
        at: float | None = None,
        actor: str = "returns",
        reason: str = "",
    ) -> Movement:
        """Resolve quarantined units; only restock or refurbish makes them sellable again."""
        return self._move(
            MovementKind.DISPOSITION,
            sku,
            location,
            qty,
            event_id=event_id,
            at=at,
            disposition=_disposition(disposition),
            actor=actor,
            reason=reason,
        )

    def adjust(
        self,
        sku: Ref,
        location: Ref,
        delta: int,
        *,
        reason: str = "cycle count",
        event_id: str | None = None,
        at: float | None = None,
        actor: str = "cycle-count",
    ) -> Movement:
        """Correct the system count (signed)."""
        return self._move(
            MovementKind.ADJUSTMENT,
            sku,
            location,
            delta,
            event_id=event_id,
            at=at,
            reason=reason,
            actor=actor,
        )

    def write_off(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        reason: str = "shrink",
        event_id: str | None = None,
        at: float | None = None,
        actor: str = "loss-prevention",
    ) -> Movement:
        """Known shrink (theft, damage) written off."""
        return self._move(
            MovementKind.SHRINK,
            sku,
            location,
            qty,
            event_id=event_id,
            at=at,
            reason=reason,
            actor=actor,
        )

    def set_safety_buffer(self, sku: Ref, location: Ref, units: int) -> None:
        if not isinstance(units, int) or units < 0:
            raise InvalidCommand(f"safety buffer: must be a whole number >= 0, got {units!r}")
        self.ledger.position(self.catalog.sku(sku), self.catalog.location(location)).safety = units

    # -- reservations ----------------------------------------------------------------------
    def available(self, sku: Ref, location: Ref, channel: Ref | None = None) -> int:
        """Available-to-sell now; with a channel, what that channel may still promise."""
        self.reservations.sweep(self.clock.now())
        s, loc = self.catalog.sku(sku), self.catalog.location(location)
        if channel is None:
            return self.ledger.position(s, loc).ats
        return self._limit(s, loc, self.catalog.channel(channel))

    def position(self, sku: Ref, location: Ref) -> Position:
        self.reservations.sweep(self.clock.now())
        return self.ledger.position(self.catalog.sku(sku), self.catalog.location(location))

    def _limit(self, sku: int, loc: int, channel: int) -> int:
        pos = self.ledger.position(sku, loc)
        p = self.allocation.promisable(
            pos, self.catalog.locations[loc], self.catalog.channels[channel]
        )
        ats = pos.ats
        p = p if p < ats else ats
        return p if p > 0 else 0

    def reserve(
        self,
        order_id: str,
        channel: Ref,
        lines: Sequence[OrderLine],
        *,
        idempotency_key: str | None = None,
        destination: str | None = None,
        confirm: bool = True,
        placed_at: float | None = None,
        ttl_s: float | None = None,
    ) -> ReservationResult:
        """Reserve an order's lines; each sku group is all-or-nothing and never oversells.

        Lines without a location are sourced by the sourcing policy towards
        `destination`. With `confirm=False` the lines are only held and expire after
        `ttl_s` (default `hold_ttl_s`) unless confirmed.
        """
        now = self.clock.now()
        if not order_id:
            raise InvalidCommand("order_id: must not be empty")
        ch = self.catalog.channel(channel)
        if not lines:
            raise InvalidCommand("lines: an order needs at least one line")
        ttl = self.hold_ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            raise InvalidCommand(f"ttl_s: must be > 0, got {ttl}")
        resolved: list[tuple[int, int, int | None]] = []
        for i, ln in enumerate(lines):
            if not isinstance(ln.qty, int) or isinstance(ln.qty, bool) or ln.qty <= 0:
                raise InvalidCommand(f"lines[{i}].qty: must be a whole number > 0, got {ln.qty!r}")
            s = self.catalog.sku(ln.sku)
            loc = None if ln.location is None else self.catalog.location(ln.location)
            resolved.append((s, ln.qty, loc))
        fingerprint = (order_id, ch, tuple(resolved), destination, confirm)
        if idempotency_key is not None:
            seen = self._idem.get(idempotency_key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise IdempotencyConflict(
                        f"idempotency_key {idempotency_key!r}: already used for a different request"
                        f" (order {seen[1].order_id!r}); use a new key for a new request"
                    )
                return seen[1]
        self.reservations.sweep(now)
        placed = now if placed_at is None else placed_at

        groups: dict[tuple[int, int | None], list[int]] = {}
        for i, (s, _q, loc) in enumerate(resolved):
            groups.setdefault((s, loc), []).append(i)

        traces: list[SourcingTrace] = []
        to_source = [k for k in groups if k[1] is None]
        chosen: dict[tuple[int, int | None], int | None] = {
            k: k[1] for k in groups if k[1] is not None
        }
        if to_source:
            if destination is None:
                raise InvalidCommand("destination: needed to source lines that name no location")
            demands = [
                Demand(s, sum(resolved[i][1] for i in groups[(s, None)])) for s, _ in to_source
            ]
            ctx = SourcingContext(
                self.catalog, self.network, destination, lambda sku, loc: self._limit(sku, loc, ch)
            )
            traces = self.sourcing.source(demands, ctx)
            if len(traces) != len(demands):
                raise InvalidCommand(
                    f"sourcing policy {self.sourcing.name!r} returned {len(traces)} decisions"
                    f" for {len(demands)} demands"
                )
            for key, tr in zip(to_source, traces, strict=True):
                chosen[key] = tr.chosen

        key_str = idempotency_key or ""
        out: list[LineResult | None] = [None] * len(resolved)
        for key, idxs in groups.items():
            s = key[0]
            loc = chosen[key]
            qtys = [resolved[i][1] for i in idxs]
            if loc is None:
                for i, q in zip(idxs, qtys, strict=True):
                    out[i] = LineResult(
                        i, s, q, None, None, "rejected", "no location can promise it"
                    )
                self.reservations.stats.rejected += 1
                self.log.add(now, EventKind.RESERVATION_REJECTED, order_id, sum(qtys), placed)
                continue
            g = GroupRequest(s, loc, idxs, qtys, self._limit(s, loc, ch))
            ids = self.reservations.hold_group(
                g,
                order_id=order_id,
                channel=ch,
                now=now,
                placed_at=placed,
                ttl=ttl,
                confirm=confirm,
                idempotency_key=key_str,
            )
            if ids is None:
                reason = f"only {max(g.limit, 0)} promisable, {g.total} needed"
                for i, q in zip(idxs, qtys, strict=True):
                    out[i] = LineResult(i, s, q, loc, None, "rejected", reason)
            else:
                st = "confirmed" if confirm else "held"
                for i, q, rid in zip(idxs, qtys, ids, strict=True):
                    out[i] = LineResult(i, s, q, loc, rid, st)
        results = [r for r in out if r is not None]
        ok = sum(1 for r in results if r.status != "rejected")
        if ok == len(results):
            status = "confirmed" if confirm else "held"
        elif ok == 0:
            status = "rejected"
        else:
            status = "partial"
        result = ReservationResult(order_id, status, results, traces)
        if idempotency_key is not None:
            self._idem[idempotency_key] = (fingerprint, result)
        return result

    def confirm(self, reservation_id: int) -> Reservation:
        return self.reservations.confirm(reservation_id, self.clock.now())

    def release(self, reservation_id: int) -> Reservation:
        return self.reservations.release(reservation_id, self.clock.now())

    def release_order(self, order_id: str) -> int:
        """Release every active reservation of an order (a cancellation); returns how many."""
        now = self.clock.now()
        self.reservations.sweep(now)
        n = 0
        for r in self.reservations.of_order(order_id):
            if r.state.active:
                self.reservations.release(r.id, now)
                n += 1
        return n

    def ship(
        self,
        reservation_id: int,
        qty: int | None = None,
        *,
        event_id: str | None = None,
        at: float | None = None,
    ) -> Reservation:
        """Ship a confirmed reservation (all of it, or `qty` after a short pick)."""
        r = self.reservations.get(reservation_id)
        shipped = r.qty if qty is None else qty
        r = self.reservations.fulfil(reservation_id, shipped, self.clock.now())
        if shipped < r.qty:
            self.exceptions.raise_(
                "pick_shortage",
                f"reservation:{r.id}",
                f"{r.qty - shipped} of {r.qty} units not found at pick (order {r.order_id})",
            )
        if shipped:
            self._move(
                MovementKind.SHIPMENT,
                r.sku,
                r.location,
                shipped,
                event_id=event_id,
                at=at,
                actor=f"order:{r.order_id}",
            )
        return r

    # -- events from sources ---------------------------------------------------------------
    def apply_event(self, ev: InventoryEvent) -> None:
        """The bus handler: apply one canonical inventory event to the ledger."""
        t, a = ev.type, ev.attrs
        kw: dict[str, Any] = {"event_id": ev.event_id, "at": ev.occurred_at}
        if t == "stock.received":
            self.receive(ev.sku, ev.location, ev.qty, price_cents=a.get("price_cents"), **kw)
        elif t == "stock.sold":
            self.sell(ev.sku, ev.location, ev.qty, **kw)
        elif t == "stock.sold.batch":
            self.sell_lines(ev.location, _attr(ev, "skus"), _attr(ev, "qtys"), **kw)
        elif t == "stock.adjusted":
            self.adjust(ev.sku, ev.location, ev.qty, reason=str(a.get("reason", "count")), **kw)
        elif t == "stock.shrink":
            self.write_off(ev.sku, ev.location, ev.qty, reason=str(a.get("reason", "shrink")), **kw)
        elif t == "transfer.shipped":
            self.transfer_out(ev.sku, ev.location, _attr(ev, "to"), ev.qty, **kw)
        elif t == "transfer.received":
            self.transfer_in(ev.sku, ev.location, _attr(ev, "from"), ev.qty, **kw)
        elif t == "transfer.lost":
            self.transit_loss(ev.sku, ev.location, ev.qty, **kw)
        elif t == "return.received":
            self.return_in(ev.sku, ev.location, ev.qty, **kw)
        elif t == "return.disposed":
            self.dispose(ev.sku, ev.location, ev.qty, _attr(ev, "disposition"), **kw)
        elif t == "order.shipped":
            self.ship(int(_attr(ev, "reservation_id")), ev.qty, **kw)
        elif t == "stock.opening":
            self.opening(ev.sku, ev.location, ev.qty, **kw)
        else:
            raise InvalidEvent([f"type: no handler for {t!r}"])

    # -- postings and checks ---------------------------------------------------------------
    def post_due(self) -> int:
        """Run any GL batch that is due now."""
        return self.gl.poll(self.clock.now())

    def flush_postings(self) -> int:
        return self.gl.flush(self.clock.now())

    def _posting_rejected(self, e: AnyEntry) -> None:
        """The ERP rejected a journal entry: a failed posting for finance to repost."""
        self.exceptions.raise_(
            "failed_posting", f"journal:{e.id}", f"ERP rejected the entry of {e.event_id}"
        )

    def close_period(self) -> list[Mismatch]:
        """Finance's close, after the period's postings: every GL line that disagrees with
        the ledger for the period and why (`GeneralLedger.mismatches`), then each worked by
        hand — the period's variances approved, rejected entries reposted (their
        failed-posting exceptions resolved), double postings reversed. Entries still on
        their way post when they arrive."""
        now = self.clock.now()
        gl = self.gl
        found = gl.mismatches(now)
        gl.approve(now, upto=gl.cutoff(now))
        for e in gl.repost(now):
            self.exceptions.resolve_subject(
                "failed_posting", f"journal:{e.id}", "reposted by hand", actor="finance"
            )
        gl.reverse_duplicates(now)
        return found

    def reconcile(self, *, include_pending: bool = False) -> list[Difference]:
        return self.gl.reconcile(self.ledger, self._std_table(), include_pending=include_pending)

    def reconcile_recent(self) -> list[Difference]:
        """The same differences as `reconcile()`, comparing only what can have changed: the
        GL lines that movements or postings touched since the previous call, and those
        that differed then.

        A line's ledger value changes only by a movement and its GL balance only by a
        posting, so every other line still agrees: a daily close costs what changed that
        day, not the size of the network.
        """
        log = self.ledger.movements
        start, self._recon_from = self._recon_from, len(log)
        parts = [self._recon_open]
        a, lc, sk = self.gl.drain_posted_lines(before_seq=start)
        if len(sk):
            parts.append(_line_keys(a, lc, sk))
        if start < len(log):
            kind = log.column("kind", start)
            sku = log.column("sku", start)
            loc = log.column("location", start)
            cp = log.column("counterparty", start)
            for (acct, _kinds, at_cp), hit in zip(_TOUCHES, _TOUCHING[:, kind], strict=True):
                if hit.any():
                    where = (cp if at_cp else loc)[hit]
                    parts.append(_line_keys(RECONCILED.index(acct), where, sku[hit]))
        accounts, locs, skus = _distinct_lines(np.concatenate(parts))
        diffs = self.gl.reconcile_lines(self.ledger, self._std_table(), accounts, locs, skus)
        self._recon_open = _line_keys(
            np.array([RECONCILED.index(d.account) for d in diffs], dtype=np.int64),
            [d.location for d in diffs],
            [d.sku for d in diffs],
        )
        return diffs

    def invariants(self) -> dict[str, Any]:
        """The invariant block of the KPI contract, computed from the core's own records."""
        return self.check().invariants

    def check(self) -> Check:
        """Every invariant, with what broke them: ledger positions that differ from a
        rebuild of the log and GL lines that differ from the ledger (flushed or not)."""
        rebuild = self.ledger.rebuild_matches()
        active = self.reservations.active_reserved()
        t = self.ledger.table
        reserved_ok = (
            all(
                r == active.get(k, 0)
                for k, r in zip(zip(t.sku, t.location, strict=True), t.reserved, strict=True)
            )
            and set(active) <= self.ledger.positions.keys()
        )
        diffs = self.reconcile(include_pending=True)
        inv = {
            "units_conserved": self.ledger.units_conserved() and not rebuild and reserved_ok,
            "gl_balanced": self.gl.all_balanced(),
            "gl_reconciled": not diffs,
            "events_lost": self.bus.events_lost(),
            "duplicate_applications": self.ledger.duplicate_applications,
            "negative_available": self.reservations.stats.negative_available,
        }
        return Check(inv, rebuild, diffs)

    def register(self, component: Timed) -> None:
        """Let a workflow's timers join `next_due`/`poll`, so a scheduler watches one thing.

        Contract: after `component.poll()` at time t, `component.next_due()` is later than t
        (or None), so a loop `while core.next_due() <= now: core.poll()` always ends.
        """
        self._timed.append(component)

    def poll(self) -> None:
        """Run everything due now: bus retries and hold time-outs, GL batches, hold expiry,
        exception escalation and every registered workflow's timers."""
        now = self.clock.now()
        self.bus.poll()
        self.gl.poll(now)
        self.reservations.sweep(now)
        self.exceptions.poll()
        for c in self._timed:
            due = c.next_due()
            if due is not None and due <= now:
                c.poll()

    def next_due(self) -> float:
        """The earliest time something in the core wants to run (bus timers, GL batch, expiry,
        exception SLAs, registered workflows); `inf` when nothing is scheduled."""
        times = [
            t
            for t in (
                self.bus.next_due(),
                self.gl.next_run,
                self.reservations.next_expiry(),
                self.exceptions.next_due(),
                *(c.next_due() for c in self._timed),
            )
            if t is not None
        ]
        return min(times) if times else math.inf


_M = MovementKind
#: which inventory account (at the movement's location, or at its counterparty) each kind
#: of movement can change: what `reconcile_recent` must look at again
_TOUCHES: tuple[tuple[Account, list[int], bool], ...] = (
    (
        Account.INVENTORY,
        [
            *(_M.OPENING, _M.RECEIPT, _M.SALE, _M.SHIPMENT, _M.SHRINK, _M.ADJUSTMENT),
            *(_M.TRANSFER_OUT, _M.TRANSFER_IN, _M.DISPOSITION),
        ],
        False,
    ),
    (Account.IN_TRANSIT, [_M.TRANSFER_OUT], True),
    (Account.IN_TRANSIT, [_M.TRANSFER_IN, _M.TRANSIT_LOSS], False),
    (Account.RETURNS_QUARANTINE, [_M.RETURN_IN, _M.DISPOSITION], False),
)
#: _TOUCHING[j, kind]: a movement of `kind` touches _TOUCHES[j] (a table look-up for a
#: day's movements: `np.isin` sorts, a fixed cost that was a tenth of a small twin's run)
_TOUCHING = np.array([[k in kinds for k in range(len(_M))] for _a, kinds, _c in _TOUCHES])


_MASK = (1 << 21) - 1


def _line_keys(account: Any, loc: Any, sku: Any) -> np.ndarray:
    """(inventory account index, location, sku) packed in one int64 per GL line."""
    return (
        (np.asarray(account, dtype=np.int64) << 42)
        | (np.asarray(loc, dtype=np.int64) << 21)
        | np.asarray(sku, dtype=np.int64)
    )


def _distinct_lines(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, location, sku) of each distinct packed key, in key order: `np.unique`'s
    answer by marking a dense (account, location, sku) grid instead of sorting the day's
    ~10^6 keys."""
    if not keys.size or keys.min() < 0:
        keys = np.unique(keys)
        return keys >> 42, (keys >> 21) & _MASK, keys & _MASK
    a, lc, sk = keys >> 42, (keys >> 21) & _MASK, keys & _MASK
    shape = (int(a.max()) + 1, int(lc.max()) + 1, int(sk.max()) + 1)
    seen = np.zeros(shape, dtype=bool)
    seen[a, lc, sk] = True
    a, lc, sk = np.unravel_index(np.flatnonzero(seen), shape)
    return a.astype(np.int64), lc.astype(np.int64), sk.astype(np.int64)


@dataclass(slots=True, frozen=True)
class Check:
    """`Orchestrator.check()`: the invariant block and the details behind a failure."""

    invariants: dict[str, Any]
    ledger_problems: list[str]
    differences: list[Difference]


def _first_unknown(env: Envelope, n_sku: int, n_loc: int) -> int:
    """The first line naming a sku or location the catalog does not hold, or n_lines."""
    u = np.uint64  # a negative id reads as a huge one
    cp = env.counterparty
    if not env.n_lines or (
        env.sku.view(u).max() < n_sku
        and env.location.view(u).max() < n_loc
        and (cp is None or cp.view(u).max() < n_loc)
    ):
        return env.n_lines
    bad = (env.sku.view(u) >= n_sku) | (env.location.view(u) >= n_loc)
    if cp is not None:
        bad |= cp.view(u) >= n_loc
    return int(bad.argmax())


def _unknown(env: Envelope, i: int, n_sku: int, n_loc: int) -> str:
    """The catalog's words for line i's unknown reference, in the per-command order
    (a transfer's other location, then the sku, then the location)."""
    cp = env.counterparty
    checks = [] if cp is None else [("location", int(cp[i]), n_loc)]
    checks += [("sku", int(env.sku[i]), n_sku), ("location", int(env.location[i]), n_loc)]
    return next(f"{what}: no {what} with id {v}" for what, v, n in checks if not 0 <= v < n)


def _attr(ev: InventoryEvent, name: str) -> Any:
    try:
        return ev.attrs[name]
    except KeyError:
        raise InvalidEvent([f"attrs.{name}: required for {ev.type}"]) from None


class _Tally:
    """What `EnvelopePublisher` counts for envelopes booked as commands (not bus events)."""

    __slots__ = ("emitted",)

    def __init__(self) -> None:
        self.emitted = 0
