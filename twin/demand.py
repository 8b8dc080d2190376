"""Demand: walk-in customers at the stores and online orders, drawn from the scenario's
rates, seasonality, demand events (peaks, promotions), day-of-week and the intraday
shape of store hours; returns surges raise the return rates.

Every draw comes from the demand streams alone and happens whatever the policy does,
so two policies run on one seed see the same customers (common random numbers).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from scenarios.schema import ChannelSpec, Scenario

from .agents.channel import Order
from .rand import Categorical, PoissonCells, sample

if TYPE_CHECKING:
    from .model import RetailTwin


def in_window(day: float, start: float, days: float) -> bool:
    return start <= day < start + days


def open_fraction(t0: float, t1: float, o: float, c: float) -> float:
    """Share of a day's store demand falling in [t0, t1) (hours) at a store open from hour
    `o` to hour `c`: flat over opening hours with an afternoon lift (assumed)."""
    d0 = math.floor(t0 / 24.0) * 24.0
    a, b = max(t0 - d0, o), min(t1 - d0, c)
    if b <= a:
        return 0.0
    span = c - o
    peak = o + 0.65 * span

    def cum(x: float) -> float:
        """Integral over [o, x] of the density 1 + ½·triangular(peak), scaled to hours."""
        u = (x - o) / span
        p = (peak - o) / span
        tri_cdf = u * u / p if u <= p else 1.0 - (1.0 - u) ** 2 / (1.0 - p)
        return (u + 0.5 * tri_cdf) * span

    return (cum(b) - cum(a)) / cum(c)


class Calendar:
    """How busy a moment is: seasonality, demand events, the shape of a store's day, and
    returns surges."""

    def __init__(self, scenario: Scenario) -> None:
        self.demand = scenario.demand
        self.stores = scenario.network.stores
        self.surges = scenario.faults.returns_surges
        hourly = scenario.demand.online_hourly
        mean = sum(hourly) / len(hourly)
        self.online_hourly = [w / mean for w in hourly]  # mean 1: a day's total is unchanged

    def season(self, day: float) -> float:
        d = self.demand
        if not d.seasonality_amplitude:
            return 1.0
        phase = 2 * math.pi * (day - d.seasonality_peak_day) / d.seasonality_period_days
        return 1.0 + d.seasonality_amplitude * math.cos(phase)

    def store_multiplier(self, day: float) -> float:
        mult = self.season(day)
        for ev in self.demand.events:
            if in_window(day, ev.start_day, ev.days):
                mult *= ev.store_multiplier if ev.store_multiplier is not None else ev.multiplier
        return mult

    def online_multiplier(self, day: float, code: str) -> float:
        mult = self.season(day)
        for ev in self.demand.events:
            if in_window(day, ev.start_day, ev.days) and (
                ev.channels is None or code in ev.channels
            ):
                mult *= ev.multiplier
        return mult

    def online_hour(self, t: float) -> float:
        """How busy online shopping is in the hour of the day at `t` (mean 1 over a day):
        the intraday curve of `demand.online_hourly`."""
        return self.online_hourly[int(t % 24.0)]

    def open_fraction(self, t0: float, t1: float) -> float:
        """Share of a day's store demand falling in [t0, t1) (hours), with an intraday shape:
        flat over opening hours with an afternoon lift (assumed)."""
        return open_fraction(t0, t1, self.stores.opening_hour, self.stores.closing_hour)

    def return_rate(self, base: float, day: float) -> float:
        """A return rate on `day`, raised by any returns surge then."""
        mult = 1.0
        for s in self.surges:
            if in_window(day, s.start_day, s.days):
                mult *= s.multiplier
        return min(1.0, base * mult)


class WalkIns(ABC):
    """Walk-in customers arriving at the stores until the horizon."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model

    def start(self) -> None:
        self.model.env.process(self.arrive())

    @abstractmethod
    def arrive(self) -> Generator[simpy.Event, Any, None]:
        """The arrivals, served by the stores as they come."""


class BatchWalkIns(WalkIns):
    """Walk-in demand for every (sku, store) each interval: independent Poisson counts,
    drawn sparsely (only the cells that see a customer; `PoissonCells`)."""

    def arrive(self) -> Generator[simpy.Event, Any, None]:
        """Each interval until the horizon, the interval's customers at every store."""
        model = self.model
        env, net, calendar = model.env, model.network, model.calendar
        dt = model.scenario.demand.interval_min / 60.0
        rng = model.streams.store_demand
        dow = model.scenario.demand.day_of_week
        cells = PoissonCells(net.lam_store)
        while True:
            t = env.now
            if t >= model.horizon_h:
                return
            day = t / 24.0
            frac = calendar.open_fraction(t, t + dt)
            if frac > 0 and net.n_store:
                scale = frac * dow[int(day) % 7] * calendar.store_multiplier(day)
                model.stores.serve_walk_ins(*cells.draw(rng, scale))
            yield env.timeout(dt)


