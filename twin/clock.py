"""Simulated time: SimPy's clock (in hours) as the core's `Clock` port (in seconds), and
the daily jobs of the timetable."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from orchestrator.clock import HOUR


class SimClock:
    """The core's `Clock` port backed by the SimPy environment (hours → seconds)."""

    __slots__ = ("env",)

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env

    def now(self) -> float:
        return self.env.now * HOUR


def daily(
    env: simpy.Environment, at_h: float, until_h: float, job: Callable[[], None]
) -> Generator[simpy.Event, Any, None]:
    """A daily job: `job()` every day at the hour `at_h`, from the first day, while the
    clock is before `until_h` (the horizon)."""
    yield env.timeout(at_h)
    while env.now < until_h:
        job()
        yield env.timeout(24.0)
