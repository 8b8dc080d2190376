"""The stock ledger: append-only movements and the balances derived from them.

Balances per (sku, location) are on-hand, in-transit (inbound to that location),
quarantined (returns awaiting inspection) and reserved. Only reservations change
`reserved`; everything else changes only through a `Movement`, so on-hand,
in-transit and quarantined can be rebuilt from the movement log alone.

Valuation is at **standard cost per sku** in integer cents: every unit of a sku
carries the same value wherever it is, receipts at another price put the
difference in purchase-price variance, and the GL reconciles to the cent.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, overload

import numpy as np

from .errors import InvalidCommand

if TYPE_CHECKING:
    from .envelope import Envelope


class MovementKind(IntEnum):
    OPENING = 0  # opening balance loaded into the system
    RECEIPT = 1  # goods received from a supplier
    SALE = 2  # sold at a store till (customer carried it out)
    SHIPMENT = 3  # shipped to an online customer (or handed over at pick-up)
    TRANSFER_OUT = 4  # left the source, now in transit to `counterparty`
    TRANSFER_IN = 5  # arrived from `counterparty` at the destination
    RETURN_IN = 6  # customer return into quarantine
    DISPOSITION = 7  # quarantine resolved; `disposition` says where it went
    ADJUSTMENT = 8  # signed correction from a count
    SHRINK = 9  # known loss written off (theft, damage)
    TRANSIT_LOSS = 10  # shipped by the source, never arrived at the destination


class Disposition(IntEnum):
    NONE = 0
    RESTOCK = 1
    REFURBISH = 2
    RETURN_TO_VENDOR = 3
    LIQUIDATE = 4
    SCRAP = 5


#: dispositions that put the units back into sellable stock
SELLABLE_DISPOSITIONS = frozenset({Disposition.RESTOCK, Disposition.REFURBISH})


@dataclass(slots=True, frozen=True)
class Movement:
    """One change of stock: who, what, where, when, how many and at what unit cost."""

    seq: int
    event_id: str
    kind: MovementKind
    sku: int
    location: int
    qty: int  # > 0, except ADJUSTMENT which is signed
    at: float  # when it happened (event time)
    recorded_at: float  # when the core learnt of it
    unit_cost_cents: int  # standard cost used to value it
    price_cents: int = 0  # receipts: unit price paid (purchase-price variance)
    counterparty: int = -1  # transfers: the other location
    disposition: Disposition = Disposition.NONE
    reason: str = ""
    actor: str = ""  # who or what changed the stock (audit trail)

    @property
    def value_cents(self) -> int:
        return self.qty * self.unit_cost_cents


class PositionTable:
    """Every position's balances by column, one slot per (sku, location) in creation order.

    Typed arrays rather than an object per position: a whole-network reading
    (`StockLedger.dense`, the nightly snapshot, reviews, the daily close) is a few numpy
    calls instead of a Python loop over ~200,000 objects, and a batch event's lines
    change integers in place.
    """

    def __init__(self) -> None:
        self.sku = array("q")
        self.location = array("q")
        self.on_hand = array("q")
        self.reserved = array("q")
        self.in_transit = array("q")
        self.quarantined = array("q")
        self.safety = array("q")
        self.first_moved_at = array("d")  # nan until the position first moves
        self.by_channel: list[dict[int, int] | None] = []  # created on first reservation
        self.unmoved = 0  # positions whose first_moved_at is nan (an envelope skips the check)

    def __len__(self) -> int:
        return len(self.sku)

    def add(self, sku: int, location: int) -> int:
        """A new, empty position; returns its slot."""
        i = len(self.sku)
        self.sku.append(sku)
        self.location.append(location)
        self.on_hand.append(0)
        self.reserved.append(0)
        self.in_transit.append(0)
        self.quarantined.append(0)
        self.safety.append(0)
        self.first_moved_at.append(math.nan)
        self.by_channel.append(None)
        self.unmoved += 1
        return i

    def column(self, name: str) -> np.ndarray:
        """A copy of one column as a numpy array (a copy: the table can still grow)."""
        a = getattr(self, name)
        return np.frombuffer(a, dtype=np.float64 if name == "first_moved_at" else np.int64).copy()


class Position:
    """Balances of one (sku, location): a view of its slot in a `PositionTable`.

    One explicit property per column, not a property factory: reservations and single
    movements read and write these in their hot paths, and a generic `getattr` accessor
    cost 0.55 µs a `+=` against 0.24 µs.
    """

    __slots__ = ("_i", "_t")

    def __init__(self, table: PositionTable | None = None, slot: int = -1) -> None:
        if table is None:  # a free-standing position (a table of its own)
            table = PositionTable()
            slot = table.add(-1, -1)
        self._t = table
        self._i = slot

    @property
    def on_hand(self) -> int:
        return self._t.on_hand[self._i]

    @on_hand.setter
    def on_hand(self, v: int) -> None:
        self._t.on_hand[self._i] = v

    @property
    def reserved(self) -> int:
        return self._t.reserved[self._i]

    @reserved.setter
    def reserved(self, v: int) -> None:
        self._t.reserved[self._i] = v

    @property
    def in_transit(self) -> int:
        return self._t.in_transit[self._i]

    @in_transit.setter
    def in_transit(self, v: int) -> None:
        self._t.in_transit[self._i] = v

    @property
    def quarantined(self) -> int:
        return self._t.quarantined[self._i]

    @quarantined.setter
    def quarantined(self, v: int) -> None:
        self._t.quarantined[self._i] = v

    @property
    def safety(self) -> int:
        """Protected safety buffer, not sellable."""
        return self._t.safety[self._i]

    @safety.setter
    def safety(self, v: int) -> None:
        self._t.safety[self._i] = v

    @property
    def first_moved_at(self) -> float:
        """Event time of its first movement (staleness); nan if it never moved."""
        return self._t.first_moved_at[self._i]

    @first_moved_at.setter
    def first_moved_at(self, v: float) -> None:
        t = self._t
        old = t.first_moved_at[self._i]
        t.unmoved += (v != v) - (old != old)  # nan counts as never moved
        t.first_moved_at[self._i] = v

    @property
    def reserved_by_channel(self) -> dict[int, int]:
        """Units reserved here per channel id (a live dict: reservations change it)."""
        d = self._t.by_channel[self._i]
        if d is None:
            d = self._t.by_channel[self._i] = {}
        return d

    @property
    def available(self) -> int:
        """On-hand less reserved less the safety buffer; negative when facts outran the system."""
        t, i = self._t, self._i
        return t.on_hand[i] - t.reserved[i] - t.safety[i]

    @property
    def ats(self) -> int:
        """Available-to-sell: what a channel may still promise from here, never below 0."""
        t, i = self._t, self._i
        a = t.on_hand[i] - t.reserved[i] - t.safety[i]
        return a if a > 0 else 0

    def balances(self) -> tuple[int, int, int]:
        t, i = self._t, self._i
        return (t.on_hand[i], t.in_transit[i], t.quarantined[i])

    def __repr__(self) -> str:
        return (
            f"Position(on_hand={self.on_hand}, reserved={self.reserved}, "
            f"in_transit={self.in_transit}, quarantined={self.quarantined}, safety={self.safety})"
        )


Key = tuple[int, int]  # (sku, location)


#: the balance columns of a position (`StockLedger.columns_at`, `dense`)
BALANCE_COLUMNS = ("on_hand", "reserved", "safety", "in_transit", "quarantined")


@dataclass(slots=True, frozen=True)
class DenseBalances:
    """`StockLedger.dense()`: balances as [sku, location] arrays; `exists` marks the
    positions the ledger holds (zeros elsewhere)."""

    on_hand: np.ndarray
    reserved: np.ndarray
    safety: np.ndarray
    in_transit: np.ndarray
    quarantined: np.ndarray
    exists: np.ndarray


# Effect of each kind on (on_hand, in_transit, quarantined) of `location`; transfers and
# dispositions also touch the counterparty or on-hand and are handled explicitly.
_OUTBOUND = frozenset({MovementKind.SALE, MovementKind.SHIPMENT, MovementKind.SHRINK})


def apply_to_balances(bal: dict[Key, list[int]], m: Movement) -> None:
    """Apply a movement to a {key: [on_hand, in_transit, quarantined]} table (used by rebuild)."""
    k = m.kind
    key = (m.sku, m.location)
    b = bal.get(key)
    if b is None:
        b = bal[key] = [0, 0, 0]
    q = m.qty
    if k is MovementKind.RECEIPT or k is MovementKind.OPENING or k is MovementKind.ADJUSTMENT:
        b[0] += q
    elif k in _OUTBOUND:
        b[0] -= q
    elif k is MovementKind.TRANSFER_OUT:
        b[0] -= q
        dkey = (m.sku, m.counterparty)
        d = bal.get(dkey)
        if d is None:
            d = bal[dkey] = [0, 0, 0]
        d[1] += q
    elif k is MovementKind.TRANSFER_IN:
        b[1] -= q
        b[0] += q
    elif k is MovementKind.TRANSIT_LOSS:
        b[1] -= q
    elif k is MovementKind.RETURN_IN:
        b[2] += q
    elif k is MovementKind.DISPOSITION:
        b[2] -= q
        if m.disposition in SELLABLE_DISPOSITIONS:
            b[0] += q
    else:  # pragma: no cover - exhaustive over MovementKind
        raise InvalidCommand(f"kind: unknown movement kind {k!r}")


# -- the movement log, stored by column -----------------------------------------------------
_KIND_OF = list(MovementKind)
_DISP_OF = list(Disposition)

#: kinds that lose or correct stock: what shrink and adjustment anomalies look at
LOSS_KINDS = frozenset({MovementKind.SHRINK, MovementKind.TRANSIT_LOSS, MovementKind.ADJUSTMENT})

#: kinds a batch may carry: lines at one location (transfers: to or from one counterparty;
#: dispositions: one disposition for every line) at standard cost (a receipt off standard
#: cost stays one movement per command)
LINE_KINDS = frozenset(
    {
        MovementKind.DISPOSITION,
        MovementKind.OPENING,
        MovementKind.RECEIPT,
        MovementKind.SALE,
        MovementKind.SHIPMENT,
        MovementKind.SHRINK,
        MovementKind.ADJUSTMENT,
        MovementKind.RETURN_IN,
        MovementKind.TRANSFER_OUT,
        MovementKind.TRANSFER_IN,
    }
)

#: per movement: what differs line by line
_LINE_COLUMNS = (
    ("sku", "i", np.int32),
    ("qty", "q", np.int64),
    ("unit_cost_cents", "q", np.int64),
    ("price_cents", "q", np.int64),
    ("row", "i", np.int32),  # the event it belongs to (a row of the event table)
    ("line", "i", np.int32),  # line of a batch event, -1 for a one-movement command, 0 in
    # an envelope (its `EnvelopeRows` numbers the lines)
)
#: per event (one row for a one-movement command or for a whole batch)
_EVENT_COLUMNS = (
    ("kind", "b", np.int8),
    ("location", "i", np.int32),
    ("at", "d", np.float64),
    ("recorded_at", "d", np.float64),
    ("counterparty", "i", np.int32),
    ("disposition", "b", np.int8),
    ("reason", "i", np.int32),  # index into the interned strings
    ("actor", "i", np.int32),
)
_DTYPE = {name: dt for name, _code, dt in _LINE_COLUMNS + _EVENT_COLUMNS}
_PER_EVENT = frozenset(name for name, _c, _d in _EVENT_COLUMNS)


CHUNK = 1 << 20  # movements per chunk of a whole-log check
LINE_BLOCK = 1 << 20  # movements per numpy block of the log's line columns


@dataclass(slots=True, frozen=True, eq=False)
class EnvelopeRows:
    """The log rows of one applied envelope: whose they are, so a movement's event id
    (`<source>/<key>#<j>`) is made only when someone reads it."""

    first_row: int
    first_seq: int  # the movement of the envelope's first line
    source: str
    key: np.ndarray  # per row: the idempotency key of its sub-stream
    base: np.ndarray  # per row: the envelope line where its sub-stream starts

    def event_id(self, row: int, seq: int) -> str:
        r = row - self.first_row
        return f"{self.source}/{int(self.key[r])}#{seq - self.first_seq - int(self.base[r])}"


class MovementLog(Sequence[Movement]):
    """The append-only movement log, kept by column (compact typed arrays, not objects).

    It reads like a list of `Movement` (index, slice, iterate, `len`), materialising each
    one on access; KPIs and checks read whole columns with `column()` instead. What a
    batch event's lines share (kind, location, times, counterparty, actor, reason and
    the event id, `<id>#<line>` when materialised) is kept once per event, so a run of
    millions of movements costs about 36 bytes a movement.

    Line columns live in numpy blocks of `LINE_BLOCK` movements followed by a tail of
    typed arrays: one command or batch appends to the tail, an envelope moves the tail
    into the blocks and copies its columns in whole (a growing typed array re-copies
    itself, ~8x slower for an envelope's 9,000 lines than a slice into a block).
    """

    def __init__(self) -> None:
        self._lines = {name: array(code) for name, code, _dt in _LINE_COLUMNS}  # the tail
        self._blocks: dict[str, list[np.ndarray]] = {name: [] for name, _c, _d in _LINE_COLUMNS}
        self._in_blocks = 0  # movements held in blocks (all before the tail)
        self._rows = {name: array(code) for name, code, _dt in _EVENT_COLUMNS}
        self._events: list[str | EnvelopeRows] = []  # event id (or its envelope) per row
        self._strings: list[str] = []
        self._string_ids: dict[str, int] = {}

    def _intern(self, s: str) -> int:
        i = self._string_ids.get(s)
        if i is None:
            i = self._string_ids[s] = len(self._strings)
            self._strings.append(s)
        return i

    def string_id(self, s: str) -> int:
        """The interned id of `s` (for comparing the `reason`/`actor` columns), or -1."""
        return self._string_ids.get(s, -1)

    def __len__(self) -> int:
        return self._in_blocks + len(self._lines["sku"])

    def _add_row(
        self,
        kind: MovementKind,
        location: int,
        at: float,
        recorded_at: float,
        counterparty: int,
        disposition: int,
        reason: str,
        actor: str,
        event_id: str,
    ) -> int:
        r = self._rows
        row = len(self._events)
        r["kind"].append(int(kind))
        r["location"].append(location)
        r["at"].append(at)
        r["recorded_at"].append(recorded_at)
        r["counterparty"].append(counterparty)
        r["disposition"].append(int(disposition))
        r["reason"].append(self._intern(reason))
        r["actor"].append(self._intern(actor))
        self._events.append(event_id)
        return row

    def append(self, m: Movement) -> None:
        row = self._add_row(
            m.kind,
            m.location,
            m.at,
            m.recorded_at,
            m.counterparty,
            m.disposition,
            m.reason,
            m.actor,
            m.event_id,
        )
        c = self._lines
        c["sku"].append(m.sku)
        c["qty"].append(m.qty)
        c["unit_cost_cents"].append(m.unit_cost_cents)
        c["price_cents"].append(m.price_cents)
        c["row"].append(row)
        c["line"].append(-1)

    def extend_lines(
        self,
        kind: MovementKind,
        location: int,
        skus: Sequence[int],
        qtys: Sequence[int],
        unit_costs: Sequence[int],
        *,
        event_id: str,
        at: float,
        recorded_at: float,
        reason: str,
        actor: str,
        counterparty: int = -1,
        disposition: Disposition = Disposition.NONE,
    ) -> None:
        """Append one batch event's lines (one movement per sku line)."""
        row = self._add_row(
            kind, location, at, recorded_at, counterparty, disposition, reason, actor, event_id
        )
        n = len(skus)
        c = self._lines
        c["sku"].extend(array("i", skus))
        c["qty"].extend(array("q", qtys))
        costs = array("q", unit_costs)
        c["unit_cost_cents"].extend(costs)
        c["price_cents"].extend(costs if kind is MovementKind.RECEIPT else array("q", bytes(8 * n)))
        c["row"].extend(array("i", [row]) * n)
        c["line"].extend(array("i", range(n)))

    def extend_envelope(
        self, env: Envelope, unit_cost: np.ndarray, recorded_at: float
    ) -> EnvelopeRows:
        """Append an envelope's lines by column: one row per run of lines that share a
        sub-stream, a location and a counterparty (a store's lines, when they come
        grouped), one movement per line."""
        n = env.n_lines
        loc, cp = env.location, env.counterparty
        run = np.empty(n + 1, dtype=bool)  # a row starts here (the last slot: a sentinel)
        run[0] = True
        np.not_equal(loc[1:], loc[:-1], out=run[1:n])
        if cp is not None:
            run[1:n] |= cp[1:] != cp[:-1]
        run[env.start[:-1]] = True
        run[n] = True
        bounds = run.nonzero()[0]  # row starts, then n
        first = bounds[:-1]
        n_rows = len(first)
        stream = np.searchsorted(env.start, first, side="right")
        stream -= 1
        base = len(self._events)
        kind, actor_reason = env.kind, env.actor_reason
        r = self._rows

        def const(name: str, code: str, v: int | float) -> None:
            r[name].extend(array(code, [v]) * n_rows)

        const("kind", "b", int(kind))
        r["location"].frombytes(loc[first].astype(np.int32).tobytes())
        r["at"].frombytes(env.at[stream].tobytes())
        const("recorded_at", "d", recorded_at)
        if cp is None:
            const("counterparty", "i", -1)
        else:
            r["counterparty"].frombytes(cp[first].astype(np.int32).tobytes())
        const("disposition", "b", int(env.disposition))
        const("reason", "i", self._intern(actor_reason[1]))
        const("actor", "i", self._intern(actor_reason[0]))
        rows = EnvelopeRows(base, len(self), env.source, env.key[stream], env.start[stream])
        self._events.extend([rows] * n_rows)
        row = np.repeat(np.arange(base, base + n_rows, dtype=np.int32), bounds[1:] - first)
        price: np.ndarray | int = 0
        if kind is MovementKind.RECEIPT:
            price = unit_cost if env.price is None else env.price
        self._flush_tail()
        cols = {"sku": env.sku, "qty": env.qty, "unit_cost_cents": unit_cost}
        self._write({**cols, "price_cents": price, "row": row, "line": 0})
        return rows

    def _flush_tail(self) -> None:
        """Move the tail's movements into the blocks."""
        if len(self._lines["sku"]):
            tail = self._lines
            self._lines = {name: array(code) for name, code, _dt in _LINE_COLUMNS}
            self._write({name: np.frombuffer(a, dtype=_DTYPE[name]) for name, a in tail.items()})

    def _write(self, cols: dict[str, np.ndarray | int]) -> None:
        """Copy whole columns (as many movements each, or one value for all) into the
        blocks, after the last. Blocks start zeroed (pages the kernel maps on first
        write), so a column of zeros is not written at all."""
        sku = cols["sku"]
        assert isinstance(sku, np.ndarray)
        n = len(sku)
        done = 0
        while done < n:
            b, off = divmod(self._in_blocks, LINE_BLOCK)
            if b == len(self._blocks["sku"]):
                for name, _code, dt in _LINE_COLUMNS:
                    self._blocks[name].append(np.zeros(LINE_BLOCK, dtype=dt))
            m = min(LINE_BLOCK - off, n - done)
            for name, col in cols.items():
                if isinstance(col, int):
                    if col:
                        self._blocks[name][b][off : off + m] = col
                else:
                    self._blocks[name][b][off : off + m] = col[done : done + m]
            done += m
            self._in_blocks += m

    def _line(self, name: str, i: int) -> int:
        """One line column's value at movement `i`."""
        if i >= self._in_blocks:
            return self._lines[name][i - self._in_blocks]
        b, off = divmod(i, LINE_BLOCK)
        return int(self._blocks[name][b][off])

    def _at(self, i: int) -> Movement:
        if i >= self._in_blocks:
            c, j = self._lines, i - self._in_blocks
            line, row, sku, qty = c["line"][j], c["row"][j], c["sku"][j], c["qty"][j]
            cost, price = c["unit_cost_cents"][j], c["price_cents"][j]
        else:
            line, row, sku, qty = (self._line(n, i) for n in ("line", "row", "sku", "qty"))
            cost, price = self._line("unit_cost_cents", i), self._line("price_cents", i)
        r = self._rows
        ev = self._events[row]
        if isinstance(ev, EnvelopeRows):
            eid = ev.event_id(row, i)
        else:
            eid = ev if line < 0 else f"{ev}#{line}"
        return Movement(
            i,
            eid,
            _KIND_OF[r["kind"][row]],
            sku,
            r["location"][row],
            qty,
            r["at"][row],
            r["recorded_at"][row],
            cost,
            price,
            r["counterparty"][row],
            _DISP_OF[r["disposition"][row]],
            self._strings[r["reason"][row]],
            self._strings[r["actor"][row]],
        )

    @overload
    def __getitem__(self, i: int) -> Movement: ...
    @overload
    def __getitem__(self, i: slice) -> list[Movement]: ...
    def __getitem__(self, i: int | slice) -> Movement | list[Movement]:
        n = len(self)
        if isinstance(i, slice):
            return [self._at(j) for j in range(*i.indices(n))]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("movement index out of range")
        return self._at(i)

    def __iter__(self) -> Iterator[Movement]:
        for i in range(len(self)):
            yield self._at(i)

    def take(self, name: str, index: np.ndarray) -> np.ndarray:
        """One column at the movements in `index` (a gather, without copying the column)."""
        if name in _PER_EVENT:
            rows = self._gather("row", index)
            return np.frombuffer(self._rows[name], dtype=_DTYPE[name])[rows]
        return self._gather(name, index)

    def _gather(self, name: str, index: np.ndarray) -> np.ndarray:
        tail = np.frombuffer(self._lines[name], dtype=_DTYPE[name])
        nb = self._in_blocks
        if not nb:
            return tail[index]
        idx = np.asarray(index, dtype=np.int64)
        out = np.empty(len(idx), dtype=_DTYPE[name])
        late = idx >= nb
        out[late] = tail[idx[late] - nb]
        early = np.flatnonzero(~late)
        block = idx[early] // LINE_BLOCK
        for b in np.unique(block).tolist():
            here = early[block == b]
            out[here] = self._blocks[name][b][idx[here] - b * LINE_BLOCK]
        return out

    def _line_column(self, name: str, start: int, stop: int | None) -> np.ndarray:
        """A line column over [start, stop), a copy."""
        start, stop, _ = slice(start, stop).indices(len(self))
        nb, dt = self._in_blocks, _DTYPE[name]
        tail = self._lines[name]
        if not nb:
            return np.frombuffer(tail[start:stop], dtype=dt)
        parts = []
        b = start // LINE_BLOCK
        while b * LINE_BLOCK < min(stop, nb):
            lo = b * LINE_BLOCK
            parts.append(self._blocks[name][b][max(start - lo, 0) : min(stop, nb) - lo])
            b += 1
        if stop > nb:
            parts.append(np.frombuffer(tail[max(start - nb, 0) : stop - nb], dtype=dt))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dt)

    def chunks(self, size: int | None = None) -> Iterator[tuple[int, int]]:
        """(start, stop) slices covering the log: whole-log checks read it a chunk at a
        time, so their temporaries stay a few tens of MB however long the run."""
        n = len(self)
        size = size or CHUNK
        for start in range(0, n, size):
            yield start, min(start + size, n)

    def texts(self, name: str) -> list[str]:
        """The text of `name` (`event_id`, or the interned `reason`/`actor` strings) of every
        event row; `column("row")` says which row each movement belongs to."""
        if name == "event_id":
            return list(self._events)
        if name in ("reason", "actor"):
            return [self._strings[i] for i in self._rows[name]]
        raise KeyError(f"name: one of event_id, reason, actor, got {name!r}")

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """One column, a value per movement, as a numpy array (a copy: the log grows on)."""
        if name not in _PER_EVENT:
            return self._line_column(name, start, stop)
        rows = self._line_column("row", start, stop)
        if not rows.size:
            return np.zeros(0, dtype=_DTYPE[name])
        lo, hi = int(rows[0]), int(rows[-1]) + 1  # rows only grow along the log
        table = np.frombuffer(self._rows[name][lo:hi], dtype=_DTYPE[name])
        return table[rows - lo]


