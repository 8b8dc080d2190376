"""Replenishment: when to order (pluggable policies) and the purchase orders that follow.

A policy looks at the *inventory position* of one (sku, location)::

    IP = on-hand + on-order (open PO units not yet received)
         + in-transit (inbound transfers) - backorders - reserved

and says how many units to order now. Four classic policies are built in
(`s-S`, `base-stock`, `r-Q`, periodic `R-S`); a researcher can pass any object
with `name`, `review_period_s` and `order_qty(position, now)`.

The rules have one home each: `position_level` is the IP formula for single
positions and numpy arrays alike, each built-in policy's `order_qtys` is its
`order_qty` for many positions at once (property-tested equal), and
`order_quantities` applies a policy by name to a whole network's positions.

`ProcurementWorkflow` turns an order into a `PurchaseOrder` with a supplier,
follows the supplier's order acknowledgement, advance shipping notices (ASNs) and
receipts (partial, short), posts the receipts through `Orchestrator.receive` (which
makes the GL postings), and handles supplier delays. A PO carries the date it was
promised and the date its goods are now *expected* (the promise, then what the
supplier confirms or notifies, then a fresh estimate each time that passes without
the goods). A confirmation or ASN later than the promise, or an expected date that
passes, raises a `supplier_delay` exception whose priority comes from the stock at
risk until the expected date, and the versioned `supplier_escalation` rule compares
the options with that expected arrival: re-source the remainder to an alternate
supplier (its lead time from now), expedite (the remaining wait cut by a factor),
or wait; the preferred option is taken if it brings the goods at least `min_gain_h`
sooner, else the other if it does. Workflows that
move goods learn of re-sourced and expedited POs through `subscribe`. Every step is
noted on the core's timeline as `(at, "po.<step>", "po:<id>")`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import numpy as np

from .catalog import Ref
from .clock import DAY, HOUR
from .errors import InvalidCommand, InvalidTransition
from .exceptions import OpsException
from .governance import RuleVersion

if TYPE_CHECKING:
    from .core import Orchestrator
    from .ledger import DenseBalances

Key = tuple[int, int]  # (sku, location)
#: a per-(sku, location) figure supplied by the caller: a mapping or a function
PairSource = Mapping[Key, float] | Callable[[int, int], float]


# -- inventory position ------------------------------------------------------------------------
Level = TypeVar("Level", int, np.ndarray)


def position_level(
    on_hand: Level, on_order: Level, in_transit: Level, backorders: Level, reserved: Level
) -> Level:
    """The inventory position: on-hand + on-order + in-transit − backorders − reserved, of
    one position (ints) or of many (numpy arrays, element by element)."""
    return on_hand + on_order + in_transit - backorders - reserved


@dataclass(slots=True, frozen=True)
class InventoryPosition:
    """The terms of the inventory position of one (sku, location); `level` is the IP."""

    sku: int
    location: int
    on_hand: int = 0
    on_order: int = 0
    in_transit: int = 0
    backorders: int = 0
    reserved: int = 0

    @property
    def level(self) -> int:
        """On-hand + on-order + in-transit − backorders − reserved."""
        return position_level(
            self.on_hand, self.on_order, self.in_transit, self.backorders, self.reserved
        )


# -- policies --------------------------------------------------------------------------------
@runtime_checkable
class ReplenishmentPolicy(Protocol):
    """Decides how many units to order for a position; 0 means "do not order now".

    `review_period_s` is 0 for continuous review, else the time between reviews.
    """

    name: str
    review_period_s: float

    def order_qty(self, position: InventoryPosition, now: float) -> int: ...


def _whole(name: str, value: object, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidCommand(f"{name}: must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidCommand(f"{name}: must be >= {minimum}, got {value}")
    return value


class SS:
    """(s, S): when IP ≤ s, order up to S (continuous review)."""

    name = "s-S"
    review_period_s = 0.0

    def __init__(self, s: int, S: int) -> None:
        _whole("s", s)
        _whole("S", S, minimum=1)
        if s >= S:
            raise InvalidCommand(f"s: must be < S, got s={s}, S={S}")
        self.s, self.S = s, S

    def order_qty(self, position: InventoryPosition, now: float) -> int:
        ip = position.level
        return self.S - ip if ip <= self.s else 0

    @staticmethod
    def order_qtys(level: np.ndarray, s: np.ndarray, S: np.ndarray) -> np.ndarray:
        """`order_qty` of many positions at once: S − IP where IP ≤ s, else 0."""
        return np.where(level <= s, S - level, 0)


class BaseStock:
    """Base stock (one-for-one): whenever IP < S, order up to S."""

    name = "base-stock"
    review_period_s = 0.0

    def __init__(self, S: int) -> None:
        self.S = _whole("S", S, minimum=1)

    def order_qty(self, position: InventoryPosition, now: float) -> int:
        ip = position.level
        return self.S - ip if ip < self.S else 0

    @staticmethod
    def order_qtys(level: np.ndarray, S: np.ndarray) -> np.ndarray:
        """`order_qty` of many positions at once: S − IP where IP < S, else 0."""
        return np.where(level < S, S - level, 0)


class RQ:
    """(r, Q): when IP ≤ r, order n×Q, the smallest multiple that lifts IP above r."""

    name = "r-Q"
    review_period_s = 0.0

    def __init__(self, r: int, Q: int) -> None:
        self.r = _whole("r", r)
        self.Q = _whole("Q", Q, minimum=1)

    def order_qty(self, position: InventoryPosition, now: float) -> int:
        ip = position.level
        if ip > self.r:
            return 0
        return ((self.r - ip) // self.Q + 1) * self.Q

    @staticmethod
    def order_qtys(level: np.ndarray, r: np.ndarray, Q: np.ndarray) -> np.ndarray:
        """`order_qty` of many positions at once: n×Q where IP ≤ r, else 0 (Q = 0 orders 0)."""
        return np.where(level <= r, ((r - level) // np.maximum(Q, 1) + 1) * Q, 0)


class RS:
    """Periodic (R, S): at every review time `offset_s + k·R`, order up to S.

    Reviews happen only on the period: the first call at or after a review time
    reviews (once per period and per (sku, location)); other calls order nothing.
    A missed review time is not made up twice.
    """

    name = "R-S"

    def __init__(self, R: float, S: int, *, offset_s: float = 0.0) -> None:
        if not isinstance(R, int | float) or isinstance(R, bool) or not R > 0:
            raise InvalidCommand(f"R: review period must be > 0 seconds, got {R!r}")
        self.review_period_s = float(R)
        self.S = _whole("S", S, minimum=1)
        self.offset_s = float(offset_s)
        self._last: dict[Key, int] = {}  # last review period index done per (sku, location)

    def _period(self, now: float) -> int:
        return math.floor((now - self.offset_s) / self.review_period_s + 1e-9)

    def is_due(self, sku: int, location: int, now: float) -> bool:
        k = self._period(now)
        return now + 1e-9 >= self.offset_s and self._last.get((sku, location), -1) < k

    def next_review(self, sku: int, location: int, now: float) -> float:
        """The next time this (sku, location) will be reviewed (now, if due)."""
        if self.is_due(sku, location, now):
            return now
        k = max(self._period(now), self._last.get((sku, location), -1)) + 1
        return self.offset_s + max(k, 0) * self.review_period_s

    def order_qty(self, position: InventoryPosition, now: float) -> int:
        key = (position.sku, position.location)
        if not self.is_due(*key, now):
            return 0
        self._last[key] = self._period(now)
        ip = position.level
        return self.S - ip if ip < self.S else 0


REPLENISHMENT_POLICIES: dict[str, type] = {
    "s-S": SS,
    "base-stock": BaseStock,
    "r-Q": RQ,
    "R-S": RS,
}


def policy_from_levels(name: str, s: int, S: int) -> ReplenishmentPolicy:
    """The scalar policy `name` for one position with reorder point `s` and order-up-to
    level `S`, as `order_quantities` reads them: `s-S` as SS(s, S), `r-Q` as RQ(r=s,
    Q=S−s), `base-stock` (and `R-S` at a review the caller schedules) as BaseStock(S)."""
    if name == "s-S":
        return SS(s, S)
    if name == "r-Q":
        return RQ(s, S - s)
    if name in ("base-stock", "R-S"):
        return BaseStock(S)
    raise InvalidCommand(f"policy: one of {', '.join(REPLENISHMENT_POLICIES)}, got {name!r}")


def order_quantities(name: str, level: np.ndarray, s: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Units to order for many positions under the policy `name`, each with its reorder
    point `s` and order-up-to level `S`: `s-S` as SS(s, S); `r-Q` as RQ(r=s, Q=S−s);
    `base-stock`, and `R-S` at its review, as BaseStock(S). Element by element what the
    scalar policies' `order_qty` gives."""
    if name == "s-S":
        return SS.order_qtys(level, s, S)
    if name == "r-Q":
        return RQ.order_qtys(level, s, S - s)
    if name in ("base-stock", "R-S"):
        return BaseStock.order_qtys(level, S)
    raise InvalidCommand(f"policy: one of {', '.join(REPLENISHMENT_POLICIES)}, got {name!r}")


