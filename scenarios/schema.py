"""The scenario schema: what a planner can say about a network, its demand, its
operating model and the faults to throw at it.

Pydantic validates scenario files at the edge; the twin turns a validated
`Scenario` into arrays and plain dataclasses before the run. Every default
names its source row in `../shared/CALIBRATION.md` or says "assumed".
Times: `_h` hours, `_min` minutes, `_days` days; money in integer cents.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Pos = Annotated[float, Field(gt=0)]
Hour = Annotated[float, Field(ge=0, lt=24)]  # an hour of the day, 0 <= h < 24
NonNeg = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
Weekday = Annotated[int, Field(ge=0, le=6)]  # a day of the week, 0 = Monday


class Strict(BaseModel):
    """Base: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Dist(Strict):
    """A positive random duration or quantity: fixed, exponential, gamma or lognormal.

    `cv` (coefficient of variation) shapes gamma and lognormal; exponential has cv 1.
    """

    dist: Literal["fixed", "exponential", "gamma", "lognormal", "uniform"] = "fixed"
    mean: NonNeg
    cv: NonNeg = 0.0

    @model_validator(mode="after")
    def _cv_fits(self) -> Dist:
        if self.dist in ("gamma", "lognormal") and self.cv <= 0:
            raise ValueError(f"cv: must be > 0 for a {self.dist} distribution")
        if self.dist == "uniform" and self.cv > 0.577:
            raise ValueError("cv: a uniform on [0, 2·mean] has cv ≤ 0.577")
        return self


def fixed(v: float) -> Dist:
    return Dist(dist="fixed", mean=v)


# ---------------------------------------------------------------------------- network
class Stores(Strict):
    """Generated stores: `count` stores spread evenly over the regions."""

    count: Count = 20
    opening_hour: Hour = 9.0
    closing_hour: Annotated[float, Field(gt=0, le=24)] = 21.0
    pickers: PosInt = 2  # staff picking online orders in a store, in opening hours (assumed)
    pick_time_min: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=6, cv=0.5))
    # a picked line staged for pick-up (click and collect) or packed for the carrier (assumed)
    stage_time_min: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=5, cv=0.5))
    initial_cover_days: NonNeg = 10.0  # assumed
    initial_units: Count | None = None  # opening stock per sku and store in units (None: S)
    size_cv: NonNeg = 0.3  # spread of store sizes (demand scale), lognormal (assumed)
    delivery_days: list[Annotated[int, Field(ge=0, le=6)]] = [0, 2, 4]
    # ^ store deliveries per week: "assume 2–3 per week" (CALIBRATION: assumed rows)
    returns_pickup_days: list[Weekday] = [2]
    # ^ days (0 = Monday) the carrier takes a store's returns cage to its region's returns
    #   centre, at timetable.store_returns_pickup_h: weekly, consolidated (assumed)

    @model_validator(mode="after")
    def _hours(self) -> Stores:
        if self.closing_hour <= self.opening_hour:
            raise ValueError("closing_hour: must be after opening_hour")
        return self


class FulfilmentCentre(Strict):
    """A DC, dark store or 3PL site that picks online orders and restocks stores."""

    code: str
    region: str
    pickers: PosInt = 12  # assumed
    pick_time_min: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=4, cv=0.5))
    packers: PosInt = 6  # pack stations: each picked line is packed for the carrier (assumed)
    pack_time_min: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=3, cv=0.5))
    # ^ assumed
    initial_cover_days: NonNeg = 21.0  # assumed
    initial_units: Count | None = None  # opening stock per sku in units (None: initial_cover_days)
    ships_online: bool = True
    serves_stores: bool = True


class ReturnsCentre(Strict):
    """Each region's returns centre (at the DC restocking its stores): online returns come
    by carrier, store returns on the weekly pickup; inspectors work a shift, each unit
    takes `inspect_time_min`."""

    inspectors: PosInt = 4  # per returns centre (assumed)
    inspect_time_min: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=8, cv=0.5))
    # ^ per unit (assumed)
    shift_start_h: Hour = 6.0  # inspectors' working day: two shifts, 06:00–22:00 (assumed)
    shift_end_h: Annotated[float, Field(gt=0, le=24)] = 22.0  # assumed

    @model_validator(mode="after")
    def _shift(self) -> ReturnsCentre:
        if self.shift_end_h <= self.shift_start_h:
            raise ValueError("shift_end_h: must be after shift_start_h")
        return self


