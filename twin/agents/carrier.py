"""The carrier: transit times on the lanes, the daily parcel collection (the cut-off),
DC deliveries to stores and the trucks of workflow transfers between locations."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import simpy

from ..clock import next_at
from ..rand import sample

if TYPE_CHECKING:
    from ..model import RetailTwin
    from .store import DeliveryLine


class CarrierAgent(mesa.Agent):
    """Moves goods: samples transit times on lanes (DC → store, to customers) and drives
    store deliveries and transfers; the receiving location puts the goods away."""

    model: RetailTwin

    def __init__(self, model: RetailTwin) -> None:
        super().__init__(model)
        self.lanes = model.scenario.network.lanes
        self.stream = model.streams.lanes
        cutoff = model.timetable.carrier_cutoff_h
        self.collections = [] if cutoff is None else [cutoff]  # parcel collections, hours
        self.collection_days = frozenset(model.timetable.carrier_days)

    def collect(self) -> Generator[simpy.Event, Any, None]:
        """A packed parcel waits for the carrier's next collection (the cut-off, on the
        carrier's days: what is packed after it leaves with the next); it is handed over
        when this returns."""
        env = self.model.env
        at = next_at(env.now, self.collections, self.collection_days)
        if at > env.now:
            yield env.timeout(at - env.now)

    def dc_to_store_h(self, store: int | None = None) -> float:
        """A truck's transit to a store: the scenario's lane, scaled to the store's own mean
        where a data package gives one."""
        h = float(sample(self.lanes.dc_to_store_h, self.stream))
        own = self.model.network.store_lane_h
        mean = self.lanes.dc_to_store_h.mean
        if own is not None and store is not None and store < own.size and mean > 0:
            h *= float(own[store]) / mean
        return h

    def customer_return_h(self) -> float:
        """A customer's parcel return, from the drop-off to the returns centre."""
        return float(sample(self.lanes.customer_return_h, self.stream))

    def to_customer_h(self, *, from_store: bool) -> float:
        lane = self.lanes.store_to_customer_h if from_store else self.lanes.dc_to_customer_h
        return float(sample(lane, self.stream))

    def mean_to_customer_h(self, *, from_store: bool) -> float:
        """The planned transit to a customer, for promises."""
        lane = self.lanes.store_to_customer_h if from_store else self.lanes.dc_to_customer_h
        return lane.mean

    def deliver_store_order(
        self, store: int, dc: int, lines: list[DeliveryLine], requested_h: float
    ) -> Generator[simpy.Event, Any, None]:
        """A DC's truck on the road to a store; the store receives it."""
        model = self.model
        env = model.env
        yield env.timeout(self.dc_to_store_h(store))
        model.stores[store].receive_delivery(dc, lines)
        model.metrics.counts.store_delivery_h.append(env.now - requested_h)

    def move_transfer(self, tid: int) -> Generator[simpy.Event, Any, None]:
        """An approved workflow transfer: what the source's shelf has leaves, travels like
        a store delivery and is received at the destination."""
        model = self.model
        env, transfers, physical = model.env, model.transfers, model.physical
        t = transfers.get(tid)
        if not model.refused(lambda: transfers.ship(tid), f"transfer:{tid}"):
            return
        sent = physical.send(t.sku, t.source, t.qty)
        yield env.timeout(self.dc_to_store_h(t.destination))
        physical.arrive(t.sku, t.destination, sent)
        if t.destination < model.network.n_store and sent:
            model.stores.replenished(t.destination, np.array([t.sku], dtype=np.intp))
        transfers.receive(tid, qty=sent)
