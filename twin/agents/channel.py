"""Online channels: orders arrive, are promised and reserved, imported when a channel
sells against its own feed, and closed line by line (`OrderBook`).

How a channel reserves is a strategy picked when the twin is built: through the one
central reservation service (falling back to the last known availability during a
middleware outage), or, for legacy marketplaces, against the channel's own feed with
orders imported into the core later.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import OrderLine
from orchestrator.clock import HOUR
from scenarios.schema import ChannelSpec

if TYPE_CHECKING:
    from ..model import RetailTwin

API_LATENCY_S_MEAN = 0.08  # assumed: a governed reservation API call


@dataclass(slots=True)
class Order:
    """An online customer's order, drawn up front: lines, zone, when it is placed, whether
    and when the customer cancels, which lines come back and when."""

    id: str
    channel: int
    spec: ChannelSpec
    lines: list[tuple[int, int]]  # (sku, qty)
    zone: str
    placed_h: float
    cancel_h: float
    return_flags: list[bool]
    return_delay_h: list[float]
    open_lines: int = 0
    shipped_h: float = math.nan  # the last shipment of the order so far (nan: none)
    oversold: bool = False
    pickup_store: int = -1  # click and collect: the store the customer collects from


# ----------------------------------------------------------------------- strategies
class Reservation(Protocol):
    """How a channel turns a customer's order into a promise and a reservation."""

    def start(self, channel: ChannelAgent) -> None: ...
    def place(self, channel: ChannelAgent, order: Order) -> Generator[simpy.Event, Any, None]: ...


class CentralReservation:
    """One reservation service for every channel, through the API; while the middleware
    is down the channel sells against the last availability it knew less `buffer` per
    sku and site, and imports those orders when the middleware is back."""

    def __init__(self, buffer: int) -> None:
        self.buffer = buffer

    def start(self, channel: ChannelAgent) -> None:
        """Nothing runs on its own: orders are reserved as they come."""

    def place(self, channel: ChannelAgent, order: Order) -> Generator[simpy.Event, Any, None]:
        """An API call reserves the order (or, while the middleware is down, the fallback
        feed promises it)."""
        model = channel.model
        env = model.env
        down = model.middleware.down(env.now)
        if down is not None:
            # taken once per outage and decremented by every promise made during it
            if channel.fallback_for != down:
                channel.snapshot_feed(buffer=self.buffer, force=True)
                channel.fallback_for = down
            if channel.promise_from_feed(order):
                env.process(channel.import_at(down))
            return
        lat = float(model.streams.people.exponential(API_LATENCY_S_MEAN))
        yield env.timeout(lat / HOUR)
        channel.reserve_and_fulfil(order, imported=False)


class OwnFeed:
    """Legacy marketplaces: the channel promises against its own listing feed, refreshed
    every `feed_refresh_min`, and its orders are imported into the core every
    `import_every_h`; what the core cannot reserve then is an oversell."""

    def __init__(self, import_every_h: float) -> None:
        self.import_every_h = import_every_h

    def start(self, channel: ChannelAgent) -> None:
        env = channel.model.env
        env.process(channel.refresh_feed())
        env.process(channel.import_orders(self.import_every_h))

    def place(self, channel: ChannelAgent, order: Order) -> Generator[simpy.Event, Any, None]:
        """The feed promises the order at once; no time passes."""
        channel.promise_from_feed(order)
        yield from ()


