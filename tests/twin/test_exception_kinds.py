"""Exceptions by kind (KPIS.md): backlog peak, end and age p95 per kind beside the overall
figures, so a mix of kinds (e-mail approvals overdue under legacy, say) cannot hide how
each kind is worked; means per kind over replications; a table in the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from orchestrator import EXCEPTION_KINDS, HOUR
from scenarios import load
from twin.experiments import aggregate, compare, exceptions_by_kind
from twin.report import exception_rows, write_comparison
from twin.simulate import EVENT_KEYS, INVARIANT_KEYS, KPI_KEYS

from .conftest import run_model, scenario

POLICIES = ("legacy", "orchestrated")
#: supplier delays, pick shortages, failed postings, e-mail approvals overdue
BUSY = {
    "network": {
        "stores": {"count": 8},  # enough stores for a few transfers to wait on e-mail
        "dcs": [{"code": "DC-N", "region": "north", "pickers": 4, "initial_cover_days": 13}],
    },
    "physical": {"initial_record_error_share": 0.5},
    "faults": {"erp_error_rate": 0.01},
}


@pytest.mark.parametrize("policy", POLICIES)
def test_exceptions_by_kind_sum_to_the_overall_backlog(policy: str) -> None:
    model, r = run_model(scenario(**BUSY), policy, seed=2)
    by = r.exceptions_by_kind
    k = r.kpis
    assert list(by)[: len(EXCEPTION_KINDS)] == list(EXCEPTION_KINDS)
    assert sum(row["backlog_end"] for row in by.values()) == k["exception_backlog_end"]
    peaks = [row["backlog_peak"] for row in by.values()]
    assert max(peaks) <= k["exception_backlog_peak"] <= sum(peaks)
    seen = {kind for kind, row in by.items() if row["age_p95_h"] is not None}
    assert len(seen) >= 2
    # each kind's age p95 from its own exceptions, aged at the horizon if still open
    now = model.horizon_h * HOUR
    for kind in seen:
        ages = [
            (min(e.resolved_at, now) if not e.is_open else now) - e.opened_at
            for e in model.core.exceptions.items
            if e.kind == kind and e.opened_at <= now
        ]
        ages = [a / HOUR for a in ages]
        assert by[kind]["age_p95_h"] == pytest.approx(float(np.percentile(ages, 95)))
    assert r.to_dict()["exceptions_by_kind"] == by
    json.dumps(r.to_dict(), allow_nan=False)


def test_legacy_approvals_overdue_are_their_own_row_not_hidden_in_the_overall_age() -> None:
    _, r = run_model(scenario(**BUSY), "legacy", seed=2)
    by = r.exceptions_by_kind
    assert by["approval_overdue"]["backlog_peak"] > 0  # e-mail approvals past their SLA
    ages = {kind: row["age_p95_h"] for kind, row in by.items() if row["age_p95_h"] is not None}
    assert min(ages.values()) < r.kpis["exception_age_p95_h"] <= max(ages.values())


def run(i: int, by: dict) -> dict:
    return {
        "seed_index": i,
        "base_seed": 1,
        "sim_days": 1,
        "wall_seconds": 1.0,
        "kpis": dict.fromkeys(KPI_KEYS, 1.0),
        "exceptions_by_kind": by,
        "invariants": dict.fromkeys(INVARIANT_KEYS, True),
        "events": dict.fromkeys(EVENT_KEYS, 0),
    }


def test_over_replications_each_kind_reports_the_mean_of_each_figure() -> None:
    a = {
        "pick_shortage": {"backlog_peak": 2, "backlog_end": 0, "age_p95_h": 1.0},
        "dead_letter": {"backlog_peak": 0, "backlog_end": 0, "age_p95_h": None},
    }
    b = {
        "pick_shortage": {"backlog_peak": 4, "backlog_end": 1, "age_p95_h": 3.0},
        "dead_letter": {"backlog_peak": 1, "backlog_end": 1, "age_p95_h": 6.0},
        "something_new": {"backlog_peak": 3, "backlog_end": 3, "age_p95_h": 2.0},
    }
    assert exceptions_by_kind([run(0, a), run(1, b)]) == {
        "pick_shortage": {"backlog_peak": 3.0, "backlog_end": 0.5, "age_p95_h": 2.0},
        "dead_letter": {"backlog_peak": 0.5, "backlog_end": 0.5, "age_p95_h": 6.0},
        "something_new": {"backlog_peak": 1.5, "backlog_end": 1.5, "age_p95_h": 2.0},
    }
    agg = aggregate("x", "legacy", [run(0, a), run(1, b)], 1.0)
    assert agg.result["exceptions_by_kind"]["pick_shortage"]["backlog_peak"] == 3.0
    one = aggregate("x", "legacy", [run(0, a)], 1.0)
    assert one.result["exceptions_by_kind"] == a  # one replication: its own figures


def test_the_report_shows_exceptions_by_kind_per_policy(tmp_path: Path) -> None:
    sc = load(scenario(**BUSY))
    cmp = compare(sc, list(POLICIES), 2, executor="serial")
    header, rows = exception_rows(cmp.policies)
    assert header == ["exception kind", *POLICIES]
    assert "approval_overdue" in [r[0] for r in rows]
    assert all(len(r) == 3 for r in rows)
    text = write_comparison(cmp, tmp_path).read_text()
    assert "## Exceptions by kind" in text
    assert "| approval_overdue |" in text
    saved = json.loads((tmp_path / "result.json").read_text())
    assert set(saved["policies"]["legacy"]["exceptions_by_kind"]) >= set(EXCEPTION_KINDS)
