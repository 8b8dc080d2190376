"""People: the approvers of transfers, the planner who balances stock between stores at
night, finance closing the books, and inventory control counting shelves."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import TransferState
from orchestrator.anomaly import recommend_cycle_counts

from ..clock import daily
from ..rand import sample

if TYPE_CHECKING:
    from ..model import RetailTwin

MAX_EMERGENCY_TRANSFERS_PER_NIGHT = 25  # assumed: what a region's planners raise in a night
APPROVERS_AFTER_HORIZON_H = 48.0  # approvals still answered while the run drains


class ApproverAgent(mesa.Agent):
    """The regional manager: answers transfer approvals waiting on a person after a delay
    (an e-mail inbox under legacy, a task above the rules' thresholds when orchestrated);
    approved goods then move."""

    model: RetailTwin

    def start(self) -> None:
        self.model.env.process(self.answer())

    def answer(self) -> Generator[simpy.Event, Any, None]:
        """Check for new approvals on a cadence; each is answered after its own delay."""
        model = self.model
        env = model.env
        every = model.timetable.approvals_check_min / 60.0
        seen: set[int] = set()
        while env.now < model.horizon_h + APPROVERS_AFTER_HORIZON_H:
            for t in model.transfers.pending_approvals():
                if t.id not in seen:
                    seen.add(t.id)
                    delay = float(sample(model.policy.email_approval_h, model.streams.people))
                    env.process(self.decide_later(t.id, delay))
            yield env.timeout(every)

    def decide_later(self, tid: int, delay_h: float) -> Generator[simpy.Event, Any, None]:
        """After `delay_h` the approver checks the source still has the stock and decides."""
        model = self.model
        yield model.env.timeout(delay_h)
        t = model.transfers.get(tid)
        if t.state is not TransferState.PENDING_APPROVAL:
            return
        ok = model.core.ledger.position(t.sku, t.source).ats >= t.qty
        model.transfers.decide(
            tid, ok, "regional-manager", "stock checked" if ok else "no stock left"
        )
        if ok:
            model.env.process(model.carrier.move_transfer(tid))


class PlannerAgent(mesa.Agent):
    """The regional planner's nightly balancing: stores that ran out ask a peer for an
    emergency transfer, and the workflow's balancing job moves overstock."""

    model: RetailTwin

    def balance(self) -> None:
        """Stores that ran out ask a regional peer for an emergency transfer.

        Every regional peer's spare is its available-to-sell above its own reorder point;
        the store asks the peer with the most spare for up to its order-up-to level. The
        request goes through the transfer workflow: by e-mail to a person (legacy) or by
        versioned rules with a human above thresholds (orchestrated). The stock-balancing
        job of the workflow runs too, for overstocked stores.
        """
        model = self.model
        net, ledger, transfers, stores = (
            model.network,
            model.core.ledger,
            model.transfers,
            model.stores,
        )
        if net.n_store < 2:
            return
        requests = 0
        d = ledger.dense(net.n_sku, net.n_store)
        if not d.exists.all():  # open every store position, sku by sku, as a review would
            for k in np.flatnonzero(~d.exists.all(axis=1)).tolist():
                for region_stores in net.stores_by_region.values():
                    for s in region_stores:
                        ledger.position(k, s)
        ats_all = np.maximum(d.on_hand - d.reserved - d.safety, 0)
        regions = [(members, np.array(members)) for members in net.stores_by_region.values()]
        # per region: which skus have a store at zero
        empty = [(ats_all[:, idx] == 0).any(axis=1) for _stores, idx in regions]
        # the balancing job can only move skus with a store over and one under in a region;
        # a sku asked for tonight is looked at again (its projections just changed)
        balance = set(transfers.balancing_candidates(net.n_sku, dense=d))
        for k in range(net.n_sku):
            for (region_stores, idx), out in zip(regions, empty, strict=True):
                if not out[k]:
                    continue
                ats = dict(zip(region_stores, ats_all[k, idx].tolist(), strict=True))
                for dest in (s for s in region_stores if ats[s] == 0):
                    if requests >= MAX_EMERGENCY_TRANSFERS_PER_NIGHT:
                        return
                    spare = {
                        p: ats[p] - int(stores.reorder_point[k, p])
                        for p in region_stores
                        if p != dest
                    }
                    src = max(sorted(spare), key=lambda p: spare[p], default=None)
                    if src is None or spare[src] < 2:
                        continue
                    qty = int(min(spare[src], max(1, stores.order_up_to[k, dest])))
                    t = transfers.request(
                        k, src, dest, qty, reason="store ran out", requested_by=f"store:{dest}"
                    )
                    requests += 1
                    balance.add(k)
                    ats[src] -= qty
                    if t.state is TransferState.APPROVED:
                        model.env.process(model.carrier.move_transfer(t.id))
            if k not in balance:
                continue
            for prop in transfers.propose_balancing(k):
                t = transfers.request(
                    prop.sku,
                    prop.source,
                    prop.destination,
                    prop.qty,
                    reason=prop.reason,
                    requested_by="balancing",
                )
                if t.state is TransferState.APPROVED:
                    model.env.process(model.carrier.move_transfer(t.id))


class FinanceAgent(mesa.Agent):
    """Finance closes the books daily: every account and location where the GL and the
    stock ledger disagree is matched by hand."""

    model: RetailTwin

    def start(self) -> None:
        model = self.model
        at_h = model.timetable.finance_close_h
        model.env.process(daily(model.env, at_h, model.horizon_h, self.close))

    def close(self) -> None:
        """The day's close: each location's inventory account where the GL and the stock
        ledger disagree is matched by hand (per account and location, not per sku)."""
        model = self.model
        lines = {(d.account, d.location) for d in model.core.reconcile_recent()}
        minutes = len(lines) * model.policy.reconciliation_min_per_line
        model.metrics.counts.manual_recon_h += minutes / 60.0


class CountPlan(Protocol):
    """Which positions the nightly cycle count looks at first."""

    def first(self, model: RetailTwin, day: int, per_night: int) -> list[tuple[int, int]]: ...


class RandomCounts:
    """Legacy: only random positions."""

    def first(self, model: RetailTwin, day: int, per_night: int) -> list[tuple[int, int]]:
        return []


class AnomalyRankedCounts:
    """Orchestrated: once a week the anomaly ranking's store positions come first."""

    def first(self, model: RetailTwin, day: int, per_night: int) -> list[tuple[int, int]]:
        if day % 7 != 6:
            return []
        n_store = model.network.n_store
        ranked = recommend_cycle_counts(model.core, top_n=per_night)
        return [(rec.sku, rec.location) for rec in ranked if rec.location < n_store]


class InventoryControlAgent(mesa.Agent):
    """Inventory control: counts a position at the shelf and sets the system to the count
    (after pick shortages, and in the nightly cycle counts)."""

    model: RetailTwin

    def __init__(self, model: RetailTwin, plan: CountPlan) -> None:
        super().__init__(model)
        self.plan = plan

    def count(self, sku: int, loc: int, reason: str) -> None:
        """A count at the shelf: the system takes the physical figure.

        Not while the location has facts the core has not applied yet (buffered at the till,
        or in the middleware): those events would be applied on top of the count and the
        system would drift by exactly the units already counted."""
        model = self.model
        if model.stores.unsynced(loc):
            return
        pos = model.core.ledger.position(sku, loc)
        model.metrics.counts.positions_counted += 1
        counted = int(model.physical.shelf[sku, loc])
        err = model.scenario.physical.count_error_rate
        if err:  # a miscount: one unit over or under (never below zero)
            rng = model.streams.counts
            if rng.random() < err:
                counted = max(0, counted + (1 if rng.random() < 0.5 else -1))
        delta = counted - pos.on_hand
        if delta:
            model.core.adjust(sku, loc, delta, reason=reason)

    def cycle_counts(self, day: int) -> None:
        """Nightly counts of up to `counts_per_store_day` positions a store: the plan's
        first, then random ones at every store whose tills are up."""
        model = self.model
        net, stores = model.network, model.stores
        n = model.policy.counts_per_store_day
        if not net.n_store or n <= 0:
            return
        rng = model.streams.counts
        targets = self.plan.first(model, day, n * net.n_store)
        for s in range(net.n_store):
            if stores[s].offline(model.env.now):
                continue
            picks = rng.choice(net.n_sku, size=min(n, net.n_sku), replace=False)
            targets.extend((int(k), s) for k in picks)
        seen = set()
        for k, s in targets:
            if (k, s) in seen or len(seen) >= n * net.n_store:
                continue
            seen.add((k, s))
            if stores[s].holds_facts():  # a count while till facts are unsynced would mislead
                continue
            self.count(k, s, reason="cycle count")
