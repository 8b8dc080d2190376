"""Online channels: orders arrive, are promised and reserved, imported when a channel
sells against its own feed, and closed line by line (`OrderBook`).

How a channel reserves is a strategy picked when the twin is built: through the one
central reservation service in real time (falling back to the last known availability
during a middleware outage), or, as the legacy web shop and marketplaces do, against the
channel's own availability feed, refreshed from the core every `feed_refresh_min`, with
the orders reaching the core later; what the core cannot reserve or serve then is an
oversell. Either way every availability figure a channel sells against is timed
(`channel_sync_lag_p95_s`): order time − the time of the figure.

Customers' cancellations are drawn up front (`twin.demand`) and happen whatever the
policy: the order's demand is withdrawn when it is placed, its reservations released
when the customer cancels, and a line that had already gone out comes back refused.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
import simpy

from orchestrator import OrderLine
from orchestrator.clock import HOUR
from scenarios.schema import ChannelSpec

if TYPE_CHECKING:
    from orchestrator import Orchestrator

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
    cancel_h: float  # when the customer cancels (inf: never)
    return_flags: list[bool]
    return_delay_h: list[float]
    open_lines: int = 0  # lines not closed yet (set when the order is placed)
    promised: list[int] | None = None  # lines a channel's own feed promised (None: all)
    shipped_h: float = math.nan  # the last shipment of the order so far (nan: none)
    oversold: bool = False
    pickup_store: int = -1  # click and collect: the store the customer collects from
    picking: set[int] = field(default_factory=set)  # lines a picker has started on

    @property
    def cancels(self) -> bool:
        """Whether the customer cancels this order (drawn with the order)."""
        return self.cancel_h < math.inf


# ----------------------------------------------------------------------- availability
def promisable_grid(core: Orchestrator, n_sku: int, n_loc: int, channel: int) -> np.ndarray:
    """What `channel` may promise now at every (sku, location) [sku, location]: the core's
    `available(sku, loc, channel)` for the whole network at once (the allocation policy's
    `promisable_grid` when it has one, position by position otherwise)."""
    core.reservations.sweep(core.clock.now())
    d = core.ledger.dense(n_sku, n_loc)
    ats = d.on_hand - d.reserved - d.safety
    locations = core.catalog.locations[:n_loc]
    grid_of = getattr(core.allocation, "promisable_grid", None)
    grid = grid_of(ats, locations, core.catalog.channels[channel]) if grid_of else None
    if grid is None:
        grid = np.zeros_like(ats)
        for k, loc in zip(*np.nonzero(ats > 0), strict=True):
            grid[k, loc] = core.available(int(k), int(loc), channel)
        return grid
    return np.maximum(np.minimum(grid, ats), 0)


# ----------------------------------------------------------------------- strategies
class Reservation(Protocol):
    """How a channel turns a customer's order into a promise and a reservation."""

    def start(self, channel: ChannelAgent) -> None: ...
    def place(self, channel: ChannelAgent, order: Order) -> Generator[simpy.Event, Any, None]: ...


class CentralReservation:
    """One reservation service for every channel, through the API in real time; while the
    middleware is down the channel sells against the last availability it knew less
    `buffer` per sku and site, and imports those orders when the middleware is back."""

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
            if channel.promise_from_feed(order, fallback=True):
                env.process(channel.import_at(down))
            return
        lat = float(model.streams.people.exponential(API_LATENCY_S_MEAN))
        yield env.timeout(lat / HOUR)
        channel.reserve_and_fulfil(order, imported=False)


