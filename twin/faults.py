"""Faults and recovery: the windows when the middleware, tills or the ERP are down, the
ERP outages themselves, and operations replaying dead letters after a middleware outage.

The middleware and the tills read their own `OutageWindows` (events wait, tills
buffer); supplier shocks live with the suppliers and returns surges with demand.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import simpy

from orchestrator.clock import HOUR

if TYPE_CHECKING:
    from .model import RetailTwin


class OutageWindows:
    """Time windows [start, end) in simulated hours when something is down."""

    __slots__ = ("windows",)

    def __init__(self, windows: Iterable[tuple[float, float]] = ()) -> None:
        self.windows = sorted(windows)

    def __bool__(self) -> bool:
        return bool(self.windows)

    def end_at(self, t: float) -> float | None:
        """The end of the outage covering time `t`, or None."""
        for a, b in self.windows:
            if a <= t < b:
                return b
        return None

    def covers(self, t: float) -> bool:
        return bool(self.windows) and any(a <= t < b for a, b in self.windows)


class Faults:
    """The ERP's outages (the GL stops posting; a failed-posting exception stays open until
    it is back) and the recovery after each middleware outage (dead letters replayed)."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        faults = model.scenario.faults
        self.erp = OutageWindows((w.start_h, w.start_h + w.duration_h) for w in faults.erp_outages)
        # replays follow the scenario's own order of middleware outages
        self.middleware_ends = [w.start_h + w.duration_h for w in faults.middleware_outages]

    def start(self) -> None:
        env = self.model.env
        for a, b in self.erp.windows:
            env.process(self.erp_outage(a, b))
        for end_h in self.middleware_ends:
            env.process(self.after_outage(end_h))

    def erp_outage(self, a: float, b: float) -> Generator[simpy.Event, Any, None]:
        """The ERP is unreachable from `a` to `b`: postings wait, then go through at once."""
        env, core = self.model.env, self.model.core
        yield env.timeout(a)
        core.gl.suspend()
        core.exceptions.raise_("failed_posting", f"erp-outage:{a:g}", "ERP unreachable")
        yield env.timeout(b - a)
        core.gl.resume(env.now * HOUR)
        core.exceptions.resolve_subject("failed_posting", f"erp-outage:{a:g}", "ERP back")

    def after_outage(self, end_h: float) -> Generator[simpy.Event, Any, None]:
        """Some time after a middleware outage, operations replay the dead letters."""
        model = self.model
        yield model.env.timeout(end_h + model.timetable.dead_letter_replay_after_h)
        self.replay_dead_letters()

    def replay_dead_letters(self) -> None:
        """Operations replay every outstanding dead letter and close its exception."""
        core = self.model.core
        ids = [d.event.event_id for d in core.bus.outstanding_dead_letters()]
        core.bus.replay()
        for eid in ids:
            core.exceptions.resolve_subject("dead_letter", eid, "replayed")
