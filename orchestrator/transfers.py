"""Stock transfers between locations (DC → store, store → store) under versioned approval rules.

Life cycle::

    requested ─┬─> approved ──> shipped ──> received
               ├─> rejected
               └─> pending_approval ─┬─> approved ...
                                     └─> rejected
    (requested, pending_approval or approved) ──> cancelled

A request is decided at once by the `transfer_approval` rule in force when it is made:
it is rejected when the source cannot spare the units (its available-to-sell, less
units already promised to open transfers, is short, or shipping would leave it below
`protect_source_units`), approved automatically when
it is small (qty ≤ `auto_max_units` and value ≤ `auto_max_value_cents`), and routed
to a human approver otherwise. Automatic approval above either threshold never
happens. A pending approval older than `approval_sla_h` raises an `approval_overdue`
exception, resolved when someone decides. Every decision carries the rule version
(`transfer_approval@vN`) on the transfer and in the audit trail, and every step is
noted on the core's timeline (`transfer.requested`, `transfer.approved`, ...), which
is where the approval and cycle time KPIs come from.

`propose_balancing` is the stock-balancing job: within a region it moves surplus
from overstocked stores to understocked ones, under the `stock_balancing` rule.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from .catalog import Ref
from .errors import InvalidCommand, InvalidTransition
from .governance import RuleVersion
from .ledger import DenseBalances

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .core import Orchestrator

HOUR_S = 3600.0

#: assumed defaults for the balancing job, published as `stock_balancing@v1` if missing.
#: Thresholds are in units of projected available-to-sell at a store: above
#: `upper_units` a store is overstocked, below `lower_units` understocked, and both
#: are brought towards `target_units`. No published figure; planners override them
#: by publishing a new version.
DEFAULT_BALANCING_RULE: dict[str, int] = {
    "lower_units": 3,
    "target_units": 8,
    "upper_units": 20,
    "min_transfer_units": 2,  # smaller moves are not worth a truck slot
}


class TransferState(StrEnum):
    REQUESTED = "requested"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELLED = "cancelled"


#: states in which the units are still committed at the source (not yet shipped)
_OPEN = frozenset({TransferState.REQUESTED, TransferState.PENDING_APPROVAL, TransferState.APPROVED})


@dataclass(slots=True)
class Transfer:
    """One transfer request and what became of it; times are NaN until they happen."""

    id: int
    sku: int
    source: int
    destination: int
    qty: int
    value_cents: int  # qty × standard cost at request time
    state: TransferState
    requested_at: float
    rule: str = ""  # RuleVersion.ref of the transfer_approval version that decided it
    reason: str = ""  # why it was requested
    requested_by: str = ""
    decided_at: float = math.nan
    decided_by: str = ""  # "rule" or "approver:<name>"
    decision_reason: str = ""
    approval_due_at: float = math.nan  # pending approvals: when it becomes overdue
    shipped_at: float = math.nan
    received_at: float = math.nan
    closed_at: float = math.nan  # received, rejected or cancelled
    received_qty: int = 0
    lost_qty: int = 0

    @property
    def subject(self) -> str:
        return f"transfer:{self.id}"

    @property
    def decided(self) -> bool:
        return not math.isnan(self.decided_at)


@dataclass(slots=True, frozen=True)
class TransferProposal:
    """A transfer the balancing job suggests; not a request until `request_proposals`."""

    sku: int
    source: int
    destination: int
    qty: int
    reason: str
    rule: str  # the stock_balancing version that proposed it


class TransferWorkflow:
    """Requests, approvals, shipments and receipts of transfers against one core."""

    def __init__(self, core: Orchestrator) -> None:
        self.core = core
        self.transfers: list[Transfer] = []
        self._overdue_heap: list[tuple[float, int]] = []  # (approval due at, transfer id)
        # units in open (not yet shipped, not closed) transfers, by (sku, source) and
        # (sku, destination): what the source has promised away and the destination expects
        self._outbound: dict[tuple[int, int], int] = {}
        self._regions: dict[str, list[int]] = {}
        self._regions_for = -1  # catalogue size the cached regions were built for
        self._inbound: dict[tuple[int, int], int] = {}
        core.register(self)
        core.rules.ensure(
            "stock_balancing",
            DEFAULT_BALANCING_RULE,
            note="assumed balancing thresholds in units; no published figure",
        )

    # -- helpers -----------------------------------------------------------------------
    def get(self, transfer_id: int) -> Transfer:
        if (
            not isinstance(transfer_id, int)
            or isinstance(transfer_id, bool)
            or not 0 <= transfer_id < len(self.transfers)
        ):
            raise InvalidCommand(f"transfer_id: no transfer {transfer_id!r}")
        return self.transfers[transfer_id]

    def _set_state(self, t: Transfer, state: TransferState) -> None:
        if t.state in _OPEN and state not in _OPEN:
            self._outbound[(t.sku, t.source)] -= t.qty
            self._inbound[(t.sku, t.destination)] -= t.qty
        t.state = state

    def committed(self, sku: int, source: int) -> int:
        """Units of `sku` in open transfers out of `source` (requested, pending or approved)."""
        return self._outbound.get((sku, source), 0)

    def _note(self, at: float, t: Transfer, step: str) -> None:
        self.core.log.note(at, f"transfer.{step}", t.subject)

    def _close_decision(
        self,
        t: Transfer,
        now: float,
        approve: bool,
        actor: str,
        rule: str,
        reason: str,
    ) -> None:
        self._set_state(t, TransferState.APPROVED if approve else TransferState.REJECTED)
        t.decided_at = now
        t.decided_by = actor
        t.decision_reason = reason
        t.rule = rule
        if not approve:
            t.closed_at = now
        outcome = "approved" if approve else "rejected"
        self.core.audit.record(
            now, f"transfer.{outcome}", t.subject, outcome, rule=rule, actor=actor, reason=reason
        )
        self._note(now, t, outcome)

    @staticmethod
    def _shortfall(
        rule: RuleVersion, qty: int, available: int, loc_code: str, *, protect: bool = True
    ) -> str:
        """Why the source cannot spare `qty` units, or "" if it can."""
        if qty > available:
            return f"source {loc_code} has only {available} available, {qty} requested"
        floor = int(rule["protect_source_units"]) if protect else 0
        if available - qty < floor:
            return (
                f"source {loc_code} would drop to {available - qty} available,"
                f" below protect_source_units {floor}"
            )
        return ""

    # -- commands ----------------------------------------------------------------------
    def request(
        self,
        sku: Ref,
        source: Ref,
        destination: Ref,
        qty: int,
        *,
        reason: str = "",
        requested_by: str = "",
    ) -> Transfer:
        """Request a transfer and decide it by the rule in force now (approve, reject or route)."""
        core = self.core
        cat = core.catalog
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            raise InvalidCommand(f"qty: must be a whole number > 0, got {qty!r}")
        s = cat.sku(sku)
        src = cat.location(source)
        dst = cat.location(destination)
        if src == dst:
            raise InvalidCommand(
                f"destination: must differ from source, both are {cat.locations[src].code!r}"
            )
        now = core.clock.now()
        rule = core.rules.current("transfer_approval", now)
        t = Transfer(
            len(self.transfers),
            s,
            src,
            dst,
            qty,
            qty * cat.std_cost(s),
            TransferState.REQUESTED,
            now,
            rule=rule.ref,
            reason=reason,
            requested_by=requested_by,
        )
        # what the source can spare: ATS less what it already promised to open transfers
        ats = core.available(s, src)
        promised = self.committed(s, src)
        self.transfers.append(t)
        self._outbound[(s, src)] = promised + qty
        self._inbound[(s, dst)] = self._inbound.get((s, dst), 0) + qty
        self._note(now, t, "requested")

        where = cat.locations[src].code
        if promised:
            where += f" ({ats} available to sell less {promised} promised to open transfers)"
        short = self._shortfall(rule, qty, ats - promised, where)
        if short:
            self._close_decision(t, now, False, "rule", rule.ref, short)
            return t
        max_units = int(rule["auto_max_units"])
        max_value = int(rule["auto_max_value_cents"])
        if qty <= max_units and t.value_cents <= max_value:
            why = f"{qty} units ≤ {max_units} and {t.value_cents} cents ≤ {max_value}"
            self._close_decision(t, now, True, "rule", rule.ref, why)
            return t
        # above a threshold: only a person may approve
        over = []
        if qty > max_units:
            over.append(f"{qty} units > auto_max_units {max_units}")
        if t.value_cents > max_value:
            over.append(f"{t.value_cents} cents > auto_max_value_cents {max_value}")
        self._set_state(t, TransferState.PENDING_APPROVAL)
        t.approval_due_at = now + float(rule["approval_sla_h"]) * HOUR_S
        heapq.heappush(self._overdue_heap, (t.approval_due_at, t.id))
        core.audit.record(
            now,
            "transfer.pending_approval",
            t.subject,
            "routed to approver",
            rule=rule.ref,
            actor="rule",
            reason="; ".join(over),
        )
        self._note(now, t, "pending_approval")
        return t

    def decide(self, transfer_id: int, approve: bool, approver: str, reason: str = "") -> Transfer:
        """A human approver's decision on a pending transfer; resolves any overdue exception."""
        t = self.get(transfer_id)
        if not approver:
            raise InvalidCommand("approver: must name who decided")
        if t.state is not TransferState.PENDING_APPROVAL:
            raise InvalidTransition(
                f"transfer {t.id}: only a pending_approval transfer can be decided, it is {t.state}"
            )
        now = self.core.clock.now()
        actor = f"approver:{approver}"
        self._close_decision(t, now, bool(approve), actor, t.rule, reason)
        self.core.exceptions.resolve_subject(
            "approval_overdue", t.subject, "approved" if approve else "rejected", actor=actor
        )
        return t

    def cancel(self, transfer_id: int, *, actor: str = "system", reason: str = "") -> Transfer:
        """Withdraw a transfer that has not shipped yet."""
        t = self.get(transfer_id)
        if t.state not in _OPEN:
            raise InvalidTransition(
                f"transfer {t.id}: cannot cancel a {t.state} transfer (only before shipping)"
            )
        now = self.core.clock.now()
        self._set_state(t, TransferState.CANCELLED)
        t.closed_at = now
        self.core.audit.record(
            now,
            "transfer.cancelled",
            t.subject,
            "cancelled",
            rule=t.rule,
            actor=actor,
            reason=reason,
        )
        self.core.exceptions.resolve_subject(
            "approval_overdue", t.subject, "cancelled", actor=actor
        )
        self._note(now, t, "cancelled")
        return t

    def ship(self, transfer_id: int, at: float | None = None) -> Transfer:
        """Post the units leaving the source (now in transit to the destination).

        The source's available-to-sell is checked again: if the units are no longer
        there, the transfer is rejected by rule (recorded) and `InvalidTransition` is
        raised so the caller does not load a truck.
        """
        t = self.get(transfer_id)
        if t.state is not TransferState.APPROVED:
            raise InvalidTransition(
                f"transfer {t.id}: only an approved transfer can ship, it is {t.state}"
            )
        core = self.core
        now = core.clock.now()
        when = now if at is None else float(at)
        if when < t.decided_at:
            raise InvalidCommand(f"at: {when} is before the approval at {t.decided_at}")
        rule = core.rules.current("transfer_approval", now)
        code = core.catalog.locations[t.source].code
        short = self._shortfall(rule, t.qty, core.available(t.sku, t.source), code, protect=False)
        if short:
            self._set_state(t, TransferState.REJECTED)
            t.closed_at = now
            t.decision_reason = f"at ship time: {short}"
            core.audit.record(
                now,
                "transfer.rejected",
                t.subject,
                "rejected",
                rule=rule.ref,
                actor="rule",
                reason=t.decision_reason,
            )
            self._note(now, t, "rejected")
            raise InvalidTransition(f"transfer {t.id}: cannot ship, {short}")
        core.transfer_out(
            t.sku,
            t.source,
            t.destination,
            t.qty,
            event_id=f"{t.subject}:out",
            at=when,
            reason=t.reason or t.subject,
        )
        self._set_state(t, TransferState.SHIPPED)
        t.shipped_at = when
        self._note(when, t, "shipped")
        return t

    def receive(
        self, transfer_id: int, qty: int | None = None, at: float | None = None
    ) -> Transfer:
        """Post the receipt at the destination; units short of what shipped are a transit loss."""
        t = self.get(transfer_id)
        if t.state is not TransferState.SHIPPED:
            raise InvalidTransition(
                f"transfer {t.id}: only a shipped transfer can be received, it is {t.state}"
            )
        got = t.qty if qty is None else qty
        if not isinstance(got, int) or isinstance(got, bool) or not 0 <= got <= t.qty:
            raise InvalidCommand(f"qty: must be a whole number within 0..{t.qty}, got {qty!r}")
        core = self.core
        now = core.clock.now()
        when = now if at is None else float(at)
        if when < t.shipped_at:
            raise InvalidCommand(f"at: {when} is before the shipment at {t.shipped_at}")
        if got:
            core.transfer_in(
                t.sku, t.destination, t.source, got, event_id=f"{t.subject}:in", at=when
            )
        missing = t.qty - got
        if missing:
            core.transit_loss(
                t.sku,
                t.destination,
                missing,
                event_id=f"{t.subject}:loss",
                at=when,
                reason=f"{t.subject}: {missing} of {t.qty} units short on receipt",
            )
        self._set_state(t, TransferState.RECEIVED)
        t.received_at = t.closed_at = when
        t.received_qty = got
        t.lost_qty = missing
        if missing:
            core.audit.record(
                now,
                "transfer.short_received",
                t.subject,
                f"{got} of {t.qty} received",
                rule="",
                actor="receiving",
                reason=f"{missing} units posted as transit loss",
            )
        self._note(when, t, "received")
        return t

    # -- time ----------------------------------------------------------------------------
    def next_due(self) -> float | None:
        """When `poll` next has work (an approval turning overdue), or None."""
        heap = self._overdue_heap
        while heap and self.transfers[heap[0][1]].state is not TransferState.PENDING_APPROVAL:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def poll(self) -> list[Transfer]:
        """Raise `approval_overdue` for pending approvals past their SLA; returns those."""
        now = self.core.clock.now()
        out = []
        heap = self._overdue_heap
        while heap and heap[0][0] <= now:
            due, i = heapq.heappop(heap)
            t = self.transfers[i]
            if t.state is not TransferState.PENDING_APPROVAL:
                continue
            hours = (due - t.requested_at) / HOUR_S
            self.core.exceptions.raise_(
                "approval_overdue",
                t.subject,
                f"{t.qty} units awaiting approval for more than {hours:g} h ({t.rule})",
            )
            self._note(now, t, "approval_overdue")
            out.append(t)
        return out

    # -- reading -------------------------------------------------------------------------
    def pending_approvals(self) -> list[Transfer]:
        """The approver queue: transfers waiting for a human, oldest first."""
        pending = [t for t in self.transfers if t.state is TransferState.PENDING_APPROVAL]
        pending.sort(key=lambda t: (t.requested_at, t.id))
        return pending

    def in_state(self, state: TransferState | str) -> list[Transfer]:
        st = TransferState(state)
        return [t for t in self.transfers if t.state is st]

    def approval_times_h(self, since: float = -math.inf) -> list[float]:
        """Requested → decided (approved or rejected), hours, for every decided transfer
        requested at or after `since`."""
        return [
            (t.decided_at - t.requested_at) / HOUR_S
            for t in self.transfers
            if t.decided and t.requested_at >= since
        ]

    def share_decided_by_people(self, since: float = -math.inf) -> float:
        """Of the transfers requested at or after `since` and decided, the share a person
        decided (the rest the rules decided at once); NaN if none was decided."""
        decided = [t for t in self.transfers if t.decided and t.requested_at >= since]
        if not decided:
            return math.nan
        return sum(t.decided_by.startswith("approver:") for t in decided) / len(decided)

    def cycle_times_h(self, since: float = -math.inf) -> list[float]:
        """Requested → received at the destination, hours, for every received transfer
        requested at or after `since`."""
        return [
            (t.received_at - t.requested_at) / HOUR_S
            for t in self.transfers
            if t.state is TransferState.RECEIVED and t.requested_at >= since
        ]

    # -- stock balancing -------------------------------------------------------------------
    def projected_available(self, sku: int, location: int) -> int:
        """ATS plus units inbound (in transit or in open transfers) less open outbound transfers.

        The balancing job works on this so that running it twice does not propose the
        same move twice.
        """
        pos = self.core.position(sku, location)
        key = (sku, location)
        return pos.ats + pos.in_transit + self._inbound.get(key, 0) - self._outbound.get(key, 0)

    def _stores_by_region(self) -> dict[str, list[int]]:
        """Store ids per region, cached until the catalogue gains a location."""
        locs = self.core.catalog.locations
        if self._regions_for != len(locs):
            by_region: dict[str, list[int]] = {}
            for loc in locs:
                if loc.is_store:
                    by_region.setdefault(loc.region, []).append(loc.id)
            self._regions, self._regions_for = by_region, len(locs)
        return self._regions

    def balancing_candidates(self, n_sku: int, dense: DenseBalances | None = None) -> list[int]:
        """The skus (ids below `n_sku`) `propose_balancing` could move today: those with, in
        one region, a store above `upper_units` and one below `lower_units` (projected).

        One numpy pass over every store, so a nightly job need not ask sku by sku; a
        caller that has just read `ledger.dense()` (at least every store wide) passes it.
        """
        core = self.core
        rule = core.rules.current("stock_balancing", core.clock.now())
        lower, upper = int(rule["lower_units"]), int(rule["upper_units"])
        regions = [np.array(locs) for locs in self._stores_by_region().values()]
        if not regions or n_sku <= 0:
            return []
        width = int(max(r.max() for r in regions)) + 1
        if (
            dense is not None
            and dense.on_hand.shape[0] >= n_sku
            and dense.on_hand.shape[1] >= width
        ):
            d = dense
        else:
            d = core.ledger.dense(n_sku, width)
        on_hand, reserved = d.on_hand[:n_sku, :width], d.reserved[:n_sku, :width]
        safety, in_transit = d.safety[:n_sku, :width], d.in_transit[:n_sku, :width]
        proj = np.maximum(on_hand - reserved - safety, 0) + in_transit
        for (k, loc), q in self._inbound.items():
            if k < n_sku and loc < width:
                proj[k, loc] += q
        for (k, loc), q in self._outbound.items():
            if k < n_sku and loc < width:
                proj[k, loc] -= q
        hit = np.zeros(n_sku, dtype=bool)
        for locs in regions:
            p = proj[:, locs]
            hit |= (p > upper).any(axis=1) & (p < lower).any(axis=1)
        return np.flatnonzero(hit).tolist()

    def propose_balancing(self, sku: Ref, region: str | None = None) -> list[TransferProposal]:
        """Store-to-store moves from overstocked to understocked stores of the same region.

        Per the `stock_balancing` rule in force: stores whose projected ATS is above
        `upper_units` may give down to `target_units` (their surplus); stores below
        `lower_units` may take up to `target_units` (their deficit). Greedy and
        deterministic: largest surplus first, largest deficit first, ties by location
        id; a move never exceeds the source's surplus or the destination's deficit,
        and moves under `min_transfer_units` are skipped. `region=None` balances every
        region separately; stock never crosses a region.
        """
        core = self.core
        s = core.catalog.sku(sku)
        rule = core.rules.current("stock_balancing", core.clock.now())
        lower = int(rule["lower_units"])
        target = int(rule["target_units"])
        upper = int(rule["upper_units"])
        min_units = max(1, int(rule.get("min_transfer_units", 1)))
        if not lower <= target <= upper:
            raise InvalidCommand(
                f"rules.stock_balancing: need lower_units ≤ target_units ≤ upper_units in"
                f" {rule.ref}, got {lower}, {target}, {upper}"
            )
        by_region = self._stores_by_region()
        if region is not None:
            by_region = {region: by_region[region]} if region in by_region else {}
        out: list[TransferProposal] = []
        ledger = core.ledger
        inbound, outbound = self._inbound, self._outbound
        for reg in sorted(by_region):
            over: list[list[int]] = []  # [surplus, location, projected]
            under: list[list[int]] = []  # [deficit, location, projected]
            for loc in by_region[reg]:
                key = (s, loc)  # projected_available, inlined: this runs per sku per store
                pos = ledger.position(s, loc)
                ats = pos.on_hand - pos.reserved - pos.safety
                p = (
                    (ats if ats > 0 else 0)
                    + pos.in_transit
                    + inbound.get(key, 0)
                    - outbound.get(key, 0)
                )
                if p > upper:
                    over.append([p - target, loc, p])
                elif p < lower:
                    under.append([target - p, loc, p])
            over.sort(key=lambda x: (-x[0], x[1]))
            under.sort(key=lambda x: (-x[0], x[1]))
            i = j = 0
            while i < len(over) and j < len(under):
                o, u = over[i], under[j]
                q = min(o[0], u[0])
                if q < min_units:  # the smaller side is too small to be worth a move
                    if o[0] < min_units:
                        i += 1
                    else:
                        j += 1
                    continue
                src = core.catalog.locations[o[1]].code
                dst = core.catalog.locations[u[1]].code
                why = (
                    f"balancing in {reg or 'no region'}: {src} projects {o[2]} (> upper"
                    f" {upper}), {dst} projects {u[2]} (< lower {lower}); target {target}"
                )
                out.append(TransferProposal(s, o[1], u[1], q, why, rule.ref))
                o[0] -= q
                u[0] -= q
                if o[0] < min_units:
                    i += 1
                if u[0] < min_units:
                    j += 1
        return out

    def request_proposals(
        self, proposals: Iterable[TransferProposal], *, requested_by: str = "balancing"
    ) -> list[Transfer]:
        """Turn balancing proposals into transfer requests (each decided as usual)."""
        return [
            self.request(
                p.sku,
                p.source,
                p.destination,
                p.qty,
                reason=f"{p.reason} [{p.rule}]",
                requested_by=requested_by,
            )
            for p in proposals
        ]