class SupplierSpec(Strict):
    code: str
    lead_time_days: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=6, cv=0.3))
    # ^ median 6 days with category management (APQC 2011, CALIBRATION ranges)
    on_time_in_full: Share = 0.85  # target 98%, actual often ~70% (CALIBRATION ranges)
    late_days: Dist = Field(default_factory=lambda: Dist(dist="exponential", mean=3))  # assumed
    short_ship_fraction: Share = 0.2  # share of a late/short PO not shipped (assumed)
    price_factor: Pos = 1.0  # PO price ÷ standard cost
    alternates: list[str] = []
    # a DC's PO is confirmed with its planned arrival this long after it is raised (an
    # order acknowledgement; assumed: a day)
    confirms_after_h: NonNeg = 24.0
    can_expedite: bool = True  # the supplier hurries a late PO on request (assumed)


class Lanes(Strict):
    """Transit times; DC → store is next-day (CALIBRATION: network descriptions)."""

    dc_to_store_h: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=20, cv=0.2))
    dc_to_customer_h: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=40, cv=0.3))
    store_to_customer_h: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=20, cv=0.3))
    # a customer's parcel return, dropped off → at the returns centre: ground, consolidated,
    # about 3–7 days (assumed)
    customer_return_h: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=120, cv=0.3))
    cross_region_extra_h: NonNeg = 24.0  # assumed
    cost_cents_per_unit_dc: NonNeg = 450.0  # assumed
    cost_cents_per_unit_store: NonNeg = 650.0  # assumed: store picking costs more
    zones_per_region: PosInt = 2


class PackageRef(Strict):
    """A retailer's own data package behind the network (`omnitwin data fit` writes it).

    With a package the catalogue, the locations, the starting stock, the demand rates and
    the reorder levels come from the package and its fit instead of being generated:
    `network.stores.count` and `skus.count` must then equal the package's (so size limits
    apply), the package's sites must be the scenario's `dcs`, `dark_stores` and
    `three_pl`, and its regions the scenario's `regions` (the twin checks when it builds).
    Paths are relative to the scenario file.
    """

    path: Annotated[str, Field(min_length=1)]  # the package folder
    fit: Annotated[str, Field(min_length=1)]  # the fit folder `omnitwin data fit` wrote
    # the calendar date of the run's day 0, a Monday (the twin's week starts on day 0);
    # None: the Monday after the sales history (fitted demand) or the Monday that starts
    # the last `horizon_days` of it (replay)
    start_date: dt.date | None = None
    # reorder levels the package's policy table does not give are derived (README): the
    # cycle service level they aim at, and the least days of demand a site's order adds
    service_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95  # assumed
    dc_cycle_days: Pos = 7.0  # assumed: a weekly order cycle

    @field_validator("start_date")
    @classmethod
    def _monday(cls, v: dt.date | None) -> dt.date | None:
        if v is not None and v.weekday() != 0:
            monday = v - dt.timedelta(days=v.weekday())
            raise ValueError(
                f"{v.isoformat()} is a {v.strftime('%A')}; runs start on a Monday (day 0 of"
                f" the twin's week): use {monday.isoformat()}"
            )
        return v


