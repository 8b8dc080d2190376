"""The roadmap's report: what to do first, a waterfall of annual value by step along the
path, each step alone beside it, and the money block of legacy and every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .report import DPI, PLOT_STYLE, TABLE_KPIS, _json, fmt, markdown_table
from .report_money import interval, money, money_rows, signed
from .roadmap import Roadmap


def significant_kpis(kpis: dict[str, Any], limit: int = 4) -> str:
    """The KPIs a step moved beyond their interval, largest relative moves first."""
    units = {k: (label, unit) for k, label, unit, _ in TABLE_KPIS}
    moved = [(k, d) for k, d in kpis.items() if d and d["significant"] and k in units]
    parts = []
    for k, d in moved[:limit]:
        label, unit = units[k]
        mean = 100 * d["mean"] if unit == "%" else d["mean"]
        shown = "pp" if unit == "%" else unit
        parts.append(f"{label} {'+' if mean > 0 else ''}{fmt(mean)}{' ' + shown if shown else ''}")
    more = len(moved) - limit
    return "; ".join(parts) + (f"; {more} more" if more > 0 else "") if parts else "—"


def roadmap_rows(rm: Roadmap) -> tuple[list[str], list[list[str]]]:
    """The path: each step's value a year [95% interval], what it moved, interactions."""
    header = ["#", "step", f"value/yr ({rm.currency})", "alone/yr", "moves", "interaction"]
    rows = []
    for i, st in enumerate(rm.along, 1):
        alone = rm.alone[st["step"]]["value"]
        inter = ", ".join(st["interactions"]) or "—"
        rows.append(
            [
                str(i),
                st["step"],
                signed(st["value"]["mean"]) + interval(st["value"]),
                signed(alone["mean"]),
                significant_kpis(st["kpis"]),
                inter,
            ]
        )
    platform = rm.total["platform_per_year"]
    nb = rm.total["net_benefit_per_year"]
    rows.append(["", "orchestration platform", signed(platform), "", "", ""])
    rows.append(["", "net benefit", signed(nb["mean"]) + interval(nb), "", "", ""])
    return header, rows


def alone_rows(rm: Roadmap) -> tuple[list[str], list[list[str]]]:
    """Every step alone on legacy: its value a year and what it moves."""
    header = ["step", "what it changes", f"value/yr alone ({rm.currency})", "moves"]
    rows = [
        [
            name,
            st["what"],
            signed(st["value"]["mean"]) + interval(st["value"]),
            significant_kpis(st["kpis"]),
        ]
        for name, st in sorted(rm.alone.items(), key=lambda kv: -kv[1]["value"]["mean"])
    ]
    return header, rows


def plot_waterfall(rm: Roadmap, out: Path) -> str:
    """Annual value by step along the path, the platform's cost, and the net benefit."""
    steps = [st["step"] for st in rm.along]
    values = [st["value"]["mean"] for st in rm.along]
    errs = [
        (st["value"]["mean"] - st["value"]["ci95"][0]) if st["value"]["ci95"] else 0.0
        for st in rm.along
    ]
    platform = rm.total["platform_per_year"]
    net = rm.total["net_benefit_per_year"]["mean"]
    with plt.rc_context(PLOT_STYLE):
        fig, ax = plt.subplots(figsize=(9, 4.6), dpi=DPI)
        level = 0.0
        for i, (v, e) in enumerate(zip(values, errs, strict=True)):
            color = "#2e7d32" if v >= 0 else "#c62828"
            ax.bar(i, v, bottom=level, color=color, yerr=e or None, capsize=4)
            level += v
        ax.bar(len(values), platform, bottom=level, color="#6d4c41")
        ax.bar(len(values) + 1, net, color="#1f4e79")
        ax.axhline(0, color="black", lw=0.8)
        labels = [*steps, "platform", "net"]
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel(f"{rm.currency} a year")
        ax.set_title(
            f"{rm.scenario}: value of each step along the {rm.how} path (whiskers: 95% interval)",
            loc="left",
        )
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "waterfall.png")
        plt.close(fig)
    return "waterfall.png"


def write_roadmap(rm: Roadmap, out: Path, description: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(rm.to_dict(), indent=2, default=_json))
    image = plot_waterfall(rm, out)
    end_key = "+".join(st["step"] for st in rm.along)
    legacy, end = rm.runs["legacy"], rm.runs.get(end_key)
    aggs = {"legacy": legacy, **({"every step": end} if end else {})}
    nb = rm.total["net_benefit_per_year"]
    pay = rm.total["payback_months"]
    first = rm.along[0]
    text = [
        f"# {rm.scenario}: the modernisation roadmap",
        "",
        description.strip(),
        "",
        f"{rm.replications} replications of every run on the same seeds; path: {rm.how};"
        f" {len(rm.runs)} runs, {rm.wall_seconds:.0f} s of wall time.",
        "",
        "## What to do first",
        "",
        f"Along the path the first step, **{first['step']}**, is worth"
        f" {signed(first['value']['mean'])} {rm.currency} a year{interval(first['value'])}."
        f" All steps together: {signed(nb['mean'])} {rm.currency} a year net of the"
        f" orchestration platform ({signed(rm.total['platform_per_year'])}),"
        + (
            f" paying back the programme cost of {money(rm.total['programme_cost'])} in"
            f" {pay:.1f} months."
            if pay is not None
            else " which does not pay back the programme cost."
        ),
        "",
        f"![roadmap waterfall]({image})",
        "",
        "## Along the path",
        "",
        "Each step's value is what it saves a year of the cost of running the business (lost"
        " margin, oversells, labour, carrying stock, expediting) on top of the steps before"
        " it; *alone* is the same step on legacy by itself. An *interaction* marks a KPI (or"
        " the value) whose change along the path differs from the step alone beyond the"
        " 95% interval.",
        "",
        markdown_table(*roadmap_rows(rm)),
        "",
        "## Each step alone",
        "",
        markdown_table(*alone_rows(rm)),
        "",
        "## Money",
        "",
        markdown_table(*money_rows(aggs)),
        "",
        "Files: `result.json` (every run's result object, each step's KPI deltas and"
        " values with intervals), `waterfall.png`.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(text))
    return path
