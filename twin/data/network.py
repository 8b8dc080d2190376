"""The network of a scenario that names a data package (`network.package`): the retailer's
own catalogue, locations, lanes, starting stock and reorder levels, and demand from the
fit (or, in replay, the recorded sales day by day).

Reorder levels, where the package's `policy` table does not give them (the derived rule;
`z` is the standard normal quantile of `network.package.service_level`, μ a position's
planning rate: its fitted rate times the mean of its class's shape over the run):

- a store, reviewed every R = 7 / (delivery days a week) days and restocked from its
  region's DC after L = (8 h from review to dispatch + the lane's transit) / 24 days:
  s = ⌈μP + z√(μP)⌉ with P = R + L (Poisson demand over review and lead time), and
  S = s + max(⌈μR⌉, case pack);
- a site, reviewed nightly (R = 1) and bought from the sku's supplier with a lead time of
  mean L and coefficient of variation v: s = ⌈μP + z√(μP + μ²(vL)²)⌉ with P = L + R, and
  S = s + max(⌈μ · dc_cycle_days⌉, case pack);
- a position with no demand: s = S = 0 (it never reorders; its opening stock stays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

from orchestrator import Catalog, LaneNetwork
from scenarios import ScenarioError
from scenarios.schema import Scenario

from ..network import RetailNetwork
from .fit import FitError, FitFiles, next_monday, read_fit
from .package import WALK_IN, Package, PackageError, date_of, day_of
from .shapes import shape

#: a derived DC → store lane: handling (loading, the overnight wait, unloading) plus the
#: road distance (straight line × 1.3) at 60 km/h (all assumed)
LANE_HANDLING_H = 16.0
ROAD_FACTOR = 1.3
ROAD_KMH = 60.0
REVIEW_TO_DISPATCH_H = 8.0  # store review 22:00 → DC dispatch 06:00 (the timetable's)


@dataclass(slots=True)
class Replay:
    """Recorded sales of the run's days: walk-ins per day as (cells ascending, units) with
    cell = sku × n_store + store; online orders per channel code as (day, lines, location,
    collected)."""

    walk_in: list[tuple[np.ndarray, np.ndarray]]
    online: dict[str, list[tuple[int, list[tuple[int, int]], int, bool]]]

    @property
    def units(self) -> int:
        walk = sum(int(u.sum()) for _c, u in self.walk_in)
        return walk + sum(q for orders in self.online.values() for o in orders for _k, q in o[1])


@dataclass(slots=True)
class PackageDemand:
    """What the demand processes need of a package network: the calendar date of day 0,
    each sku's class, every class's shape factor per run day, the online shape, store
    opening hours by group, and the recorded sales in replay."""

    start_day: int  # days since 1970-01-01 of the run's day 0
    sku_class: np.ndarray  # [sku] class index
    classes: list[str]
    store_factor: np.ndarray  # [class, run day]
    online_factor: np.ndarray  # [run day]
    hours: list[tuple[float, float]]  # distinct store hours
    store_hours: np.ndarray  # [store] index of `hours`
    replay: Replay | None = None


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()))


@lru_cache(maxsize=2)
def _load(folder: str, sales: bool, _stamp: tuple[tuple[str, int, int], ...]) -> Package:
    from .package import load

    return load(folder, sales=sales)


@lru_cache(maxsize=2)
def _fit(folder: str, _stamp: tuple[tuple[str, int, int], ...]) -> FitFiles:
    return read_fit(Path(folder))


def package_of(scenario: Scenario, *, sales: bool) -> Package:
    """The scenario's package, checked (kept while its files are unchanged)."""
    ref = scenario.network.package
    assert ref is not None
    folder = Path(ref.path)
    if not folder.is_dir():
        raise ScenarioError([f"network.package.path: no package folder {ref.path!r}"])
    try:
        return _load(str(folder.resolve()), sales, _fingerprint(folder))
    except PackageError as exc:
        raise ScenarioError([f"network.package: {p}" for p in exc.problems]) from None


def fit_of(scenario: Scenario) -> FitFiles:
    ref = scenario.network.package
    assert ref is not None
    folder = Path(ref.fit)
    if not folder.is_dir():
        raise ScenarioError(
            [f"network.package.fit: no fit folder {ref.fit!r} (run `omnitwin data fit`)"]
        )
    try:
        return _fit(str(folder.resolve()), _fingerprint(folder))
    except FitError as exc:
        raise ScenarioError([str(exc)]) from None


