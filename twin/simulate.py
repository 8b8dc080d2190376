"""`simulate()`: one scenario, one policy, one seed → the result contract of KPIS.md.

KPIs about the orchestrator come from its own records (event log, GL, bus,
exception queue, workflows); KPIs about the physical world (walk-outs, shelf
accuracy) come from the twin's physical arrays. A KPI the run cannot produce
is `None` (JSON null), never a made-up 0.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from orchestrator import MISMATCH_KINDS, AllocationPolicy, MovementKind, SourcingPolicy
from orchestrator.clock import HOUR
from scenarios import Scenario, load, resolve
from scenarios.policies import ResolvedPolicy

from .model import RetailTwin
from .money import inputs_of, money_of

#: the fulfilment cycle per type: click and collect (placed → ready) and shipped orders
FULFILMENT_BY_TYPE = (
    "fulfillment_cycle_time_bopis_p50_h",
    "fulfillment_cycle_time_bopis_p95_h",
    "fulfillment_cycle_time_ship_p50_h",
    "fulfillment_cycle_time_ship_p95_h",
)
KPI_KEYS = (
    "fill_rate",
    "lost_sales_units",
    "oversell_incidents",
    "pick_shortages",
    "stockout_frequency",
    "inventory_accuracy",
    "reservation_latency_p50_s",
    "reservation_latency_p95_s",
    "fulfillment_cycle_time_p50_h",
    "fulfillment_cycle_time_p95_h",
    "transfer_approval_time_p50_h",
    "transfer_cycle_time_p50_h",
    "store_replenishment_lead_time_p50_h",
    "replenishment_lead_time_mean_d",
    "returns_to_available_p50_h",
    "exception_backlog_peak",
    "exception_backlog_end",
    "exception_age_p95_h",
    "dead_letter_age_p95_h",
    "manual_reconciliation_hours",
    "posting_delay_p95_h",
    "unposted_movements_end",
    "channel_sync_lag_p95_s",
    "inventory_turns",
    "orders_total",
    "units_demanded",
    # per fulfilment type (KPIS.md: "also per fulfilment type"), after the table's keys
    *FULFILMENT_BY_TYPE,
)
#: KPIs that are shares; every KPI is >= 0, and a share is <= 1
SHARE_KPIS = frozenset({"fill_rate", "stockout_frequency", "inventory_accuracy"})


def kpi_range(key: str) -> tuple[float, float]:
    """The values a KPI can take: intervals over replications are clipped to it."""
    return (0.0, 1.0) if key in SHARE_KPIS else (0.0, math.inf)


INVARIANT_KEYS = (
    "units_conserved",
    "gl_balanced",
    "gl_reconciled",
    "events_lost",
    "duplicate_applications",
    "negative_available",
    "system_physical_explained",
)
EVENT_KEYS = (
    "emitted",
    "applied",
    "duplicates_dropped",
    "out_of_order_held",
    "dead_lettered",
    "replayed",
)


#: what builds the model of one run: `RetailTwin` itself, a subclass, or a function taking
#: RetailTwin's arguments
TwinFactory = Callable[..., RetailTwin]


class InvariantBroken(AssertionError):
    """A run broke an invariant of KPIS.md; the message says which and where."""


@dataclass(slots=True)
class RunResult:
    """The KPIS.md result object of one run, plus daily series and validation extras."""

    kpis: dict[str, float | int | None]
    invariants: dict[str, bool | int]
    events: dict[str, int]
    metadata: dict[str, Any]
    series: dict[str, list[float]] = field(default_factory=dict)
    extras: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: per exception kind: backlog_peak, backlog_end, age_p95_h (KPIS.md, exception_age_p95_h)
    exceptions_by_kind: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    money: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Exactly the result object of KPIS.md (what `--json` prints)."""
        return {
            **self.metadata,
            "kpis": self.kpis,
            "exceptions_by_kind": self.exceptions_by_kind,
            "invariants": self.invariants,
            "events": self.events,
            "money": self.money,
        }

    def series_frame(self) -> Any:
        """Daily series as a pandas DataFrame (one row per simulated day)."""
        import pandas as pd

        return pd.DataFrame(self.series)


def _pct(values: list[float] | np.ndarray, q: float) -> float | None:
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _nan(v: float | None) -> float:
    """An extras figure: NaN where a KPI would be None."""
    return math.nan if v is None else v


def _clean(v: float | None) -> float | None:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return v


