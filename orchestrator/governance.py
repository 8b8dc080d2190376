"""Governance: business rules as versioned data, and an audit trail of decisions.

A rule (approval thresholds, buffers, disposition rules, SLAs) is published as a
new version with an effective time; the version in force at a moment is the
latest one whose effective time has come. Every decision the workflows make
records the rule version that made it (`RuleVersion.ref`, e.g. `transfer_approval@v2`),
and the audit trail says who or what changed stock or decided, and why.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidCommand
from .ledger import StockLedger


@dataclass(slots=True, frozen=True)
class RuleVersion:
    name: str
    version: int
    effective_from: float
    params: Mapping[str, Any]
    author: str = ""
    note: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def __getitem__(self, key: str) -> Any:
        try:
            return self.params[key]
        except KeyError:
            raise InvalidCommand(f"rules.{self.name}.{key}: not set in {self.ref}") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


class RuleBook:
    """All versions of every named rule, looked up by effective time."""

    def __init__(self) -> None:
        self._versions: dict[str, list[RuleVersion]] = {}
        self._starts: dict[str, list[float]] = {}

    def publish(
        self,
        name: str,
        params: Mapping[str, Any],
        *,
        effective_from: float = 0.0,
        author: str = "",
        note: str = "",
    ) -> RuleVersion:
        """Add a new version of `name`, in force from `effective_from` (may be in the future)."""
        if not name:
            raise InvalidCommand("rules.name: must not be empty")
        versions = self._versions.setdefault(name, [])
        starts = self._starts.setdefault(name, [])
        if starts and effective_from < starts[-1]:
            raise InvalidCommand(
                f"rules.{name}.effective_from: {effective_from} is before the latest version's"
                f" {starts[-1]}; versions must take effect in order"
            )
        rv = RuleVersion(name, len(versions) + 1, float(effective_from), dict(params), author, note)
        versions.append(rv)
        starts.append(rv.effective_from)
        return rv

    def ensure(self, name: str, params: Mapping[str, Any], *, note: str = "") -> RuleVersion:
        """Publish `params` as version 1 of `name` unless the rule exists; returns the first."""
        if name in self._versions:
            return self._versions[name][0]
        return self.publish(name, params, effective_from=-float("inf"), author="default", note=note)

    def current(self, name: str, at: float) -> RuleVersion:
        """The version of `name` in force at time `at`."""
        starts = self._starts.get(name)
        if not starts:
            raise InvalidCommand(f"rules.{name}: no such rule has been published")
        i = bisect.bisect_right(starts, at) - 1
        if i < 0:
            raise InvalidCommand(
                f"rules.{name}: no version in force at {at} (first from {starts[0]})"
            )
        return self._versions[name][i]

    def history(self, name: str) -> list[RuleVersion]:
        return list(self._versions.get(name, ()))

    def names(self) -> list[str]:
        return sorted(self._versions)

    def __contains__(self, name: str) -> bool:
        return name in self._versions


@dataclass(slots=True, frozen=True)
class Decision:
    """One decision a workflow or a person made: what, about what, by which rule, by whom."""

    at: float
    kind: str  # e.g. "transfer.approved", "return.disposed", "exception.escalated"
    subject: str
    outcome: str
    rule: str  # RuleVersion.ref, or "" for a human decision outside any rule
    actor: str  # "rule", "approver:3", "system", ...
    reason: str = ""


@dataclass(slots=True)
class AuditTrail:
    """Append-only record of decisions, read together with the ledger's movements."""

    decisions: list[Decision] = field(default_factory=list)
    # positions in `decisions` by kind: a nightly look-up of one kind (cycle counts) reads
    # its own decisions, not every return's and transfer's since the start of the run
    _by_kind: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def record(
        self,
        at: float,
        kind: str,
        subject: str,
        outcome: str,
        *,
        rule: str = "",
        actor: str = "system",
        reason: str = "",
    ) -> Decision:
        d = Decision(at, kind, subject, outcome, rule, actor, reason)
        at_kind = self._by_kind.get(kind)
        if at_kind is None:
            at_kind = self._by_kind[kind] = []
        at_kind.append(len(self.decisions))
        self.decisions.append(d)
        return d

    def of(self, kind_prefix: str = "", subject: str | None = None) -> list[Decision]:
        """The decisions whose kind starts with `kind_prefix` (about `subject`), in order."""
        if sum(map(len, self._by_kind.values())) != len(self.decisions):
            self._by_kind = {}  # `decisions` was given or changed by hand: index it afresh
            for i, d in enumerate(self.decisions):
                self._by_kind.setdefault(d.kind, []).append(i)
        kinds = [k for k in self._by_kind if k.startswith(kind_prefix)]
        at = (
            self._by_kind[kinds[0]]
            if len(kinds) == 1
            else sorted(i for k in kinds for i in self._by_kind[k])
        )
        ds = self.decisions
        return [ds[i] for i in at if subject is None or ds[i].subject == subject]

    @staticmethod
    def stock_changes(
        ledger: StockLedger, sku: int | None = None, location: int | None = None
    ) -> list[tuple[float, str, str, int, str, str]]:
        """Who or what changed stock and why: (at, kind, event id, qty, actor, reason)."""
        return [
            (m.at, m.kind.name.lower(), m.event_id, m.qty, m.actor, m.reason)
            for m in ledger.movements
            if (sku is None or m.sku == sku) and (location is None or m.location == location)
        ]


def default_rules(effective_from: float = 0.0) -> RuleBook:
    """The rule set a new deployment starts from; every value is a documented assumption."""
    rb = RuleBook()
    rb.publish(
        "transfer_approval",
        {
            "auto_max_units": 50,  # assumed: small transfers need no human
            "auto_max_value_cents": 250_000,  # assumed: 2,500.00
            "protect_source_units": 0,  # reject if the source would drop below this
            "approval_sla_h": 4.0,  # assumed
        },
        effective_from=effective_from,
        author="default",
        note="assumed thresholds; no published figure",
    )
    rb.publish(
        "exception_sla",
        {
            # type: [priority 1 (highest)..4, owner role, SLA hours]
            "supplier_delay": [2, "buyer", 24.0],
            "pick_shortage": [2, "store_ops", 4.0],
            "negative_stock": [3, "inventory_control", 24.0],
            "stock_drift": [3, "inventory_control", 48.0],
            "failed_posting": [2, "finance", 8.0],
            "dead_letter": [1, "integration", 2.0],
            "approval_overdue": [3, "regional_manager", 8.0],
            "default": [3, "ops", 24.0],
            "escalation_roles": ["team_lead", "manager", "director"],
        },
        effective_from=effective_from,
        author="default",
        note="assumed SLAs; no published figure",
    )
    return rb