# -- suppliers and purchase orders ---------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Supplier:
    """A supplier: lead time, reliability (share of POs on time, 0..1), alternates and price.

    `unit_price_cents` None means the sku's standard cost times `price_factor` (an
    alternate is often dearer). `alternates` names the
    suppliers an escalation may re-source to, in order of preference; `can_expedite`
    says whether the supplier offers to expedite a late order (premium freight).
    """

    code: str
    lead_time_days: float
    reliability: float = 1.0
    alternates: tuple[str, ...] = ()
    unit_price_cents: int | None = None
    can_expedite: bool = True
    price_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.code:
            raise InvalidCommand("supplier.code: must not be empty")
        if not self.lead_time_days >= 0:
            raise InvalidCommand(
                f"suppliers[{self.code}].lead_time_days: must be >= 0, got {self.lead_time_days}"
            )
        if not 0.0 <= self.reliability <= 1.0:
            raise InvalidCommand(
                f"suppliers[{self.code}].reliability: must be within 0..1, got {self.reliability}"
            )
        p = self.unit_price_cents
        if p is not None and (not isinstance(p, int) or isinstance(p, bool) or p < 0):
            raise InvalidCommand(
                f"suppliers[{self.code}].unit_price_cents: must be a whole number >= 0, got {p!r}"
            )
        if not self.price_factor > 0:
            raise InvalidCommand(
                f"suppliers[{self.code}].price_factor: must be > 0, got {self.price_factor}"
            )
        if isinstance(self.alternates, str):
            raise InvalidCommand(
                f"suppliers[{self.code}].alternates: must be a sequence of codes, not a string"
            )
        if self.code in self.alternates:
            raise InvalidCommand(f"suppliers[{self.code}].alternates: must not name itself")


