"""Demand of a data package's network: walk-ins and online orders drawn from the fit (each
sku class on its own day-of-week and seasonal shape, each store on its own hours), or the
recorded sales replayed day by day (`demand.mode: replay`).

Fitted draws add the scenario's own day-of-week weights, seasonality and demand events on
top (1, none and none as `omnitwin data fit` writes them). A replay is the history as it
was: each recorded walk-in unit is served in an interval of its day drawn from the
store's intraday shape, each recorded online order is placed at a time of its day drawn
from `demand.online_hourly`, nobody cancels (the sales are what was kept), and returns
follow the channels' rates as in any run. Every draw comes from the demand streams, so
two policies on one seed see the same customers.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from scenarios.schema import ChannelSpec

from ..agents.channel import Order
from ..demand import OnlineDemand, WalkIns, open_fraction
from ..rand import Categorical, PoissonCells

if TYPE_CHECKING:
    from ..model import RetailTwin
    from .network import PackageDemand


def _package(model: RetailTwin) -> PackageDemand:
    demand = model.network.package
    assert demand is not None
    return demand


class PackageWalkIns(WalkIns):
    """Fitted walk-ins: Poisson counts per (sku, store) each interval, drawn sparsely per
    group of one sku class and one set of opening hours (each group on its own scale)."""

    def arrive(self) -> Generator[simpy.Event, Any, None]:
        """Each interval until the horizon, the interval's customers at every store."""
        model = self.model
        env, net, calendar = model.env, model.network, model.calendar
        pkg = _package(model)
        lam = net.lam_draw if net.lam_draw is not None else net.lam_store
        dt = model.scenario.demand.interval_min / 60.0
        rng = model.streams.store_demand
        dow = model.scenario.demand.day_of_week
        groups = []
        for c in range(len(pkg.classes)):
            skus = np.flatnonzero(pkg.sku_class == c)
            for h, hours in enumerate(pkg.hours):
                stores = np.flatnonzero(pkg.store_hours == h)
                rates = lam[np.ix_(skus, stores)]
                if skus.size and stores.size and rates.sum() > 0:
                    cells = (skus[:, None] * net.n_store + stores[None, :]).ravel()
                    groups.append((c, hours, PoissonCells(rates), cells))
        while True:
            t = env.now
            if t >= model.horizon_h or not groups:
                return
            day = t / 24.0
            extra = dow[int(day) % 7] * calendar.store_multiplier(day)
            found, counts = [], []
            for c, (o, close), cells, index in groups:
                frac = open_fraction(t, t + dt, o, close)
                if frac <= 0:
                    continue
                k, n = cells.draw(rng, frac * extra * pkg.store_factor[c, int(day)])
                if k.size:
                    found.append(index[k])
                    counts.append(n)
            if found:
                at = np.concatenate(found)
                order = np.argsort(at, kind="stable")
                model.stores.serve_walk_ins(at[order], np.concatenate(counts)[order])
            yield env.timeout(dt)


class ReplayWalkIns(WalkIns):
    """The recorded walk-in sales, day by day: each unit in an interval of its day drawn
    from its store's intraday shape, so a day's units are exactly the recorded ones."""

    def arrive(self) -> Generator[simpy.Event, Any, None]:
        model = self.model
        env, net = model.env, model.network
        pkg = _package(model)
        assert pkg.replay is not None
        rng = model.streams.store_demand
        dt = model.scenario.demand.interval_min / 60.0
        n_slots = math.ceil(24.0 / dt)
        starts = np.arange(n_slots) * dt
        shapes = [
            Categorical(np.array([open_fraction(a, min(a + dt, 24.0), o, c) for a in starts]))
            for o, c in pkg.hours
        ]
        for day, (cells, units) in enumerate(pkg.replay.walk_in):
            t0 = day * 24.0
            if t0 >= model.horizon_h:
                return
            if t0 > env.now:
                yield env.timeout(t0 - env.now)
            if not cells.size:
                continue
            each = np.repeat(cells, units)
            slot = np.empty(each.size, dtype=np.int64)
            group = pkg.store_hours[each % net.n_store]
            for h, shape in enumerate(shapes):
                mine = np.flatnonzero(group == h)
                if mine.size:
                    slot[mine] = shape.draws(rng, mine.size)
            order = np.lexsort((each, slot))
            each, slot = each[order], slot[order]
            bounds = np.searchsorted(slot, np.arange(n_slots + 1))
            for s in range(n_slots):
                a, b = bounds[s], bounds[s + 1]
                if a == b:
                    continue
                at = t0 + starts[s]
                if at >= model.horizon_h:
                    return
                if at > env.now:
                    yield env.timeout(at - env.now)
                found, counts = np.unique(each[a:b], return_counts=True)
                model.stores.serve_walk_ins(found, counts.astype(np.int64))


class PackageOnlineDemand(OnlineDemand):
    """Fitted online orders: each channel's volume on the fitted online shape of the day."""

    def rate(self, spec: ChannelSpec, t: float) -> float:
        pkg = _package(self.model)
        return super().rate(spec, t) * float(pkg.online_factor[int(t // 24.0)])


class ReplayOnlineDemand(OnlineDemand):
    """The recorded online orders: each at a time of its day drawn from the intraday curve
    (a collected order at its store, a shipped one from a customer zone of the region it
    shipped in), none cancelled."""

    def __init__(self, model: RetailTwin) -> None:
        super().__init__(model)
        pkg = _package(model)
        assert pkg.replay is not None
        net = model.network
        rng = model.streams.online
        hourly = Categorical(np.asarray(model.calendar.online_hourly))
        #: channel code -> hour index -> [(offset in the hour, lines, zone, pickup store)]
        self.by_hour: dict[str, dict[int, list[tuple[float, list[tuple[int, int]], str, int]]]]
        self.by_hour = {}
        for code, orders in pkg.replay.online.items():
            hours: dict[int, list[tuple[float, list[tuple[int, int]], str, int]]] = {}
            if orders:
                h = hourly.draws(rng, len(orders))
                off = rng.random(len(orders))
                for i, (day, lines, loc, collect) in enumerate(orders):
                    region = net.loc_region[loc]
                    zones = [
                        z for z, r in zip(net.zones, net.zone_region, strict=True) if r == region
                    ] or net.zones
                    zone = zones[i % len(zones)]
                    pickup = loc if collect and loc < net.n_store else -1
                    hours.setdefault(day * 24 + int(h[i]), []).append(
                        (float(off[i]), lines, zone, pickup)
                    )
            for orders_ in hours.values():
                orders_.sort(key=lambda o: o[0])
            self.by_hour[code] = hours

    def hour(self, spec: ChannelSpec, channel_id: int, numbered: int) -> list[tuple[float, Order]]:
        model = self.model
        t = model.env.now
        day = t / 24.0
        rng = model.streams.online
        out = []
        n = numbered
        for off, lines, zone, pickup in self.by_hour.get(spec.code, {}).get(round(t), []):
            n += 1
            ret, delay = self.returns(spec, day, len(lines), rng)
            order = Order(
                f"{spec.code}-{n}",
                channel_id,
                spec,
                lines,
                zone,
                t + off,
                math.inf,
                ret,
                delay,
                pickup_store=pickup,
            )
            out.append((off, order))
        return out
