"""The digital twin: a SimPy model of the physical and human side of a retail network
driving the real orchestration core.

SimPy's `Environment` is the one clock (in hours); the network is a `mesa.Model`.
`RetailTwin` builds the network, the core and the agents (`twin.agents`: stores,
channels, fulfilment sites, suppliers, carrier, returns centre, people, middleware),
wires them, starts them and runs to the horizon and through the drain. Each agent
starts its own SimPy processes. Physical stock (what is really on the shelf, in
trucks, in quarantine) lives in `PhysicalStock`; system stock lives in the
orchestrator, which learns of the physical world only through events and commands,
as it would live.
"""

from __future__ import annotations

from collections.abc import Callable

import mesa
import numpy as np
import simpy

from orchestrator import (
    SOURCING_POLICIES,
    AllocationPolicy,
    GeneralLedger,
    InventoryEvent,
    MovementKind,
    Orchestrator,
    ProcurementWorkflow,
    ReturnsWorkflow,
    SourcingPolicy,
    Supplier,
    TransferWorkflow,
)
from orchestrator.clock import HOUR
from orchestrator.envelope import Envelope
from orchestrator.errors import InvalidCommand, InvalidTransition
from scenarios.policies import ResolvedPolicy, allocation_for
from scenarios.schema import Scenario

from .agents.carrier import CarrierAgent
from .agents.channel import ChannelAgent, OrderBook
from .agents.middleware import ErpPath, Middleware
from .agents.people import ApproverAgent, FinanceAgent, InventoryControlAgent, PlannerAgent
from .agents.returns import ReturnsCentreAgent
from .agents.site import FulfilmentSites, OrderPicking
from .agents.store import Stores
from .agents.supplier import Suppliers
from .clock import SimClock, daily
from .data.demand import (
    PackageOnlineDemand,
    PackageWalkIns,
    ReplayOnlineDemand,
    ReplayWalkIns,
)
from .data.network import build_package_network
from .demand import BatchWalkIns, Calendar, CustomerWalkIns, OnlineDemand, WalkIns
from .faults import Faults, OutageWindows
from .metrics import Metrics
from .network import RetailNetwork, build
from .operating import operating_model, plug_in
from .physical import PhysicalStock
from .rand import Streams

DRAIN_DAYS = 30  # after the horizon, flows in flight settle for up to this long


