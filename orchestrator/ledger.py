"""The stock ledger: append-only movements and the balances derived from them.

Balances per (sku, location) are on-hand, in-transit (inbound to that location),
quarantined (returns awaiting inspection) and reserved. Only reservations change
`reserved`; everything else changes only through a `Movement`, so on-hand,
in-transit and quarantined can be rebuilt from the movement log alone.

Valuation is at **standard cost per sku** in integer cents: every unit of a sku
carries the same value wherever it is, receipts at another price put the
difference in purchase-price variance, and the GL reconciles to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .errors import InvalidCommand


class MovementKind(IntEnum):
    OPENING = 0  # opening balance loaded into the system
    RECEIPT = 1  # goods received from a supplier
    SALE = 2  # sold at a store till (customer carried it out)
    SHIPMENT = 3  # shipped to an online customer (or handed over at pick-up)
    TRANSFER_OUT = 4  # left the source, now in transit to `counterparty`
    TRANSFER_IN = 5  # arrived from `counterparty` at the destination
    RETURN_IN = 6  # customer return into quarantine
    DISPOSITION = 7  # quarantine resolved; `disposition` says where it went
    ADJUSTMENT = 8  # signed correction from a count
    SHRINK = 9  # known loss written off (theft, damage)
    TRANSIT_LOSS = 10  # shipped by the source, never arrived at the destination


class Disposition(IntEnum):
    NONE = 0
    RESTOCK = 1
    REFURBISH = 2
    RETURN_TO_VENDOR = 3
    LIQUIDATE = 4
    SCRAP = 5


#: dispositions that put the units back into sellable stock
SELLABLE_DISPOSITIONS = frozenset({Disposition.RESTOCK, Disposition.REFURBISH})


@dataclass(slots=True, frozen=True)
class Movement:
    """One change of stock: who, what, where, when, how many and at what unit cost."""

    seq: int
    event_id: str
    kind: MovementKind
    sku: int
    location: int
    qty: int  # > 0, except ADJUSTMENT which is signed
    at: float  # when it happened (event time)
    recorded_at: float  # when the core learnt of it
    unit_cost_cents: int  # standard cost used to value it
    price_cents: int = 0  # receipts: unit price paid (purchase-price variance)
    counterparty: int = -1  # transfers: the other location
    disposition: Disposition = Disposition.NONE
    reason: str = ""
    actor: str = ""  # who or what changed the stock (audit trail)

    @property
    def value_cents(self) -> int:
        return self.qty * self.unit_cost_cents


@dataclass(slots=True)
class Position:
    """Balances of one (sku, location)."""

    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0
    quarantined: int = 0
    safety: int = 0  # protected safety buffer, not sellable
    reserved_by_channel: dict[int, int] = field(default_factory=dict)

    @property
    def available(self) -> int:
        """On-hand less reserved less the safety buffer; negative when facts outran the system."""
        return self.on_hand - self.reserved - self.safety

    @property
    def ats(self) -> int:
        """Available-to-sell: what a channel may still promise from here, never below 0."""
        a = self.on_hand - self.reserved - self.safety
        return a if a > 0 else 0

    def balances(self) -> tuple[int, int, int]:
        return (self.on_hand, self.in_transit, self.quarantined)


Key = tuple[int, int]  # (sku, location)

# Effect of each kind on (on_hand, in_transit, quarantined) of `location`; transfers and
# dispositions also touch the counterparty or on-hand and are handled explicitly.
_OUTBOUND = frozenset({MovementKind.SALE, MovementKind.SHIPMENT, MovementKind.SHRINK})


def apply_to_balances(bal: dict[Key, list[int]], m: Movement) -> None:
    """Apply a movement to a {key: [on_hand, in_transit, quarantined]} table (used by rebuild)."""
    k = m.kind
    key = (m.sku, m.location)
    b = bal.get(key)
    if b is None:
        b = bal[key] = [0, 0, 0]
    q = m.qty
    if k is MovementKind.RECEIPT or k is MovementKind.OPENING or k is MovementKind.ADJUSTMENT:
        b[0] += q
    elif k in _OUTBOUND:
        b[0] -= q
    elif k is MovementKind.TRANSFER_OUT:
        b[0] -= q
        dkey = (m.sku, m.counterparty)
        d = bal.get(dkey)
        if d is None:
            d = bal[dkey] = [0, 0, 0]
        d[1] += q
    elif k is MovementKind.TRANSFER_IN:
        b[1] -= q
        b[0] += q
    elif k is MovementKind.TRANSIT_LOSS:
        b[1] -= q
    elif k is MovementKind.RETURN_IN:
        b[2] += q
    elif k is MovementKind.DISPOSITION:
        b[2] -= q
        if m.disposition in SELLABLE_DISPOSITIONS:
            b[0] += q
    else:  # pragma: no cover - exhaustive over MovementKind
        raise InvalidCommand(f"kind: unknown movement kind {k!r}")


class StockLedger:
    """Positions per (sku, location) and the append-only movement log behind them."""

    def __init__(self) -> None:
        self.positions: dict[Key, Position] = {}
        self.movements: list[Movement] = []
        self._applied_ids: set[str] = set()
        self.duplicate_applications = 0

    def position(self, sku: int, location: int) -> Position:
        """The position, created empty on first use."""
        key = (sku, location)
        p = self.positions.get(key)
        if p is None:
            p = self.positions[key] = Position()
        return p

    def record(
        self,
        kind: MovementKind,
        sku: int,
        location: int,
        qty: int,
        *,
        event_id: str,
        at: float,
        recorded_at: float,
        unit_cost_cents: int,
        price_cents: int = 0,
        counterparty: int = -1,
        disposition: Disposition = Disposition.NONE,
        reason: str = "",
        actor: str = "",
    ) -> Movement:
        """Validate, append and apply one movement; returns it."""
        if kind is MovementKind.ADJUSTMENT:
            if qty == 0:
                raise InvalidCommand("qty: an adjustment must change stock (got 0)")
        elif qty <= 0:
            raise InvalidCommand(f"qty: must be > 0 for {kind.name.lower()}, got {qty}")
        pos = self.position(sku, location)
        if kind is MovementKind.TRANSFER_OUT:
            if counterparty < 0 or counterparty == location:
                raise InvalidCommand("counterparty: a transfer needs another destination location")
        elif kind is MovementKind.TRANSFER_IN:
            if pos.in_transit < qty:
                raise InvalidCommand(
                    f"qty: {qty} units received but only {pos.in_transit} in transit to location"
                )
        elif kind is MovementKind.TRANSIT_LOSS:
            if pos.in_transit < qty:
                raise InvalidCommand(
                    f"qty: {qty} units lost but only {pos.in_transit} in transit to location"
                )
        elif kind is MovementKind.DISPOSITION:
            try:
                disposition = Disposition(disposition)  # an int would post as scrap in the GL
            except ValueError:
                raise InvalidCommand(f"disposition: unknown disposition {disposition!r}") from None
            if disposition is Disposition.NONE:
                raise InvalidCommand("disposition: required for a disposition movement")
            if pos.quarantined < qty:
                raise InvalidCommand(
                    f"qty: {qty} units disposed but only {pos.quarantined} in quarantine"
                )
        if event_id in self._applied_ids:
            self.duplicate_applications += 1
        else:
            self._applied_ids.add(event_id)
        m = Movement(
            len(self.movements),
            event_id,
            kind,
            sku,
            location,
            qty,
            at,
            recorded_at,
            unit_cost_cents,
            price_cents,
            counterparty,
            disposition,
            reason,
            actor,
        )
        self.movements.append(m)
        self._apply(pos, m)
        return m

    def _apply(self, pos: Position, m: Movement) -> None:
        k = m.kind
        q = m.qty
        if k is MovementKind.RECEIPT or k is MovementKind.OPENING or k is MovementKind.ADJUSTMENT:
            pos.on_hand += q
        elif k in _OUTBOUND:
            pos.on_hand -= q
        elif k is MovementKind.TRANSFER_OUT:
            pos.on_hand -= q
            self.position(m.sku, m.counterparty).in_transit += q
        elif k is MovementKind.TRANSFER_IN:
            pos.in_transit -= q
            pos.on_hand += q
        elif k is MovementKind.TRANSIT_LOSS:
            pos.in_transit -= q
        elif k is MovementKind.RETURN_IN:
            pos.quarantined += q
        elif k is MovementKind.DISPOSITION:
            pos.quarantined -= q
            if m.disposition in SELLABLE_DISPOSITIONS:
                pos.on_hand += q

    def has_applied(self, event_id: str) -> bool:
        return event_id in self._applied_ids

    @staticmethod
    def rebuild(movements: list[Movement]) -> dict[Key, tuple[int, int, int]]:
        """Balances (on_hand, in_transit, quarantined) from the movement log alone."""
        bal: dict[Key, list[int]] = {}
        for m in movements:
            apply_to_balances(bal, m)
        return {k: (v[0], v[1], v[2]) for k, v in bal.items()}

    def live_balances(self) -> dict[Key, tuple[int, int, int]]:
        return {k: p.balances() for k, p in self.positions.items()}

    def rebuild_matches(self) -> list[str]:
        """Every (sku, location) whose live balances differ from a rebuild; empty when sound."""
        rebuilt = self.rebuild(self.movements)
        live = self.live_balances()
        problems = []
        for key in sorted(set(rebuilt) | set(live)):
            a = live.get(key, (0, 0, 0))
            b = rebuilt.get(key, (0, 0, 0))
            if a != b:
                problems.append(f"sku {key[0]} at location {key[1]}: live {a} != rebuilt {b}")
        return problems

    def flows(self, sku: int) -> dict[str, int]:
        """The terms of the conservation identity for one sku, summed from the movement log."""
        t = {
            "opening": 0,
            "received": 0,
            "sold": 0,
            "shipped": 0,
            "scrapped": 0,
            "shrink": 0,
        }
        for m in self.movements:
            if m.sku != sku:
                continue
            _add_flow(t, m)
        return t

    def conservation(self) -> dict[int, dict[str, int]]:
        """Per sku: flows from the log and closing/in-transit from live positions, with `ok`.

        opening + received = sold + shipped + scrapped + shrink + closing + in_transit,
        where received counts supplier receipts and customer returns, scrapped counts
        disposals out of the network (scrap, liquidation, return to vendor) and shrink
        is net of count adjustments.
        """
        out: dict[int, dict[str, int]] = {}
        for m in self.movements:
            t = out.get(m.sku)
            if t is None:
                t = out[m.sku] = dict.fromkeys(
                    ("opening", "received", "sold", "shipped", "scrapped", "shrink"), 0
                )
            _add_flow(t, m)
        for t in out.values():
            t["closing"] = 0
            t["in_transit"] = 0
        for (sku, _loc), p in self.positions.items():
            t = out.get(sku)
            if t is None:
                continue
            t["closing"] += p.on_hand + p.quarantined
            t["in_transit"] += p.in_transit
        for t in out.values():
            lhs = t["opening"] + t["received"]
            rhs = (
                t["sold"]
                + t["shipped"]
                + t["scrapped"]
                + t["shrink"]
                + t["closing"]
                + t["in_transit"]
            )
            t["ok"] = int(lhs == rhs)
        return out

    def units_conserved(self) -> bool:
        return all(t["ok"] for t in self.conservation().values())

    def valuation(self, std_cost: list[int]) -> dict[tuple[str, int, int], int]:
        """Inventory value in cents by (bucket, location, sku); buckets as in `Position`."""
        out: dict[tuple[str, int, int], int] = {}
        for (sku, loc), p in self.positions.items():
            c = std_cost[sku]
            if p.on_hand:
                out[("on_hand", loc, sku)] = p.on_hand * c
            if p.in_transit:
                out[("in_transit", loc, sku)] = p.in_transit * c
            if p.quarantined:
                out[("quarantined", loc, sku)] = p.quarantined * c
        return out


def _add_flow(t: dict[str, int], m: Movement) -> None:
    k = m.kind
    q = m.qty
    if k is MovementKind.OPENING:
        t["opening"] += q
    elif k is MovementKind.RECEIPT or k is MovementKind.RETURN_IN:
        t["received"] += q
    elif k is MovementKind.SALE:
        t["sold"] += q
    elif k is MovementKind.SHIPMENT:
        t["shipped"] += q
    elif k is MovementKind.SHRINK or k is MovementKind.TRANSIT_LOSS:
        t["shrink"] += q
    elif k is MovementKind.ADJUSTMENT:
        t["shrink"] -= q
    elif k is MovementKind.DISPOSITION and m.disposition not in SELLABLE_DISPOSITIONS:
        t["scrapped"] += q