class OwnFeed:
    """Legacy channels: the channel promises against its own availability feed, refreshed
    from the core every `feed_refresh_min` (from the start), and its orders reach the core
    every `import_every_h` (0: each at once, when the middleware is up); what the core
    cannot reserve then is an oversell."""

    def __init__(self, import_every_h: float) -> None:
        self.import_every_h = import_every_h

    def start(self, channel: ChannelAgent) -> None:
        env = channel.model.env
        env.process(channel.refresh_feed())
        if self.import_every_h > 0:
            env.process(channel.import_orders(self.import_every_h))

    def place(self, channel: ChannelAgent, order: Order) -> Generator[simpy.Event, Any, None]:
        """The feed promises the order at once; no time passes."""
        if channel.promise_from_feed(order) and self.import_every_h <= 0:
            model = channel.model
            down = model.middleware.down(model.env.now)
            if down is None:
                channel.import_queue()
            else:
                model.env.process(channel.import_at(down))
        yield from ()


# ----------------------------------------------------------------------- the channel
class ChannelAgent(mesa.Agent):
    """An online channel (web shop or marketplace): customers place orders here, which it
    promises and reserves by its strategy.

    Its own availability feed (an own-feed channel's, or a central one's fallback during
    an outage) holds, per sku, the units it may promise for delivery (summed over the
    locations that ship online orders) and, when customers collect in store, per store;
    with the time of the feed and the age the core's figure of each location had then.
    """

    model: RetailTwin

    def __init__(
        self,
        model: RetailTwin,
        spec: ChannelSpec,
        channel_id: int,
        reservation: Reservation,
        ship_locations: list[int],
    ) -> None:
        super().__init__(model)
        net = model.network
        self.spec = spec
        self.channel_id = channel_id
        self.reservation = reservation
        self.ship_locations = np.asarray(ship_locations, dtype=np.intp)  # ship online orders
        self.pickup = bool(spec.bopis_share > 0 and net.n_store)  # customers collect in store
        self.feed = np.zeros(net.n_sku, dtype=np.int64)  # units promisable for delivery
        self.feed_age_h = np.zeros(net.n_sku)  # the oldest figure behind each sku's units
        self.store_feed = np.zeros((net.n_sku, net.n_store if self.pickup else 0), np.int64)
        self.store_age_h = np.zeros(net.n_store if self.pickup else 0)
        self.feed_at = -math.inf  # never taken yet
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
        """A customer places an order at `at`: counted, then promised and reserved. An order
        the customer will cancel is not demand (whatever the policy makes of it)."""
        model = self.model
        env = model.env
        if at > env.now:
            yield env.timeout(at - env.now)
        metrics = model.metrics
        counts = metrics.counts
        units = sum(q for _, q in order.lines)
        kept = 0 if order.cancels else units
        counts.orders += 1
        if model.orders.kept is not None:
            model.orders.kept.append(order)
        counts.online_ordered += units
        counts.online_demand += kept
        counts.online_cancelled_units += units - kept
        metrics.demanded(kept, order.placed_h)
        metrics.accumulate()
        metrics.orders_open += 1
        order.open_lines = len(order.lines)
        if order.cancels:
            env.process(model.orders.cancel_at(order))
        yield from self.reservation.place(self, order)

    # -- the channel's own availability --------------------------------------------------
    def promise_from_feed(self, order: Order, fallback: bool = False) -> bool:
        """Promise the order's lines against the channel's own availability figures, to be
        imported later; a line the feed cannot cover is turned away (as the core turns
        away a line it cannot reserve). Each figure used is timed. False: none promised.
        `fallback`: a central channel's outage feed, whose refused units are the cost of
        selling on the last known figures less the buffer (`extras.fallback_refused_units`)."""
        model = self.model
        now = model.env.now
        lag = model.metrics.counts.sync_lag_s
        store = order.pickup_store
        if store >= 0 and self.pickup:
            have, age = self.store_feed[:, store], self.store_age_h[store]
            for _s, _q in order.lines:
                lag.append((now - self.feed_at + age) * HOUR)
        else:
            have, ages = self.feed, self.feed_age_h
            for s, _q in order.lines:
                lag.append((now - self.feed_at + ages[s]) * HOUR)
        promised, refused = [], []
        for i, (s, q) in enumerate(order.lines):
            if have[s] >= q:
                have[s] -= q
                promised.append(i)
            else:
                refused.append(i)
        if refused:
            if fallback:
                model.metrics.counts.fallback_refused_units += sum(
                    order.lines[i][1] for i in refused
                )
            model.orders.drop(order, refused, oversell=False)
        if not promised:
            return False
        order.promised = promised
        self.queue.append(order)  # promised to the customer; imported later
        return True

    def snapshot_feed(self, buffer: int = 0, force: bool = False) -> None:
        """The availability the channel keeps: what it may promise at each location that
        ships online orders, summed per sku, and at each store for click and collect; and
        how old the core's figure of each location was."""
        model = self.model
        now = model.env.now
        if self.feed_at == now and not force:
            return
        net = model.network
        grid = promisable_grid(model.core, net.n_sku, net.n_loc, self.channel_id)
        if buffer:
            grid = np.maximum(grid - buffer, 0)
        age = model.stores.figure_age_h()
        ship = grid[:, self.ship_locations]
        self.feed = ship.sum(axis=1)
        ages = np.where(ship > 0, age[self.ship_locations][None, :], 0.0)
        self.feed_age_h = ages.max(axis=1) if ages.size else np.zeros(net.n_sku)
        if self.pickup:
            self.store_feed = grid[:, : net.n_store].copy()
            self.store_age_h = age[: net.n_store]
        self.feed_at = now

    def refresh_feed(self) -> Generator[simpy.Event, Any, None]:
        """The feed refreshes on its own cadence from the start, while the middleware is up."""
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
        """The promised orders reach the core; one the customer has cancelled meanwhile is
        closed without a reservation."""
        queue, self.queue = self.queue, []
        now = self.model.env.now
        for order in queue:
            if order.cancel_h <= now:
                self.model.orders.withdrawn(order)
            else:
                self.reserve_and_fulfil(order, imported=True)

    # -- the core ------------------------------------------------------------------------
    def reserve_and_fulfil(self, order: Order, imported: bool) -> None:
        """Reserve the order's lines in the core; reserved lines go to picking. A line the
        core refuses after the customer was promised it (`imported`) is an oversell.
        Reserving in real time (not `imported`), the channel sells against the core's own
        figure of each location: its age is timed, line by line."""
        model = self.model
        env, core = model.env, model.core
        counts = model.metrics.counts
        at = None if order.pickup_store < 0 else order.pickup_store
        nos = order.promised if order.promised is not None else range(len(order.lines))
        lines = [OrderLine(*order.lines[i], location=at) for i in nos]
        res = core.reserve(
            order.id,
            self.channel_id,
            lines,
            destination=order.zone,
            idempotency_key=order.id,
            placed_at=order.placed_h * HOUR,
        )
        counts.reservation_latency_s.append((env.now - order.placed_h) * HOUR)
        if not imported:
            stores = model.stores
            for ln in res.lines:
                if ln.location is not None:
                    counts.sync_lag_s.append(stores.lag_s(ln.location))
                else:  # no location could promise it: every shipping location was read
                    counts.sync_lag_s.append(self.ship_figures_age_s())
        rejected = [nos[ln.line_no] for ln in res.lines if ln.status == "rejected"]
        if rejected:
            model.orders.drop(order, rejected, oversell=imported)
        for ln in res.lines:
            if ln.reservation_id is not None:
                env.process(model.picking.pick_line(order, ln.reservation_id, nos[ln.line_no]))

    def ship_figures_age_s(self) -> float:
        """The age of the oldest of the core's figures at the locations that ship online."""
        stores = self.model.stores
        return max((stores.lag_s(int(loc)) for loc in self.ship_locations), default=0.0)


