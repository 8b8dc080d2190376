"""Physical truth: what is really on the shelves, in trucks, in quarantine and owed to
waiting customers, apart from what the core's ledger believes.

`PhysicalStock` is the only writer of these arrays. Each change is a named physical
event (a sale, a pick, a dispatch, a receipt, shrink, a disposition ...) that also
keeps the running totals the time averages read and the per-sku flows of the
conservation identity, so neither can drift from the arrays. Everyone else reads
the arrays through read-only views.

Where a physical event differs from what the system is told (shrink nobody found, a
miscounted delivery, a miscount at a cycle count, a record wrong from the start, units
shipped that the shelf lacked) it is recorded as an error source at its (sku,
location): once every fact has reached the core, system minus physical on-hand is the
sum of these sources (`unexplained` lists every position where it is not).
"""

from __future__ import annotations

import numpy as np

#: the recorded sources of a gap between system and physical on-hand, each [sku, location]:
#: what the system will believe beyond the shelf once it has heard every fact
ERROR_SOURCES = (
    "initial",  # record errors at the start: the shelves differ from what was booked
    "shrink",  # shrink nobody found (the found share is written off through the tills)
    "receiving",  # deliveries miscounted at a store, and the extra unit taken from the DC
    "count",  # a count's correction of the recorded gap, and its own miscount
    "shipped_short",  # units the system shipped that the shelf lacked: the gap moves on
)


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


