"""Operating models and channels (issue 17): the bundles differ only where the seed article
says they do; legacy channels sell against their own feeds, taken from the start and as
old as their refresh cadence; stale figures oversell under legacy and the same customers
are not oversold by the one real-time reservation service; every figure a channel used is
timed, DCs included; customers cancel whatever the policy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from orchestrator import Buffered, Pooled, Siloed
from orchestrator.clock import HOUR
from scenarios import BUNDLES, ScenarioError, load, resolve
from scenarios.loader import deep_merge
from scenarios.policies import ALLOCATION_KNOBS, SEED_DIFFERENCES, SHARED
from scenarios.schema import ChannelSpec, Policy, quota_shares
from twin.model import RetailTwin
from twin.simulate import simulate

from .conftest import NO_PHYSICAL_ERRORS, run_model, scenario

POLICIES = ("legacy", "orchestrated")


# ----------------------------------------------------------------------- the bundles
def test_the_bundles_differ_only_in_the_knobs_the_seed_article_names() -> None:
    legacy, orch = BUNDLES["legacy"], BUNDLES["orchestrated"]
    assert set(legacy) == set(orch)
    differ = {k for k in legacy if legacy[k] != orch[k]}
    assert differ == set(SEED_DIFFERENCES)
    # what a channel may promise is not among them: buffers, quotas and safety stock are
    # knobs with one default under both bundles
    for knob in (*ALLOCATION_KNOBS, "sourcing", "outage_fallback_buffer"):
        assert legacy[knob] == orch[knob] == SHARED[knob]


def test_resolved_bundles_build_the_same_allocation_and_differ_in_the_reservation_path() -> None:
    legacy, orch = resolve(Policy(), "legacy"), resolve(Policy(), "orchestrated")
    a, b = legacy.as_dict(), orch.as_dict()
    differ = {k for k in a if a[k] != b[k]} - {"name", "operating_model"}
    assert differ == set(SEED_DIFFERENCES)
    assert (legacy.allocation, legacy.allocation_params) == ("pooled", {})
    assert (orch.allocation, orch.allocation_params) == ("pooled", {})
    assert (legacy.web_reservation, legacy.marketplace_reservation) == ("own_feed", "own_feed")
    assert (orch.web_reservation, orch.marketplace_reservation) == ("central", "central")


@pytest.mark.parametrize("policy", POLICIES)
def test_store_buffer_channel_buffers_and_safety_stock_are_knobs_under_either_bundle(
    policy: str,
) -> None:
    data = scenario(
        policy={"store_buffer": 2, "channel_buffers": {"marketplace": 1}, "safety_stock_units": 1}
    )
    sc = load(data)
    model = RetailTwin(sc, resolve(sc.policy, policy), 1)
    alloc = model.core.allocation
    assert isinstance(alloc, Buffered)
    assert (alloc.store_buffer, alloc.channel_buffers) == (2, {"marketplace": 1})
    d = model.core.ledger.dense(model.network.n_sku, model.network.n_loc)
    assert d.exists.sum() > 0 and (d.safety[d.exists] == 1).all()
    sc = load(scenario())
    plain = RetailTwin(sc, resolve(sc.policy, policy), 1)
    assert type(plain.core.allocation) is Pooled


def test_a_kinds_quota_is_split_between_its_channels_by_volume_so_quotas_never_overlap() -> None:
    channels = [
        ChannelSpec(code="web", kind="web", orders_per_day=700),
        ChannelSpec(code="a", kind="marketplace", orders_per_day=300),
        ChannelSpec(code="b", kind="marketplace", orders_per_day=100),
    ]
    shares = quota_shares({"web": 0.6, "marketplace": 0.4}, channels)
    assert shares == pytest.approx({"web": 0.6, "a": 0.3, "b": 0.1})
    assert sum(shares.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"add up to 120% \(> 100%\)"):
        quota_shares({"web": 0.6, "marketplace": 0.4, "b": 0.2}, channels)


def test_a_scenario_whose_quotas_overlap_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"policy\.channel_quotas: shares add up to 120%"):
        load(scenario(policy={"channel_quotas": {"web": 0.6, "mkt": 0.6}}))


def test_the_siloed_variant_gives_each_channel_its_split_of_the_old_legacy_quotas() -> None:
    sc = load(scenario())
    model = RetailTwin(sc, resolve(sc.policy, "orchestrated-siloed"), 1)
    alloc = model.core.allocation
    assert isinstance(alloc, Siloed)
    assert alloc.quotas == pytest.approx({"web": 0.6, "mkt": 0.4})
    buffered = RetailTwin(sc, resolve(sc.policy, "orchestrated-buffered"), 1).core.allocation
    assert isinstance(buffered, Buffered) and buffered.store_buffer == 2


# ----------------------------------------------------------------------- legacy feeds
def web_only(**channel: Any) -> dict[str, Any]:
    """The small network with one web shop shipping from its DC (no click and collect)."""
    spec = {"code": "web", "kind": "web", "orders_per_day": 120, **channel}
    return scenario(horizon_days=4, channels=[spec])


def lines_placed(model: RetailTwin) -> int:
    """Order lines placed by every channel, from the core's and the channels' own records."""
    return sum(len(o.lines) for o in placed_orders(model))


def placed_orders(model: RetailTwin) -> list[Any]:
    return model.placed  # type: ignore[attr-defined, no-any-return]


class Recording(RetailTwin):
    """Keeps every order placed (to count their lines)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.placed: list[Any] = []
        for ch in self.channels:
            place = ch.place

            def recorded(order: Any, at: float, place: Any = place) -> Any:
                self.placed.append(order)
                return place(order, at)

            ch.place = recorded  # type: ignore[method-assign]


