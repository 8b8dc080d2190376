"""Build the retail network of a scenario: catalog, lanes, demand rates, reorder levels.

Stores come first in the location index (0..n_stores−1), then fulfilment centres
(DCs, dark stores, 3PL sites). Arrays are indexed [sku, location].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator import Catalog, LaneNetwork
from scenarios.schema import FulfilmentCentre, Replenishment, Scenario


@dataclass(slots=True)
class RetailNetwork:
    """The network a scenario describes, built: the core's catalogue and lanes, which
    location is where, and what customers demand at each."""

    catalog: Catalog
    lanes: LaneNetwork
    n_sku: int
    n_store: int
    n_loc: int
    store_region: list[str]
    loc_region: list[str]
    sites: list[FulfilmentCentre]  # fulfilment centres in location order after the stores
    region_dc: dict[str, int]  # region -> location id of the site restocking its stores
    zones: list[str]
    zone_region: list[str]
    lam_store: np.ndarray  # [sku, store] mean walk-in units per day
    popularity: np.ndarray  # [sku] probabilities for online lines
    std_cost: np.ndarray  # [sku] cents
    site_online_rate: np.ndarray  # [sku] online units a day at each site that ships online
    stores_by_region: dict[str, list[int]]
    # [sku, store] mean click-and-collect units a day, which stores plan for with walk-ins
    lam_pickup: np.ndarray
    # a data package's network (`twin.data.network`) sets these; a generated one leaves None
    sku_supplier: list[str] | None = None  # [sku] the supplier that restocks it
    store_hours: list[tuple[float, float]] | None = None  # [store] opening, closing hour
    store_pickers: list[int] | None = None  # [store]
    store_lane_h: np.ndarray | None = None  # [store] mean DC → store transit, hours
    levels: tuple[np.ndarray, np.ndarray] | None = None  # (s, S) [sku, location]
    opening: np.ndarray | None = None  # [sku, location] opening stock (the snapshot)
    on_order: np.ndarray | None = None  # [sku, location] units on order at the start
    lam_draw: np.ndarray | None = None  # [sku, store] base walk-in rates the demand draws from
    package: Any = None  # `twin.data.network.PackageDemand`: shapes, calendar, replay

    def supplier_of(self, sku: int) -> str | None:
        """The supplier restocking a sku (a data package's); None: the scenario's first."""
        return None if self.sku_supplier is None else self.sku_supplier[sku]

    def shrink_base(self) -> np.ndarray:
        """[sku, store] units a day on which shrink is a share of sales: a store's walk-in
        and click-and-collect units, scaled up per sku so the stores carry the network's
        whole sales (shipped online units included). Assumed: shrink happens on store
        shelves, where NRF finds most of it; DCs are not robbed."""
        base = self.lam_store + self.lam_pickup
        at_stores = base.sum(axis=1)
        n_ship = sum(1 for s in self.sites if s.ships_online)
        total = at_stores + self.site_online_rate * n_ship
        scale = np.divide(total, at_stores, out=np.ones_like(total), where=at_stores > 0)
        return base * scale[:, None]

    def daily_rate(self, sku: int, loc: int) -> float:
        """Mean daily demand a location serves (stores: walk-ins and click and collect;
        sites: their stores' + online orders shipped)."""
        if loc < self.n_store:
            return float(self.lam_store[sku, loc] + self.lam_pickup[sku, loc])
        region = self.loc_region[loc]
        stores = [
            i
            for i in range(self.n_store)
            if self.store_region[i] == region and self.region_dc.get(region) == loc
        ]
        lam = self.lam_store[sku, stores] + self.lam_pickup[sku, stores]
        rate = float(lam.sum()) if stores else 0.0
        site = self.sites[loc - self.n_store]
        return rate + (float(self.site_online_rate[sku]) if site.ships_online else 0.0)

    def reorder_levels(
        self, replenishment: Replenishment, loc: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(s, S) in units for every sku at a location: from unit levels where the scenario
        gives them (S alone: base stock, s = S − 1), else from days of cover."""
        store = loc < self.n_store
        s_units = replenishment.store_s_units if store else replenishment.dc_s_units
        S_units = replenishment.store_S_units if store else replenishment.dc_S_units
        if self.levels is not None and S_units is None:  # a package's (or derived) levels
            return self.levels[0][:, loc].copy(), self.levels[1][:, loc].copy()
        if S_units is not None:
            big = np.full(self.n_sku, S_units, dtype=np.int64)
            low = (
                np.maximum(big - 1, 0)
                if s_units is None
                else np.full(self.n_sku, s_units, np.int64)
            )
            return low, big
        rates = (
            (self.lam_store[:, loc] + self.lam_pickup[:, loc]).astype(float)
            if store
            else self.daily_rates(loc)
        )
        s_days, S_days = (
            (replenishment.store_s_days, replenishment.store_S_days)
            if store
            else (replenishment.dc_s_days, replenishment.dc_S_days)
        )
        s = np.ceil(s_days * rates).astype(np.int64)
        S = np.maximum(np.ceil(S_days * rates).astype(np.int64), s + 1)
        return s, S

    def daily_rates(self, loc: int) -> np.ndarray:
        """`daily_rate` of every sku at a location."""
        return np.array([self.daily_rate(k, loc) for k in range(self.n_sku)])

    def returns_location(self, zone: str) -> int:
        """Where an online customer in `zone` sends a return: their region's DC."""
        region = self.zone_region[self.zones.index(zone)]
        return self.region_dc.get(region, self.n_store if self.sites else 0)


def build(scenario: Scenario, rng: np.random.Generator) -> RetailNetwork:
    """Catalog, lane graph and demand rates from a validated scenario."""
    net = scenario.network
    cat = Catalog()
    n_sku = scenario.skus.count
    ranks = np.arange(1, n_sku + 1, dtype=float)
    pop = ranks ** (-scenario.skus.popularity_skew)
    pop /= pop.sum()
    cv = scenario.skus.cost_cv
    if cv > 0:
        s2 = math.log1p(cv * cv)
        costs = rng.lognormal(
            math.log(scenario.skus.cost_cents_mean) - s2 / 2, math.sqrt(s2), n_sku
        )
    else:
        costs = np.full(n_sku, scenario.skus.cost_cents_mean)
    costs = np.maximum(np.rint(costs), 1).astype(np.int64)
    class_names = list(scenario.skus.classes)
    class_p = np.array([scenario.skus.classes[c] for c in class_names])
    classes = [class_names[i] for i in rng.choice(len(class_names), n_sku, p=class_p)]
    for k in range(n_sku):
        cat.add_sku(f"SKU-{k:05d}", int(costs[k]), int(costs[k] * scenario.skus.markup), classes[k])

    regions = net.regions
    store_region = [regions[i % len(regions)] for i in range(net.stores.count)]
    for i, r in enumerate(store_region):
        cat.add_location(f"S{i:04d}", "store", region=r)
    sites = [*net.dcs, *net.dark_stores, *net.three_pl]
    kinds = (
        ["dc"] * len(net.dcs) + ["dark_store"] * len(net.dark_stores) + ["3pl"] * len(net.three_pl)
    )
    for site, kind in zip(sites, kinds, strict=True):
        cat.add_location(site.code, kind, region=site.region)
    cat.add_channel("store", "store")
    for ch in scenario.channels:
        cat.add_channel(ch.code, ch.kind)

    n_store = net.stores.count
    n_loc = len(cat.locations)
    loc_region = [loc.region for loc in cat.locations]
    region_dc: dict[str, int] = {}
    for j, site in enumerate(sites):
        if site.serves_stores and site.region not in region_dc:
            region_dc[site.region] = n_store + j
    fallback = next((n_store + j for j, s in enumerate(sites) if s.serves_stores), None)
    for r in regions:
        if r not in region_dc and fallback is not None:
            region_dc[r] = fallback  # a region without its own DC is served from another

    lanes = LaneNetwork(cat)
    ln = net.lanes
    zones, zone_region = [], []
    for r in regions:
        for z in range(ln.zones_per_region):
            zones.append(f"{r}-z{z + 1}")
            zone_region.append(r)
    for zone, zr in zip(zones, zone_region, strict=True):
        for site in sites:
            if not site.ships_online:
                continue
            extra = 0.0 if site.region == zr else ln.cross_region_extra_h
            cost = ln.cost_cents_per_unit_dc * (1.0 if site.region == zr else 1.3)  # assumed
            lanes.add_lane(site.code, zone, ln.dc_to_customer_h.mean + extra, cost)
        for i in range(n_store):
            if store_region[i] == zr:
                lanes.add_lane(
                    f"S{i:04d}", zone, ln.store_to_customer_h.mean, ln.cost_cents_per_unit_store
                )
    # store sizes vary around 1 (lognormal with the scenario's cv)
    s2 = math.log1p(net.stores.size_cv**2)
    size = rng.lognormal(-0.5 * s2, math.sqrt(s2), n_store) if s2 > 0 else np.ones(n_store)
    lam = scenario.demand.store_units_per_sku_day * n_sku * pop[:, None] * size[None, :]
    stores_by_region: dict[str, list[int]] = {}
    for i, region in enumerate(store_region):
        stores_by_region.setdefault(region, []).append(i)
    # click and collect: customers of every zone alike (`twin.demand`), collecting at a
    # store of their zone's region, any of them alike; a region without stores ships
    pickup_units = sum(
        c.orders_per_day * c.lines_per_order * c.bopis_share for c in scenario.channels
    )
    lam_pickup = np.zeros((n_sku, n_store))
    collected = 0.0
    for region, members in stores_by_region.items():
        share = zone_region.count(region) / len(zones)
        lam_pickup[:, members] = (pickup_units * share / len(members)) * pop[:, None]
        collected += pickup_units * share
    # online demand shipped from each fulfilment site, for DC replenishment rates
    n_online = max(1, sum(1 for s in sites if s.ships_online))
    online_units = sum(c.orders_per_day * c.lines_per_order for c in scenario.channels)
    online_units -= collected
    return RetailNetwork(
        cat,
        lanes,
        n_sku,
        n_store,
        n_loc,
        store_region,
        loc_region,
        sites,
        region_dc,
        zones,
        zone_region,
        lam,
        pop,
        costs,
        online_units * pop / n_online,
        stores_by_region,
        lam_pickup,
    )
