"""Simulated time: SimPy's clock (in hours) as the core's `Clock` port (in seconds), the
daily jobs of the timetable, and the next moment on a daily timetable (a wave, a cut-off,
opening time)."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Generator, Sequence
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


def next_at(t: float, hours: Sequence[float], days: Collection[int] | None = None) -> float:
    """The first moment at or after `t` (hours; day 0 is a Monday) that falls on one of the
    daily `hours` (e.g. the next wave or carrier cut-off), on one of the weekdays `days`
    (0 = Monday; None: every day); `t` itself when there are no hours or days."""
    if not hours or (days is not None and not days):
        return t
    day = math.floor(t / 24.0)
    for d in range(day, day + 8):
        if days is not None and d % 7 not in days:
            continue
        for h in sorted(hours):
            if d * 24.0 + h >= t:
                return d * 24.0 + h
    raise AssertionError("unreachable: a week always holds one of the days")


def next_open(t: float, opening_h: float, closing_h: float) -> float:
    """The first moment at or after `t` inside the daily hours [opening_h, closing_h)."""
    day = math.floor(t / 24.0) * 24.0
    if t < day + opening_h:
        return day + opening_h
    if t >= day + closing_h:
        return day + 24.0 + opening_h
    return t
