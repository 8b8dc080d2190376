"""Suppliers: each confirms its purchase orders, then ships them after a lead time,
sometimes late and short, slower and less reliable during a supply shock; it hurries
an order the buyer expedites, and an alternate ships what the buyer re-sources to it.

What happens to a PO is drawn from a generator of its own, keyed by what both policies
share (the supplier, sku, location, day raised and the PO's place among that day's
orders for the pair), so two policies on one seed face the same supplier behaviour
(common random numbers) even when they raise different orders."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import simpy

from orchestrator.clock import HOUR
from orchestrator.replenishment import POState, PurchaseOrder
from scenarios.schema import SupplierShock, SupplierSpec

from ..demand import in_window
from ..rand import sample

if TYPE_CHECKING:
    from ..model import RetailTwin

ASN_BEFORE_ARRIVAL_H = 24.0  # assumed: a DC's supplier sends its shipping notice a day ahead


class SupplierAgent(mesa.Agent):
    """A supplier: ships each PO after a sampled lead time; a PO that is not on time in
    full arrives late and short. A DC's PO is confirmed with its planned arrival (the
    lead time, shock included; not yet the lateness) and gets an advance shipping notice
    the day before it arrives."""

    model: RetailTwin

    def __init__(
        self, model: RetailTwin, index: int, spec: SupplierSpec, shocks: list[SupplierShock]
    ) -> None:
        super().__init__(model)
        self.index = index  # the supplier's place in the scenario: part of every PO's key
        self.spec = spec
        self.shocks = shocks  # the supply shocks that hit this supplier, in scenario order

    def shock(self, day: float) -> tuple[float, float | None]:
        """(lead-time multiplier, on-time-in-full rate or None) of the shocks on `day`."""
        mult, otif = 1.0, None
        for sh in self.shocks:
            if in_window(day, sh.start_day, sh.days):
                mult *= sh.lead_time_multiplier
                if sh.on_time_in_full is not None:
                    otif = sh.on_time_in_full
        return mult, otif

    def outcome(self, po: PurchaseOrder, rng: np.random.Generator) -> tuple[float, float, int]:
        """(planned lead time h, lateness h, units shipped) of a PO raised now: every draw
        is made whatever the outcome, so the key alone decides them."""
        spec = self.spec
        mult, otif = self.shock(self.model.env.now / 24.0)
        otif = spec.on_time_in_full if otif is None else otif
        lead_h = float(sample(spec.lead_time_days, rng)) * 24.0 * mult
        late = rng.random() >= otif
        late_h = float(sample(spec.late_days, rng)) * 24.0
        if not late:
            return lead_h, 0.0, po.qty
        return lead_h, late_h, max(1, round(po.qty * (1 - spec.short_ship_fraction)))

    def deliver(
        self, po_id: int, rng: np.random.Generator, arrivals: dict[int, float]
    ) -> Generator[simpy.Event, Any, None]:
        """Ship a PO: the confirmation, the ASN, the truck, then the receipt (the late goods
        of a PO closed meanwhile are refused at the door). `arrivals[po_id]` is when the
        goods arrive; expediting moves it earlier and interrupts the wait."""
        model = self.model
        env, procurement = model.env, model.procurement
        metrics = model.metrics
        po = procurement.get(po_id)
        lead_h, late_h, qty = self.outcome(po, rng)
        to_store = po.location < model.network.n_store
        if to_store:
            metrics.accumulate()
            metrics.outstanding += po.qty
        planned = env.now + lead_h
        arrivals[po_id] = planned + late_h
        if not to_store:
            confirm_at = env.now + self.spec.confirms_after_h
            if confirm_at < arrivals[po_id] - ASN_BEFORE_ARRIVAL_H:
                yield from self._until(lambda: confirm_at)
                if procurement.get(po_id).is_open:
                    procurement.acknowledge(po_id, planned * HOUR)
            yield from self._until(lambda: arrivals[po_id] - ASN_BEFORE_ARRIVAL_H)
            if procurement.get(po_id).is_open and env.now < arrivals[po_id]:
                procurement.asn(
                    po_id, min(qty, procurement.get(po_id).remaining), arrivals[po_id] * HOUR
                )
        yield from self._until(lambda: arrivals[po_id])
        del arrivals[po_id]
        po = procurement.get(po_id)
        if to_store:
            metrics.accumulate()
            metrics.outstanding -= po.qty
        if not po.is_open:
            return  # re-sourced or closed: the late goods are refused at the door
        q = min(qty, po.remaining)
        if not model.refused(lambda: procurement.receive(po_id, q), f"po:{po_id}"):
            return
        model.physical.receive(po.sku, po.location, q)
        if to_store and q:
            model.stores.replenished(po.location, np.array([po.sku], dtype=np.intp))
        if po.state is POState.PARTIAL:
            procurement.close_short(po_id)
        if model.physical.waiting[po.sku, po.location]:
            model.stores.serve_waiting(po.sku, po.location)

    def _until(self, when: Any) -> Generator[simpy.Event, Any, None]:
        """Wait until the time `when()` gives, again after each interruption (expediting
        moves it)."""
        env = self.model.env
        while True:
            try:
                yield env.timeout(max(0.0, when() - env.now))
                return
            except simpy.Interrupt:
                continue


class Suppliers:
    """Every supplier, by code: a raised purchase order goes to its supplier; an
    escalation's new PO to the alternate, an expedited one is hurried."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        shocks = model.scenario.faults.supplier_shocks
        self.by_code = {
            spec.code: SupplierAgent(
                model,
                i,
                spec,
                [sh for sh in shocks if sh.supplier is None or sh.supplier == spec.code],
            )
            for i, spec in enumerate(model.scenario.network.suppliers)
        }
        self.arrivals: dict[int, float] = {}  # open shipments: PO id -> arrival (h)
        self.shipping: dict[int, simpy.Process] = {}
        self.raised_today: dict[tuple[int, int, int, int], int] = {}  # POs per key so far
        model.procurement.subscribe(self.escalated)

    def ship(self, po: PurchaseOrder) -> None:
        """The PO goes to its supplier, with its outcomes keyed by (supplier, sku,
        location, day raised, place among that day's POs for the pair)."""
        model = self.model
        agent = self.by_code[po.supplier]
        key = (agent.index, po.sku, po.location, int(model.env.now // 24.0))
        nth = self.raised_today.get(key, 0)
        self.raised_today[key] = nth + 1
        rng = model.streams.keyed("suppliers", *key, nth)
        self.shipping[po.id] = model.env.process(agent.deliver(po.id, rng, self.arrivals))

    def figures(self, since: float) -> dict[str, float]:
        """Supplier POs raised at or after `since` (core time, s) and what the escalation
        rule did about delays from then on: re-sourced, expedited, or decided to wait."""
        model = self.model
        pos = [po for po in model.procurement.pos if po.raised_at >= since]
        acts = [d.outcome for d in model.core.audit.of("po.escalation") if d.at >= since]
        return {
            "supplier_pos": float(len(pos)),
            "pos_resourced": float(sum(a.startswith("resourced") for a in acts)),
            "pos_expedited": float(sum(a.startswith("expedited") for a in acts)),
            "escalations_waited": float(sum(a.startswith("wait") for a in acts)),
        }

    def escalated(self, action: str, po: PurchaseOrder) -> None:
        """The core's escalation acted: a re-sourced remainder ships from the alternate;
        an expedited PO's remaining wait is cut by the rule's factor."""
        model = self.model
        if action == "resourced":
            self.ship(po)
            return
        if action == "expedited" and po.id in self.arrivals:
            now = model.env.now
            rule = model.core.rules.current("supplier_escalation", now * HOUR)
            factor = float(rule["expedite_lead_time_factor"])
            self.arrivals[po.id] = now + (self.arrivals[po.id] - now) * factor
            process = self.shipping[po.id]
            if process is not model.env.active_process:  # its own notice: it reads the new time
                process.interrupt("expedited")