def run_recording(data: dict[str, Any], policy: str, seed: int = 1) -> RetailTwin:
    sc = load(data)
    model = Recording(sc, resolve(sc.policy, policy), seed)
    model.run()
    return model


def test_a_legacy_channel_sells_against_a_figure_as_old_as_its_feed_cadence() -> None:
    model = run_recording(web_only(feed_refresh_min=60), "legacy")
    lag = np.array(model.metrics.counts.sync_lag_s)
    assert len(lag) == lines_placed(model) > 300  # every figure used, one per line
    assert lag.min() >= 0 and lag.max() <= 3600.0 + 1e-6  # DC figures are live in the core
    assert lag.max() > 0.95 * 3600.0
    assert 0.4 * 3600 < lag.mean() < 0.6 * 3600  # orders arrive evenly over the feed's hour
    fast = run_recording(web_only(feed_refresh_min=10), "legacy")
    assert np.array(fast.metrics.counts.sync_lag_s).max() <= 600.0 + 1e-6


def test_channel_sync_lag_counts_every_figure_used_dcs_included() -> None:
    for policy in POLICIES:
        model = run_recording(web_only(), policy)
        assert len(model.metrics.counts.sync_lag_s) == lines_placed(model) > 300
    model = run_recording(web_only(), "orchestrated")
    assert max(model.metrics.counts.sync_lag_s) == 0.0  # the core's DC figure is live


def test_a_legacy_feed_is_taken_at_the_start_so_first_orders_are_promised() -> None:
    # orders round the clock (a flat intraday curve): the night's few would prove little
    sc = load(deep_merge(web_only(orders_per_day=480), {"demand": {"online_hourly": [1] * 24}}))
    model = RetailTwin(sc, resolve(sc.policy, "legacy"), 1)
    model.env.run(until=0.45)  # before the feed's second refresh (every 30 minutes)
    counts = model.metrics.counts
    assert model.channels[0].feed_at == 0.0
    assert counts.orders > 3
    assert counts.online_lost == 0  # nothing turned away: the feed held the DC's stock


