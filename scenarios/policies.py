"""The operating-model bundles of ARCHITECTURE.md: `legacy` (the seed article's before)
and `orchestrated` (its after). A scenario's `policy` section overrides any piece.

Values with no published figure are assumptions (CALIBRATION.md, "Assumed" rows)
and are exposed as knobs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .schema import Dist, Policy, Replenishment

BUNDLES: dict[str, dict[str, Any]] = {
    "legacy": {
        "allocation": "siloed",
        "allocation_params": {"quotas": {"web": 0.6, "marketplace": 0.4}},
        "sourcing": "nearest",
        "sourcing_params": {},
        "sync_interval_min": 30.0,  # stores sync every 30 minutes (the seed article)
        "marketplace_reservation": "own_feed",  # marketplaces sell against their own feed
        "marketplace_import_min": 60.0,  # assumed: orders imported hourly
        "approval_mode": "email",
        "email_approval_h": Dist(dist="gamma", mean=10.0, cv=0.8),  # assumed: hours to days
        "posting_mode": "batch",  # the ERP posts overnight (at timetable.erp_posting_h)
        "returns_mode": "batch",  # returns posted after a daily batch inspection
        "store_receipts": "middleware",  # receipts ride the store's batch sync
        "cycle_counts": "random",
        # count intensity, the same under both bundles (only the choice of positions
        # differs): assumed a quarterly store cycle, with which legacy's store records stay
        # 35–40 % right as in the field (DeHoratius & Raman 2008: 60–65 % wrong), and a
        # monthly DC cycle (assumed; no published figure)
        "count_cycle_days": 90.0,
        "dc_count_cycle_days": 30.0,
        "counts_per_store_day": None,  # None: from count_cycle_days
        # the transfer approval rule's thresholds, the same under both bundles (under e-mail
        # approval every transfer waits for a person anyway): assumed, a store manager's
        # sign-off limit; no published figure
        "transfer_auto_max_units": 6,
        "transfer_auto_max_value_cents": 10_000,
        "outage_fallback_buffer": 0,
        "reconciliation_min_per_line": 10.0,  # assumed: minutes to match one account by hand
        # every count adjustment, write-off and receipt short is a manual journal finance
        # approves at the close (assumed)
        "auto_approve_adjustments_cents": 0,
        # assumed: the integration team looks at the dead-letter queue once a day (and
        # after a middleware outage)
        "dead_letter_replay_h": 24.0,
    },
    "orchestrated": {
        # one reservation service for every channel, pooled, keeping the last units of a
        # store's shelf from online channels (click and collect) against phantom stock
        "allocation": "buffered",
        "allocation_params": {"store_buffer": 2},  # assumed
        "sourcing": "nearest",  # as legacy: the comparison isolates orchestration itself
        "sourcing_params": {},
        "sync_interval_min": 0.0,  # real-time events through governed APIs
        "marketplace_reservation": "central",  # one reservation service for every channel
        "marketplace_import_min": 1.0,
        "approval_mode": "rules",
        "email_approval_h": Dist(dist="gamma", mean=1.0, cv=0.5),  # human tasks above thresholds
        "posting_mode": "immediate",
        "returns_mode": "rules",
        "store_receipts": "api",  # scanned receipts post through the governed API at once
        "cycle_counts": "anomaly",
        "count_cycle_days": 90.0,
        "dc_count_cycle_days": 30.0,
        "counts_per_store_day": None,
        "transfer_auto_max_units": 6,
        "transfer_auto_max_value_cents": 10_000,
        "outage_fallback_buffer": 2,  # assumed protective buffer during an outage
        "reconciliation_min_per_line": 10.0,
        # assumed: versioned rules approve variances up to 50.00; above, finance at the close
        "auto_approve_adjustments_cents": 5000,
        "dead_letter_replay_h": 4.0,  # assumed: an operator replays dead letters every 4 h
    },
}

#: allocation settings of the `orchestrated-<allocation>` variants (assumed)
ALLOCATION_VARIANTS: dict[str, dict[str, Any]] = {
    "siloed": {"quotas": {"web": 0.6, "marketplace": 0.4}},  # the legacy quotas
    "pooled": {},
    "buffered": {"channel_buffers": {"marketplace": 2}, "store_buffer": 2},
}

#: policy names a user can run: the two bundles and allocation variants of `orchestrated`
POLICY_NAMES = (
    "legacy",
    "orchestrated",
    "orchestrated-siloed",
    "orchestrated-pooled",
    "orchestrated-buffered",
)


@dataclass(slots=True, frozen=True)
class ResolvedPolicy:
    """Every knob of an operating model, with the bundle's values filled in."""

    name: str
    operating_model: str
    allocation: str
    allocation_params: dict[str, Any]
    sourcing: str
    sourcing_params: dict[str, Any]
    sync_interval_min: float
    marketplace_reservation: str
    marketplace_import_min: float
    approval_mode: str
    email_approval_h: Dist
    posting_mode: str
    returns_mode: str
    store_receipts: str
    cycle_counts: str
    count_cycle_days: float
    dc_count_cycle_days: float
    counts_per_store_day: int | None
    transfer_auto_max_units: int
    transfer_auto_max_value_cents: int
    outage_fallback_buffer: int
    reconciliation_min_per_line: float
    auto_approve_adjustments_cents: int
    dead_letter_replay_h: float
    replenishment: Replenishment

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.model_dump() if hasattr(v, "model_dump") else v
        return out


def resolve(policy: Policy, name: str | None = None) -> ResolvedPolicy:
    """Fill a scenario's `policy` from its bundle; `name` (a POLICY_NAMES entry) switches
    the bundle and, for `orchestrated-<allocation>`, the allocation policy."""
    p = policy
    model = p.operating_model
    allocation_override = None
    if name is not None:
        if name not in POLICY_NAMES:
            raise ValueError(f"policy: must be one of {', '.join(POLICY_NAMES)}, got {name!r}")
        model, _, allocation_override = name.partition("-")
    bundle = dict(BUNDLES[model])
    for key in bundle:
        v = getattr(p, key)
        if v is not None:
            bundle[key] = v
    if allocation_override:
        bundle["allocation"] = allocation_override
        bundle["allocation_params"] = ALLOCATION_VARIANTS[allocation_override]
    return ResolvedPolicy(
        name=name or model, operating_model=model, replenishment=p.replenishment, **bundle
    )
