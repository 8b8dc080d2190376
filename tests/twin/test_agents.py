"""Agents on their own, on a tiny model (one store, one DC, one sku, nobody buying), as
SimPy's tests do: drive one agent and assert its timeline, e.g.
`assert log == [("raised", 5.0, 10), ("received", 53.0, 10)]`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from orchestrator import InventoryEvent, MovementKind
from orchestrator.replenishment import PurchaseOrder
from scenarios import load, resolve
from scenarios.loader import deep_merge
from scenarios.schema import ChannelSpec
from twin.agents.channel import Order
from twin.model import RetailTwin
from twin.physical import PhysicalStock

TINY: dict[str, Any] = {
    "name": "tiny",
    "horizon_days": 10,
    "skus": {"count": 1, "cost_cv": 0},
    "channels": [],
    "network": {
        "regions": ["r"],
        "stores": {"count": 1, "size_cv": 0, "initial_units": 5},
        "dcs": [{"code": "DC", "region": "r", "initial_units": 100, "ships_online": False}],
        "suppliers": [
            {
                "code": "SUP",
                "lead_time_days": {"dist": "fixed", "mean": 2},
                "late_days": {"dist": "fixed", "mean": 1},
                "on_time_in_full": 1.0,
                "short_ship_fraction": 0.5,
            }
        ],
        "lanes": {"dc_to_store_h": {"dist": "fixed", "mean": 20}},
    },
    "demand": {"store_units_per_sku_day": 0, "store_return_rate": 0},
    "physical": {"shrink_share_of_sales": 0, "receiving_error_rate": 0},
    "faults": {
        "duplicate_rate": 0,
        "reorder_rate": 0,
        "middleware_latency_s": {"dist": "fixed", "mean": 0},
        "middleware_batch_s": 0,  # each store's batch its own event (envelopes: below)
    },
    "policy": {"counts_per_store_day": 0},
}
STORE, DC = 0, 1


def tiny(policy: str = "orchestrated", **over: Any) -> RetailTwin:
    sc = load(deep_merge(TINY, over))
    return RetailTwin(sc, resolve(sc.policy, policy), 1)


def timeline(po: PurchaseOrder) -> list[tuple[str, float, int]]:
    """A purchase order's life in hours: raised, advance shipping notices, receipts."""
    log = [("raised", po.raised_at / 3600, po.qty)]
    log += [("asn", a.at / 3600, a.qty) for a in po.asns]
    log += [("received", r.at / 3600, r.qty) for r in po.receipts]
    return log


# ----------------------------------------------------------------------- supplier
@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (DC, [("raised", 5.0, 10), ("asn", 29.0, 10), ("received", 53.0, 10)]),
        (STORE, [("raised", 5.0, 10), ("received", 53.0, 10)]),  # stores get no notice
    ],
)
def test_a_supplier_with_a_fixed_lead_time_delivers_two_days_after_the_order(
    location: int, expected: list[tuple[str, float, int]]
) -> None:
    model = tiny()
    model.env.run(until=5.0)
    po = model.procurement.raise_po(0, location, 10)
    model.suppliers.ship(po)
    model.env.run(until=100.0)
    assert timeline(po) == expected
    assert model.physical.shelf[0, location] == (100 if location == DC else 5) + 10
    assert model.physical.received[0] == 10


def test_a_supplier_that_misses_on_time_in_full_is_a_day_late_and_ships_half() -> None:
    model = tiny(
        network={
            **TINY["network"],
            "suppliers": [{**TINY["network"]["suppliers"][0], "on_time_in_full": 0.0}],
        }
    )
    model.env.run(until=5.0)
    po = model.procurement.raise_po(0, DC, 10)
    model.suppliers.ship(po)
    model.env.run(until=100.0)
    assert timeline(po) == [("raised", 5.0, 10), ("asn", 53.0, 5), ("received", 77.0, 5)]
    assert po.state.value == "closed_short"


def test_a_supply_shock_stretches_the_lead_time_of_orders_raised_inside_it() -> None:
    shock = {
        "supplier_shocks": [
            {"supplier": "SUP", "start_day": 0, "days": 1, "lead_time_multiplier": 2.0}
        ]
    }
    model = tiny(faults={**TINY["faults"], **shock})
    model.env.run(until=5.0)
    inside = model.procurement.raise_po(0, STORE, 4)
    model.suppliers.ship(inside)
    model.env.run(until=30.0)
    after = model.procurement.raise_po(0, STORE, 4)
    model.suppliers.ship(after)
    model.env.run(until=200.0)
    assert timeline(inside) == [("raised", 5.0, 4), ("received", 101.0, 4)]
    assert timeline(after) == [("raised", 30.0, 4), ("received", 78.0, 4)]


