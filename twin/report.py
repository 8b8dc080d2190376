"""Reports: what a run or a comparison writes to `results/<id>/`.

`result.json` (the KPIS.md object), daily series as CSV and Parquet, PNG plots and
a `report.md` a planner can read top to bottom.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .experiments import Aggregate, Comparison
from .report_money import benefit_lines, money_rows

# KPIs shown in tables, with a label, a unit and whether higher is better
TABLE_KPIS: list[tuple[str, str, str, bool | None]] = [
    ("fill_rate", "Fill rate", "%", True),
    ("lost_sales_units", "Lost sales", "units", False),
    ("oversell_incidents", "Oversell incidents", "orders", False),
    ("pick_shortages", "Pick shortages", "picks", False),
    ("stockout_frequency", "Stockout frequency", "%", False),
    ("inventory_accuracy", "Inventory accuracy", "%", True),
    ("reservation_latency_p95_s", "Reservation latency p95", "s", False),
    ("fulfillment_cycle_time_p50_h", "Fulfilment cycle p50", "h", False),
    ("fulfillment_cycle_time_bopis_p50_h", "Click-and-collect ready p50", "h", False),
    ("fulfillment_cycle_time_ship_p50_h", "Click-to-ship p50", "h", False),
    ("transfer_approval_time_p50_h", "Transfer approval p50", "h", False),
    ("transfer_cycle_time_p50_h", "Transfer cycle p50", "h", False),
    ("store_replenishment_lead_time_p50_h", "Store replenishment p50", "h", False),
    ("replenishment_lead_time_mean_d", "Replenishment lead time", "d", False),
    ("returns_to_available_p50_h", "Returns to available p50", "h", False),
    ("exception_backlog_peak", "Exception backlog peak", "", False),
    ("exception_age_p95_h", "Exception age p95", "h", False),
    ("dead_letter_age_p95_h", "Dead-letter age p95", "h", False),
    ("manual_reconciliation_hours", "Manual reconciliation", "h", False),
    ("posting_delay_p95_h", "Posting delay p95", "h", False),
    ("unposted_movements_end", "Unposted movements at end", "", False),
    ("channel_sync_lag_p95_s", "Channel sync lag p95", "s", False),
    ("inventory_turns", "Inventory turns", "/yr", True),
    ("orders_total", "Orders", "", None),
    ("units_demanded", "Units demanded", "", None),
]


# figures from the runs' extras shown under the KPIs (mean over replications)
EXTRA_FIGURES: list[tuple[str, str, str]] = [
    ("store_inventory_accuracy", "Store inventory accuracy", "%"),
    ("dc_inventory_accuracy", "DC inventory accuracy", "%"),
    ("cycle_count_precision", "Cycle counts that found a wrong record", "%"),
    ("flagged_count_precision", "... of those the count ranking flagged", "%"),
    ("transfers_to_a_person_share", "Transfers decided by a person", "%"),
    ("store_delivery_cycle_time_p50_h", "DC → store delivery p50 (h)", ""),
    ("pos_resourced", "Supplier POs re-sourced", ""),
    ("pos_expedited", "Supplier POs expedited", ""),
]


def _extras_lines(aggs: dict[str, Aggregate]) -> str:
    """Operational figures from the extras: the mean over replications (— if none)."""
    rows = []
    for key, label, unit in EXTRA_FIGURES:
        cells = []
        for a in aggs.values():
            xs = [r.get("extras", {}).get(key, math.nan) for r in a.runs]
            xs = [x for x in xs if x is not None and not math.isnan(x)]
            cells.append(fmt(float(np.mean(xs)), unit) if xs else "—")
        rows.append([label, *cells])
    return markdown_table(["figure", *aggs], rows)


INTERVAL_NOTE = (
    "Intervals are Student t over replications, clipped to the range a KPI can take"
    " (shares 0–100%, counts and times ≥ 0)."
)


def fmt(v: float | None, unit: str = "") -> str:
    """A number as a planner reads it: percentages for shares, sensible precision."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if unit == "%":
        return f"{100 * v:.2f}%"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.1 or a == 0:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_ci(ci: Sequence[float] | None, unit: str = "") -> str:
    if not ci:
        return ""
    lo, hi = ci
    return f"[{fmt(lo, unit)}, {fmt(hi, unit)}]"


