"""Fitting a package's sales history: what the twin believes about the retailer's demand.

Store walk-ins: each sku class gets a day-of-week shape (seven factors) and a seasonal
curve (twelve monthly factors at mid-month, joined by straight lines round the year),
fitted to the class's daily units by least squares and scaled so they average 1 over
the history; a small class leans on the shape of all store sales (weight U / (U + 2,000)
units). Each (sku, store) gets a base rate: its units over the history's days, shrunk
towards its sku's chain rate times the store's share of the class (28 days' weight), so
a slow or intermittent sku keeps a small rate where it did not happen to sell and no sku
is dropped; the shrinkage keeps every class's total. Online: one shape for all online
units, each channel's orders a day, units an order and share collected in store, and a
popularity of skus. Return rates come from negative rows where the package has them.
See README, "A retailer's own data".
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .package import WALK_IN, Package, date_of
from .shapes import season_curve, weekday

PRIOR_DAYS = 28.0  # weight of a cell's prior rate, in days of history (assumed)
SHAPE_PRIOR_UNITS = 300.0  # a class's shape leans on all stores' with this weight (assumed)
MIN_DAYS = 28  # the shortest history a fit accepts: four of each weekday
#: return rates when a package has no negative rows (NRF & Appriss 2023, CALIBRATION.md)
DEFAULT_STORE_RETURN_RATE = 0.10
DEFAULT_ONLINE_RETURN_RATE = 0.176
FIT_VERSION = 1


class FitError(ValueError):
    """A package whose history cannot be fitted (too short, say); the message says why."""


@dataclass(slots=True)
class Shape:
    """Day-of-week (Mon..Sun) and monthly factors, averaging 1 over the history."""

    dow: np.ndarray
    months: np.ndarray

    def on(self, days: np.ndarray) -> np.ndarray:
        return self.dow[weekday(days)] * season_curve(self.months, days)


@dataclass(slots=True)
class ChannelFit:
    code: str
    kind: str
    orders_per_day: float
    lines_per_order: float
    bopis_share: float
    return_rate: float
    units: int
    orders: int


@dataclass(slots=True)
class Fit:
    """A package's fitted demand: shapes per class, walk-in rates, online volumes."""

    first_day: int
    last_day: int
    classes: list[str]
    store_shapes: dict[str, Shape]
    online_shape: Shape
    rates: np.ndarray  # [sku, store] walk-in units a day over the history, shrunk
    store_codes: list[str]
    online_share: np.ndarray  # [sku] share of online units
    channels: list[ChannelFit]
    store_return_rate: float
    returns_fitted: bool
    notes: list[str] = field(default_factory=list)

    @property
    def days(self) -> int:
        return self.last_day - self.first_day + 1


def _basis(days: np.ndarray) -> np.ndarray:
    """[day, month] weights of the seasonal curve: `season_curve(m, days) == B @ m`."""
    eye = np.eye(12)
    return np.stack([season_curve(eye[m], days) for m in range(12)], axis=1)


def fit_shape(days: np.ndarray, y: np.ndarray, ridge: float = 1.0) -> Shape:
    """Day-of-week and monthly factors of daily totals `y` on `days` (a few alternations of
    least squares; months without history stay near 1), scaled to average 1. A weekday
    with no sales at all (a store closed on Sundays) keeps a factor of 0."""
    if not np.isfinite(y).all() or y.sum() <= 0:
        return Shape(np.ones(7), np.ones(12))
    wd = weekday(days)
    basis = _basis(days)
    level = y.mean()
    dow, months = np.ones(7), np.ones(12)
    for _ in range(6):
        season = basis @ months
        dow = np.array(
            [
                y[wd == w].sum() / max((level * season[wd == w]).sum(), 1e-12)
                if (wd == w).any()
                else 1.0
                for w in range(7)
            ]
        )
        dow /= dow.mean()
        on = dow[wd] > 0  # the days that say something about the season
        b = basis[on]
        z = y[on] / (level * dow[wd][on])
        a = b.T @ b + ridge * np.eye(12)
        months = np.linalg.solve(a, b.T @ z + ridge * np.ones(12))
        months = np.maximum(months, 0.01)
    scale = (dow[wd] * (basis @ months)).mean()
    if not (np.isfinite(dow).all() and np.isfinite(months).all() and scale > 0):
        return Shape(np.ones(7), np.ones(12))
    return Shape(dow, months / scale)


