"""Random streams: one per source of randomness, spawned from the run's seed.

Demand streams (store and online) are drawn the same way whatever the policy, so
two policies run on one seed see the same customers (common random numbers).
"""

from __future__ import annotations

import math

import numpy as np

from scenarios.schema import Dist

STREAMS = (
    "network",  # store sizes, initial record errors
    "store_demand",  # walk-in customers
    "online",  # online orders: arrivals, lines, zones, cancellations, return flags
    "physical",  # shrink, receiving errors
    "middleware",  # latency, duplicates, reordering
    "suppliers",  # lead times, lateness, short shipments
    "lanes",  # carrier transit times
    "people",  # approvers, pickers, inspectors
    "returns",  # return conditions, store returns
    "counts",  # which positions a random cycle count picks
)


class Streams:
    """Named independent generators from `SeedSequence(seed).spawn`."""

    def __init__(self, seed: int) -> None:
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        self._g = {
            name: np.random.default_rng(c) for name, c in zip(STREAMS, children, strict=True)
        }

    def __getattr__(self, name: str) -> np.random.Generator:
        try:
            return self._g[name]
        except KeyError:
            raise AttributeError(name) from None


def sample(d: Dist, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
    """Draw from a scenario `Dist` (mean and coefficient of variation)."""
    m = d.mean
    if d.dist == "fixed" or m == 0:
        return m if size is None else np.full(size, m, dtype=float)
    if d.dist == "exponential":
        return rng.exponential(m, size)
    if d.dist == "gamma":
        k = 1.0 / (d.cv * d.cv)
        return rng.gamma(k, m / k, size)
    if d.dist == "lognormal":
        s2 = math.log1p(d.cv * d.cv)
        return rng.lognormal(math.log(m) - s2 / 2, math.sqrt(s2), size)
    w = d.cv * math.sqrt(3.0)  # uniform on [m(1−w), m(1+w)]
    return rng.uniform(m * (1 - w), m * (1 + w), size)
