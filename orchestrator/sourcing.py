"""Sourcing policies: which location fills each line of an online order, and why.

Every decision returns a trace listing each candidate location with whether it
was kept or dropped and the reason, so a planner can see why an order shipped
from where it did (explainable sourcing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import networkx as nx

from .catalog import Catalog, Location, LocationKind
from .errors import InvalidCommand

#: location kinds that ship online orders without being a store
FULFILMENT_KINDS = frozenset({LocationKind.DC, LocationKind.DARK_STORE, LocationKind.THREE_PL})


Ranked = tuple[int, Location, float, float]  # (rank among all, location, transit h, cost c)


class LaneNetwork:
    """Lanes between locations and customer zones on a directed networkx graph.

    Edges carry `transit_h` (hours) and `cost_cents` (per unit shipped). Shortest
    transit and cheapest cost from every location to a destination are computed
    once per destination and cached.
    """

    def __init__(self, catalog: Catalog, graph: nx.DiGraph | None = None) -> None:
        self.catalog = catalog
        self.graph = graph if graph is not None else nx.DiGraph()
        self._transit: dict[str, dict[str, float]] = {}
        self._cost: dict[str, dict[str, float]] = {}
        self._ranked: dict[str, list[Location]] = {}
        self._eligible: dict[tuple[str, Callable[[Location], str]], list[Ranked]] = {}

    def add_lane(self, origin: str, destination: str, transit_h: float, cost_cents: float) -> None:
        if transit_h < 0:
            raise InvalidCommand(f"lanes[{origin}->{destination}].transit_h: must be >= 0")
        if cost_cents < 0:
            raise InvalidCommand(f"lanes[{origin}->{destination}].cost_cents: must be >= 0")
        self.graph.add_edge(
            origin, destination, transit_h=float(transit_h), cost_cents=float(cost_cents)
        )
        self._transit.clear()
        self._cost.clear()
        self._ranked.clear()
        self._eligible.clear()

    def _dist(
        self, cache: dict[str, dict[str, float]], destination: str, weight: str
    ) -> dict[str, float]:
        d = cache.get(destination)
        if d is None:
            if destination not in self.graph:
                raise InvalidCommand(f"destination: no lane reaches {destination!r}")
            d = nx.single_source_dijkstra_path_length(
                self.graph.reverse(copy=False), destination, weight=weight
            )
            cache[destination] = d
        return d

    def ranked(self, destination: str) -> list[Location]:
        """Locations that reach `destination`, by shortest transit then id (cached)."""
        r = self._ranked.get(destination)
        if r is None:
            d = self._dist(self._transit, destination, "transit_h")
            locs = [loc for loc in self.catalog.locations if loc.code in d]
            r = self._ranked[destination] = sorted(locs, key=lambda loc: (d[loc.code], loc.id))
        return r

    def ranked_eligible(
        self, destination: str, eligible: Callable[[Location], str]
    ) -> list[Ranked]:
        """`ranked(destination)` less the locations `eligible` turns away (it names a reason),
        as (rank among all, location, transit h, cost c), cached per destination and rule.

        `eligible` must depend on the location alone, as every built-in policy's does.
        """
        key = (destination, eligible)
        r = self._eligible.get(key)
        if r is None:
            r = self._eligible[key] = [
                (n, loc, self.transit_h(loc, destination), self.cost_cents(loc, destination))
                for n, loc in enumerate(self.ranked(destination))
                if not eligible(loc)
            ]
        return r

    def transit_h(self, location: Location, destination: str) -> float:
        return self._dist(self._transit, destination, "transit_h").get(location.code, math.inf)

    def cost_cents(self, location: Location, destination: str) -> float:
        return self._dist(self._cost, destination, "cost_cents").get(location.code, math.inf)


@dataclass(slots=True, frozen=True)
class Demand:
    """Units of one sku an order needs sourced."""

    sku: int
    qty: int


@dataclass(slots=True, frozen=True)
class Candidate:
    location: str
    kept: bool
    reason: str
    promisable: int
    transit_h: float
    cost_cents: float


@dataclass(slots=True)
class SourcingTrace:
    """The decision for one demand: candidates considered and the location chosen (or None)."""

    sku: int
    qty: int
    chosen: int | None
    candidates: list[Candidate] = field(default_factory=list)
    note: str = ""

    def explain(self, catalog: Catalog) -> str:
        lines = [
            f"sku {catalog.skus[self.sku].code} x{self.qty}: "
            + (
                f"from {catalog.locations[self.chosen].code}"
                if self.chosen is not None
                else "unsourced"
            )
            + (f" ({self.note})" if self.note else "")
        ]
        for c in self.candidates:
            mark = "kept   " if c.kept else "dropped"
            lines.append(f"  {mark} {c.location}: {c.reason}")
        return "\n".join(lines)


@dataclass(slots=True)
class SourcingContext:
    """What a sourcing policy may look at for one order."""

    catalog: Catalog
    network: LaneNetwork
    destination: str
    promisable: Callable[[int, int], int]  # (sku, location) -> units this channel may promise


@runtime_checkable
class SourcingPolicy(Protocol):
    """Chooses a location for each demand of one order; returns one trace per demand."""

    name: str

    def source(self, demands: list[Demand], ctx: SourcingContext) -> list[SourcingTrace]: ...


def _evaluate(
    d: Demand,
    locations: Iterable[Location],
    ctx: SourcingContext,
    protection: Callable[[Location], int],
    eligible: Callable[[Location], str],
) -> tuple[list[Candidate], list[Candidate]]:
    """Candidates for one demand, split into (all, kept); `eligible` returns '' or a drop reason."""
    every: list[Candidate] = []
    kept: list[Candidate] = []
    for loc in locations:
        why = eligible(loc)
        if why:
            every.append(Candidate(loc.code, False, why, 0, math.inf, math.inf))
            continue
        t = ctx.network.transit_h(loc, ctx.destination)
        c = ctx.network.cost_cents(loc, ctx.destination)
        if math.isinf(t):
            every.append(Candidate(loc.code, False, "no lane to destination", 0, t, c))
            continue
        cand = _judge(d, ctx, loc, protection(loc), t, c)
        every.append(cand)
        if cand.kept:
            kept.append(cand)
    return every, kept


def _judge(
    d: Demand, ctx: SourcingContext, loc: Location, prot: int, t: float, c: float
) -> Candidate:
    """Whether `loc` can promise the demand above its protection, and why (one candidate)."""
    p = ctx.promisable(d.sku, loc.id)
    if p - prot < d.qty:
        reason = f"only {max(p, 0)} promisable, {d.qty} needed"
        if prot:
            reason += f" above store protection {prot}"
        return Candidate(loc.code, False, reason, p, t, c)
    return Candidate(
        loc.code, True, f"{p} promisable, transit {t:g} h, cost {c * d.qty:g}c", p, t, c
    )


def _first_feasible(
    d: Demand,
    ctx: SourcingContext,
    protection: Callable[[Location], int],
    eligible: Callable[[Location], str],
    why: str,
) -> SourcingTrace:
    """Walk locations by transit and stop at the first that can promise the demand.

    Chooses exactly what the full evaluation would (shortest transit, then id); the
    trace lists the candidates evaluated and says how many farther ones were not.
    """
    ranked = ctx.network.ranked(ctx.destination)
    every: list[Candidate] = []
    for n, loc, t, c in ctx.network.ranked_eligible(ctx.destination, eligible):
        cand = _judge(d, ctx, loc, protection(loc), t, c)
        every.append(cand)
        if not cand.kept:
            continue
        rest = len(ranked) - n - 1
        note = f"{why}: {loc.code}" + (f"; {rest} farther locations not evaluated" if rest else "")
        return SourcingTrace(d.sku, d.qty, loc.id, every, note)
    return SourcingTrace(d.sku, d.qty, None, every, "no location can promise it")


def _fulfilment_only(loc: Location) -> str:
    if loc.kind in FULFILMENT_KINDS:
        return ""
    return f"{loc.kind.value} does not ship online orders under this policy"


def _no_protection(loc: Location) -> int:
    return 0


class Nearest:
    """Ship from the fulfilment centre (DC, dark store, 3PL) with the shortest lane transit."""

    name = "nearest"

    def __init__(self, full_trace: bool = True) -> None:
        self.full_trace = full_trace

    def source(self, demands: list[Demand], ctx: SourcingContext) -> list[SourcingTrace]:
        if not self.full_trace:
            return [
                _first_feasible(d, ctx, _no_protection, _fulfilment_only, "shortest transit")
                for d in demands
            ]
        out = []
        for d in demands:
            every, kept = _evaluate(d, ctx.catalog.locations, ctx, _no_protection, _fulfilment_only)
            best = min(
                kept, key=lambda c: (c.transit_h, ctx.catalog.location(c.location)), default=None
            )
            out.append(_trace(d, every, best, ctx, "shortest transit"))
        return out


class ShipFromStore:
    """Nearest, but stores may ship too as long as they keep `store_protection` units."""

    name = "ship-from-store"

    def __init__(self, store_protection: int = 2, full_trace: bool = True) -> None:
        if store_protection < 0:
            raise InvalidCommand(f"store_protection: must be >= 0, got {store_protection}")
        self.store_protection = store_protection
        self.full_trace = full_trace

    def _eligible(self, loc: Location) -> str:
        return "" if loc.kind in FULFILMENT_KINDS or loc.is_store else _fulfilment_only(loc)

    def _protection(self, loc: Location) -> int:
        return self.store_protection if loc.is_store else 0

    def source(self, demands: list[Demand], ctx: SourcingContext) -> list[SourcingTrace]:
        if not self.full_trace:
            return [
                _first_feasible(d, ctx, self._protection, self._eligible, "shortest transit")
                for d in demands
            ]
        out = []
        for d in demands:
            every, kept = _evaluate(d, ctx.catalog.locations, ctx, self._protection, self._eligible)
            best = min(
                kept, key=lambda c: (c.transit_h, ctx.catalog.location(c.location)), default=None
            )
            out.append(_trace(d, every, best, ctx, "shortest transit"))
        return out


class Cost:
    """Minimise shipping cost plus a penalty for each extra parcel when an order splits.

    Compares the cheapest single location that can fill every line with the
    cheapest location per line plus `split_penalty_cents` per extra location.
    """

    name = "cost"

    def __init__(
        self,
        split_penalty_cents: float = 500.0,
        allow_stores: bool = True,
        store_protection: int = 2,
    ) -> None:
        if split_penalty_cents < 0:
            raise InvalidCommand(f"split_penalty_cents: must be >= 0, got {split_penalty_cents}")
        if store_protection < 0:
            raise InvalidCommand(f"store_protection: must be >= 0, got {store_protection}")
        self.split_penalty_cents = split_penalty_cents
        self.allow_stores = allow_stores
        self.store_protection = store_protection

    def _eligible(self, loc: Location) -> str:
        if loc.kind in FULFILMENT_KINDS or (self.allow_stores and loc.is_store):
            return ""
        return _fulfilment_only(loc)

    def _protection(self, loc: Location) -> int:
        return self.store_protection if loc.is_store else 0

    def source(self, demands: list[Demand], ctx: SourcingContext) -> list[SourcingTrace]:
        evals = [
            _evaluate(d, ctx.catalog.locations, ctx, self._protection, self._eligible)
            for d in demands
        ]
        # cheapest per line
        per_line = []
        for d, (_every, kept) in zip(demands, evals, strict=True):
            best = min(
                kept, key=lambda c: (c.cost_cents * d.qty, c.transit_h, c.location), default=None
            )
            per_line.append(best)
        split_locs = {c.location for c in per_line if c is not None}
        split_cost = sum(c.cost_cents * d.qty for c, d in zip(per_line, demands, strict=True) if c)
        split_cost += self.split_penalty_cents * max(len(split_locs) - 1, 0)
        # cheapest single location that fills every line
        common: dict[str, float] | None = None
        for d, (_every, kept) in zip(demands, evals, strict=True):
            here = {c.location: c.cost_cents * d.qty for c in kept}
            if common is None:
                common = here
            else:
                common = {k: v + here[k] for k, v in common.items() if k in here}
        single = None
        if common:
            single = min(common.items(), key=lambda kv: (kv[1], kv[0]))
        fully_split = all(c is not None for c in per_line)
        if single is not None and (not fully_split or single[1] <= split_cost):
            note = f"one parcel from {single[0]}: {single[1]:g}c vs split {split_cost:g}c"
            chosen_codes = [single[0]] * len(demands)
        else:
            note = f"split over {len(split_locs)} locations: {split_cost:g}c incl. penalties"
            chosen_codes = [c.location if c else None for c in per_line]
        out = []
        for d, (every, _kept), code in zip(demands, evals, chosen_codes, strict=True):
            chosen = ctx.catalog.location(code) if code is not None else None
            out.append(
                SourcingTrace(
                    d.sku,
                    d.qty,
                    chosen,
                    every,
                    note if chosen is not None else "no location can promise it",
                )
            )
        return out


def _trace(
    d: Demand, every: list[Candidate], best: Candidate | None, ctx: SourcingContext, why: str
) -> SourcingTrace:
    if best is None:
        return SourcingTrace(d.sku, d.qty, None, every, "no location can promise it")
    return SourcingTrace(
        d.sku, d.qty, ctx.catalog.location(best.location), every, f"{why}: {best.location}"
    )


SOURCING_POLICIES: dict[str, type] = {
    "nearest": Nearest,
    "ship-from-store": ShipFromStore,
    "cost": Cost,
}
