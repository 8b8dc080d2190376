"""Errors the core raises for a caller's mistake; each names the field and what was wrong."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base class: a request the core refuses, with a message fit for a user."""


class UnknownReference(OrchestratorError, KeyError):
    """A sku, location or channel code or id that the catalog does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidCommand(OrchestratorError, ValueError):
    """A command whose fields are out of range (negative quantity, unknown state...)."""


class IdempotencyConflict(OrchestratorError):
    """The same idempotency key was reused with a different request."""


class InvalidTransition(OrchestratorError):
    """A reservation or workflow asked to move to a state it cannot reach from here."""


class InvalidEvent(OrchestratorError, ValueError):
    """A canonical inventory event that fails its schema; `problems` lists field: reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
