"""The operating-model bundles of ARCHITECTURE.md: `legacy` (the seed article's before)
and `orchestrated` (its after). A scenario's `policy` section overrides any piece.

Values with no published figure are assumptions (CALIBRATION.md, "Assumed" rows)
and are exposed as knobs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any

from orchestrator import ALLOCATION_POLICIES

from .schema import ChannelSpec, Dist, Policy, Replenishment, quota_shares

#: knobs with one default under every bundle: what a channel may promise (no buffer, no
#: quota, no safety stock: each is a knob to try under either model), where orders ship
#: from, the own-feed cadences (only a channel that sells against its own feed uses
#: them) and the outage fallback (only central reservation uses it)
SHARED: dict[str, Any] = {
    "store_buffer": 0,  # assumed: no units of a store's shelf held back from online channels
    "channel_buffers": {},  # assumed: no channel leaves units for the others
    "channel_quotas": {},  # assumed: no channel owns a share; one pool for every channel
    "safety_stock_units": 0,  # assumed: no units of a position protected from every channel
    "sourcing": "nearest",  # the comparison isolates orchestration itself
    "sourcing_params": {},
    "web_import_min": 15.0,  # assumed: the web shop passes its orders on every 15 minutes
    "marketplace_import_min": 60.0,  # assumed: marketplace orders imported hourly
    # count intensity (only the choice of positions differs): assumed a quarterly store
    # cycle, with which legacy's store records stay 35–40 % right as in the field
    # (DeHoratius & Raman 2008: 60–65 % wrong), and a monthly DC cycle (assumed)
    "count_cycle_days": 90.0,
    "dc_count_cycle_days": 30.0,
    "counts_per_store_day": None,  # None: from count_cycle_days
    # the transfer approval rule's thresholds (under e-mail approval every transfer waits
    # for a person anyway): assumed, a store manager's sign-off limit
    "transfer_auto_max_units": 6,
    "transfer_auto_max_value_cents": 10_000,
    "outage_fallback_buffer": 2,  # assumed protective buffer during a middleware outage
    "reconciliation_min_per_line": 10.0,  # assumed: minutes to match one account by hand
}

#: the knobs where the seed article's legacy and orchestrated models differ, each with the
#: difference the article names; every other knob has one default (`SHARED`), and
#: `tests/twin/test_channels.py` checks that the bundles differ in exactly these
SEED_DIFFERENCES: dict[str, str] = {
    "sync_interval_min": "stores sync stock in 30-minute batches vs real-time events",
    "store_receipts": "receipts ride the batch sync vs post through the API",
    "web_reservation": "channels reserve against their own stale figures vs one service",
    "marketplace_reservation": "marketplace reservations processed separately vs one service",
    "approval_mode": "transfers approved by e-mail vs versioned rules",
    "email_approval_h": "a person answers e-mail in hours to days vs a human task",
    "posting_mode": "the ERP posts overnight vs near-real-time postings",
    "returns_mode": "returns posted after batch inspection vs classified by rules",
    "cycle_counts": "random counts vs anomaly detection prioritising counts",
    "auto_approve_adjustments_cents": "every variance a manual journal vs rules approving"
    " small ones, finance above a threshold",
    "dead_letter_replay_h": "exceptions worked by hand when someone looks vs routed and"
    " replayed on an operator's cadence",
}

BUNDLES: dict[str, dict[str, Any]] = {
    "legacy": {
        **SHARED,
        "sync_interval_min": 30.0,  # stores sync every 30 minutes (the seed article)
        "store_receipts": "middleware",  # receipts ride the store's batch sync
        # the web shop and the marketplaces sell against their own feeds, refreshed every
        # `channels[].feed_refresh_min`; their orders reach the core afterwards
        "web_reservation": "own_feed",
        "marketplace_reservation": "own_feed",
        "approval_mode": "email",
        "email_approval_h": Dist(dist="gamma", mean=10.0, cv=0.8),  # assumed: hours to days
        "posting_mode": "batch",  # the ERP posts overnight (at timetable.erp_posting_h)
        "returns_mode": "batch",  # returns posted after a daily batch inspection
        "cycle_counts": "random",
        # every count adjustment, write-off and receipt short is a manual journal finance
        # approves at the close (assumed)
        "auto_approve_adjustments_cents": 0,
        # assumed: the integration team looks at the dead-letter queue once a day (and
        # after a middleware outage)
        "dead_letter_replay_h": 24.0,
    },
    "orchestrated": {
        **SHARED,
        "sync_interval_min": 0.0,  # real-time events through governed APIs
        "store_receipts": "api",  # scanned receipts post through the governed API at once
        # one reservation service for every channel, in real time
        "web_reservation": "central",
        "marketplace_reservation": "central",
        "approval_mode": "rules",
        "email_approval_h": Dist(dist="gamma", mean=1.0, cv=0.5),  # human tasks above thresholds
        "posting_mode": "immediate",
        "returns_mode": "rules",
        "cycle_counts": "anomaly",
        # assumed: versioned rules approve variances up to 50.00; above, finance at the close
        "auto_approve_adjustments_cents": 5000,
        "dead_letter_replay_h": 4.0,  # assumed: an operator replays dead letters every 4 h
    },
}

#: allocation knobs of the `orchestrated-<allocation>` variants (assumed), for research
ALLOCATION_VARIANTS: dict[str, dict[str, Any]] = {
    # the old legacy quotas: the web shop 60%, the marketplaces 40% between them
    "siloed": {"channel_quotas": {"web": 0.6, "marketplace": 0.4}},
    "pooled": {},
    "buffered": {"channel_buffers": {"marketplace": 2}, "store_buffer": 2},
}
ALLOCATION_KNOBS = ("store_buffer", "channel_buffers", "channel_quotas", "safety_stock_units")

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
        ("web_reservation", "marketplace_reservation"),
        "one real-time reservation service for every channel instead of each selling"
        " against its own stale feed",
    ),
    RoadmapStep(
        "rule-based-approvals",
        ("approval_mode", "email_approval_h"),
        "transfers approved by versioned rules, a person (as a human task) only above thresholds",
    ),
    RoadmapStep(
        "real-time-postings",
        ("posting_mode",),
        "stock movements posted to the ERP as they happen, not overnight",
    ),
    RoadmapStep(
        "rules-approve-adjustments",
        ("auto_approve_adjustments_cents",),
        "versioned rules approve small stock variances; finance journals only those above"
        " a threshold",
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
        "exception-routing",
        ("dead_letter_replay_h",),
        "dead letters routed to an operator who replays them every few hours, not when"
        " someone looks",
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
    allocation: str  # the core's allocation class (named from the knobs unless set)
    allocation_params: dict[str, Any]
    store_buffer: int
    channel_buffers: dict[str, int]
    channel_quotas: dict[str, float]
    safety_stock_units: int
    sourcing: str
    sourcing_params: dict[str, Any]
    sync_interval_min: float
    web_reservation: str
    marketplace_reservation: str
    web_import_min: float
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


def allocation_named(knobs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The core's allocation class and parameters the allocation knobs make: quotas are
    siloed (kind keys still to be split between channels, `allocation_for`), buffers are
    buffered (over the quotas, if both), neither is pooled."""
    quotas, buffers = knobs["channel_quotas"], knobs["channel_buffers"]
    store_buffer = knobs["store_buffer"]
    if buffers or store_buffer:
        params: dict[str, Any] = {"channel_buffers": dict(buffers), "store_buffer": store_buffer}
        if quotas:
            params["quotas"] = dict(quotas)
        return "buffered", params
    if quotas:
        return "siloed", {"quotas": dict(quotas)}
    return "pooled", {}