class POState(StrEnum):
    OPEN = "open"  # nothing received yet
    PARTIAL = "partial"  # some received, more expected
    RECEIVED = "received"  # fully received (closed)
    CLOSED_SHORT = "closed_short"  # closed with units never received (short or re-sourced)

    @property
    def is_open(self) -> bool:
        return self is POState.OPEN or self is POState.PARTIAL


@dataclass(slots=True, frozen=True)
class Receipt:
    """One receipt against a PO: when, how many, and the ledger movement it posted."""

    at: float
    qty: int
    event_id: str
    movement_seq: int


@dataclass(slots=True, frozen=True)
class Asn:
    """An advance shipping notice: the supplier says `qty` units will arrive by `promised_at`."""

    at: float
    qty: int
    promised_at: float


@dataclass(slots=True)
class PurchaseOrder:
    id: int
    sku: int
    location: int
    supplier: str
    qty: int
    unit_price_cents: int
    raised_at: float
    promised_at: float
    expected_at: float = math.nan  # when the goods are now expected (NaN: the promise)
    state: POState = POState.OPEN
    received_qty: int = 0
    receipts: list[Receipt] = field(default_factory=list)
    asns: list[Asn] = field(default_factory=list)
    closed_at: float = math.nan
    expedited: bool = False
    replaces: int | None = None  # the delayed PO this one re-sources
    resourced_to: int | None = None  # the PO that took over this one's remainder
    policy: str = ""

    @property
    def subject(self) -> str:
        return f"po:{self.id}"

    @property
    def remaining(self) -> int:
        """Units still on order (0 once closed)."""
        return self.qty - self.received_qty if self.state.is_open else 0

    @property
    def is_open(self) -> bool:
        return self.state.is_open


