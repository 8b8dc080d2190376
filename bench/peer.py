"""Benchmark 1 of issue 8, "Peer, same model": SupplyNetPy and omnitwin on one network.

The network: one infinite supplier; one DC with (s, S) = (3000, 8000) units, a fixed
5-day lead time from the supplier and 5000 units to start; ten stores with
(s, S) = (45, 100) units, a 2-day lead time from the DC and 400 units to start; each
store sees a Poisson stream of single-unit customers, 20 a day; lost sales; 365 days.
omnitwin runs it as `bench/peer.yaml` through `twin.simulate.simulate(…, "orchestrated")`,
so every sale and receipt goes through the core's ledger, reservations and GL postings.

Matching decisions (read from SupplyNetPy 0.5.1's source, `SupplyNetPy/Components/core.py`):

- Review. SupplyNetPy's `SSReplenishment` checks the inventory position on every drop
  (continuous) unless `period` is given. omnitwin reviews stores reordering from a DC
  periodically only (its continuous review is for stores ordering from a supplier) and
  its DC nightly, so both sides review once a day: SupplyNetPy with `period=1` and
  `first_review_delay` at omnitwin's review times, 22:00 for stores and 23:00 for the DC.
- Lead time. SupplyNetPy's link delays an order `lead_time` after it is placed. omnitwin's
  DC ships a store order reviewed at 22:00 at 06:00, and the lane takes a fixed 40 h: the
  goods arrive at 22:00 two days after the review, as with SupplyNetPy's `lead_time=2`.
- Inventory position. Both: on hand + on order/in transit − owed; order S − IP when
  IP ≤ s. A SupplyNetPy DC that is short holds the whole store order back until it has it;
  omnitwin's ships what it has. With s = 3000 the DC is never short (5-day lead-time
  demand is about 1000 units), so this never comes into play.
- Demand. SupplyNetPy: one `Demand` node per store with exponential gaps (rate 20 a day)
  and one unit per customer, no tolerance (walk-outs are lost sales). omnitwin draws the
  same Poisson stream in 2-hour batches (`demand.mode: batch`, open 0–24 h, flat
  weekdays and seasons). A store's shelf only changes at 22:00 (deliveries), a batch
  boundary, so serving min(demand, shelf) per batch loses exactly the units that
  customer-by-customer service would lose.
- No lateral moves. SupplyNetPy has no store-to-store links; omnitwin's nightly emergency
  transfers and stock balancing only move stock within a region, so each store sits in a
  region of its own (the DC restocks them all).
- Fill rate, both sides: units served ÷ units demanded over the 365 days. For omnitwin
  that is `kpis["fill_rate"]` (store sales ÷ store demand: there are no online channels);
  for SupplyNetPy Σ store `demand_fulfilled` units ÷ Σ `Demand` `demand_placed` units.
- Timing: from the model's description to its results, on both sides (omnitwin: load the
  scenario, build, run, reduce KPIs and check invariants; SupplyNetPy: build the network
  with `create_sc_net`, run it with `simulate_sc_net`, which also totals its performance
  figures). Imports are outside the timing. Logging: SupplyNetPy's per-event trace
  (`simulate_sc_net(logging=True)` by default, to the screen and `simulation_trace.log`)
  is turned off with `logging=False` on every node and on `simulate_sc_net`; omnitwin
  prints nothing either (no `progress` callback).

The two tools draw their own random demand (seeds differ per repetition), so their fill
rates differ by sampling noise (about 0.2–0.35 pt per 365-day run); `theory_fill_rate`
gives the exact expected fill of this model over the same horizon for reference.

Run: `.venv/bin/python -m bench.peer [--quick] [--repeats N]` (needs `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

SCENARIO = Path(__file__).with_name("peer.yaml")

# The model. bench/peer.yaml says the same for omnitwin (tests/bench/test_peer.py checks).
DAYS = 365
STORES = 10
DEMAND_PER_DAY = 20.0
STORE_s, STORE_S = 45, 100
STORE_LEAD_DAYS = 2
STORE_INITIAL = 400
DC_s, DC_S = 3000, 8000
DC_LEAD_DAYS = 5
DC_INITIAL = 5000
STORE_REVIEW_H = 22.0  # omnitwin's store review time (daily review)
DC_REVIEW_H = 23.0  # omnitwin's nightly DC review time

TARGET_SPEEDUP = 20.0
TARGET_FILL_PT = 0.5
NAME = "peer"
TITLE = "1. Peer, same model (SupplyNetPy)"
TARGET = "omnitwin >= 20x faster, fill rates within 0.5 pt"


def _scm() -> Any:
    """SupplyNetPy's public API, or a clear error if it is not installed."""
    try:
        import SupplyNetPy.Components as scm
    except ImportError as exc:
        raise ImportError(
            "bench/peer.py needs SupplyNetPy (PyPI `supplynetpy`), the benchmark's peer: "
            "run `pip install -e '.[bench]'` (or `.venv/bin/pip install -e '.[bench]'`)"
        ) from exc
    return scm


