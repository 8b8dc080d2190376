"""Returns: online returns at each region's DC and in-store returns at the stores' desks
wait in quarantine, are inspected, and are disposed of by the core's rules (restock,
refurbish, return to vendor, liquidate, scrap); only sellable units go back on a shelf.

When inspection happens is a strategy picked when the twin is built: by rule as each
return arrives (orchestrated), or in the daily batch at the timetable's hour (legacy).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import ReturnCase
from orchestrator.clock import HOUR

from ..rand import Categorical, sample

if TYPE_CHECKING:
    from ..model import RetailTwin
    from .channel import Order

CONDITIONS = ("new", "opened", "damaged", "defective")
# assumed: the resalable share of returns has no published figure
CONDITION = Categorical(np.array([0.62, 0.23, 0.10, 0.05]))
INSPECTOR = "returns-centre"


class ReturnsDesk(Protocol):
    """When returns are inspected."""

    def start(self, centre: ReturnsCentreAgent) -> None: ...
    def online(self, centre: ReturnsCentreAgent, case_id: int) -> None: ...
    def store_day(
        self, centre: ReturnsCentreAgent, ks: np.ndarray, ss: np.ndarray, qs: np.ndarray
    ) -> None: ...


class InspectOnArrival:
    """Orchestrated: every return is inspected as it arrives and disposed of by rule; a
    store's returns of a day are settled at once, one batch per disposition."""

    def start(self, centre: ReturnsCentreAgent) -> None:
        """Nothing waits for a batch."""

    def online(self, centre: ReturnsCentreAgent, case_id: int) -> None:
        centre.model.env.process(centre.inspection(case_id))

    def store_day(
        self, centre: ReturnsCentreAgent, ks: np.ndarray, ss: np.ndarray, qs: np.ndarray
    ) -> None:
        model = centre.model
        rng = model.streams.returns
        # conditions drawn sku by sku, store by store (the order of the cells)
        conds = [CONDITIONS[CONDITION.draw(rng)] for _ in range(len(ks))]
        for cells, cases in centre.receive_by_store(ks, ss, qs):
            ids = [c.id for c in cases]
            done = model.returns.inspect_lines(ids, [conds[j] for j in cells], inspector=INSPECTOR)
            for case in done:
                centre.dispose(case)


class DailyBatch:
    """Legacy: returns wait for the daily inspection batch, in the order they came."""

    def start(self, centre: ReturnsCentreAgent) -> None:
        centre.model.env.process(centre.inspect_batches())

    def online(self, centre: ReturnsCentreAgent, case_id: int) -> None:
        centre.waiting.append(case_id)

    def store_day(
        self, centre: ReturnsCentreAgent, ks: np.ndarray, ss: np.ndarray, qs: np.ndarray
    ) -> None:
        case_of = [0] * len(ks)
        for cells, cases in centre.receive_by_store(ks, ss, qs):
            for j, case in zip(cells, cases, strict=True):
                case_of[j] = case.id
        centre.waiting.extend(case_of)  # the inspection queue takes them cell by cell