def reduce(model: RetailTwin, wall_s: float, scenario_name: str) -> RunResult:
    """The KPI, invariant and event blocks from a finished model."""
    core, counts, scenario = model.core, model.metrics.counts, model.scenario
    horizon_s = model.horizon_h * HOUR
    demanded = counts.store_demand + counts.online_demand
    served = counts.store_sold + counts.online_shipped
    ages = model.exception_ages_end_h  # open ones aged at the horizon, not after the drain
    w = model.warmup_h * HOUR  # everything below covers the measured window [warm-up, horizon]
    window_h = model.horizon_h - model.warmup_h
    # movements of the measured window, posted or not; a posting after the horizon (in the
    # drain) counts as waiting until the horizon, as open exceptions do: the horizon is the
    # end of what was measured, the drain only settles the books
    booked = [e for e in core.gl.entries if w <= e.movement_at <= horizon_s]
    # per movement: a batch entry's delay counts once for each of its lines
    posted_delays = np.repeat(
        np.array(
            [
                (min(e.posted_at, horizon_s) if e.posted else horizon_s) - e.movement_at
                for e in booked
            ],
            dtype=float,
        )
        / HOUR,
        np.array([e.n_movements for e in booked], dtype=np.int64),
    )
    # dead letters of the window: until replayed, or the horizon if that came first
    dead_ages = [
        (min(d.replayed_at, horizon_s) if d.replayed_at is not None else horizon_s) - d.at
        for d in core.bus.dead_letters.values()
        if w <= d.at <= horizon_s
    ]
    approvals = model.transfers.approval_times_h(since=w)
    lead = model.procurement.lead_times_d(since=w)
    r2a = model.returns.returns_to_available_h(since=w, until=horizon_s)
    log = core.ledger.movements
    cogs = 0
    for a, b in log.chunks():
        at, kind = log.column("at", a, b), log.column("kind", a, b)
        sold = np.isin(kind, [MovementKind.SALE, MovementKind.SHIPMENT])
        sold &= (at >= w) & (at <= horizon_s)
        qty, cost = log.column("qty", a, b)[sold], log.column("unit_cost_cents", a, b)[sold]
        cogs += int((qty.astype(np.int64) * cost).sum())
    avg_inv = float(np.mean(counts.inventory_value)) if counts.inventory_value else 0.0
    turns = (cogs / avg_inv) * (365.0 * 24.0 / window_h) if avg_inv > 0 else None
    stocked = counts.snapshots_stocked
    kpis: dict[str, float | int | None] = {
        "fill_rate": served / demanded if demanded else None,
        "lost_sales_units": counts.store_lost + counts.online_lost,
        "oversell_incidents": counts.oversells,
        "pick_shortages": counts.pick_shortages,
        "stockout_frequency": counts.snapshots_ats_zero / stocked if stocked else None,
        "inventory_accuracy": counts.snapshots_accurate / stocked if stocked else None,
        "reservation_latency_p50_s": _pct(counts.reservation_latency_s, 50),
        "reservation_latency_p95_s": _pct(counts.reservation_latency_s, 95),
        "fulfillment_cycle_time_p50_h": _pct(counts.fulfilment_h, 50),
        "fulfillment_cycle_time_p95_h": _pct(counts.fulfilment_h, 95),
        "transfer_approval_time_p50_h": _pct(approvals, 50),
        "transfer_cycle_time_p50_h": _pct(model.transfers.cycle_times_h(since=w), 50),
        "store_replenishment_lead_time_p50_h": _pct(
            counts.store_replenishment_h + model.store_needs_open_h, 50
        ),
        "replenishment_lead_time_mean_d": _mean(lead),
        "returns_to_available_p50_h": _pct(r2a, 50),
        "exception_backlog_peak": model.exceptions_peak_end,
        "exception_backlog_end": model.exceptions_open_end,
        "exception_age_p95_h": _pct(ages, 95),
        "dead_letter_age_p95_h": _pct(np.asarray(dead_ages) / HOUR, 95),
        "manual_reconciliation_hours": counts.manual_recon_h,
        "posting_delay_p95_h": _pct(posted_delays, 95),
        "unposted_movements_end": model.unposted_at_end,
        "channel_sync_lag_p95_s": _pct(counts.sync_lag_s, 95),
        "inventory_turns": turns,
        "orders_total": counts.orders,
        "units_demanded": demanded,
        "fulfillment_cycle_time_bopis_p50_h": _pct(counts.fulfilment_bopis_h, 50),
        "fulfillment_cycle_time_bopis_p95_h": _pct(counts.fulfilment_bopis_h, 95),
        "fulfillment_cycle_time_ship_p50_h": _pct(counts.fulfilment_ship_h, 50),
        "fulfillment_cycle_time_ship_p95_h": _pct(counts.fulfilment_ship_h, 95),
    }
    kpis = {k: _clean(v) if isinstance(v, float) else v for k, v in kpis.items()}
    check = core.check()
    inv = dict(check.invariants)
    problems = []
    problems += [f"ledger: {p}" for p in check.ledger_problems[:10]]
    problems += [f"reconciliation: {d}" for d in check.differences[:10]]
    sku_codes = [s.code for s in core.catalog.skus]
    phys = model.physical.conservation_problems(sku_codes)
    problems += phys
    inv["units_conserved"] = bool(inv["units_conserved"]) and not phys
    unexplained = unexplained_gaps(model)
    problems += [f"system − physical unexplained: {p}" for p in unexplained[:10]]
    inv["system_physical_explained"] = not unexplained
    if model.policy.operating_model != "orchestrated":
        inv["negative_available"] = int(inv["negative_available"])
    horizon = scenario.horizon_days
    extras = {
        "time_avg_on_hand": counts.area_on_hand / window_h if window_h else math.nan,
        "time_avg_backorders": counts.area_backorders / window_h if window_h else math.nan,
        "time_avg_outstanding": counts.area_outstanding / window_h if window_h else math.nan,
        "time_avg_orders_open": counts.area_orders_open / window_h if window_h else math.nan,
        "orders_done": float(counts.orders_done),
        "mean_order_time_h": float(np.mean(counts.order_time_h))
        if counts.order_time_h
        else math.nan,
        "mean_pick_wait_h": float(np.mean(counts.pick_wait_h)) if counts.pick_wait_h else math.nan,
        "picks": float(len(counts.pick_wait_h)),
        "store_fill_rate": counts.store_sold / counts.store_demand
        if counts.store_demand
        else math.nan,
        "online_fill_rate": counts.online_shipped / counts.online_demand
        if counts.online_demand
        else math.nan,
        # demand as drawn, before anything a policy does (common random numbers)
        "store_units_demanded": float(counts.store_demand),
        "online_units_ordered": float(counts.online_ordered),
        "store_lost_units": float(counts.store_lost),
        "online_lost_units": float(counts.online_lost),
        # units on orders their customers cancelled (drawn with the order: every policy alike)
        "online_cancelled_units": float(counts.online_cancelled_units),
        "refused_units": float(counts.refused_units),
        "fallback_refused_units": float(
            counts.fallback_refused_units
        ),  # sent before the customer cancelled
        "returned_units": float(counts.returned_units),
        **{f"oversells_{k}": float(v) for k, v in counts.oversells_by_cause.items()},
        # shrink at retail over sales at retail, as NRF reports it (CALIBRATION: 1.4–1.6 %)
        "shrink_share_of_sales": _shrink_share(model),
        # the close's reconciling lines, by why the GL disagreed with the ledger
        **{f"recon_lines_{k}": float(counts.recon_lines.get(k, 0)) for k in MISMATCH_KINDS},
        # routine DC → store deliveries, apart from workflow transfers (KPIS.md)
        "store_delivery_cycle_time_p50_h": _nan(_pct(counts.store_delivery_h, 50)),
        "transfers_requested": float(len(model.transfers.approval_times_h(since=w))),
        "transfers_to_a_person_share": model.transfers.share_decided_by_people(since=w),
        "transfer_approval_time_mean_h": _nan(_mean(approvals)),
        "store_inventory_accuracy": counts.snapshots_accurate_store / counts.snapshots_stocked_store
        if counts.snapshots_stocked_store
        else math.nan,
        "dc_inventory_accuracy": (counts.snapshots_accurate - counts.snapshots_accurate_store)
        / (stocked - counts.snapshots_stocked_store)
        if stocked > counts.snapshots_stocked_store
        else math.nan,
        **model.inventory_control.figures(),
        **model.suppliers.figures(since=w),
    }
    applied = core.bus.counters.applied
    meta = {
        "scenario": scenario_name,
        "policy": model.policy.name,
        "seed": model.seed_value,
        "replications": 1,
        "sim_days": horizon,
        "wall_seconds": wall_s,
        "core_events_per_second": applied / wall_s if wall_s > 0 else None,
    }
    series = model.datacollector.get_model_vars_dataframe().to_dict(orient="list")
    # the collector's daily fill rate mixes days (today's shipments of yesterday's orders);
    # report each day's demand and how much of it was served, now or later, instead
    by_day = model.metrics.fill_rate_by_day()
    series["fill_rate"] = [
        by_day[int(d)] if int(d) < len(by_day) else math.nan for d in series.get("day", [])
    ]
    by_kind = {
        kind: {k: _clean(v) if isinstance(v, float) else v for k, v in row.items()}
        for kind, row in model.exceptions_by_kind.items()
    }
    return RunResult(
        kpis,
        inv,
        core.bus.counters.as_dict(),
        meta,
        series,
        extras,
        problems,
        by_kind,
        money_of(inputs_of(model), scenario.economics),
    )


