"""Benchmark 2b — the engine on envelopes: a whole interval's till sales of every store
as one envelope through the core, against the numpy floor, in the same process.

Per repetition, a fresh `Orchestrator` (180 stores, 2 DCs, 1,000 skus, GL posting
immediately) opens every store × sku position with one opening envelope, untimed. Then
`envelopes` sale envelopes of `stores` × `lines` lines (each store's `lines` distinct
skus, 1–3 units, drawn from seed 1 and emitted through the bus's envelope publisher
before timing) go through, one after the other, alternating with the floor:

- **core**: `core.bus.deliver_envelope(env)` (sequencing and duplicates per sub-stream,
  catalog and ledger checks, positions by `np.subtract.at`, the movement log by whole
  columns, one journal entry) and `core.gl.balances.settle()` (the entry's value columns
  added into the GL balances), timed with `perf_counter`;
- **floor**: the same lines as plain numpy — `np.add.at` of -qty into a dense
  (location × sku) int64 array by flat index, and location, sku and qty copied into
  preallocated int64 columns — timed the same way. Which of the two goes first (and
  reads the envelope's columns into the cache) alternates from envelope to envelope.

The figure is floor time ÷ core time (the core's speed as a fraction of the floor's),
from the medians of each repetition, then the median over repetitions. After the timed
loop the core's on-hand is compared with the floor's dense array and its invariants are
checked (untimed).

**Reserve**: a single 3-line `core.reserve` (three skus at one DC, confirmed at once)
timed call by call, alternating with a bare-dict floor: the same three lines checked
against and taken from `{(sku, location): available}` and the hold appended to a list.
p50 and p99 in µs of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .common import Result, median, quiet, ratio, result, say

NAME = "engine_envelope"
TITLE = "Engine on envelopes: stores × lines through bus → ledger → GL vs the numpy floor"
TARGET = "an envelope at ≥ 0.25× the numpy floor's speed; 3-line reserve p50/p99 beside a bare dict"


def network(stores: int, skus: int) -> Any:
    """A catalog of 2 DCs (ids 0, 1), `stores` stores (ids 2…) and `skus` skus."""
    from orchestrator import Catalog

    cat = Catalog()
    for s in range(skus):
        cat.add_sku(f"SKU-{s:05d}", 100 + (s * 37) % 4900)
    cat.add_location("DC-0", "dc")
    cat.add_location("DC-1", "dc")
    for i in range(stores):
        cat.add_location(f"STORE-{i:03d}", "store")
    cat.add_channel("web", "web")
    return cat


def opened_core(stores: int, skus: int, units: int) -> Any:
    """A core whose every store and DC position holds `units` (one opening envelope)."""
    from orchestrator import ManualClock, MovementKind, Orchestrator

    core = Orchestrator(network(stores, skus), ManualClock())
    n_loc = stores + 2
    loc = np.repeat(np.arange(n_loc), skus)
    sku = np.tile(np.arange(skus), n_loc)
    pub = core.bus.envelope_publisher("migration")
    env = pub.emit(MovementKind.OPENING, loc, sku, np.full(len(sku), units), 0.0)
    assert core.bus.deliver_envelope(env)["applied"] == n_loc
    return core


def sale_envelopes(core: Any, stores: int, lines: int, skus: int, n: int, seed: int) -> list:
    """`n` envelopes of every store's till sales of a 15-minute interval."""
    from orchestrator import MovementKind

    rng = np.random.default_rng(seed)
    pub = core.bus.envelope_publisher("pos")
    loc = np.repeat(np.arange(2, stores + 2), lines)
    out = []
    for r in range(n):
        pick = np.argpartition(rng.random((stores, skus)), lines - 1, axis=1)[:, :lines]
        qty = rng.integers(1, 4, stores * lines)
        out.append(pub.emit(MovementKind.SALE, loc, pick.reshape(-1), qty, 900.0 * (r + 1)))
    return out


def envelope_rep(stores: int, lines: int, skus: int, n: int, seed: int) -> dict[str, float]:
    """One repetition: `n` envelopes through the core, alternating with the floor."""
    units = 10 * n
    core = opened_core(stores, skus, units)
    envs = sale_envelopes(core, stores, lines, skus, n, seed)
    n_loc = stores + 2
    dense = np.full(n_loc * skus, units, dtype=np.int64)
    cap = n * stores * lines
    cols = [np.zeros(cap, dtype=np.int64) for _ in range(3)]
    t_core, t_floor = [], []
    clock = time.perf_counter
    deliver, settle = core.bus.deliver_envelope, core.gl.balances.settle
    off = 0

    def floor(e: Any, off: int) -> float:
        t0 = clock()
        np.add.at(dense, e.location * skus + e.sku, -e.qty)
        k = e.n_lines
        cols[0][off : off + k] = e.location
        cols[1][off : off + k] = e.sku
        cols[2][off : off + k] = e.qty
        return clock() - t0

    def through_core(e: Any) -> float:
        t0 = clock()
        deliver(e)
        settle()
        return clock() - t0

    quiet()
    for i, e in enumerate(envs):  # who goes first (reading the lines into cache) alternates
        if i % 2:
            t_core.append(through_core(e))
            t_floor.append(floor(e, off))
        else:
            t_floor.append(floor(e, off))
            t_core.append(through_core(e))
        off += e.n_lines
    d = core.ledger.dense(skus, n_loc)
    same = bool(np.array_equal(d.on_hand.T.reshape(-1), dense))
    inv = core.check().invariants
    sound = bool(
        inv["units_conserved"]
        and inv["gl_balanced"]
        and inv["gl_reconciled"]
        and inv["events_lost"] == 0
        and inv["duplicate_applications"] == 0
    )
    f_med, c_med = median(t_floor), median(t_core)
    return {
        "floor_us": f_med * 1e6,
        "core_us": c_med * 1e6,
        "ratio": ratio(f_med, c_med),
        "ratio_total": ratio(sum(t_floor), sum(t_core)),
        "lines_per_s": ratio(stores * lines, c_med),
        "same": float(same and sound),
    }


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e6, q))


