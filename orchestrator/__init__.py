"""omnitwin's orchestration core: inventory truth and the workflows around it.

Pure Python (stdlib, numpy, networkx): no simulation, web or database code, so the
same core runs inside the twin and behind a retailer's integration layer.
"""

from .allocation import ALLOCATION_POLICIES, AllocationPolicy, Buffered, Pooled, Siloed
from .anomaly import ActionGate, CountRecommendation, recommend_cycle_counts
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
from .gl import (
    ACCOUNT_NAMES,
    MISMATCH_KINDS,
    Account,
    Difference,
    Fate,
    GeneralLedger,
    JournalEntry,
    Mismatch,
    PostingPath,
)
from .governance import AuditTrail, Decision, RuleBook, RuleVersion, default_rules
from .ledger import Disposition, Movement, MovementKind, Position, StockLedger
from .replenishment import (
    REPLENISHMENT_POLICIES,
    RQ,
    RS,
    SS,
    BaseStock,
    InventoryPosition,
    ProcurementWorkflow,
    PurchaseOrder,
    ReplenishmentPolicy,
    Supplier,
)
from .reservations import Reservation, ReservationState
from .returns import ReturnCase, ReturnsWorkflow
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
from .transfers import Transfer, TransferProposal, TransferState, TransferWorkflow

__all__ = [
    "ACCOUNT_NAMES",
    "ALLOCATION_POLICIES",
    "DAY",
    "EXCEPTION_KINDS",
    "HOUR",
    "MISMATCH_KINDS",
    "REPLENISHMENT_POLICIES",
    "RQ",
    "RS",
    "SOURCING_POLICIES",
    "SS",
    "Account",
    "ActionGate",
    "AllocationPolicy",
    "AuditTrail",
    "BaseStock",
    "Buffered",
    "BusCounters",
    "Candidate",
    "Catalog",
    "Channel",
    "ChannelKind",
    "Clock",
    "Cost",
    "CountRecommendation",
    "DeadLetter",
    "Decision",
    "Demand",
    "Difference",
    "Disposition",
    "EventKind",
    "EventLog",
    "ExceptionQueue",
    "Fate",
    "GeneralLedger",
    "IdempotencyConflict",
    "InvalidCommand",
    "InvalidEvent",
    "InvalidTransition",
    "InventoryEvent",
    "InventoryPosition",
    "JournalEntry",
    "LaneNetwork",
    "LineResult",
    "Location",
    "LocationKind",
    "ManualClock",
    "MessageBus",
    "Mismatch",
    "Movement",
    "MovementKind",
    "Nearest",
    "OpsException",
    "Orchestrator",
    "OrchestratorError",
    "OrderLine",
    "Pooled",
    "Position",
    "PostingPath",
    "ProcurementWorkflow",
    "Publisher",
    "PurchaseOrder",
    "ReplenishmentPolicy",
    "Reservation",
    "ReservationResult",
    "ReservationState",
    "ReturnCase",
    "ReturnsWorkflow",
    "RuleBook",
    "RuleVersion",
    "ShipFromStore",
    "Siloed",
    "Sku",
    "SourcingContext",
    "SourcingPolicy",
    "SourcingTrace",
    "StockLedger",
    "Supplier",
    "Transfer",
    "TransferProposal",
    "TransferState",
    "TransferWorkflow",
    "UnknownReference",
    "WallClock",
    "default_rules",
    "recommend_cycle_counts",
]
