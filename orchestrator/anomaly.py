"""Anomaly detection on stock variance, and a human-in-the-loop gate for what it proposes.

Everything is read from the ledger's movement log, so it works the same in the
twin and live. Per (sku, location) the daily **loss** in units over a window is

    shrink written off + transit losses + negative count adjustments

(positive adjustments are counted apart as **gain**). A position is flagged, with
an explainable reason code, when

- ``ROBUST_Z_SHRINK>3.5``: its window loss is far above its peers' (robust z-score,
  median and MAD across every position in the ledger);
- ``LOCATION_Z_SHRINK>3.5``: its location's total loss is far above other
  locations' and the position contributed to it;
- ``SPIKE_Z_SHRINK>3.5``: one day's loss is far above its own history (robust z
  over the position's own daily series);
- ``EWMA_DRIFT``: the EWMA of its daily loss ends above the control limit
  ``median + L·σ·sqrt(λ/(2−λ))`` (σ robust, floored);
- ``NEGATIVE_ONHAND_x3``: replaying the movement log, its on-hand dipped below zero
  (at least `min_negative`) times within the window;
- ``NO_COUNT_30D`` (aggravating only, unless `include_stale`): no cycle count for
  `stale_days`.

Robust scales: ``1.4826·MAD``; when the MAD is 0 (mostly-zero series) the mean
absolute deviation ``1.2533·MeanAD`` is used (Iglewicz & Hoaglin), and the scale
never goes below `min_scale_units`, so one lost unit is never an anomaly. The
thresholds are the versioned rule ``anomaly_detection`` (assumed defaults).

`RecordRisk` is the nightly count ranking: for every position, the chance its record
is wrong, from what the core's own log says about it (prior and after-count error
shares, units handled since the last count, a run of days without the sales its
demand should have made, on-hand below zero), so a count budget goes where errors
are; it learns nothing about the shelf until a count reports what was found.

`ActionGate` runs the actions anomaly detection leads to. Each action has a risk
level from the versioned rule ``action_risk``: low-risk ones (scheduling a cycle
count, small adjustments) execute at once; high-risk ones (allocation overrides,
adjustments worth more than a threshold) wait in a pending list for a person's
`approve`. Every step is audited with the rule version and the actor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .catalog import Ref
from .errors import InvalidCommand, InvalidTransition
from .governance import RuleVersion
from .ledger import MovementKind

if TYPE_CHECKING:
    from .core import Orchestrator

DAY = 86400.0
HOUR = 3600.0

DEFAULT_ANOMALY_RULES: dict[str, Any] = {
    "window_days": 28,  # assumed
    "z_threshold": 3.5,  # Iglewicz & Hoaglin's cut-off for the modified z-score
    "ewma_lambda": 0.3,  # assumed
    "ewma_L": 3.0,  # control-limit width in sigmas
    "min_scale_units": 1.0,  # a robust scale below one unit per day is noise
    "min_negative": 2,  # dips below zero within the window that make a pattern
    "stale_days": 30,  # a position not counted for this long is stale
}

DEFAULT_RECORD_RISK: dict[str, Any] = {
    # records wrong before any count: 60–65% (DeHoratius & Raman 2008, CALIBRATION)
    "prior_wrong_share": 0.6,
    # right after a manual count ~85% (University of Arkansas RFID studies, CALIBRATION)
    "after_count_wrong_share": 0.15,
    # assumed: the chance one unit handled at a position (sold, received, shipped, written
    # off) leaves its record wrong; with the twin's shrink and receiving errors a count's
    # ~85% falls to ~65% in about three weeks at an average position, as CALIBRATION says
    "wrong_per_unit_handled": 0.01,
    # a position is flagged NO_SALE when a right record would have had this chance or less
    # of selling nothing for so long (Poisson demand at its forecast): phantom stock, the
    # freeze of Kang & Gershwin (2005); strict, as thousands of positions are looked at
    "no_sale_max_chance": 0.01,
    # assumed: the share of wrong records whose shelf is in fact empty (they sell nothing)
    "empty_share_of_wrong": 0.1,
}

DEFAULT_ACTION_RISK: dict[str, Any] = {
    "high_risk_kinds": ["allocation_override"],
    "low_risk_kinds": ["schedule_cycle_count"],
    "adjustment_auto_max_value_cents": 50_000,  # assumed: 500.00 at standard cost
    "adjustment_auto_max_units": 25,  # assumed
    "default_risk": "high",  # an action kind the rule does not name waits for a person
}

_LOSS_KINDS = (MovementKind.SHRINK, MovementKind.TRANSIT_LOSS, MovementKind.ADJUSTMENT)
_COUNT_KIND = "cycle_count.counted"
_K = MovementKind
_ON_HAND_UP = [_K.RECEIPT, _K.OPENING, _K.ADJUSTMENT, _K.TRANSFER_IN]
_ON_HAND_DOWN = [_K.SALE, _K.SHIPMENT, _K.SHRINK, _K.TRANSFER_OUT]


def position_subject(sku: int, location: int) -> str:
    return f"position:{sku}:{location}"


# -- statistics (pure numpy) ------------------------------------------------------------
def robust_scale(x: np.ndarray, axis: int | None = None, min_scale: float = 0.0) -> np.ndarray:
    """1.4826·MAD, or 1.2533·MeanAD where the MAD is 0, never below `min_scale`."""
    med = np.median(x, axis=axis, keepdims=True)
    dev = np.abs(x - med)
    mad = np.median(dev, axis=axis, keepdims=True) * 1.4826
    mean_ad = np.mean(dev, axis=axis, keepdims=True) * 1.253314
    scale = np.where(mad > 0, mad, mean_ad)
    return np.maximum(scale, min_scale)


def robust_z(x: np.ndarray, axis: int | None = None, min_scale: float = 0.0) -> np.ndarray:
    """Robust z-scores of `x` against its own median (along `axis`)."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x
    med = np.median(x, axis=axis, keepdims=True)
    return (x - med) / robust_scale(x, axis=axis, min_scale=min_scale)


