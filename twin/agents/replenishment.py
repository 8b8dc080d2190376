"""The stores' replenishment review: when a store orders and from whom. The order
quantities and the inventory position are the core's (`orchestrator.replenishment`);
this room only says when a review happens and where its orders go.

One strategy is picked when the twin is built: continuous review (straight from a
supplier after every sale, under `store_policy` s-S, base-stock or r-Q; validation
networks) or a periodic review at the timetable's hour, daily or on delivery days,
ordering from the region's DC or from a supplier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from orchestrator.replenishment import order_quantities, policy_from_levels

from ..clock import daily

if TYPE_CHECKING:
    from ..model import RetailTwin

StoreOrders = dict[int, list[tuple[int, int]]]  # store -> [(sku, units)]


class StoreReview(Protocol):
    """When stores review their positions."""

    def start(self) -> None: ...

    #: whether `sale_applied` reviews anything (a periodic review waits for its day)
    reviews_sales: bool

    def sale_applied(self, store: int, skus: tuple[int, ...]) -> None: ...
    def customers_waiting(self, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None: ...


class ContinuousReview:
    """Every sale the core applies, and every customer left waiting, is reviewed at once:
    the store orders straight from a supplier under the store policy `name` (s-S,
    base-stock or r-Q, read from the position's (s, S) as the core reads it)."""

    reviews_sales = True

    def __init__(self, model: RetailTwin, name: str) -> None:
        self.model = model
        self.name = name

    def start(self) -> None:
        """Nothing to schedule: reviews follow events."""

    def sale_applied(self, store: int, skus: tuple[int, ...]) -> None:
        for k in skus:
            self.review(k, store)

    def customers_waiting(self, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        waiting = unmet > 0
        for kk, ss in zip(k[waiting].tolist(), s[waiting].tolist(), strict=True):
            self.review(kk, ss)

    def review(self, sku: int, store: int) -> None:
        """One position's review; a purchase order goes to its supplier."""
        model = self.model
        stores = model.stores
        policy = policy_from_levels(
            self.name, int(stores.reorder_point[sku, store]), int(stores.order_up_to[sku, store])
        )
        po = model.procurement.review(
            sku,
            store,
            policy,
            backorders=int(stores.backorders[sku, store]),
            supplier=model.network.supplier_of(sku),
        )
        if po is not None:
            model.suppliers.ship(po)


class PeriodicReview:
    """Stores are reviewed once a day at the timetable's store review hour, on the given
    weekdays (every day, or the delivery days); `source` places the orders."""

    reviews_sales = False

    def __init__(self, model: RetailTwin, weekdays: frozenset[int], source: OrderSource) -> None:
        self.model = model
        self.weekdays = weekdays
        self.source = source

    def start(self) -> None:
        model = self.model
        if model.network.n_store:
            at_h = model.timetable.store_review_h
            model.env.process(daily(model.env, at_h, model.horizon_h, self.review))

    def sale_applied(self, store: int, skus: tuple[int, ...]) -> None:
        """Sales wait for the next review."""

    def customers_waiting(self, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        """Waiting customers wait for the next review."""

    def review(self) -> None:
        """Today's review, if today is a review day."""
        if int(self.model.env.now // 24) % 7 in self.weekdays:
            self.source.review(self.model)


class OrderSource(Protocol):
    """Whom a periodic review orders from."""

    def review(self, model: RetailTwin) -> None: ...


class FromDc:
    """Every store's positions at once, in numpy; the orders go to the regional DCs, which
    pick them overnight and ship at the dispatch hour."""

    def review(self, model: RetailTwin) -> None:
        net, ledger, stores = model.network, model.core.ledger, model.stores
        n_st = net.n_store
        d = ledger.dense(net.n_sku, n_st)
        for s, k in zip(*np.nonzero(~d.exists.T), strict=True):  # store by store, as before
            ledger.position(int(k), int(s))
        ip = model.procurement.levels_dense(d, stores.backorders[:, :n_st])
        policy = model.policy.replenishment.store_policy
        q = order_quantities(policy, ip, stores.reorder_point, stores.order_up_to)
        orders: StoreOrders = {}
        for s in np.flatnonzero((q > 0).any(axis=0)).tolist():
            ks = np.flatnonzero(q[:, s] > 0)
            orders[s] = list(zip(ks.tolist(), q[ks, s].tolist(), strict=True))
        model.env.process(model.sites.dispatch(orders, model.env.now))


class FromSupplier:
    """Store by store, units on order counting; every order is a purchase order to a
    supplier (validation networks)."""

    def review(self, model: RetailTwin) -> None:
        net, stores = model.network, model.stores
        policy = model.policy.replenishment.store_policy
        every_sku = list(range(net.n_sku))
        orders: StoreOrders = {}
        for s in range(net.n_store):
            ip = model.procurement.levels_at(every_sku, s, stores.backorders[:, s])
            q = order_quantities(policy, ip, stores.reorder_point[:, s], stores.order_up_to[:, s])
            ks = np.flatnonzero(q > 0)
            if ks.size:
                orders[s] = list(zip(ks.tolist(), q[ks].tolist(), strict=True))
        for s, lines in orders.items():
            for k, q in lines:
                po = model.procurement.raise_po(k, s, q, supplier=net.supplier_of(k))
                model.suppliers.ship(po)
