"""What a run's figures are worth: the `money` block beside `kpis` (KPIS.md).

A run measures quantities (units never served and their margin, oversold orders, hours
of each role's work, the stock held, expedited and re-sourced orders, events carried);
the scenario's `economics` section prices them. Every figure is for the measured window
and annualised (`…_per_year`, × 365 ÷ window days), in the scenario's currency.
Comparisons add the net benefit per year against the baseline policy and the months a
programme takes to pay back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scenarios.schema import Economics

#: the roles whose hours a run measures, in report order
ROLES = ("reconciliation", "approvals", "counts", "exceptions", "store_picking")
#: the cost lines of the money block, in report order (each also `…_per_year`)
COSTS = (
    "lost_margin",
    "oversell_cost",
    "labour_cost",
    "carrying_cost",
    "expedite_cost",
    "running_cost",
)
DAYS_PER_YEAR = 365.0
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0


@dataclass(frozen=True, slots=True)
class MoneyInputs:
    """What a run measured that money is made of, over its measured window."""

    window_days: float
    on_platform: bool  # does any capability run on the orchestration platform
    lost_margin: float = 0.0  # margin of every demanded unit never served (price − cost)
    oversold_orders: float = 0.0
    labour_hours: Mapping[str, float] = field(default_factory=dict)  # role → hours
    mean_inventory_value: float = 0.0  # stock held, valued at cost, averaged over the window
    expedited_pos: float = 0.0
    resourced_pos: float = 0.0
    events: float = 0.0  # events the orchestration core applied

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "on_platform": self.on_platform,
            "lost_margin": self.lost_margin,
            "oversold_orders": self.oversold_orders,
            "labour_hours": dict(self.labour_hours),
            "mean_inventory_value": self.mean_inventory_value,
            "expedited_pos": self.expedited_pos,
            "resourced_pos": self.resourced_pos,
            "events": self.events,
        }


def money_of(inputs: MoneyInputs, economics: Economics) -> dict[str, Any]:
    """The money block of one run, exactly KPIS.md's keys (`BLOCK_KEYS`): every cost line
    for the window and per year, and labour hours by role (window and per year). The total
    and the operating cost are sums of the block (`total_cost_per_year`,
    `operating_cost_per_year`); the currency is the scenario's (`economics.currency`)."""
    days = inputs.window_days
    if days <= 0:
        raise ValueError("window_days: must be > 0")
    hours = {role: float(inputs.labour_hours.get(role, 0.0)) for role in ROLES}
    running = 0.0
    if inputs.on_platform:
        running = economics.platform_cost_per_month * days / DAYS_PER_MONTH
        running += economics.platform_cost_per_event * inputs.events
    horizon = {
        "lost_margin": inputs.lost_margin,
        "oversell_cost": inputs.oversold_orders * economics.oversell_cost,
        "labour_cost": sum(hours[role] * getattr(economics.labour_rates, role) for role in ROLES),
        "carrying_cost": inputs.mean_inventory_value
        * economics.carrying_cost_rate
        * days
        / DAYS_PER_YEAR,
        "expedite_cost": inputs.expedited_pos * economics.expedite_cost_per_po
        + inputs.resourced_pos * economics.resource_cost_per_po,
        "running_cost": running,
    }
    year = DAYS_PER_YEAR / days
    out: dict[str, Any] = {}
    for key, value in horizon.items():
        out[key] = value
        out[f"{key}_per_year"] = value * year
        if key == "labour_cost":
            out["labour_hours_by_role"] = hours
            out["labour_hours_by_role_per_year"] = {r: h * year for r, h in hours.items()}
    return out


#: money keys that are numbers (means and intervals over replications, paired differences)
MONEY_KEYS = tuple(k for c in COSTS for k in (c, f"{c}_per_year"))
#: every key of a run's money block, in its order (KPIS.md, `money`)
BLOCK_KEYS = (
    *MONEY_KEYS[:6],
    "labour_hours_by_role",
    "labour_hours_by_role_per_year",
    *MONEY_KEYS[6:],
)


def total_cost_per_year(block: Mapping[str, Any]) -> float:
    """Every cost line a year: what the business and the platform cost."""
    return sum(float(block[f"{c}_per_year"]) for c in COSTS)


