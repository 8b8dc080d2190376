"""Returns: a customer hands a return over at a store's desk or to the carrier; it travels
to its region's returns centre (a parcel by `lanes.customer_return_h`; a store's returns
cage on the weekly pickup, `network.stores.returns_pickup_days`), waits in quarantine for
an inspector (inspectors work a shift, each unit takes `inspect_time_min`), and is
disposed of by the core's rules (restock, refurbish, return to vendor, liquidate,
scrap); only sellable units go back on a shelf, the returns centre's.

When inspection happens is a strategy picked when the twin is built: each return joins
its centre's inspection queue as it arrives and is disposed of as soon as it is
inspected (orchestrated), or returns wait for the centre's daily batch at the
timetable's hour and the batch's dispositions are posted in the ERP's overnight run once
the whole batch has been inspected (legacy).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import ReturnCase
from orchestrator.clock import HOUR

from ..clock import next_at, next_open
from ..rand import Categorical, sample

if TYPE_CHECKING:
    from ..model import RetailTwin
    from .channel import Order

CONDITIONS = ("new", "opened", "damaged", "defective")
# assumed: the resalable share of returns has no published figure
CONDITION = Categorical(np.array([0.62, 0.23, 0.10, 0.05]))
INSPECTOR = "returns-centre"


class ReturnsDesk(Protocol):
    """When returns are inspected and their dispositions posted."""

    def start(self, agent: ReturnsCentreAgent) -> None: ...
    def arrived(self, centre: ReturnsCentre, cases: list[ReturnCase]) -> None: ...


class InspectOnArrival:
    """Orchestrated: every return joins the inspection queue as it arrives and is disposed
    of by rule the moment it is inspected."""

    def start(self, agent: ReturnsCentreAgent) -> None:
        """Nothing waits for a batch."""

    def arrived(self, centre: ReturnsCentre, cases: list[ReturnCase]) -> None:
        env = centre.agent.model.env
        for case in cases:
            env.process(centre.inspect_and_dispose(case.id))


class DailyBatch:
    """Legacy: returns wait for their centre's daily batch; the batch's dispositions are
    posted in the ERP's overnight run after its last return has been inspected."""

    def start(self, agent: ReturnsCentreAgent) -> None:
        agent.model.env.process(agent.inspect_batches())

    def arrived(self, centre: ReturnsCentre, cases: list[ReturnCase]) -> None:
        centre.waiting.extend(c.id for c in cases)


class ReturnsCentre:
    """One returns centre: its inspectors (a SimPy resource) working their shift, and the
    returns waiting for the next batch."""

    def __init__(self, agent: ReturnsCentreAgent, loc: int) -> None:
        self.agent = agent
        self.loc = loc
        self.spec = agent.model.scenario.network.returns_centre
        self.inspectors = simpy.Resource(agent.model.env, capacity=self.spec.inspectors)
        self.waiting: list[int] = []  # cases for the next batch (legacy)

    def inspect(self, case_id: int) -> Generator[simpy.Event, Any, None]:
        """A return waits for an inspector on shift and is inspected unit by unit; its
        condition is recorded, its disposition not yet posted."""
        model = self.agent.model
        env, spec, rng = model.env, self.spec, model.streams.inspection
        # not `with`: each return still queued when the run ends would leave the queue by
        # a list search as the model is collected (quadratic in the backlog)
        req = self.inspectors.request()
        yield req
        start = next_open(env.now, spec.shift_start_h, spec.shift_end_h)
        if start > env.now:  # off shift: the inspector starts with the next shift
            yield env.timeout(start - env.now)
        units = model.returns.get(case_id).qty
        minutes = float(np.sum(sample(spec.inspect_time_min, rng, units)))
        yield env.timeout(minutes / 60.0)
        self.inspectors.release(req)
        condition = CONDITIONS[CONDITION.draw(rng)]
        model.returns.inspect(case_id, condition, inspector=INSPECTOR, dispose=False)

    def inspect_and_dispose(self, case_id: int) -> Generator[simpy.Event, Any, None]:
        """Inspected, then disposed of by rule at once."""
        yield from self.inspect(case_id)
        self.agent.dispose(case_id)

    def batch(self, case_ids: list[int]) -> Generator[simpy.Event, Any, None]:
        """A daily batch: every return inspected, then the batch's dispositions posted in
        the ERP's next overnight run (`timetable.erp_posting_h`)."""
        model = self.agent.model
        env = model.env
        yield env.all_of([env.process(self.inspect(cid)) for cid in case_ids])
        posted = next_at(env.now, [model.timetable.erp_posting_h])
        yield env.timeout(posted - env.now)
        for cid in case_ids:
            self.agent.dispose(cid)


