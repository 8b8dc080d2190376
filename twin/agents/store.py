"""Stores: tills that record what happens on the shop floor and sync it to the core,
walk-in customers served from the shelf, shrink, deliveries received, and the
store's knowledge of its customers waiting and of its positions in need.

`StoreAgent` is one store; `Stores` is all of them at once, for the work done in one
numpy pass over every (sku, store) cell. How tills sync, how receipts reach the core
and what happens to unmet walk-ins are strategies (`twin.store_ops`) picked when the
twin is built.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import simpy

from orchestrator import InventoryEvent, MovementKind
from orchestrator.clock import HOUR
from orchestrator.envelope import Envelope

from ..clock import next_at, next_open
from ..faults import OutageWindows
from ..group import Group
from ..rand import sample

if TYPE_CHECKING:
    from ..model import RetailTwin
    from ..store_ops import StoreReceipts, TillSync, UnmetDemand
    from .channel import Order

DeliveryLine = tuple[int, int, int]  # (sku, units the system shipped, units physically sent)


# ----------------------------------------------------------------------- one store
class StoreAgent(mesa.Agent):
    """A store: its tills record sales, shrink and receipts and sync them to the core
    through the middleware; its pickers pick online orders from the shelf in opening
    hours, on pick runs (`timetable.store_pick_every_min`), and stage them for pick-up or
    for the carrier."""

    model: RetailTwin

    def __init__(
        self,
        model: RetailTwin,
        loc: int,
        region: str,
        sales: np.ndarray,
        tills_down: OutageWindows,
        sync: TillSync,
    ) -> None:
        super().__init__(model)
        self.loc = loc
        self.region = region
        self.publisher = model.core.bus.publisher(f"pos:{loc}")
        self.buffer: dict[tuple[str, int], int] = {}  # (event type, sku) -> units, not sales
        self.sales = sales  # units sold per sku since the last sync (a row of Stores' array)
        self.backorders_served: dict[int, int] = {}  # per sku, units of the buffered sales
        self.unsynced: deque[float] = deque()  # when facts the core has not applied happened
        spec = model.scenario.network.stores
        net = model.network
        # a data package gives each store its own hours and pickers
        pickers = spec.pickers if net.store_pickers is None else net.store_pickers[loc]
        self.pickers = simpy.Resource(model.env, capacity=pickers)
        self.pick_time_min = spec.pick_time_min
        self.stage_time_min = spec.stage_time_min
        opening, closing = (
            (spec.opening_hour, spec.closing_hour)
            if net.store_hours is None
            else net.store_hours[loc]
        )
        self.hours = (opening, closing)
        every = model.timetable.store_pick_every_min / 60.0
        runs = math.ceil((closing - opening) / every) if every else 0
        self.pick_runs = [opening + k * every for k in range(runs)]
        self.tills_down = tills_down
        self.sync = sync

    def start(self) -> None:
        if self.sync.needs_timer(self):
            self.model.env.process(self.sync_tills())

    # -- picking online orders -----------------------------------------------------------
    def release_at(self, t: float) -> float:
        """The next pick run in opening hours (or opening time, picking as lines come)."""
        return next_at(self.working_from(t), self.pick_runs)

    def working_from(self, t: float) -> float:
        """Pickers work the store's opening hours."""
        return next_open(t, *self.hours)

    def hand_over(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """Staged: ready for the customer's pick-up, or packed for the carrier's next
        collection."""
        model = self.model
        minutes = float(sample(self.stage_time_min, model.streams.fulfilment))
        yield model.env.timeout(minutes / 60.0)
        model.metrics.counts.store_picking_h += minutes / 60.0  # an associate's time too
        if order.pickup_store < 0:
            yield from model.carrier.collect()

    def offline(self, t: float) -> bool:
        return self.tills_down.covers(t)

    def holds(self, sku: int) -> bool:
        """Whether the tills hold a fact about `sku` not yet sent (a sale, shrink, a receipt)."""
        return bool(self.sales[sku]) or any(k == sku for _e, k in self.buffer)

    def lag_s(self) -> float:
        """How old the oldest fact is that the core has not applied yet (0: none)."""
        q = self.unsynced
        return (self.model.env.now - q[0]) * HOUR if q else 0.0

    def record(self, etype: str, sku: int, qty: int, backorder: int = 0) -> None:
        """A physical fact at the till: buffered until the next sync (or sent now).

        `backorder` counts the units of a sale that served waiting customers: the
        order system learns they are served when the core applies that sale.
        """
        if etype == "stock.sold":
            self.sales[sku] += qty
        else:
            key = (etype, sku)
            self.buffer[key] = self.buffer.get(key, 0) + qty
        if backorder:
            self.backorders_served[sku] = self.backorders_served.get(sku, 0) + backorder
        self.model.stores.held[self.loc] = True
        self.recorded()

    def recorded(self) -> None:
        """Something was recorded at the till: unsynced until the core applies it."""
        now = self.model.env.now
        q = self.unsynced
        if not q or q[-1] != now:
            q.append(now)
        self.sync.recorded(self, now)

    def flush(self) -> None:
        """Send what the till recorded since the last sync: the sales as one batch event
        (one line per sku), every other fact as its own event."""
        sold = self.sales.nonzero()[0]  # a 1-D row: flatnonzero without its two wrappers
        if not self.buffer and not sold.size:
            return
        self.model.stores.held[self.loc] = False
        model = self.model
        now = model.env.now
        middleware = model.middleware
        unapplied = model.stores.unapplied
        if sold.size:
            skus, qtys = tuple(sold.tolist()), tuple(self.sales[sold].tolist())
            self.sales[sold] = 0
            attrs: dict[str, Any] = {"through": now, "skus": skus, "qtys": qtys}
            if self.backorders_served:
                attrs["backorder"] = self.backorders_served.copy()
                self.backorders_served.clear()
            ev = self.publisher.emit(
                "stock.sold.batch", -1, self.loc, sum(qtys), now * HOUR, **attrs
            )
            unapplied[sold, self.loc] += 1
            middleware.send(ev)
        for (etype, sku), qty in sorted(self.buffer.items()):
            if qty == 0:
                continue
            attrs = {"through": now}
            if etype == "transfer.received":
                attrs["from"] = model.network.region_dc[self.region]
            ev = self.publisher.emit(etype, sku, self.loc, qty, now * HOUR, **attrs)
            unapplied[sku, self.loc] += 1
            middleware.send(ev)
        self.buffer.clear()

    def sync_tills(self) -> Generator[simpy.Event, Any, None]:
        """The tills' timer: send what was recorded, unless the tills are offline."""
        env = self.model.env
        yield env.timeout(self.sync.first_sync_h(self))
        every = self.sync.every_h()
        while True:
            if not self.offline(env.now):
                self.flush()
            yield env.timeout(every)

    def receive_delivery(self, dc: int, lines: list[DeliveryLine]) -> None:
        """A DC's truck is unloaded: units onto the shelf (receiving miscounts some), the
        receipt to the core, waiting customers served."""
        model = self.model
        physical = model.physical
        rng = model.streams.physical
        err = model.scenario.physical.receiving_error_rate
        # the lines of one dispatch name each sku once: shelf and transit change by array
        ks = np.fromiter((k for k, _q, _p in lines), np.intp, len(lines))
        came = np.fromiter((p for _k, _q, p in lines), np.int64, len(lines))
        physical.unload(ks, came)
        sent = came.copy()  # what left the DC's shelf; `came` becomes what was shelved
        if err:
            for j, (k, _q_sys, q_phys) in enumerate(lines):
                if rng.random() < err:
                    arrived = max(0, q_phys + (1 if rng.random() < 0.5 else -1))
                    if arrived < q_phys:
                        physical.lose_in_receiving(k, q_phys - arrived)
                    elif arrived > q_phys and not physical.take_extra(k, dc):
                        arrived = q_phys  # an extra unit picked by mistake, if the DC had one
                    came[j] = arrived
        booked = np.fromiter((q for _k, q, _p in lines), np.int64, len(lines))
        physical.shelve_delivery(ks, self.loc, came, booked, sent)
        stores = model.stores
        stores.replenished(self.loc, ks[came > 0])
        stores.receipts.book(self, dc, lines)
        for k, _q, _p in lines:
            if physical.waiting[k, self.loc]:
                stores.serve_waiting(k, self.loc)


# ----------------------------------------------------------------------- all stores
class Stores(Group[StoreAgent]):
    """Every store at once: the tills' unsynced sales [store, sku], today's sales and the
    backorders the order system knows of [sku, location], when each position's need
    became visible and the reorder levels [sku, store]; walk-ins, shrink and the
    system's news about stores (bus subscriber) in one numpy pass."""

    def __init__(
        self, model: RetailTwin, sync: TillSync, receipts: StoreReceipts, unmet: UnmetDemand
    ) -> None:
        net = model.network
        self.model = model
        self.receipts = receipts
        self.unmet = unmet
        self.unsynced_sales = np.zeros((net.n_store, net.n_sku), dtype=np.int64)
        self.sales_today = np.zeros((net.n_sku, net.n_store), dtype=np.int64)
        # backorders as the store's order system knows them: up when a customer is told to
        # wait, down when the core applies the sale that served them (so a review never
        # counts a served backorder before the stock it took has left the ledger)
        self.backorders = np.zeros((net.n_sku, net.n_loc), dtype=np.int64)
        # events the tills sent about each (sku, store) that the core has not applied yet
        # (in the middleware, held, dead-lettered): a count of the position waits for them
        self.unapplied = np.zeros((net.n_sku, net.n_store), dtype=np.int64)
        # when the system first saw a store position at or below its reorder point (NaN: no
        # need open); closed when units for it reach the shelf
        self.need_since = np.full((net.n_sku, net.n_store), np.nan)
        self.reorder_point = np.zeros((net.n_sku, net.n_store), dtype=np.int64)
        self.order_up_to = np.zeros((net.n_sku, net.n_store), dtype=np.int64)
        # the fleet's walk-in sales of an interval leave as one envelope (tills that sync at
        # once, a middleware that batches); a store whose till holds other facts, or is
        # offline, sends its own events as before so its facts keep their order
        self.envelopes = sync.at_once and model.scenario.faults.middleware_batch_s > 0
        self.pos = model.core.bus.envelope_publisher("pos")
        self.held = np.zeros(net.n_store, dtype=bool)  # the till holds facts not yet sent
        down: list[list[tuple[float, float]]] = [[] for _ in range(net.n_store)]
        for w in model.scenario.faults.pos_outages:
            idx = w.stores if w.stores is not None else range(min(w.count, net.n_store))
            for i in idx:
                if 0 <= i < net.n_store:
                    down[i].append((w.start_h, w.start_h + w.duration_h))
        self.can_go_offline = [i for i in range(net.n_store) if down[i]]
        super().__init__(
            [
                StoreAgent(
                    model,
                    i,
                    net.store_region[i],
                    self.unsynced_sales[i],
                    OutageWindows(down[i]),
                    sync,
                )
                for i in range(net.n_store)
            ]
        )

    def start(self) -> None:
        for store in self.agents:
            store.start()

    def unsynced(self, loc: int) -> bool:
        """Whether a location has facts the core has not applied yet (tills or in flight)."""
        return loc < len(self.agents) and bool(self.agents[loc].unsynced)

    def pending(self, sku: int, loc: int) -> bool:
        """Whether a fact about (sku, loc) is not applied yet: at the till, on its way, or
        dead-lettered (sites book at once through the API: never)."""
        if loc >= len(self.agents):
            return False
        return bool(self.unapplied[sku, loc]) or self.agents[loc].holds(sku)

    def pending_many(self, ks: np.ndarray, locs: np.ndarray) -> np.ndarray:
        """`pending` for (ks[i], locs[i]) pairs, in numpy."""
        out = np.zeros(len(ks), dtype=bool)
        at_store = np.flatnonzero(locs < len(self.agents))
        if not at_store.size:
            return out
        k, s = ks[at_store], locs[at_store]
        hit = (self.unapplied[k, s] > 0) | (self.unsynced_sales[s, k] > 0)
        agents = self.agents
        for i in np.flatnonzero(~hit).tolist():
            buf = agents[int(s[i])].buffer
            if buf and any(kk == k[i] for _e, kk in buf):
                hit[i] = True
        out[at_store] = hit
        return out

    def lag_s(self, loc: int) -> float:
        """How old the core's figure of a location is (a site's facts reach it at once)."""
        return self.agents[loc].lag_s() if loc < len(self.agents) else 0.0

    def figure_age_h(self) -> np.ndarray:
        """`lag_s` of every location, in hours [location]."""
        net = self.model.network
        age = np.zeros(net.n_loc)
        now = self.model.env.now
        for i, store in enumerate(self.agents):
            if store.unsynced:
                age[i] = now - store.unsynced[0]
        return age

    # -- walk-ins ------------------------------------------------------------------------
    def serve_walk_ins(self, cells: np.ndarray, counts: np.ndarray) -> None:
        """Walk-in demand: `counts[i]` units at cell `cells[i]` = sku × n_store + store
        (cells ascending, each once): served from the shelf, the rest lost or waiting."""
        model = self.model
        metrics, now = model.metrics, model.env.now
        metrics.accumulate()
        k, s = np.divmod(cells, len(self.agents))
        total = int(counts.sum())
        metrics.counts.store_demand += total
        metrics.demanded(total, now)
        served = model.physical.sell(k, s, counts)
        unmet = counts - served
        sold = int(served.sum())
        self.unmet.walk_out(self, k, s, unmet)
        metrics.counts.store_sold += sold
        metrics.served(sold, now)
        self.sales_today[k, s] += served
        if self.envelopes:
            self.send_sales(k, s, served)
        else:
            self.unsynced_sales[s, k] += served  # each till's sales of the interval
            agents = self.agents
            for st in np.unique(s[served > 0]).tolist():
                agents[st].recorded()
        self.unmet.after_sale(self, k, s, unmet)

    def send_sales(self, k: np.ndarray, s: np.ndarray, served: np.ndarray) -> None:
        """The interval's walk-in sales leave the tills as one envelope, a sub-stream per
        store; a store offline or holding other facts records them at its till instead."""
        now = self.model.env.now
        sold = served > 0
        k, s, q = k[sold], s[sold], served[sold]
        if not q.size:
            return
        ok = ~self.held[s]
        if self.can_go_offline:
            agents = self.agents
            offline = [i for i in self.can_go_offline if agents[i].offline(now)]
            if offline:
                ok &= ~np.isin(s, offline)
        if not ok.all():
            by_till = ~ok
            self.unsynced_sales[s[by_till], k[by_till]] += q[by_till]
            self.held[s[by_till]] = True
            for st in np.unique(s[by_till]).tolist():
                self.agents[st].recorded()
            k, s, q = k[ok], s[ok], q[ok]
            if not q.size:
                return
        env = self.pos.emit(MovementKind.SALE, s, k, q, now * HOUR)
        self.unapplied[k, s] += 1  # cells are unique within an interval
        for st in env.stream.tolist():
            u = self.agents[st].unsynced
            if not u or u[-1] != now:
                u.append(now)
        self.model.middleware.send_envelope(env)

    def serve_waiting(self, k: int, loc: int) -> None:
        """Customers waiting for sku k at a store take what reached the shelf."""
        self.model.metrics.accumulate()
        take = self.model.physical.serve_waiting(k, loc)
        if take:
            self.agents[loc].record("stock.sold", k, take, backorder=take)

    def take_sales_today(self) -> np.ndarray:
        """The day's walk-in sales [sku, store]; the count starts again."""
        sales, self.sales_today = self.sales_today, np.zeros_like(self.sales_today)
        return sales

    def shrink(self) -> None:
        """Physical shrink (theft, damage, paperwork): some is found and written off. The
        network's shrink falls on store shelves (`RetailNetwork.shrink_base()`)."""
        model = self.model
        net = model.network
        if not net.n_store:
            return
        p = model.scenario.physical
        rng = model.streams.physical
        day = model.env.now / 24.0
        lam = net.shrink_base() * (
            p.shrink_share_of_sales
            * model.scenario.demand.day_of_week[int(day) % 7]
            * model.calendar.store_multiplier(day)
        )
        loss = np.minimum(rng.poisson(lam), model.physical.shelf[:, : net.n_store])
        if not loss.any():
            return
        model.metrics.accumulate()
        known = rng.binomial(loss, p.shrink_known_share)
        model.physical.lose_from_stores(loss, known)
        ks, ss = np.nonzero(known)
        for k, s in zip(ks.tolist(), ss.tolist(), strict=True):
            self.agents[s].record("stock.shrink", k, int(known[k, s]))

    # -- what the system knows -----------------------------------------------------------
    def applied(self, ev: InventoryEvent) -> None:
        """The core applied an event (bus subscriber): the tills' facts up to its time are
        synced, served backorders leave the order system, store needs and reviews follow."""
        through = ev.attrs.get("through")
        if through is not None:
            q = self.agents[ev.location].unsynced
            while q and q[0] <= through:
                q.popleft()
        served = ev.attrs.get("backorder")
        if served:
            for k, b in served.items():
                self.backorders[k, ev.location] -= b
        if ev.location < len(self.agents):
            batch = ev.type == "stock.sold.batch"
            skus = ev.attrs["skus"] if batch else (ev.sku,)
            if through is not None:  # a till's event: its skus' facts are applied
                self.unapplied[list(skus), ev.location] -= 1
            if skus and skus[0] >= 0:
                self.note_needs(ev.location, skus)
            if batch:
                self.model.store_review.sale_applied(ev.location, skus)

    def applied_envelope(self, env: Envelope) -> None:
        """The core applied an envelope of till sales (bus subscriber): per store, the facts
        up to its time are synced, and its needs and reviews follow as for one event."""
        if env.source != "pos":
            return
        np.subtract.at(self.unapplied, (env.sku, env.location), 1)
        agents = self.agents
        for st, at in zip(env.stream.tolist(), env.at.tolist(), strict=True):
            q = agents[st].unsynced
            through = at / HOUR
            while q and q[0] <= through:
                q.popleft()
        self.note_needs_of(env.sku, env.location)
        review = self.model.store_review
        if review.reviews_sales:
            starts = env.start.tolist()
            for i, st in enumerate(env.stream.tolist()):
                review.sale_applied(st, tuple(env.sku[starts[i] : starts[i + 1]].tolist()))

    def note_needs_of(self, ks: np.ndarray, ss: np.ndarray) -> None:
        """`note_needs` for (ks[i], ss[i]) pairs across stores, in one numpy pass."""
        self._start_needs(ks, ss, self.model.procurement.levels_of(ks, ss, self.backorders[ks, ss]))

    def note_needs(self, store: int, skus: Sequence[int]) -> None:
        """The system has just learnt of stock movements at a store: positions now at or
        below their reorder point start a need (sync cadence shows here: under batch sync
        the ledger learns late)."""
        ks = np.asarray(skus, dtype=np.intp)
        ip = self.model.procurement.levels_at(skus, store, self.backorders[ks, store])
        self._start_needs(ks, np.full(ks.size, store, dtype=np.intp), ip)

    def _start_needs(self, ks: np.ndarray, ss: np.ndarray, ip: np.ndarray) -> None:
        """Positions (ks, ss) at inventory position `ip` (units on order included, as the
        review sees it): those at or below their reorder point with no need open start one.
        A position whose replenishment is already on order starts no new need; an open need
        closes when units reach the shelf, not when they are ordered."""
        since = self.need_since[ks, ss]
        new = (ip <= self.reorder_point[ks, ss]) & np.isnan(since)
        if new.any():
            self.need_since[ks[new], ss[new]] = self.model.env.now

    def replenished(self, store: int, ks: np.ndarray) -> None:
        """Units for these skus reached the store's shelf: their open needs are met."""
        since = self.need_since[ks, store]
        met = ~np.isnan(since)
        if not met.any():
            return
        model = self.model
        now = model.env.now
        if now <= model.horizon_h:
            t0 = since[met]
            model.metrics.counts.store_replenishment_h.extend(
                (now - t0[t0 >= model.warmup_h]).tolist()
            )
        self.need_since[ks[met], store] = math.nan

    def needs_open_h(self) -> list[float]:
        """Ages at the horizon of the needs still open, opened in the measured window."""
        model = self.model
        open_needs = self.need_since[~np.isnan(self.need_since)]
        open_needs = open_needs[open_needs >= model.warmup_h]
        return (model.horizon_h - open_needs).tolist()