# ----------------------------------------------------------------------------- SupplyNetPy
def supplynetpy_network(seed: int, stores: int = STORES) -> dict[str, Any]:
    """The network as a SupplyNetPy `create_sc_net` dictionary (not yet run)."""
    scm = _scm()
    scm.set_seed(seed)  # the library's RNG (disruptions only; there are none)
    master = random.Random(seed)
    dc_policy = {"s": DC_s, "S": DC_S, "period": 1, "first_review_delay": DC_REVIEW_H / 24}
    store_policy = {
        "s": STORE_s,
        "S": STORE_S,
        "period": 1,
        "first_review_delay": STORE_REVIEW_H / 24,
    }
    big = 10**9  # capacity: none to speak of (omnitwin's shelves have none)
    nodes: list[dict[str, Any]] = [
        {"ID": "SUP", "name": "Supplier", "node_type": "infinite_supplier", "logging": False},
        {
            "ID": "DC",
            "name": "DC",
            "node_type": "distributor",
            "capacity": big,
            "initial_level": DC_INITIAL,
            "inventory_holding_cost": 0.0,
            "replenishment_policy": scm.SSReplenishment,
            "policy_param": dc_policy,
            "product_buy_price": 0,
            "product_sell_price": 0,
            "logging": False,
        },
    ]
    links: list[dict[str, Any]] = [
        {"ID": "L-SUP-DC", "source": "SUP", "sink": "DC", "cost": 0, "lead_time": DC_LEAD_DAYS}
    ]
    demands: list[dict[str, Any]] = []
    for i in range(stores):
        sid = f"S{i}"
        nodes.append(
            {
                "ID": sid,
                "name": f"Store{i}",
                "node_type": "retailer",
                "capacity": big,
                "initial_level": STORE_INITIAL,
                "inventory_holding_cost": 0.0,
                "replenishment_policy": scm.SSReplenishment,
                "policy_param": dict(store_policy),
                "product_buy_price": 0,
                "product_sell_price": 0,
                "logging": False,
            }
        )
        links.append(
            {
                "ID": f"L-DC-{sid}",
                "source": "DC",
                "sink": sid,
                "cost": 0,
                "lead_time": STORE_LEAD_DAYS,
            }
        )
        rng = random.Random(master.getrandbits(64))  # one stream per store
        demands.append(
            {
                "ID": f"D{i}",
                "name": f"Customers{i}",
                "order_arrival_model": lambda r=rng: r.expovariate(DEMAND_PER_DAY),
                "order_quantity_model": 1,
                "demand_node": sid,
                "logging": False,
            }
        )
    return scm.create_sc_net(nodes=nodes, links=links, demands=demands)


def supplynetpy_fill(net: dict[str, Any]) -> float:
    """Units served ÷ units demanded, over every store."""
    demanded = sum(d.stats.demand_placed[1] for d in net["demands"].values())
    served = sum(d.demand_node.stats.demand_fulfilled[1] for d in net["demands"].values())
    return served / demanded


def run_supplynetpy(seed: int, days: float = DAYS, stores: int = STORES) -> tuple[float, float]:
    """(wall seconds, fill rate) of one SupplyNetPy run."""
    scm = _scm()
    t0 = time.perf_counter()
    net = supplynetpy_network(seed, stores)
    net = scm.simulate_sc_net(net, sim_time=days, logging=False)
    wall = time.perf_counter() - t0
    return wall, supplynetpy_fill(net)