class Network(Strict):
    # a retailer's own data package (`omnitwin data fit`); None: a generated network
    package: PackageRef | None = None
    regions: list[str] = ["north", "south"]
    stores: Stores = Field(default_factory=Stores)
    dcs: list[FulfilmentCentre] = Field(
        default_factory=lambda: [
            FulfilmentCentre(code="DC-NORTH", region="north"),
            FulfilmentCentre(code="DC-SOUTH", region="south"),
        ]
    )
    dark_stores: list[FulfilmentCentre] = []
    three_pl: list[FulfilmentCentre] = []
    returns_centre: ReturnsCentre = Field(default_factory=ReturnsCentre)
    suppliers: list[SupplierSpec] = Field(default_factory=lambda: [SupplierSpec(code="SUP-1")])
    lanes: Lanes = Field(default_factory=Lanes)

    @model_validator(mode="after")
    def _consistent(self) -> Network:
        if not self.regions:
            raise ValueError("regions: at least one region is needed")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("regions: names must be unique")
        sites = self.dcs + self.dark_stores + self.three_pl
        codes = [s.code for s in sites]
        if len(set(codes)) != len(codes):
            raise ValueError("dcs: site codes must be unique across dcs, dark_stores and three_pl")
        for s in sites:
            if s.region not in self.regions:
                raise ValueError(f"site {s.code}: region {s.region!r} is not in regions")
        if self.stores.count and not any(s.serves_stores for s in sites) and not self.suppliers:
            raise ValueError("suppliers: stores need a DC or a supplier to restock them")
        sup = [s.code for s in self.suppliers]
        if len(set(sup)) != len(sup):
            raise ValueError("suppliers: codes must be unique")
        for s in self.suppliers:
            for a in s.alternates:
                if a not in sup:
                    raise ValueError(f"supplier {s.code}: alternate {a!r} is not a supplier")
        return self


# ---------------------------------------------------------------------------- skus
class Skus(Strict):
    """Generated skus with a skewed popularity (a few sell a lot)."""

    count: PosInt = 50
    cost_cents_mean: Pos = 2_000
    cost_cv: NonNeg = 0.6
    markup: Pos = 2.0
    popularity_skew: NonNeg = 0.8  # Zipf exponent over sku rank (assumed)
    classes: dict[str, Share] = {"general": 0.6, "apparel": 0.3, "electronics": 0.1}

    @field_validator("classes")
    @classmethod
    def _sum_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("at least one class")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, got {sum(v.values()):g}")
        return v


# ---------------------------------------------------------------------------- channels
class ChannelSpec(Strict):
    code: str
    kind: Literal["web", "marketplace"]
    orders_per_day: NonNeg = 200.0
    lines_per_order: Annotated[float, Field(ge=1)] = 1.6  # assumed
    promise_h: Pos = 72.0  # promised delivery, hours after the order (assumed)
    cancel_rate: Share = 0.02  # customer cancellations before shipping (assumed)
    return_rate: Share = 0.176  # online 17.6% (NRF & Appriss 2023, CALIBRATION)
    # a channel that sells against its own feed (`policy.web_reservation` /
    # `marketplace_reservation: own_feed`): how often the feed is refreshed from the core;
    # assumed: the seed article's 30-minute batch cadence
    feed_refresh_min: Pos = 30.0
    bopis_share: Share = 0.0  # 18–25% of online orders (Adobe; sensitivity range)


def quota_shares(quotas: dict[str, float], channels: list[ChannelSpec]) -> dict[str, float]:
    """Each channel's share of a location's stock under `quotas` (keyed by channel code or
    kind; the code wins): a kind's share is one share for all its channels, split between
    them by orders per day (equally if none has any). Channels not named get none. Shares
    may not add up to more than 100%: quotas that overlap would promise the same units
    twice, which is what a quota exists to prevent."""
    out: dict[str, float] = {}
    by_kind: dict[str, list[ChannelSpec]] = {}
    for ch in channels:
        if ch.code in quotas:
            out[ch.code] = float(quotas[ch.code])
        elif ch.kind in quotas:
            by_kind.setdefault(ch.kind, []).append(ch)
    for kind, members in by_kind.items():
        volume = sum(ch.orders_per_day for ch in members)
        for ch in members:
            weight = ch.orders_per_day / volume if volume > 0 else 1.0 / len(members)
            out[ch.code] = float(quotas[kind]) * weight
    total = sum(out.values())
    if total > 1.0 + 1e-9:
        detail = ", ".join(f"{c} {v:.0%}" for c, v in out.items())
        raise ValueError(f"policy.channel_quotas: shares add up to {total:.0%} (> 100%): {detail}")
    return out