def test_a_receipt_the_core_refuses_is_an_exception_record_not_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tiny()
    po = model.procurement.raise_po(0, DC, 10)
    model.suppliers.ship(po)

    def refuse(po_id: int, qty: int) -> None:
        from orchestrator.errors import InvalidTransition

        raise InvalidTransition(f"po:{po_id}: is closed, cannot receive goods")

    monkeypatch.setattr(model.procurement, "receive", refuse)
    model.env.run(until=100.0)
    [record] = [e for e in model.core.exceptions.items if e.kind == "refused_command"]
    assert (record.subject, record.detail) == ("po:0", "po:0: is closed, cannot receive goods")
    assert record.is_open and model.physical.received[0] == 0  # nothing reached the shelf


# ----------------------------------------------------------------------- store
def sent(model: RetailTwin) -> list[tuple[float, str, int, int]]:
    """What the store's tills hand to the middleware: (hour, type, sku, units)."""
    log: list[tuple[float, str, int, int]] = []
    send = model.middleware.send

    def spy(ev: InventoryEvent) -> None:
        log.append((model.env.now, ev.type, ev.sku, ev.qty))
        send(ev)

    model.middleware.send = spy  # type: ignore[method-assign]
    return log


def truck(model: RetailTwin, units: int) -> None:
    """The DC puts `units` of the sku on a truck to the store, physically and in the core."""
    model.physical.dispatch(np.array([0]), DC, np.array([units]))
    model.core.move_lines(MovementKind.TRANSFER_OUT, DC, [0], [units], counterparty=STORE)


def walk_ins(model: RetailTwin, at: list[tuple[float, int]]) -> None:
    """Customers buying `units` of the sku at the store at each time."""

    def come() -> Any:
        for t, units in at:
            yield model.env.timeout(t - model.env.now)
            model.stores.serve_walk_ins(np.array([0]), np.array([units]))

    model.env.process(come())


def test_a_real_time_till_sends_each_sale_at_once_and_what_waited_when_back_online() -> None:
    outage = {"pos_outages": [{"start_h": 11.0, "duration_h": 1.0, "stores": [0]}]}
    model = tiny(faults={**TINY["faults"], **outage})
    log = sent(model)
    walk_ins(model, [(10.0, 2), (11.5, 1), (11.75, 1)])
    model.env.run(until=13.0)
    assert log == [(10.0, "stock.sold.batch", -1, 2), (12.0, "stock.sold.batch", -1, 2)]
    assert model.physical.shelf[0, STORE] == 5 - 4
    assert model.stores[STORE].lag_s() == 0.0  # everything applied: nothing unsynced


def test_a_legacy_till_sends_its_sales_at_the_next_half_hourly_sync() -> None:
    model = tiny("legacy")
    log = sent(model)
    walk_ins(model, [(10.0, 2), (10.05, 1), (10.2, 2)])
    model.env.run(until=11.0)
    first = log[0][0]
    assert 10.0 < first < 10.5  # the store's own offset in the half hour (seed 1: 10.087)
    assert log == [(first, "stock.sold.batch", -1, 3), (first + 0.5, "stock.sold.batch", -1, 2)]


@pytest.mark.parametrize(("policy", "booked_now"), [("orchestrated", True), ("legacy", False)])
def test_a_store_receives_a_delivery_onto_its_shelf_and_books_it_by_its_receipts_strategy(
    policy: str, booked_now: bool
) -> None:
    model = tiny(policy)
    truck(model, 3)
    model.stores[STORE].receive_delivery(DC, [(0, 3, 3)])
    assert (model.physical.shelf[0, STORE], model.physical.transit[0]) == (5 + 3, 0)
    receipts = [m for m in model.core.ledger.movements if m.kind is MovementKind.TRANSFER_IN]
    assert len(receipts) == int(booked_now)
    assert model.stores[STORE].buffer == ({} if booked_now else {("transfer.received", 0): 3})