#: assumed defaults of the `supplier_escalation` rule; no published figure
SUPPLIER_ESCALATION_DEFAULTS: dict[str, object] = {
    # priority is from cover_d / wait_d (days of cover of the location's ATS over the days
    # until the goods are now expected): below 0.5 -> 1, below 1 -> 2, below 2 -> 3, else 4
    "cover_ratio_thresholds": [0.5, 1.0, 2.0],
    "default_daily_demand": 1.0,  # units/day when the caller supplies no demand figure
    "act_max_priority": 2,  # delays at this priority or more urgent are acted on; others wait
    "prefer": "alternate",  # "alternate" (re-source first) or "expedite" (expedite first)
    "expedite_lead_time_factor": 0.5,  # expediting cuts the remaining wait to this share
    "expedite_surcharge_pct": 15.0,  # unit price uplift paid for expediting
    "min_gain_h": 24.0,  # an option must bring the goods at least this much earlier
    "overdue_grace_h": 0.0,  # an open PO is overdue this long after its expected date
    # an overdue PO with no word from its supplier is expected as many days later again as
    # it is already late (at least this many): a long silence is not one more day away
    "overdue_assumed_wait_d": 2.0,
}


def _pair(source: PairSource | None, sku: int, loc: int) -> float | None:
    if source is None:
        return None
    if callable(source):
        return source(sku, loc)
    return source.get((sku, loc))


