"""The scenario `omnitwin data fit` writes: the package's network, channels and return
rates, the fit folder it reads its demand from, and the catalogue baseline's calibrated
defaults (business clock, shrink and record errors, returns centre) for what a package
does not say."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from scenarios.loader import read_raw

from .fit import Fit, next_monday
from .package import Package, date_of

#: what a fitted scenario takes from the catalogue's baseline (calibrated or assumed there)
FROM_BASELINE = ("physical", "timetable")


def _rel(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), start.resolve())
    except ValueError:  # another drive
        return str(path.resolve())


def _round(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def fitted_scenario(
    package: Package, f: Fit, name: str, scenario_file: Path, fit_dir: Path
) -> dict[str, Any]:
    """The scenario mapping of a fitted package (paths relative to `scenario_file`)."""
    base, _ = read_raw("baseline")
    locs, skus = package.locations, package.skus
    stores = package.stores
    hours = Counter(
        (float(locs.opening_hour[i]), float(locs.closing_hour[i]))
        for i in stores
        if locs.opening_hour[i] == locs.opening_hour[i]  # not NaN
    )
    opening, closing = hours.most_common(1)[0][0] if hours else (9.0, 21.0)
    pickers = Counter(int(locs.pickers[i]) for i in stores if locs.pickers[i] > 0)
    sites: dict[str, list[dict[str, Any]]] = {"dc": [], "dark_store": [], "3pl": []}
    for i, kind in enumerate(locs.kind):
        if kind in sites:
            site: dict[str, Any] = {"code": locs.code[i], "region": locs.region[i]}
            if locs.pickers[i] > 0:
                site["pickers"] = int(locs.pickers[i])
            sites[kind].append(site)
    sup = package.suppliers
    suppliers = []
    for i, code in enumerate(sup.code):
        dist = sup.lead_time_dist[i]
        lead: dict[str, Any] = {"dist": dist, "mean": _round(float(sup.lead_time_days[i]))}
        if dist in ("gamma", "lognormal", "uniform"):
            lead["cv"] = _round(float(sup.lead_time_cv[i]))
        suppliers.append(
            {
                "code": code,
                "lead_time_days": lead,
                "on_time_in_full": _round(float(sup.on_time_in_full[i])),
                "alternates": sup.alternates[i],
            }
        )
    classes = Counter(skus.sku_class)
    n_sku = len(skus.code)
    shares = {c: round(n / n_sku, 6) for c, n in classes.items()}
    top = max(shares, key=lambda c: shares[c])
    shares[top] = round(shares[top] + 1.0 - sum(shares.values()), 6)  # exactly 1 in total
    channels = [
        {
            "code": c.code,
            "kind": c.kind,
            "orders_per_day": _round(c.orders_per_day),
            "lines_per_order": _round(c.lines_per_order),
            "bopis_share": _round(c.bopis_share),
            "return_rate": _round(c.return_rate),
            "feed_refresh_min": 30,
        }
        for c in f.channels
    ]
    base_net = base.get("network", {})
    network: dict[str, Any] = {
        "package": {
            "path": _rel(package.folder, scenario_file.parent),
            "fit": _rel(fit_dir, scenario_file.parent),
            "start_date": date_of(next_monday(f.last_day)).isoformat(),
            "service_level": 0.95,
            "dc_cycle_days": 7.0,
        },
        "regions": package.regions,
        "stores": {
            "count": len(stores),
            "opening_hour": opening,
            "closing_hour": closing,
            "pickers": pickers.most_common(1)[0][0] if pickers else 2,
            "delivery_days": [0, 2, 4],
            "returns_pickup_days": [2],
        },
        "dcs": sites["dc"],
    }
    if sites["dark_store"]:
        network["dark_stores"] = sites["dark_store"]
    if sites["3pl"]:
        network["three_pl"] = sites["3pl"]
    for key in ("returns_centre", "lanes"):
        if key in base_net:
            network[key] = base_net[key]
    network["suppliers"] = suppliers
    history = f"{date_of(f.first_day)} to {date_of(f.last_day)}"
    out: dict[str, Any] = {
        "name": name,
        "description": f"{name}: fitted from the data package {package.folder.name}"
        f" ({len(stores)} stores, {n_sku} skus, sales {history}).",
        "horizon_days": 28,
        "seed": 42,
        "replications": 3,
        "network": network,
        "skus": {"count": n_sku, "classes": shares},
        "channels": channels,
        "demand": {
            "mode": "batch",
            "day_of_week": [1.0] * 7,
            "store_return_rate": _round(f.store_return_rate),
        },
        "policy": {"operating_model": "orchestrated"},
    }
    for key in FROM_BASELINE:
        if key in base:
            out[key] = base[key]
    return out


def header(package: Package, f: Fit, fit_dir: Path) -> str:
    """The comment block above a fitted scenario: what it is and where each part came from."""
    today = dt.date.today().isoformat()
    returns = (
        "fitted from the package's returns (negative units)"
        if f.returns_fitted
        else "calibrated defaults (NRF & Appriss 2023): the package has no returns"
    )
    lines = [
        f"{package.folder.name} — written by `omnitwin data fit` on {today}.",
        "Question: how would this retailer's own network fare under legacy vs orchestrated",
        "operations (`omnitwin compare <this file>`), or replayed over its own history",
        "(`--set demand.mode=replay --set network.package.start_date=<a Monday>`)?",
        "",
        "From the package: locations, catalogue, suppliers, stock snapshot, sales"
        f" {date_of(f.first_day)} to {date_of(f.last_day)}.",
        "Walk-in rates per (store, sku), each sku class's day-of-week and seasonal shape, and",
        f"online popularity are in {fit_dir.name}/ (see its report.md); demand.day_of_week",
        "multiplies them (1 = as fitted). Channel volumes, units an order and the",
        "click-and-collect share are fitted;",
        f"return rates: {returns}.",
        "Reorder levels: the package's policy table where it has one, else the derived rule",
        "(README) at network.package.service_level. Day 0 is network.package.start_date.",
        "From the catalogue's baseline (calibrated or assumed there): the business clock",
        "(timetable), shrink and record errors (physical), the returns centre and lanes to",
        "customers; store delivery days Mon/Wed/Fri and 3 replications are assumed.",
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Lists of plain values on one line (`[0, 2, 4]`), mappings as blocks."""


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(not isinstance(x, dict | list) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _list)


def write_scenario(data: dict[str, Any], path: Path, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    path.write_text(comment + text)
