"""Finance in the twin: postings through the integration path (middleware, the ERP's API,
its outages), the daily close on true mismatches between the GL and the ledger, and the
dead-letter queue replayed on an operator's cadence."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import HOUR, MISMATCH_KINDS
from scenarios.loader import deep_merge

from .conftest import NO_PHYSICAL_ERRORS, run_model, scenario

POLICIES = ("legacy", "orchestrated")
FIXED_0 = {"dist": "fixed", "mean": 0}
#: no error source at all: no shrink, receiving or count errors, no ERP errors, no event
#: overtaking another, and no integration latency for a posting to straddle a close
CLEAN: dict[str, Any] = {
    "physical": NO_PHYSICAL_ERRORS,
    "faults": {
        "duplicate_rate": 0,
        "reorder_rate": 0,
        "erp_error_rate": 0,
        "erp_duplicate_rate": 0,
        "middleware_latency_s": FIXED_0,
        "erp_api_latency_s": FIXED_0,
    },
}


def clean(**over: Any) -> dict[str, Any]:
    return scenario(**deep_merge(CLEAN, over))


def lines(r: Any) -> dict[str, float]:
    return {k: r.extras[f"recon_lines_{k}"] for k in MISMATCH_KINDS}


# ----------------------------------------------------------------------- the close
@pytest.mark.parametrize("policy", POLICIES)
def test_with_no_error_source_finance_has_nothing_to_reconcile(policy: str) -> None:
    model, r = run_model(clean(), policy, seed=3)
    assert r.kpis["manual_reconciliation_hours"] == 0
    assert set(lines(r).values()) == {0}
    assert r.invariants["gl_reconciled"]
    # ...though under legacy the GL lags the ledger all day: the timetable, not a mismatch
    if policy == "legacy":
        assert max(model.datacollector.get_model_vars_dataframe()["unposted_movements"]) > 0


#: (scenario changes, the mismatch kinds they must bring): goods dear enough that a
#: unit's variance is over the orchestrated rules' auto-approval limit (50.00)
SOURCES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "receiving errors": (
        # counted often enough that the miscounted receipts are found within the run
        {"physical": {"receiving_error_rate": 0.5}, "policy": {"count_cycle_days": 3}},
        {"count_adjustment", "receiving"},
    ),
    "write-offs": (
        {"physical": {"shrink_share_of_sales": 0.1, "shrink_known_share": 1.0}},
        {"write_off"},
    ),
    "failed postings": ({"faults": {"erp_error_rate": 0.05}}, {"failed_posting"}),
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_each_error_source_costs_reconciliation_under_orchestrated_too(source: str) -> None:
    changes, kinds = SOURCES[source]
    _, r = run_model(clean(skus={"cost_cents_mean": 10_000}, **changes), "orchestrated", seed=3)
    found = {k for k, n in lines(r).items() if n}
    assert found & kinds, found
    assert found <= kinds  # nothing from another source
    assert r.kpis["manual_reconciliation_hours"] == pytest.approx(sum(lines(r).values()) / 6)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_failed_or_doubled_erp_posting_is_found_at_the_close_and_costs_labour(
    policy: str,
) -> None:
    data = clean(faults={"erp_error_rate": 0.03, "erp_duplicate_rate": 0.03})
    model, r = run_model(data, policy, seed=3)
    found = lines(r)
    assert found["failed_posting"] > 0 and found["duplicate_posting"] > 0
    assert {k for k, n in found.items() if n} == {"failed_posting", "duplicate_posting"}
    minutes = model.policy.reconciliation_min_per_line
    assert r.kpis["manual_reconciliation_hours"] == pytest.approx(
        sum(found.values()) * minutes / 60
    )
    gl = model.core.gl
    worked = {what for _t, what, _e in gl.corrections}
    assert worked == {"reposted", "reversed"}
    # each rejection was an exception until finance reposted the entry at a close
    failed = [e for e in model.core.exceptions.items if e.subject.startswith("journal:")]
    assert failed and all(e.kind == "failed_posting" for e in failed)
    closes = {t for t, what, _e in gl.corrections if what == "reposted"}
    assert {e.resolved_at for e in failed} <= closes
    assert {round(t / HOUR % 24, 6) for t in closes if t <= model.horizon_h * HOUR} == {18.0}
    assert r.invariants["gl_reconciled"]  # the books square once worked


def test_the_rules_approve_small_variances_that_legacy_journals_by_hand() -> None:
    data = scenario(physical={"count_error_rate": 0.2, "initial_record_error_share": 0.5})
    _, legacy = run_model(data, "legacy", seed=3)
    _, orch = run_model(data, "orchestrated", seed=3)
    assert lines(legacy)["count_adjustment"] > 2 * lines(orch)["count_adjustment"]
    big = scenario(
        physical={"count_error_rate": 0.2, "initial_record_error_share": 0.5},
        policy={"auto_approve_adjustments_cents": 0},
    )
    _, every = run_model(big, "orchestrated", seed=3)
    assert lines(every)["count_adjustment"] > lines(orch)["count_adjustment"]


# ----------------------------------------------------------------------- the posting path
def test_an_immediate_posting_takes_the_middleware_and_erp_api_latency() -> None:
    data = clean(
        faults={
            "middleware_latency_s": {"dist": "fixed", "mean": 2},
            "erp_api_latency_s": {"dist": "fixed", "mean": 1},
        }
    )
    model, r = run_model(data, "orchestrated", seed=3)
    entries = model.core.gl.entries
    ship = next(e for e in entries if e.kind.name == "SHIPMENT")  # a command: booked at once
    timeline = [("moved", ship.movement_at), ("posted", ship.posted_at)]
    assert timeline == [("moved", ship.movement_at), ("posted", ship.movement_at + 3.0)]
    assert all(e.posted_at - e.created_at == pytest.approx(3.0) for e in entries)
    # a till's sale also rode the middleware to the core first: 2 s more
    sale = next(e for e in entries if e.kind.name == "SALE")
    assert sale.posted_at - sale.movement_at == pytest.approx(5.0)
    assert r.kpis["posting_delay_p95_h"] == pytest.approx(5.0 / HOUR)
    assert r.kpis["unposted_movements_end"] == 0


def test_the_legacy_batch_still_posts_overnight_through_the_same_path() -> None:
    data = clean(faults={"erp_api_latency_s": {"dist": "fixed", "mean": 1}})
    model, r = run_model(data, "legacy", seed=3)
    posted = {round(e.posted_at / HOUR % 24, 6) for e in model.core.gl.entries if e.posted}
    run = model.timetable.erp_posting_h
    assert posted == {round(run + 1 / HOUR, 6)}
    assert r.kpis["posting_delay_p95_h"] > 12
    assert r.kpis["unposted_movements_end"] > 0  # the day's movements wait for the night


@pytest.mark.parametrize("policy", POLICIES)
def test_postings_held_by_an_erp_outage_at_the_horizon_are_unposted(policy: str) -> None:
    outage = {"faults": {"erp_outages": [{"start_h": 200, "duration_h": 100}]}}
    model, r = run_model(clean(**outage), policy, seed=3)
    assert r.kpis["unposted_movements_end"] > 0
    assert r.invariants["gl_reconciled"]
    if policy == "orchestrated":
        # every posting since the outage began waits for the ERP
        horizon_s = model.horizon_h * HOUR
        assert r.kpis["unposted_movements_end"] == sum(
            e.n_movements for e in model.core.gl.entries if 200 * HOUR <= e.created_at <= horizon_s
        )
        assert lines(r)["late_posting"] > 0  # the close found the day's postings held


# ----------------------------------------------------------------------- dead letters
#: busy streams whose events overtake each other for longer than the bus holds them
BUSY: dict[str, Any] = {
    "faults": {"reorder_rate": 0.5},
    "demand": {"store_units_per_sku_day": 4},
    "network": {"stores": {"count": 8}},
    "horizon_days": 14,
}


@pytest.mark.parametrize(("policy", "every_h"), [("orchestrated", 4.0), ("legacy", 24.0)])
def test_dead_letters_are_replayed_within_the_operators_cadence(
    policy: str, every_h: float
) -> None:
    model, r = run_model(scenario(**BUSY), policy, seed=5)
    assert model.policy.dead_letter_replay_h == every_h
    horizon_s = model.horizon_h * HOUR
    dead = list(model.core.bus.dead_letters.values())
    measured = [d for d in dead if d.at <= horizon_s - every_h * HOUR]
    assert measured
    assert all(d.replayed_at is not None for d in dead)
    assert max(d.replayed_at - d.at for d in measured) <= every_h * HOUR
    assert r.kpis["dead_letter_age_p95_h"] <= every_h
    # each replay closed the dead letter's exception
    exc = [e for e in model.core.exceptions.items if e.kind == "dead_letter"]
    assert exc and all(not e.is_open for e in exc if e.opened_at <= horizon_s - every_h * HOUR)


def test_a_shorter_replay_cadence_shortens_the_dead_letters_age() -> None:
    _, daily = run_model(scenario(**BUSY), "orchestrated", seed=5)
    _, hourly = run_model(scenario(**BUSY, policy={"dead_letter_replay_h": 1}), "orchestrated", 5)
    assert hourly.kpis["dead_letter_age_p95_h"] <= 1.0 < daily.kpis["dead_letter_age_p95_h"]