def _default_channels() -> list[ChannelSpec]:
    return [
        ChannelSpec(code="web", kind="web", orders_per_day=300),
        ChannelSpec(code="mkt-a", kind="marketplace", orders_per_day=120),
    ]


# ---------------------------------------------------------------------------- demand
class DemandEvent(Strict):
    """A promotion, peak or spike: demand × `multiplier` for `days` from `start_day`."""

    name: str = "event"
    kind: Literal["peak", "promotion", "spike"] = "peak"
    start_day: NonNeg
    days: Pos
    multiplier: Pos
    store_multiplier: Pos | None = None  # stores may rise less than online (default same)
    channels: list[str] | None = None  # online channels affected; None = all


class Demand(Strict):
    # batch: walk-ins drawn per interval; customer: one by one; replay: a data package's
    # recorded sales, day by day (needs `network.package`)
    mode: Literal["batch", "customer", "replay"] = "batch"
    interval_min: Pos = 15.0  # batch draw interval for store demand
    store_units_per_sku_day: NonNeg = 0.6  # mean across skus per store (assumed)
    day_of_week: list[Pos] = [0.9, 0.85, 0.9, 0.95, 1.1, 1.25, 1.05]  # Mon..Sun, assumed
    unmet: Literal["lost", "backorder"] = "lost"
    # annual seasonality: demand × (1 + amplitude·cos(2π(day − peak_day)/period_days))
    seasonality_amplitude: Annotated[float, Field(ge=0, lt=1)] = 0.0
    seasonality_peak_day: NonNeg = 0.0
    seasonality_period_days: Pos = 365.0
    # online orders by hour of day (00:00..23:00), relative weights scaled to mean 1: quiet
    # overnight, rising through the day, an evening peak 19:00–22:00 (assumed: the shape
    # e-commerce traffic is usually reported with; CALIBRATION.md has no intraday figure)
    online_hourly: list[Pos] = [
        0.45, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.65, 0.85, 1.0, 1.1, 1.15,
        1.25, 1.2, 1.1, 1.1, 1.15, 1.25, 1.45, 1.65, 1.8, 1.75, 1.35, 0.85,
    ]  # fmt: skip
    store_return_rate: Share = 0.10  # in store 10.0% (NRF & Appriss 2023, CALIBRATION)
    return_delay_days: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=9, cv=0.5))
    events: list[DemandEvent] = []

    @field_validator("day_of_week")
    @classmethod
    def _seven(cls, v: list[float]) -> list[float]:
        return _one_a_slot(v, 7, "Mon..Sun")

    @field_validator("online_hourly")
    @classmethod
    def _twenty_four(cls, v: list[float]) -> list[float]:
        return _one_a_slot(v, 24, "00:00..23:00")


def _one_a_slot(v: list[float], n: int, slots: str) -> list[float]:
    """A weight for each of the `n` days of the week or hours of the day."""
    if len(v) != n:
        raise ValueError(f"needs {n} values ({slots}), got {len(v)}")
    return v


