"""The roadmap: steps that move exactly the knobs separating the bundles, alone and along
a path on common seeds; its end is `orchestrated` bit for bit."""

from __future__ import annotations

from functools import cache

import pytest

from scenarios import ScenarioError, load
from scenarios.policies import BUNDLES, ROADMAP_STEPS
from twin.experiments import replicate
from twin.roadmap import STEP_NAMES, Roadmap, parse_order, roadmap

TINY = [
    "horizon_days=4",
    "network.stores.count=3",
    "skus.count=6",
    "channels[0].orders_per_day=40",
    "channels[1].orders_per_day=20",
    "policy.count_cycle_days=4",  # counts often enough that variances reach finance
]


@cache
def small_roadmap(order: str = "seed") -> Roadmap:
    return roadmap(load("baseline", TINY), order, 3, executor="serial")


def test_the_steps_move_exactly_the_knobs_that_separate_the_bundles_each_once() -> None:
    legacy, orchestrated = BUNDLES["legacy"], BUNDLES["orchestrated"]
    differing = {k for k in legacy if legacy[k] != orchestrated[k]}
    moved = [k for step in ROADMAP_STEPS for k in step.knobs]
    assert sorted(moved) == sorted(differing)
    assert len(moved) == len(set(moved))


def test_an_order_names_known_steps_once_and_is_completed_in_the_seed_order() -> None:
    assert parse_order("seed") == "seed" and parse_order("greedy") == "greedy"
    order = parse_order("real-time-postings,real-time-events")
    assert order[:2] == ["real-time-postings", "real-time-events"]
    assert sorted(order) == sorted(STEP_NAMES)
    with pytest.raises(ScenarioError, match="unknown step 'teleport'"):
        parse_order("teleport")
    with pytest.raises(ScenarioError, match="each step once"):
        parse_order("real-time-events,real-time-events")


def test_with_every_step_taken_the_path_ends_at_orchestrated_bit_for_bit() -> None:
    r = small_roadmap()
    end = r.runs["+".join(STEP_NAMES)]
    orch = replicate(load("baseline", TINY), "orchestrated", 3, executor="serial")
    for a, b in zip(end.runs, orch.runs, strict=True):
        for key in ("kpis", "invariants", "events", "money", "series"):
            assert a[key] == b[key], key
    # the steps' values and the platform add up to the net benefit
    assert r.total["net_benefit_per_year"]["mean"] == pytest.approx(
        sum(step["value"]["mean"] for step in r.along) + r.total["platform_per_year"]
    )
    assert r.total["platform_per_year"] < 0


def test_a_step_that_changes_nothing_here_has_zero_deltas_covering_zero() -> None:
    # nothing is dead-lettered in this tiny network (no event arrives out of its stream's
    # order long enough), so how often an operator replays the queue cannot matter
    r = small_roadmap()
    assert all(run["events"]["dead_lettered"] == 0 for a in r.runs.values() for run in a.runs)
    step = r.alone["exception-routing"]
    for key, d in [*step["kpis"].items(), ("value", step["value"])]:
        if d is not None:
            assert d["mean"] == 0, key
            assert d["ci95"] is None or d["ci95"][0] <= 0 <= d["ci95"][1], key
            assert not d["significant"], key


def test_a_step_with_a_known_effect_moves_the_kpi_it_should() -> None:
    alone = small_roadmap().alone
    postings = alone["real-time-postings"]["kpis"]["posting_delay_p95_h"]
    assert postings["mean"] < 0 and postings["significant"]
    # rules approve the small count variances finance journalled by hand at the close
    rules = alone["rules-approve-adjustments"]
    assert rules["kpis"]["manual_reconciliation_hours"]["mean"] < 0
    assert rules["value"]["mean"] > 0
    latency = alone["central-reservation"]["kpis"]["reservation_latency_p95_s"]
    assert latency["mean"] < 0 and latency["significant"]
    returns = alone["returns-by-rules"]["kpis"]["returns_to_available_p50_h"]
    assert returns["mean"] < 0
    assert alone["real-time-postings"]["kpis"]["orders_total"]["mean"] == 0  # same customers


def test_greedy_takes_the_most_valuable_step_each_round() -> None:
    r = small_roadmap("greedy")
    assert r.how == "greedy" and sorted(r.path) == sorted(STEP_NAMES)
    for chosen, values in zip(r.path, r.greedy_rounds, strict=True):
        assert values[chosen] == max(values.values())
    # each round's value of the chosen step is the step's value along the path
    for chosen, values, step in zip(r.path, r.greedy_rounds, r.along, strict=True):
        assert step["step"] == chosen
        assert step["value"]["mean"] == pytest.approx(values[chosen])