def _disposition(d: Disposition | int) -> Disposition:
    """A disposition movement's disposition, checked (an int would post as scrap in the GL)."""
    try:
        d = Disposition(d)
    except ValueError:
        raise InvalidCommand(f"disposition: unknown disposition {d!r}") from None
    if d is Disposition.NONE:
        raise InvalidCommand("disposition: required for a disposition movement")
    return d


class StockLedger:
    """Positions per (sku, location) and the append-only movement log behind them."""

    def __init__(self) -> None:
        self.table = PositionTable()
        self.positions: dict[Key, Position] = {}  # views of `table`'s slots
        # slot of (sku, location) as _slots[location][sku], -1 for none yet: a batch line
        # finds its slot with two index reads instead of a tuple-keyed dict probe and a
        # Position object, which miss the cache on a 200,000-position network
        self._slots: list[array[int]] = []
        self.movements = MovementLog()
        # kept as movements apply, for anomaly detection without rescanning the log:
        self.dips: list[tuple[int, int, float]] = []  # (sku, location, at): on-hand went < 0
        self.loss_rows = array("q")  # seqs of shrink, transit-loss and adjustment movements
        self._applied_ids: set[str] = set()
        self._applied_keys: dict[str, set[int]] = {}  # envelope sub-streams, per source
        self.duplicate_applications = 0
        # slot of each (location, sku) for envelopes: a dense [location, sku] array while
        # the network fits DENSE_MAX_CELLS (-1: no position), else sorted packed keys;
        # either is brought up to date with the table's new slots when an envelope reads it
        self._map: np.ndarray | None = np.full((0, 0), -1, dtype=np.int64)
        self._mapped = 0  # table slots already in the map
        self._grid = False  # every map cell is a position and slot = location * width + sku
        self._sparse: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64),) * 2

    def position(self, sku: int, location: int) -> Position:
        """The position, created empty on first use."""
        key = (sku, location)
        p = self.positions.get(key)
        if p is None:
            i = self.table.add(sku, location)
            p = self.positions[key] = Position(self.table, i)
            self._slot_row(location, sku + 1)[sku] = i
        return p

    def _slot_row(self, location: int, skus: int) -> array[int]:
        """Location's sku → slot row, long enough for `skus` skus."""
        rows = self._slots
        if location >= len(rows):
            rows.extend(array("q") for _ in range(location + 1 - len(rows)))
        row = rows[location]
        if len(row) < skus:
            row.extend(array("q", [-1]) * (skus - len(row)))
        return row

    def record(
        self,
        kind: MovementKind,
        sku: int,
        location: int,
        qty: int,
        *,
        event_id: str,
        at: float,
        recorded_at: float,
        unit_cost_cents: int,
        price_cents: int = 0,
        counterparty: int = -1,
        disposition: Disposition = Disposition.NONE,
        reason: str = "",
        actor: str = "",
    ) -> Movement:
        """Validate, append and apply one movement; returns it."""
        if kind is MovementKind.ADJUSTMENT:
            if qty == 0:
                raise InvalidCommand("qty: an adjustment must change stock (got 0)")
        elif qty <= 0:
            raise InvalidCommand(f"qty: must be > 0 for {kind.name.lower()}, got {qty}")
        pos = self.position(sku, location)
        if kind is MovementKind.TRANSFER_OUT:
            if counterparty < 0 or counterparty == location:
                raise InvalidCommand("counterparty: a transfer needs another destination location")
        elif kind is MovementKind.TRANSFER_IN:
            if pos.in_transit < qty:
                raise InvalidCommand(
                    f"qty: {qty} units received but only {pos.in_transit} in transit to location"
                )
        elif kind is MovementKind.TRANSIT_LOSS:
            if pos.in_transit < qty:
                raise InvalidCommand(
                    f"qty: {qty} units lost but only {pos.in_transit} in transit to location"
                )
        elif kind is MovementKind.DISPOSITION:
            disposition = _disposition(disposition)
            if pos.quarantined < qty:
                raise InvalidCommand(
                    f"qty: {qty} units disposed but only {pos.quarantined} in quarantine"
                )
        if event_id in self._applied_ids:
            self.duplicate_applications += 1
        else:
            self._applied_ids.add(event_id)
        m = Movement(
            len(self.movements),
            event_id,
            kind,
            sku,
            location,
            qty,
            at,
            recorded_at,
            unit_cost_cents,
            price_cents,
            counterparty,
            disposition,
            reason,
            actor,
        )
        self.movements.append(m)
        if pos.first_moved_at != pos.first_moved_at:  # nan: never moved
            pos.first_moved_at = at
        self._apply(pos, m)
        return m

    def record_lines(
        self,
        kind: MovementKind,
        location: int,
        skus: Sequence[int],
        qtys: Sequence[int],
        *,
        event_id: str,
        at: float,
        recorded_at: float,
        unit_costs: Sequence[int],
        reason: str = "",
        actor: str = "",
        counterparty: int = -1,
        disposition: Disposition = Disposition.NONE,
    ) -> int:
        """Validate, append and apply one batch event: a movement of `kind` per (sku, qty)
        line at one location, all at once. Returns the seq of the first line.

        The hot path of a run (a till's sales of an interval are one event): positions
        change in one tight loop and the log grows by column, not by object.
        """
        if kind not in LINE_KINDS:
            raise InvalidCommand(f"kind: {kind.name.lower()} is recorded one movement at a time")
        n = len(skus)
        if n == 0:
            raise InvalidCommand("lines: a batch needs at least one line")
        if len(qtys) != n or len(unit_costs) != n:
            raise InvalidCommand(f"lines: {n} skus but {len(qtys)} quantities")
        signed = kind is MovementKind.ADJUSTMENT
        if not set(map(type, qtys)) <= {int}:  # bool is not a whole number here either
            bad = next(q for q in qtys if type(q) is not int)
            raise InvalidCommand(f"qty: must be a whole number, got {bad!r}")
        if signed and 0 in qtys:
            raise InvalidCommand("qty: an adjustment must change stock (got 0)")
        if not signed and min(qtys) <= 0:
            raise InvalidCommand(f"qty: must be > 0 for {kind.name.lower()}, got {min(qtys)}")
        if min(skus) < 0 or location < 0:
            raise InvalidCommand(f"lines: sku and location are catalog indices >= 0 ({location=})")
        if kind is MovementKind.TRANSFER_OUT:
            if counterparty < 0 or counterparty == location:
                raise InvalidCommand("counterparty: a transfer needs another destination location")
        elif kind is MovementKind.TRANSFER_IN:
            self._check_held(location, skus, qtys, "in_transit", "received", "in transit")
        elif counterparty != -1:
            raise InvalidCommand(f"counterparty: only transfers have one, not {kind.name.lower()}")
        if kind is MovementKind.DISPOSITION:
            disposition = _disposition(disposition)
            self._check_held(location, skus, qtys, "quarantined", "disposed", "in quarantine")
        elif disposition:
            raise InvalidCommand(
                f"disposition: only a disposition has one, not {kind.name.lower()}"
            )
        if event_id in self._applied_ids:
            self.duplicate_applications += 1
        else:
            self._applied_ids.add(event_id)
        start = len(self.movements)
        self.movements.extend_lines(
            kind,
            location,
            skus,
            qtys,
            unit_costs,
            event_id=event_id,
            at=at,
            recorded_at=recorded_at,
            reason=reason,
            actor=actor,
            counterparty=counterparty,
            disposition=disposition,
        )
        sign = -1 if kind in _OUTBOUND or kind is MovementKind.TRANSFER_OUT else 1
        quarantine = kind is MovementKind.RETURN_IN
        if kind is MovementKind.DISPOSITION:
            self._dispose_lines(location, skus, qtys, at, disposition in SELLABLE_DISPOSITIONS)
            return start
        leaving = kind is MovementKind.TRANSFER_OUT
        arrived = kind is MovementKind.TRANSFER_IN
        if kind in LOSS_KINDS:
            self.loss_rows.extend(range(start, start + n))
        dips = self.dips
        t = self.table
        on_hand, first = t.on_hand, t.first_moved_at
        slots = self._slot_row(location, max(skus) + 1)
        to = self._slot_row(counterparty, len(slots)) if leaving else slots
        for s, q in zip(skus, qtys, strict=True):
            i = slots[s]
            if i < 0:
                i = self.position(s, location)._i
            if first[i] != first[i]:  # nan: its first movement
                first[i] = at
                t.unmoved -= 1
            if quarantine:
                t.quarantined[i] += q
                continue
            before = on_hand[i]
            on_hand[i] = after = before + sign * q
            if before >= 0 > after:
                dips.append((s, location, at))
            if leaving:
                j = to[s]
                if j < 0:
                    j = self.position(s, counterparty)._i
                t.in_transit[j] += q
            elif arrived:
                t.in_transit[i] -= q
        return start

    # -- envelopes ---------------------------------------------------------------------------
    def slots_of(
        self,
        location: np.ndarray,
        sku: np.ndarray,
        extent: tuple[int, int] | None = None,
        cells: Callable[[int], np.ndarray] | None = None,
    ) -> np.ndarray:
        """The table slot of each (location[i], sku[i]), -1 where there is no position yet
        (ids >= 0, below `extent` = (locations, skus) when given; a numpy look-up, no
        position is created). `cells(width)`, when given, is location * width + sku."""
        t = self.table
        n = len(t)
        if not len(sku):
            return np.zeros(0, dtype=np.int64)
        if extent is None:
            hi_loc, hi_sku = int(location.max()), int(sku.max())
        else:
            hi_loc, hi_sku = extent[0] - 1, extent[1] - 1
        m = self._map
        if m is not None:
            rows, cols = m.shape
            new_loc = new_sku = None
            if self._mapped < n:
                new_loc = np.frombuffer(t.location, dtype=np.int64)[self._mapped : n]
                new_sku = np.frombuffer(t.sku, dtype=np.int64)[self._mapped : n]
                hi_loc = max(hi_loc, int(new_loc.max()))
                hi_sku = max(hi_sku, int(new_sku.max()))
            if hi_loc >= rows or hi_sku >= cols:  # grown to the catalog's extent, else by 1/4
                more = 0 if extent is not None else 4
                rows = max(hi_loc + 1, rows + (rows // more if more else 0))
                cols = max(hi_sku + 1, cols + (cols // more if more else 0))
                self._grid = False
                if rows * cols > DENSE_MAX_CELLS:
                    self._map = m = None
                else:
                    grown = np.full((rows, cols), -1, dtype=np.int64)
                    grown[: m.shape[0], : m.shape[1]] = m
                    self._map = m = grown
            if m is not None:
                if new_loc is not None:
                    m[new_loc, new_sku] = np.arange(self._mapped, n)
                    self._mapped = n
                    self._grid = n == m.size and bool((m.reshape(-1) == np.arange(n)).all())
                if cells is not None:
                    flat = cells(cols)
                else:
                    flat = location * cols
                    flat += sku
                # positions laid out as the dense (location x sku) grid: the table's columns
                # are [location, sku] arrays and a slot is its cell
                return flat if self._grid else m.reshape(-1)[flat]
        keys, slots = self._sparse
        if len(keys) != n:  # rebuilt when positions were added since
            packed = (np.frombuffer(t.location, dtype=np.int64) << 32) | np.frombuffer(
                t.sku, dtype=np.int64
            )
            order = np.argsort(packed, kind="stable")
            keys, slots = self._sparse = (packed[order], order)
        want = (location << 32) | sku
        i = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        if not len(keys):
            return np.full(len(want), -1, dtype=np.int64)
        return np.where(keys[i] == want, slots[i], -1)

    def envelope_problem(
        self,
        env: Envelope,
        upto: int | None = None,
        extent: tuple[int, int] | None = None,
    ) -> tuple[int, str] | None:
        """The first of the envelope's lines (before `upto`) that its movement would refuse
        if the lines were recorded one at a time, and why; None when every line is fine.
        `extent`: (locations, skus) the caller has checked every id is below (and >= 0)."""
        n = env.n_lines if upto is None else upto
        if n <= 0:
            return None
        kind = env.kind
        loc, sku, qty = env.location[:n], env.sku[:n], env.qty[:n]
        cp = None if env.counterparty is None else env.counterparty[:n]
        bucket = _HELD_BUCKET.get(kind)
        if extent is not None and bucket is None and kind is not MovementKind.TRANSFER_OUT:
            fine = np.count_nonzero(qty) == n if kind is MovementKind.ADJUSTMENT else qty.min() > 0
            if fine:  # the usual case, in one pass
                return None
        bad = (loc < 0) | (sku < 0)
        bad |= (qty == 0) if kind is MovementKind.ADJUSTMENT else (qty <= 0)
        if kind is MovementKind.TRANSFER_OUT:
            assert cp is not None
            bad |= (cp < 0) | (cp == loc)
        first = int(bad.argmax()) if bad.any() else n
        if bucket is not None and first:
            m = first  # earlier lines are fine on their own: check what they take, in turn
            slots = self.slots_of(loc[:m], sku[:m], extent)
            have = np.zeros(m, dtype=np.int64)
            ok = slots >= 0
            have[ok] = np.frombuffer(getattr(self.table, bucket), dtype=np.int64)[slots[ok]]
            taken = _running_by_slot(slots, qty[:m])  # this line's and every earlier one's
            short = np.flatnonzero(taken > have)
            if len(short):
                first = int(short[0])
        if first >= n:
            return None
        return first, self._line_problem(env, first)

    def _line_problem(self, env: Envelope, i: int) -> str:
        """Why line `i` is refused, in the words of `record` (earlier lines applied)."""
        kind = env.kind
        loc, sku, q = int(env.location[i]), int(env.sku[i]), int(env.qty[i])
        if loc < 0 or sku < 0:
            return f"lines: sku and location are catalog indices >= 0 ({loc=}, {sku=})"
        if kind is MovementKind.ADJUSTMENT:
            if q == 0:
                return "qty: an adjustment must change stock (got 0)"
        elif q <= 0:
            return f"qty: must be > 0 for {kind.name.lower()}, got {q}"
        if kind is MovementKind.TRANSFER_OUT:
            return "counterparty: a transfer needs another destination location"
        bucket = _HELD_BUCKET[kind]
        here = (env.location[:i] == loc) & (env.sku[:i] == sku)
        p = self.positions.get((sku, loc))
        have = (getattr(p, bucket) if p is not None else 0) - int(env.qty[:i][here].sum())
        verb, where = _HELD_WORDS[kind]
        return f"qty: {q} units {verb} but only {have} {where}"

    def record_envelope(
        self,
        env: Envelope,
        unit_cost: np.ndarray,
        *,
        recorded_at: float,
        extent: tuple[int, int] | None = None,
    ) -> int:
        """Validate, append and apply an envelope's lines, all or none: the same positions,
        log and anomaly records as the lines recorded one at a time, by array operations.
        `unit_cost` is each line's standard cost; `extent` as in `envelope_problem`.
        Returns the seq of its first line."""
        problem = self.envelope_problem(env, extent=extent)
        if problem is not None:
            raise InvalidCommand(f"{env.describe(problem[0])}: {problem[1]}")
        kind, n = env.kind, env.n_lines
        keys = self._applied_keys.setdefault(env.source, set())
        before = len(keys)
        keys.update(env.key.tolist())
        self.duplicate_applications += env.n_streams - (len(keys) - before)
        start = len(self.movements)
        if not n:
            return start
        loc, sku, qty, cp = env.location, env.sku, env.qty, env.counterparty
        leaving = kind is MovementKind.TRANSFER_OUT
        slots = self.slots_of(loc, sku, extent, env.cells)
        to = self.slots_of(cp, sku, extent) if leaving and cp is not None else slots
        if not self._grid and (slots.min() if not leaving else min(slots.min(), to.min())) < 0:
            missing = (slots < 0) | (to < 0)  # new positions, made in per-command order
            for i in np.flatnonzero(missing).tolist():
                self.position(int(sku[i]), int(loc[i]))
                if leaving and cp is not None:
                    self.position(int(sku[i]), int(cp[i]))
            slots = self.slots_of(loc, sku, extent, env.cells)
            to = self.slots_of(cp, sku, extent) if leaving and cp is not None else slots
        self.movements.extend_envelope(env, unit_cost, recorded_at)
        t = self.table
        if t.unmoved:
            self._first_moves(env, slots)
        on_hand = np.frombuffer(t.on_hand, dtype=np.int64)
        if kind in _OUTBOUND or leaving:
            np.subtract.at(on_hand, slots, qty)
            after = on_hand[slots]
            if after.min() < 0:  # on-hand only falls: only lines ending below 0 can dip
                sub = np.flatnonzero(after < 0)
                self._dips(env, sub, slots[sub], after[sub], -qty[sub], None)
            if leaving:
                np.add.at(np.frombuffer(t.in_transit, dtype=np.int64), to, qty)
        elif kind is MovementKind.ADJUSTMENT:
            was = on_hand[slots]
            np.add.at(on_hand, slots, qty)
            after = on_hand[slots]
            shared = after - was != qty  # lines whose position another line also moves
            if shared.any():
                shared = np.isin(slots, slots[shared])
            dip = ~shared & (was >= 0) & (after < 0)
            sub = np.flatnonzero(shared | dip)
            if len(sub):
                self._dips(env, sub, slots[sub], after[sub], qty[sub], was[sub])
        elif kind is MovementKind.RETURN_IN:
            np.add.at(np.frombuffer(t.quarantined, dtype=np.int64), slots, qty)
        elif kind is MovementKind.DISPOSITION:
            np.subtract.at(np.frombuffer(t.quarantined, dtype=np.int64), slots, qty)
            if env.disposition in SELLABLE_DISPOSITIONS:
                np.add.at(on_hand, slots, qty)
        else:  # receipts, openings, transfers in and losses in transit
            if kind is MovementKind.TRANSFER_IN or kind is MovementKind.TRANSIT_LOSS:
                np.subtract.at(np.frombuffer(t.in_transit, dtype=np.int64), slots, qty)
            if kind is not MovementKind.TRANSIT_LOSS:
                np.add.at(on_hand, slots, qty)
        del on_hand  # no view may outlive this call: the table's arrays must stay growable
        if kind in LOSS_KINDS:
            self.loss_rows.frombytes(np.arange(start, start + n, dtype=np.int64).tobytes())
        return start

    def _first_moves(self, env: Envelope, slots: np.ndarray) -> None:
        """Positions moving for the first time take the time of their first line."""
        t = self.table
        first = np.frombuffer(t.first_moved_at, dtype=np.float64)
        new = np.isnan(first[slots])
        if new.any():
            lines = np.flatnonzero(new)
            fresh, at = np.unique(slots[lines], return_index=True)
            first[fresh] = env.at[env.line_stream(lines[at])]
            t.unmoved -= len(fresh)

    def _dips(
        self,
        env: Envelope,
        lines: np.ndarray,
        slots: np.ndarray,
        after: np.ndarray,
        delta: np.ndarray,
        was: np.ndarray | None,
    ) -> None:
        """On-hand of `lines` walked in line order (`after`: each slot's value after the
        envelope; `was`: before it, or None to work it out): note every fall below 0."""
        if was is None:
            total: dict[int, int] = {}
            for s, d in zip(slots.tolist(), delta.tolist(), strict=True):
                total[s] = total.get(s, 0) + d
            now = {s: a - total[s] for s, a in zip(slots.tolist(), after.tolist(), strict=True)}
        else:
            now = dict(zip(slots.tolist(), was.tolist(), strict=True))
        at = env.at[env.line_stream(lines)].tolist()
        sku, loc = env.sku[lines].tolist(), env.location[lines].tolist()
        for j, (s, d) in enumerate(zip(slots.tolist(), delta.tolist(), strict=True)):
            v = now[s]
            now[s] = w = v + d
            if v >= 0 > w:
                self.dips.append((sku[j], loc[j], at[j]))

    def _check_held(
        self,
        location: int,
        skus: Sequence[int],
        qtys: Sequence[int],
        bucket: str,
        verb: str,
        where: str,
    ) -> None:
        """Refuse a batch taking more of a sku out of `bucket` than the position holds
        (lines of one sku add up)."""
        total: dict[int, int] = {}
        for sk, q in zip(skus, qtys, strict=True):
            total[sk] = total.get(sk, 0) + q
        for sk, q in total.items():
            p = self.positions.get((sk, location))
            have = getattr(p, bucket) if p is not None else 0
            if have < q:
                raise InvalidCommand(f"qty: {q} units of sku {sk} {verb} but only {have} {where}")

    def _dispose_lines(
        self, location: int, skus: Sequence[int], qtys: Sequence[int], at: float, sellable: bool
    ) -> None:
        """Quarantined units leave quarantine; back on hand if the disposition is sellable."""
        t = self.table
        quarantined, on_hand, first = t.quarantined, t.on_hand, t.first_moved_at
        slots = self._slot_row(location, max(skus) + 1)
        for s, q in zip(skus, qtys, strict=True):
            i = slots[s]  # validated: the position holds these units in quarantine
            if first[i] != first[i]:  # pragma: no cover - it moved when they arrived
                first[i] = at
                t.unmoved -= 1
            quarantined[i] -= q
            if sellable:
                on_hand[i] += q

    def _apply(self, pos: Position, m: Movement) -> None:
        before = pos.on_hand
        self._change(pos, m)
        if before >= 0 > pos.on_hand:
            self.dips.append((m.sku, m.location, m.at))
        if m.kind in LOSS_KINDS:
            self.loss_rows.append(m.seq)

    def _change(self, pos: Position, m: Movement) -> None:
        k = m.kind
        q = m.qty
        if k is MovementKind.RECEIPT or k is MovementKind.OPENING or k is MovementKind.ADJUSTMENT:
            pos.on_hand += q
        elif k in _OUTBOUND:
            pos.on_hand -= q
        elif k is MovementKind.TRANSFER_OUT:
            pos.on_hand -= q
            self.position(m.sku, m.counterparty).in_transit += q
        elif k is MovementKind.TRANSFER_IN:
            pos.in_transit -= q
            pos.on_hand += q
        elif k is MovementKind.TRANSIT_LOSS:
            pos.in_transit -= q
        elif k is MovementKind.RETURN_IN:
            pos.quarantined += q
        elif k is MovementKind.DISPOSITION:
            pos.quarantined -= q
            if m.disposition in SELLABLE_DISPOSITIONS:
                pos.on_hand += q

    def ats_at(self, skus: Sequence[int], location: int) -> np.ndarray:
        """`position(sku, location).ats` for every sku of `skus` at one location, in numpy
        (a DC picking a store order of ~80 lines); like `position`, creates any position
        that does not exist yet."""
        on_hand, reserved, safety = self.columns_at(skus, location, "on_hand", "reserved", "safety")
        return np.maximum(on_hand - reserved - safety, 0)

    def columns_at(self, skus: Sequence[int], location: int, *names: str) -> list[np.ndarray]:
        """Balance columns (`on_hand`, `reserved`, `safety`, `in_transit`, `quarantined`) of
        every sku of `skus` at one location, in numpy (copies); like `position`, creates any
        position that does not exist yet, in the order of `skus`."""
        _check_balance_names(names)
        if len(skus) and (min(skus) < 0 or location < 0):
            raise InvalidCommand(f"skus: catalog indices >= 0 ({location=})")
        row = self._slot_row(location, max(skus) + 1 if len(skus) else 0)
        for sk in skus:
            if row[sk] < 0:
                self.position(sk, location)
        slots = np.frombuffer(row, dtype=np.int64)[np.asarray(skus, dtype=np.intp)]
        t = self.table
        return [np.frombuffer(getattr(t, name), dtype=np.int64)[slots] for name in names]

    def columns_of(self, skus: np.ndarray, locations: np.ndarray, *names: str) -> list[np.ndarray]:
        """`columns_at` for (skus[i], locations[i]) pairs across locations, in numpy
        (copies); creates any position that does not exist yet, in line order."""
        _check_balance_names(names)
        skus = np.asarray(skus, dtype=np.int64)
        locations = np.asarray(locations, dtype=np.int64)
        if len(skus) != len(locations):
            raise InvalidCommand(f"locations: one per sku ({len(skus)}), got {len(locations)}")
        if len(skus) and (skus.min() < 0 or locations.min() < 0):
            raise InvalidCommand("skus, locations: catalog indices >= 0")
        slots = self.slots_of(locations, skus)
        missing = np.flatnonzero(slots < 0)
        if missing.size:
            for i in missing.tolist():
                self.position(int(skus[i]), int(locations[i]))
            slots = self.slots_of(locations, skus)
        t = self.table
        return [np.frombuffer(getattr(t, name), dtype=np.int64)[slots] for name in names]

    def dense(self, n_sku: int, n_loc: int) -> DenseBalances:
        """Every position with sku < n_sku and location < n_loc as [sku, location] arrays,
        for a whole-network reading (a nightly snapshot, a review) in numpy."""
        t = self.table
        sku, loc = t.column("sku"), t.column("location")
        keep = (sku >= 0) & (sku < n_sku) & (loc >= 0) & (loc < n_loc)
        sku, loc = sku[keep], loc[keep]
        out = []
        for name in BALANCE_COLUMNS:
            a = np.zeros((n_sku, n_loc), dtype=np.int64)
            a[sku, loc] = t.column(name)[keep]
            out.append(a)
        exists = np.zeros((n_sku, n_loc), dtype=bool)
        exists[sku, loc] = True
        return DenseBalances(*out, exists)

    @property
    def first_moved(self) -> dict[Key, float]:
        """When each position first moved (event time), for positions that ever did."""
        t = self.table
        at = t.column("first_moved_at")
        moved = ~np.isnan(at)
        keys = zip(
            t.column("sku")[moved].tolist(), t.column("location")[moved].tolist(), strict=True
        )
        return dict(zip(keys, at[moved].tolist(), strict=True))

    def has_applied(self, event_id: str) -> bool:
        return event_id in self._applied_ids

    @staticmethod
    def rebuild(movements: Sequence[Movement]) -> dict[Key, tuple[int, int, int]]:
        """Balances (on_hand, in_transit, quarantined) from the movement log alone."""
        if isinstance(movements, MovementLog):
            return _rebuild_columns(movements)
        bal: dict[Key, list[int]] = {}
        for m in movements:
            apply_to_balances(bal, m)
        return {k: (v[0], v[1], v[2]) for k, v in bal.items()}

    def live_balances(self) -> dict[Key, tuple[int, int, int]]:
        t = self.table
        keys = zip(t.sku, t.location, strict=True)
        return dict(
            zip(keys, zip(t.on_hand, t.in_transit, t.quarantined, strict=True), strict=True)
        )

    def rebuild_matches(self) -> list[str]:
        """Every (sku, location) whose live balances differ from a rebuild; empty when sound.

        By column: the rebuild and the live table as flat (sku × location) arrays.
        """
        log, t = self.movements, self.table
        tsku, tloc = t.column("sku"), t.column("location")
        width, n_sku = 1, 1
        if len(tsku):
            width, n_sku = int(tloc.max()) + 1, int(tsku.max()) + 1
        log_skus, log_width = _log_extent(log)
        width, n_sku = max(width, log_width), max(n_sku, log_skus)
        rebuilt, _touched = _rebuild_arrays(log, n_sku, width)
        flat = tsku * width + tloc
        bad = np.zeros(n_sku * width, dtype=bool)
        live = []
        for name, r in zip(("on_hand", "in_transit", "quarantined"), rebuilt, strict=True):
            a = np.zeros(n_sku * width, dtype=np.int64)
            a[flat] = t.column(name)
            bad |= a != r
            live.append(a)
        problems = []
        for k in np.flatnonzero(bad).tolist():
            a = tuple(int(x[k]) for x in live)
            b = tuple(int(x[k]) for x in rebuilt)
            problems.append(f"sku {k // width} at location {k % width}: live {a} != rebuilt {b}")
        return problems

    def flows(self, sku: int) -> dict[str, int]:
        """The terms of the conservation identity for one sku, summed from the movement log."""
        t = _flows_by_sku(self.movements).get(sku)
        return {k: t[k] for k in _FLOW_TERMS} if t else dict.fromkeys(_FLOW_TERMS, 0)

    def conservation(self) -> dict[int, dict[str, int]]:
        """Per sku: flows from the log and closing/in-transit from live positions, with `ok`.

        opening + received = sold + shipped + scrapped + shrink + closing + in_transit,
        where received counts supplier receipts and customer returns, scrapped counts
        disposals out of the network (scrap, liquidation, return to vendor) and shrink
        is net of count adjustments.
        """
        out = _flows_by_sku(self.movements)
        for t in out.values():
            t["closing"] = 0
            t["in_transit"] = 0
        tab = self.table
        for sku, on_hand, quarantined, in_transit in zip(
            tab.sku, tab.on_hand, tab.quarantined, tab.in_transit, strict=True
        ):
            t = out.get(sku)
            if t is None:
                continue
            t["closing"] += on_hand + quarantined
            t["in_transit"] += in_transit
        for t in out.values():
            lhs = t["opening"] + t["received"]
            rhs = (
                t["sold"]
                + t["shipped"]
                + t["scrapped"]
                + t["shrink"]
                + t["closing"]
                + t["in_transit"]
            )
            t["ok"] = int(lhs == rhs)
        return out

    def units_conserved(self) -> bool:
        return all(t["ok"] for t in self.conservation().values())

    def valuation(self, std_cost: list[int]) -> dict[tuple[str, int, int], int]:
        """Inventory value in cents by (bucket, location, sku); buckets as in `Position`."""
        out: dict[tuple[str, int, int], int] = {}
        for (sku, loc), p in self.positions.items():
            c = std_cost[sku]
            if p.on_hand:
                out[("on_hand", loc, sku)] = p.on_hand * c
            if p.in_transit:
                out[("in_transit", loc, sku)] = p.in_transit * c
            if p.quarantined:
                out[("quarantined", loc, sku)] = p.quarantined * c
        return out


#: what a kind takes out of a bucket that must hold it (refused otherwise), and the words
_HELD_BUCKET = {
    MovementKind.TRANSFER_IN: "in_transit",
    MovementKind.TRANSIT_LOSS: "in_transit",
    MovementKind.DISPOSITION: "quarantined",
}
_HELD_WORDS = {
    MovementKind.TRANSFER_IN: ("received", "in transit to location"),
    MovementKind.TRANSIT_LOSS: ("lost", "in transit to location"),
    MovementKind.DISPOSITION: ("disposed", "in quarantine"),
}
#: cells of the dense (location, sku) slot map before envelopes look slots up sparsely
DENSE_MAX_CELLS = 1 << 23


def _running_by_slot(slots: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """Per line, its qty plus every earlier line's at the same slot (qty > 0)."""
    order = np.argsort(slots, kind="stable")
    s, q = slots[order], qty[order]
    total = np.cumsum(q)
    group = np.r_[True, s[1:] != s[:-1]]
    before = np.maximum.accumulate(np.where(group, total - q, 0))
    out = np.empty_like(total)
    out[order] = total - before
    return out


_FLOW_TERMS = ("opening", "received", "sold", "shipped", "scrapped", "shrink")
_K = MovementKind
_SELLABLE_CODES = [int(d) for d in SELLABLE_DISPOSITIONS]


def _flows_by_sku(log: MovementLog) -> dict[int, dict[str, int]]:
    """The conservation terms per sku, summed by column (every sku that ever moved)."""
    if not len(log):
        return {}
    n = int(max(log.column("sku", a, b).max() for a, b in log.chunks())) + 1
    names = ("opening", "received", "sold", "shipped", "scrapped", "shrink")
    terms = {name: np.zeros(n, dtype=np.int64) for name in names}
    present = np.zeros(n, dtype=bool)
    for a, b in log.chunks():
        kind = log.column("kind", a, b)
        sku = log.column("sku", a, b)
        qty = log.column("qty", a, b)
        scrap = (kind == _K.DISPOSITION) & ~np.isin(
            log.column("disposition", a, b), _SELLABLE_CODES
        )

        def total(mask: np.ndarray, sku: np.ndarray = sku, qty: np.ndarray = qty) -> np.ndarray:
            return np.bincount(sku[mask], weights=qty[mask], minlength=n).astype(np.int64)

        terms["opening"] += total(kind == _K.OPENING)
        terms["received"] += total((kind == _K.RECEIPT) | (kind == _K.RETURN_IN))
        terms["sold"] += total(kind == _K.SALE)
        terms["shipped"] += total(kind == _K.SHIPMENT)
        terms["scrapped"] += total(scrap)
        terms["shrink"] += total((kind == _K.SHRINK) | (kind == _K.TRANSIT_LOSS)) - total(
            kind == _K.ADJUSTMENT
        )
        present[sku] = True
    return {
        int(k): {name: int(v[k]) for name, v in terms.items()}
        for k in np.flatnonzero(present).tolist()
    }


def _log_extent(log: MovementLog) -> tuple[int, int]:
    """(1 + the largest sku, 1 + the largest location or counterparty) any movement names."""
    n_sku = width = 1
    for a, b in log.chunks():
        width = max(width, int(log.column("location", a, b).max()) + 1)
        width = max(width, int(log.column("counterparty", a, b).max()) + 1)
        n_sku = max(n_sku, int(log.column("sku", a, b).max()) + 1)
    return n_sku, width


def _rebuild_arrays(
    log: MovementLog, n_sku: int, width: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """(on_hand, in_transit, quarantined) rebuilt from the log alone as flat arrays indexed
    sku * width + location, and a mask of the flat keys any movement touched."""
    size = n_sku * width
    on_hand = np.zeros(size, dtype=np.int64)
    in_transit = np.zeros(size, dtype=np.int64)
    quarantined = np.zeros(size, dtype=np.int64)
    touched = np.zeros(size, dtype=bool)
    for a, b in log.chunks():
        kind = log.column("kind", a, b)
        sku = log.column("sku", a, b).astype(np.int64)
        qty = log.column("qty", a, b)
        here = sku * width + log.column("location", a, b)
        cp = log.column("counterparty", a, b)
        there = sku * width + np.maximum(cp, 0)
        up = np.isin(kind, [_K.RECEIPT, _K.OPENING, _K.ADJUSTMENT, _K.TRANSFER_IN]) | (
            (kind == _K.DISPOSITION) & np.isin(log.column("disposition", a, b), _SELLABLE_CODES)
        )
        down = np.isin(kind, [_K.SALE, _K.SHIPMENT, _K.SHRINK, _K.TRANSFER_OUT])
        out_ = kind == _K.TRANSFER_OUT
        arrive = np.isin(kind, [_K.TRANSFER_IN, _K.TRANSIT_LOSS])

        def add(keys: np.ndarray, mask: np.ndarray, sign: int, qty: np.ndarray = qty) -> np.ndarray:
            w = qty[mask]
            return sign * np.bincount(keys[mask], weights=w, minlength=size).astype(np.int64)

        on_hand += add(here, up, 1) + add(here, down, -1)
        in_transit += add(there, out_, 1) + add(here, arrive, -1)
        quarantined += add(here, kind == _K.RETURN_IN, 1) + add(here, kind == _K.DISPOSITION, -1)
        touched[here] = True
        touched[there[out_]] = True
    return (on_hand, in_transit, quarantined), touched


def _rebuild_columns(log: MovementLog) -> dict[Key, tuple[int, int, int]]:
    """`StockLedger.rebuild` by column: every position any movement touched."""
    if not len(log):
        return {}
    n_sku, width = _log_extent(log)
    (on_hand, in_transit, quarantined), touched = _rebuild_arrays(log, n_sku, width)
    keys = np.flatnonzero(touched)
    oh = on_hand[keys].tolist()
    it = in_transit[keys].tolist()
    qu = quarantined[keys].tolist()
    return {
        (k // width, k % width): (a, b, c)
        for k, a, b, c in zip(keys.tolist(), oh, it, qu, strict=True)
    }


def _check_balance_names(names: Sequence[str]) -> None:
    """Refuse names that are not balance columns (`columns_at`, `columns_of`)."""
    unknown = [n for n in names if n not in BALANCE_COLUMNS]
    if unknown:
        raise InvalidCommand(f"names: {unknown} are not balance columns {BALANCE_COLUMNS}")