# ---------------------------------------------------------------------------- policy
class Replenishment(Strict):
    """Store and DC replenishment, in days of cover of mean demand (or units if given).

    Unit levels, when given, apply to every sku at every store (or DC) and replace
    the days of cover: `store_S_units` alone is a base stock (s = S − 1);
    `store_s_units` with it is an (s, S) pair. The same holds for `dc_S_units` and
    `dc_s_units`. `None` keeps the days of cover. `store_review: continuous` reorders
    after every sale straight from a supplier (`store_source: supplier`) under
    `store_policy` s-S, base-stock or r-Q (r = s, Q = S − s; R-S is periodic and refused
    here); stores restocked by a DC are reviewed `daily` or on `delivery_days`. Sites
    review nightly under `dc_policy`, read from their (s, S) the same way.
    """

    store_policy: Literal["s-S", "base-stock", "r-Q", "R-S"] = "s-S"
    store_s_days: NonNeg = 4.0
    store_S_days: Pos = 10.0
    store_S_units: Count | None = None  # absolute base-stock/order-up-to level, for validation
    store_s_units: Count | None = None  # absolute reorder point (needs store_S_units)
    store_review: Literal["daily", "continuous", "delivery_days"] = "delivery_days"
    store_source: Literal["dc", "supplier"] = "dc"
    dc_policy: Literal["s-S", "base-stock", "r-Q", "R-S"] = "s-S"
    dc_s_days: NonNeg = 12.0
    dc_S_days: Pos = 28.0
    dc_S_units: PosInt | None = None  # absolute order-up-to level at every DC
    dc_s_units: Count | None = None  # absolute reorder point (needs dc_S_units)

    @model_validator(mode="after")
    def _order(self) -> Replenishment:
        if self.store_s_days >= self.store_S_days:
            raise ValueError("store_s_days: must be < store_S_days")
        if self.dc_s_days >= self.dc_S_days:
            raise ValueError("dc_s_days: must be < dc_S_days")
        if self.store_review == "continuous" and self.store_policy == "R-S":
            raise ValueError(
                "store_policy: 'R-S' orders up to S at each periodic review; with "
                "store_review 'continuous' use s-S, base-stock or r-Q (or store_review: "
                "daily or delivery_days for R-S)"
            )
        if self.store_review == "continuous" and self.store_source == "dc":
            # continuous review orders one-for-one from a supplier; stores fed by a DC are
            # reviewed on a schedule, so this pair would mean stores never reorder
            raise ValueError(
                "store_review: 'continuous' orders straight from a supplier; with "
                "store_source 'dc' stores would never reorder (use store_source: supplier, "
                "or store_review: daily or delivery_days)"
            )
        for where in ("store", "dc"):
            s, S = getattr(self, f"{where}_s_units"), getattr(self, f"{where}_S_units")
            if s is None:
                continue
            if S is None:
                raise ValueError(f"{where}_s_units: needs {where}_S_units (the order-up-to level)")
            if s >= S:
                raise ValueError(f"{where}_s_units: must be < {where}_S_units, got {s} >= {S}")
        return self


class Policy(Strict):
    """The operating model and any piece of it overridden.

    `legacy` and `orchestrated` are bundles (see `scenarios.policies`); every field
    left `None` takes the bundle's value.
    """

    operating_model: Literal["legacy", "orchestrated"] = "orchestrated"
    # what each channel may promise: store buffer, channel buffers and quotas, safety
    # stock (the same defaults under both bundles; `scenarios.policies`)
    store_buffer: Count | None = None  # units of a store's shelf online channels never promise
    channel_buffers: dict[str, Count] | None = None  # per channel code or kind: units left
    # per channel code or kind: its share of each location's stock; a kind's share is split
    # between that kind's channels by orders per day, and the shares may not exceed 100%
    channel_quotas: dict[str, Share] | None = None
    safety_stock_units: Count | None = None  # units of every position no channel promises
    # a researcher's pick of the core's allocation class with its parameters, as given
    # (instead of the knobs above)
    allocation: Literal["pooled", "siloed", "buffered"] | None = None
    allocation_params: dict[str, object] | None = None
    sourcing: Literal["nearest", "ship-from-store", "cost"] | None = None
    sourcing_params: dict[str, object] | None = None
    sync_interval_min: NonNeg | None = None  # 0 = real time
    # how channels reserve: through the one central reservation service, or against their
    # own feed refreshed every `channels[].feed_refresh_min`, with orders imported later
    web_reservation: Literal["own_feed", "central"] | None = None
    marketplace_reservation: Literal["own_feed", "central"] | None = None
    web_import_min: NonNeg | None = None  # own feed: web orders reach the core (0: at once)
    marketplace_import_min: Pos | None = None  # own feed: marketplace orders imported every N min
    approval_mode: Literal["email", "rules"] | None = None
    email_approval_h: Dist | None = None
    posting_mode: Literal["batch", "immediate"] | None = None
    returns_mode: Literal["batch", "rules"] | None = None
    store_receipts: Literal["api", "middleware"] | None = None  # how store receipts reach the core
    cycle_counts: Literal["random", "anomaly"] | None = None
    count_cycle_days: Pos | None = None  # a store counts each record once in so many days
    dc_count_cycle_days: Pos | None = None  # a DC counts each record once in so many days
    counts_per_store_day: Count | None = None  # fixed counts a store a night (0: none)
    transfer_auto_max_units: Count | None = None  # rules approve transfers up to this size
    transfer_auto_max_value_cents: Count | None = None  # ... and this value at standard cost
    outage_fallback_buffer: Count | None = None
    reconciliation_min_per_line: NonNeg | None = None
    auto_approve_adjustments_cents: Count | None = None  # variances up to this post by rule
    dead_letter_replay_h: Pos | None = None  # an operator replays dead letters every N hours
    replenishment: Replenishment = Field(default_factory=Replenishment)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: object) -> object:
        if isinstance(data, dict) and "posting_nightly_at_h" in data:
            raise ValueError("posting_nightly_at_h: moved to timetable.erp_posting_h")
        return data