def comparison_rows(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table: mean [95% CI] per policy, Δ vs the first."""
    pols = list(cmp.policies)
    header = ["KPI"] + [p for p in pols] + [f"Δ {p} vs {pols[0]}" for p in pols[1:]]
    rows = []
    for key, label, unit, _better in TABLE_KPIS:
        row = [label + (f" ({unit})" if unit and unit != "%" else "")]
        for p in pols:
            res = cmp.policies[p].result
            ci = (res.get("ci95") or {}).get(key)
            cell = fmt(res["kpis"][key], unit)
            if ci:
                cell += " " + fmt_ci(ci, unit)
            row.append(cell)
        for p in pols[1:]:
            d = cmp.differences[p][key]
            if d is None:
                row.append("—")
                continue
            dunit = "pp" if unit == "%" else unit
            mean = 100 * d["mean"] if unit == "%" else d["mean"]
            ci = [100 * x for x in d["ci95"]] if (d["ci95"] and unit == "%") else d["ci95"]
            cell = f"{'+' if mean > 0 else ''}{fmt(mean)}{' ' + dunit if dunit else ''}"
            if ci:
                cell += f" [{fmt(ci[0])}, {fmt(ci[1])}]"
            if d["significant"]:
                cell += " *"
            row.append(cell)
        rows.append(row)
    return header, rows


def run_rows(agg: Aggregate) -> tuple[list[str], list[list[str]]]:
    res = agg.result
    header = ["KPI", "mean", "95% interval"] if res["replications"] > 1 else ["KPI", "value"]
    rows = []
    for key, label, unit, _ in TABLE_KPIS:
        ci = (res.get("ci95") or {}).get(key)
        r = [label + (f" ({unit})" if unit and unit != "%" else ""), fmt(res["kpis"][key], unit)]
        if res["replications"] > 1:
            r.append(fmt_ci(ci, unit))
        rows.append(r)
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = [
        "| " + " | ".join(esc(h) for h in header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ series
def series_frame(aggs: dict[str, Aggregate]) -> pd.DataFrame:
    frames = []
    for pol, agg in aggs.items():
        for r in agg.runs:
            df = pd.DataFrame(r["series"])
            df.insert(0, "replication", r["seed_index"])
            df.insert(0, "policy", pol)
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


SERIES_PLOTS = [
    ("fill_rate", "Daily fill rate", "fill rate", "fill_rate.png"),
    ("mean_ats_store", "Available-to-sell per store and sku", "units", "ats.png"),
    ("oversells", "Oversell incidents (cumulative)", "orders", "oversells.png"),
    ("exception_backlog", "Open exceptions", "exceptions", "exception_backlog.png"),
    ("posting_delay_p95_h", "Posting delay p95 (by day)", "hours", "posting_delay.png"),
]


#: plots are read small (a report's column, the planner page's grid at ~420 px): a compact
#: figure with large type, rendered at 150 dpi so it stays sharp when opened full size
PLOT_STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
}
DPI = 150


def plot_series(df: pd.DataFrame, out: Path, title_prefix: str) -> list[str]:
    """One PNG per series: mean over replications per policy, with the min–max band."""
    with plt.rc_context(PLOT_STYLE):
        return _plot_series(df, out, title_prefix)


def _plot_series(df: pd.DataFrame, out: Path, title_prefix: str) -> list[str]:
    names = []
    if df.empty:
        return names
    for col, title, ylabel, fname in SERIES_PLOTS:
        if col not in df:
            continue
        fig, ax = plt.subplots(figsize=(5.6, 3.3), dpi=DPI)
        for pol, g in df.groupby("policy", sort=False):
            stats = g.groupby("day")[col].agg(["mean", "min", "max"])
            x = stats.index.to_numpy() + 1
            ax.plot(x, stats["mean"], label=pol, lw=2)
            ax.fill_between(x, stats["min"], stats["max"], alpha=0.2)
        ax.set_title(f"{title_prefix}: {title}", loc="left")
        ax.set_xlabel("day")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / fname)
        plt.close(fig)
        names.append(fname)
    return names


BAR_KPIS = [
    ("fill_rate", "Fill rate"),
    ("oversell_incidents", "Oversell incidents"),
    ("stockout_frequency", "Stockout frequency"),
    ("inventory_accuracy", "Inventory accuracy"),
    ("posting_delay_p95_h", "Posting delay p95 (h)"),
    ("manual_reconciliation_hours", "Manual reconciliation (h)"),
]


def plot_comparison(aggs: dict[str, Aggregate], out: Path, title: str) -> str:
    """Bars of key KPIs per policy with 95% intervals."""
    with plt.rc_context(PLOT_STYLE):
        return _plot_comparison(aggs, out, title)


def _plot_comparison(aggs: dict[str, Aggregate], out: Path, title: str) -> str:
    fig, axes = plt.subplots(2, 3, figsize=(9, 5.4), dpi=DPI)
    pols = list(aggs)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes.ravel(), BAR_KPIS, strict=True):
        means, errs = [], []
        for p in pols:
            res = aggs[p].result
            m = res["kpis"][key]
            ci = (res.get("ci95") or {}).get(key)
            means.append(np.nan if m is None else m)
            errs.append([0, 0] if not ci or m is None else [m - ci[0], ci[1] - m])
        err = np.array(errs).T
        ax.bar(pols, means, yerr=err, capsize=6, color=colors[: len(pols)])
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="x", labelsize=9, rotation=15 if len(pols) > 2 else 0)
    fig.suptitle(f"{title}: policies compared (bars: mean; whiskers: 95% interval)")
    fig.tight_layout()
    fig.savefig(out / "comparison.png")
    plt.close(fig)
    return "comparison.png"


# ------------------------------------------------------------------------------ writers
EXCEPTIONS_NOTE = (
    "Open exceptions by kind: backlog peak / at the end / age p95 in hours (means over"
    " replications). The overall age p95 mixes kinds that are worked in minutes with kinds"
    " that wait days; compare kind by kind."
)


def exception_rows(aggs: dict[str, Aggregate]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the exceptions-by-kind table: one row per kind any policy saw."""
    tables = {p: a.result.get("exceptions_by_kind") or {} for p, a in aggs.items()}
    kinds = list(dict.fromkeys(k for t in tables.values() for k in t))
    header = ["exception kind", *aggs]
    rows = []
    for kind in kinds:
        cells = [t.get(kind) for t in tables.values()]
        if not any(c and (c["backlog_peak"] or c["age_p95_h"] is not None) for c in cells):
            continue
        rows.append(
            [
                kind,
                *[
                    " / ".join((fmt(c["backlog_peak"]), fmt(c["backlog_end"]), fmt(c["age_p95_h"])))
                    if c
                    else "—"
                    for c in cells
                ],
            ]
        )
    return header, rows


def _exception_lines(aggs: dict[str, Aggregate]) -> list[str]:
    header, rows = exception_rows(aggs)
    if not rows:
        return ["No exceptions were raised.", ""]
    return [EXCEPTIONS_NOTE, "", markdown_table(header, rows), ""]


def _invariant_lines(aggs: dict[str, Aggregate]) -> str:
    header = ["invariant", *aggs]
    keys = list(next(iter(aggs.values())).result["invariants"])
    rows = [[k, *[str(a.result["invariants"][k]) for a in aggs.values()]] for k in keys]
    return markdown_table(header, rows)


def _events_lines(aggs: dict[str, Aggregate]) -> str:
    header = ["events", *aggs]
    keys = list(next(iter(aggs.values())).result["events"])
    rows = [[k, *[f"{a.result['events'][k]:,}" for a in aggs.values()]] for k in keys]
    return markdown_table(header, rows)


def write_series(df: pd.DataFrame, out: Path) -> None:
    df.to_csv(out / "series.csv", index=False)
    df.to_parquet(out / "series.parquet", index=False)


def write_comparison(cmp: Comparison, out: Path, description: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(cmp.to_dict(), indent=2, default=_json))
    df = series_frame(cmp.policies)
    write_series(df, out)
    plots = plot_series(df, out, cmp.scenario)
    bar = plot_comparison(cmp.policies, out, cmp.scenario)
    header, rows = comparison_rows(cmp)
    first = next(iter(cmp.policies.values())).result
    pols = list(cmp.policies)
    text = [
        f"# {cmp.scenario}: {' vs '.join(pols)}",
        "",
        description.strip(),
        "",
        f"{first['replications']} replications per policy on the same seeds (common random"
        f" numbers), {first['sim_days']:g} simulated days each, base seed {first['seed']};"
        f" {cmp.wall_seconds:.0f} s of wall time.",
        "",
        "## Results",
        "",
        f"Each cell is the mean over replications with its 95% interval. The Δ columns are"
        f" paired differences against **{pols[0]}**; `*` marks a difference whose interval"
        f" excludes zero. {INTERVAL_NOTE}",
        "",
        markdown_table(header, rows),
        "",
        f"![{cmp.scenario} comparison]({bar})",
        "",
        "Operational figures behind the KPIs (means over replications):",
        "",
        _extras_lines(cmp.policies),
        "",
        "## Exceptions by kind",
        "",
        *_exception_lines(cmp.policies),
        *_money_section(cmp),
        "## Over time",
        "",
        *[f"![{p}]({p})\n" for p in plots],
        "## Checks",
        "",
        "Every run is checked against the invariants of KPIS.md (conservation of units,"
        " balanced and reconciled journals, no event lost or applied twice, no reservation"
        " beyond stock under `orchestrated`).",
        "",
        _invariant_lines(cmp.policies),
        "",
        _events_lines(cmp.policies),
        "",
        "Files: `result.json` (the KPIS.md result objects), `series.csv` / `series.parquet`"
        " (daily series per policy and replication), the PNG plots above.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(text))
    return path


def _money_section(cmp: Comparison) -> list[str]:
    """What the figures are worth a year (the scenario's `economics`), and the business
    case against the baseline."""
    first = next(iter(cmp.policies.values())).result
    if "money" not in first:
        return []
    currency = cmp.currency
    return [
        "## Money",
        "",
        f"Per year, in {currency}, from the scenario's `economics` section (every price"
        " assumed unless the scenario cites it; see `omnitwin scenarios show --resolved`).",
        "",
        markdown_table(*money_rows(cmp.policies)),
        "",
        *benefit_lines(cmp, currency),
        "",
    ]


def write_run(agg: Aggregate, out: Path, description: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(agg.result, indent=2, default=_json))
    df = series_frame({agg.policy: agg})
    write_series(df, out)
    plots = plot_series(df, out, agg.scenario)
    bar = plot_comparison({agg.policy: agg}, out, agg.scenario)
    header, rows = run_rows(agg)
    res = agg.result
    text = [
        f"# {agg.scenario} under {agg.policy}",
        "",
        description.strip(),
        "",
        f"{res['replications']} replication(s), {res['sim_days']:g} simulated days, seed"
        f" {res['seed']}; {agg.wall_seconds:.0f} s of wall time."
        + (f" {INTERVAL_NOTE}" if res["replications"] > 1 else ""),
        "",
        "## Results",
        "",
        markdown_table(header, rows),
        "",
        f"![{agg.scenario} KPIs]({bar})",
        "",
        _extras_lines({agg.policy: agg}),
        "",
        "## Exceptions by kind",
        "",
        *_exception_lines({agg.policy: agg}),
        "## Over time",
        "",
        *[f"![{p}]({p})\n" for p in plots],
        "## Checks",
        "",
        _invariant_lines({agg.policy: agg}),
        "",
        _events_lines({agg.policy: agg}),
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(text))
    return path


def _json(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"
