"""The operating model, picked once when the twin is built: one strategy object for each
knob of the policy (and of the scenario's demand) that changes how a process behaves,
so no process body compares knob strings. A new operating model is a new strategy in
the room it changes (tills, channels, returns desk, reviews, counts), picked here.

| knob | strategies |
|---|---|
| `sync_interval_min` | `RealTimeSync` (0) or `BatchSync` (every N minutes) |
| `store_receipts` | `ApiReceipts` or `TillReceipts` (ride the next sync) |
| `web_reservation` | `CentralReservation`, or `OwnFeed` for the web shop |
| `marketplace_reservation` | `CentralReservation`, or `OwnFeed` for marketplaces |
| `returns_mode` | `InspectOnArrival` (rules) or `DailyBatch` |
| `cycle_counts` | `AnomalyRankedCounts` or `RandomCounts` |
| `replenishment.store_review` | `ContinuousReview`, or `PeriodicReview` ... |
| ... and `store_source` | ... ordering `FromDc` or `FromSupplier` |
| `demand.unmet` (scenario) | `LostSales` or `Backorders` |
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from orchestrator import AllocationPolicy, SourcingPolicy
from scenarios.policies import ResolvedPolicy
from scenarios.schema import ChannelSpec

from .agents.channel import CentralReservation, OwnFeed, Reservation
from .agents.people import AnomalyRankedCounts, CountPlan, RandomCounts
from .agents.replenishment import (
    ContinuousReview,
    FromDc,
    FromSupplier,
    PeriodicReview,
    StoreReview,
)
from .agents.returns import DailyBatch, InspectOnArrival, ReturnsDesk
from .store_ops import (
    ApiReceipts,
    Backorders,
    BatchSync,
    LostSales,
    RealTimeSync,
    StoreReceipts,
    TillReceipts,
    TillSync,
    UnmetDemand,
)

if TYPE_CHECKING:
    from .model import RetailTwin


@dataclass(frozen=True, slots=True)
class OperatingModel:
    """The strategies one run works with."""

    till_sync: TillSync
    receipts: StoreReceipts
    unmet: UnmetDemand
    central: CentralReservation
    own_feeds: dict[str, OwnFeed]  # channel kinds that sell against their own feed
    returns_desk: ReturnsDesk
    counts: CountPlan
    store_review: StoreReview

    def reservation(self, spec: ChannelSpec) -> Reservation:
        """How a channel of this kind reserves."""
        return self.own_feeds.get(spec.kind, self.central)


def operating_model(model: RetailTwin) -> OperatingModel:
    """Pick every strategy from the model's policy, scenario and timetable."""
    policy, scenario, timetable = model.policy, model.scenario, model.timetable
    replenishment = policy.replenishment
    store_review: StoreReview
    if replenishment.store_review == "continuous":
        store_review = ContinuousReview(model, replenishment.store_policy)
    else:
        days = (
            range(7)
            if replenishment.store_review == "daily"
            else scenario.network.stores.delivery_days
        )
        source = FromDc() if replenishment.store_source == "dc" else FromSupplier()
        store_review = PeriodicReview(model, frozenset(days), source)
    return OperatingModel(
        till_sync=(
            BatchSync(policy.sync_interval_min / 60.0)
            if policy.sync_interval_min > 0
            else RealTimeSync(timetable.till_retry_min / 60.0)
        ),
        receipts=ApiReceipts() if policy.store_receipts == "api" else TillReceipts(),
        unmet=Backorders() if scenario.demand.unmet == "backorder" else LostSales(),
        central=CentralReservation(policy.outage_fallback_buffer),
        own_feeds={
            kind: OwnFeed(import_min / 60.0)
            for kind, reservation, import_min in (
                ("web", policy.web_reservation, policy.web_import_min),
                ("marketplace", policy.marketplace_reservation, policy.marketplace_import_min),
            )
            if reservation == "own_feed"
        },
        returns_desk=InspectOnArrival() if policy.returns_mode == "rules" else DailyBatch(),
        counts=AnomalyRankedCounts() if policy.cycle_counts == "anomaly" else RandomCounts(),
        store_review=store_review,
    )


def plug_in(
    policy: ResolvedPolicy,
    allocation: AllocationPolicy | None = None,
    sourcing: SourcingPolicy | None = None,
) -> ResolvedPolicy:
    """`policy` with a researcher's own allocation and/or sourcing object in place of the
    ones it names: checked against the core's Protocols, recorded by the object's `name`,
    and the policy renamed `<bundle>+<name>` so results never pass for the built-in bundle."""
    changes: dict[str, Any] = {}
    name = policy.name
    for knob, obj, protocol, expected in (
        ("allocation", allocation, AllocationPolicy, "`promisable(position, location, channel)`"),
        ("sourcing", sourcing, SourcingPolicy, "`source(demands, ctx)`"),
    ):
        if obj is None:
            continue
        if not isinstance(obj, protocol):
            raise TypeError(f"{knob}: expected an object with `name` and {expected}, got {obj!r}")
        changes.update({knob: str(obj.name), f"{knob}_params": {}})
        name += f"+{obj.name}"
    return replace(policy, name=name, **changes) if changes else policy