# ---------------------------------------------------------------------------- timetable
class Timetable(Strict):
    """The network's daily timetable: when each recurring job runs, in one place.

    Hours of the day (`_h`, 0 <= h < 24, simulated time from midnight) and cadences
    (`_min`). No published figure exists for any of them: every default is assumed.

    - `returns_inspection_h` 06:00: under `policy.returns_mode: batch` each returns
      centre's daily batch: the returns that arrived before it are inspected (in the
      inspectors' shift); their dispositions are posted in the ERP's overnight run
      (`erp_posting_h`) after the whole batch is done.
    - `dc_dispatch_h` 06:00: DCs ship the store orders of the last store review,
      picked overnight.
    - `finance_close_h` 18:00: finance closes the day after the period's postings,
      matching by hand every true mismatch between the GL and the stock ledger.
    - `store_review_h` 22:00: the periodic store review (daily or on delivery days).
    - `site_review_h` 23:00: DCs and other sites review their stock against (s, S)
      and raise purchase orders.
    - `nightly_h` 23:30: overdue-PO checks, shrink, cycle counts, regional balancing,
      the daily snapshot and series.
    - `erp_posting_h` 02:00: under `policy.posting_mode: batch` the ERP posts the
      journal overnight.
    - `core_poll_min` 5: the integration scheduler runs the core's timers (bus holds
      and retries, GL batches, expiries, escalations).
    - `approvals_check_min` 30: approvers look for transfers waiting on them.
    - `till_retry_min` 15: a real-time till that was offline retries sending.
    - `dead_letter_replay_after_h` 1: operations replay dead letters this long after a
      middleware outage ends (besides the operator's `policy.dead_letter_replay_h`).
    - `store_pick_every_min` 60: store staff pick the online lines waiting every hour from
      opening, within opening hours (`network.stores`); 0: as each line comes.
    - `dc_waves_h` 06:00 to 20:00 every 2 h: a site's pick waves over two shifts; a wave
      picks the online lines that arrived before it ([]: as each line comes).
    - `carrier_cutoff_h` 17:00: the carrier collects the day's parcels; a parcel packed
      after it leaves with the next collection (null: handed over as soon as it is packed).
    - `carrier_days` Monday to Saturday: the days (0 = Monday) the carrier collects.
    - `store_returns_pickup_h` 14:00: on `network.stores.returns_pickup_days` the carrier
      takes each store's returns to its region's returns centre.

    In-store returns come back at the stores' closing hour (`network.stores`).
    """

    returns_inspection_h: Hour = 6.0  # assumed
    dc_dispatch_h: Hour = 6.0  # assumed
    finance_close_h: Hour = 18.0  # assumed
    store_review_h: Hour = 22.0  # assumed
    site_review_h: Hour = 23.0  # assumed
    nightly_h: Hour = 23.5  # assumed
    erp_posting_h: Hour = 2.0  # assumed: the ERP posts overnight
    core_poll_min: Pos = 5.0  # assumed
    approvals_check_min: Pos = 30.0  # assumed
    till_retry_min: Pos = 15.0  # assumed
    dead_letter_replay_after_h: NonNeg = 1.0  # assumed
    store_pick_every_min: NonNeg = 60.0  # assumed: ready "in about an hour" (CALIBRATION)
    dc_waves_h: list[Hour] = [6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]  # assumed
    carrier_cutoff_h: Hour | None = 17.0  # assumed
    carrier_days: list[Weekday] = [0, 1, 2, 3, 4, 5]  # assumed
    store_returns_pickup_h: Hour = 14.0  # assumed