class ReturnsCentreAgent(mesa.Agent):
    """The returns centres (one per region, at the DC restocking its stores) and the stores'
    returns desks: returns handed over travel to a centre, are received into quarantine,
    inspected and disposed of, and the dispositions put into effect."""

    model: RetailTwin

    def __init__(self, model: RetailTwin, desk: ReturnsDesk) -> None:
        super().__init__(model)
        self.desk = desk
        self.centres: dict[int, ReturnsCentre] = {}  # by location, as returns first come
        net = model.network
        fallback = net.n_store if net.sites else None
        self.store_centre = [
            net.region_dc.get(r, i if fallback is None else fallback)
            for i, r in enumerate(net.store_region)
        ]
        # the stores' returns cages: (when handed over at the desks, units [sku, store])
        self.cage: list[tuple[float, np.ndarray]] = []

    def start(self) -> None:
        if self.model.network.n_store:
            self.model.env.process(self.store_returns())
            self.model.env.process(self.pickups())
        self.desk.start(self)

    def centre(self, loc: int) -> ReturnsCentre:
        if loc not in self.centres:
            self.centres[loc] = ReturnsCentre(self, loc)
        return self.centres[loc]

    def received(
        self, loc: int, skus: list[int], qtys: list[int], channel: int | str, handed_h: float
    ) -> None:
        """Returns handed over at `handed_h` reach the centre at `loc`: into quarantine, one
        case per line, and on to inspection."""
        model = self.model
        for k, q in zip(skus, qtys, strict=True):
            model.physical.quarantine_return(k, loc, q)
        model.metrics.counts.returned_units += sum(qtys)
        handed_s = handed_h * HOUR
        if len(skus) == 1:
            cases = [
                model.returns.receive(
                    skus[0], loc, qtys[0], channel=channel, handed_over_at=handed_s
                )
            ]
        else:
            cases = model.returns.receive_lines(
                loc, skus, qtys, channel=channel, handed_over_at=handed_s
            )
        self.desk.arrived(self.centre(loc), cases)

    # -- online returns ------------------------------------------------------------------
    def online_return(
        self, sku: int, qty: int, order: Order, at: float
    ) -> Generator[simpy.Event, Any, None]:
        """An online customer drops a return off with the carrier at `at`; the parcel
        reaches their region's returns centre after the return lane's transit."""
        model = self.model
        env = model.env
        if at > env.now:
            yield env.timeout(at - env.now)
        handed = env.now
        yield env.timeout(model.carrier.customer_return_h())
        loc = model.network.returns_location(order.zone)
        self.received(loc, [sku], [qty], order.channel, handed)

    # -- decisions -----------------------------------------------------------------------
    def dispose(self, case_id: int) -> None:
        """Post an inspected return's disposition by rule and put it into effect
        (refurbishment takes time)."""
        model = self.model
        case = model.returns.dispose(case_id)
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
        """Each centre's daily batch at the timetable's hour: the returns that arrived
        before it (through the drain, so every return is settled)."""
        model = self.model
        env = model.env
        yield env.timeout(model.timetable.returns_inspection_h)
        while True:
            for centre in self.centres.values():
                batch, centre.waiting = centre.waiting, []
                if batch:
                    env.process(centre.batch(batch))
            yield env.timeout(24.0)

    # -- in-store returns ----------------------------------------------------------------
    def store_returns(self) -> Generator[simpy.Event, Any, None]:
        """Walk-in customers bring returns of their purchases back days later, at closing
        time, into the store's returns cage."""
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
                for delay, units in self.spread(back, rng):
                    pending[day + delay] = pending.get(day + delay, 0) + units
            if env.now >= model.horizon_h:
                return  # walk-in returns after the horizon are out of the run
            arriving = pending.pop(day, None)
            if arriving is not None and arriving.any():
                self.cage.append((env.now, arriving))

    def spread(self, back: np.ndarray, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
        """A day's walk-in returns [sku, store], each unit with its own delay in whole days
        (at least one): (delay, units [sku, store]) for each delay drawn."""
        n = int(back.sum())
        if not n:
            return []
        flat = np.flatnonzero(back)
        cells = np.repeat(flat, back.ravel()[flat])
        drawn = sample(self.model.scenario.demand.return_delay_days, rng, n)
        delays = np.maximum(1, np.rint(drawn)).astype(np.int64)
        return [
            (int(d), np.bincount(cells[delays == d], minlength=back.size).reshape(back.shape))
            for d in np.unique(delays)
        ]

    def pickups(self) -> Generator[simpy.Event, Any, None]:
        """On the pickup days the carrier takes every store's returns cage to its region's
        returns centre (until the cages are empty after the horizon)."""
        model = self.model
        env = model.env
        days = frozenset(model.scenario.network.stores.returns_pickup_days)
        yield env.timeout(model.timetable.store_returns_pickup_h)
        while True:
            if int(env.now // 24.0) % 7 in days and self.cage:
                cage, self.cage = self.cage, []
                for store in range(model.network.n_store):
                    lots = [(h, units[:, store]) for h, units in cage if units[:, store].any()]
                    if lots:
                        env.process(self.backhaul(store, lots))
            if env.now >= model.horizon_h and not self.cage:
                return
            yield env.timeout(24.0)

    def backhaul(
        self, store: int, lots: list[tuple[float, np.ndarray]]
    ) -> Generator[simpy.Event, Any, None]:
        """One store's returns on the road to its returns centre; each day's returns
        received as one batch, with the hour they were handed over."""
        loc = self.store_centre[store]
        if loc != store:
            yield self.model.env.timeout(self.model.carrier.dc_to_store_h())
        for handed, units in lots:
            ks = np.flatnonzero(units)
            self.received(loc, ks.tolist(), units[ks].tolist(), "store", handed)