def _shrink_share(model: RetailTwin) -> float:
    """Units lost to shrink (theft, damage, receiving losses) over units sold in store and
    picked for online customers, both valued at each sku's price."""
    price = np.array([s.price_cents for s in model.core.catalog.skus], dtype=np.float64)
    phys = model.physical
    sales = float(((phys.sold + phys.shipped) * price).sum())
    return float((phys.shrink * price).sum()) / sales if sales else math.nan


def unexplained_gaps(model: RetailTwin) -> list[str]:
    """Every (sku, location) where system − physical stock, after the drain, is not the sum
    of the recorded error sources (the `system_physical_explained` invariant)."""
    net, core = model.network, model.core
    d = core.ledger.dense(net.n_sku, net.n_loc)
    return model.physical.unexplained(
        d.on_hand,
        d.quarantined,
        d.in_transit,
        [s.code for s in core.catalog.skus],
        [loc.code for loc in core.catalog.locations],
    )


def broken(result: RunResult) -> list[str]:
    """Which invariants a result breaks, with the details the run found."""
    inv = result.invariants
    bad = [
        k
        for k in ("units_conserved", "gl_balanced", "gl_reconciled", "system_physical_explained")
        if not inv[k]
    ]
    bad += [k for k in ("events_lost", "duplicate_applications") if inv[k] != 0]
    if result.metadata["policy"].startswith("orchestrated") and inv["negative_available"] != 0:
        bad.append("negative_available")
    return [f"{k} = {inv[k]}" for k in bad] + (result.problems if bad else [])


