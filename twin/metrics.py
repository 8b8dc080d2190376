"""What the twin measures about the physical world: counters and logs of the measured
window, time averages, the daily snapshot and the daily series (Mesa's DataCollector).

KPIs about the orchestrator come from its own records (`twin.simulate.reduce`); this is
the rest: demand, walk-outs, shelves against the ledger, waiting times.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import simpy

from orchestrator.clock import HOUR

#: why a promised order failed: a legacy channel's promise the core refused at import (the
#: stale feed), a click-and-collect line picked short (the store shelf is all it can use),
#: a short pick no other location could serve, a short pick re-sourced past the promise
OVERSELL_CAUSES = ("refused_at_import", "picked_short_pickup", "picked_short", "resourced_late")

if TYPE_CHECKING:
    from orchestrator import Orchestrator

    from .network import RetailNetwork
    from .physical import PhysicalStock


@dataclass(slots=True)
class Counts:
    """Counters and compact logs of the measured window, reduced with numpy at the end;
    all start afresh when the warm-up ends."""

    store_demand: int = 0
    store_sold: int = 0
    store_lost: int = 0
    online_demand: int = 0
    online_shipped: int = 0
    online_lost: int = 0
    online_cancelled_units: int = 0
    online_ordered: int = 0  # units on every online order placed, before any cancellation
    fallback_refused_units: int = 0  # turned away by a central channel's outage fallback feed
    refused_units: int = 0  # shipped to a customer who had cancelled: refused, sent back
    returned_units: int = 0  # customer returns received (online and in store)
    orders: int = 0
    oversells: int = 0
    #: oversold orders by the cause of their first failing line (`OVERSELL_CAUSES`)
    oversells_by_cause: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(OVERSELL_CAUSES, 0)
    )
    pick_shortages: int = 0
    reservation_latency_s: list[float] = field(default_factory=list)
    fulfilment_h: list[float] = field(default_factory=list)
    fulfilment_bopis_h: list[float] = field(default_factory=list)  # placed → ready for pick-up
    fulfilment_ship_h: list[float] = field(default_factory=list)  # placed → handed to the carrier
    sync_lag_s: list[float] = field(default_factory=list)
    # routine DC → store deliveries: the store review that ordered them → unloaded at the
    # store (not workflow transfers)
    store_delivery_h: list[float] = field(default_factory=list)
    # a store position's need visible to the system → units on its shelf (measured window)
    store_replenishment_h: list[float] = field(default_factory=list)
    manual_recon_h: float = 0.0
    lost_margin_cents: int = 0  # price − cost of every unit demanded and never served
    # store associates' hours on online lines: picking on the pick runs and staging
    store_picking_h: float = 0.0
    recon_lines: dict[str, int] = field(default_factory=dict)  # lines matched, by kind
    snapshots_stocked: int = 0
    snapshots_ats_zero: int = 0
    snapshots_accurate: int = 0
    # the same two figures at stores only (the field's store-record accuracy) and at sites
    snapshots_stocked_store: int = 0
    snapshots_accurate_store: int = 0
    inventory_value: list[float] = field(default_factory=list)
    # time integrals for validation: store on-hand, backorders, units on order to stores,
    # online orders open (Little's law)
    area_on_hand: float = 0.0
    area_backorders: float = 0.0
    area_outstanding: float = 0.0
    area_orders_open: float = 0.0
    orders_done: int = 0
    order_time_h: list[float] = field(default_factory=list)  # placed → shipped or dropped
    pick_wait_h: list[float] = field(default_factory=list)  # queueing at a pick station

    def reset(self) -> None:
        """Every figure back to its start, in place (processes hold this object)."""
        fresh = Counts()
        for f in fields(Counts):
            setattr(self, f.name, getattr(fresh, f.name))


class Metrics:
    """The recorder: counts of the measured window, the levels behind the time averages
    (online orders open, units on order to stores), per-day demand and service, and the
    daily snapshot that feeds the DataCollector at the end of each day."""

    def __init__(
        self,
        env: simpy.Environment,
        physical: PhysicalStock,
        horizon_days: float,
        warmup_days: float,
    ) -> None:
        self.env = env
        self.physical = physical
        self.horizon_h = horizon_days * 24.0
        self.warmup_h = warmup_days * 24.0
        self.counts = Counts()
        self.orders_open = 0  # online orders placed, not yet shipped or dropped
        self.outstanding = 0  # units on order to stores from suppliers (validation)
        self.last_h = 0.0  # time averages are integrated up to here
        n_days = math.ceil(horizon_days) + 1
        # units demanded on each day and how many of them were served (now or later)
        self.demand_by_day = np.zeros(n_days, dtype=np.int64)
        self.served_by_day = np.zeros(n_days, dtype=np.int64)
        self.day_index = 0
        self.day_demand = 0
        self.day_served = 0
        self.day_lost = 0
        self.day_stockout = math.nan
        self.day_accuracy = math.nan
        self.day_mean_ats = math.nan
        self.day_posting_p95 = math.nan
        self._posted_seen = 0
        self.margin_cents: np.ndarray = np.zeros(0, dtype=np.int64)  # per sku, set by the model

    def lost(self, skus: Any, units: Any) -> None:
        """Units demanded and never served: their margin is lost (the money block)."""
        self.counts.lost_margin_cents += int(
            np.dot(self.margin_cents[np.asarray(skus, dtype=np.intp)], np.asarray(units))
        )

    def start(self) -> None:
        """Measurements restart at the end of the warm-up, if there is one."""
        if self.warmup_h > 0:
            self.env.process(self.end_warmup())

    def end_warmup(self) -> Generator[simpy.Event, Any, None]:
        """At the end of the warm-up every measurement starts afresh (the state carries on)."""
        yield self.env.timeout(self.warmup_h)
        self.accumulate()
        self.counts.reset()
        self.last_h = self.env.now

    # -- time averages -------------------------------------------------------------------
    def accumulate(self) -> None:
        """Integrate the time averages up to now (the measured window ends at the horizon)."""
        now = min(self.env.now, self.horizon_h)
        dt = now - self.last_h
        if dt > 0:
            counts = self.counts
            counts.area_on_hand += dt * float(self.physical.store_units)
            counts.area_backorders += dt * float(self.physical.waiting_units)
            counts.area_outstanding += dt * float(self.outstanding)
            counts.area_orders_open += dt * self.orders_open
            self.last_h = now

    # -- demand and service by day -------------------------------------------------------
    def day_of(self, t_h: float) -> int:
        """The day a time falls in (the last day holds everything after the horizon)."""
        return min(int(t_h // 24.0), len(self.demand_by_day) - 1)

    def demanded(self, units: int, t_h: float) -> None:
        self.day_demand += units
        self.demand_by_day[self.day_of(t_h)] += units

    def served(self, units: int, t_h: float) -> None:
        """`units` demanded at `t_h` were served now."""
        self.day_served += units
        self.served_by_day[self.day_of(t_h)] += units

    def fulfilled(self, hours: float, *, bopis: bool) -> None:
        """An order that shipped took `hours` from placed to its last line handed to the
        carrier (or, click and collect, ready for pick-up)."""
        counts = self.counts
        counts.fulfilment_h.append(hours)
        (counts.fulfilment_bopis_h if bopis else counts.fulfilment_ship_h).append(hours)

    def fill_rate_by_day(self) -> list[float]:
        """Per day: units demanded that day that were served, now or later, ÷ units demanded."""
        n = len(self.demand_by_day) - 1
        d, s = self.demand_by_day[:n], self.served_by_day[:n]
        return [float(s[i] / d[i]) if d[i] > 0 else math.nan for i in range(n)]

    def day_fill_rate(self) -> float:
        return self.day_served / self.day_demand if self.day_demand > 0 else math.nan

    # -- the day's end -------------------------------------------------------------------
    def snapshot(self, core: Orchestrator, network: RetailNetwork) -> None:
        """Daily: stockouts, inventory accuracy and inventory value over stocked pairs."""
        core.reservations.sweep(core.clock.now())
        n_loc, n_store = network.n_loc, network.n_store
        d = core.ledger.dense(network.n_sku, n_loc)
        held = d.exists  # the positions the ledger holds: "stocked" pairs
        stocked = int(held.sum())
        ats = d.on_hand - d.reserved - d.safety
        zero = int((held & (ats <= 0)).sum())
        ats = np.maximum(ats, 0)
        right = held & (d.on_hand == self.physical.shelf[:, :n_loc])
        accurate = int(right.sum())
        ats_sum = int(ats[:, :n_store][held[:, :n_store]].sum())
        value = float((d.on_hand * network.std_cost.astype(np.int64)[:, None])[held].sum())
        counts = self.counts
        counts.snapshots_stocked += stocked
        counts.snapshots_ats_zero += zero
        counts.snapshots_accurate += accurate
        counts.snapshots_stocked_store += int(held[:, :n_store].sum())
        counts.snapshots_accurate_store += int(right[:, :n_store].sum())
        counts.inventory_value.append(value)
        self.day_stockout = zero / stocked if stocked else math.nan
        self.day_accuracy = accurate / stocked if stocked else math.nan
        self.day_mean_ats = ats_sum / max(1, n_store * network.n_sku)
        entries = core.gl.entries
        delays = [e.posted_at - e.movement_at for e in entries[self._posted_seen :] if e.posted]
        self.day_posting_p95 = float(np.percentile(delays, 95)) / HOUR if delays else math.nan
        self._posted_seen = len(entries)

    def next_day(self) -> None:
        self.day_index += 1
        self.day_demand = self.day_served = self.day_lost = 0

    def collector(self, core: Orchestrator) -> mesa.DataCollector:
        """The daily series as Mesa model reporters (collected after each snapshot), in
        column order."""
        read = {
            "day": lambda: self.day_index,
            "fill_rate": self.day_fill_rate,
            "units_demanded": lambda: self.day_demand,
            "lost_units": lambda: self.day_lost,
            "oversells": lambda: self.counts.oversells,
            "pick_shortages": lambda: self.counts.pick_shortages,
            "stockout_share": lambda: self.day_stockout,
            "inventory_accuracy": lambda: self.day_accuracy,
            "mean_ats_store": lambda: self.day_mean_ats,
            "exception_backlog": lambda: core.exceptions.open_count,
            "unposted_movements": lambda: core.gl.unposted,
            "dead_letters": lambda: len(core.bus.outstanding_dead_letters()),
            # returned units waiting for inspection or disposition (off the shelf)
            "quarantine_units": lambda: int(self.physical.quarantine.sum()),
            "events_applied": lambda: core.bus.counters.applied,
            "posting_delay_p95_h": lambda: self.day_posting_p95,
        }
        return mesa.DataCollector(
            model_reporters={name: (lambda _model, f=f: f()) for name, f in read.items()}
        )