# ----------------------------------------------------------------------- the channel
class ChannelAgent(mesa.Agent):
    """An online channel (web shop or marketplace): customers place orders here, which it
    promises and reserves by its strategy."""

    model: RetailTwin

    def __init__(
        self,
        model: RetailTwin,
        spec: ChannelSpec,
        channel_id: int,
        reservation: Reservation,
        feed_locations: list[int],
    ) -> None:
        super().__init__(model)
        self.spec = spec
        self.channel_id = channel_id
        self.reservation = reservation
        self.feed_locations = feed_locations  # the sites (and stores) the feed sums over
        self.feed = np.zeros(model.network.n_sku, dtype=np.int64)
        self.feed_at = 0.0
        self.queue: list[Order] = []  # promised locally, waiting to be imported into the core
        self.fallback_for = math.nan  # end of the middleware outage the feed was taken for

    def start(self) -> None:
        self.model.env.process(self.take_orders())
        self.reservation.start(self)

    def take_orders(self) -> Generator[simpy.Event, Any, None]:
        """Hour by hour until the horizon, the hour's customers place their orders."""
        model = self.model
        env = model.env
        n = 0
        while True:
            t = env.now
            if t >= model.horizon_h:
                return
            orders = model.online_demand.hour(self.spec, self.channel_id, n)
            n += len(orders)
            for off, order in orders:
                env.process(self.place(order, t + off))
            yield env.timeout(1.0)

    def place(self, order: Order, at: float) -> Generator[simpy.Event, Any, None]:
        """A customer places an order at `at`: counted, then promised and reserved."""
        model = self.model
        env = model.env
        if at > env.now:
            yield env.timeout(at - env.now)
        metrics = model.metrics
        counts = metrics.counts
        units = sum(q for _, q in order.lines)
        counts.orders += 1
        counts.online_demand += units
        counts.online_ordered += units
        metrics.demanded(units, order.placed_h)
        metrics.accumulate()
        metrics.orders_open += 1
        yield from self.reservation.place(self, order)

    def promise_from_feed(self, order: Order) -> bool:
        """Promise the order against the channel's own availability figure, to be imported
        later; an order the feed cannot cover is turned away."""
        model = self.model
        ok = all(self.feed[s] >= q for s, q in order.lines)
        model.metrics.counts.sync_lag_s.append((model.env.now - self.feed_at) * HOUR)
        if not ok:
            model.orders.drop(order, list(range(len(order.lines))), oversell=False)
            return False
        for s, q in order.lines:
            self.feed[s] -= q
        self.queue.append(order)  # promised to the customer; imported later
        return True

    def snapshot_feed(self, buffer: int = 0, force: bool = False) -> None:
        """The availability a channel keeps: sum of what it may promise at each site."""
        model = self.model
        if self.feed_at == model.env.now and not force:
            return
        core = model.core
        feed = np.zeros(model.network.n_sku, dtype=np.int64)
        for k in range(model.network.n_sku):
            tot = 0
            for loc in self.feed_locations:
                tot += max(core.available(k, loc, self.channel_id) - buffer, 0)
            feed[k] = tot
        self.feed = feed
        self.feed_at = model.env.now

    def refresh_feed(self) -> Generator[simpy.Event, Any, None]:
        """The listing feed refreshes on its own cadence while the middleware is up."""
        model = self.model
        env = model.env
        every = self.spec.feed_refresh_min / 60.0
        while env.now < model.horizon_h:
            if model.middleware.down(env.now) is None:
                self.snapshot_feed()
            yield env.timeout(every)

    def import_orders(self, every_h: float) -> Generator[simpy.Event, Any, None]:
        """Promised orders are imported into the core on a cadence (not during outages),
        until none are left after the horizon."""
        model = self.model
        env = model.env
        while True:
            yield env.timeout(every_h)
            if model.middleware.down(env.now) is None:
                self.import_queue()
            if env.now >= model.horizon_h and not self.queue:
                return

    def import_at(self, t: float) -> Generator[simpy.Event, Any, None]:
        """The orders promised during an outage are imported when it ends."""
        env = self.model.env
        if t > env.now:
            yield env.timeout(t - env.now)
        self.import_queue()

    def import_queue(self) -> None:
        queue, self.queue = self.queue, []
        for order in queue:
            self.reserve_and_fulfil(order, imported=True)

    def reserve_and_fulfil(self, order: Order, imported: bool) -> None:
        """Reserve the order's lines in the core; reserved lines go to picking. A line the
        core refuses after the customer was promised it (`imported`) is an oversell."""
        model = self.model
        env, core = model.env, model.core
        counts = model.metrics.counts
        at = None if order.pickup_store < 0 else order.pickup_store
        lines = [OrderLine(s, q, location=at) for s, q in order.lines]
        res = core.reserve(
            order.id,
            self.channel_id,
            lines,
            destination=order.zone,
            idempotency_key=order.id,
            placed_at=order.placed_h * HOUR,
        )
        counts.reservation_latency_s.append((env.now - order.placed_h) * HOUR)
        rejected = [ln.line_no for ln in res.lines if ln.status == "rejected"]
        if not imported:
            for ln in res.lines:
                if ln.location is not None:
                    counts.sync_lag_s.append(model.stores.lag_s(ln.location))
                    break
        if rejected:
            model.orders.drop(order, rejected, oversell=imported)
            if len(rejected) == len(order.lines):
                return
        order.open_lines = sum(1 for ln in res.lines if ln.reservation_id is not None)
        for ln in res.lines:
            if ln.reservation_id is not None:
                env.process(model.picking.pick_line(order, ln.reservation_id, ln.line_no))


# ----------------------------------------------------------------------- closing orders
class OrderBook:
    """What becomes of online orders' lines: dropped (lost, maybe oversold), cancelled or
    shipped; an order is done when its last line closes."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model

    def drop(self, order: Order, line_nos: list[int], oversell: bool) -> None:
        """Lines the customer will not get; `oversell` if they had been promised."""
        metrics = self.model.metrics
        units = sum(order.lines[i][1] for i in line_nos)
        metrics.counts.online_lost += units
        metrics.lost([order.lines[i][0] for i in line_nos], [order.lines[i][1] for i in line_nos])
        metrics.day_lost += units
        if oversell:
            self.oversold(order)
        if len(line_nos) == len(order.lines) and order.open_lines == 0:
            self.done(order)

    def lose(self, order: Order, sku: int, qty: int) -> None:
        """Units of a promised line that cannot be served after all: lost and oversold."""
        metrics = self.model.metrics
        metrics.counts.online_lost += qty
        metrics.lost([sku], [qty])
        metrics.day_lost += qty
        self.oversold(order)

    def oversold(self, order: Order) -> None:
        """The order counts once as an oversell, however many of its lines fail."""
        if not order.oversold:
            order.oversold = True
            self.model.metrics.counts.oversells += 1

    def cancel_line(self, order: Order, rid: int) -> None:
        """The customer cancelled before the line was picked: its reservation is released
        and its demand withdrawn."""
        model = self.model
        r = model.core.reservations.get(rid)
        if r.state.active:
            model.core.release(rid)
            counts = model.metrics.counts
            counts.online_cancelled_units += r.qty
            counts.online_demand -= r.qty  # demand withdrawn by the customer
            model.metrics.demanded(-r.qty, order.placed_h)
        self.line_closed(order)

    def line_closed(self, order: Order) -> None:
        """One reserved line is finished (shipped, lost or cancelled); the last one closes the
        order, and an order that shipped anything counts towards the fulfilment cycle time."""
        order.open_lines -= 1
        if order.open_lines <= 0:
            if not math.isnan(order.shipped_h):
                self.model.metrics.counts.fulfilment_h.append(order.shipped_h - order.placed_h)
            self.done(order)

    def done(self, order: Order) -> None:
        model = self.model
        metrics = model.metrics
        metrics.accumulate()
        metrics.orders_open -= 1
        metrics.counts.orders_done += 1
        metrics.counts.order_time_h.append(model.env.now - order.placed_h)