class RetailTwin(mesa.Model):
    """One replication of one scenario under one policy: the network, the core, the agents
    and their wiring."""

    def __init__(
        self,
        scenario: Scenario,
        policy: ResolvedPolicy,
        seed: int,
        progress: Callable[[float], None] | None = None,
        *,
        allocation: AllocationPolicy | None = None,
        sourcing: SourcingPolicy | None = None,
    ) -> None:
        """`allocation` / `sourcing`: policy objects of your own instead of the named ones."""
        super().__init__(seed=seed)
        self.scenario = scenario
        self.policy = plug_in(policy, allocation, sourcing)
        self.seed_value = seed
        self.progress = progress
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        builder = build_package_network if scenario.network.package is not None else build
        self.network: RetailNetwork = builder(scenario, self.streams.network)
        self.timetable = scenario.timetable  # when each daily job runs
        self.horizon_h = scenario.horizon_days * 24.0
        self.warmup_h = scenario.warmup_days * 24.0  # measurements start after the warm-up
        net = self.network
        self.calendar = Calendar(scenario)
        self.physical = PhysicalStock(net.n_sku, net.n_loc, net.n_store)
        self.metrics = Metrics(self.env, self.physical, scenario.horizon_days, scenario.warmup_days)
        self._build_core(allocation, sourcing)
        self.metrics.margin_cents = np.array(
            [max(0, k.price_cents - k.std_cost_cents) for k in self.core.catalog.skus],
            dtype=np.int64,
        )
        self._build_agents()
        self.core.bus.subscribe(self.stores.applied)  # events applied by any path
        self.core.bus.subscribe_envelopes(self.stores.applied_envelope)
        self._open()
        self.datacollector = self.metrics.collector(self.core)
        self._start()

    # -- construction ------------------------------------------------------------------
    def _build_core(
        self, allocation: AllocationPolicy | None, sourcing: SourcingPolicy | None
    ) -> None:
        """The orchestration core with the policy's allocation, sourcing, GL posting and
        approval rules, and its procurement, transfer and returns workflows."""
        policy, faults = self.policy, self.scenario.faults
        path = ErpPath(
            faults,
            self.streams.erp,
            OutageWindows.of(faults.middleware_outages),
            OutageWindows.of(faults.erp_outages),
        )
        approve = policy.auto_approve_adjustments_cents
        if policy.posting_mode == "batch":
            gl = GeneralLedger(
                mode="batch",
                nightly_at_h=self.timetable.erp_posting_h,
                path=path,
                auto_approve_max_cents=approve,
            )
        else:
            gl = GeneralLedger(path=path, auto_approve_max_cents=approve)
        if allocation is None:
            allocation = allocation_for(policy, self.scenario.channels)
        if sourcing is None:
            lean = {"full_trace": False} if policy.sourcing != "cost" else {}
            sourcing = SOURCING_POLICIES[policy.sourcing](**{**lean, **policy.sourcing_params})
        self.clock = SimClock(self.env)
        self.core = Orchestrator(
            self.network.catalog,
            self.clock,
            allocation=allocation,
            sourcing=sourcing,
            network=self.network.lanes,
            gl=gl,
            bus_hold_timeout_s=3600.0,
        )
        params = dict(self.core.rules.current("transfer_approval", 0).params)
        params.update(
            auto_max_units=policy.transfer_auto_max_units,
            auto_max_value_cents=policy.transfer_auto_max_value_cents,
        )
        if policy.approval_mode == "email":  # every transfer waits for a person
            params.update(auto_max_units=0, auto_max_value_cents=0)
        self.core.rules.publish(
            "transfer_approval",
            params,
            effective_from=0.0,
            author="scenario",
            note=f"approval mode {policy.approval_mode}",
        )
        suppliers = [
            Supplier(
                s.code,
                s.lead_time_days.mean,
                s.on_time_in_full,
                tuple(s.alternates),
                can_expedite=s.can_expedite,
                price_factor=s.price_factor,
            )
            for s in self.scenario.network.suppliers
        ]
        self.procurement = ProcurementWorkflow(
            self.core,
            suppliers,
            backorders=lambda s, loc: int(self.stores.backorders[s, loc]),
            daily_demand=lambda s, loc: float(self.network.daily_rate(s, loc)),
        )
        self.transfers = TransferWorkflow(self.core)
        self.returns = ReturnsWorkflow(self.core)

    def _build_agents(self) -> None:
        """Every actor, with the strategies of the operating model."""
        net, scenario = self.network, self.scenario
        ops = operating_model(self)
        self.store_review = ops.store_review
        self.middleware = Middleware(self, OutageWindows.of(scenario.faults.middleware_outages))
        self.stores = Stores(self, ops.till_sync, ops.receipts, ops.unmet)
        self.sites = FulfilmentSites(self)
        online_sites = [net.n_store + j for j, s in enumerate(net.sites) if s.ships_online]
        # the locations that ship online orders: stores too when sourcing may ship from them
        ship_locations = online_sites + (
            list(range(net.n_store)) if self.policy.sourcing != "nearest" else []
        )
        self.channels = [
            ChannelAgent(
                self, spec, net.catalog.channel(spec.code), ops.reservation(spec), ship_locations
            )
            for spec in scenario.channels
        ]
        self.suppliers = Suppliers(self)
        self.carrier = CarrierAgent(self)
        self.returns_centre = ReturnsCentreAgent(self, ops.returns_desk)
        self.approver = ApproverAgent(self)
        self.planner = PlannerAgent(self)
        self.finance = FinanceAgent(self)
        self.inventory_control = InventoryControlAgent(self, ops.counts)
        self.orders = OrderBook(self)
        self.picking = OrderPicking(self)
        mode, package = scenario.demand.mode, scenario.network.package is not None
        online: type[OnlineDemand] = OnlineDemand
        walk_ins: type[WalkIns] = BatchWalkIns if mode == "batch" else CustomerWalkIns
        if package:
            replay = mode == "replay"
            online = ReplayOnlineDemand if replay else PackageOnlineDemand
            walk_ins = ReplayWalkIns if replay else PackageWalkIns
        self.online_demand = online(self)
        self.walk_ins = walk_ins(self)
        self.faults = Faults(self)

    def _open(self) -> None:
        """Opening balances: stores at order-up-to (or `initial_units`), sites at their cover
        (or `initial_units`), or a data package's stock snapshot; then what the snapshot has
        on order, and the stores' initial record errors."""
        net, replenishment = self.network, self.policy.replenishment
        stores = self.stores
        store_units = self.scenario.network.stores.initial_units  # None: open at order-up-to
        for i in range(net.n_store):
            s, S = net.reorder_levels(replenishment, i)
            stores.reorder_point[:, i], stores.order_up_to[:, i] = s, S
            qty = S if store_units is None else np.full(net.n_sku, store_units, dtype=np.int64)
            if net.opening is not None:
                qty = net.opening[:, i].copy()
            self._open_location(i, qty)
        for site in self.sites:
            s, S = net.reorder_levels(replenishment, site.loc)
            site.reorder_point, site.order_up_to = s, S
            if net.opening is not None:
                init = net.opening[:, site.loc].copy()
            elif site.spec.initial_units is not None:
                init = np.full(net.n_sku, site.spec.initial_units, dtype=np.int64)
            else:
                init = np.ceil(site.spec.initial_cover_days * net.daily_rates(site.loc))
                init = init.astype(np.int64)
            self._open_location(site.loc, init)
        self.physical.count_opening()
        if net.on_order is not None and net.sku_supplier is not None:
            for k, loc in zip(*np.nonzero(net.on_order), strict=True):
                po = self.procurement.raise_po(
                    int(k), int(loc), int(net.on_order[k, loc]), supplier=net.sku_supplier[k]
                )
                self.suppliers.ship(po)
        safety = self.policy.safety_stock_units
        if safety:  # units of every stocked position no channel may promise
            for k, loc in list(self.core.ledger.positions):
                self.core.set_safety_buffer(k, loc, safety)
        errors = self.scenario.physical
        if errors.initial_record_error_share > 0 and net.n_store:
            rng = self.streams.network
            shape = (net.n_sku, net.n_store)
            wrong = rng.random(shape) < errors.initial_record_error_share
            size = rng.integers(1, errors.record_error_units + 1, shape)
            sign = np.where(rng.random(shape) < 0.5, -1, 1)
            self.physical.misrecord(np.where(wrong, sign * size, 0))

    def _open_location(self, loc: int, qty: np.ndarray) -> None:
        """One opening-balance event for a location: every sku it stocks, as lines."""
        skus = np.flatnonzero(qty)
        if skus.size:
            self.core.move_lines(
                MovementKind.OPENING,
                loc,
                skus.tolist(),
                qty[skus].tolist(),
                event_id=f"open:{loc}",
                actor="migration",
            )
            self.physical.open_location(loc, skus, qty)

    def _start(self) -> None:
        """Every actor starts its processes; this order decides who goes first when two
        things happen at the same moment, so it is part of the model."""
        self.stores.start()  # tills on a sync timer
        self.walk_ins.start()
        for channel in self.channels:
            channel.start()  # orders; own feeds and imports
        self.middleware.start()  # the core's timers
        self.env.process(daily(self.env, self.timetable.nightly_h, self.horizon_h, self.step))
        self.store_review.start()
        self.sites.start()  # site reviews
        self.approver.start()
        self.finance.start()
        self.returns_centre.start()  # in-store returns; the inspection batch
        self.metrics.start()  # the end of the warm-up
        self.faults.start()  # ERP outages; replays after middleware outages

    # -- wiring ------------------------------------------------------------------------
    def deliver(self, ev: InventoryEvent | Envelope) -> None:
        """The middleware hands an event or an envelope to the core's bus (the integration
        boundary)."""
        self.core.bus.deliver_any(ev)

    def refused(self, command: Callable[[], object], subject: str) -> bool:
        """Run a command on the core; a refusal is a fact, not an error of the twin: it is
        recorded as a `refused_command` exception about `subject`. False if refused."""
        try:
            command()
        except (InvalidCommand, InvalidTransition) as exc:
            self.core.exceptions.raise_("refused_command", subject, str(exc))
            return False
        return True

    def step(self) -> None:
        """The model's daily step (Mesa's `step`) at the timetable's nightly hour: overdue
        purchase orders, shrink, cycle counts, balancing, the snapshot and the daily
        series, in that order."""
        self.procurement.poll()
        self.stores.shrink()
        self.inventory_control.cycle_counts(self.metrics.day_index)
        self.planner.balance()
        self.metrics.snapshot(self.core, self.network)
        self.datacollector.collect(self)
        self.metrics.next_day()
        if self.progress is not None:
            self.progress(min(1.0, self.env.now / self.horizon_h))

    # -- running -----------------------------------------------------------------------
    def run(self) -> None:
        """Run to the horizon, then let every flow in flight drain so nothing is lost."""
        self.env.run(until=self.horizon_h)
        self.metrics.accumulate()
        self._at_horizon()
        # drain: in-flight events, held/ retrying bus messages, dead letters, store buffers;
        # orders a channel already promised are still imported and served (or oversold)
        for store in self.stores:
            store.flush()
        self.middleware.flush_all()
        for channel in self.channels:
            channel.import_queue()
        self.env.run(until=self.horizon_h + 24.0 * DRAIN_DAYS)
        for store in self.stores:
            store.flush()
        self.middleware.flush_all()
        self.core.bus.drain()
        self.faults.replay_dead_letters()
        self.finance.settle()  # the books settled: after the horizon, not measured

    def _at_horizon(self) -> None:
        """Figures "at the end" of the run are taken at the horizon, before the drain."""
        exc = self.core.exceptions
        w = self.warmup_h * HOUR
        self.core.gl.settle(self.clock.now())  # the ERP's answers due by the horizon
        self.unposted_at_end = self.core.gl.unposted
        self.store_needs_open_h = self.stores.needs_open_h()
        self.exceptions_open_end = exc.open_count
        # the peak over the measured window: the backlog at the warm-up's end and after it
        self.exceptions_peak_end = exc.backlog(since=w)[0]
        now = self.clock.now()
        self.exception_ages_end_h = [e.age(now) / HOUR for e in exc.items if e.opened_at >= w]
        self.exceptions_by_kind = exc.by_kind(now, since=w)