_GC_LOCK = threading.Lock()
_GC_RUNS = 0
_GC_SAVED: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def _long_lived_heap() -> Iterator[None]:
    """Collect cyclic garbage less often while a run builds its heap.

    A run keeps millions of objects alive (journal entries, events, cases) and makes
    little cyclic garbage; with Python's default thresholds each full collection walks
    all of them again (15 in a 14-day case study: 10 s of 48). Raised thresholds keep
    young collections and skip those walks; measured peak memory is unchanged. Runs in
    threads share one setting: the first to start raises it, the last to end restores it.
    """
    global _GC_RUNS, _GC_SAVED
    with _GC_LOCK:
        if _GC_RUNS == 0:
            _GC_SAVED = gc.get_threshold()
            gc.set_threshold(50_000, 20, 100)
        _GC_RUNS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_RUNS -= 1
            if _GC_RUNS == 0:
                gc.set_threshold(*_GC_SAVED)


def simulate(
    scenario: Scenario | str | Mapping[str, Any],
    policy: str | None = None,
    seed: int | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    progress: Callable[[float], None] | None = None,
    check: bool = True,
    allocation: AllocationPolicy | None = None,
    sourcing: SourcingPolicy | None = None,
    twin: TwinFactory = RetailTwin,
    export: str | Path | None = None,
) -> RunResult:
    """Run one replication; raises `InvariantBroken` (naming which and where) if `check`.

    `allocation` / `sourcing` plug in an object of your own implementing the core's
    `AllocationPolicy` / `SourcingPolicy` Protocol in place of the one `policy` names;
    the result's policy is then `<bundle>+<object name>`. (`compare`/`replicate` take
    names only, since Dask ships them to workers; loop over `replication_seeds` instead.)
    `twin` builds the model (a `RetailTwin` subclass that observes or tampers, in tests
    and benchmarks). `export`: a folder to write the run's movement log, journal,
    exceptions and orders into as Parquet (`twin.data.export`).
    """
    loaded = scenario if isinstance(scenario, Scenario) else load(scenario, overrides)
    if isinstance(scenario, Scenario) and overrides:
        loaded = load(loaded.model_dump(mode="json"), overrides)
    resolved: ResolvedPolicy = resolve(loaded.policy, policy)
    s = loaded.seed if seed is None else seed
    t0 = time.perf_counter()
    with _long_lived_heap():
        model = twin(
            loaded, resolved, s, progress=progress, allocation=allocation, sourcing=sourcing
        )
        resolved = model.policy
        if export is not None:
            model.orders.kept = []
        try:
            model.run()
            wall = time.perf_counter() - t0
            result = reduce(model, wall, loaded.name)
            if export is not None:
                from .data.export import export_run

                export_run(model, Path(export))
        finally:
            # Mesa 3.3 keeps a reference to every model in Agent._ids (mesa issue #3179): drop
            # it, or a long-lived process (the API, a Dask worker, a sweep) keeps every run
            mesa.Agent._ids.pop(model, None)
    if check:
        bad = broken(result)
        if bad:
            raise InvariantBroken(f"{loaded.name} / {resolved.name} / seed {s}: " + "; ".join(bad))
    return result
