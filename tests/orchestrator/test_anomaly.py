"""Anomaly detection on stock variance, cycle-count ranking and the human-in-the-loop gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import (
    DAY,
    Catalog,
    InvalidCommand,
    InvalidTransition,
    ManualClock,
    MovementKind,
    Orchestrator,
)
from orchestrator.anomaly import (
    ActionGate,
    CountRecommendation,
    negative_dips,
    recommend_cycle_counts,
    robust_z,
    variance_series,
)

# skus: 0 LAMP 1000c, 1 RUG 2500c; locations: 0 dc, 1..5 stores s1..s5
SPIKE_DAYS = (5, 12, 19)


def world() -> tuple[Orchestrator, ManualClock]:
    c = Catalog()
    c.add_sku("LAMP", 1000)
    c.add_sku("RUG", 2500)
    c.add_location("dc", "dc")
    for i in range(1, 6):
        c.add_location(f"s{i}", "store")
    clock = ManualClock()
    core = Orchestrator(c, clock)
    for loc in range(1, 6):
        for sku in (0, 1):
            core.opening(sku, loc, 200)
    return core, clock


def stable_history(core: Orchestrator, clock: ManualClock, days: int = 28) -> None:
    """Every store writes off one unit of each sku every second or third day."""
    for day in range(days):
        clock.set(day * DAY + 12 * 3600)
        for loc in range(1, 6):
            for sku in (0, 1):
                if day % (2 + loc % 2) == 0:
                    core.write_off(sku, loc, 1)


def spiky_history(core: Orchestrator, clock: ManualClock) -> None:
    """As `stable_history`, but store s3 loses 12 lamps on three days."""
    for day in range(28):
        clock.set(day * DAY + 12 * 3600)
        for loc in range(1, 6):
            for sku in (0, 1):
                if day % (2 + loc % 2) == 0:
                    core.write_off(sku, loc, 1)
        if day in SPIKE_DAYS:
            core.write_off("LAMP", "s3", 12, reason="theft")
    clock.set(28 * DAY)


def dip_below_zero_three_times(core: Orchestrator) -> None:
    """s2 RUG: sales outrun the system count three times, receipts catch up in between."""
    core.sell("RUG", "s2", core.position("RUG", "s2").on_hand - 2)  # on-hand 2
    core.sell("RUG", "s2", 3)  # -1
    core.receive("RUG", "s2", 5)  # 4
    core.sell("RUG", "s2", 6)  # -2
    core.receive("RUG", "s2", 10)  # 8
    core.sell("RUG", "s2", 9)  # -1
    core.receive("RUG", "s2", 5)  # 4


# -- statistics ---------------------------------------------------------------------------
def test_the_robust_z_score_ignores_the_outlier_when_it_sets_the_scale() -> None:
    z = robust_z(np.array([10.0, 11.0, 9.0, 10.0, 50.0]))
    assert z[-1] > 20 and np.all(np.abs(z[:-1]) <= 1.0)


def test_a_scale_floor_keeps_a_single_lost_unit_from_being_an_anomaly() -> None:
    z = robust_z(np.array([0.0, 0.0, 0.0, 0.0, 1.0]), min_scale=1.0)
    assert z.max() < 3.5


def test_variance_series_counts_shrink_transit_loss_and_negative_adjustments_as_loss() -> None:
    core, clock = world()
    clock.set(DAY + 1)
    core.write_off("LAMP", "s1", 2)
    core.adjust("LAMP", "s1", -3)
    core.adjust("LAMP", "s1", +1)
    core.transfer_out("LAMP", "s2", "s1", 4)
    core.transit_loss("LAMP", "s1", 4)
    vs = variance_series(core, 2 * DAY, window_days=2)
    row = vs.keys.index((0, 1))
    assert vs.loss[row].tolist() == [0.0, 9.0]
    assert vs.gain[row].tolist() == [0.0, 1.0]


# -- recommendations -------------------------------------------------------------------------
def test_a_store_with_shrink_spikes_is_ranked_first_with_the_robust_z_reason() -> None:
    core, clock = world()
    spiky_history(core, clock)
    recs = recommend_cycle_counts(core, top_n=5)
    first = recs[0]
    assert (first.sku, first.location) == (0, 3)
    assert "ROBUST_Z_SHRINK>3.5" in first.reasons
    assert "SPIKE_Z_SHRINK>3.5" in first.reasons
    assert first.score > 3.5
    assert all(r.location == 3 for r in recs)  # nothing at the stable stores


def test_stable_locations_are_not_flagged() -> None:
    core, clock = world()
    stable_history(core, clock)
    clock.set(28 * DAY)
    assert recommend_cycle_counts(core) == []


def test_a_position_that_keeps_going_negative_is_flagged_with_the_count_of_dips() -> None:
    core, clock = world()
    stable_history(core, clock)
    dip_below_zero_three_times(core)
    assert negative_dips(core) == {(1, 2): 3}
    recs = recommend_cycle_counts(core)
    assert [(r.sku, r.location) for r in recs] == [(1, 2)]
    assert "NEGATIVE_ONHAND_x3" in recs[0].reasons


def test_a_single_dip_below_zero_is_not_a_pattern() -> None:
    core, clock = world()
    core.sell("RUG", "s2", 201)
    assert negative_dips(core) == {(1, 2): 1}
    clock.set(DAY)
    assert recommend_cycle_counts(core) == []


def test_a_loss_that_starts_recently_and_keeps_going_is_an_ewma_drift() -> None:
    core, clock = world()
    for day in range(28):
        clock.set(day * DAY + 3600)
        if day >= 23:
            core.write_off("RUG", "s4", 3)
    clock.set(28 * DAY)
    recs = recommend_cycle_counts(core)
    assert recs[0][:2] == (1, 4)
    assert "EWMA_DRIFT" in recs[0].reasons


def test_ranking_is_deterministic_and_ties_go_by_sku_then_location() -> None:
    def build() -> Orchestrator:
        core, clock = world()
        stable_history(core, clock)
        for loc in (4, 2):  # two identical spikes, recorded in reverse location order
            core.write_off("RUG", loc, 30)
            core.write_off("LAMP", loc, 30)
        clock.set(28 * DAY)
        return core

    a, b = recommend_cycle_counts(build()), recommend_cycle_counts(build())
    assert a == b
    assert [(r.sku, r.location) for r in a] == [(0, 2), (0, 4), (1, 2), (1, 4)]
    assert isinstance(a[0], CountRecommendation)
    sku, loc, score, reasons = a[0]
    assert (sku, loc) == (0, 2) and score > 0 and reasons


def test_stale_positions_are_named_only_with_other_reasons_unless_asked_for() -> None:
    core, clock = world()
    clock.set(40 * DAY)
    assert recommend_cycle_counts(core) == []
    stale = recommend_cycle_counts(core, top_n=3, include_stale=True)
    assert [(r.sku, r.location, r.reasons) for r in stale] == [
        (0, 1, ("NO_COUNT_30D",)),
        (0, 2, ("NO_COUNT_30D",)),
        (0, 3, ("NO_COUNT_30D",)),
    ]
    gate = ActionGate(core)
    gate.cycle_count("LAMP", "s1", 200)
    assert (0, 1) not in {
        (r.sku, r.location) for r in recommend_cycle_counts(core, 99, include_stale=True)
    }


def test_thresholds_are_a_versioned_rule_and_can_be_overridden_for_a_what_if() -> None:
    core, clock = world()
    spiky_history(core, clock)
    strict = recommend_cycle_counts(core, z_threshold=100.0)
    assert core.rules.current("anomaly_detection", clock.now()).ref == "anomaly_detection@v1"
    assert all("ROBUST_Z_SHRINK>100" not in r.reasons for r in strict)
    with pytest.raises(InvalidCommand, match="unknown settings"):
        recommend_cycle_counts(core, zz=1)


# -- the gate ----------------------------------------------------------------------------------
def test_a_low_risk_action_runs_at_once_and_is_audited_as_approved_by_the_rule() -> None:
    core, _clock = world()
    gate = ActionGate(core)
    a = gate.schedule_cycle_count("LAMP", "s1", ("EWMA_DRIFT",))
    assert (a.risk, a.status, a.decided_by, a.rule) == ("low", "executed", "rule", "action_risk@v1")
    assert (0, 1) in gate.scheduled and gate.pending() == []
    trail = [(d.kind, d.subject, d.rule, d.actor) for d in core.audit.of("action.")]
    assert trail == [
        ("action.auto_approved", "action:0", "action_risk@v1", "rule"),
        ("action.executed", "action:0", "action_risk@v1", "rule"),
    ]


def test_a_high_risk_action_waits_for_a_person_and_runs_on_approval() -> None:
    core, clock = world()
    gate = ActionGate(core)
    ran: list[int] = []
    a = gate.override_allocation(
        "order:7", lambda act: ran.append(act.id), requested_by="planner:3", reason="VIP order"
    )
    assert (a.risk, a.status, ran) == ("high", "pending", [])
    assert gate.pending() == [a]
    clock.advance(1800)
    gate.approve(a.id, "manager:1", reason="ok for VIP")
    assert (a.status, a.decided_by, a.decided_at, ran) == ("executed", "manager:1", 1800.0, [0])
    assert core.log.steps("action:0") == [
        (0.0, "action.requested"),
        (0.0, "action.pending"),
        (1800.0, "action.approved"),
        (1800.0, "action.executed"),
    ]
    trail = [(d.kind, d.actor) for d in core.audit.of("action.", "action:0")]
    assert trail == [
        ("action.pending", "planner:3"),
        ("action.approved", "manager:1"),
        ("action.executed", "manager:1"),
    ]
    with pytest.raises(InvalidTransition, match="already executed"):
        gate.approve(a.id, "manager:2")


def test_a_rejected_action_never_runs() -> None:
    core, _clock = world()
    gate = ActionGate(core)
    ran: list[int] = []
    a = gate.submit("price_override", "sku:0", lambda act: ran.append(1))  # unnamed: high
    gate.reject(a.id, "manager:1", reason="no")
    assert (a.status, ran, gate.pending()) == ("rejected", [], [])
    assert core.audit.of("action.rejected")[0].actor == "manager:1"
    with pytest.raises(InvalidCommand, match="approver"):
        gate.approve(a.id, "")


def test_a_small_count_difference_is_adjusted_automatically_and_closes_the_exceptions() -> None:
    core, clock = world()
    spiky_history(core, clock)
    gate = ActionGate(core)
    recs = gate.review()
    assert (recs[0].sku, recs[0].location) == (0, 3)
    assert [(e.kind, e.subject) for e in core.exceptions.open()] == [
        ("stock_drift", "position:0:3")
    ]
    assert (0, 3) in gate.scheduled
    on_hand = core.position("LAMP", "s3").on_hand
    a = gate.cycle_count("LAMP", "s3", on_hand - 5)  # 5 x 10.00 = 50.00: low risk
    assert a is not None and a.status == "executed"
    assert core.position("LAMP", "s3").on_hand == on_hand - 5
    assert core.exceptions.open() == []
    assert core.ledger.movements[-1].reason == "cycle count"
    assert (0, 3) not in gate.scheduled


def test_a_large_count_difference_needs_approval_before_the_stock_changes() -> None:
    core, clock = world()
    dip_below_zero_three_times(core)
    clock.set(DAY)
    gate = ActionGate(core)
    gate.review()
    assert [e.kind for e in core.exceptions.open()] == ["negative_stock"]
    on_hand = core.position("RUG", "s2").on_hand
    a = gate.cycle_count("RUG", "s2", on_hand + 30, counter="counter:4")  # 750.00: high risk
    assert a is not None and (a.risk, a.status) == ("high", "pending")
    assert core.position("RUG", "s2").on_hand == on_hand
    assert len(core.exceptions.open()) == 1
    clock.advance(3600)
    gate.approve(a.id, "finance:2")
    assert core.position("RUG", "s2").on_hand == on_hand + 30
    assert core.ledger.movements[-1].actor == "finance:2"
    ex = core.exceptions.items[0]
    assert (ex.is_open, ex.resolved_by) == (False, "finance:2")
    counted = core.audit.of("cycle_count.counted")[0]
    assert (counted.actor, counted.outcome) == (
        "counter:4",
        f"system {on_hand} counted 34 delta +30",
    )
    assert core.invariants()["units_conserved"] and core.ledger.rebuild_matches() == []


def test_a_count_that_agrees_changes_nothing_but_resolves_the_exceptions() -> None:
    core, _clock = world()
    gate = ActionGate(core)
    core.exceptions.raise_("stock_drift", "position:0:1")
    n = len(core.ledger.movements)
    assert gate.cycle_count("LAMP", "s1", 200) is None
    assert len(core.ledger.movements) == n and core.exceptions.open() == []


def test_a_new_risk_rule_version_changes_the_threshold_and_is_recorded() -> None:
    core, clock = world()
    gate = ActionGate(core)
    params = dict(core.rules.current("action_risk", 0).params)
    params["adjustment_auto_max_value_cents"] = 1_000
    core.rules.publish("action_risk", params, effective_from=DAY)
    a = gate.adjust("LAMP", "s1", -5)
    clock.set(DAY)
    b = gate.adjust("LAMP", "s1", -5)
    assert (a.risk, a.rule) == ("low", "action_risk@v1")
    assert (b.risk, b.rule) == ("high", "action_risk@v2")
    with pytest.raises(InvalidCommand, match="delta"):
        gate.adjust("LAMP", "s1", 0)


count_ops = st.lists(
    st.one_of(
        st.tuples(st.just("sell"), st.integers(0, 1), st.integers(1, 5), st.integers(1, 80)),
        st.tuples(st.just("shrink"), st.integers(0, 1), st.integers(1, 5), st.integers(1, 30)),
        st.tuples(st.just("count"), st.integers(0, 1), st.integers(1, 5), st.integers(0, 300)),
        st.tuples(st.just("decide"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("review"), st.floats(0, 3 * DAY)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(count_ops)
def test_random_counts_through_the_gate_keep_the_core_sound_and_the_trail_complete(
    program,
) -> None:
    core, clock = world()
    gate = ActionGate(core)
    for op in program:
        if op[0] == "sell":
            core.sell(op[1], op[2], op[3])
        elif op[0] == "shrink":
            core.write_off(op[1], op[2], op[3])
        elif op[0] == "count":
            a = gate.cycle_count(op[1], op[2], op[3])
            if a is not None and a.status == "executed":
                assert core.position(op[1], op[2]).on_hand == op[3]
        elif op[0] == "decide" and gate.pending():
            a = gate.pending()[op[1] % len(gate.pending())]
            (gate.approve if op[2] else gate.reject)(a.id, "manager:1")
        elif op[0] == "review":
            clock.advance(op[1])
            gate.review()
        inv = core.invariants()
        assert inv["units_conserved"] and inv["gl_balanced"] and inv["gl_reconciled"]
        assert inv["duplicate_applications"] == 0 and core.ledger.rebuild_matches() == []
    for a in gate.actions:
        kinds = [d.kind for d in core.audit.of("action.", a.ref)]
        assert (
            kinds[-1]
            == {
                "pending": "action.pending",
                "executed": "action.executed",
                "rejected": "action.rejected",
            }[a.status]
        )
        assert all(d.rule == a.rule for d in core.audit.of("action.", a.ref))
    adjusted = [m for m in core.ledger.movements if m.kind is MovementKind.ADJUSTMENT]
    assert len(adjusted) == sum(
        1 for a in gate.actions if a.kind == "adjustment" and a.status == "executed"
    )


def full_matrix_ranking(
    core: Orchestrator, t: float, include_stale: bool = False, **p: float
) -> list[CountRecommendation]:
    """The ranking read the obvious way: a positions × days matrix of every position."""
    from orchestrator.anomaly import anomaly_rule, ewma, last_counted, robust_scale

    p = {**anomaly_rule(core, t).params, **p}
    thr, lam, big_l = float(p["z_threshold"]), float(p["ewma_lambda"]), float(p["ewma_L"])
    floor, window = float(p["min_scale_units"]), int(p["window_days"])
    vs = variance_series(core, t, window)
    scores: dict[tuple[int, int], float] = {}
    reasons: dict[tuple[int, int], list[str]] = {}

    def flag(key: tuple[int, int], code: str, score: float) -> None:
        reasons.setdefault(key, []).append(code)
        scores[key] = scores.get(key, 0.0) + score

    if vs.keys:
        total = vs.loss.sum(axis=1)
        # peers: every position's window loss against all positions'
        z_peer = robust_z(total, min_scale=floor)
        # locations: a location's total loss against other locations'
        locs, loc_loss = vs.by_location()
        loc_total = loc_loss.sum(axis=1)
        z_loc = (
            dict(zip(locs, robust_z(loc_total, min_scale=floor), strict=True))
            if len(locs) >= 3
            else {}
        )
        loc_sum = dict(zip(locs, loc_total, strict=True))
        # own history: the worst day against the position's own days
        z_self = robust_z(vs.loss, axis=1, min_scale=floor).max(axis=1)
        # drift: EWMA at the end of the window against a robust control limit
        base = np.median(vs.loss, axis=1)
        sigma = robust_scale(vs.loss, axis=1, min_scale=floor)[:, 0]
        e_end = ewma(vs.loss, lam, base)[:, -1]
        e_z = (e_end - base) / (sigma * math.sqrt(lam / (2.0 - lam)))
        for i, key in enumerate(vs.keys):
            if z_peer[i] > thr:
                flag(key, f"ROBUST_Z_SHRINK>{thr:g}", float(z_peer[i]))
            zl = z_loc.get(key[1], 0.0)
            if zl > thr and total[i] > 0:
                flag(key, f"LOCATION_Z_SHRINK>{thr:g}", float(zl * total[i] / loc_sum[key[1]]))
            if z_self[i] > thr:
                flag(key, f"SPIKE_Z_SHRINK>{thr:g}", float(z_self[i]))
            if e_z[i] > big_l:
                flag(key, "EWMA_DRIFT", float(e_z[i]))

    for key, n in negative_dips(core, since=vs.start).items():
        if n >= int(p["min_negative"]):
            flag(key, f"NEGATIVE_ONHAND_x{n}", 2.0 * n)

    stale_before = t - float(p["stale_days"]) * DAY
    counted = last_counted(core)
    first_seen = core.ledger.first_moved
    for key in sorted(core.ledger.positions):
        if key not in first_seen or first_seen[key] > stale_before:
            continue  # too young to be stale
        if counted.get(key, -math.inf) >= stale_before:
            continue
        if key in reasons or include_stale:
            flag(key, f"NO_COUNT_{int(p['stale_days'])}D", 1.0)

    ranked = sorted(scores, key=lambda k: (-round(scores[k], 9), k[0], k[1]))
    return [CountRecommendation(k[0], k[1], round(scores[k], 6), tuple(reasons[k])) for k in ranked]


@settings(max_examples=60, deadline=None)
@given(
    losses=st.lists(
        st.tuples(
            st.integers(0, 40),  # day
            st.integers(0, 1),  # sku
            st.integers(1, 5),  # store
            st.integers(-4, 6),  # write-off (> 0), count adjustment (<= 0 means found)
        ),
        max_size=60,
    ),
    thr=st.sampled_from([-1.0, 0.0, 2.0, 3.5]),
    big_l=st.sampled_from([-0.5, 0.0, 3.0]),
    include_stale=st.booleans(),
)
def test_ranking_on_the_rows_that_lost_something_equals_the_full_matrix_reading(
    losses, thr, big_l, include_stale
):
    core, clock = world()
    for day, sku, loc, q in sorted(losses):
        clock.set(day * DAY + 12 * 3600)
        if q > 0:
            core.write_off(sku, loc, q)
        else:
            core.adjust(sku, loc, 2 - q, reason="cycle count")
    clock.set(42 * DAY)
    t = clock.now()
    kw = {"z_threshold": thr, "ewma_L": big_l}
    got = recommend_cycle_counts(core, top_n=100, include_stale=include_stale, **kw)
    assert got == full_matrix_ranking(core, t, include_stale, **kw)[:100]
