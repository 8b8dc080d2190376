"""One queue for every operational exception, with SLAs and automatic escalation.

Kinds: supplier delay, pick shortage, negative or drifting stock, failed posting,
dead-lettered message, approval overdue, a command the core refused (and any a
workflow adds). Each exception
gets its priority, owner role and SLA from the `exception_sla` rule in force when
it is raised; when it ages past its SLA it escalates one level (owner moves up
`escalation_roles`) and a new SLA window starts. An open exception of the same
kind about the same subject is not raised twice; its occurrence count goes up.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from .clock import Clock
from .errors import InvalidCommand, InvalidTransition
from .governance import AuditTrail, RuleBook

EXCEPTION_KINDS = (
    "supplier_delay",
    "pick_shortage",
    "negative_stock",
    "stock_drift",
    "failed_posting",
    "dead_letter",
    "approval_overdue",
    "refused_command",  # a caller's command the core refused (e.g. a receipt on a closed PO)
)


@dataclass(slots=True)
class OpsException:
    id: int
    kind: str
    subject: str
    detail: str
    priority: int  # 1 is the most urgent
    owner_role: str
    sla_s: float
    opened_at: float
    rule: str
    level: int = 0  # escalation level; 0 = with the original owner
    due_at: float = math.inf
    escalations: list[float] = field(default_factory=list)
    occurrences: int = 1
    resolved_at: float = math.nan
    resolution: str = ""
    resolved_by: str = ""

    @property
    def is_open(self) -> bool:
        return math.isnan(self.resolved_at)

    def age(self, now: float) -> float:
        end = now if self.is_open else self.resolved_at
        return end - self.opened_at


class ExceptionQueue:
    """Open and resolved exceptions, their escalations, and the backlog over time."""

    def __init__(self, rules: RuleBook, clock: Clock, audit: AuditTrail | None = None) -> None:
        if "exception_sla" not in rules:
            raise InvalidCommand(
                "rules.exception_sla: must be published before exceptions are used"
            )
        self.rules = rules
        self.clock = clock
        self.audit = audit if audit is not None else AuditTrail()
        self.items: list[OpsException] = []
        self._open_by_key: dict[tuple[str, str], int] = {}
        self._due: list[tuple[float, int, int]] = []  # (due, id, level at push)
        self.open_count = 0
        self.backlog_peak = 0
        self.backlog_series: list[tuple[float, int]] = []  # (time, open count) at each change
        # the same per kind: open now, and (time, open count of the kind) at each change
        self.open_by_kind: dict[str, int] = {}
        self.backlog_series_by_kind: dict[str, list[tuple[float, int]]] = {}

    def raise_(
        self, kind: str, subject: str, detail: str = "", *, priority: int | None = None
    ) -> OpsException:
        """Open an exception (or count another occurrence of the open one)."""
        if not kind:
            raise InvalidCommand("exception.kind: must not be empty")
        now = self.clock.now()
        key = (kind, subject)
        existing = self._open_by_key.get(key)
        if existing is not None:
            ex = self.items[existing]
            ex.occurrences += 1
            if detail:
                ex.detail = detail
            return ex
        rule = self.rules.current("exception_sla", now)
        prio, owner, sla_h = rule.get(kind) or rule["default"]
        if priority is not None:
            if not 1 <= priority <= 4:
                raise InvalidCommand(f"exception.priority: must be within 1..4, got {priority}")
            prio = priority
        ex = OpsException(
            len(self.items),
            kind,
            subject,
            detail,
            int(prio),
            str(owner),
            float(sla_h) * 3600.0,
            now,
            rule.ref,
        )
        ex.due_at = now + ex.sla_s
        self.items.append(ex)
        self._open_by_key[key] = ex.id
        heapq.heappush(self._due, (ex.due_at, ex.id, 0))
        self._count(now, +1, kind)
        self.audit.record(
            now,
            "exception.raised",
            f"exception:{ex.id}",
            kind,
            rule=rule.ref,
            actor="system",
            reason=detail or subject,
        )
        return ex

    def resolve(self, exception_id: int, resolution: str, *, actor: str = "system") -> OpsException:
        if not 0 <= exception_id < len(self.items):
            raise InvalidCommand(f"exception_id: no exception {exception_id}")
        ex = self.items[exception_id]
        if not ex.is_open:
            raise InvalidTransition(f"exception {exception_id}: already resolved")
        now = self.clock.now()
        ex.resolved_at = now
        ex.resolution = resolution
        ex.resolved_by = actor
        self._open_by_key.pop((ex.kind, ex.subject), None)
        self._count(now, -1, ex.kind)
        self.audit.record(
            now, "exception.resolved", f"exception:{ex.id}", resolution, rule=ex.rule, actor=actor
        )
        return ex

    def resolve_subject(
        self, kind: str, subject: str, resolution: str, *, actor: str = "system"
    ) -> OpsException | None:
        """Resolve the open exception of `kind` about `subject`, if there is one."""
        i = self._open_by_key.get((kind, subject))
        return None if i is None else self.resolve(i, resolution, actor=actor)

    def _count(self, now: float, delta: int, kind: str) -> None:
        self.open_count += delta
        if self.open_count > self.backlog_peak:
            self.backlog_peak = self.open_count
        self.backlog_series.append((now, self.open_count))
        n = self.open_by_kind[kind] = self.open_by_kind.get(kind, 0) + delta
        self.backlog_series_by_kind.setdefault(kind, []).append((now, n))

    # -- time ----------------------------------------------------------------------
    def next_due(self) -> float | None:
        return self._due[0][0] if self._due else None

    def poll(self) -> list[OpsException]:
        """Escalate every open exception whose SLA has run out; returns those escalated."""
        now = self.clock.now()
        out = []
        while self._due and self._due[0][0] <= now:
            due, i, level = heapq.heappop(self._due)
            ex = self.items[i]
            if not ex.is_open or ex.level != level:
                continue
            rule = self.rules.current("exception_sla", due)
            roles = list(rule.get("escalation_roles", []))
            ex.level += 1
            ex.escalations.append(due)
            if roles:
                ex.owner_role = roles[min(ex.level, len(roles)) - 1]
            ex.priority = max(1, ex.priority - 1)
            ex.due_at = due + ex.sla_s
            heapq.heappush(self._due, (ex.due_at, ex.id, ex.level))
            self.audit.record(
                due,
                "exception.escalated",
                f"exception:{ex.id}",
                f"level {ex.level} -> {ex.owner_role}",
                rule=rule.ref,
                actor="system",
                reason=f"open past SLA {ex.sla_s / 3600:g} h",
            )
            out.append(ex)
        return out

    # -- reading ---------------------------------------------------------------------
    def open(self) -> list[OpsException]:
        return [e for e in self.items if e.is_open]

    def backlog(self, since: float = 0.0, kind: str | None = None) -> tuple[int, int]:
        """(peak, now) of the open exceptions (of one `kind`, or all) over the window from
        `since`: the peak counts the backlog the window starts with and every change in it."""
        series = self.backlog_series if kind is None else self.backlog_series_by_kind.get(kind, [])
        at_start = 0
        after = []
        for t, n in series:
            if t < since:
                at_start = n
            else:
                after.append(n)
        now = series[-1][1] if series else 0
        return max([at_start, *after]), now

    def by_kind(self, now: float, since: float = 0.0) -> dict[str, dict[str, float | int | None]]:
        """Per kind (those of `EXCEPTION_KINDS`, then any other raised): backlog peak over the
        window from `since`, backlog now, and the 95th percentile age in hours of the
        exceptions opened in the window (resolved: at resolution; open: now)."""
        kinds = [*EXCEPTION_KINDS, *sorted(set(self.backlog_series_by_kind) - set(EXCEPTION_KINDS))]
        ages: dict[str, list[float]] = {k: [] for k in kinds}
        for e in self.items:
            if e.opened_at >= since:
                ages[e.kind].append(e.age(now) / 3600.0)
        out: dict[str, dict[str, float | int | None]] = {}
        for k in kinds:
            peak, end = self.backlog(since, k)
            out[k] = {
                "backlog_peak": peak,
                "backlog_end": end,
                "age_p95_h": float(np.percentile(ages[k], 95)) if ages[k] else None,
            }
        return out

    def ages_h(self, now: float) -> list[float]:
        """Age in hours of every exception: at resolution, or now if still open (the KPI)."""
        return [e.age(now) / 3600.0 for e in self.items]

    def by_priority(self) -> list[OpsException]:
        """Open exceptions, most urgent first, oldest first within a priority."""
        return sorted(self.open(), key=lambda e: (e.priority, e.opened_at, e.id))
