"""The store fleet's till sales as envelopes: one envelope per walk-in interval, a
sub-stream per store, and the middleware's faults kept per store stream (latency,
duplicates, reordering, outages); and the nightly counts booked as one envelope. Each is
checked against what the per-store, per-count path does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orchestrator import MovementKind
from orchestrator.envelope import Envelope
from scenarios import load, resolve
from scenarios.loader import deep_merge
from twin.model import RetailTwin

from .test_agents import TINY

STORES = 3
DC = STORES


def fleet(**faults: Any) -> RetailTwin:
    """Three stores, one DC, one sku, nobody buying unless a test says so; latency 2 s."""
    data = deep_merge(
        TINY,
        {
            "network": {"stores": {"count": STORES, "initial_units": 5}},
            "faults": {
                "middleware_latency_s": {"dist": "fixed", "mean": 2},
                "middleware_batch_s": 5,
                **faults,
            },
        },
    )
    sc = load(data)
    return RetailTwin(sc, resolve(sc.policy, "orchestrated"), 1)


def spy(model: RetailTwin) -> list[tuple[float, Any]]:
    """What reaches the core's bus from the middleware: (hour, event or envelope)."""
    log: list[tuple[float, Any]] = []
    deliver = model.deliver

    def tap(msg: Any) -> None:
        log.append((model.env.now, msg))
        deliver(msg)

    model.deliver = tap  # type: ignore[method-assign]
    return log


def sell(model: RetailTwin, at: float, units: list[int]) -> None:
    """Walk-ins buying units[i] of the sku at store i at hour `at`."""

    def come() -> Any:
        yield model.env.timeout(at - model.env.now)
        cells = np.arange(STORES)  # sku 0: cell = store
        model.stores.serve_walk_ins(cells, np.asarray(units, dtype=np.int64))

    model.env.process(come())


def on_hand(model: RetailTwin) -> list[int]:
    led = model.core.ledger
    return [led.position(0, s).on_hand for s in range(STORES)]


def test_an_interval_of_every_stores_sales_reaches_the_core_as_one_envelope() -> None:
    model = fleet()
    log = spy(model)
    sell(model, 10.0, [2, 1, 3])
    model.env.run(until=11.0)
    assert len(log) == 1
    t, env = log[0]
    assert isinstance(env, Envelope)
    assert t == pytest.approx(10.0 + 2 / 3600)  # the latency, no more
    assert env.stream.tolist() == [0, 1, 2] and env.qty.tolist() == [2, 1, 3]
    assert on_hand(model) == [3, 4, 2]
    assert [model.stores.lag_s(s) for s in range(STORES)] == [0.0] * STORES
    assert not model.stores.unapplied.any()
    assert model.core.bus.events_lost() == 0


def test_a_store_whose_tills_are_down_sends_its_own_event_when_back_and_the_rest_ride_on() -> None:
    model = fleet(pos_outages=[{"start_h": 9.5, "duration_h": 1.0, "stores": [1]}])
    log = spy(model)
    sell(model, 10.0, [2, 1, 3])
    model.env.run(until=10.4)
    assert [m.stream.tolist() for _t, m in log] == [[0, 2]]  # store 1 waits at its till
    assert on_hand(model) == [3, 5, 2]
    assert model.stores.lag_s(1) > 0
    model.env.run(until=12.0)  # back online at 10.5: its till's retry sends the sale
    assert on_hand(model) == [3, 4, 2]
    assert log[-1][1].type == "stock.sold.batch" and log[-1][1].location == 1
    assert model.stores.lag_s(1) == 0.0 and model.core.bus.events_lost() == 0


def test_a_middleware_outage_holds_each_stores_stream_and_nothing_is_lost() -> None:
    model = fleet(middleware_outages=[{"start_h": 9.99, "duration_h": 0.5}])
    log = spy(model)
    sell(model, 10.0, [2, 1, 3])
    model.env.run(until=10.45)
    assert log == [] and on_hand(model) == [5, 5, 5]
    model.env.run(until=11.0)
    assert all(t >= 10.49 for t, _m in log)
    assert on_hand(model) == [3, 4, 2]
    assert model.core.bus.events_lost() == 0


def test_duplicated_store_streams_are_dropped_by_the_bus_and_applied_once() -> None:
    model = fleet(duplicate_rate=1.0)
    sell(model, 10.0, [2, 1, 3])
    model.env.run(until=11.0)
    assert on_hand(model) == [3, 4, 2]
    assert model.core.bus.counters.duplicates_dropped == STORES
    assert model.core.bus.events_lost() == 0


def test_streams_due_far_apart_travel_in_separate_envelopes_none_before_its_time() -> None:
    model = fleet()
    sent: list[tuple[float, Envelope]] = []
    model.middleware._enqueue = lambda t, msg: sent.append((t, msg))  # type: ignore[method-assign]
    env = model.stores.pos.emit(MovementKind.SALE, [0, 1, 2], [0, 0, 0], [1, 1, 1], 0.0)
    due = np.array([1.0, 1.0 + 3 / 3600, 1.0 + 9 / 3600])  # 0 s, 3 s and 9 s apart
    model.middleware._schedule(env, due.copy())
    assert [(round(t * 3600, 6), m.stream.tolist()) for t, m in sent] == [
        (round(due[1] * 3600, 6), [0, 1]),  # within 5 s of the first: together, at the last
        (round(due[2] * 3600, 6), [2]),
    ]


def test_held_back_streams_are_applied_in_sequence_per_store() -> None:
    model = fleet(reorder_rate=1.0)  # every stream held back a random while
    sell(model, 10.0, [1, 1, 1])
    sell(model, 10.01, [1, 1, 1])
    model.env.run(until=14.0)
    assert on_hand(model) == [3, 3, 3]
    assert model.core.bus.events_lost() == 0
    assert not model.core.bus.outstanding_dead_letters()


def test_nightly_counts_in_one_pass_find_and_fix_what_counting_one_by_one_does() -> None:
    """Two twins on the same seed: the night's counts in one pass and one at a time end
    with the same ledger, physical record errors and count log (no miscounts: those are
    drawn per location and night in one pass, per position one at a time)."""
    over = [
        "horizon_days=6",
        "network.stores.count=4",
        "skus.count=30",
        "physical.count_error_rate=0",
    ]
    results = []
    for one_by_one in (False, True):
        model = RetailTwin(
            load("baseline", overrides=over), resolve(load("baseline").policy, "orchestrated"), 7
        )
        control = model.inventory_control
        if one_by_one:

            def count_many(targets: list, reason: str, c: Any = control) -> None:
                for k, loc, why in targets:
                    c.count(k, loc, reason, why)

            control.count_many = count_many  # type: ignore[method-assign]
        model.env.run(until=6 * 24.0)
        led = model.core.ledger
        results.append(
            (
                led.live_balances(),
                {k: v.tolist() for k, v in model.physical.errors.items()},
                sorted(control.log),
            )
        )
    assert results[0] == results[1]
    assert sum(wrong for *_, wrong in results[0][2]) >= 3  # counts that found errors