def resolve(policy: Policy, name: str | None = None) -> ResolvedPolicy:
    """Fill a scenario's `policy` from its bundle; `name` (a POLICY_NAMES entry) switches
    the bundle and, for `orchestrated-<allocation>`, the allocation knobs."""
    p = policy
    model = p.operating_model
    allocation_override = None
    if name is not None:
        if name not in POLICY_NAMES:
            raise ValueError(f"policy: must be one of {', '.join(POLICY_NAMES)}, got {name!r}")
        model, _, allocation_override = name.partition("-")
    bundle = copy.deepcopy(BUNDLES[model])  # a run's policy never shares the bundles' dicts
    for key in bundle:
        v = getattr(p, key)
        if v is not None:
            bundle[key] = v
    if allocation_override:  # the variant's allocation knobs only (safety stock stays)
        bundle.update({k: SHARED[k] for k in ALLOCATION_KNOBS if k != "safety_stock_units"})
        bundle.update(copy.deepcopy(ALLOCATION_VARIANTS[allocation_override]))
    if p.allocation is not None and not allocation_override:
        allocation, params = p.allocation, dict(p.allocation_params or {})
    else:
        allocation, params = allocation_named(bundle)
    return ResolvedPolicy(
        name=name or model,
        operating_model=model,
        allocation=allocation,
        allocation_params=params,
        replenishment=p.replenishment,
        **bundle,
    )


def allocation_for(policy: ResolvedPolicy, channels: list[ChannelSpec]) -> Any:
    """The core's allocation object for a run: the policy's class and parameters, with
    quotas set per channel code (`quota_shares`: a kind's share split between its
    channels, never adding up to more than 100%)."""
    params = dict(policy.allocation_params)
    if params.get("quotas"):
        params["quotas"] = quota_shares(dict(params["quotas"]), channels)  # type: ignore[arg-type]
    return ALLOCATION_POLICIES[policy.allocation](**params)


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