def ewma(x: np.ndarray, lam: float, start: np.ndarray | float) -> np.ndarray:
    """Exponentially weighted moving average along the last axis, seeded at `start`."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    prev = np.broadcast_to(np.asarray(start, dtype=float), x.shape[:-1]).copy()
    for t in range(x.shape[-1]):
        prev = lam * x[..., t] + (1.0 - lam) * prev
        out[..., t] = prev
    return out


# -- series from the movement log ---------------------------------------------------------
@dataclass(slots=True)
class VarianceSeries:
    """Daily loss and gain units per position over a window ending at `end`."""

    keys: list[tuple[int, int]]  # (sku, location), sorted; row order of the matrices
    start: float
    end: float
    loss: np.ndarray  # positions × days, units lost (>= 0)
    gain: np.ndarray  # positions × days, units found by positive adjustments (>= 0)

    @property
    def days(self) -> int:
        return self.loss.shape[1]

    def by_location(self) -> tuple[list[int], np.ndarray]:
        """Locations (sorted) and their daily loss summed over skus (locations × days)."""
        locs = sorted({loc for _s, loc in self.keys})
        row = {loc: i for i, loc in enumerate(locs)}
        out = np.zeros((len(locs), self.days))
        for i, (_s, loc) in enumerate(self.keys):
            out[row[loc]] += self.loss[i]
        return locs, out


def variance_series(core: Orchestrator, now: float, window_days: int) -> VarianceSeries:
    """Daily variance per position from the movement log, over `[now − window, now]`."""
    if window_days <= 0:
        raise InvalidCommand(f"window_days: must be > 0, got {window_days}")
    keys = sorted(core.ledger.positions)
    row = {k: i for i, k in enumerate(keys)}
    start = now - window_days * DAY
    loss = np.zeros((len(keys), window_days))
    gain = np.zeros((len(keys), window_days))
    log = core.ledger.movements
    rows = np.frombuffer(core.ledger.loss_rows, dtype=np.int64).copy()
    at = log.take("at", rows)
    hit = rows[(at >= start) & (at <= now)]
    if hit.size:
        kind = log.take("kind", hit)
        sku = log.take("sku", hit).tolist()
        loc = log.take("location", hit).tolist()
        qty = log.take("qty", hit).tolist()
        days = np.minimum((log.take("at", hit) - start) // DAY, window_days - 1)
        adjust = (kind == MovementKind.ADJUSTMENT).tolist()
        for s, lc, q, d, adj in zip(
            sku, loc, qty, days.astype(np.int64).tolist(), adjust, strict=True
        ):
            i = row[(s, lc)]
            if adj and q > 0:
                gain[i, d] += q
            else:
                loss[i, d] += -q if adj else q
    return VarianceSeries(keys, start, now, loss, gain)


def _window_loss(
    core: Orchestrator, now: float, window_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`variance_series`'s loss without its all-zero rows: every position's (sku, location)
    in key order, the rows that lost something in the window, and their rows × days loss.

    Most positions lose nothing in a month, so a nightly ranking of ~200,000 positions
    needs a few thousand rows, not a positions × days matrix and its temporaries.
    """
    t = core.ledger.table
    sku, loc = t.column("sku"), t.column("location")
    order = np.lexsort((loc, sku))
    sku, loc = sku[order], loc[order]
    width = int(loc.max()) + 1 if len(loc) else 1
    flat = sku * width + loc  # ascending: the key order
    start = now - window_days * DAY
    log = core.ledger.movements
    rows = np.frombuffer(core.ledger.loss_rows, dtype=np.int64).copy()
    at = log.take("at", rows)
    hit = rows[(at >= start) & (at <= now)]
    kind = log.take("kind", hit)
    qty = log.take("qty", hit).astype(float)
    adjust = kind == MovementKind.ADJUSTMENT
    lost = ~adjust | (qty < 0)  # a positive adjustment is a gain, not a loss
    where = np.searchsorted(
        flat, log.take("sku", hit).astype(np.int64) * width + log.take("location", hit)
    )[lost]
    days = np.minimum((log.take("at", hit) - start) // DAY, window_days - 1).astype(np.int64)
    hit_rows = np.unique(where)
    loss = np.zeros((len(hit_rows), window_days))
    np.add.at(
        loss, (np.searchsorted(hit_rows, where), days[lost]), np.where(adjust, -qty, qty)[lost]
    )
    return sku, loc, hit_rows, loss


def negative_dips(core: Orchestrator, since: float = -math.inf) -> dict[tuple[int, int], int]:
    """How often each position's on-hand went from >= 0 to below 0 at or after `since`
    (the ledger notes each such movement as it applies it)."""
    dips: dict[tuple[int, int], int] = {}
    for sku, loc, at in core.ledger.dips:
        if at >= since:
            dips[(sku, loc)] = dips.get((sku, loc), 0) + 1
    return dips


def last_counted(core: Orchestrator) -> dict[tuple[int, int], float]:
    """When each position was last cycle-counted (audited counts and count adjustments)."""
    out: dict[tuple[int, int], float] = {}
    for d in core.audit.of(_COUNT_KIND):
        _p, s, loc = d.subject.split(":")
        key = (int(s), int(loc))
        out[key] = max(out.get(key, -math.inf), d.at)
    log = core.ledger.movements
    reason = log.string_id("cycle count")
    if reason >= 0:
        rows = np.frombuffer(core.ledger.loss_rows, dtype=np.int64).copy()
        hit = rows[
            (log.take("kind", rows) == MovementKind.ADJUSTMENT)
            & (log.take("reason", rows) == reason)
        ]
        at = log.take("at", hit).tolist()
        sku = log.take("sku", hit).tolist()
        loc = log.take("location", hit).tolist()
        for s, lc, t in zip(sku, loc, at, strict=True):
            out[(s, lc)] = max(out.get((s, lc), -math.inf), t)
    return out


# -- recommendations ------------------------------------------------------------------------
class CountRecommendation(NamedTuple):
    sku: int
    location: int
    score: float
    reasons: tuple[str, ...]


def anomaly_rule(core: Orchestrator, at: float) -> RuleVersion:
    core.rules.ensure("anomaly_detection", DEFAULT_ANOMALY_RULES, note="assumed thresholds")
    return core.rules.current("anomaly_detection", at)


def recommend_cycle_counts(
    core: Orchestrator,
    now: float | None = None,
    top_n: int = 10,
    *,
    include_stale: bool = False,
    **overrides: Any,
) -> list[CountRecommendation]:
    """Positions to cycle-count first: highest score first, then sku, then location.

    Thresholds come from the `anomaly_detection` rule in force at `now`; keyword
    `overrides` (e.g. ``z_threshold=3.0``) replace single values for what-if runs.
    """
    t = core.clock.now() if now is None else now
    rule = anomaly_rule(core, t)
    unknown = set(overrides) - set(rule.params)
    if unknown:
        raise InvalidCommand(f"overrides: unknown settings {', '.join(sorted(unknown))}")
    p = {**rule.params, **overrides}
    thr, lam, big_l = float(p["z_threshold"]), float(p["ewma_lambda"]), float(p["ewma_L"])
    floor, window = float(p["min_scale_units"]), int(p["window_days"])
    if not 0 < lam <= 1:
        raise InvalidCommand(f"ewma_lambda: must be within (0, 1], got {lam}")
    if not floor > 0:
        raise InvalidCommand(f"min_scale_units: must be > 0, got {floor}")

    if window <= 0:
        raise InvalidCommand(f"window_days: must be > 0, got {window}")
    skus, locs_, hit_rows, loss = _window_loss(core, t, window)
    scores: dict[tuple[int, int], float] = {}
    reasons: dict[tuple[int, int], list[str]] = {}

    def flag(key: tuple[int, int], code: str, score: float) -> None:
        reasons.setdefault(key, []).append(code)
        scores[key] = scores.get(key, 0.0) + score

    n = len(skus)
    if n:
        # A position that lost nothing in the window scores exactly 0 on its own history
        # and on drift (median 0, scale `floor` > 0), so those two run on the rows that
        # lost something; peers and locations still see every position.
        total = np.zeros(n)
        total[hit_rows] = loss.sum(axis=1)
        # peers: every position's window loss against all positions'
        z_peer = robust_z(total, min_scale=floor)
        # locations: a location's total loss against other locations'
        locs = np.unique(locs_).tolist()
        at_loc = {loc: i for i, loc in enumerate(locs)}
        loc_loss = np.zeros((len(locs), window))
        for r, row in zip(locs_[hit_rows].tolist(), loss, strict=True):
            loc_loss[at_loc[r]] += row
        loc_total = loc_loss.sum(axis=1)
        z_loc = (
            dict(zip(locs, robust_z(loc_total, min_scale=floor), strict=True))
            if len(locs) >= 3
            else {}
        )
        loc_sum = dict(zip(locs, loc_total, strict=True))
        zl = np.array([z_loc.get(loc, 0.0) for loc in locs])[np.searchsorted(locs, locs_)]
        z_self = np.zeros(n)
        e_z = np.zeros(n)
        if len(hit_rows):
            # own history: the worst day against the position's own days
            z_self[hit_rows] = robust_z(loss, axis=1, min_scale=floor).max(axis=1)
            # drift: EWMA at the end of the window against a robust control limit
            base = np.median(loss, axis=1)
            sigma = robust_scale(loss, axis=1, min_scale=floor)[:, 0]
            e_end = ewma(loss, lam, base)[:, -1]
            e_z[hit_rows] = (e_end - base) / (sigma * math.sqrt(lam / (2.0 - lam)))
        candidates = (z_peer > thr) | ((zl > thr) & (total > 0)) | (z_self > thr) | (e_z > big_l)
        for i in np.flatnonzero(candidates).tolist():
            key = (int(skus[i]), int(locs_[i]))
            if z_peer[i] > thr:
                flag(key, f"ROBUST_Z_SHRINK>{thr:g}", float(z_peer[i]))
            if zl[i] > thr and total[i] > 0:
                flag(key, f"LOCATION_Z_SHRINK>{thr:g}", float(zl[i] * total[i] / loc_sum[key[1]]))
            if z_self[i] > thr:
                flag(key, f"SPIKE_Z_SHRINK>{thr:g}", float(z_self[i]))
            if e_z[i] > big_l:
                flag(key, "EWMA_DRIFT", float(e_z[i]))

    for key, k in negative_dips(core, since=t - window * DAY).items():
        if k >= int(p["min_negative"]):
            flag(key, f"NEGATIVE_ONHAND_x{k}", 2.0 * k)

    stale_before = t - float(p["stale_days"]) * DAY
    counted = last_counted(core)
    positions, first = core.ledger.positions, core.ledger.table.first_moved_at
    pool = sorted(positions) if include_stale else sorted(reasons)
    for key in pool:
        if not first[positions[key]._i] <= stale_before:
            continue  # too young to be stale (or never moved: nan)
        if counted.get(key, -math.inf) >= stale_before:
            continue
        flag(key, f"NO_COUNT_{int(p['stale_days'])}D", 1.0)

    ranked = sorted(scores, key=lambda k: (-round(scores[k], 9), k[0], k[1]))
    return [
        CountRecommendation(k[0], k[1], round(scores[k], 6), tuple(reasons[k]))
        for k in ranked[: max(top_n, 0)]
    ]


# -- the nightly count ranking ----------------------------------------------------------------
_HANDLED = np.array(
    [
        _K.RECEIPT,
        _K.SALE,
        _K.SHIPMENT,
        _K.TRANSFER_OUT,
        _K.TRANSFER_IN,
        _K.SHRINK,
        _K.DISPOSITION,
    ],
    dtype=np.int8,
)
_DEMAND = np.array([_K.SALE, _K.SHIPMENT, _K.TRANSFER_OUT], dtype=np.int8)
_STOCKED = np.array([_K.RECEIPT, _K.TRANSFER_IN, _K.OPENING], dtype=np.int8)


class RecordRisk:
    """The chance each (sku, location) record is wrong, kept up to date from the movement
    log (read incrementally: each night only the movements since the last reading), and
    the counts that reset it.

    `score()` gives, per position, `p = 1 − (1 − p0)·exp(−h·units handled since the last
    count)` with p0 the prior share of wrong records (never counted) or the after-count
    one; where the system shows stock, that updated by Bayes' rule with the evidence of
    T days without a demand movement: a right record is that quiet with chance
    `s = exp(−λT)` (λ the position's forecast a day), a wrong one with `e + (1 − e)·s`
    (e: the share of wrong records whose shelf is empty); 1 where the on-hand went below
    zero since the last count.
    `daily_demand` [sku, location] is the forecast; without it λ is what the log sold.
    """

    def __init__(self, core: Orchestrator, daily_demand: np.ndarray | None = None) -> None:
        self.core = core
        core.rules.ensure("record_risk", DEFAULT_RECORD_RISK, note="cited and assumed values")
        self.daily_demand = daily_demand
        self._seen = 0  # movements read so far
        self._dips_seen = 0
        shape = (len(core.catalog.skus), len(core.catalog.locations))
        self.handled = np.zeros(shape)  # units handled since the last count
        self.demand_units = np.zeros(shape)  # units that left for demand, ever
        self.last_demand = np.full(shape, -np.inf)  # s: the last demand movement
        self.last_stocked = np.full(shape, -np.inf)  # s: the last receipt or opening
        self.counted_at = np.full(shape, -np.inf)  # s: the last count (-inf: never)
        self.negative = np.zeros(shape, dtype=bool)  # on-hand went below 0 since the count
        self.start = math.nan  # s: the first movement

    def rule(self, at: float | None = None) -> RuleVersion:
        return self.core.rules.current("record_risk", self.core.clock.now() if at is None else at)

    def update(self) -> None:
        """Read the movements logged since the last reading."""
        log = self.core.ledger.movements
        n = len(log)
        if n > self._seen:
            a = self._seen
            kind = log.column("kind", a, n)
            sku = log.column("sku", a, n).astype(np.intp)
            loc = log.column("location", a, n).astype(np.intp)
            qty = np.abs(log.column("qty", a, n)).astype(float)
            at = log.column("at", a, n)
            if math.isnan(self.start):
                self.start = float(at.min())
            h = np.isin(kind, _HANDLED)
            np.add.at(self.handled, (sku[h], loc[h]), qty[h])
            d = np.isin(kind, _DEMAND)
            np.add.at(self.demand_units, (sku[d], loc[d]), qty[d])
            np.maximum.at(self.last_demand, (sku[d], loc[d]), at[d])
            st = np.isin(kind, _STOCKED)
            np.maximum.at(self.last_stocked, (sku[st], loc[st]), at[st])
            self._seen = n
        dips = self.core.ledger.dips
        for k, loc_, t in dips[self._dips_seen :]:
            if not t < self.counted_at[k, loc_]:
                self.negative[k, loc_] = True
        self._dips_seen = len(dips)

    def counted(self, sku: int, location: int, at: float | None = None) -> None:
        """A count of the position (whatever it found): its record starts afresh."""
        self.counted_many(np.asarray(sku), np.asarray(location), at)

    def counted_many(
        self, skus: np.ndarray, locations: np.ndarray, at: float | None = None
    ) -> None:
        """Counts of many positions (whatever they found): their records start afresh."""
        self.update()
        self.handled[skus, locations] = 0.0
        self.negative[skus, locations] = False
        self.counted_at[skus, locations] = self.core.clock.now() if at is None else at

    def score(self, now: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(chance each record is wrong [sku, location], NO_SALE or NEGATIVE flag)."""
        self.update()
        t = self.core.clock.now() if now is None else now
        p = self.rule(t)
        h = float(p["wrong_per_unit_handled"])
        p0 = np.where(
            np.isinf(self.counted_at),
            float(p["prior_wrong_share"]),
            float(p["after_count_wrong_share"]),
        )
        risk = 1.0 - (1.0 - p0) * np.exp(-h * self.handled)
        n_sku, n_loc = risk.shape
        on_hand = self.core.ledger.dense(n_sku, n_loc).on_hand
        if self.daily_demand is not None:
            lam = np.asarray(self.daily_demand, dtype=float)
        else:
            days = max((t - self.start) / DAY, 1.0) if not math.isnan(self.start) else 1.0
            lam = self.demand_units / days
        quiet_since = np.maximum(np.maximum(self.last_demand, self.last_stocked), self.counted_at)
        if not math.isnan(self.start):
            quiet_since = np.maximum(quiet_since, self.start)
        quiet_d = np.where(np.isinf(quiet_since), 0.0, np.maximum(t - quiet_since, 0.0) / DAY)
        silent = np.exp(-lam * quiet_d)  # P(no demand so long | right record)
        e = float(p["empty_share_of_wrong"])
        quiet_if_wrong = risk * (e + (1.0 - e) * silent)
        total = quiet_if_wrong + (1.0 - risk) * silent
        posterior = np.divide(quiet_if_wrong, total, out=risk.copy(), where=total > 0)
        risk = np.where(on_hand > 0, posterior, risk)
        no_sale = (on_hand > 0) & (silent <= float(p["no_sale_max_chance"]))
        negative = self.negative | (on_hand < 0)
        risk = np.where(negative, 1.0, risk)
        return risk, no_sale | negative


# -- the human-in-the-loop gate ---------------------------------------------------------------
@dataclass(slots=True)
class Action:
    """Something the system wants to do, its risk, and who let it happen."""

    id: int
    kind: str  # "adjustment", "schedule_cycle_count", "allocation_override", ...
    subject: str
    risk: str  # "low" or "high"
    rule: str  # RuleVersion.ref that set the risk
    requested_at: float
    requested_by: str
    reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"  # "pending", "executed", "rejected"
    decided_at: float = math.nan
    decided_by: str = ""
    result: Any = None

    @property
    def ref(self) -> str:
        return f"action:{self.id}"


@dataclass(slots=True)
class ScheduledCount:
    sku: int
    location: int
    scheduled_at: float
    reasons: tuple[str, ...]
    done_at: float = math.nan


class ActionGate:
    """Runs low-risk actions at once and holds high-risk ones for a person's approval."""

    def __init__(self, core: Orchestrator) -> None:
        self.core = core
        core.rules.ensure("action_risk", DEFAULT_ACTION_RISK, note="assumed thresholds")
        self.actions: list[Action] = []
        self._run: dict[int, Callable[[Action], Any]] = {}
        self.scheduled: dict[tuple[int, int], ScheduledCount] = {}

    # -- risk ------------------------------------------------------------------------
    def rule(self, at: float | None = None) -> RuleVersion:
        return self.core.rules.current("action_risk", self.core.clock.now() if at is None else at)

    @staticmethod
    def assess(rule: RuleVersion, kind: str, params: Mapping[str, Any]) -> tuple[str, str]:
        """(risk, why) of an action under `rule`."""
        if kind in rule.get("high_risk_kinds", ()):
            return "high", f"{kind} is high-risk"
        if kind == "adjustment":
            units, value = abs(params.get("delta", 0)), abs(params.get("value_cents", 0))
            max_v = rule["adjustment_auto_max_value_cents"]
            max_u = rule["adjustment_auto_max_units"]
            if value > max_v:
                return "high", f"value {value} > {max_v} cents"
            if units > max_u:
                return "high", f"{units} units > {max_u}"
            return "low", f"within {max_u} units and {max_v} cents"
        if kind in rule.get("low_risk_kinds", ()):
            return "low", f"{kind} is low-risk"
        risk = str(rule.get("default_risk", "high"))
        return risk, f"{kind} not named; default {risk}"

    # -- submitting and deciding ---------------------------------------------------------
    def submit(
        self,
        kind: str,
        subject: str,
        run: Callable[[Action], Any],
        *,
        params: Mapping[str, Any] | None = None,
        requested_by: str = "system",
        reason: str = "",
    ) -> Action:
        """Propose an action; it runs now if low-risk, else waits in `pending()`."""
        if not kind:
            raise InvalidCommand("action.kind: must not be empty")
        core = self.core
        now = core.clock.now()
        rule = self.rule(now)
        prm = dict(params or {})
        risk, why = self.assess(rule, kind, prm)
        a = Action(len(self.actions), kind, subject, risk, rule.ref, now, requested_by, reason, prm)
        self.actions.append(a)
        self._run[a.id] = run
        core.log.note(now, "action.requested", a.ref)
        if risk == "low":
            core.audit.record(
                now, "action.auto_approved", a.ref, kind, rule=rule.ref, actor="rule", reason=why
            )
            self._execute(a, "rule")
        else:
            core.audit.record(
                now, "action.pending", a.ref, kind, rule=rule.ref, actor=requested_by, reason=why
            )
            core.log.note(now, "action.pending", a.ref)
        return a

    def approve(self, action_id: int, approver: str, *, reason: str = "") -> Action:
        """A person approves a pending action; it runs now."""
        a = self._pending(action_id, approver)
        now = self.core.clock.now()
        self.core.audit.record(
            now, "action.approved", a.ref, a.kind, rule=a.rule, actor=approver, reason=reason
        )
        self.core.log.note(now, "action.approved", a.ref)
        self._execute(a, approver)
        return a

    def reject(self, action_id: int, approver: str, *, reason: str = "") -> Action:
        a = self._pending(action_id, approver)
        now = self.core.clock.now()
        a.status, a.decided_at, a.decided_by = "rejected", now, approver
        self._run.pop(a.id, None)
        self.core.audit.record(
            now, "action.rejected", a.ref, a.kind, rule=a.rule, actor=approver, reason=reason
        )
        self.core.log.note(now, "action.rejected", a.ref)
        return a

    def _pending(self, action_id: int, approver: str) -> Action:
        if not isinstance(action_id, int) or not 0 <= action_id < len(self.actions):
            raise InvalidCommand(f"action_id: no action {action_id!r}")
        if not approver:
            raise InvalidCommand("approver: a person must be named")
        a = self.actions[action_id]
        if a.status != "pending":
            raise InvalidTransition(f"{a.ref}: already {a.status}")
        return a

    def _execute(self, a: Action, actor: str) -> None:
        now = self.core.clock.now()
        run = self._run.pop(a.id)
        a.decided_at, a.decided_by = now, actor
        a.result = run(a)
        a.status = "executed"
        self.core.audit.record(now, "action.executed", a.ref, a.kind, rule=a.rule, actor=actor)
        self.core.log.note(now, "action.executed", a.ref)

    def pending(self) -> list[Action]:
        return [a for a in self.actions if a.status == "pending"]

    # -- actions ---------------------------------------------------------------------------
    def adjust(
        self,
        sku: Ref,
        location: Ref,
        delta: int,
        *,
        reason: str = "cycle count",
        requested_by: str = "system",
        on_done: Callable[[Action], None] | None = None,
    ) -> Action:
        """A stock adjustment; above the value or unit threshold it needs approval."""
        core = self.core
        s, loc = core.catalog.sku(sku), core.catalog.location(location)
        if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
            raise InvalidCommand(f"delta: must be a whole number other than 0, got {delta!r}")
        value = delta * core.catalog.std_cost(s)

        def run(a: Action) -> Any:
            actor = "cycle-count" if a.decided_by == "rule" else a.decided_by
            m = core.adjust(s, loc, delta, reason=reason, event_id=f"{a.ref}:adjust", actor=actor)
            if on_done is not None:
                on_done(a)
            return m.seq

        return self.submit(
            "adjustment",
            position_subject(s, loc),
            run,
            params={"sku": s, "location": loc, "delta": delta, "value_cents": value},
            requested_by=requested_by,
            reason=reason,
        )

    def override_allocation(
        self, subject: str, run: Callable[[Action], Any], *, requested_by: str, reason: str = ""
    ) -> Action:
        """A manual allocation override (high-risk under the default rule)."""
        return self.submit(
            "allocation_override", subject, run, requested_by=requested_by, reason=reason
        )

    def schedule_cycle_count(
        self,
        sku: Ref,
        location: Ref,
        reasons: tuple[str, ...] = (),
        *,
        requested_by: str = "anomaly",
    ) -> Action:
        core = self.core
        s, loc = core.catalog.sku(sku), core.catalog.location(location)

        def run(a: Action) -> ScheduledCount:
            sc = ScheduledCount(s, loc, core.clock.now(), tuple(reasons))
            self.scheduled[(s, loc)] = sc
            return sc

        return self.submit(
            "schedule_cycle_count",
            position_subject(s, loc),
            run,
            params={"sku": s, "location": loc, "reasons": list(reasons)},
            requested_by=requested_by,
            reason=" ".join(reasons),
        )

    def review(self, now: float | None = None, top_n: int = 10) -> list[CountRecommendation]:
        """Detect anomalies, open `stock_drift` / `negative_stock` exceptions for them and
        schedule a cycle count of each (low-risk, so it runs without a person)."""
        recs = recommend_cycle_counts(self.core, now, top_n)
        for r in recs:
            subject = position_subject(r.sku, r.location)
            detail = " ".join(r.reasons)
            if any(c.startswith("NEGATIVE_ONHAND") for c in r.reasons):
                self.core.exceptions.raise_("negative_stock", subject, detail)
            if any(("Z_SHRINK" in c or c == "EWMA_DRIFT") for c in r.reasons):
                self.core.exceptions.raise_("stock_drift", subject, detail)
            if (r.sku, r.location) not in self.scheduled:
                self.schedule_cycle_count(r.sku, r.location, r.reasons)
        return recs

    def cycle_count(
        self, sku: Ref, location: Ref, counted_qty: int, *, counter: str = "counter"
    ) -> Action | None:
        """Record a count; the difference to the system on-hand goes through the gate.

        Returns the adjustment action (pending if it needs approval), or None when the
        count agreed. The position's drift and negative-stock exceptions are resolved
        once the system agrees with the count.
        """
        core = self.core
        s, loc = core.catalog.sku(sku), core.catalog.location(location)
        if not isinstance(counted_qty, int) or isinstance(counted_qty, bool) or counted_qty < 0:
            raise InvalidCommand(f"counted_qty: must be a whole number >= 0, got {counted_qty!r}")
        now = core.clock.now()
        system = core.position(s, loc).on_hand
        delta = counted_qty - system
        subject = position_subject(s, loc)
        core.audit.record(
            now,
            _COUNT_KIND,
            subject,
            f"system {system} counted {counted_qty} delta {delta:+d}",
            actor=counter,
        )
        sc = self.scheduled.pop((s, loc), None)
        if sc is not None:
            sc.done_at = now

        def settle(a: Action | None) -> None:
            who = "system" if a is None or a.decided_by == "rule" else a.decided_by
            for kind in ("stock_drift", "negative_stock"):
                core.exceptions.resolve_subject(kind, subject, "cycle counted", actor=who)

        if delta == 0:
            settle(None)
            return None
        return self.adjust(
            s, loc, delta, reason="cycle count", requested_by=counter, on_done=settle
        )
