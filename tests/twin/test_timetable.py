"""The daily timetable: one scenario section says when each recurring job runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator import MovementKind
from scenarios import ScenarioError, load
from scenarios.schema import Timetable

from .conftest import run_model, scenario

SCHEMA = Path(__file__).resolve().parents[2] / "scenarios" / "schema.py"


def hours(times_s: list[float]) -> set[float]:
    return {round(t / 3600.0 % 24.0, 6) for t in times_s}


def test_every_timetable_default_says_it_is_assumed_and_the_docstring_names_it() -> None:
    source = SCHEMA.read_text()
    block = source[
        source.index("class Timetable(") : source.index("\n\n\n", source.index("class Timetable("))
    ]
    fields = re.findall(r"^    (\w+): [^=\n]+ = [^#\n]+  # (.*)$", block, flags=re.M)
    assert [name for name, _ in fields] == list(Timetable.model_fields)
    assert all("assumed" in comment for _, comment in fields)
    assert all(f"`{name}`" in (Timetable.__doc__ or "") for name in Timetable.model_fields)


def test_a_scenario_overrides_any_hour_of_the_timetable_and_bad_hours_are_refused() -> None:
    sc = load("baseline", ["timetable.finance_close_h=17.5", "timetable.core_poll_min=1"])
    assert (sc.timetable.finance_close_h, sc.timetable.core_poll_min) == (17.5, 1.0)
    assert sc.timetable.store_review_h == 22.0
    with pytest.raises(ScenarioError) as info:
        load("baseline", ["timetable.nightly_h=24", "timetable.till_retry_min=0"])
    assert info.value.problems == [
        "timetable.nightly_h: must be < 24, got 24",
        "timetable.till_retry_min: must be > 0, got 0",
    ]


def test_the_erp_posting_hour_is_the_timetables_not_a_policy_knob() -> None:
    with pytest.raises(ScenarioError) as info:
        load("baseline", ["policy.posting_nightly_at_h=3"])
    assert info.value.problems == ["policy.posting_nightly_at_h: moved to timetable.erp_posting_h"]


@pytest.mark.parametrize(
    ("timetable", "dispatch", "site_review", "posting"),
    [
        ({}, 6.0, 23.0, 2.0),
        (
            {"store_review_h": 20, "dc_dispatch_h": 4, "site_review_h": 21, "erp_posting_h": 3},
            4.0,
            21.0,
            3.0,
        ),
    ],
)
def test_dc_dispatch_site_review_and_erp_posting_happen_at_the_timetables_hours(
    timetable: dict[str, float], dispatch: float, site_review: float, posting: float
) -> None:
    data = scenario(
        horizon_days=6,
        timetable=timetable,
        network={"dcs": [{"code": "DC-N", "region": "north", "initial_cover_days": 13}]},
    )
    model, _ = run_model(data, "legacy")
    horizon_s = model.horizon_h * 3600.0
    dispatched = [
        m.at
        for m in model.core.ledger.movements
        if m.kind is MovementKind.TRANSFER_OUT and m.reason == "store replenishment"
    ]
    raised = [po.raised_at for po in model.procurement.pos]
    # the night's run sends the journal at the posting hour; each entry posts when the ERP
    # answers, within a minute (middleware and ERP API latency), unless finance reposted
    # it by hand after the ERP rejected it
    reposted = {eid for _t, what, eid in model.core.gl.corrections if what == "reposted"}
    posted = [
        e.posted_at
        for e in model.core.gl.entries
        if e.posted and e.posted_at <= horizon_s and e.id not in reposted
    ]
    assert dispatched and raised and posted
    assert hours(dispatched) == {dispatch}
    assert hours(raised) == {site_review}
    assert {round(h - posting, 6) // (1 / 60) for h in hours(posted)} == {0}