def test_customers_waiting_at_a_store_are_served_when_a_delivery_arrives() -> None:
    model = tiny("orchestrated", demand={**TINY["demand"], "unmet": "backorder"})
    walk_ins(model, [(10.0, 8)])  # 5 on the shelf: 3 wait
    model.env.run(until=10.5)
    assert (model.physical.waiting[0, STORE], model.stores.backorders[0, STORE]) == (3, 3)
    truck(model, 4)
    model.stores[STORE].receive_delivery(DC, [(0, 4, 4)])
    model.env.run(until=11.0)
    assert (model.physical.waiting[0, STORE], model.physical.shelf[0, STORE]) == (0, 1)
    assert model.stores.backorders[0, STORE] == 0  # the core applied the sale that served them


# ----------------------------------------------------------------------- carrier
def test_a_dc_delivery_takes_the_lanes_transit_and_counts_as_a_delivery_not_a_transfer() -> None:
    model = tiny()
    model.env.run(until=6.0)
    truck(model, 2)
    model.env.process(model.carrier.deliver_store_order(STORE, DC, [(0, 2, 2)], requested_h=-2.0))
    model.env.run(until=25.9)
    assert model.physical.transit[0] == 2
    model.env.run(until=26.1)
    assert (model.physical.transit[0], model.physical.shelf[0, STORE]) == (0, 7)
    assert model.metrics.counts.store_delivery_h == [28.0]
    assert model.transfers.cycle_times_h() == []  # no workflow transfer


# ----------------------------------------------------------------------- returns
@pytest.mark.parametrize(
    ("policy", "inspected_h", "available_h"),
    [
        ("orchestrated", 55.0 + 0.5, 55.5),  # on arrival; disposed by rule at once
        ("legacy", 78.0 + 0.5, 98.0),  # the next 06:00 batch; posted in the 02:00 ERP run
    ],
)
def test_an_online_return_travels_to_the_centre_and_is_inspected_on_arrival_or_in_a_batch(
    policy: str, inspected_h: float, available_h: float
) -> None:
    centre = {"returns_centre": {"inspect_time_min": {"dist": "fixed", "mean": 30}}}
    lanes = {**TINY["network"]["lanes"], "customer_return_h": {"dist": "fixed", "mean": 24}}
    model = tiny(policy, network={**TINY["network"], **centre, "lanes": lanes})
    web = ChannelSpec(code="web", kind="web")
    order = Order("o-1", 0, web, [(0, 1)], "r-z1", 0.0, math.inf, [True], [0.0])
    model.env.process(model.returns_centre.online_return(0, 1, order, at=31.0))
    model.env.run(until=100.0)
    [case] = model.returns.cases
    steps = (case.handed_over_at, case.received_at, case.inspected_at, case.resolved_at)
    assert [t / 3600 for t in steps] == [31.0, 55.0, inspected_h, available_h]
    assert model.returns.returns_to_available_h() == [available_h - 31.0]
    assert model.physical.quarantine[0, DC] + model.physical.shelf[0, DC] == 100 + 1


# ----------------------------------------------------------------------- physical stock
def test_physical_stock_is_read_only_outside_its_own_events_and_stays_conserved() -> None:
    stock = PhysicalStock(n_sku=2, n_loc=3, n_store=2)
    stock.open_location(0, np.array([0, 1]), np.array([4, 6]))
    stock.open_location(2, np.array([0]), np.array([9, 0]))
    stock.count_opening()
    with pytest.raises(ValueError, match="read-only"):
        stock.shelf[0, 0] += 1
    served = stock.sell(np.array([0, 1]), np.array([0, 0]), np.array([5, 2]))
    assert served.tolist() == [4, 2]
    stock.keep_waiting(np.array([0]), np.array([0]), np.array([1]))
    sent = stock.send(0, 2, 3)
    stock.arrive(0, 0, sent)
    assert stock.serve_waiting(0, 0) == 1
    stock.quarantine_return(1, 2, 2)
    stock.release(1, 2, 1, sellable=True)
    stock.release(1, 2, 1, sellable=False)
    stock.lose_from_stores(np.array([[1, 0], [1, 0]]))
    assert stock.conservation_problems(["A", "B"]) == []
    assert stock.store_units == int(stock.shelf[:, :2].sum()) == 4 - 4 + 3 - 1 + 6 - 2 - 2
    assert stock.waiting_units == 0
    stock.unload(np.array([1]), np.array([1]))  # a unit off a truck that never carried it
    assert stock.conservation_problems(["A", "B"]) == [
        "physical units not conserved for sku B: 8 in vs 7 out+closing"
    ]
