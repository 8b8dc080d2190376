"""The integration middleware between the stores' tills and the core's bus, the path it
gives the core's journal postings to the ERP's API, and the integration platform's
scheduler that runs the core's timers."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import simpy

from orchestrator import Fate, InventoryEvent
from orchestrator.clock import HOUR
from orchestrator.envelope import Envelope

from ..rand import sample

if TYPE_CHECKING:
    from scenarios.schema import Faults

    from ..faults import OutageWindows
    from ..model import RetailTwin


Message = InventoryEvent | Envelope


class Middleware(mesa.Agent):
    """Carries events from sources to the core's bus: latency, duplicates, reordering and
    outage windows (events wait and drain after the outage: at once, or spread over
    `faults.outage_drain_h` in the retry queue's order, overtaken by new events).

    Envelopes (the stores' till sales of an interval) get the same faults per sub-stream,
    each store's stream on its own; sub-streams falling due within one
    `faults.middleware_batch_s` window of the first are delivered together, as one
    envelope, when the last of them is due (none arrives before its own latency).
    """

    model: RetailTwin

    def __init__(self, model: RetailTwin, outages: OutageWindows) -> None:
        super().__init__(model)
        faults = model.scenario.faults
        self.latency = faults.middleware_latency_s
        self.duplicate_rate = faults.duplicate_rate
        self.reorder_rate = faults.reorder_rate
        self.drain_h = faults.outage_drain_h
        self.outages = outages
        self.stream = model.streams.middleware
        self.window_h = faults.middleware_batch_s / HOUR
        # in flight: number -> (due time, event or envelope); each has its own SimPy timeout
        # whose callback delivers it (no process to wake and re-arm per event)
        self.pending: dict[int, tuple[float, Message]] = {}
        self.n = 0

    def start(self) -> None:
        self.model.env.process(self.run_core_timers())

    @property
    def in_flight(self) -> list[tuple[float, int, Message]]:
        """What is still on its way, as (due time, number, event), earliest first."""
        return sorted((t, n, ev) for n, (t, ev) in self.pending.items())

    def down(self, t: float) -> float | None:
        """The end of the outage covering time `t`, or None."""
        return self.outages.end_at(t)

    def send(self, ev: InventoryEvent) -> None:
        """Take an event from a source: it reaches the bus after the middleware's latency,
        maybe held back (overtaken by later ones) and maybe twice."""
        now = self.model.env.now
        rng = self.stream
        t = now + float(sample(self.latency, rng)) / HOUR
        if self.reorder_rate and rng.random() < self.reorder_rate:
            t += float(rng.exponential(0.25))  # held back: overtaken by later events
        self._push(t, ev)
        if self.duplicate_rate and rng.random() < self.duplicate_rate:
            self._push(t + float(rng.exponential(0.05)), ev)

    def send_envelope(self, env: Envelope) -> None:
        """Take an envelope: each sub-stream gets its own latency, may be held back or sent
        twice, and waits out an outage on its own; sub-streams due in the same window go
        on together."""
        k = env.n_streams
        rng = self.stream
        t = self.model.env.now + np.asarray(sample(self.latency, rng, k), dtype=float) / HOUR
        if self.reorder_rate:
            held = np.flatnonzero(rng.random(k) < self.reorder_rate)
            if held.size:
                t[held] += rng.exponential(0.25, held.size)
        dup = np.zeros(0, dtype=np.int64)
        if self.duplicate_rate:
            dup = np.flatnonzero(rng.random(k) < self.duplicate_rate)
        self._schedule(env, t)
        if dup.size:
            self._schedule(env.take(dup), t[dup] + rng.exponential(0.05, dup.size))

    def _schedule(self, env: Envelope, t: np.ndarray) -> None:
        """Queue an envelope's sub-streams due at `t` (one per sub-stream): an outage holds
        each on its own; those due in one window travel together."""
        if self.outages:
            for i, ti in enumerate(t.tolist()):
                t[i] = self._past_outage(ti)
        if not self.window_h:
            for i in range(env.n_streams):
                self._enqueue(float(t[i]), env.take([i]) if env.n_streams > 1 else env)
            return
        w = self.window_h
        order = np.argsort(t, kind="stable")
        ts = t[order]
        n = len(ts)
        if ts[-1] - ts[0] <= w:
            self._enqueue(float(ts[-1]), env)
            return
        i = 0
        while i < n:  # a window opens at its first sub-stream's due time
            j = int(np.searchsorted(ts, ts[i] + w, side="right"))
            self._enqueue(float(ts[j - 1]), env.take(np.sort(order[i:j])))
            i = j

    def _push(self, t: float, ev: InventoryEvent) -> None:
        self._enqueue(self._past_outage(t), ev)

    def _past_outage(self, t: float) -> float:
        """When a message due at `t` arrives: then, or after the outage covering `t`."""
        end = self.down(t)
        return t if end is None else self._after(end)

    def _enqueue(self, t: float, msg: Message) -> None:
        self.n += 1
        n = self.n
        self.pending[n] = (t, msg)
        env = self.model.env
        env.timeout(max(0.0, t - env.now)).callbacks.append(lambda _e: self._due(n))

    def _after(self, end: float) -> float:
        """When an event queued by an outage ending at `end` is redelivered: the latency,
        plus a retry delay spread over `drain_h` (0: the backlog drains at once, in order)."""
        rng = self.stream
        t = end + float(sample(self.latency, rng)) / HOUR
        return t + float(rng.uniform(0.0, self.drain_h)) if self.drain_h else t

    def _due(self, n: int) -> None:
        env = self.model.env
        end = self.down(env.now)
        if end is not None:  # sent before the outage, due during it: waits it out
            item = self.pending.get(n)
            if item is None:
                return
            msg = item[1]
            if isinstance(msg, Envelope):  # each sub-stream retries on its own
                del self.pending[n]
                t = np.array([self._after(end) for _ in range(msg.n_streams)])
                self._schedule(msg, t)
                return
            t = self._after(end)
            self.pending[n] = (t, msg)
            env.timeout(t - env.now).callbacks.append(lambda _e: self._due(n))
            return
        item = self.pending.pop(n, None)
        if item is not None:  # not already delivered by `flush_all`
            self.model.deliver(item[1])

    def flush_all(self) -> None:
        """End of run: deliver whatever is still in flight, in order."""
        for _t, n, ev in self.in_flight:
            del self.pending[n]
            self.model.deliver(ev)

    def run_core_timers(self) -> Generator[simpy.Event, Any, None]:
        """The platform's scheduler: every few minutes until the horizon it runs the core's
        timers (bus holds and retries, GL batches, expiries, escalations) and files each
        new dead letter as an exception for the integration team."""
        model = self.model
        env, core = model.env, model.core
        every_h = model.timetable.core_poll_min / 60.0
        seen = 0
        while True:
            core.poll()
            dead = core.bus.counters.dead_lettered
            if dead > seen:
                for d in core.bus.outstanding_dead_letters()[-(dead - seen) :]:
                    core.exceptions.raise_("dead_letter", d.event.event_id, d.reason)
                seen = dead
            if env.now >= model.horizon_h:
                return
            yield env.timeout(every_h)


class ErpPath:
    """The integration path of journal postings (the core's `PostingPath`): each entry rides
    the middleware (`faults.middleware_latency_s`; a middleware outage holds it) to the
    ERP's API (`faults.erp_api_latency_s`; an ERP outage holds it until the ERP is back),
    which posts it, rejects it (`faults.erp_error_rate`) or posts it twice
    (`faults.erp_duplicate_rate`).

    It answers when the ERP will answer, so no SimPy process runs per posting; draws come
    from their own stream in blocks, three per entry (two latencies and one uniform).
    """

    BLOCK = 1024

    def __init__(
        self,
        faults: Faults,
        rng: np.random.Generator,
        middleware_down: OutageWindows,
        erp_down: OutageWindows,
    ) -> None:
        self.middleware_latency = faults.middleware_latency_s
        self.api_latency = faults.erp_api_latency_s
        self.error_rate = faults.erp_error_rate
        self.duplicate_rate = faults.erp_duplicate_rate
        self.rng = rng
        self.middleware_down = middleware_down
        self.erp_down = erp_down
        self._draws: list[tuple[float, float, float]] = []

    def _next(self) -> tuple[float, float, float]:
        if not self._draws:
            n, rng = self.BLOCK, self.rng
            hops = np.asarray(sample(self.middleware_latency, rng, n), dtype=float)
            apis = np.asarray(sample(self.api_latency, rng, n), dtype=float)
            u = rng.random(n)
            self._draws = list(zip(hops.tolist(), apis.tolist(), u.tolist(), strict=True))
            self._draws.reverse()  # popped from the end, in draw order
        return self._draws.pop()

    def send(self, now: float, n: int) -> list[tuple[float, Fate]]:
        """For `n` entries sent at `now` (seconds): when the ERP answers each, and how."""
        out = []
        err, dup = self.error_rate, self.error_rate + self.duplicate_rate
        mw, erp = self.middleware_down, self.erp_down
        for _ in range(n):
            hop, api, u = self._next()
            t = now / HOUR
            end = mw.end_at(t) if mw else None
            t = (t if end is None else end) + hop / HOUR
            end = erp.end_at(t) if erp else None
            t = (t if end is None else end) + api / HOUR
            fate = Fate.REJECTED if u < err else Fate.DUPLICATED if u < dup else Fate.POSTED
            out.append((t * HOUR, fate))
        return out