def reserve_rep(n: int) -> dict[str, float]:
    """`n` single 3-line reserves, call by call, alternating with the bare-dict floor."""
    from orchestrator import OrderLine

    core = opened_core(4, 50, 10 * n)
    lines = [OrderLine(sku, 1, 0) for sku in (3, 17, 42)]
    avail = {(s, loc): 10 * n for s in range(50) for loc in range(6)}
    held: list[tuple[str, int, int, int]] = []

    def bare(order: str) -> bool:
        for ln in lines:
            if avail[(ln.sku, ln.location)] < ln.qty:  # type: ignore[index]
                return False
        for ln in lines:
            avail[(ln.sku, ln.location)] -= ln.qty  # type: ignore[index]
            held.append((order, ln.sku, ln.location, ln.qty))  # type: ignore[arg-type]
        return True

    reserve: Callable[..., Any] = core.reserve
    clock = time.perf_counter
    t_core, t_bare = [], []
    quiet()
    for i in range(n):
        order = f"o{i}"
        t0 = clock()
        r = reserve(order, "web", lines)
        t1 = clock()
        ok = bare(order)
        t2 = clock()
        assert r.status == "confirmed" and ok
        t_core.append(t1 - t0)
        t_bare.append(t2 - t1)
    return {
        "p50_us": _pct(t_core, 50),
        "p99_us": _pct(t_core, 99),
        "bare_p50_us": _pct(t_bare, 50),
        "bare_p99_us": _pct(t_bare, 99),
    }


def run(
    quick: bool = False,
    repeats: int = 3,
    stores: int = 180,
    lines: int = 50,
    skus: int = 1000,
    envelopes: int = 200,
    reserves: int = 3000,
) -> Result:
    """Both figures, `repeats` times; medians over repetitions."""
    if quick:
        stores, lines, skus, envelopes, reserves = 6, 5, 40, 20, 200
    reps = max(1, repeats)
    rows: list[dict[str, object]] = []
    env_reps, res_reps = [], []
    for i in range(reps):
        e = envelope_rep(stores, lines, skus, envelopes, seed=1 + i)
        r = reserve_rep(reserves)
        env_reps.append(e)
        res_reps.append(r)
        say(
            f"rep {i + 1}/{reps}: envelope core {e['core_us']:,.0f} µs vs floor "
            f"{e['floor_us']:,.0f} µs = {e['ratio']:.2f}×; reserve p50 {r['p50_us']:.1f} µs"
            f" (bare dict {r['bare_p50_us']:.2f} µs)"
        )
        rows.append(_row(i + 1, e, r))
    med_e = {k: median(x[k] for x in env_reps) for k in env_reps[0]}
    med_r = {k: median(x[k] for x in res_reps) for k in res_reps[0]}
    rows.append(_row("median", med_e, med_r))
    rows[-1]["same result, invariants hold"] = all(x["same"] for x in env_reps)
    met = None if quick else med_e["ratio"] >= 0.25
    summary = (
        f"an envelope of {stores} stores × {lines} lines through bus → ledger → GL in "
        f"{med_e['core_us']:,.0f} µs vs the numpy floor's {med_e['floor_us']:,.0f} µs: "
        f"{med_e['ratio']:.2f}× the floor ({med_e['lines_per_s']:,.0f} lines/s); a 3-line "
        f"reserve p50 {med_r['p50_us']:.1f} µs, p99 {med_r['p99_us']:.1f} µs (bare dict "
        f"{med_r['bare_p50_us']:.2f} / {med_r['bare_p99_us']:.2f} µs); median of {reps}"
    )
    return result(NAME, TITLE, TARGET, met, summary, rows)


def _row(rep: object, e: dict[str, float], r: dict[str, float]) -> dict[str, object]:
    return {
        "rep": rep,
        "envelope core µs (median)": e["core_us"],
        "numpy floor µs (median)": e["floor_us"],
        "floor ÷ core": e["ratio"],
        "floor ÷ core, totals": e["ratio_total"],
        "core lines/s": e["lines_per_s"],
        "same result, invariants hold": bool(e["same"]),
        "reserve p50 µs": r["p50_us"],
        "reserve p99 µs": r["p99_us"],
        "bare dict p50 µs": r["bare_p50_us"],
        "bare dict p99 µs": r["bare_p99_us"],
    }


if __name__ == "__main__":
    from .common import markdown_table

    res = run()
    print(res["summary"])
    print(markdown_table(res["table"]))
