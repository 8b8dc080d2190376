"""A deterministic sample data package (`omnitwin data sample DIR`): a mid-size retailer
with stores in two regions, two DCs, a returns centre, three suppliers, a catalogue in
four classes, a year of daily sales with realistic intermittency (most skus sell a few
units a week at a store, a few sell daily) and a stock snapshot at the end.

The demand behind it is known (`Truth`): rates per (sku, store), each class's
day-of-week and monthly shape, and the online channels' volumes, so a fit can be
checked against it (the round-trip test). Every figure here is made up: a plausible
shape, not a calibration.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .package import day_of
from .shapes import shape

#: class -> (share of skus, supplier, case pack, day of week Mon..Sun, monthly factors,
#: mean units per purchase)
CLASSES: dict[str, tuple[float, str, int, list[float], list[float], float]] = {
    "general": (
        0.5,
        "SUP-A",
        6,
        [0.85, 0.8, 0.85, 0.9, 1.1, 1.4, 1.1],
        [0.9, 0.85, 0.9, 0.95, 1.0, 1.0, 1.0, 1.0, 0.95, 1.0, 1.1, 1.35],
        1.3,
    ),
    "apparel": (
        0.3,
        "SUP-B",
        1,
        [0.75, 0.7, 0.75, 0.85, 1.1, 1.6, 1.25],
        [0.7, 0.65, 1.0, 1.15, 1.1, 1.0, 1.2, 1.05, 1.0, 1.05, 1.1, 1.3],
        1.0,
    ),
    "electronics": (
        0.1,
        "SUP-C",
        1,
        [0.9, 0.9, 0.9, 0.95, 1.05, 1.25, 1.05],
        [0.8, 0.7, 0.75, 0.8, 0.8, 0.85, 0.85, 0.9, 0.9, 1.0, 1.6, 2.2],
        1.0,
    ),
    "seasonal": (
        0.1,
        "SUP-A",
        4,
        [0.85, 0.8, 0.85, 0.9, 1.1, 1.4, 1.1],
        [0.3, 0.3, 0.5, 0.9, 1.6, 2.4, 2.6, 2.2, 1.1, 0.5, 0.35, 0.4],
        1.0,
    ),
}
ONLINE_DOW = [1.1, 1.05, 1.0, 1.0, 0.95, 0.85, 1.05]  # online peaks on Sunday and Monday
ONLINE_MONTHS = [1.0, 0.85, 0.9, 0.9, 0.9, 0.85, 0.85, 0.9, 0.95, 1.05, 1.45, 1.6]
#: channel -> (mean lines (units) an order, share collected in store)
CHANNELS = {"web": (1.5, 0.25), "mkt-a": (1.3, 0.0)}
STORE_RETURN_RATE = 0.08
ONLINE_RETURN_RATE = 0.16


@dataclass(slots=True)
class Truth:
    """The demand the sample was drawn from."""

    start: dt.date
    days: int
    store_codes: list[str]
    sku_codes: list[str]
    sku_class: list[str]
    rates: np.ndarray  # [sku, store] mean walk-in units a day over the history
    dow: dict[str, list[float]]
    months: dict[str, list[float]]
    orders_per_day: dict[str, float]  # mean over the history
    lines_per_order: dict[str, float]
    bopis_share: dict[str, float]


def _codes(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


def write_sample(
    folder: str | Path,
    *,
    stores: int = 36,
    skus: int = 300,
    days: int = 365,
    seed: int = 19,
    start: dt.date = dt.date(2025, 1, 6),
    units_per_cell_day: float = 0.12,
    online_share: float = 0.25,
    fmt: str = "csv",
    returns: bool = True,
) -> Truth:
    """Write the sample package into `folder` (created); `units_per_cell_day` is the mean
    walk-in units a day of a (sku, store), `online_share` online units over store units."""
    rng = np.random.default_rng(seed)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pa.Table] = {}

    # locations: stores alternate between the regions, around each region's DC
    store_codes = _codes("S", stores)
    region = ["north" if i % 2 == 0 else "south" for i in range(stores)]
    centre = {"north": (53.5, -2.2), "south": (51.5, -0.4)}
    lat = [centre[r][0] + rng.normal(0, 0.6) for r in region]
    lon = [centre[r][1] + rng.normal(0, 0.9) for r in region]
    size = rng.lognormal(-0.5 * 0.35**2, 0.35, stores)  # store sizes, mean 1
    hours = [(8.0, 22.0) if s > 1.3 else (10.0, 18.0) if s < 0.7 else (9.0, 21.0) for s in size]
    loc_rows = {
        "code": [*store_codes, "DC-NORTH", "DC-SOUTH", "RC-1"],
        "kind": ["store"] * stores + ["dc", "dc", "returns_centre"],
        "region": [*region, "north", "south", "north"],
        "latitude": [*lat, 53.4, 51.6, 53.0],
        "longitude": [*lon, -2.0, -0.2, -1.5],
        "opening_hour": [h[0] for h in hours] + [None] * 3,
        "closing_hour": [h[1] for h in hours] + [None] * 3,
        "pickers": [3 if s > 1.3 else 2 for s in size] + [12, 12, None],
    }
    tables["locations"] = pa.table(loc_rows)
    tables["suppliers"] = pa.table(
        {
            "code": ["SUP-A", "SUP-B", "SUP-C"],
            "lead_time_days": [6.0, 10.0, 3.0],
            "lead_time_cv": [0.3, None, 0.2],
            "lead_time_sd_days": [None, 3.0, None],
            "lead_time_dist": ["gamma", "lognormal", "gamma"],
            "on_time_in_full": [0.85, 0.8, 0.95],
            "alternates": ["SUP-C", "", ""],
        }
    )

    # skus: classes by share, a long-tailed popularity, costs and prices
    names = list(CLASSES)
    shares = np.array([CLASSES[c][0] for c in names])
    sku_class = [names[i] for i in rng.choice(len(names), skus, p=shares / shares.sum())]
    sku_codes = _codes("K", skus)
    cost = np.round(rng.lognormal(np.log(12.0) - 0.16, 0.57, skus), 2).clip(0.5)
    price = np.round(cost * rng.uniform(1.8, 2.6, skus), 2)
    tables["skus"] = pa.table(
        {
            "code": sku_codes,
            "unit_cost": cost,
            "price": price,
            "class": sku_class,
            "supplier": [CLASSES[c][1] for c in sku_class],
            "case_pack": [CLASSES[c][2] for c in sku_class],
        }
    )
    pop = rng.lognormal(0.0, 1.2, skus)
    pop /= pop.mean()
    taste = rng.lognormal(-0.5 * 0.3**2, 0.3, (skus, stores))  # local taste per cell
    rates = units_per_cell_day * pop[:, None] * size[None, :] * taste

    # a year of daily sales, walk-ins first; purchases of more than one unit for some
    first = day_of(start)
    day_nums = np.arange(first, first + days)
    cls_idx = np.array([names.index(c) for c in sku_class])
    factors = np.stack(
        [shape(np.array(CLASSES[c][3]), np.array(CLASSES[c][4]), day_nums) for c in names]
    )  # [class, day]
    mean_size = np.array([CLASSES[c][5] for c in names])[cls_idx]  # [sku]
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("day", "loc", "sku", "units", "chan", "order", "collect")
    }

    def emit(
        day: np.ndarray,
        loc: np.ndarray,
        sku: np.ndarray,
        units: np.ndarray,
        chan: int,
        order: np.ndarray | None = None,
        collect: np.ndarray | None = None,
    ) -> None:
        n = day.size
        cols["day"].append(day.astype(np.int32))
        cols["loc"].append(loc.astype(np.int32))
        cols["sku"].append(sku.astype(np.int32))
        cols["units"].append(units.astype(np.int32))
        cols["chan"].append(np.full(n, chan, np.int8))
        cols["order"].append(np.full(n, -1, np.int64) if order is None else order)
        cols["collect"].append(np.zeros(n, bool) if collect is None else collect)

    for t, d in enumerate(day_nums):
        lam = rates * factors[cls_idx, t][:, None]
        purchases = rng.poisson(lam / mean_size[:, None])
        k, s = np.nonzero(purchases)
        n = purchases[k, s]
        extra = rng.poisson((mean_size[k] - 1.0) * n)  # 1 + Poisson(m - 1) units a purchase
        emit(np.full(k.size, d), s, k, n + extra, 0)

    # online orders: lines by an online popularity; web customers collect some in store
    online_pop = pop**0.9
    online_pop /= online_pop.sum()
    store_units = float(rates.sum())
    online_units = online_share * store_units
    weights = {"web": 0.7, "mkt-a": 0.3}
    orders_per_day = {ch: online_units * weights[ch] / CHANNELS[ch][0] for ch in CHANNELS}
    o_factor = shape(np.array(ONLINE_DOW), np.array(ONLINE_MONTHS), day_nums)
    next_order = 0
    store_p = size / size.sum()
    for ci, (ch, (lines, bopis)) in enumerate(CHANNELS.items(), start=1):
        for t, d in enumerate(day_nums):
            n_orders = int(rng.poisson(orders_per_day[ch] * o_factor[t]))
            if n_orders == 0:
                continue
            n_units = 1 + rng.poisson(lines - 1.0, n_orders)
            order = np.repeat(np.arange(next_order, next_order + n_orders), n_units)
            next_order += n_orders
            sku = rng.choice(skus, order.size, p=online_pop)
            collect_o = rng.random(n_orders) < bopis
            where_o = np.where(
                collect_o,
                rng.choice(stores, n_orders, p=store_p),
                stores + rng.integers(0, 2, n_orders),
            )
            reps = n_units
            emit(
                np.full(order.size, d),
                np.repeat(where_o, reps),
                sku,
                np.ones(order.size, np.int32),
                ci,
                order,
                np.repeat(collect_o, reps),
            )

    day = np.concatenate(cols["day"])
    loc = np.concatenate(cols["loc"])
    sku = np.concatenate(cols["sku"])
    units = np.concatenate(cols["units"])
    chan = np.concatenate(cols["chan"])
    order = np.concatenate(cols["order"])
    collect = np.concatenate(cols["collect"])
    if returns:
        # returns come back some days later at the same place, as negative units
        rate = np.where(chan == 0, STORE_RETURN_RATE, ONLINE_RETURN_RATE)
        back = rng.binomial(units, rate)
        r = np.flatnonzero(back)
        later = day[r] + np.ceil(rng.gamma(2.0, 4.5, r.size)).astype(np.int32)
        inside = later < first + days
        r, later = r[inside], later[inside]
        # a few voided till lines with 0 units, as exports often have
        void = rng.choice(day.size, max(1, day.size // 2000), replace=False)
        day = np.concatenate([day, later, day[void]])
        loc = np.concatenate([loc, loc[r], loc[void]])
        sku = np.concatenate([sku, sku[r], sku[void]])
        units = np.concatenate([units, -back[r], np.zeros(void.size, np.int32)])
        chan = np.concatenate([chan, chan[r], chan[void]])
        order = np.concatenate([order, np.full(r.size + void.size, -1)])
        collect = np.concatenate([collect, np.zeros(r.size + void.size, bool)])
    o = np.argsort(day, kind="stable")
    day, loc, sku, units, chan, order, collect = (
        a[o] for a in (day, loc, sku, units, chan, order, collect)
    )
    loc_codes = pa.array(loc_rows["code"][: stores + 2])
    chan_names = pa.array(["", *CHANNELS])
    order_ids = np.where(order >= 0, order, 0)
    width = len(str(max(next_order, 1)))
    order_dict = pa.array([f"O{i:0{width}d}" for i in range(max(next_order, 1))])
    tables["sales"] = pa.table(
        {
            "date": pa.array(day, pa.int32()).cast(pa.date32()),
            "location": pa.DictionaryArray.from_arrays(pa.array(loc), loc_codes),
            "sku": pa.DictionaryArray.from_arrays(pa.array(sku), pa.array(sku_codes)),
            "units": pa.array(units, pa.int32()),
            "channel": pa.DictionaryArray.from_arrays(pa.array(chan.astype(np.int32)), chan_names),
            "order_id": pa.DictionaryArray.from_arrays(
                pa.array(order_ids, mask=order < 0), order_dict
            ).cast(pa.string()),  # as exports write ids: text, empty for walk-ins
            "fulfilment": pa.array(
                np.where(collect, "collect", np.where(chan > 0, "ship", "")).tolist()
            ),
        }
    )

    # the stock snapshot after the last day: about two weeks of cover at stores with a unit
    # or two on the shelf for slow sellers, four weeks at DCs with some on order; a few
    # store positions empty
    end_factor = factors[:, -1][cls_idx][:, None]
    on_hand = rng.poisson(rates * end_factor * 14.0) + rng.integers(1, 3, rates.shape)
    on_hand[rng.random(on_hand.shape) < 0.03] = 0
    k, s = np.nonzero(np.ones_like(on_hand))
    dc_rate = (
        np.stack(
            [
                rates[:, [i for i in range(stores) if region[i] == r]].sum(axis=1)
                for r in ("north", "south")
            ],
            axis=1,
        )
        + online_units * online_pop[:, None] / 2
    )
    dc_on_hand = rng.poisson(dc_rate * 28.0) + 2
    dc_on_order = np.where(rng.random(dc_rate.shape) < 0.1, np.ceil(dc_rate * 7), 0)
    tables["stock"] = pa.table(
        {
            "location": [store_codes[i] for i in s] + ["DC-NORTH"] * skus + ["DC-SOUTH"] * skus,
            "sku": [sku_codes[i] for i in k] + sku_codes * 2,
            "on_hand": np.concatenate([on_hand[k, s], dc_on_hand[:, 0], dc_on_hand[:, 1]]),
            "on_order": np.concatenate(
                [np.zeros(k.size, np.int64), dc_on_order[:, 0], dc_on_order[:, 1]]
            ).astype(np.int64),
        }
    )
    _write(out, tables, fmt)
    return Truth(
        start,
        days,
        store_codes,
        sku_codes,
        sku_class,
        rates * factors.mean(axis=1)[cls_idx][:, None],
        {c: CLASSES[c][3] for c in names},
        {c: CLASSES[c][4] for c in names},
        {ch: v * float(o_factor.mean()) for ch, v in orders_per_day.items()},
        {ch: CHANNELS[ch][0] for ch in CHANNELS},
        {ch: CHANNELS[ch][1] for ch in CHANNELS},
    )


def _write(out: Path, tables: dict[str, pa.Table], fmt: str) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for name, table in tables.items():
        for old in (out / f"{name}.csv", out / f"{name}.parquet"):
            old.unlink(missing_ok=True)
        if fmt == "parquet":
            pq.write_table(table, out / f"{name}.parquet")
            continue
        plain = pa.table(
            {
                n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
                for n, c in zip(table.column_names, table.columns, strict=True)
            }
        )
        pacsv.write_csv(plain, out / f"{name}.csv", pacsv.WriteOptions(quoting_style="needed"))
