"""The fit report: per sku class (and online), what the twin believes against what the
history shows — weekly units observed and fitted, the day-of-week profile, and figures of
fit: WAPE of daily and weekly totals beside the WAPE a perfect Poisson model would score
by chance (its noise floor), R² of daily totals, the dispersion of a (store, sku)'s daily
units (variance ÷ mean around the fitted mean: 1 for the Poisson counts the twin draws,
above 1 where sales are lumpier) and the demand pattern of its cells (Syntetos–Boylan:
smooth, erratic, intermittent, lumpy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .fit import Fit, Shape
from .package import WALK_IN, Ignored, Package, date_of
from .shapes import weekday

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PATTERNS = ("smooth", "erratic", "intermittent", "lumpy")


@dataclass(slots=True)
class Goodness:
    """How well one series (a class's walk-ins, or online) is fitted."""

    name: str
    skus: int
    units: int
    observed: np.ndarray  # daily totals
    fitted: np.ndarray
    wape_daily: float
    wape_weekly: float
    floor_daily: float  # the WAPE of Poisson draws around the fitted totals
    r2_daily: float
    dispersion: float
    patterns: dict[str, float]  # share of (store, sku) cells with sales, by pattern
    silent_cells: float  # share of cells with no sale at all


def _wape(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.abs(y - yhat).sum() / max(y.sum(), 1e-12))


def _weekly(x: np.ndarray) -> np.ndarray:
    n = x.size // 7 * 7
    return x[:n].reshape(-1, 7).sum(axis=1)


def _by_day(
    cell: np.ndarray, t: np.ndarray, units: np.ndarray, n_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Units summed per (cell, day): (the cell of each, units)."""
    if cell.size == 0:
        return cell, units
    key, inv = np.unique(cell * n_days + t, return_inverse=True)
    return key // n_days, np.bincount(inv.ravel(), weights=units)


def _patterns(key: np.ndarray, units: np.ndarray, n_days: int) -> dict[str, float]:
    """Each cell's pattern from its sale days (key: the cell of each row, one row a day)."""
    if key.size == 0:
        return dict.fromkeys(PATTERNS, 0.0)
    cells, inv = np.unique(key, return_inverse=True)
    inv = inv.ravel()
    n = np.bincount(inv).astype(float)
    s1 = np.bincount(inv, weights=units)
    s2 = np.bincount(inv, weights=units * units)
    mean = s1 / n
    cv2 = np.where(n > 1, (s2 / n - mean**2) / np.maximum(mean**2, 1e-12), 0.0)
    adi = n_days / n
    lumpy_sizes, sparse = cv2 >= 0.49, adi >= 1.32
    counts = {
        "smooth": (~sparse & ~lumpy_sizes).sum(),
        "erratic": (~sparse & lumpy_sizes).sum(),
        "intermittent": (sparse & ~lumpy_sizes).sum(),
        "lumpy": (sparse & lumpy_sizes).sum(),
    }
    return {k: float(v) / cells.size for k, v in counts.items()}


def goodness(package: Package, f: Fit) -> list[Goodness]:
    """Figures of fit for every sku class's walk-ins and for online orders."""
    sales = package.sales
    assert sales is not None
    first, n_days = f.first_day, f.days
    days = np.arange(first, first + n_days)
    t = sales.day - first
    skus = package.skus
    cls = np.array([f.classes.index(c) for c in skus.sku_class])
    n_store = len(f.store_codes)
    store_col = np.full(len(package.locations.code), -1)
    store_col[package.stores] = np.arange(n_store)
    rng = np.random.default_rng(0)  # the noise floor's draws: the same report every time
    out = []
    walk = sales.channel == WALK_IN
    for c, name in enumerate(f.classes):
        rows = walk & (cls[sales.sku] == c)
        y = np.bincount(t[rows], weights=sales.units[rows], minlength=n_days).astype(float)
        shape = f.store_shapes[name].on(days)
        in_class = cls == c
        lam = f.rates[in_class]  # [sku of class, store]
        yhat = float(lam.sum()) * shape
        cell = sales.sku[rows].astype(np.int64) * n_store + store_col[sales.location[rows]]
        x = sales.units[rows].astype(float)
        m = f.rates.ravel()[cell] * shape[t[rows]]
        n_cells = int((lam > 0).sum())
        chi2 = float((x * x / np.maximum(m, 1e-12)).sum() - 2 * x.sum() + lam.sum() * n_days)
        out.append(
            _summary(
                name,
                int(in_class.sum()),
                y,
                yhat,
                rng,
                chi2 / max(n_cells * n_days, 1),
                _patterns(*_by_day(cell, t[rows], x, n_days), n_days),
                1.0 - np.unique(cell).size / max(in_class.sum() * n_store, 1),
            )
        )
    online = ~walk
    if online.any():
        y = np.bincount(t[online], weights=sales.units[online], minlength=n_days).astype(float)
        total = sum(ch.orders_per_day * ch.lines_per_order for ch in f.channels)
        yhat = total * f.online_shape.on(days)
        key = sales.sku[online].astype(np.int64) * n_days + t[online]
        per_day, inv = np.unique(key, return_inverse=True)
        units = np.bincount(inv.ravel(), weights=sales.units[online])
        rate = f.online_share * total
        x_sku = per_day // n_days
        m = rate[x_sku] * f.online_shape.on(days)[per_day % n_days]
        chi2 = float((units * units / np.maximum(m, 1e-12)).sum() - 2 * units.sum())
        chi2 += float(rate.sum() * n_days)
        sold = np.unique(x_sku).size
        out.append(
            _summary(
                "online (all channels, by sku)",
                len(skus.code),
                y,
                yhat,
                rng,
                chi2 / max(len(skus.code) * n_days, 1),
                _patterns(x_sku, units, n_days),
                1.0 - sold / len(skus.code),
            )
        )
    return out


def _summary(
    name: str,
    n_skus: int,
    y: np.ndarray,
    yhat: np.ndarray,
    rng: np.random.Generator,
    dispersion: float,
    patterns: dict[str, float],
    silent: float,
) -> Goodness:
    draws = rng.poisson(np.maximum(yhat, 0.0), (20, yhat.size))
    floor = float(np.mean([_wape(d.astype(float), yhat) for d in draws]))
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - yhat) ** 2).sum()) / ss if ss > 0 else float("nan")
    return Goodness(
        name,
        n_skus,
        int(y.sum()),
        y,
        yhat,
        _wape(y, yhat),
        _wape(_weekly(y), _weekly(yhat)),
        floor,
        r2,
        dispersion,
        patterns,
        silent,
    )


