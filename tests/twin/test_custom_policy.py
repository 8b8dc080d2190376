"""A researcher's own allocation or sourcing object plugs into the twin without a package
change: `simulate(..., allocation=obj, sourcing=obj)` (notebooks/02_custom_policy.ipynb)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import ChannelKind, Nearest
from scenarios import load, resolve
from twin.model import RetailTwin
from twin.operating import plug_in
from twin.simulate import simulate

from .conftest import scenario


class MyPooled:
    """Pooled allocation written outside the package, counting what the core asks it."""

    name = "my-pooled"

    def __init__(self) -> None:
        self.calls = 0
        self.channel_kinds: set[str] = set()

    def promisable(self, position: Any, location: Any, channel: Any) -> int:
        self.calls += 1
        self.channel_kinds.add(channel.kind.value)
        return position.ats


class NoMarketplace:
    """Marketplaces may promise nothing; every other channel sees the pooled figure."""

    name = "no-marketplace"

    def promisable(self, position: Any, location: Any, channel: Any) -> int:
        return 0 if channel.kind is ChannelKind.MARKETPLACE else position.ats


class CountingNearest(Nearest):
    name = "counting-nearest"

    def __init__(self) -> None:
        super().__init__(full_trace=False)  # what the twin builds for the built-in `nearest`
        self.calls = 0

    def source(self, demands: Any, ctx: Any) -> Any:
        self.calls += 1
        return super().source(demands, ctx)


@pytest.fixture(scope="module")
def sc() -> Any:
    return load(scenario(horizon_days=6))


@pytest.fixture(scope="module")
def pooled(sc: Any) -> Any:
    return simulate(sc, "orchestrated-pooled", seed=3)


def test_a_custom_allocation_object_drives_the_core_and_is_named_in_the_result(
    sc: Any, pooled: Any
) -> None:
    mine = MyPooled()
    r = simulate(sc, "orchestrated", seed=3, allocation=mine)
    assert mine.calls > 0 and {"web", "marketplace"} <= mine.channel_kinds
    # the same decisions as the built-in pooled policy on the same seed: the same run
    assert r.kpis == pooled.kpis
    assert r.events == pooled.events
    assert r.metadata["policy"] == "orchestrated+my-pooled"
    assert r.invariants["units_conserved"] and r.invariants["negative_available"] == 0


def test_a_custom_allocation_changes_what_channels_may_promise(sc: Any, pooled: Any) -> None:
    r = simulate(sc, "orchestrated", seed=3, allocation=NoMarketplace())
    assert r.extras["online_units_ordered"] == pooled.extras["online_units_ordered"]  # CRN
    assert r.extras["online_lost_units"] > pooled.extras["online_lost_units"]
    assert r.kpis["fill_rate"] < pooled.kpis["fill_rate"]


def test_a_custom_sourcing_object_is_used_in_place_of_the_named_one(sc: Any) -> None:
    mine = CountingNearest()
    r = simulate(sc, "orchestrated", seed=5, sourcing=mine)
    builtin = simulate(sc, "orchestrated", seed=5)
    assert mine.calls > 0
    assert r.kpis == builtin.kpis
    assert r.metadata["policy"] == "orchestrated+counting-nearest"


def test_both_hooks_together_and_the_model_keeps_the_objects(sc: Any) -> None:
    alloc, src = MyPooled(), CountingNearest()
    model = RetailTwin(sc, resolve(sc.policy, "legacy"), 1, allocation=alloc, sourcing=src)
    assert model.core.allocation is alloc and model.core.sourcing is src
    assert model.policy.name == "legacy+my-pooled+counting-nearest"
    assert (model.policy.allocation, model.policy.allocation_params) == ("my-pooled", {})
    assert model.policy.sourcing == "counting-nearest"
    assert model.policy.operating_model == "legacy"  # every other knob is the bundle's


def test_without_objects_the_policy_is_untouched(sc: Any) -> None:
    pol = resolve(sc.policy, "orchestrated-buffered")
    assert plug_in(pol) is pol
    model = RetailTwin(sc, pol, 1)
    assert type(model.core.allocation).__name__ == "Buffered"


def test_objects_that_do_not_implement_the_protocol_are_refused(sc: Any) -> None:
    with pytest.raises(TypeError, match="allocation: expected"):
        simulate(sc, "orchestrated", seed=1, allocation=object())
    with pytest.raises(TypeError, match="sourcing: expected"):
        simulate(sc, "orchestrated", seed=1, sourcing=MyPooled())
