"""Fulfilment sites (DCs, dark stores, 3PL sites) and the picking of online orders.

A site picks store orders overnight and ships them at the dispatch hour, and reviews
its own stock nightly against (s, S), buying from suppliers. Online order lines are
picked wherever their reservation sits: at a site in the timetable's waves (a wave
picks what arrived before it), then packed and handed to the carrier at its daily
cut-off; at a store by its pickers in opening hours, on the store's pick runs, then
staged for pick-up or for the carrier. A line the shelf comes up short on is re-sourced.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import MovementKind, OrderLine
from orchestrator.clock import HOUR
from orchestrator.replenishment import policy_from_levels
from scenarios.schema import Dist, FulfilmentCentre

from ..clock import daily, next_at
from ..group import Group
from ..rand import sample

if TYPE_CHECKING:
    from ..model import RetailTwin
    from .channel import Order


class PickingLocation(Protocol):
    """Where online order lines are picked (a site or a store): its pickers, as a SimPy
    resource, how long a pick takes, when picking happens, and what follows a pick."""

    pickers: simpy.Resource
    pick_time_min: Dist

    def release_at(self, t: float) -> float:
        """When a line that arrives at `t` is released to the pickers (a wave, a pick run)."""
        ...

    def working_from(self, t: float) -> float:
        """The first moment at or after `t` its pickers work."""
        ...

    def hand_over(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """A picked line packed or staged, then handed to the carrier or ready for pick-up
        when this returns."""
        ...


class FulfilmentSiteAgent(mesa.Agent):
    """A DC, dark store or 3PL site: pick stations and pack stations (SimPy resources), its
    pick waves, and its (s, S) levels."""

    model: RetailTwin

    def __init__(self, model: RetailTwin, loc: int, spec: FulfilmentCentre) -> None:
        super().__init__(model)
        self.loc = loc
        self.spec = spec
        self.pickers = simpy.Resource(model.env, capacity=spec.pickers)
        self.pick_time_min = spec.pick_time_min
        self.packers = simpy.Resource(model.env, capacity=spec.packers)
        self.waves = sorted(model.timetable.dc_waves_h)
        n_sku = model.network.n_sku
        self.reorder_point = np.zeros(n_sku, dtype=np.int64)
        self.order_up_to = np.zeros(n_sku, dtype=np.int64)

    def release_at(self, t: float) -> float:
        """The next wave: it picks every line that arrived before it."""
        return next_at(t, self.waves)

    def working_from(self, t: float) -> float:
        """A wave once released is picked to the end."""
        return t

    def hand_over(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """Packed at a pack station, then the carrier's next collection."""
        model = self.model
        with self.packers.request() as req:
            yield req
            minutes = float(sample(self.spec.pack_time_min, model.streams.fulfilment))
            yield model.env.timeout(minutes / 60.0)
        yield from model.carrier.collect()

    def ship_store_order(
        self, store: int, lines: list[tuple[int, int]], requested_h: float
    ) -> None:
        """Pick a store's order and put it on a truck: what the system promises is shipped,
        what the shelf lacks is a pick shortage (the position is counted)."""
        model = self.model
        core, physical, dc = model.core, model.physical, self.loc
        # a store order names each sku once, so its lines are independent: what the
        # system promises and what is on the shelf are read for all lines at once
        ks = np.fromiter((k for k, _q in lines), np.intp, len(lines))
        if len(set(ks.tolist())) != len(ks):
            raise ValueError(f"store order for location {store}: a sku appears twice")
        want = np.fromiter((q for _k, q in lines), np.int64, len(lines))
        q_sys_all = np.minimum(want, core.ledger.ats_at(ks.tolist(), dc))
        q_phys_all = np.minimum(q_sys_all, physical.shelf[ks, dc])
        shipped = []
        for j in np.flatnonzero(q_sys_all > 0).tolist():
            k, q_sys, q_phys = int(ks[j]), int(q_sys_all[j]), int(q_phys_all[j])
            if q_phys < q_sys:
                model.metrics.counts.pick_shortages += 1
                model.inventory_control.count(k, dc, reason="pick shortage (store order)")
                q_sys = min(q_sys, core.ledger.position(k, dc).ats)
                q_phys = min(q_phys, q_sys)
                if q_sys <= 0:
                    continue
            shipped.append((k, q_sys, q_phys))
        if not shipped:
            return
        sk = np.fromiter((k for k, _q, _p in shipped), np.intp, len(shipped))
        picked = np.fromiter((p for _k, _q, p in shipped), np.int64, len(shipped))
        booked = np.fromiter((q for _k, q, _p in shipped), np.int64, len(shipped))
        physical.dispatch(sk, dc, picked, booked)
        # one dispatch, one transfer event of many lines
        core.move_lines(
            MovementKind.TRANSFER_OUT,
            dc,
            [k for k, _q, _p in shipped],
            [q for _k, q, _p in shipped],
            counterparty=store,
            actor="transfer",
            reason="store replenishment",
        )
        model.env.process(model.carrier.deliver_store_order(store, dc, shipped, requested_h))

    def review(self) -> None:
        """The site's nightly review of every sku under `replenishment.dc_policy` (read
        from its (s, S) as the core reads it); purchase orders go to suppliers."""
        model = self.model
        name = model.policy.replenishment.dc_policy
        for k in range(model.network.n_sku):
            if self.order_up_to[k] <= 0:
                continue
            policy = policy_from_levels(name, int(self.reorder_point[k]), int(self.order_up_to[k]))
            po = model.procurement.review(
                k, self.loc, policy, supplier=model.network.supplier_of(k)
            )
            if po is not None:
                model.suppliers.ship(po)