def start_day(scenario: Scenario, fit: FitFiles) -> int:
    """Day 0 of the run: the scenario's start date, else the Monday after the history
    (fitted demand) or the Monday starting the history's last `horizon_days` (replay)."""
    ref = scenario.network.package
    assert ref is not None
    if ref.start_date is not None:
        return day_of(ref.start_date)
    if scenario.demand.mode == "replay":
        first = fit.last_day + 1 - math.ceil(scenario.horizon_days)
        return first - int((first + 3) % 7)  # back to its Monday
    return next_monday(fit.last_day)


def _check(scenario: Scenario, package: Package) -> None:
    """The scenario's network agrees with its package (the fit writes it so)."""
    net = scenario.network
    problems = []
    n_store, n_sku = len(package.stores), len(package.skus.code)
    if net.stores.count != n_store:
        problems.append(
            f"network.stores.count: {net.stores.count}, but the package has {n_store} stores"
        )
    if scenario.skus.count != n_sku:
        problems.append(f"skus.count: {scenario.skus.count}, but the package has {n_sku} skus")
    if sorted(net.regions) != sorted(package.regions):
        problems.append(
            f"network.regions: {net.regions}, but the package's regions are {package.regions}"
        )
    kinds = {"dcs": "dc", "dark_stores": "dark_store", "three_pl": "3pl"}
    locs = package.locations
    for field, kind in kinds.items():
        have = {s.code: s.region for s in getattr(net, field)}
        want = {
            c: r for c, k, r in zip(locs.code, locs.kind, locs.region, strict=True) if k == kind
        }
        if set(have) != set(want):
            problems.append(
                f"network.{field}: {sorted(have)}, but the package's {kind} locations are"
                f" {sorted(want)}"
            )
        for code in set(have) & set(want):
            if have[code] != want[code]:
                problems.append(
                    f"network.{field}[{code}].region: {have[code]!r}, the package says"
                    f" {want[code]!r}"
                )
    suppliers = {s.code for s in net.suppliers}
    for code in sorted(set(package.skus.supplier) - suppliers):
        problems.append(f"network.suppliers: no supplier {code!r} (the package's skus name it)")
    if problems:
        raise ScenarioError(problems)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def _codes_to_index(values: list[str], index: dict[str, int]) -> np.ndarray:
    return np.array([index.get(v, -1) for v in values], dtype=np.int64)


def _rates(
    fit: FitFiles, package: Package, store_ids: dict[str, int], sku_ids: dict[str, int]
) -> np.ndarray:
    table = fit.rates
    n_sku, n_store = len(package.skus.code), len(store_ids)
    lam = np.zeros((n_sku, n_store))
    if table.num_rows == 0:
        return lam
    loc_enc = table.column("location").combine_chunks().dictionary_encode()
    sku_enc = table.column("sku").combine_chunks().dictionary_encode()
    loc_map = _codes_to_index(loc_enc.dictionary.to_pylist(), store_ids)
    sku_map = _codes_to_index(sku_enc.dictionary.to_pylist(), sku_ids)
    li = loc_map[np.asarray(loc_enc.indices.to_numpy(zero_copy_only=False))]
    ki = sku_map[np.asarray(sku_enc.indices.to_numpy(zero_copy_only=False))]
    bad = [
        f"network.package.fit: {what} {code!r} is not a store or sku of the package (fit again)"
        for what, dic, m in (
            ("location", loc_enc.dictionary, loc_map),
            ("sku", sku_enc.dictionary, sku_map),
        )
        for code, i in zip(dic.to_pylist(), m.tolist(), strict=True)
        if i < 0
    ]
    if bad:
        raise ScenarioError(bad[:20])
    lam[ki, li] = np.asarray(table.column("rate").to_numpy())
    return lam


