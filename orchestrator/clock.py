"""The Clock port: the core reads time only through it, so it never knows it is simulated."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotone time line (simulated seconds in the twin, epoch seconds live)."""

    def now(self) -> float: ...


class ManualClock:
    """A clock tests and notebooks move by hand."""

    __slots__ = ("t",)

    def __init__(self, start: float = 0.0) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def set(self, t: float) -> None:
        if t < self.t:
            raise ValueError(f"clock cannot go back from {self.t} to {t}")
        self.t = float(t)

    def advance(self, seconds: float) -> float:
        self.set(self.t + seconds)
        return self.t


class WallClock:
    """Wall time for a live deployment."""

    def now(self) -> float:
        return time.time()


HOUR = 3600.0
DAY = 86400.0