def _blend(shape: Shape, prior: Shape, units: float, days: np.ndarray) -> Shape:
    w = units / (units + SHAPE_PRIOR_UNITS)
    out = Shape(w * shape.dow + (1 - w) * prior.dow, w * shape.months + (1 - w) * prior.months)
    out.dow /= out.dow.mean()
    out.months /= out.on(days).mean()
    return out


def channel_kind(code: str) -> str:
    """A channel code starting with `web` is a web shop; any other, a marketplace."""
    return "web" if code.lower().startswith("web") else "marketplace"


def fit(package: Package) -> Fit:
    """The fitted demand of a package with its sales history."""
    sales = package.sales
    if sales is None:
        raise FitError("sales: the package was read without its sales")
    first, last = sales.first_day, sales.last_day
    n_days = last - first + 1
    if n_days < MIN_DAYS:
        raise FitError(
            f"sales: {n_days} days of history ({date_of(first)} to {date_of(last)}); a fit"
            f" needs at least {MIN_DAYS} (four of each weekday)"
        )
    days = np.arange(first, last + 1)
    t = sales.day - first
    skus = package.skus
    classes = list(dict.fromkeys(skus.sku_class))
    cls = np.array([classes.index(c) for c in skus.sku_class])
    n_sku = len(skus.code)
    stores = package.stores
    store_col = np.full(len(package.locations.code), -1)
    store_col[stores] = np.arange(len(stores))
    notes: list[str] = []

    # store walk-ins: shapes per class, then rates per (sku, store)
    walk = sales.channel == WALK_IN
    wk, wl, wt = sales.sku[walk], store_col[sales.location[walk]], t[walk]
    wu = sales.units[walk].astype(float)
    n_cls = len(classes)
    daily = np.bincount(cls[wk] * n_days + wt, weights=wu, minlength=n_cls * n_days)
    daily = daily.reshape(n_cls, n_days)
    overall = fit_shape(days, daily.sum(axis=0))
    shapes = {
        c: _blend(fit_shape(days, daily[i]), overall, float(daily[i].sum()), days)
        for i, c in enumerate(classes)
    }
    n_store = len(stores)
    units = np.zeros((n_sku, n_store))
    if n_store:
        units = np.bincount(wk * n_store + wl, weights=wu, minlength=n_sku * n_store).reshape(
            n_sku, n_store
        )
    class_store = np.zeros((n_cls, n_store))
    np.add.at(class_store, cls, units)
    all_share = units.sum(axis=0) / max(units.sum(), 1e-12)
    share = np.where(
        class_store.sum(axis=1, keepdims=True) > 0,
        class_store / np.maximum(class_store.sum(axis=1, keepdims=True), 1e-12),
        all_share[None, :],
    )
    prior = (units.sum(axis=1) / n_days)[:, None] * share[cls]  # [sku, store]
    rates = (units + PRIOR_DAYS * prior) / (n_days + PRIOR_DAYS)
    silent = int((units.sum(axis=1) == 0).sum())
    if silent:
        notes.append(f"{silent} skus sold nothing in stores over the history: walk-in rate 0")

    # online: one shape, each channel's volumes, sku popularity
    online = ~walk
    o_daily = np.bincount(t[online], weights=sales.units[online].astype(float), minlength=n_days)
    online_shape = fit_shape(days, o_daily)
    returned = sales.returned
    fitted_returns = bool(returned)
    channels = []
    for ci, code in enumerate(sales.channels):
        rows = sales.channel == ci
        n_units = int(sales.units[rows].sum())
        orders = np.unique(sales.order[rows])
        n_orders = int(orders.size)
        collected = np.unique(sales.order[rows & sales.collect]).size
        rate = (
            min(1.0, returned.get(code, 0) / n_units)
            if fitted_returns and n_units
            else DEFAULT_ONLINE_RETURN_RATE
        )
        channels.append(
            ChannelFit(
                code,
                channel_kind(code),
                n_orders / n_days,
                max(1.0, n_units / max(n_orders, 1)),
                collected / max(n_orders, 1),
                rate,
                n_units,
                n_orders,
            )
        )
    o_units = np.bincount(sales.sku[online], weights=sales.units[online], minlength=n_sku)
    all_units = np.bincount(sales.sku, weights=sales.units, minlength=n_sku)
    q = all_units / max(all_units.sum(), 1e-12)
    online_share = (o_units + 0.5 * q) / (o_units.sum() + 0.5)
    walk_units = float(wu.sum())
    store_rate = (
        min(1.0, returned.get("store", 0) / walk_units)
        if fitted_returns and walk_units
        else DEFAULT_STORE_RETURN_RATE
    )
    if not fitted_returns:
        notes.append(
            "no returns (negative units) in sales: return rates are the calibrated defaults"
            " (in store 10%, online 17.6%; NRF & Appriss 2023)"
        )
    return Fit(
        first,
        last,
        classes,
        shapes,
        online_shape,
        rates,
        [package.locations.code[i] for i in stores],
        online_share,
        channels,
        store_rate,
        fitted_returns,
        notes,
    )