class ProcurementWorkflow:
    """Purchase orders from replenishment reviews to receipt, with supplier-delay handling.

    `backorders` and `daily_demand` are optional per-(sku, location) figures from the
    caller (a mapping keyed by integer ids or a function of them); the core keeps neither.
    """

    def __init__(
        self,
        core: Orchestrator,
        suppliers: Iterable[Supplier],
        *,
        backorders: PairSource | None = None,
        daily_demand: PairSource | None = None,
    ) -> None:
        self.core = core
        self.suppliers: dict[str, Supplier] = {}
        for sup in suppliers:
            if sup.code in self.suppliers:
                raise InvalidCommand(f"suppliers[{sup.code}]: listed twice")
            self.suppliers[sup.code] = sup
        if not self.suppliers:
            raise InvalidCommand("suppliers: at least one supplier is needed")
        for sup in self.suppliers.values():
            for alt in sup.alternates:
                if alt not in self.suppliers:
                    raise InvalidCommand(
                        f"suppliers[{sup.code}].alternates: unknown supplier {alt!r}"
                    )
        self.default_supplier = next(iter(self.suppliers))
        self.backorders = backorders
        self.daily_demand = daily_demand
        self._listeners: list[Callable[[str, PurchaseOrder], None]] = []
        self.pos: list[PurchaseOrder] = []
        self._on_order: dict[Key, int] = {}
        self._reviews: dict[Key, tuple[RS, float]] = {}  # periodic policies' next review
        core.rules.ensure(
            "supplier_escalation",
            SUPPLIER_ESCALATION_DEFAULTS,
            note="assumed: re-source or expedite delays at priority 1-2, otherwise wait",
        )

    def subscribe(self, fn: Callable[[str, PurchaseOrder], None]) -> None:
        """Call `fn(action, po)` when an escalation acts: `("resourced", the new PO)` or
        `("expedited", the PO)`, so whoever moves the goods can ship or hurry them."""
        self._listeners.append(fn)

    # -- reading ---------------------------------------------------------------------------
    def get(self, po_id: int) -> PurchaseOrder:
        if not isinstance(po_id, int) or not 0 <= po_id < len(self.pos):
            raise InvalidCommand(f"po_id: unknown purchase order {po_id!r}")
        return self.pos[po_id]

    def on_order(self, sku: Ref, location: Ref) -> int:
        """Units on open POs for (sku, location) not yet received."""
        key = (self.core.catalog.sku(sku), self.core.catalog.location(location))
        return self._on_order.get(key, 0)

    def open_pos(self) -> list[PurchaseOrder]:
        return [po for po in self.pos if po.is_open]

    def inventory_position(
        self, sku: Ref, location: Ref, backorders: int | None = None
    ) -> InventoryPosition:
        """The inventory position; backorders from the argument, else the caller's source."""
        s, loc = self.core.catalog.sku(sku), self.core.catalog.location(location)
        p = self.core.position(s, loc)
        if backorders is None:
            b = _pair(self.backorders, s, loc)
            backorders = 0 if b is None else int(b)
        _whole("backorders", backorders, minimum=0)
        return InventoryPosition(
            s, loc, p.on_hand, self._on_order.get((s, loc), 0), p.in_transit, backorders, p.reserved
        )

    def levels_at(
        self,
        skus: Sequence[int],
        location: int,
        backorders: np.ndarray,
        *,
        on_order: bool = True,
    ) -> np.ndarray:
        """The inventory position of every sku of `skus` at one location (`backorders` one
        per sku), in numpy; creates ledger positions that do not exist yet, in sku order.
        `on_order=False` leaves out units on open POs (the stock there or on its way)."""
        on_hand, in_transit, reserved = self.core.ledger.columns_at(
            skus, location, "on_hand", "in_transit", "reserved"
        )
        ordered = np.zeros(len(skus), dtype=np.int64)
        if on_order:
            get = self._on_order.get
            ordered = np.fromiter((get((k, location), 0) for k in skus), np.int64, len(skus))
        return position_level(on_hand, ordered, in_transit, backorders, reserved)

    def levels_of(
        self, skus: np.ndarray, locations: np.ndarray, backorders: np.ndarray
    ) -> np.ndarray:
        """`levels_at` for (skus[i], locations[i]) pairs across locations (`backorders` one
        per pair), in numpy; creates positions that do not exist yet, in line order."""
        on_hand, in_transit, reserved = self.core.ledger.columns_of(
            skus, locations, "on_hand", "in_transit", "reserved"
        )
        get = self._on_order.get
        pairs = zip(skus.tolist(), locations.tolist(), strict=True)
        ordered = np.fromiter((get(p, 0) for p in pairs), np.int64, len(skus))
        return position_level(on_hand, ordered, in_transit, backorders, reserved)

    def levels_dense(self, balances: DenseBalances, backorders: np.ndarray) -> np.ndarray:
        """The inventory position of every (sku, location) of a dense reading of the ledger
        (`StockLedger.dense`), with `backorders` in the same [sku, location] shape."""
        on_order = np.zeros_like(balances.on_hand)
        n_sku, n_loc = on_order.shape
        for (k, loc), q in self._on_order.items():
            if k < n_sku and loc < n_loc:
                on_order[k, loc] = q
        return position_level(
            balances.on_hand, on_order, balances.in_transit, backorders, balances.reserved
        )

    def lead_times_d(self, since: float = -math.inf) -> list[float]:
        """Days from a PO raised to the last receipt of the goods it asked for, for POs
        raised at or after `since` by a review or a buyer (the KPI input): received in
        full, closed short after part came, or re-sourced (then up to the last receipt of
        the POs that took over its remainder). Still open, or nothing ever received: left
        out."""
        out = []
        for po in self.pos:
            if po.replaces is not None or po.raised_at < since:
                continue
            last, chain = -math.inf, po
            while True:
                if chain.receipts:
                    last = max(last, chain.receipts[-1].at)
                if chain.resourced_to is None:
                    break
                chain = self.pos[chain.resourced_to]
            if not chain.is_open and last > -math.inf:
                out.append((last - po.raised_at) / DAY)
        return out

    def next_due(self) -> float:
        """The earliest time `poll` (an overdue PO) or a periodic review wants to run."""
        now = self.core.clock.now()
        grace = float(self._rule(now)["overdue_grace_h"]) * HOUR
        times = [po.expected_at + grace for po in self.pos if po.is_open]
        times.extend(t for _, t in self._reviews.values())
        return min(times) if times else math.inf

    def reviews_due(self) -> list[Key]:
        """(sku, location) pairs whose periodic policy is due for review now."""
        now = self.core.clock.now()
        return [k for k, (pol, _) in self._reviews.items() if pol.is_due(*k, now)]

    # -- commands --------------------------------------------------------------------------
    def review(
        self,
        sku: Ref,
        location: Ref,
        policy: ReplenishmentPolicy,
        backorders: int | None = None,
        *,
        supplier: str | None = None,
    ) -> PurchaseOrder | None:
        """Ask `policy` about (sku, location) and raise a PO if it wants units."""
        now = self.core.clock.now()
        ip = self.inventory_position(sku, location, backorders)
        qty = policy.order_qty(ip, now)
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            raise InvalidCommand(
                f"policy {getattr(policy, 'name', policy)!r}: order_qty must return a whole"
                f" number >= 0, got {qty!r}"
            )
        if isinstance(policy, RS):
            self._reviews[(ip.sku, ip.location)] = (
                policy,
                policy.next_review(ip.sku, ip.location, now),
            )
        if qty == 0:
            return None
        sup = self._supplier(supplier if supplier is not None else self.default_supplier)
        po = self._raise(ip.sku, ip.location, sup, qty, now, policy=str(policy.name))
        self.core.audit.record(
            now,
            "po.raised",
            po.subject,
            f"{qty} units from {sup.code}",
            actor=f"policy:{policy.name}",
            reason=f"inventory position {ip.level}",
        )
        return po

    def raise_po(
        self, sku: Ref, location: Ref, qty: int, *, supplier: str | None = None
    ) -> PurchaseOrder:
        """Raise a PO by hand (a buyer's decision, outside any policy)."""
        _whole("qty", qty, minimum=1)
        s, loc = self.core.catalog.sku(sku), self.core.catalog.location(location)
        sup = self._supplier(supplier if supplier is not None else self.default_supplier)
        return self._raise(s, loc, sup, qty, self.core.clock.now(), policy="manual")

    def asn(self, po_id: int, qty: int, promised_at: float) -> PurchaseOrder:
        """Record an advance shipping notice; a later date than promised is a supplier delay."""
        po = self._open(po_id, "an ASN")
        now = self.core.clock.now()
        _whole("qty", qty, minimum=1)
        if qty > po.remaining:
            raise InvalidCommand(
                f"qty: ASN for {qty} units exceeds the {po.remaining} still open on {po.subject}"
            )
        if not isinstance(promised_at, int | float) or promised_at < po.raised_at:
            raise InvalidCommand(
                f"promised_at: must be a time not before the PO was raised ({po.raised_at}),"
                f" got {promised_at!r}"
            )
        po.asns.append(Asn(now, qty, float(promised_at)))
        self.core.log.note(now, "po.asn", po.subject)
        self._expect(po, float(promised_at), now, "ASN")
        return po

    def acknowledge(self, po_id: int, promised_at: float) -> PurchaseOrder:
        """The supplier confirms a PO with the date its goods will arrive; a date later
        than promised is a supplier delay, judged against that confirmed date."""
        po = self._open(po_id, "a confirmation")
        if not isinstance(promised_at, int | float) or promised_at < po.raised_at:
            raise InvalidCommand(
                f"promised_at: must be a time not before the PO was raised ({po.raised_at}),"
                f" got {promised_at!r}"
            )
        now = self.core.clock.now()
        self.core.log.note(now, "po.acknowledged", po.subject)
        self._expect(po, float(promised_at), now, "confirmation")
        return po

    def _expect(self, po: PurchaseOrder, at: float, now: float, what: str) -> None:
        """The supplier's word on when the goods arrive becomes the expected date; later
        than promised, it is a slip: a supplier delay judged against that date."""
        po.expected_at = at
        if at > po.promised_at:
            old = po.promised_at
            po.promised_at = at
            self.core.log.note(now, "po.slipped", po.subject)
            self._delay(po, now, why=f"{what} slipped from {old:g}")

    def receive(
        self, po_id: int, qty: int, at: float | None = None, *, event_id: str | None = None
    ) -> PurchaseOrder:
        """Receive `qty` units against a PO into sellable stock (partial receipts allowed)."""
        po = self.get(po_id)
        if not po.is_open:
            raise InvalidTransition(f"{po.subject}: is {po.state.value}, cannot receive goods")
        _whole("qty", qty, minimum=1)
        if qty > po.remaining:
            raise InvalidCommand(
                f"qty: {qty} units exceed the {po.remaining} still open on {po.subject}"
            )
        now = self.core.clock.now()
        t = now if at is None else float(at)
        if t < po.raised_at:
            raise InvalidCommand(f"at: {t} is before {po.subject} was raised ({po.raised_at})")
        eid = event_id if event_id is not None else f"{po.subject}:receipt:{len(po.receipts) + 1}"
        m = self.core.receive(
            po.sku,
            po.location,
            qty,
            price_cents=po.unit_price_cents,
            event_id=eid,
            at=t,
            actor=f"supplier:{po.supplier}",
            reason=po.subject,
        )
        po.receipts.append(Receipt(t, qty, eid, m.seq))
        po.received_qty += qty
        self._on_order[(po.sku, po.location)] -= qty
        self.core.log.note(t, "po.received", po.subject)
        if po.received_qty == po.qty:
            self._close(po, POState.RECEIVED, t, "received")
        else:
            po.state = POState.PARTIAL
        return po

    def close_short(self, po_id: int, *, reason: str = "short shipment") -> PurchaseOrder:
        """Close a PO with units outstanding; they leave on-order and are not expected."""
        po = self._open(po_id, "a short close")
        now = self.core.clock.now()
        self.core.audit.record(
            now, "po.closed_short", po.subject, f"{po.remaining} units cancelled", reason=reason
        )
        self._close(po, POState.CLOSED_SHORT, now, reason)
        return po

    def poll(self) -> list[OpsException]:
        """Report every open PO past its expected date (plus grace) as a supplier delay: its
        goods are now expected as many days later again as the PO is already late (at
        least `overdue_assumed_wait_d`), and the escalation rule is asked again."""
        now = self.core.clock.now()
        rule = self._rule(now)
        grace = float(rule["overdue_grace_h"]) * HOUR
        least = float(rule["overdue_assumed_wait_d"]) * DAY
        out = []
        for po in list(self.pos):
            if po.is_open and now >= po.expected_at + grace:
                late = now - po.promised_at
                po.expected_at = now + max(least, late)
                wait_d = (po.expected_at - now) / DAY
                why = f"overdue by {late / HOUR:g} h, now expected in {wait_d:g} d"
                out.append(self._delay(po, now, why=why))
        return out

    # -- internals -------------------------------------------------------------------------
    def _rule(self, at: float) -> RuleVersion:
        return self.core.rules.current("supplier_escalation", at)

    def _supplier(self, code: str) -> Supplier:
        try:
            return self.suppliers[code]
        except KeyError:
            raise InvalidCommand(f"supplier: unknown supplier {code!r}") from None

    def _open(self, po_id: int, what: str) -> PurchaseOrder:
        po = self.get(po_id)
        if not po.is_open:
            raise InvalidTransition(f"{po.subject}: is {po.state.value}, cannot take {what}")
        return po

    def _raise(
        self,
        sku: int,
        loc: int,
        sup: Supplier,
        qty: int,
        now: float,
        *,
        policy: str,
        replaces: int | None = None,
    ) -> PurchaseOrder:
        price = (
            round(self.core.catalog.skus[sku].std_cost_cents * sup.price_factor)
            if sup.unit_price_cents is None
            else sup.unit_price_cents
        )
        promised = now + sup.lead_time_days * DAY
        po = PurchaseOrder(
            len(self.pos),
            sku,
            loc,
            sup.code,
            qty,
            price,
            now,
            promised,
            promised,
            policy=policy,
            replaces=replaces,
        )
        self.pos.append(po)
        key = (sku, loc)
        self._on_order[key] = self._on_order.get(key, 0) + qty
        self.core.log.note(now, "po.raised", po.subject)
        return po

    def _close(self, po: PurchaseOrder, state: POState, at: float, resolution: str) -> None:
        self._on_order[(po.sku, po.location)] -= po.remaining
        po.state = state
        po.closed_at = at
        self.core.log.note(at, "po.closed", po.subject)
        if po.resourced_to is not None:
            return  # the delay stays open until the replacement PO arrives
        chain: PurchaseOrder | None = po
        while chain is not None:
            self.core.exceptions.resolve_subject(
                "supplier_delay", chain.subject, f"{resolution} ({po.subject})"
            )
            chain = None if chain.replaces is None else self.pos[chain.replaces]

    def _priority(self, po: PurchaseOrder, rule: RuleVersion, wait_s: float) -> tuple[int, str]:
        ats = self.core.available(po.sku, po.location)
        d = _pair(self.daily_demand, po.sku, po.location)
        demand = float(rule["default_daily_demand"]) if d is None else float(d)
        wait_d = max(wait_s / DAY, 1e-9)
        if demand <= 0:
            return 4, f"ATS {ats}, no demand"
        cover_d = ats / demand
        ratio = cover_d / wait_d
        prio = 4
        for i, threshold in enumerate(rule["cover_ratio_thresholds"]):
            if ratio < threshold:
                prio = i + 1
                break
        return prio, f"cover {cover_d:.1f} d (ATS {ats}) vs wait {wait_d:.1f} d"

    def _delay(self, po: PurchaseOrder, now: float, *, why: str) -> OpsException:
        """A supplier delay of `po`, judged against its expected date: the exception (one
        per PO, counted again on each new occurrence) and the escalation rule's decision."""
        rule = self._rule(now)
        prio, risk = self._priority(po, rule, po.expected_at - now)
        cat = self.core.catalog
        detail = (
            f"{po.subject} from {po.supplier}: {po.remaining} x {cat.skus[po.sku].code}"
            f" at {cat.locations[po.location].code}, {why}; {risk}"
        )
        ex = self.core.exceptions.raise_("supplier_delay", po.subject, detail, priority=prio)
        self._escalate(po, now, rule, prio, risk)
        return ex

    def _escalate(
        self, po: PurchaseOrder, now: float, rule: RuleVersion, prio: int, risk: str
    ) -> None:
        """Re-source, expedite or wait, as the rule says; each decision goes to the audit."""

        def decided(outcome: str, reason: str) -> None:
            self.core.audit.record(
                now,
                "po.escalation",
                po.subject,
                outcome,
                rule=rule.ref,
                actor="rule",
                reason=reason,
            )

        if prio > int(rule["act_max_priority"]):
            decided("wait", f"priority {prio}; {risk}")
            return
        sup = self.suppliers[po.supplier]
        alts = [self.suppliers[c] for c in sup.alternates]
        alt = min(alts, key=lambda a: (a.lead_time_days, -a.reliability), default=None)
        # each option's arrival against the goods' expected arrival, not a promise long past
        options: list[tuple[int, float, str]] = []
        rank = {"alternate": 0, "expedite": 1}
        if rule["prefer"] == "expedite":
            rank = {"expedite": 0, "alternate": 1}
        if alt is not None:
            options.append((rank["alternate"], now + alt.lead_time_days * DAY, "alternate"))
        if sup.can_expedite and not po.expedited:
            factor = float(rule["expedite_lead_time_factor"])
            options.append((rank["expedite"], now + (po.expected_at - now) * factor, "expedite"))
        gain = float(rule["min_gain_h"]) * HOUR
        better = sorted(o for o in options if o[1] + gain <= po.expected_at)
        if better:
            _rank, at, action = better[0]
            ahead = f"{(po.expected_at - at) / DAY:.1f} d sooner than expected"
            if action == "alternate" and alt is not None:
                new = self._raise(
                    po.sku,
                    po.location,
                    alt,
                    po.remaining,
                    now,
                    policy="escalation",
                    replaces=po.id,
                )
                po.resourced_to = new.id
                self.core.log.note(now, "po.resourced", po.subject)
                decided(
                    f"resourced to {new.subject} ({alt.code})",
                    f"priority {prio}; {risk}; {ahead}",
                )
                self._close(po, POState.CLOSED_SHORT, now, "re-sourced")
                self._tell("resourced", new)
                return
            pct = float(rule["expedite_surcharge_pct"])
            po.unit_price_cents = round(po.unit_price_cents * (1 + pct / 100))
            po.promised_at = po.expected_at = at
            po.expedited = True
            self.core.log.note(now, "po.expedited", po.subject)
            decided(
                f"expedited to {at:g}", f"priority {prio}; {risk}; {ahead}; +{pct:g}% unit price"
            )
            self._tell("expedited", po)
            return
        decided("wait", f"priority {prio}; no faster option; {risk}")

    def _tell(self, action: str, po: PurchaseOrder) -> None:
        for fn in self._listeners:
            fn(action, po)
