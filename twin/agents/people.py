"""People: the approvers of transfers, the planner who balances stock between stores at
night, finance closing the books, and inventory control counting shelves."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import MovementKind, TransferState
from orchestrator.anomaly import RecordRisk

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
    """Finance closes the books daily, after the day's postings, and matches by hand every
    true mismatch between the GL and the stock ledger."""

    model: RetailTwin

    def start(self) -> None:
        model = self.model
        at_h = model.timetable.finance_close_h
        model.env.process(daily(model.env, at_h, model.horizon_h, self.close))

    def close(self) -> None:
        """The day's close (`Orchestrator.close_period`): each line where the GL disagrees
        with the ledger for the period — a variance awaiting approval (count adjustment,
        write-off, receipt short), a posting the ERP rejected or posted twice, one still on
        its way — costs `reconciliation_min_per_line`, per kind, account and location.
        What is merely not posted yet because the period has not been posted (the night's
        batch is still to come) is not a mismatch: the close reconciles up to the last
        posting run."""
        model = self.model
        lines = {(m.kind, m.account, m.location) for m in model.core.close_period()}
        counts = model.metrics.counts
        counts.manual_recon_h += len(lines) * model.policy.reconciliation_min_per_line / 60.0
        for kind, _acct, _loc in lines:
            counts.recon_lines[kind] = counts.recon_lines.get(kind, 0) + 1

    def settle(self) -> None:
        """After the drain: the last corrections, so the books are square (not measured)."""
        self.model.core.close_period()


CountTarget = tuple[int, int, str]  # (sku, location, which plan chose it)


class CountPlan(Protocol):
    """Which positions the nightly cycle counts look at, given each location's budget."""

    def choose(self, model: RetailTwin, day: int, budget: dict[int, int]) -> list[CountTarget]: ...
    def counted(self, sku: int, loc: int) -> None: ...
    def counted_many(self, skus: np.ndarray, locs: np.ndarray) -> None: ...


def random_skus(model: RetailTwin, day: int, loc: int, n: int) -> np.ndarray:
    """`n` skus drawn at random for a location's night (keyed by day and location, so a
    policy's other counts never shift them)."""
    rng = model.streams.keyed("counts", 0, day, loc)
    return rng.choice(model.network.n_sku, size=min(n, model.network.n_sku), replace=False)


class RandomCounts:
    """Legacy: each location counts random positions (a blind cycle)."""

    def choose(self, model: RetailTwin, day: int, budget: dict[int, int]) -> list[CountTarget]:
        return [
            (int(k), loc, "random")
            for loc, n in budget.items()
            for k in random_skus(model, day, loc, n).tolist()
        ]

    def counted(self, sku: int, loc: int) -> None:
        """A blind cycle learns nothing from a count."""

    def counted_many(self, skus: np.ndarray, locs: np.ndarray) -> None:
        """Nor from many."""


class AnomalyRankedCounts:
    """Orchestrated: every night the core's count ranking (`RecordRisk`: the chance each
    record is wrong, from the movement log) picks each location's positions, riskiest
    first; ties go in a random order."""

    def __init__(self) -> None:
        self.risk: RecordRisk | None = None

    def ranking(self, model: RetailTwin) -> RecordRisk:
        if self.risk is None:
            net = model.network
            # stores' forecasts; a site's outflow comes in store orders a few days apart,
            # not unit by unit, so a quiet spell there says nothing (no NO_SALE at sites)
            demand = np.zeros((net.n_sku, net.n_loc))
            demand[:, : net.n_store] = net.lam_store
            self.risk = RecordRisk(model.core, daily_demand=demand)
        return self.risk

    def choose(self, model: RetailTwin, day: int, budget: dict[int, int]) -> list[CountTarget]:
        risk, flagged = self.ranking(model).score()
        out: list[CountTarget] = []
        for loc, n in budget.items():
            if n <= 0:
                continue
            order = model.streams.keyed("counts", 0, day, loc).permutation(model.network.n_sku)
            col = risk[order, loc]
            top = order[np.argsort(-col, kind="stable")[:n]]
            out.extend(
                (int(k), loc, "flagged" if flagged[k, loc] else "ranked") for k in top.tolist()
            )
        return out

    def counted(self, sku: int, loc: int) -> None:
        if self.risk is not None:
            self.risk.counted(sku, loc)

    def counted_many(self, skus: np.ndarray, locs: np.ndarray) -> None:
        if self.risk is not None:
            self.risk.counted_many(skus, locs)


def night_budget(per_day: float, day: int, offset: float) -> int:
    """Counts of one location on one night at `per_day` a day on average: whole counts,
    spread evenly over the nights (`offset` in [0, 1) staggers locations)."""
    return math.floor((day + 1) * per_day + offset) - math.floor(day * per_day + offset)