def operating_cost_per_year(block: Mapping[str, Any]) -> float:
    """What running the business costs a year, the orchestration platform apart: a roadmap
    values each step on this, and the platform once, as a fixed cost."""
    return sum(float(block[f"{c}_per_year"]) for c in COSTS if c != "running_cost")


def net_benefit_per_year(baseline: Mapping[str, Any], other: Mapping[str, Any]) -> float:
    """What `other` saves a year against `baseline`: the baseline's total cost per year
    less the other's (positive: the other costs less)."""
    return total_cost_per_year(baseline) - total_cost_per_year(other)


def payback_months(net_per_year: float, programme_cost: float) -> float | None:
    """Months for a yearly net benefit to repay the one-off programme cost; None when
    there is no benefit to repay it with."""
    if net_per_year <= 0 or not math.isfinite(net_per_year):
        return None
    return programme_cost / (net_per_year / 12.0)


def mean_money(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The mean money block over replications (numbers and per-role maps averaged)."""
    n = len(blocks)
    out: dict[str, Any] = {}
    for key in BLOCK_KEYS:
        if key in MONEY_KEYS:
            out[key] = sum(float(b[key]) for b in blocks) / n
        else:
            out[key] = {r: sum(float(b[key][r]) for b in blocks) / n for r in ROLES}
    return out


def inputs_of(model: Any) -> MoneyInputs:
    """What a finished twin measured that money is made of, over its measured window; each
    figure is a record of the mechanism that caused it:

    - lost margin: every demanded unit never served, priced at its sku's margin where the
      sale is lost (`Metrics.lost`): store walk-outs on an empty shelf, online lines an own
      feed or the core refused, promised lines lost after a short pick (the units of
      `lost_sales_units`);
    - oversold orders: `oversell_incidents`;
    - reconciliation: the close's hours on true mismatches (`manual_reconciliation_hours`);
    - approvals: transfers a person decided (an e-mail approval, or a human task above the
      rules' thresholds), from the transfer workflow's records;
    - counts: every count inventory control took at a shelf (its log: cycle counts of
      stores and DCs and counts after a pick shortage);
    - exceptions: each dead letter an operator replayed by hand and each escalation of an
      exception past its SLA (a team lead, manager or director takes it up); overdue
      approvals and failed postings are worked in the approvals and at the close, so their
      own hours are in those roles;
    - store picking: store associates' pick and staging time on online lines;
    - stock held: the daily inventory value; expedited and re-sourced purchase orders: what
      the supplier escalations did (the run's `pos_expedited`, `pos_resourced`);
    - the platform: from the knobs in force, and the events the core applied."""
    from scenarios.policies import on_platform

    from .faults import OPERATOR

    counts = model.metrics.counts
    minutes = model.scenario.economics.task_minutes
    w_s, end_s = model.warmup_h * 3600.0, model.horizon_h * 3600.0

    def within(t: float) -> bool:
        return w_s <= t <= end_s

    approvals = sum(
        1
        for t in model.transfers.transfers
        if t.decided_by.startswith("approver:") and within(t.decided_at)
    )
    exceptions = model.core.exceptions.items
    replayed = sum(
        1
        for e in exceptions
        if e.kind == "dead_letter" and e.resolved_by == OPERATOR and within(e.resolved_at)
    )
    escalations = sum(1 for e in exceptions for at in e.escalations if within(at))
    supply = model.suppliers.figures(since=w_s)
    value = counts.inventory_value
    return MoneyInputs(
        window_days=(model.horizon_h - model.warmup_h) / 24.0,
        on_platform=on_platform(model.policy),
        lost_margin=counts.lost_margin_cents / 100.0,
        oversold_orders=counts.oversells,
        labour_hours={
            "reconciliation": counts.manual_recon_h,
            "approvals": approvals * minutes.approval / 60.0,
            "counts": len(model.inventory_control.log) * minutes.count / 60.0,
            "exceptions": (replayed * minutes.exception + escalations * minutes.escalation) / 60.0,
            "store_picking": counts.store_picking_h,
        },
        mean_inventory_value=(sum(value) / len(value) / 100.0) if value else 0.0,
        expedited_pos=supply["pos_expedited"],
        resourced_pos=supply["pos_resourced"],
        events=model.core.bus.counters.applied,
    )