# ----------------------------------------------------------------------------- omnitwin
def omnitwin_scenario(days: float = DAYS, stores: int = STORES) -> Any:
    """bench/peer.yaml for `days` and `stores` (one region per store, the DC in the first)."""
    from scenarios import load

    regions = ", ".join(f"r{i}" for i in range(max(stores, 1)))
    return load(
        SCENARIO,
        [f"horizon_days={days}", f"network.stores.count={stores}", f"network.regions=[{regions}]"],
    )


def run_omnitwin(seed: int, days: float = DAYS, stores: int = STORES) -> tuple[float, float, int]:
    """(wall seconds, fill rate, core events applied) of one omnitwin run under the
    orchestrated bundle."""
    from twin.simulate import simulate

    t0 = time.perf_counter()
    sc = omnitwin_scenario(days, stores)
    result = simulate(sc, "orchestrated", seed=seed)
    wall = time.perf_counter() - t0
    fill = result.kpis["fill_rate"]
    ex = result.extras
    served = ex["store_units_demanded"] - ex["store_lost_units"]  # lost sales: the rest sold
    assert fill is not None and math.isclose(fill, served / ex["store_units_demanded"]), (
        "omnitwin's fill_rate is not units served ÷ units demanded for this network"
    )
    return wall, float(fill), int(result.events["applied"])


# ----------------------------------------------------------------------------- theory
def _expected_lost(mean: float, on_hand: np.ndarray) -> np.ndarray:
    """E[(D − x)+] for D ~ Poisson(mean), for every x in `on_hand`."""
    from scipy.stats import poisson

    k = np.arange(0, int(on_hand.max() + mean + 12 * math.sqrt(mean + 1) + 20))
    pk = poisson.pmf(k, mean)
    return np.array([float((np.maximum(k - x, 0) * pk).sum()) for x in on_hand])


def theory_fill_rate(
    days: float = DAYS,
    *,
    s: int = STORE_s,
    S: int = STORE_S,
    rate: float = DEMAND_PER_DAY,
    initial: int = STORE_INITIAL,
    review_h: float = STORE_REVIEW_H,
) -> float:
    """The exact expected fill rate of one store of this model over `days` (all stores
    are alike and independent while the DC is never short).

    A Markov chain on (on hand, units ordered yesterday) at each 22:00 review, just after
    the order placed two days earlier arrives: order S − IP when IP ≤ s, sell
    min(D, on hand) of a Poisson(rate) day's demand D, receive yesterday's order at the
    next review. Starts with `initial` units and nothing on order at time 0. Returns
    1 − E[units lost] ÷ E[units demanded].
    """
    from scipy.stats import poisson

    xmax = max(initial, S)
    xs = np.arange(xmax + 1)
    pmf = poisson.pmf(xs, rate)
    # T[x, y]: y units left a day after a review with x on hand (before the next arrival)
    T = np.zeros((xmax + 1, xmax + 1))
    T[:, 0] = poisson.sf(xs - 1, rate)  # P(D ≥ x)
    for x in range(1, xmax + 1):
        T[x, 1 : x + 1] = pmf[x - np.arange(1, x + 1)]
    lost_day = _expected_lost(rate, xs)
    # before the first review: `initial` on hand, a part day's demand
    first = review_h / 24.0
    p0 = poisson.pmf(np.arange(initial + 1), rate * first)
    P = np.zeros((xmax + 1, S + 1))  # probability of [on hand, units ordered yesterday]
    P[1 : initial + 1, 0] = p0[initial - np.arange(1, initial + 1)]
    P[0, 0] = poisson.sf(initial - 1, rate * first)
    lost = float(_expected_lost(rate * first, np.array([initial]))[0])
    t = first
    while t + 1.0 <= days + 1e-9:
        lost += float(P.sum(axis=1) @ lost_day)
        nxt = np.zeros_like(P)
        for q1 in range(S + 1):
            col = P[:, q1]
            if not col.any():
                continue
            keep = col.copy()
            for x in range(0, min(s - q1, xmax) + 1):  # IP = x + q1 ≤ s: order S − IP
                keep[x] = 0.0
                if col[x] > 0:
                    nxt[q1 : q1 + x + 1, S - x - q1] += col[x] * T[x, : x + 1]
            left = keep @ T  # no order
            nxt[q1:, 0] += left[: xmax + 1 - q1]
        P = nxt
        t += 1.0
    if days - t > 1e-9:  # the part day after the last review
        lost += float(P.sum(axis=1) @ _expected_lost(rate * (days - t), xs))
    return 1.0 - lost / (rate * days)