# ----------------------------------------------------------------------- closing orders
class OrderBook:
    """What becomes of online orders' lines: dropped (lost, maybe oversold), cancelled by
    the customer, shipped (or refused by a customer who cancelled); an order is done when
    its last line closes.

    An order the customer cancels is no demand (counted out when placed), so none of its
    units is lost or served, under any policy."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        self.kept: list[Order] | None = None  # every order placed, when a run exports them

    def _lost(self, order: Order, skus: list[int], units: list[int]) -> None:
        if order.cancels:
            return
        metrics = self.model.metrics
        lost = sum(units)
        metrics.counts.online_lost += lost
        metrics.lost(skus, units)
        metrics.day_lost += lost

    def drop(self, order: Order, line_nos: list[int], oversell: bool) -> None:
        """Lines the customer will not get; `oversell` if they had been promised."""
        self._lost(
            order, [order.lines[i][0] for i in line_nos], [order.lines[i][1] for i in line_nos]
        )
        if oversell:
            self.oversold(order, "refused_at_import")
        order.open_lines -= len(line_nos)
        if order.open_lines <= 0:
            self.done(order)

    def withdrawn(self, order: Order) -> None:
        """The customer cancelled before the order reached the core: its lines close."""
        order.open_lines = 0
        self.done(order)

    def lose(self, order: Order, sku: int, qty: int) -> None:
        """Units of a promised line that cannot be served after all: lost and oversold (a
        click-and-collect line picked short, or a short pick no other location can serve)."""
        self._lost(order, [sku], [qty])
        self.oversold(order, "picked_short_pickup" if order.pickup_store >= 0 else "picked_short")

    def oversold(self, order: Order, cause: str) -> None:
        """The order counts once as an oversell, however many of its lines fail, unless the
        customer had already cancelled it; by the cause of its first failing line
        (`OVERSELL_CAUSES`)."""
        if not order.oversold and self.model.env.now < order.cancel_h:
            order.oversold = True
            counts = self.model.metrics.counts
            counts.oversells += 1
            counts.oversells_by_cause[cause] += 1

    def cancel_at(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """The customer cancels at the time drawn with the order: every reservation of it
        that no picker has started on is released (the line closes when its picker comes)."""
        model = self.model
        env, core = model.env, model.core
        if order.cancel_h > env.now:
            yield env.timeout(order.cancel_h - env.now)
        nos = order.promised if order.promised is not None else range(len(order.lines))
        for r in core.reservations.of_order(order.id):
            if r.state.active and nos[r.line_no] not in order.picking:
                core.release(r.id)

    def cancel_line(self, order: Order, rid: int) -> None:
        """A picker reached a line the customer has cancelled: its reservation is released
        (if the cancellation has not done so yet) and the line closes."""
        core = self.model.core
        r = core.reservations.get(rid)
        if r.state.active:
            core.release(rid)
        self.line_closed(order)

    def shipped(self, order: Order, sku: int, qty: int, line_no: int, transit_h: float) -> None:
        """Units of a line handed to the carrier: served, and back later if the customer
        returns them; if the customer cancels the order, the parcel is refused and comes
        back (not served)."""
        model = self.model
        env, metrics = model.env, model.metrics
        counts = metrics.counts
        order.shipped_h = env.now
        if order.cancels:
            counts.refused_units += qty
            back_at = env.now + 2 * transit_h  # to the customer, refused, and back
        else:
            counts.online_shipped += qty
            metrics.served(qty, order.placed_h)
            if not order.return_flags[line_no]:
                return
            back_at = env.now + transit_h + order.return_delay_h[line_no]
        env.process(model.returns_centre.online_return(sku, qty, order, back_at))

    def line_closed(self, order: Order) -> None:
        """One reserved line is finished (shipped, lost or cancelled); the last one closes the
        order, and an order that shipped anything counts towards the fulfilment cycle time."""
        order.open_lines -= 1
        if order.open_lines <= 0:
            if not math.isnan(order.shipped_h):
                hours = order.shipped_h - order.placed_h
                self.model.metrics.fulfilled(hours, bopis=order.pickup_store >= 0)
            self.done(order)

    def done(self, order: Order) -> None:
        model = self.model
        metrics = model.metrics
        metrics.accumulate()
        metrics.orders_open -= 1
        metrics.counts.orders_done += 1
        metrics.counts.order_time_h.append(model.env.now - order.placed_h)