def _dow_profile(days: np.ndarray, y: np.ndarray) -> np.ndarray:
    wd = weekday(days)
    return np.array([y[wd == w].mean() if (wd == w).any() else 0.0 for w in range(7)])


def plot(figures: list[Goodness], f: Fit, out: Path) -> Path:
    """One row per class (and online): weekly units observed and fitted; mean units by
    weekday observed and fitted."""
    days = np.arange(f.first_day, f.first_day + f.days)
    n = len(figures)
    fig, axes = plt.subplots(
        n, 2, figsize=(12, 2.6 * n), squeeze=False, gridspec_kw={"width_ratios": [3, 1]}
    )
    weeks = np.arange(f.days // 7)
    for row, g in zip(axes, figures, strict=True):
        ax, bx = row
        ax.plot(weeks, _weekly(g.observed), ".", color="#444", label="observed")
        ax.plot(weeks, _weekly(g.fitted), "-", color="#c0392b", label="fitted")
        ax.set_title(
            f"{g.name}: weekly units (WAPE {g.wape_weekly:.1%}, daily {g.wape_daily:.1%}"
            f" vs floor {g.floor_daily:.1%})",
            fontsize=9,
        )
        ax.set_xlabel(f"week from {date_of(f.first_day)}", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
        bx.bar(
            np.arange(7) - 0.2, _dow_profile(days, g.observed), 0.4, color="#888", label="observed"
        )
        bx.bar(
            np.arange(7) + 0.2, _dow_profile(days, g.fitted), 0.4, color="#c0392b", label="fitted"
        )
        bx.set_xticks(range(7), WEEKDAYS, fontsize=7)
        bx.set_title("mean units by weekday", fontsize=9)
    fig.tight_layout()
    path = out / "fit.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _num(x: float, spec: str) -> str:
    """A figure, or — where there is none (R² of a class that never sold)."""
    return format(x, spec) if np.isfinite(x) else "—"


def _shape_row(name: str, s: Shape) -> str:
    dow = " ".join(f"{v:.2f}" for v in s.dow)
    months = " ".join(f"{v:.2f}" for v in s.months)
    return f"| {name} | {dow} | {months} |"


def write_report(
    package: Package, f: Fit, out: Path, ignored: list[Ignored], levels: str = ""
) -> Path:
    """`report.md` and `fit.png` in the fit folder."""
    figures = goodness(package, f)
    png = plot(figures, f, out)
    locs = package.locations
    kinds = {k: locs.kind.count(k) for k in dict.fromkeys(locs.kind)}
    sales = package.sales
    assert sales is not None
    lines = [
        f"# Fit of {package.folder.name}",
        "",
        f"Sales {date_of(f.first_day)} to {date_of(f.last_day)} ({f.days} days):"
        f" {int(sales.units.sum()):,} units on {sales.units.size:,} rows;"
        f" {', '.join(f'{v} {k}' + ('s' if v != 1 else '') for k, v in kinds.items())};"
        f" {len(package.skus.code)} skus"
        f" in {len(f.classes)} classes.",
        "",
        "## Fitted against observed",
        "",
        "WAPE: |observed − fitted| summed over days (or weeks) ÷ observed units. Floor: the"
        " daily WAPE a perfect Poisson model would score by chance (20 draws). Dispersion:"
        " variance ÷ mean of a (store, sku)'s daily units around its fitted mean (1: Poisson,"
        " as the twin draws; above 1: lumpier sales, so the twin's day-to-day swings are"
        " milder than the history's). Patterns: cells with sales by ADI (≥ 1.32: sparse) and"
        " CV² of sale sizes (≥ 0.49: variable).",
        "",
        "| series | skus | units | WAPE daily | floor | WAPE weekly | R² daily | dispersion |"
        " smooth | erratic | intermittent | lumpy | cells never sold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in figures:
        p = g.patterns
        lines.append(
            f"| {g.name} | {g.skus:,} | {g.units:,} | {g.wape_daily:.1%} | {g.floor_daily:.1%} |"
            f" {g.wape_weekly:.1%} | {_num(g.r2_daily, '.3f')} | {_num(g.dispersion, '.2f')} |"
            f" {p['smooth']:.0%} | {p['erratic']:.0%} | {p['intermittent']:.0%} |"
            f" {p['lumpy']:.0%} | {g.silent_cells:.0%} |"
        )
    lines += [
        "",
        f"![fitted against observed]({png.name})",
        "",
        "## Shapes",
        "",
        "Day of week (Mon..Sun) and monthly factors (Jan..Dec, at mid-month, joined by"
        " straight lines), averaging 1 over the history.",
        "",
        "| series | day of week | months |",
        "|---|---|---|",
        *[_shape_row(c, s) for c, s in f.store_shapes.items()],
        _shape_row("online", f.online_shape),
        "",
        "## Channels",
        "",
        "| channel | kind | orders a day | units an order | collected in store | return rate |",
        "|---|---|---:|---:|---:|---:|",
        *[
            f"| {c.code} | {c.kind} | {c.orders_per_day:.1f} | {c.lines_per_order:.2f} |"
            f" {c.bopis_share:.1%} | {c.return_rate:.1%} |"
            for c in f.channels
        ],
        "",
        f"Walk-in return rate {f.store_return_rate:.1%}"
        + (" (from the package's returns)." if f.returns_fitted else " (calibrated default)."),
        "",
    ]
    if levels:
        lines += ["## Reorder levels", "", levels, ""]
    notes = [*f.notes, *(str(i) for i in ignored)]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