def build_package_network(scenario: Scenario, rng: np.random.Generator) -> RetailNetwork:
    """Catalogue, locations, lanes, rates, levels and opening stock from the scenario's data
    package and its fit; `ScenarioError` naming the field where they disagree."""
    del rng  # nothing is drawn: the package says what is where
    replay = scenario.demand.mode == "replay"
    package = package_of(scenario, sales=replay)
    _check(scenario, package)
    fit = fit_of(scenario)
    ref = scenario.network.package
    assert ref is not None
    net = scenario.network
    locs, skus = package.locations, package.skus
    cat = Catalog()
    for k, code in enumerate(skus.code):
        cat.add_sku(code, int(skus.unit_cost_cents[k]), int(skus.price_cents[k]), skus.sku_class[k])
    stores = package.stores
    sites = [*net.dcs, *net.dark_stores, *net.three_pl]
    kinds = ["dc"] * len(net.dcs) + ["dark_store"] * len(net.dark_stores)
    kinds += ["3pl"] * len(net.three_pl)
    pkg_index = locs.index()
    order = stores + [pkg_index[s.code] for s in sites]  # twin location -> package location
    for j, i in enumerate(order):
        kind = "store" if j < len(stores) else kinds[j - len(stores)]
        lat = 0.0 if math.isnan(locs.latitude[i]) else float(locs.latitude[i])
        lon = 0.0 if math.isnan(locs.longitude[i]) else float(locs.longitude[i])
        cat.add_location(locs.code[i], kind, region=locs.region[i], lat=lat, lon=lon)
    cat.add_channel("store", "store")
    for ch in scenario.channels:
        cat.add_channel(ch.code, ch.kind)
    n_store, n_sku = len(stores), len(skus.code)
    n_loc = len(order)
    store_region = [locs.region[i] for i in stores]
    loc_region = [locs.region[i] for i in order]
    region_dc: dict[str, int] = {}
    for j, site in enumerate(sites):
        if site.serves_stores and site.region not in region_dc:
            region_dc[site.region] = n_store + j
    fallback = next((n_store + j for j, s in enumerate(sites) if s.serves_stores), None)
    for r in net.regions:
        if r not in region_dc and fallback is not None:
            region_dc[r] = fallback

    # lanes to customers as in a generated network; DC → store transit per store
    lanes = LaneNetwork(cat)
    ln = net.lanes
    zones, zone_region = [], []
    for r in net.regions:
        for z in range(ln.zones_per_region):
            zones.append(f"{r}-z{z + 1}")
            zone_region.append(r)
    for zone, zr in zip(zones, zone_region, strict=True):
        for site in sites:
            if site.ships_online:
                extra = 0.0 if site.region == zr else ln.cross_region_extra_h
                cost = ln.cost_cents_per_unit_dc * (1.0 if site.region == zr else 1.3)
                lanes.add_lane(site.code, zone, ln.dc_to_customer_h.mean + extra, cost)
        for i in range(n_store):
            if store_region[i] == zr:
                lanes.add_lane(
                    cat.locations[i].code,
                    zone,
                    ln.store_to_customer_h.mean,
                    ln.cost_cents_per_unit_store,
                )
    given: dict[tuple[int, int], float] = {}
    if package.lanes is not None:
        pl = package.lanes
        for o, d, h in zip(
            pl.origin.tolist(), pl.destination.tolist(), pl.transit_hours.tolist(), strict=True
        ):
            given[(o, d)] = h
    store_lane_h = np.full(n_store, ln.dc_to_store_h.mean)
    for i, p in enumerate(stores):
        dc = region_dc.get(store_region[i])
        if dc is None:
            continue
        q = order[dc]
        if (q, p) in given:
            store_lane_h[i] = given[(q, p)]
        elif not (math.isnan(locs.latitude[p]) or math.isnan(locs.latitude[q])):
            km = _km(locs.latitude[q], locs.longitude[q], locs.latitude[p], locs.longitude[p])
            store_lane_h[i] = LANE_HANDLING_H + km * ROAD_FACTOR / ROAD_KMH

    # demand: fitted base rates, shaped per class over the run's days
    store_ids = {locs.code[p]: i for i, p in enumerate(stores)}
    sku_ids = {c: k for k, c in enumerate(skus.code)}
    lam = _rates(fit, package, store_ids, sku_ids)
    classes = list(dict.fromkeys(skus.sku_class))
    sku_class = np.array([classes.index(c) for c in skus.sku_class], dtype=np.int64)
    day0 = start_day(scenario, fit)
    run_days = np.arange(day0, day0 + math.ceil(scenario.horizon_days) + 1)
    flat = np.ones(len(run_days))
    store_factor = np.stack(
        [
            shape(fit.store_shapes[c].dow, fit.store_shapes[c].months, run_days)
            if c in fit.store_shapes
            else flat
            for c in classes
        ]
    )
    online_factor = shape(fit.online_shape.dow, fit.online_shape.months, run_days)
    horizon_days = max(1, math.ceil(scenario.horizon_days))
    plan = store_factor[:, :horizon_days].mean(axis=1)[sku_class]  # [sku]
    lam_plan = lam * plan[:, None]
    share = np.array([fit.online_share.get(c, 0.0) for c in skus.code])
    pop = share / share.sum() if share.sum() > 0 else np.full(n_sku, 1.0 / n_sku)
    stores_by_region: dict[str, list[int]] = {}
    for i, region in enumerate(store_region):
        stores_by_region.setdefault(region, []).append(i)
    online_plan = float(online_factor[:horizon_days].mean())
    pickup_units = online_plan * sum(
        c.orders_per_day * c.lines_per_order * c.bopis_share for c in scenario.channels
    )
    lam_pickup = np.zeros((n_sku, n_store))
    collected = 0.0
    for region, members in stores_by_region.items():
        frac = zone_region.count(region) / len(zones)
        lam_pickup[:, members] = (pickup_units * frac / len(members)) * pop[:, None]
        collected += pickup_units * frac
    n_online = max(1, sum(1 for s in sites if s.ships_online))
    online_units = online_plan * sum(
        c.orders_per_day * c.lines_per_order for c in scenario.channels
    )
    online_units -= collected
    hours_of = []
    for p in stores:
        o, c = locs.opening_hour[p], locs.closing_hour[p]
        if math.isnan(o):
            o, c = net.stores.opening_hour, net.stores.closing_hour
        hours_of.append((float(o), float(c)))
    distinct = list(dict.fromkeys(hours_of))
    pickers = [int(locs.pickers[p]) or net.stores.pickers for p in stores]

    network = RetailNetwork(
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
        lam_plan,
        pop,
        skus.unit_cost_cents.astype(np.int64),
        online_units * pop / n_online,
        stores_by_region,
        lam_pickup,
    )
    network.sku_supplier = list(skus.supplier)
    network.store_hours = hours_of
    network.store_pickers = pickers
    network.store_lane_h = store_lane_h
    network.levels = _levels(scenario, package, network, order, store_lane_h)
    opening = np.zeros((n_sku, n_loc), dtype=np.int64)
    on_order = np.zeros((n_sku, n_loc), dtype=np.int64)
    twin_of = np.full(len(locs.code), -1)
    twin_of[order] = np.arange(n_loc)
    st = package.stock
    where = twin_of[st.location]
    ok = where >= 0
    opening[st.sku[ok], where[ok]] = st.on_hand[ok]
    on_order[st.sku[ok], where[ok]] = st.on_order[ok]
    network.opening = opening
    network.on_order = on_order
    network.package = PackageDemand(
        day0,
        sku_class,
        classes,
        store_factor,
        online_factor,
        distinct,
        np.array([distinct.index(h) for h in hours_of], dtype=np.int64),
        _replay(scenario, package, day0, twin_of) if replay else None,
    )
    # the demand processes draw from the base rates; planning (levels) used the run's mean
    network.lam_draw = lam
    return network