# ---------------------------------------------------------------------------- faults
class Window(Strict):
    start_h: NonNeg
    duration_h: Pos


class PosOutage(Window):
    stores: list[int] | None = None  # store indexes; None = `count` stores from the first
    count: PosInt = 1


class SupplierShock(Strict):
    supplier: str | None = None  # None = every supplier
    start_day: NonNeg
    days: Pos
    lead_time_multiplier: Pos = 2.0
    on_time_in_full: Share | None = None


class ReturnsSurge(Strict):
    start_day: NonNeg
    days: Pos
    multiplier: Pos


class Faults(Strict):
    middleware_outages: list[Window] = []
    pos_outages: list[PosOutage] = []
    erp_outages: list[Window] = []
    wms_confirmation_delay_h: NonNeg = 0.0
    middleware_latency_s: Dist = Field(default_factory=lambda: Dist(dist="exponential", mean=2))
    duplicate_rate: Share = 0.002  # assumed
    reorder_rate: Share = 0.002  # assumed
    # after a middleware outage its backlog is redelivered by the retry queue spread over
    # these hours, out of order, while new events flow at once (0: drained in order)
    outage_drain_h: Annotated[float, Field(ge=0, le=48)] = 0.0
    # the middleware delivers what falls due within one window of these seconds together,
    # as one envelope (the stores' till sales of an interval: each store's stream keeps its
    # own latency, duplicates, reordering and outages); 0: every store's batch is its own
    # event, as a per-message integration would (assumed: a micro-batching platform)
    middleware_batch_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    # the ERP's API behind the middleware, for journal postings (all assumed: no published
    # figure): its latency, the share of postings it rejects (an error response: the entry
    # waits for finance) and the share it posts twice (a time-out retried, posted both times)
    erp_api_latency_s: Dist = Field(default_factory=lambda: Dist(dist="gamma", mean=1, cv=0.5))
    erp_error_rate: Share = 0.001  # assumed
    erp_duplicate_rate: Share = 0.0005  # assumed
    supplier_shocks: list[SupplierShock] = []
    returns_surges: list[ReturnsSurge] = []


class Physical(Strict):
    """How physical stock drifts from the system's (the twin's physical truth)."""

    shrink_share_of_sales: Share = 0.015  # 1.4–1.6% of sales (NRF NRSS, CALIBRATION)
    shrink_known_share: Share = 0.27  # process/paperwork share found and written off (NRF 2023)
    receiving_error_rate: Share = 0.02  # store receipts miscounted (assumed)
    initial_record_error_share: Share = 0.0  # 60–65% wrong in the field (DeHoratius & Raman)
    record_error_units: PosInt = 2  # size of a record error (assumed)
    count_error_rate: Share = 0.0  # a count misses by a unit; ~85% accurate (U. Arkansas RFID)


# ---------------------------------------------------------------------------- economics
class LabourRates(Strict):
    """Loaded cost of an hour of each role's work, in the scenario's currency (assumed:
    CALIBRATION.md has no wage figures; set your own)."""

    reconciliation: NonNeg = 40.0  # a finance clerk matching GL and ledger by hand
    approvals: NonNeg = 55.0  # a store or regional manager approving a transfer
    counts: NonNeg = 22.0  # a store associate counting a position
    exceptions: NonNeg = 45.0  # an inventory planner working an exception
    store_picking: NonNeg = 22.0  # a store associate picking and staging an online line


