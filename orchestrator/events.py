"""The core's own event log: what happened, when, compactly, for KPIs and audit.

Entries are plain tuples `(at, kind, subject, a, b)` so a long run stays small and
is reduced with numpy at the end; `kind` is an `EventKind`.
"""

from __future__ import annotations

from enum import IntEnum


class EventKind(IntEnum):
    RESERVATION_HELD = 1  # subject=reservation id, a=qty, b=placed_at
    RESERVATION_CONFIRMED = 2  # subject=reservation id, a=qty, b=placed_at
    RESERVATION_REJECTED = 3  # subject=order id, a=qty, b=placed_at
    RESERVATION_RELEASED = 4  # subject=reservation id, a=qty
    RESERVATION_EXPIRED = 5  # subject=reservation id, a=qty
    RESERVATION_FULFILLED = 6  # subject=reservation id, a=qty shipped, b=qty short
    # 7 was MOVEMENT_RECORDED: a copy of each movement's seq, kind and qty, which the
    # movement log (`StockLedger.movements`) already holds with its recorded time
    JOURNAL_POSTED = 8  # subject=entry id, a=movement seq, b=posting delay (s)
    EVENT_DEAD_LETTERED = 9  # subject=event id, a=reason
    EVENT_REPLAYED = 10  # subject=event id
    POLICY_OVERRIDE = 11  # subject=what, a=detail


Entry = tuple[float, EventKind, object, object, object]


class EventLog:
    """Append-only list of entries with a filter helper.

    `timeline` holds the workflows' named steps as `(at, name, subject)`, e.g.
    `(3600.0, "transfer.approved", "transfer:4")`, for timeline tests and KPIs.
    """

    __slots__ = ("entries", "timeline")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.timeline: list[tuple[float, str, str]] = []

    def note(self, at: float, name: str, subject: str) -> None:
        self.timeline.append((at, name, subject))

    def steps(self, subject: str) -> list[tuple[float, str]]:
        """The (time, step) sequence of one subject, in the order it happened."""
        return [(t, n) for t, n, s in self.timeline if s == subject]

    def add(
        self, at: float, kind: EventKind, subject: object, a: object = None, b: object = None
    ) -> None:
        self.entries.append((at, kind, subject, a, b))

    def of(self, kind: EventKind) -> list[Entry]:
        return [e for e in self.entries if e[1] is kind]

    def __len__(self) -> int:
        return len(self.entries)