def check_scenario(scenario: Scenario) -> None:
    """Build a package scenario's network once, so whatever disagrees is a `ScenarioError`
    before a run starts (the package stays loaded for runs in this process)."""
    from ..rand import Streams

    build_package_network(scenario, Streams(0).network)


def _levels(
    scenario: Scenario,
    package: Package,
    net: RetailNetwork,
    order: list[int],
    store_lane_h: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(s, S) [sku, location]: the package's policy table where it has a row, else the
    derived rule (module docstring)."""
    ref = scenario.network.package
    assert ref is not None
    z = NormalDist().inv_cdf(ref.service_level)
    case = package.skus.case_pack.astype(float)
    n_sku, n_store = net.n_sku, net.n_store
    s = np.zeros((n_sku, net.n_loc), dtype=np.int64)
    big = np.zeros((n_sku, net.n_loc), dtype=np.int64)
    repl = scenario.policy.replenishment
    review_days = (
        1.0
        if repl.store_review == "daily"
        else 7.0 / max(1, len(scenario.network.stores.delivery_days))
    )
    if n_store:
        mu = net.lam_store + net.lam_pickup
        lead = (REVIEW_TO_DISPATCH_H + store_lane_h[None, :]) / 24.0
        p = mu * (review_days + lead)
        low = np.ceil(p + z * np.sqrt(p)).astype(np.int64)
        up = low + np.maximum(np.ceil(mu * review_days), case[:, None]).astype(np.int64)
        zero = mu <= 0
        s[:, :n_store] = np.where(zero, 0, low)
        big[:, :n_store] = np.where(zero, 0, up)
    supplier = {sp.code: sp for sp in scenario.network.suppliers}
    lead_mean = np.array([supplier[c].lead_time_days.mean for c in package.skus.supplier])
    lead_cv = np.array(
        [
            1.0
            if supplier[c].lead_time_days.dist == "exponential"
            else supplier[c].lead_time_days.cv
            for c in package.skus.supplier
        ]
    )
    for loc in range(n_store, net.n_loc):
        mu = net.daily_rates(loc)
        p = mu * (lead_mean + 1.0)
        var = p + (mu * lead_cv * lead_mean) ** 2
        low = np.ceil(p + z * np.sqrt(var)).astype(np.int64)
        up = low + np.maximum(np.ceil(mu * ref.dc_cycle_days), case).astype(np.int64)
        s[:, loc] = np.where(mu <= 0, 0, low)
        big[:, loc] = np.where(mu <= 0, 0, up)
    if package.policy is not None:
        pol = package.policy
        twin_of = np.full(len(package.locations.code), -1)
        twin_of[order] = np.arange(net.n_loc)
        where = twin_of[pol.location]
        ok = where >= 0
        s[pol.sku[ok], where[ok]] = pol.reorder_point[ok]
        big[pol.sku[ok], where[ok]] = pol.order_up_to[ok]
    return s, big


def _replay(scenario: Scenario, package: Package, day0: int, twin_of: np.ndarray) -> Replay:
    """The recorded sales of the run's days, in the twin's indexes."""
    sales = package.sales
    assert sales is not None
    n_days = math.ceil(scenario.horizon_days)
    last = day0 + n_days - 1
    if day0 < sales.first_day or last > sales.last_day:
        raise ScenarioError(
            [
                f"network.package.start_date: a replay of {n_days} days from {date_of(day0)}"
                f" runs to {date_of(last)}, outside the sales history ({date_of(sales.first_day)}"
                f" to {date_of(sales.last_day)})"
            ]
        )
    codes = {c.code for c in scenario.channels}
    missing = [c for c in sales.channels if c not in codes]
    if missing:
        raise ScenarioError(
            [
                f"channels: the sales history has channel {c!r}, the scenario does not"
                for c in missing
            ]
        )
    n_store = len(package.stores)
    inside = (sales.day >= day0) & (sales.day <= last)
    walk = inside & (sales.channel == WALK_IN)
    d = sales.day[walk] - day0
    cell = sales.sku[walk].astype(np.int64) * n_store + twin_of[sales.location[walk]]
    package_cells = len(package.skus.code) * n_store
    key = d.astype(np.int64) * package_cells + cell
    uniq, inv = np.unique(key, return_inverse=True)
    units = np.bincount(inv.ravel(), weights=sales.units[walk]).astype(np.int64)
    day_of_key = uniq // package_cells
    walk_in = []
    bounds = np.searchsorted(day_of_key, np.arange(n_days + 1))
    for t in range(n_days):
        a, b = bounds[t], bounds[t + 1]
        walk_in.append((uniq[a:b] % package_cells, units[a:b]))
    online: dict[str, list[tuple[int, list[tuple[int, int]], int, bool]]] = {
        c: [] for c in sales.channels
    }
    rows = np.flatnonzero(inside & (sales.channel != WALK_IN))
    rows = rows[np.lexsort((sales.sku[rows], sales.order[rows]))]
    orders = sales.order[rows]
    starts = np.flatnonzero(np.r_[True, orders[1:] != orders[:-1]])
    ends = np.r_[starts[1:], rows.size]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        r = rows[a:b]
        lines: dict[int, int] = {}
        for k, q in zip(sales.sku[r].tolist(), sales.units[r].tolist(), strict=True):
            lines[k] = lines.get(k, 0) + q
        first = r[0]
        online[sales.channels[int(sales.channel[first])]].append(
            (
                int(sales.day[first] - day0),
                sorted(lines.items()),
                int(twin_of[sales.location[first]]),
                bool(sales.collect[first]),
            )
        )
    for orders_ in online.values():
        orders_.sort(key=lambda o: o[0])  # by day; within a day by order id (stable)
    return Replay(walk_in, online)
