"""Faults and recovery: the windows when the middleware, tills or the ERP are down, the
ERP outages themselves, and operations replaying dead letters (on the operator's cadence
and after a middleware outage).

The middleware, the tills and the ERP's posting path read their own `OutageWindows`
(events wait, tills buffer, postings wait); supplier shocks live with the suppliers and
returns surges with demand.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import simpy

if TYPE_CHECKING:
    from scenarios.schema import Window

    from .model import RetailTwin

#: who replays dead letters: a person on the integration team (not the system)
OPERATOR = "integration-operator"


class OutageWindows:
    """Time windows [start, end) in simulated hours when something is down."""

    __slots__ = ("windows",)

    def __init__(self, windows: Iterable[tuple[float, float]] = ()) -> None:
        self.windows = sorted(windows)

    @classmethod
    def of(cls, windows: Iterable[Window]) -> OutageWindows:
        """The windows of a scenario's outages (`start_h`, `duration_h`)."""
        return cls((w.start_h, w.start_h + w.duration_h) for w in windows)

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
    """The ERP's outages (postings wait on the integration path; a failed-posting exception
    stays open until the ERP is back) and the dead letters' recovery: an operator replays
    the queue every `policy.dead_letter_replay_h` hours, and after each middleware outage."""

    def __init__(self, model: RetailTwin) -> None:
        self.model = model
        faults = model.scenario.faults
        self.erp = OutageWindows.of(faults.erp_outages)
        # replays follow the scenario's own order of middleware outages
        self.middleware_ends = [w.start_h + w.duration_h for w in faults.middleware_outages]

    def start(self) -> None:
        env = self.model.env
        for a, b in self.erp.windows:
            env.process(self.erp_outage(a, b))
        for end_h in self.middleware_ends:
            env.process(self.after_outage(end_h))
        env.process(self.operator_replays())

    def erp_outage(self, a: float, b: float) -> Generator[simpy.Event, Any, None]:
        """The ERP is unreachable from `a` to `b`: postings wait on the integration path
        (`ErpPath`) and go through when it is back; the outage is an exception meanwhile."""
        env, core = self.model.env, self.model.core
        yield env.timeout(a)
        core.exceptions.raise_("failed_posting", f"erp-outage:{a:g}", "ERP unreachable")
        yield env.timeout(b - a)
        core.exceptions.resolve_subject("failed_posting", f"erp-outage:{a:g}", "ERP back")

    def after_outage(self, end_h: float) -> Generator[simpy.Event, Any, None]:
        """Some time after a middleware outage, operations replay the dead letters."""
        model = self.model
        yield model.env.timeout(end_h + model.timetable.dead_letter_replay_after_h)
        self.replay_dead_letters()

    def operator_replays(self) -> Generator[simpy.Event, Any, None]:
        """An operator looks at the dead-letter queue every `dead_letter_replay_h` hours
        until the horizon and replays what is there."""
        model = self.model
        every = model.policy.dead_letter_replay_h
        while model.env.now + every <= model.horizon_h:
            yield model.env.timeout(every)
            self.replay_dead_letters()

    def replay_dead_letters(self) -> None:
        """An operator replays every outstanding dead letter by hand and closes its
        exception (`OPERATOR`: the money block counts each as a person's work)."""
        core = self.model.core
        ids = [d.event.event_id for d in core.bus.outstanding_dead_letters()]
        if not ids:
            return
        core.bus.replay()
        for eid in ids:
            core.exceptions.resolve_subject("dead_letter", eid, "replayed", actor=OPERATOR)
