"""omnitwin's orchestration core: inventory truth and the workflows around it.

Pure Python (stdlib, numpy, networkx): no simulation, web or database code, so the
same core runs inside the twin and behind a retailer's integration layer.
"""

from .allocation import ALLOCATION_POLICIES, AllocationPolicy, Buffered, Pooled, Siloed
from .bus import BusCounters, DeadLetter, InventoryEvent, MessageBus, Publisher
from .catalog import Catalog, Channel, ChannelKind, Location, LocationKind, Sku
from .clock import DAY, HOUR, Clock, ManualClock, WallClock
from .core import LineResult, Orchestrator, OrderLine, ReservationResult
from .errors import (
    IdempotencyConflict,
    InvalidCommand,
    InvalidEvent,
    InvalidTransition,
    OrchestratorError,
    UnknownReference,
)
from .events import EventKind, EventLog
from .exceptions import EXCEPTION_KINDS, ExceptionQueue, OpsException
from .gl import ACCOUNT_NAMES, Account, Difference, GeneralLedger, JournalEntry
from .governance import AuditTrail, Decision, RuleBook, RuleVersion, default_rules
from .ledger import Disposition, Movement, MovementKind, Position, StockLedger
from .reservations import Reservation, ReservationState
from .sourcing import (
    SOURCING_POLICIES,
    Candidate,
    Cost,
    Demand,
    LaneNetwork,
    Nearest,
    ShipFromStore,
    SourcingContext,
    SourcingPolicy,
    SourcingTrace,
)

__all__ = [
    "ACCOUNT_NAMES",
    "ALLOCATION_POLICIES",
    "DAY",
    "EXCEPTION_KINDS",
    "HOUR",
    "SOURCING_POLICIES",
    "Account",
    "AllocationPolicy",
    "AuditTrail",
    "Buffered",
    "BusCounters",
    "Candidate",
    "Catalog",
    "Channel",
    "ChannelKind",
    "Clock",
    "Cost",
    "DeadLetter",
    "Decision",
    "Demand",
    "Difference",
    "Disposition",
    "EventKind",
    "EventLog",
    "ExceptionQueue",
    "GeneralLedger",
    "IdempotencyConflict",
    "InvalidCommand",
    "InvalidEvent",
    "InvalidTransition",
    "InventoryEvent",
    "JournalEntry",
    "LaneNetwork",
    "LineResult",
    "Location",
    "LocationKind",
    "ManualClock",
    "MessageBus",
    "Movement",
    "MovementKind",
    "Nearest",
    "OpsException",
    "Orchestrator",
    "OrchestratorError",
    "OrderLine",
    "Pooled",
    "Position",
    "Publisher",
    "Reservation",
    "ReservationResult",
    "ReservationState",
    "RuleBook",
    "RuleVersion",
    "ShipFromStore",
    "Siloed",
    "Sku",
    "SourcingContext",
    "SourcingPolicy",
    "SourcingTrace",
    "StockLedger",
    "UnknownReference",
    "WallClock",
    "default_rules",
]