def stale_shelf() -> dict[str, Any]:
    """One store open round the clock, one sku its walk-ins empty within hours of each
    delivery; every web order is collected there; no record error of any kind, picks are
    instant and events reach the core at once: only the age of a figure can mislead."""
    return {
        "name": "stale-shelf",
        "horizon_days": 10,
        "network": {
            "regions": ["north"],
            "stores": {
                "count": 1,
                "opening_hour": 0,
                "closing_hour": 24,
                "initial_units": 4,
                "pick_time_min": {"dist": "fixed", "mean": 0},
                "delivery_days": [0, 1, 2, 3, 4, 5, 6],
            },
            "dcs": [{"code": "DC-N", "region": "north", "ships_online": False}],
        },
        "skus": {"count": 1},
        "demand": {"store_units_per_sku_day": 6, "store_return_rate": 0},
        "policy": {
            "replenishment": {"store_review": "daily", "store_s_units": 12, "store_S_units": 18}
        },
        "channels": [
            {
                "code": "web",
                "kind": "web",
                "orders_per_day": 16,
                "lines_per_order": 1,
                "bopis_share": 1.0,
                "cancel_rate": 0,
                "return_rate": 0,
                "feed_refresh_min": 240,
            }
        ],
        "physical": NO_PHYSICAL_ERRORS,
        "faults": {
            "middleware_latency_s": {"dist": "fixed", "mean": 0},
            "duplicate_rate": 0,
            "reorder_rate": 0,
        },
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_legacy_oversells_click_and_collect_against_a_stale_shelf_and_orchestrated_does_not(
    seed: int,
) -> None:
    legacy = simulate(stale_shelf(), "legacy", seed)
    orch = simulate(stale_shelf(), "orchestrated", seed)
    assert legacy.kpis["orders_total"] == orch.kpis["orders_total"] > 50  # the same customers
    assert legacy.kpis["units_demanded"] == orch.kpis["units_demanded"]
    assert legacy.kpis["oversell_incidents"] > 0
    assert orch.kpis["oversell_incidents"] == 0  # it turned the same customers away instead
    assert orch.extras["online_lost_units"] > 0
    assert legacy.kpis["channel_sync_lag_p95_s"] > 3600  # a 4-hour feed
    assert orch.kpis["channel_sync_lag_p95_s"] == 0.0


def test_legacy_oversells_vanish_when_the_feed_is_as_fresh_as_the_core() -> None:
    stale = sum(simulate(stale_shelf(), "legacy", s).kpis["oversell_incidents"] for s in (1, 2))
    fresh_data = stale_shelf()
    fresh_data["policy"] = {"sync_interval_min": 0, "web_import_min": 0}
    fresh_data["channels"][0]["feed_refresh_min"] = 1
    fresh = sum(simulate(fresh_data, "legacy", s).kpis["oversell_incidents"] for s in (1, 2))
    assert stale > 0 and fresh == 0


# ----------------------------------------------------------------------- cancellations
def cancelling(rate: float) -> dict[str, Any]:
    return scenario(
        channels=[
            {"code": "web", "kind": "web", "orders_per_day": 60, "bopis_share": 0.3,
             "cancel_rate": rate},
            {"code": "mkt", "kind": "marketplace", "orders_per_day": 40, "cancel_rate": rate},
        ]
    )  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_units_demanded_is_identical_under_both_policies_on_one_seed(seed: int) -> None:
    legacy = simulate(cancelling(0.2), "legacy", seed)
    orch = simulate(cancelling(0.2), "orchestrated", seed)
    assert legacy.kpis["units_demanded"] == orch.kpis["units_demanded"]
    assert legacy.series["units_demanded"] == orch.series["units_demanded"]
    assert legacy.extras["online_cancelled_units"] == orch.extras["online_cancelled_units"] > 0
    assert legacy.extras["online_units_ordered"] == orch.extras["online_units_ordered"]


def test_customers_cancel_whatever_the_policy_and_a_parcel_already_sent_comes_back() -> None:
    for policy in POLICIES:
        model, _ = run_model(cancelling(1.0), policy, 2)
        counts = model.metrics.counts
        # every order is cancelled: no demand, nothing served or lost, every order closed
        assert counts.online_demand == counts.online_shipped == counts.online_lost == 0
        assert model.metrics.orders_open == 0
        assert not any(rv.state.active for rv in model.core.reservations.by_id)
        # what had gone out before the customer cancelled came back refused, as a return
        assert counts.returned_units >= counts.refused_units > 0
    # the orchestrated model picks at once, so more parcels are out when customers cancel
    legacy, _ = run_model(cancelling(1.0), "legacy", 2)
    orch, _ = run_model(cancelling(1.0), "orchestrated", 2)
    assert orch.metrics.counts.refused_units > legacy.metrics.counts.refused_units


def test_a_cancelled_reservation_is_released_when_the_customer_cancels_not_at_the_pick() -> None:
    slow = {"pickers": 1, "pick_time_min": {"dist": "fixed", "mean": 40}}
    data = cancelling(1.0)
    data["network"]["dcs"][0].update(slow)  # lines queue for hours before a picker comes
    model, _ = run_model(data, "orchestrated", 3)
    released = [rv for rv in model.core.reservations.by_id if rv.state.name == "RELEASED"]
    assert len(released) > 20
    # customers cancel within two hours of ordering (`twin.demand`), whatever the queue
    assert all(0 <= rv.closed_at - rv.placed_at <= 2 * HOUR + 1e-6 for rv in released)


# ----------------------------------------------------------------------- planning for it
def test_stores_plan_for_click_and_collect_and_dcs_for_what_they_ship() -> None:
    web = {"code": "web", "kind": "web", "orders_per_day": 100, "lines_per_order": 1.5}
    plain = RetailTwin(load(scenario(channels=[web])), resolve(Policy(), "legacy"), 1).network
    data = scenario(channels=[{**web, "bopis_share": 0.4}])
    net = RetailTwin(load(data), resolve(Policy(), "legacy"), 1).network
    assert net.lam_pickup.sum() == pytest.approx(100 * 1.5 * 0.4)
    assert net.site_online_rate.sum() == pytest.approx(100 * 1.5 * 0.6)  # one DC ships
    assert (net.lam_store == plain.lam_store).all()  # walk-ins are what they were
    dc = net.n_store  # restocks the stores and ships: the same units a day either way
    assert sum(net.daily_rates(dc)) == pytest.approx(sum(plain.daily_rates(dc)))
    for store in range(net.n_store):
        assert net.daily_rate(0, store) > plain.daily_rate(0, store)
    levels = net.reorder_levels(Policy().replenishment, 0)[1]
    assert (levels >= plain.reorder_levels(Policy().replenishment, 0)[1]).all()
    assert levels.sum() > plain.reorder_levels(Policy().replenishment, 0)[1].sum()
