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
        "counts_per_store_day": 10,  # assumed
        "outage_fallback_buffer": 0,
        "reconciliation_min_per_line": 10.0,  # assumed: minutes to match one account by hand
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
        "counts_per_store_day": 10,
        "outage_fallback_buffer": 2,  # assumed protective buffer during an outage
        "reconciliation_min_per_line": 10.0,
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


@dataclass(frozen=True, slots=True)
class RoadmapStep:
    """One capability of a modernisation roadmap: the knobs it moves from their legacy to
    their orchestrated values, and what that means in a retailer's words."""

    name: str
    knobs: tuple[str, ...]
    what: str


#: the steps of a modernisation roadmap, in the order the seed article phases them
#: (integration first, then the services and workflows built on it); together they move
#: exactly the knobs that separate `legacy` from `orchestrated` (a test keeps it so)
ROADMAP_STEPS: tuple[RoadmapStep, ...] = (
    RoadmapStep(
        "real-time-events",
        ("sync_interval_min", "store_receipts"),
        "stores send sales and receipts as events through governed APIs, not in batches",
    ),
    RoadmapStep(
        "central-reservation",
        ("allocation", "allocation_params", "marketplace_reservation", "marketplace_import_min"),
        "one reservation service for every channel instead of quotas and stale feeds",
    ),
    RoadmapStep(
        "rule-based-approvals",
        ("approval_mode", "email_approval_h"),
        "transfers approved by versioned rules, a person only above thresholds",
    ),
    RoadmapStep(
        "real-time-postings",
        ("posting_mode",),
        "stock movements posted to the ERP as they happen, not overnight",
    ),
    RoadmapStep(
        "returns-by-rules",
        ("returns_mode",),
        "returns inspected on arrival and disposed by rule, not in a daily batch",
    ),
    RoadmapStep(
        "anomaly-led-counts",
        ("cycle_counts",),
        "cycle counts ranked by anomaly detection instead of chosen at random",
    ),
    RoadmapStep(
        "outage-fallback",
        ("outage_fallback_buffer",),
        "channels hold back a buffer when they sell on the last known figure in an outage",
    ),
)


def roadmap_step(name: str) -> RoadmapStep:
    for step in ROADMAP_STEPS:
        if step.name == name:
            return step
    names = ", ".join(s.name for s in ROADMAP_STEPS)
    raise ValueError(f"roadmap step: unknown {name!r}; choose from {names}")


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
    counts_per_store_day: int
    outage_fallback_buffer: int
    reconciliation_min_per_line: float
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


def flipped(policy: Policy, steps: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The `policy` overrides that run `legacy` with these roadmap steps moved to their
    orchestrated values (as the scenario's own policy section resolves them), JSON-ready."""
    target = resolve(policy, "orchestrated")
    out: dict[str, Any] = {}
    for name in steps:
        for knob in roadmap_step(name).knobs:
            value = getattr(target, knob)
            out[knob] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    return out


def on_platform(policy: ResolvedPolicy) -> bool:
    """Does any capability of this policy run on the orchestration platform, i.e. does any
    roadmap knob differ from the legacy bundle's value (money: the platform's cost)? A
    scenario that sets such a knob itself under `legacy` is on the platform too."""
    legacy = BUNDLES["legacy"]
    return any(
        getattr(policy, knob) != legacy[knob] for step in ROADMAP_STEPS for knob in step.knobs
    )
