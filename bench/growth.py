"""Benchmark 4 — growth: how wall time grows with stores and with skus.

Two sweeps of one `orchestrated` replication of the case-study over a short horizon
(`days`, 7 by default): stores in `store_sizes` at `fixed_skus`, and skus in
`sku_sizes` at `fixed_stores`. Each repetition runs every point once, sweep after
sweep (so slow drift on a shared machine spreads over all sizes); a point's time is
the median over repetitions. The exponent b of each sweep is the least-squares fit of
log(wall) = a + b·log(size); b ≤ 1.1 is the target (linear growth).

A point slower than `max_point_s` in the first repetition is the last one of its
sweep: larger sizes are left out and the table says so, so the benchmark ends in
minutes rather than hours while the code is slow.

A log-log plot of both sweeps goes to `<out_dir>/bench_growth.png`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

from .common import (
    POLICY,
    RESULTS,
    SEED,
    Result,
    fit_exponent,
    forget_models,
    load_scenario,
    median,
    result,
    say,
    sized,
)

NAME = "growth"
TITLE = "Growth: wall time against stores and skus, fitted exponent"
TARGET = "fitted exponent ≤ 1.1 for stores and for skus (linear)"
LIMIT = 1.1
PLOT = "bench_growth.png"


def point(stores: int, skus: int, days: float) -> tuple[float, int]:
    """(wall seconds, events applied) of one replication at this size."""
    from twin.simulate import simulate

    sc = load_scenario(sized(stores, skus, days))
    forget_models()
    t0 = time.perf_counter()
    r = simulate(sc, POLICY, seed=SEED)
    return time.perf_counter() - t0, int(r.events["applied"])


def _as_ints(v: Sequence[int] | int) -> list[int]:
    return [int(x) for x in (v if isinstance(v, Sequence) else [v])]


def plot(
    sweeps: dict[str, tuple[list[int], list[float], float | None, float | None]], path: Path
) -> Path:
    """Log-log wall time per sweep with its fitted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import ticker

    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.2 * len(sweeps), 4.0), squeeze=False)
    for ax, (label, (sizes, times, b, a)) in zip(axes[0], sweeps.items(), strict=True):
        ax.loglog(sizes, times, "o-", label="measured (median)")
        if b is not None and a is not None:
            xs = np.geomspace(min(sizes), max(sizes), 50)
            ax.loglog(xs, np.exp(a) * xs**b, "--", label=f"fit: exponent {b:.2f}")
            x0, t0 = sizes[0], times[0]
            ax.loglog(xs, t0 * xs / x0, ":", color="grey", label="linear from first point")
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("wall seconds")
        ax.set_title(f"wall time vs {label}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(
    quick: bool = False,
    repeats: int = 3,
    *,
    store_sizes: Sequence[int] | int = (45, 90, 180, 360),
    sku_sizes: Sequence[int] | int = (250, 500, 1000, 2000),
    fixed_skus: int = 250,
    fixed_stores: int = 180,
    days: float = 7,
    max_point_s: float = 900.0,
    out_dir: Path | str | None = None,
) -> Result:
    if quick:
        store_sizes, sku_sizes, fixed_skus, fixed_stores, days = (2, 4), (2, 4), 2, 2, 1
    sweeps = {
        "stores": [(n, fixed_skus) for n in _as_ints(store_sizes)],
        "skus": [(fixed_stores, n) for n in _as_ints(sku_sizes)],
    }
    reps = max(1, repeats)
    times: dict[tuple[str, int], list[float]] = {}
    applied: dict[tuple[str, int], int] = {}
    cut: dict[str, int] = {}  # sweep -> the first size left out
    for rep in range(reps):
        for dim, pts in sweeps.items():
            for stores, skus in pts:
                size = stores if dim == "stores" else skus
                if dim in cut and size >= cut[dim]:
                    continue
                wall, n = point(stores, skus, days)
                times.setdefault((dim, size), []).append(wall)
                applied[(dim, size)] = n
                say(
                    f"rep {rep + 1}/{reps} {dim:>6} {size:>5}: {stores} stores × {skus} skus "
                    f"× {days:g} days → {wall:.2f} s ({n:,} events applied)"
                )
                if rep == 0 and wall > max_point_s:
                    bigger = [
                        (s if dim == "stores" else k)
                        for s, k in pts
                        if (s if dim == "stores" else k) > size
                    ]
                    if bigger:
                        cut[dim] = min(bigger)
                        say(f"{dim}: {wall:.0f} s > {max_point_s:g} s, larger sizes left out")
    rows: list[dict[str, object]] = []
    fits: dict[str, float | None] = {}
    curves: dict[str, tuple[list[int], list[float], float | None, float | None]] = {}
    for dim, pts in sweeps.items():
        fixed = f"{fixed_skus} skus" if dim == "stores" else f"{fixed_stores} stores"
        sizes, meds = [], []
        for stores, skus in pts:
            size = stores if dim == "stores" else skus
            ts = times.get((dim, size))
            if not ts:
                note = f"left out: a smaller size took > {max_point_s:g} s"
                rows.append(
                    {
                        "sweep": dim,
                        "size": size,
                        "fixed": fixed,
                        "wall s (median)": None,
                        "note": note,
                    }
                )
                continue
            m = median(ts)
            # the slope from the previous point: fixed costs flatten the overall fit at
            # small sizes, the local slope shows how the large sizes grow
            local = (
                math.log(m / meds[-1]) / math.log(size / sizes[-1])
                if sizes and size != sizes[-1]
                else None
            )
            sizes.append(size)
            meds.append(m)
            rows.append(
                {
                    "sweep": dim,
                    "size": size,
                    "fixed": fixed,
                    "wall s (median)": m,
                    "reps": len(ts),
                    "ms per unit": 1000.0 * m / size,
                    "local exponent": local,
                    "events applied": applied[(dim, size)],
                    "note": "",
                }
            )
        b = a = None
        if len(set(sizes)) >= 2:
            b, a = fit_exponent(sizes, meds)
        fits[dim] = b
        curves[dim] = (sizes, meds, b, a)
    files = []
    if any(len(c[0]) for c in curves.values()):
        out = Path(out_dir) if out_dir is not None else RESULTS
        plot(curves, out / PLOT)
        files.append(PLOT)
    complete = not cut and all(b is not None for b in fits.values())
    worst = max((b for b in fits.values() if b is not None), default=math.nan)
    met = None if quick else (complete and worst <= LIMIT)
    parts = []
    for dim, b in fits.items():
        sizes, meds = curves[dim][0], curves[dim][1]
        text = f"{dim} exponent {'—' if b is None else f'{b:.2f}'}"
        if len(sizes) >= 2:
            last = math.log(meds[-1] / meds[-2]) / math.log(sizes[-1] / sizes[-2])
            text += f" (last step {sizes[-2]:,}→{sizes[-1]:,}: {last:.2f})"
        if dim in cut and sizes:
            text += f", only up to {max(sizes):,}"
        parts.append(text)
    summary = "; ".join(parts) + (
        f" ({days:g}-day horizon, {fixed_skus} skus for the store sweep, "
        f"{fixed_stores} stores for the sku sweep; median of {reps})"
    )
    return result(NAME, TITLE, TARGET, met, summary, rows, files=files, exponents=fits)
