"""Suppliers: each ships its purchase orders after a lead time, sometimes late and short,
slower and less reliable during a supply shock."""

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
    full arrives late and short. A DC gets an advance shipping notice the day before."""

    model: RetailTwin

    def __init__(self, model: RetailTwin, spec: SupplierSpec, shocks: list[SupplierShock]) -> None:
        super().__init__(model)
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

    def deliver(self, po_id: int) -> Generator[simpy.Event, Any, None]:
        """Ship a PO: the ASN, the truck, then the receipt (the late goods of a PO closed
        meanwhile are refused at the door)."""
        model = self.model
        env, procurement, spec = model.env, model.procurement, self.spec
        metrics = model.metrics
        po = procurement.get(po_id)
        rng = model.streams.suppliers
        mult, otif = self.shock(env.now / 24.0)
        otif = spec.on_time_in_full if otif is None else otif
        lead_h = float(sample(spec.lead_time_days, rng)) * 24.0 * mult
        qty = po.qty
        if rng.random() >= otif:
            lead_h += float(sample(spec.late_days, rng)) * 24.0
            qty = max(1, round(po.qty * (1 - spec.short_ship_fraction)))
        to_store = po.location < model.network.n_store
        if to_store:
            metrics.accumulate()
            metrics.outstanding += po.qty
        arrive = env.now + lead_h
        if not to_store and arrive - ASN_BEFORE_ARRIVAL_H > env.now:
            yield env.timeout(arrive - ASN_BEFORE_ARRIVAL_H - env.now)
            po = procurement.get(po_id)
            if po.is_open:
                procurement.asn(po_id, qty, arrive * HOUR)
        yield env.timeout(max(0.0, arrive - env.now))
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


class Suppliers:
    """Every supplier, by code: a raised purchase order goes to its supplier."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        shocks = model.scenario.faults.supplier_shocks
        self.by_code = {
            spec.code: SupplierAgent(
                model,
                spec,
                [sh for sh in shocks if sh.supplier is None or sh.supplier == spec.code],
            )
            for spec in model.scenario.network.suppliers
        }

    def ship(self, po: PurchaseOrder) -> None:
        self.model.env.process(self.by_code[po.supplier].deliver(po.id))