class PhysicalStock:
    """Units on shelves [sku, location], in transit [sku], in quarantine [sku, location] and
    owed to waiting walk-in customers [sku, location]; stores are locations 0..n_store−1.

    Flows per sku since the start (`opening`, `received`, `sold`, `shipped`, `scrapped`,
    `shrink`) balance the arrays: opening + received = sold + shipped + scrapped + shrink
    + on shelves + in quarantine + in transit (`conservation_problems`).
    """

    def __init__(self, n_sku: int, n_loc: int, n_store: int) -> None:
        self.n_store = n_store
        self._shelf = np.zeros((n_sku, n_loc), dtype=np.int64)
        self._quarantine = np.zeros((n_sku, n_loc), dtype=np.int64)
        self._transit = np.zeros(n_sku, dtype=np.int64)
        self._waiting = np.zeros((n_sku, n_loc), dtype=np.int64)  # backorders, physically
        self._flows = {
            name: np.zeros(n_sku, dtype=np.int64)
            for name in ("opening", "received", "sold", "shipped", "scrapped", "shrink")
        }
        self.shelf = _read_only(self._shelf)
        self.quarantine = _read_only(self._quarantine)
        self.transit = _read_only(self._transit)
        self.waiting = _read_only(self._waiting)
        self.opening, self.received, self.sold, self.shipped, self.scrapped, self.shrink = (
            _read_only(a) for a in self._flows.values()
        )
        self.store_units = 0  # units on store shelves: the time averages' on-hand
        self.waiting_units = 0  # customers' units waiting at stores: their backorders
        # expected system − physical on-hand [sku, location], by source (ERROR_SOURCES)
        self._errors = {name: np.zeros((n_sku, n_loc), dtype=np.int64) for name in ERROR_SOURCES}
        self.errors = {name: _read_only(a) for name, a in self._errors.items()}
        # counts that found a gap the recorded sources do not explain: (sku, location,
        # system − physical then, recorded gap then)
        self.counts_unexplained: list[tuple[int, int, int, int]] = []

    def _shelve(self, loc: int, units: int) -> None:
        if loc < self.n_store:
            self.store_units += units

    # -- opening -------------------------------------------------------------------------
    def open_location(self, loc: int, skus: np.ndarray, qty: np.ndarray) -> None:
        """Opening stock of one location: `qty[k]` units of each sku k of `skus`."""
        self._shelf[skus, loc] = qty[skus]
        self._shelve(loc, int(qty[skus].sum()))

    def count_opening(self) -> None:
        """Every shelf as it opened is the opening of the conservation identity."""
        self._flows["opening"] += self._shelf.sum(axis=1)

    def misrecord(self, delta: np.ndarray) -> None:
        """Initial record errors: store shelves [sku, store] differ from what was booked
        by `delta` (never below zero); the shelves, not the books, are the opening."""
        delta = np.maximum(delta, -self._shelf[:, : self.n_store])
        self._shelf[:, : self.n_store] += delta
        self._flows["opening"] += delta.sum(axis=1)
        self.store_units += int(delta.sum())
        self._errors["initial"][:, : self.n_store] -= delta

    # -- walk-in customers ---------------------------------------------------------------
    def sell(self, k: np.ndarray, s: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Walk-ins at cells (sku k[i], store s[i]), each cell once, take what the shelf has;
        returns the units served per cell."""
        served = np.minimum(counts, self._shelf[k, s])
        self.store_units -= int(served.sum())
        self._shelf[k, s] -= served
        np.add.at(self._flows["sold"], k, served)
        return served

    def keep_waiting(self, k: np.ndarray, s: np.ndarray, unmet: np.ndarray) -> None:
        """Customers not served wait for stock (backorders) at cells (k[i], s[i])."""
        self._waiting[k, s] += unmet
        self.waiting_units += int(unmet.sum())

    def serve_waiting(self, k: int, loc: int) -> int:
        """Waiting customers of sku k at a store take what reached its shelf; the units."""
        take = int(min(self._waiting[k, loc], self._shelf[k, loc]))
        if take:
            self._waiting[k, loc] -= take
            self._shelf[k, loc] -= take
            self.waiting_units -= take
            self.store_units -= take
            self._flows["sold"][k] += take
        return take

    # -- online orders -------------------------------------------------------------------
    def pick(self, k: int, loc: int, qty: int) -> int:
        """Pick up to `qty` units of sku k for a customer; returns the units found."""
        found = int(min(qty, self._shelf[k, loc]))
        self._shelf[k, loc] -= found
        self._shelve(loc, -found)
        self._flows["shipped"][k] += found
        return found

    # -- moving stock between locations --------------------------------------------------
    def dispatch(
        self, skus: np.ndarray, loc: int, qty: np.ndarray, booked: np.ndarray | None = None
    ) -> None:
        """Units leave a location's shelf onto a truck (each sku once); `booked`: the units
        the system ships (default `qty`), more when the shelf lacked some."""
        self._shelf[skus, loc] -= qty
        self._shelve(loc, -int(qty.sum()))
        self._transit[skus] += qty
        if booked is not None:
            self._errors["shipped_short"][skus, loc] -= booked - qty

    def unload(self, skus: np.ndarray, qty: np.ndarray) -> None:
        """Units come off a truck (each sku once); `shelve_delivery` puts them away."""
        self._transit[skus] -= qty

    def lose_in_receiving(self, k: int, units: int) -> None:
        """Units a store's receiving never put on the shelf (a miscounted delivery)."""
        self._flows["shrink"][k] += units

    def take_extra(self, k: int, loc: int) -> bool:
        """An extra unit picked by mistake at a site rides along, if the site had one (the
        site's system still counts it: a receiving error at the site)."""
        if self._shelf[k, loc] > 0:
            self._shelf[k, loc] -= 1
            self._shelve(loc, -1)
            self._errors["receiving"][k, loc] += 1
            return True
        return False

    def shelve_delivery(
        self,
        skus: np.ndarray,
        loc: int,
        qty: np.ndarray,
        booked: np.ndarray | None = None,
        sent: np.ndarray | None = None,
    ) -> None:
        """Units of a delivery go onto a location's shelf (each sku once). The system books
        `booked` units (default `qty`) of which `sent` (default `booked`) left the source's
        shelf: booked − sent were shipped short, sent − qty were miscounted at receiving."""
        self._shelf[skus, loc] += qty
        self._shelve(loc, int(qty.sum()))
        if booked is not None:
            sent = booked if sent is None else sent
            self._errors["shipped_short"][skus, loc] += booked - sent
            self._errors["receiving"][skus, loc] += sent - qty

    def send(self, k: int, loc: int, qty: int) -> int:
        """A transfer of `qty` units (as the system ships it) leaves: what the shelf has goes
        onto a truck, the rest was never there (the destination books only what arrives,
        the system writes the rest off in transit); returns the units sent."""
        sent = int(min(qty, self._shelf[k, loc]))
        self._shelf[k, loc] -= sent
        self._shelve(loc, -sent)
        self._transit[k] += sent
        self._errors["shipped_short"][k, loc] -= qty - sent
        return sent

    def arrive(self, k: int, loc: int, qty: int) -> None:
        """A transfer arrives: units off the truck onto the destination's shelf."""
        self._transit[k] -= qty
        self._shelf[k, loc] += qty
        self._shelve(loc, qty)

    def receive(self, k: int, loc: int, qty: int) -> None:
        """A supplier's delivery onto a location's shelf."""
        self._shelf[k, loc] += qty
        self._shelve(loc, qty)
        self._flows["received"][k] += qty

    # -- shrink and returns --------------------------------------------------------------
    def lose_from_stores(self, loss: np.ndarray, found: np.ndarray | None = None) -> None:
        """Shrink: units [sku, store] gone from store shelves (theft, damage, paperwork), of
        which `found` are written off through the tills; the rest the system never hears of."""
        self._shelf[:, : self.n_store] -= loss
        self.store_units -= int(loss.sum())
        self._flows["shrink"] += loss.sum(axis=1)
        self._errors["shrink"][:, : self.n_store] += loss if found is None else loss - found

    # -- counts --------------------------------------------------------------------------
    def counted(self, k: int, loc: int, counted: int, system: int) -> None:
        """A count at the shelf found `counted` units where the system held `system`, and
        the system takes the count: the gap recorded so far is corrected and the count's own
        miss is the new gap.

        A count waits until every fact of its position has reached the system, so the
        system's figure must then differ from the shelf by exactly the recorded gap; a count
        that finds otherwise (facts still in flight, or an unrecorded change) is kept for
        `unexplained`: the count would bury the difference, or apply it twice."""
        self.counted_many(np.array([k]), np.array([loc]), np.array([counted]), np.array([system]))

    def counted_many(
        self, k: np.ndarray, loc: np.ndarray, counted: np.ndarray, system: np.ndarray
    ) -> None:
        """`counted` for many positions at once (each once), in numpy."""
        shelf = self._shelf[k, loc]
        gap = sum(e[k, loc] for e in self._errors.values())
        odd = np.flatnonzero(system - shelf != gap)
        for i in odd.tolist():
            self.counts_unexplained.append(
                (int(k[i]), int(loc[i]), int(system[i] - shelf[i]), int(gap[i]))
            )
        self._errors["count"][k, loc] += counted - shelf - gap

    def quarantine_return(self, k: int, loc: int, qty: int) -> None:
        """A customer's return waits in quarantine at a location until it is inspected."""
        self._quarantine[k, loc] += qty
        self._flows["received"][k] += qty

    def quarantine_store_returns(self, arriving: np.ndarray) -> None:
        """A day's in-store returns [sku, store] wait in the stores' quarantine."""
        self._quarantine[:, : self.n_store] += arriving
        self._flows["received"] += arriving.sum(axis=1)

    def release(self, k: int, loc: int, qty: int, *, sellable: bool) -> None:
        """Units leave quarantine: back on the shelf if sellable, else scrapped (or sent
        back to the vendor, liquidated: out of the network either way)."""
        self._quarantine[k, loc] -= qty
        if sellable:
            self._shelf[k, loc] += qty
            self._shelve(loc, qty)
        else:
            self._flows["scrapped"][k] += qty

    # -- checks --------------------------------------------------------------------------
    def expected_gap(self) -> np.ndarray:
        """System minus physical on-hand [sku, location] that the recorded sources explain."""
        return sum(self._errors.values(), np.zeros_like(self._shelf))

    def unexplained(
        self,
        on_hand: np.ndarray,
        quarantined: np.ndarray,
        in_transit: np.ndarray,
        sku_codes: list[str],
        loc_codes: list[str],
    ) -> list[str]:
        """Positions where the system's stock [sku, location] (after every fact reached it)
        differs from the physical stock by more than the recorded error sources explain:
        on-hand by the sources, quarantine not at all, and in transit per sku; and every
        count that found an unexplained gap on its position. Empty when every gap is
        explained."""
        n_loc = self._shelf.shape[1]
        on_hand, quarantined = on_hand[:, :n_loc], quarantined[:, :n_loc]
        explained = self.expected_gap()
        off = on_hand - self._shelf - explained
        problems = []
        for k, loc in zip(*np.nonzero(off), strict=True):
            k, loc = int(k), int(loc)
            sources = ", ".join(
                f"{name} {int(a[k, loc]):+d}" for name, a in self._errors.items() if a[k, loc]
            )
            problems.append(
                f"sku {sku_codes[k]} at {loc_codes[loc]}: system {int(on_hand[k, loc])} −"
                f" physical {int(self._shelf[k, loc])} ="
                f" {int(on_hand[k, loc] - self._shelf[k, loc]):+d}, recorded sources explain"
                f" {int(explained[k, loc]):+d}" + (f" ({sources})" if sources else "")
            )
        for k, loc in zip(*np.nonzero(quarantined != self._quarantine), strict=True):
            problems.append(
                f"sku {sku_codes[k]} at {loc_codes[loc]}: {int(quarantined[k, loc])} in"
                f" quarantine in the system, {int(self._quarantine[k, loc])} physically"
            )
        for k, loc, seen, gap in self.counts_unexplained:
            problems.append(
                f"sku {sku_codes[k]} at {loc_codes[loc]}: a count found system − physical ="
                f" {seen:+d} where the recorded sources explain {gap:+d} (facts not yet"
                " applied, or an unrecorded change)"
            )
        transit = in_transit.sum(axis=1)
        for k in np.flatnonzero(transit != self._transit).tolist():
            problems.append(
                f"sku {sku_codes[k]}: {int(transit[k])} in transit in the system,"
                f" {int(self._transit[k])} physically"
            )
        return problems

    def conservation_problems(self, sku_codes: list[str]) -> list[str]:
        """Per sku: opening + received = sold + shipped + scrapped + shrink + closing +
        in transit; and nothing below zero. Empty when physical stock is sound."""
        f = self._flows
        closing = self._shelf.sum(axis=1) + self._quarantine.sum(axis=1)
        lhs = f["opening"] + f["received"]
        rhs = f["sold"] + f["shipped"] + f["scrapped"] + f["shrink"] + closing + self._transit
        bad = np.nonzero(lhs != rhs)[0]
        problems = [
            f"physical units not conserved for sku {sku_codes[k]}:"
            f" {int(lhs[k])} in vs {int(rhs[k])} out+closing"
            for k in bad[:10]
        ]
        if (self._shelf < 0).any() or (self._quarantine < 0).any():
            problems.append("physical stock went negative")
        return problems