class CustomerWalkIns(WalkIns):
    """Customer by customer: a Poisson stream of single-unit walk-ins (thinned by hour)."""

    def arrive(self) -> Generator[simpy.Event, Any, None]:
        """One walk-in after another until the horizon, at the hour's rate."""
        model = self.model
        env, net, calendar = model.env, model.network, model.calendar
        rng = model.streams.store_demand
        if not net.n_store:
            return
        lam = net.lam_store
        total = float(lam.sum())
        if total <= 0:
            return
        # what `Generator.choice(n, p=cells)` draws with, kept: one uniform per customer
        cdf = np.cumsum(lam.ravel() / total)
        cdf /= cdf[-1]
        demand = model.scenario.demand
        dow = demand.day_of_week
        st = model.scenario.network.stores
        always_open = st.opening_hour == 0 and st.closing_hour == 24
        # an upper bound of the daily multiplier for thinning: every event at once, peak season
        peak = max(dow) * (1.0 + demand.seasonality_amplitude)
        for ev in demand.events:
            peak *= max(1.0, ev.store_multiplier or ev.multiplier)
        # maximum hourly rate for thinning: the intraday shape peaks at 1.5× its mean
        span = st.closing_hour - st.opening_hour
        shape_max = 1.0 if always_open else 1.5 * 24.0 / span
        rate_max = total * peak * shape_max / 24.0
        while True:
            yield env.timeout(float(rng.exponential(1.0 / rate_max)))
            t = env.now
            if t >= model.horizon_h:
                return
            day = t / 24.0
            if always_open:
                shape = 1.0
            else:
                eps = 1e-3
                shape = calendar.open_fraction(t, t + eps) / eps * 24.0
            rate = total * dow[int(day) % 7] * calendar.store_multiplier(day) * shape / 24.0
            u = rng.random()
            if u * rate_max >= rate:
                continue
            cell = int(cdf.searchsorted(rng.random(), side="right")) if cdf.size > 1 else 0
            model.stores.serve_walk_ins(np.array([cell]), np.ones(1, dtype=np.int64))


class OnlineDemand:
    """Online orders as a Poisson process per channel (hourly rate with day-of-week, events
    and the intraday curve, constant within an hour); lines, skus, zone, pick-up store,
    cancellation and returns are drawn up front so every policy sees the same customers."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        self.popularity = Categorical(model.network.popularity)  # an order's skus

    def rate(self, spec: ChannelSpec, t: float) -> float:
        """The channel's expected orders in the hour starting at `t`."""
        model = self.model
        calendar = model.calendar
        day = t / 24.0
        dow = model.scenario.demand.day_of_week
        rate = spec.orders_per_day * dow[int(day) % 7] * calendar.online_multiplier(day, spec.code)
        rate *= calendar.online_hour(t) / 24.0  # the hour's share: the intraday curve
        return rate

    def returns(
        self, spec: ChannelSpec, day: float, n_lines: int, rng: np.random.Generator
    ) -> tuple[list[bool], list[float]]:
        """Which of an order's lines come back, and how many hours after it is placed."""
        calendar = self.model.calendar
        ret = (rng.random(n_lines) < calendar.return_rate(spec.return_rate, day)).tolist()
        delay = sample(self.model.scenario.demand.return_delay_days, rng, n_lines) * 24.0
        return ret, list(delay)

    def hour(self, spec: ChannelSpec, channel_id: int, numbered: int) -> list[tuple[float, Order]]:
        """The orders of the hour starting now, as (offset in hours, order), in arrival
        order; `numbered` orders of the channel came before."""
        model = self.model
        env, net, rng = model.env, model.network, model.streams.online
        t = env.now
        day = t / 24.0
        rate = self.rate(spec, t)
        k = int(rng.poisson(rate)) if rate > 0 else 0
        offsets = np.sort(rng.uniform(0, 1.0, k))
        orders = []
        n = numbered
        for off in offsets:
            n += 1
            n_lines = 1 + int(rng.poisson(spec.lines_per_order - 1))
            skus = self.popularity.draws(rng, n_lines)
            merged: dict[int, int] = {}
            for s in skus.tolist():
                merged[s] = merged.get(s, 0) + 1
            lines = sorted(merged.items())
            zone = net.zones[int(rng.integers(len(net.zones)))]
            pickup = -1
            if spec.bopis_share and rng.random() < spec.bopis_share:
                near = net.stores_by_region.get(net.zone_region[net.zones.index(zone)], [])
                if near:
                    pickup = near[int(rng.integers(len(near)))]
            cancel_h = (
                float(t + off + rng.uniform(0, 2.0))
                if rng.random() < spec.cancel_rate
                else math.inf
            )
            ret, delay = self.returns(spec, day, len(lines), rng)
            order = Order(
                f"{spec.code}-{n}",
                channel_id,
                spec,
                lines,
                zone,
                t + float(off),
                cancel_h,
                ret,
                delay,
                pickup_store=pickup,
            )
            orders.append((float(off), order))
        return orders