class FulfilmentSites(Group[FulfilmentSiteAgent]):
    """Every fulfilment site, in location order after the stores: the overnight dispatch
    of store orders and the nightly site review run across all of them."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        n_store = model.network.n_store
        super().__init__(
            [
                FulfilmentSiteAgent(model, n_store + j, spec)
                for j, spec in enumerate(model.network.sites)
            ]
        )

    def at(self, loc: int) -> FulfilmentSiteAgent:
        return self.agents[loc - self.model.network.n_store]

    def start(self) -> None:
        model = self.model
        if self.agents and model.scenario.network.suppliers:
            at_h = model.timetable.site_review_h
            model.env.process(daily(model.env, at_h, model.horizon_h, self.review))

    def review(self) -> None:
        """Every site's nightly review against its (s, S), in location order."""
        for site in self.agents:
            site.review()

    def dispatch(
        self, orders: dict[int, list[tuple[int, int]]], requested_h: float
    ) -> Generator[simpy.Event, Any, None]:
        """The store orders of a review, picked overnight, ship at the dispatch hour from
        each store's regional DC, store by store."""
        model = self.model
        net, timetable = model.network, model.timetable
        yield model.env.timeout((timetable.dc_dispatch_h - timetable.store_review_h) % 24.0)
        for s, lines in sorted(orders.items()):
            dc = net.region_dc.get(net.store_region[s])
            if dc is None or not lines:
                continue
            self.at(dc).ship_store_order(s, lines, requested_h)


class OrderPicking:
    """Online order lines picked where their reservation sits (a site's or a store's
    pickers), shipped to the customer, and re-sourced after a short pick."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model

    def pick_line(self, order: Order, rid: int, line_no: int) -> Generator[simpy.Event, Any, None]:
        """Wait for the location's next wave or pick run, then for a picker in its working
        hours; pick (unless the customer cancelled meanwhile); pack or stage, and hand over
        to the carrier or make ready for pick-up. A short pick is counted and the rest
        re-sourced at once."""
        model = self.model
        env, core, net = model.env, model.core, model.network
        metrics = model.metrics
        counts = metrics.counts
        r = core.reservations.get(rid)
        loc = r.location
        where: PickingLocation = model.stores[loc] if loc < net.n_store else model.sites.at(loc)
        release = where.release_at(env.now)
        if release > env.now:
            yield env.timeout(release - env.now)
        asked = env.now
        with where.pickers.request() as req:
            yield req
            counts.pick_wait_h.append(env.now - asked)
            start = where.working_from(env.now)
            if start > env.now:  # the picker's day is over: the line waits for the next
                yield env.timeout(start - env.now)
            if order.cancel_h <= env.now:
                model.orders.cancel_line(order, rid)
                return
            order.picking.add(line_no)
            minutes = float(sample(where.pick_time_min, model.streams.fulfilment))
            yield env.timeout(minutes / 60.0)
            if loc < net.n_store:  # a store associate's time (the money block's labour)
                counts.store_picking_h += minutes / 60.0
        if model.scenario.faults.wms_confirmation_delay_h:
            yield env.timeout(model.scenario.faults.wms_confirmation_delay_h)
        r = core.reservations.get(rid)
        if not r.state.active:
            return
        found = model.physical.pick(r.sku, loc, r.qty)
        short = r.qty - found
        core.ship(rid, found)
        resourced = False
        if short:
            counts.pick_shortages += 1
            model.inventory_control.count(r.sku, loc, reason="pick shortage")
            resourced = self.resource(order, r.sku, short, line_no)
            core.exceptions.resolve_subject(
                "pick_shortage", f"reservation:{rid}", "re-sourced" if resourced else "cancelled"
            )
        if found:
            if resourced:
                order.open_lines += 1  # what was found travels apart from the re-sourced rest
            yield from where.hand_over(order)
            transit = model.carrier.to_customer_h(from_store=loc < net.n_store)
            model.orders.shipped(order, r.sku, found, line_no, transit)
            model.orders.line_closed(order)
        elif not resourced:
            model.orders.line_closed(order)

    def resource(self, order: Order, sku: int, qty: int, line_no: int) -> bool:
        """After a short pick, try another location; late or impossible is an oversell.

        A click-and-collect line cannot move: the customer comes to that store, so what
        its shelf does not have is cancelled (an oversell)."""
        model = self.model
        env = model.env
        if order.pickup_store >= 0:
            model.orders.lose(order, sku, qty)
            return False
        oid = f"{order.id}:r{line_no}:{env.now:.4f}"
        res = model.core.reserve(
            oid,
            order.channel,
            [OrderLine(sku, qty)],
            destination=order.zone,
            placed_at=env.now * HOUR,
        )
        ln = res.lines[0]
        if ln.reservation_id is None:
            model.orders.lose(order, sku, qty)
            return False
        eta = env.now + model.carrier.mean_to_customer_h(
            from_store=ln.location < model.network.n_store
        )
        if eta > order.placed_h + order.spec.promise_h:
            model.orders.oversold(order, "resourced_late")
        env.process(self.pick_line(order, ln.reservation_id, line_no))
        return True
