"""How a store works under each operating model: its tills sync in real time or in
batches, its receipts reach the core through the API or ride the till sync, and walk-ins
who find the shelf short leave or wait. Strategies picked once, when the twin is built
(`twin.operating`); the store (`twin.agents.store`) calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from orchestrator import MovementKind

if TYPE_CHECKING:
    from .agents.store import DeliveryLine, StoreAgent, Stores


class TillSync(Protocol):
    """How a store's tills get what they recorded to the core; `at_once`: each sale leaves
    the moment it is recorded (so a fleet's walk-in sales of an interval can travel as one
    envelope)."""

    at_once: bool

    def recorded(self, store: StoreAgent, now: float) -> None: ...
    def needs_timer(self, store: StoreAgent) -> bool: ...
    def first_sync_h(self, store: StoreAgent) -> float: ...
    def every_h(self) -> float: ...


class RealTimeSync:
    """Orchestrated: a fact goes out the moment it is recorded; a till that can go
    offline also retries on a timer to send what waited."""

    at_once = True

    def __init__(self, retry_h: float) -> None:
        self.retry_h = retry_h

    def recorded(self, store: StoreAgent, now: float) -> None:
        if not store.offline(now):
            store.flush()

    def needs_timer(self, store: StoreAgent) -> bool:
        return bool(store.tills_down)

    def first_sync_h(self, store: StoreAgent) -> float:
        return 0.0

    def every_h(self) -> float:
        return self.retry_h


class BatchSync:
    """Legacy: tills sync every `interval_h`, each store at its own offset."""

    at_once = False

    def __init__(self, interval_h: float) -> None:
        self.interval_h = interval_h

    def recorded(self, store: StoreAgent, now: float) -> None:
        """Nothing yet: it waits for the next sync."""

    def needs_timer(self, store: StoreAgent) -> bool:
        return True

    def first_sync_h(self, store: StoreAgent) -> float:
        return float(store.model.streams.network.uniform(0, self.interval_h))

    def every_h(self) -> float:
        return self.interval_h


class StoreReceipts(Protocol):
    """How a store's receipt of a DC delivery reaches the core."""

    def book(self, store: StoreAgent, dc: int, lines: list[DeliveryLine]) -> None: ...


class ApiReceipts:
    """Orchestrated: the receipt is scanned and booked through the API at once."""

    def book(self, store: StoreAgent, dc: int, lines: list[DeliveryLine]) -> None:
        store.model.core.move_lines(
            MovementKind.TRANSFER_IN,
            store.loc,
            [k for k, _q, _p in lines],
            [q for _k, q, _p in lines],
            counterparty=dc,
            actor="transfer",
        )


class TillReceipts:
    """Legacy: the receipt rides the store's next till sync, line by line."""

    def book(self, store: StoreAgent, dc: int, lines: list[DeliveryLine]) -> None:
        for k, q_sys, _q_phys in lines:
            store.record("transfer.received", k, q_sys)


class UnmetDemand(Protocol):
    """What walk-ins who find the shelf short do."""

    def walk_out(self, stores: Stores, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None: ...
    def after_sale(
        self, stores: Stores, k: np.ndarray, s: np.ndarray, unmet: np.ndarray
    ) -> None: ...


class LostSales:
    """They leave: the units are lost sales."""

    def walk_out(self, stores: Stores, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        lost = int(unmet.sum())
        metrics = stores.model.metrics
        metrics.counts.store_lost += lost
        metrics.lost(k, unmet)
        metrics.day_lost += lost

    def after_sale(self, stores: Stores, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        """Nobody waits."""


class Backorders:
    """They wait: served as stock reaches the shelf, known to the order system at once
    (validation networks)."""

    def walk_out(self, stores: Stores, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        stores.model.physical.keep_waiting(k, s, unmet)
        stores.backorders[k, s] += unmet

    def after_sale(self, stores: Stores, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        stores.model.store_review.customers_waiting(k, s, unmet)