# ----------------------------------------------------------------------------- benchmark
def run(quick: bool = False, repeats: int = 3) -> dict[str, Any]:
    """Both tools side by side in this process, alternating which runs first; the median
    of `repeats` repetitions (quick: 30 days, one repetition, a smoke test)."""
    _scm()  # fail early, before any work, if the peer is missing
    days = 30 if quick else DAYS
    reps = 1 if quick else max(1, repeats)
    theory = theory_fill_rate(days)
    rows: list[dict[str, Any]] = []
    for rep in range(reps):
        seed = 1000 + rep
        order = ("supplynetpy", "omnitwin") if rep % 2 == 0 else ("omnitwin", "supplynetpy")
        got: dict[str, tuple[Any, ...]] = {}
        for tool in order:
            gc.collect()
            got[tool] = (run_supplynetpy if tool == "supplynetpy" else run_omnitwin)(seed, days)
        (snp_s, snp_fill), (omni_s, omni_fill, events) = got["supplynetpy"], got["omnitwin"]
        budget = snp_s / TARGET_SPEEDUP
        rows.append(
            {
                "rep": rep + 1,
                "seed": seed,
                "first": order[0],
                "supplynetpy_s": snp_s,
                "omnitwin_s": omni_s,
                "speedup": snp_s / omni_s,
                "supplynetpy_fill": snp_fill,
                "omnitwin_fill": omni_fill,
                "theory_fill": theory,
                "fill_diff_pt": 100.0 * (omni_fill - snp_fill),
                # what the target leaves per core event, against what a core event costs
                "omnitwin_events": events,
                "us_per_event_at_target": 1e6 * budget / max(events, 1),
                "omnitwin_us_per_event": 1e6 * omni_s / max(events, 1),
            }
        )
    num = [k for k in rows[0] if k not in ("rep", "seed", "first")]
    median = {"rep": "median", "seed": "", "first": ""}
    median.update({k: statistics.median(r[k] for r in rows) for k in num})
    table = [*rows, median]
    rounding = {"_s": 3, "speedup": 3, "_fill": 5, "fill_diff_pt": 3, "_event": 2}
    for row in table:
        for k, v in row.items():
            for suffix, nd in rounding.items():
                if k.endswith(suffix) and isinstance(v, float):
                    row[k] = round(v, nd)
    speed, diff = median["speedup"], median["fill_diff_pt"]
    met = speed >= TARGET_SPEEDUP and abs(diff) <= TARGET_FILL_PT
    times = f"{median['omnitwin_s']:.2f} s vs {median['supplynetpy_s']:.2f} s"
    summary = (
        f"omnitwin {speed:.2f}x as fast as SupplyNetPy ({times}, median of {reps} over "
        f"{days} days); fill {100 * median['omnitwin_fill']:.2f}% vs "
        f"{100 * median['supplynetpy_fill']:.2f}% ({diff:+.2f} pt; theory "
        f"{100 * theory:.2f}%); the target leaves "
        f"{median['us_per_event_at_target']:.1f} µs of omnitwin's run per core event "
        f"({median['omnitwin_events']:,.0f} events), omnitwin takes "
        f"{median['omnitwin_us_per_event']:.1f} µs; {'met' if met else 'not met'}"
    )
    return {
        "name": NAME,
        "title": TITLE,
        "target": TARGET,
        "met": bool(met),
        "summary": summary,
        "table": table,
    }


def _print(result: dict[str, Any]) -> None:
    table = result["table"]
    cols = list(table[0])
    cells = [[str(r[c]) for c in cols] for r in table]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(result["title"], "—", "target:", result["target"])
    print("  ".join(c.rjust(w) for c, w in zip(cols, width, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, width, strict=True)))
    print(result["summary"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 days, one repetition")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    _print(run(quick=args.quick, repeats=args.repeats))