class TaskMinutes(Strict):
    """Minutes of a person's work per task (assumed); store picking is the time the
    stores' pickers take (`network.stores.pick_time_min` and `stage_time_min`)."""

    approval: NonNeg = 10.0  # reading a transfer request and deciding it
    count: NonNeg = 4.0  # finding, counting and keying one (sku, location)
    exception: NonNeg = 20.0  # an exception a person works: a dead letter replayed by hand
    escalation: NonNeg = 10.0  # an exception past its SLA taken up by the next level


class Economics(Strict):
    """What the KPIs are worth (`money` beside `kpis` in every result). Every default is
    assumed (CALIBRATION.md lists no cost figures); a planner sets the retailer's own.
    Unit margin comes from the skus' cost and markup."""

    currency: str = "USD"
    oversell_cost: NonNeg = 25.0  # an oversold order: cancellation, marketplace penalty, goodwill
    labour_rates: LabourRates = Field(default_factory=LabourRates)
    task_minutes: TaskMinutes = Field(default_factory=TaskMinutes)
    carrying_cost_rate: Share = 0.25  # a year's cost of holding stock, share of its value
    expedite_cost_per_po: NonNeg = 150.0  # premium freight for an expedited purchase order
    resource_cost_per_po: NonNeg = 80.0  # placing a re-sourced order with an alternate
    #: the integration platform real-time orchestration runs on (licences, hosting,
    #: operations), paid a month once any capability runs on it
    platform_cost_per_month: NonNeg = 25_000.0
    platform_cost_per_event: NonNeg = 0.0002  # each event the platform carries
    programme_cost: NonNeg = 1_500_000.0  # one-off cost of moving to orchestration


class Scenario(Strict):
    """A what-if: a network, its demand, an operating model and the faults to inject."""

    name: str
    description: str = ""
    extends: str | None = None
    horizon_days: Annotated[float, Field(gt=0, le=730)] = 28.0
    warmup_days: NonNeg = 0.0
    seed: Count = 42
    replications: PosInt = 1
    network: Network = Field(default_factory=Network)
    skus: Skus = Field(default_factory=Skus)
    channels: list[ChannelSpec] = Field(default_factory=_default_channels)
    demand: Demand = Field(default_factory=Demand)
    policy: Policy = Field(default_factory=Policy)
    timetable: Timetable = Field(default_factory=Timetable)
    faults: Faults = Field(default_factory=Faults)
    physical: Physical = Field(default_factory=Physical)
    economics: Economics = Field(default_factory=Economics)

    @model_validator(mode="after")
    def _channels_unique(self) -> Scenario:
        codes = [c.code for c in self.channels]
        if len(set(codes)) != len(codes):
            raise ValueError("channels: codes must be unique")
        if "store" in codes:
            raise ValueError("channels: 'store' is reserved for walk-in sales")
        if self.policy.channel_quotas:
            quota_shares(self.policy.channel_quotas, self.channels)
        for ev in self.demand.events:
            for c in ev.channels or []:
                if c not in codes:
                    raise ValueError(f"demand.events[{ev.name}].channels: unknown channel {c!r}")
        if self.warmup_days >= self.horizon_days:
            raise ValueError("warmup_days: must be shorter than horizon_days")
        if self.demand.mode == "replay" and self.network.package is None:
            raise ValueError(
                "demand.mode: 'replay' replays a data package's sales: set network.package"
            )
        if self.demand.mode == "customer" and self.network.package is not None:
            raise ValueError(
                "demand.mode: 'customer' is not available with a data package (batch or replay)"
            )
        n_stores = self.network.stores.count
        if n_stores == 0 and not self.channels:
            raise ValueError(
                "network.stores.count: 0 stores and no online channels: nothing would sell"
            )
        for i, w in enumerate(self.faults.pos_outages):
            if w.stores is not None:
                bad = [k for k in w.stores if not 0 <= k < n_stores]
                if bad:
                    raise ValueError(
                        f"faults.pos_outages[{i}].stores: no store {bad[0]} in a network of"
                        f" {n_stores} stores (indexes 0 to {n_stores - 1})"
                    )
        return self
