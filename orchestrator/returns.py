"""Returns disposition: received → quarantined → inspected → disposed by versioned rules.

A customer return enters quarantine (`core.return_in`) and is not sellable. Once
inspected, its condition and the sku's class pick a disposition from the
`disposition_rules` version in force: restock, refurbish, return-to-vendor,
liquidate or scrap. Every disposition is an explicit `core.dispose` movement, so
GL postings come from the core and only restock or a *finished* refurbishment
make units sellable again. Refurbishing takes time: the units stay in quarantine
until `complete_refurbish`, which records the sellable movement then.

A case reaches exactly one disposition decision. It may be split across
dispositions (``{"restock": 2, "scrap": 1}``); the parts must sum to the case
quantity. Each decision is audited with the rule version (``disposition_rules@v2``)
and named on the timeline (``return.received``, ``return.inspected``,
``return.disposed``, ``return.refurbished``) under the subject ``return:{id}``.

A return's clock starts when the customer hands it over (at a store's desk, or to the
carrier), which may be days before it is received where it is inspected
(`handed_over_at`); returns-to-available counts from then.

A location's returns of a day can travel as one batch (`receive_lines`) and be settled
together (`inspect_lines`): one receipt event, one disposition event per disposition,
and otherwise the same cases, decisions and audit records as case by case.

Default rules (assumed; no published figure, see CALIBRATION.md "share of returns
resalable"): new → restock; opened → restock (electronics → refurbish); damaged →
liquidate (electronics → refurbish); defective → return to vendor (consumables →
scrap); a refurbishment takes 72 h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .catalog import Ref
from .errors import InvalidCommand, InvalidTransition
from .governance import RuleVersion
from .ledger import MovementKind

if TYPE_CHECKING:
    from .core import Orchestrator

HOUR = 3600.0

#: the names `core.dispose` accepts, in a stable order
DISPOSITIONS = ("restock", "refurbish", "return_to_vendor", "liquidate", "scrap")

DEFAULT_DISPOSITION_RULES: dict[str, object] = {
    # condition -> {sku_class or "default": disposition}
    "conditions": {
        "new": {"default": "restock"},
        "opened": {"default": "restock", "electronics": "refurbish"},
        "damaged": {"default": "liquidate", "electronics": "refurbish"},
        "defective": {"default": "return_to_vendor", "consumable": "scrap"},
    },
    "refurbish_h": 72.0,  # assumed: time in the refurbishment shop
}


@dataclass(slots=True)
class ReturnCase:
    """One customer return and where its units went."""

    id: int
    sku: int
    location: int
    qty: int
    channel: int | None
    received_at: float
    inspected_at: float = math.nan
    condition: str = ""
    disposition: str = ""  # a name from DISPOSITIONS, or "split"
    disposed_at: float = math.nan  # when the disposition was decided
    rule: str = ""  # RuleVersion.ref that decided it ("" for none)
    decided_by: str = ""
    parts: dict[str, int] = field(default_factory=dict)  # disposition -> units
    refurbish_pending: int = 0  # units decided for refurbishment, still in quarantine
    refurbish_due_at: float = math.nan
    refurbished_at: float = math.nan
    resolved_at: float = math.nan  # every unit sellable again or gone from the network
    handed_over_at: float = math.nan  # the customer handed it over (nan: when received)
    # "return:<id>", made once: the case's audit, timeline and movements all cite it
    subject: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        self.subject = f"return:{self.id}"
        if math.isnan(self.handed_over_at):
            self.handed_over_at = self.received_at

    @property
    def status(self) -> str:
        if not math.isnan(self.resolved_at):
            return "resolved"
        if self.refurbish_pending:
            return "refurbishing"
        if not math.isnan(self.inspected_at):
            return "inspected"
        return "quarantined"

    @property
    def disposed_qty(self) -> int:
        return sum(self.parts.values())


class ReturnsWorkflow:
    """Returns cases on top of one `Orchestrator`; rules come from `core.rules`."""

    def __init__(self, core: Orchestrator) -> None:
        self.core = core
        core.rules.ensure(
            "disposition_rules",
            DEFAULT_DISPOSITION_RULES,
            note="assumed: resalable share of returns has no published figure",
        )
        self.cases: list[ReturnCase] = []

    # -- commands ----------------------------------------------------------------------
    def receive(
        self,
        sku: Ref,
        location: Ref,
        qty: int,
        *,
        channel: Ref | None = None,
        event_id: str | None = None,
        reason: str = "",
        handed_over_at: float = math.nan,
    ) -> ReturnCase:
        """A return arrives: its units go into quarantine (not sellable). `handed_over_at`:
        when the customer handed it over, if before now (seconds)."""
        core = self.core
        s, loc = core.catalog.sku(sku), core.catalog.location(location)
        ch = None if channel is None else core.catalog.channel(channel)
        cid = len(self.cases)
        now = core.clock.now()
        case = ReturnCase(cid, s, loc, qty, ch, now, handed_over_at=handed_over_at)
        core.return_in(
            s,
            loc,
            qty,
            event_id=event_id if event_id is not None else f"{case.subject}:received",
            reason=reason or case.subject,
        )
        self.cases.append(case)
        core.log.note(now, "return.received", case.subject)
        return case

    def receive_lines(
        self,
        location: Ref,
        skus: Sequence[Ref],
        qtys: Sequence[int],
        *,
        channel: Ref | None = None,
        event_id: str | None = None,
        handed_over_at: float = math.nan,
    ) -> list[ReturnCase]:
        """A location's returns of a period as one batch event (a returns desk's batch, as a
        till's sales are): one case per (sku, qty) line, every unit into quarantine;
        `handed_over_at` as in `receive`.

        The same cases and stock as one `receive` per line; the movements share one event
        (`<event_id>#<line>`, line i is the i-th case) whose reason names the case range.
        """
        core = self.core
        loc = core.catalog.location(location)
        ch = None if channel is None else core.catalog.channel(channel)
        ids = [core.catalog.sku(sk) for sk in skus]
        first, n = len(self.cases), len(ids)
        span = f"return:{first}..{first + n - 1}"
        core.move_lines(
            MovementKind.RETURN_IN,
            loc,
            ids,
            qtys,
            event_id=event_id if event_id is not None else f"{span}:received",
            actor="returns",
            reason=span,
        )
        now = core.clock.now()
        cases = [
            ReturnCase(first + i, sk, loc, q, ch, now, handed_over_at=handed_over_at)
            for i, (sk, q) in enumerate(zip(ids, qtys, strict=True))
        ]
        self.cases.extend(cases)
        note = core.log.note
        for c in cases:
            note(now, "return.received", c.subject)
        return cases

    def inspect_lines(
        self, case_ids: Sequence[int], conditions: Sequence[str], *, inspector: str = "inspector"
    ) -> list[ReturnCase]:
        """Inspect cases of one location and dispose of them by the rules, with one batch
        event per disposition: the same decisions, audit and stock as `inspect` case by
        case. Checks every case first; a bad one refuses them all and changes nothing."""
        if len(case_ids) != len(conditions):
            raise InvalidCommand(f"conditions: {len(case_ids)} cases but {len(conditions)}")
        cases = [self.get(i) for i in case_ids]
        if len({c.id for c in cases}) != len(cases):
            raise InvalidCommand("case_ids: a case appears twice")
        core = self.core
        now = core.clock.now()
        rule = self.rule(now)
        for c, cond in zip(cases, conditions, strict=True):
            self._check_inspection(c, cond, rule)
            if c.location != cases[0].location:
                raise InvalidCommand("case_ids: a batch inspects the cases of one location")
        decided = [
            self._decide(c.sku, cond, rule) for c, cond in zip(cases, conditions, strict=True)
        ]
        groups: dict[str, list[ReturnCase]] = {}
        for c, cond, d in zip(cases, conditions, decided, strict=True):
            self._mark_inspected(c, cond, rule, inspector, now)
            groups.setdefault(d, []).append(c)
        for d, group in groups.items():
            if d == "refurbish":
                continue
            core.move_lines(
                MovementKind.DISPOSITION,
                group[0].location,
                [c.sku for c in group],
                [c.qty for c in group],
                event_id=f"{group[0].subject}..{group[-1].id}:{d}",
                actor="rule",
                reason=f"{group[0].subject}..{group[-1].id}",
                disposition=d,
            )
        for c, d in zip(cases, decided, strict=True):
            self._settle(c, {d: c.qty}, rule, "rule", self._by_rule_reason(c), now)
        return cases

    def inspect(
        self, case_id: int, condition: str, *, inspector: str = "inspector", dispose: bool = True
    ) -> ReturnCase:
        """Record the condition; by default the rules then dispose of the case at once."""
        case = self.get(case_id)
        now = self.core.clock.now()
        rule = self.rule(now)
        self._check_inspection(case, condition, rule)
        self._mark_inspected(case, condition, rule, inspector, now)
        if dispose:
            self.dispose(case_id)
        return case

    def _check_inspection(self, case: ReturnCase, condition: str, rule: RuleVersion) -> None:
        """Refuse inspecting a case twice or with a condition the rules do not know."""
        if not math.isnan(case.inspected_at):
            raise InvalidTransition(f"{case.subject}: already inspected ({case.condition})")
        known = rule["conditions"]
        if condition not in known:
            raise InvalidCommand(
                f"condition: must be one of {', '.join(known)} under {rule.ref}, got {condition!r}"
            )

    def _mark_inspected(
        self, case: ReturnCase, condition: str, rule: RuleVersion, inspector: str, now: float
    ) -> None:
        """The inspection on the case, the timeline and the audit trail."""
        case.inspected_at = now
        case.condition = condition
        self.core.log.note(now, "return.inspected", case.subject)
        self.core.audit.record(
            now, "return.inspected", case.subject, condition, rule=rule.ref, actor=inspector
        )

    def _by_rule_reason(self, case: ReturnCase) -> str:
        """Why the rules disposed of the case as they did."""
        return f"condition={case.condition} class={self._sku_class(case.sku)}"

    def dispose(
        self,
        case_id: int,
        disposition: str | Mapping[str, int] | None = None,
        *,
        actor: str | None = None,
        reason: str = "",
    ) -> ReturnCase:
        """Decide where the units go: by the rules (no `disposition`) or as a person overrides.

        `disposition` may split the case: ``{"restock": 2, "scrap": 1}`` (parts > 0,
        summing to the case quantity). Refurbished units stay quarantined until
        `complete_refurbish`.
        """
        case = self.get(case_id)
        if math.isnan(case.inspected_at):
            raise InvalidTransition(f"{case.subject}: must be inspected before a disposition")
        if not math.isnan(case.disposed_at):
            raise InvalidTransition(
                f"{case.subject}: already disposed ({case.disposition}) under {case.rule}"
            )
        core = self.core
        now = core.clock.now()
        rule = self.rule(now)
        by_rule = self.decide(case, rule)
        if disposition is None:
            parts = {by_rule: case.qty}
            who = actor or "rule"
            why = reason or self._by_rule_reason(case)
        else:
            parts = _parts(disposition, case.qty)
            if actor is None:
                raise InvalidCommand("actor: a disposition that overrides the rules needs a person")
            who = actor
            why = reason or f"override; {rule.ref} says {by_rule}"
        for d, q in parts.items():
            if d == "refurbish":
                continue
            core.dispose(
                case.sku,
                case.location,
                q,
                d,
                event_id=f"{case.subject}:{d}",
                actor=who,
                reason=case.subject,
            )
        self._settle(case, parts, rule, who, why, now)
        return case

    def _settle(
        self,
        case: ReturnCase,
        parts: dict[str, int],
        rule: RuleVersion,
        who: str,
        why: str,
        now: float,
    ) -> None:
        """A disposed case's record, timeline and audit (its movements are done)."""
        core = self.core
        case.parts = parts
        case.disposition = next(iter(parts)) if len(parts) == 1 else "split"
        case.disposed_at = now
        case.rule = rule.ref
        case.decided_by = who
        refurb = parts.get("refurbish", 0)
        if refurb:
            case.refurbish_pending = refurb
            case.refurbish_due_at = now + float(rule.get("refurbish_h", 0.0)) * HOUR
        else:
            case.resolved_at = now
        core.log.note(now, "return.disposed", case.subject)
        core.audit.record(
            now,
            "return.disposed",
            case.subject,
            _outcome(parts),
            rule=rule.ref,
            actor=who,
            reason=why,
        )

    def complete_refurbish(self, case_id: int, *, actor: str = "refurbishment") -> ReturnCase:
        """The refurbished units leave quarantine and become sellable (one explicit movement)."""
        case = self.get(case_id)
        if not case.refurbish_pending:
            raise InvalidTransition(f"{case.subject}: no units waiting for refurbishment")
        core = self.core
        now = core.clock.now()
        core.dispose(
            case.sku,
            case.location,
            case.refurbish_pending,
            "refurbish",
            event_id=f"{case.subject}:refurbish",
            actor=actor,
            reason=case.subject,
        )
        case.refurbish_pending = 0
        case.refurbished_at = now
        case.resolved_at = now
        core.log.note(now, "return.refurbished", case.subject)
        core.audit.record(
            now,
            "return.refurbished",
            case.subject,
            f"refurbish:{case.parts['refurbish']}",
            rule=case.rule,
            actor=actor,
        )
        return case

    # -- rules -------------------------------------------------------------------------
    def rule(self, at: float | None = None) -> RuleVersion:
        return self.core.rules.current(
            "disposition_rules", self.core.clock.now() if at is None else at
        )

    def decide(self, case: ReturnCase, rule: RuleVersion | None = None) -> str:
        """The disposition the rules give this inspected case (no side effects)."""
        return self._decide(case.sku, case.condition, rule if rule is not None else self.rule())

    def _decide(self, sku: int, condition: str, rule: RuleVersion) -> str:
        by_class = rule["conditions"].get(condition)
        if by_class is None:
            raise InvalidCommand(f"{rule.ref}: no disposition for condition {condition!r}")
        d = by_class.get(self._sku_class(sku), by_class.get("default"))
        if d not in DISPOSITIONS:
            raise InvalidCommand(
                f"{rule.ref}.conditions.{condition}: disposition must be one of"
                f" {', '.join(DISPOSITIONS)}, got {d!r}"
            )
        return d

    def _sku_class(self, sku: int) -> str:
        return self.core.catalog.skus[sku].sku_class

    # -- reading -----------------------------------------------------------------------
    def get(self, case_id: int) -> ReturnCase:
        if not isinstance(case_id, int) or not 0 <= case_id < len(self.cases):
            raise InvalidCommand(f"case_id: no return case {case_id!r}")
        return self.cases[case_id]

    def open_cases(self) -> list[ReturnCase]:
        return [c for c in self.cases if math.isnan(c.resolved_at)]

    def due_refurbishments(self, now: float | None = None) -> list[ReturnCase]:
        """Cases whose refurbishment time (from the rule) has run out by `now`."""
        t = self.core.clock.now() if now is None else now
        return [c for c in self.cases if c.refurbish_pending and c.refurbish_due_at <= t]

    def next_due(self) -> float | None:
        due = [c.refurbish_due_at for c in self.cases if c.refurbish_pending]
        return min(due) if due else None

    def quarantined_units(self) -> int:
        """Units of open cases still in quarantine (awaiting inspection or refurbishment)."""
        return sum(
            c.refurbish_pending if not math.isnan(c.disposed_at) else c.qty for c in self.cases
        )

    def returns_to_available_h(
        self, since: float = -math.inf, until: float = math.inf
    ) -> list[float]:
        """Hours from the customer's hand-over to every unit sellable again or disposed,
        per resolved case handed over in [`since`, `until`]."""
        return [
            (c.resolved_at - c.handed_over_at) / HOUR
            for c in self.cases
            if not math.isnan(c.resolved_at) and since <= c.handed_over_at <= until
        ]

    def returns_to_available_p50_h(self) -> float | None:
        """The KPI `returns_to_available_p50_h`; None when no case has been resolved."""
        hours = self.returns_to_available_h()
        return float(np.median(hours)) if hours else None


def _parts(disposition: str | Mapping[str, int], qty: int) -> dict[str, int]:
    raw = {disposition: qty} if isinstance(disposition, str) else dict(disposition)
    parts: dict[str, int] = {}
    for d, q in raw.items():
        name = d.replace("-", "_") if isinstance(d, str) else d
        if name not in DISPOSITIONS:
            raise InvalidCommand(
                f"disposition: must be one of {', '.join(DISPOSITIONS)}, got {d!r}"
            )
        if not isinstance(q, int) or isinstance(q, bool) or q <= 0:
            raise InvalidCommand(f"disposition.{name}: must be a whole number > 0, got {q!r}")
        parts[name] = parts.get(name, 0) + q
    total = sum(parts.values())
    if total != qty:
        raise InvalidCommand(f"disposition: parts sum to {total}, the case has {qty} units")
    return {d: parts[d] for d in DISPOSITIONS if d in parts}


def _outcome(parts: Mapping[str, int]) -> str:
    return ",".join(f"{d}:{q}" for d, q in parts.items())