class InventoryControlAgent(mesa.Agent):
    """Inventory control: counts a position at the shelf and sets the system to the count
    (after pick shortages, and in the nightly cycle counts of stores and DCs), and keeps
    what each count found (`log`)."""

    model: RetailTwin

    def __init__(self, model: RetailTwin, plan: CountPlan) -> None:
        super().__init__(model)
        self.plan = plan
        self.waiting: dict[tuple[int, int], str] = {}  # counts the guard held back
        # one row per count: (day, sku, location, why: plan or "shortage", record wrong)
        self.log: list[tuple[int, int, int, str, bool]] = []

    def count(self, sku: int, loc: int, reason: str, why: str = "shortage") -> bool:
        """A count at the shelf: the system takes the physical figure. False if it waits.

        Not while the position has a fact the core has not applied (at the till, in the
        middleware, dead-lettered): that event would be applied on top of the count and
        the system would drift by exactly the units already counted. Such a count waits
        and is taken on a later night, once every event of the position is applied."""
        model = self.model
        if model.stores.pending(sku, loc):
            self.waiting[(sku, loc)] = reason
            return False
        self.waiting.pop((sku, loc), None)
        pos = model.core.ledger.position(sku, loc)
        shelf = int(model.physical.shelf[sku, loc])
        counted = shelf
        err = model.scenario.physical.count_error_rate
        if err:  # a miscount: one unit over or under (never below zero)
            rng = model.streams.keyed("counts", 1, sku, loc, int(model.env.now * 60))
            if rng.random() < err:
                counted = max(0, counted + (1 if rng.random() < 0.5 else -1))
        model.physical.counted(sku, loc, counted, pos.on_hand)
        if model.env.now >= model.warmup_h:
            self.log.append((model.metrics.day_index, sku, loc, why, pos.on_hand != shelf))
        delta = counted - pos.on_hand
        if delta:
            model.core.adjust(sku, loc, delta, reason=reason)
        self.plan.counted(sku, loc)
        return True

    def figures(self) -> dict[str, float]:
        """What the counts of the measured window found: how many there were of each kind
        and the share whose record was wrong (the plan's precision; NaN: no such count).
        `cycle_count_precision` is over every planned count (same budget under both
        plans); `flagged_count_precision` over those the ranking flagged (NO_SALE or
        NEGATIVE)."""
        rows = self.log
        out: dict[str, float] = {}
        for name, kinds in (
            ("cycle", ("random", "ranked", "flagged")),
            ("flagged", ("flagged",)),
            ("shortage", ("shortage",)),
        ):
            found = [wrong for _d, _k, _l, why, wrong in rows if why in kinds]
            out[f"{name}_counts"] = float(len(found))
            out[f"{name}_count_precision"] = sum(found) / len(found) if found else math.nan
        return out

    def budget(self, day: int) -> dict[int, int]:
        """Tonight's counts per location: stores whose tills are up (`count_cycle_days`, or
        `counts_per_store_day` if set) and sites (`dc_count_cycle_days`)."""
        model = self.model
        net, policy, stores = model.network, model.policy, model.stores
        per_store = (
            net.n_sku / policy.count_cycle_days
            if policy.counts_per_store_day is None
            else float(policy.counts_per_store_day)
        )
        out = {}
        for s in range(net.n_store):
            if not stores[s].offline(model.env.now):
                out[s] = night_budget(per_store, day, s / net.n_loc)
        per_site = net.n_sku / policy.dc_count_cycle_days
        for site in model.sites:
            out[site.loc] = night_budget(per_site, day, site.loc / net.n_loc)
        return {loc: n for loc, n in out.items() if n > 0}

    def cycle_counts(self, day: int) -> None:
        """Tonight's counts: those the guard held back first, then the plan's choice within
        each location's budget (a position with facts still unapplied waits)."""
        for (k, loc), reason in list(self.waiting.items()):
            self.count(k, loc, reason, why="waited")
        chosen = self.plan.choose(self.model, day, self.budget(day))
        if chosen:
            self.count_many(chosen, "cycle count")

    def count_many(self, targets: list[CountTarget], reason: str) -> None:
        """`count` for a night's targets (distinct positions) in one numpy pass: the
        corrections are booked as one envelope, a sub-stream per location."""
        model = self.model
        n = len(targets)
        ks = np.fromiter((t[0] for t in targets), np.int64, n)
        ls = np.fromiter((t[1] for t in targets), np.int64, n)
        wait = model.stores.pending_many(ks, ls)
        for i in np.flatnonzero(wait).tolist():
            self.waiting[(int(ks[i]), int(ls[i]))] = reason
        go = np.flatnonzero(~wait)
        if self.waiting:
            for i in go.tolist():
                self.waiting.pop((int(ks[i]), int(ls[i])), None)
        whys = [targets[i][2] for i in go.tolist()]
        ks, ls = ks[go], ls[go]
        if not ks.size:
            return
        (system,) = model.core.ledger.columns_of(ks, ls, "on_hand")
        shelf = model.physical.shelf[ks, ls].astype(np.int64)
        counted = shelf.copy()
        err = model.scenario.physical.count_error_rate
        if err:  # a miscount: one unit over or under (never below zero); keyed per location
            minute = int(model.env.now * 60)
            n_sku = model.network.n_sku
            for loc in np.unique(ls).tolist():
                at = np.flatnonzero(ls == loc)
                u = model.streams.keyed("counts", 3, loc, minute).random((2, n_sku))
                miss = u[0, ks[at]] < err
                step = np.where(u[1, ks[at]] < 0.5, 1, -1)
                counted[at] = np.where(miss, np.maximum(0, shelf[at] + step), shelf[at])
        model.physical.counted_many(ks, ls, counted, system)
        if model.env.now >= model.warmup_h:
            day = model.metrics.day_index
            wrong = (system != shelf).tolist()
            self.log.extend(
                zip([day] * len(whys), ks.tolist(), ls.tolist(), whys, wrong, strict=True)
            )
        delta = counted - system
        fix = np.flatnonzero(delta)
        if fix.size:
            # the corrections finance must approve (over the limit, per line) in one
            # envelope, the rest in another: each waits or posts as its own count would
            core = model.core
            limit = core.gl.auto_approve_max_cents
            over = np.zeros(fix.size, dtype=bool)
            if limit is not None:
                over = np.abs(delta[fix]) * core.std_costs()[ks[fix]] > limit
            for part in (fix[over], fix[~over]):
                if part.size:
                    core.move_envelope(
                        MovementKind.ADJUSTMENT, ls[part], ks[part], delta[part], reason=reason
                    )
        self.plan.counted_many(ks, ls)