# ------------------------------------------------------------------------------ fit folder
def next_monday(day: int) -> int:
    """The first Monday after `day` (days since 1970-01-01)."""
    return day + 1 + int((7 - weekday(day + 1)) % 7)


def write_fit(f: Fit, package: Package, folder: Path) -> None:
    """The fit folder a scenario's `network.package.fit` names: rates, shapes, online
    popularity and what was fitted from what (`fit.json`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    k, s = np.nonzero(f.rates > 0)
    pq.write_table(
        pa.table(
            {
                "location": pa.array([f.store_codes[i] for i in s.tolist()], pa.string()),
                "sku": pa.array([package.skus.code[i] for i in k.tolist()], pa.string()),
                "rate": pa.array(f.rates[k, s], pa.float64()),
            }
        ),
        folder / "rates.parquet",
    )
    rows: list[dict[str, Any]] = []
    every = [("store", c, sh) for c, sh in f.store_shapes.items()]
    for series, c, shape in [*every, ("online", "", f.online_shape)]:
        rows += [
            {"series": series, "class": c, "kind": "weekday", "index": i, "factor": float(v)}
            for i, v in enumerate(shape.dow)
        ]
        rows += [
            {"series": series, "class": c, "kind": "month", "index": i + 1, "factor": float(v)}
            for i, v in enumerate(shape.months)
        ]
    pq.write_table(pa.Table.from_pylist(rows), folder / "shapes.parquet")
    pq.write_table(
        pa.table({"sku": package.skus.code, "share": f.online_share}), folder / "online.parquet"
    )
    meta = {
        "version": FIT_VERSION,
        "package": str(package.folder.resolve()),
        "history": [date_of(f.first_day).isoformat(), date_of(f.last_day).isoformat()],
        "days": f.days,
        "stores": len(f.store_codes),
        "skus": len(package.skus.code),
        "classes": f.classes,
        "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (folder / "fit.json").write_text(json.dumps(meta, indent=2) + "\n")


@dataclass(slots=True)
class FitFiles:
    """A fit folder read back: what a run of a package scenario needs from it."""

    first_day: int
    last_day: int
    rates: Any  # pyarrow Table: location, sku, rate
    store_shapes: dict[str, Shape]
    online_shape: Shape
    online_share: dict[str, float]


def read_fit(folder: Path) -> FitFiles:
    """A fit folder, or `FitError` naming what is missing or wrong."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    need = ("fit.json", "rates.parquet", "shapes.parquet", "online.parquet")
    missing = [n for n in need if not (folder / n).is_file()]
    if missing:
        raise FitError(
            f"network.package.fit: {folder} lacks {', '.join(missing)} (run `omnitwin data fit`)"
        )
    try:
        meta = json.loads((folder / "fit.json").read_text())
        first, last = (dt.date.fromisoformat(d) for d in meta["history"])
        rates_t = pq.read_table(folder / "rates.parquet")
        shapes_t = pq.read_table(folder / "shapes.parquet").to_pylist()
        online_t = pq.read_table(folder / "online.parquet")
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise FitError(f"network.package.fit: {folder} cannot be read: {exc}") from None
    shapes: dict[tuple[str, str], Shape] = {}
    for r in shapes_t:
        sh = shapes.setdefault((r["series"], r["class"]), Shape(np.ones(7), np.ones(12)))
        if r["kind"] == "weekday":
            sh.dow[int(r["index"])] = r["factor"]
        else:
            sh.months[int(r["index"]) - 1] = r["factor"]
    return FitFiles(
        (first - dt.date(1970, 1, 1)).days,
        (last - dt.date(1970, 1, 1)).days,
        rates_t,
        {c: s for (series, c), s in shapes.items() if series == "store"},
        shapes.get(("online", ""), Shape(np.ones(7), np.ones(12))),
        dict(
            zip(
                online_t.column("sku").to_pylist(),
                online_t.column("share").to_pylist(),
                strict=True,
            )
        ),
    )
