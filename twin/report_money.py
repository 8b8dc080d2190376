"""The money side of reports: the money block per policy (a year, with intervals over
replications) and the net benefit and payback of a comparison. The roadmap's report is in
`twin.report_roadmap`."""

from __future__ import annotations

from typing import Any

from .experiments import Aggregate, Comparison
from .money import COSTS, ROLES, total_cost_per_year
from .theory import student_t_ci95

#: money lines a planner reads, per year
MONEY_LINES = [
    ("lost_margin_per_year", "Lost margin"),
    ("oversell_cost_per_year", "Oversell cost"),
    ("labour_cost_per_year", "Labour"),
    ("carrying_cost_per_year", "Carrying stock"),
    ("expedite_cost_per_year", "Expediting and re-sourcing"),
    ("running_cost_per_year", "Orchestration platform"),
    ("total_cost_per_year", "Total cost"),
]
ROLE_LABELS = {
    "reconciliation": "reconciliation",
    "approvals": "approvals",
    "counts": "cycle counts",
    "exceptions": "exception handling",
    "store_picking": "store picking",
}
assert {k.removesuffix("_per_year") for k, _ in MONEY_LINES} == {*COSTS, "total_cost"}


def money(v: float | None, currency: str = "") -> str:
    """An amount as a planner reads it: thousands separated, no cents, a sign when asked."""
    if v is None:
        return "—"
    return f"{v:,.0f}{' ' + currency if currency else ''}"


def signed(v: float | None) -> str:
    return "—" if v is None else f"{'+' if v > 0 else ''}{v:,.0f}"


def interval(d: dict[str, Any] | None) -> str:
    if not d or not d.get("ci95"):
        return ""
    lo, hi = d["ci95"]
    return f" [{signed(lo)}, {signed(hi)}]"


def total_of(agg: Aggregate) -> tuple[float, list[float] | None]:
    """The total cost a year of a policy's runs: the mean and a 95% interval over them."""
    totals = [total_cost_per_year(r["money"]) for r in agg.runs if r.get("money")]
    mean, lo, hi = student_t_ci95(totals)
    if len(totals) < 2 or lo != lo:  # one run, or no spread to speak of
        return (totals[0] if totals else float("nan")), None
    return mean, [max(lo, 0.0), max(hi, 0.0)]


def money_rows(aggs: dict[str, Aggregate]) -> tuple[list[str], list[list[str]]]:
    """The money block per policy, per year, with the total and labour hours by role."""
    pols = list(aggs)
    blocks = {p: aggs[p].result.get("money") or {} for p in pols}
    header = ["per year", *pols]
    rows = []
    for key, label in MONEY_LINES:
        row = [label]
        for p in pols:
            b = blocks[p]
            if key == "total_cost_per_year":
                value, ci = total_of(aggs[p]) if b else (None, None)
            else:
                value, ci = b.get(key), (b.get("ci95") or {}).get(key)
            cell = money(value)
            if ci:
                cell += f" [{money(ci[0])}, {money(ci[1])}]"
            row.append(cell)
        rows.append(row)
    for role in ROLES:
        rows.append(
            [f"hours: {ROLE_LABELS[role]}"]
            + [
                money((blocks[p].get("labour_hours_by_role_per_year") or {}).get(role))
                for p in pols
            ]
        )
    return header, rows


def benefit_lines(cmp: Comparison, currency: str) -> list[str]:
    """One line per policy: its net benefit a year against the baseline, and payback."""
    base = next(iter(cmp.policies))
    out = []
    for p, m in cmp.money.items():
        nb = m["net_benefit_per_year"]
        pay = m["payback_months"]
        payback = (
            f"pays back the one-off programme cost of {money(m['programme_cost'], currency)}"
            f" in {pay:.1f} months"
            if pay is not None
            else "does not pay back the programme cost (no net benefit)"
        )
        sig = " (interval excludes 0)" if nb["significant"] else ""
        out.append(
            f"- **{p}** against **{base}**: net benefit {signed(nb['mean'])} {currency} a year"
            f"{interval(nb)}{sig}; {payback}."
        )
    return out