class ReturnsCentreAgent(mesa.Agent):
    """The returns centre and the stores' returns desks: receives returns into quarantine,
    inspects them (inspectors as a SimPy resource) and puts the dispositions into effect."""

    model: RetailTwin

    def __init__(self, model: RetailTwin, desk: ReturnsDesk) -> None:
        super().__init__(model)
        centre = model.scenario.network.returns_centre
        self.inspectors = simpy.Resource(model.env, capacity=centre.inspectors)
        self.inspect_time_min = centre.inspect_time_min
        self.desk = desk
        self.waiting: list[int] = []  # cases for the next inspection batch

    def start(self) -> None:
        if self.model.network.n_store:
            self.model.env.process(self.store_returns())
        self.desk.start(self)

    # -- online returns ------------------------------------------------------------------
    def online_return(
        self, sku: int, qty: int, order: Order, at: float
    ) -> Generator[simpy.Event, Any, None]:
        """An online customer's return reaches their region's DC at `at`."""
        model = self.model
        env = model.env
        if at > env.now:
            yield env.timeout(at - env.now)
        loc = model.network.returns_location(order.zone)
        model.physical.quarantine_return(sku, loc, qty)
        model.metrics.counts.returned_units += qty
        case = model.returns.receive(sku, loc, qty, channel=order.channel)
        self.desk.online(self, case.id)

    def inspection(self, case_id: int) -> Generator[simpy.Event, Any, None]:
        """One return waits for an inspector, is inspected and disposed of."""
        model = self.model
        with self.inspectors.request() as req:
            yield req
            minutes = float(sample(self.inspect_time_min, model.streams.people))
            yield model.env.timeout(minutes / 60.0)
        self.settle(case_id)

    def settle(self, case_id: int) -> None:
        model = self.model
        cond = CONDITIONS[CONDITION.draw(model.streams.returns)]
        self.dispose(model.returns.inspect(case_id, cond, inspector=INSPECTOR))

    def dispose(self, case: ReturnCase) -> None:
        """Put a decided return's disposition into effect (refurbishment takes time)."""
        model = self.model
        if case.refurbish_pending:
            model.env.process(self.refurbish(case.id, case.refurbish_due_at / HOUR))
            return
        for disposition, q in case.parts.items():
            sellable = disposition in ("restock", "refurbish")
            model.physical.release(case.sku, case.location, q, sellable=sellable)

    def refurbish(self, case_id: int, due_h: float) -> Generator[simpy.Event, Any, None]:
        """Refurbished units go back on the shelf when the work is done."""
        model = self.model
        env = model.env
        if due_h > env.now:
            yield env.timeout(due_h - env.now)
        case = model.returns.complete_refurbish(case_id)
        model.physical.release(case.sku, case.location, case.qty, sellable=True)

    def inspect_batches(self) -> Generator[simpy.Event, Any, None]:
        """The daily inspection batch at the timetable's hour, until none are left."""
        model = self.model
        env = model.env
        yield env.timeout(model.timetable.returns_inspection_h)
        while True:
            batch, self.waiting = self.waiting, []
            for cid in batch:
                env.process(self.inspection(cid))
            if env.now >= model.horizon_h and not batch:
                return
            yield env.timeout(24.0)

    # -- in-store returns ----------------------------------------------------------------
    def store_returns(self) -> Generator[simpy.Event, Any, None]:
        """In-store returns of walk-in sales come back days later, at closing time."""
        model = self.model
        env = model.env
        rng = model.streams.returns
        pending: dict[int, np.ndarray] = {}
        rate = model.scenario.demand.store_return_rate
        day = 0
        while True:
            yield env.timeout(24.0 if day else model.scenario.network.stores.closing_hour)
            day += 1
            sales = model.stores.take_sales_today()
            if env.now < model.horizon_h and rate > 0:
                back = rng.binomial(sales, model.calendar.return_rate(rate, env.now / 24.0))
                delay = max(1, round(float(sample(model.scenario.demand.return_delay_days, rng))))
                pending[day + delay] = pending.get(day + delay, 0) + back
            if env.now >= model.horizon_h:
                return  # walk-in returns after the horizon are out of the run
            arriving = pending.pop(day, None)
            if arriving is None:
                continue
            model.physical.quarantine_store_returns(arriving)
            model.metrics.counts.returned_units += int(arriving.sum())
            ks, ss = np.nonzero(arriving)  # ordered by sku, then store
            if len(ks):
                self.desk.store_day(self, ks, ss, arriving[ks, ss])

    def receive_by_store(
        self, ks: np.ndarray, ss: np.ndarray, qs: np.ndarray
    ) -> Iterator[tuple[list[int], list[ReturnCase]]]:
        """Each store's returns desk sends its returns of the day as one batch: yields the
        cells (indexes into ks, ss, qs) and the cases opened, store by store."""
        by_store = np.argsort(ss, kind="stable")
        cut = np.flatnonzero(np.diff(ss[by_store])) + 1
        for idx in np.split(by_store, cut):
            cells = idx.tolist()
            cases = self.model.returns.receive_lines(
                int(ss[cells[0]]), ks[idx].tolist(), qs[idx].tolist(), channel="store"
            )
            yield cells, cases
