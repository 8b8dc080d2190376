"""Envelopes: the lines of many locations at once, as columns, through the whole core.

An `Envelope` is one source's message of one movement kind: a whole interval's till
sales of every store, a DC's dispatch wave, a night's counts. Its lines are numpy
columns (location, sku, qty, and a counterparty for transfers or a price paid for
receipts), grouped by *sub-stream* (a store's tills, say): each sub-stream carries its
own sequence number, idempotency key and event time, so the bus checks ordering and
duplicates per stream with array operations, and the middleware's faults keep their
per-stream meaning by moving sub-streams between envelopes (`take`, `split`, `concat`).

Layout (k sub-streams, n lines, every array int64 except `at`):

    stream, seq, key, at    one value per sub-stream
    start                   k + 1 offsets: sub-stream i owns lines start[i]:start[i+1]
    location, sku, qty      one value per line (+ counterparty, price when the kind needs)

A movement recorded from an envelope line has the event id `<source>/<key>#<j>`, `key`
its sub-stream's idempotency key and `j` the line's place in that sub-stream: the same
however the sub-streams were packed into envelopes (`/`, not the `:` of a single
event's id, so the two never meet in the bus's dead-letter queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .errors import InvalidCommand
from .ledger import Disposition, MovementKind

#: kinds whose lines name the other location (`counterparty`)
TRANSFER_KINDS = frozenset({MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN})

#: (actor, reason) a movement of each kind gets when the envelope names none: the same
#: as the per-command API's (`Orchestrator.sell`, `receive`, `adjust`, ...)
DEFAULT_ACTOR_REASON: dict[MovementKind, tuple[str, str]] = {
    MovementKind.OPENING: ("migration", ""),
    MovementKind.RECEIPT: ("receiving", ""),
    MovementKind.SALE: ("pos", ""),
    MovementKind.SHIPMENT: ("shipping", ""),
    MovementKind.TRANSFER_OUT: ("transfer", ""),
    MovementKind.TRANSFER_IN: ("transfer", ""),
    MovementKind.TRANSIT_LOSS: ("carrier", "lost in transit"),
    MovementKind.RETURN_IN: ("returns", ""),
    MovementKind.DISPOSITION: ("returns", ""),
    MovementKind.ADJUSTMENT: ("cycle-count", "cycle count"),
    MovementKind.SHRINK: ("loss-prevention", "shrink"),
}
assert set(DEFAULT_ACTOR_REASON) == set(MovementKind)


def _col(x: object, name: str, dtype: type = np.int64) -> np.ndarray:
    """A 1-D column of `dtype`, refusing anything that would change a value by casting."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise InvalidCommand(f"{name}: must be a 1-D column, got shape {a.shape}")
    if dtype is np.int64 and a.size and a.dtype.kind not in "iu":
        raise InvalidCommand(f"{name}: must hold whole numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


@dataclass(slots=True, frozen=True, eq=False)
class Envelope:
    """One source's lines of one kind, by column, grouped in sub-streams (see the module)."""

    source: str
    kind: MovementKind
    stream: np.ndarray  # per sub-stream: its code within the source (by convention a location)
    seq: np.ndarray  # per sub-stream: its position in that stream, from 1
    key: np.ndarray  # per sub-stream: idempotency key, unique within the source
    at: np.ndarray  # per sub-stream: when its lines happened (event time, float64)
    start: np.ndarray  # k + 1 offsets into the lines
    location: np.ndarray  # per line
    sku: np.ndarray  # per line
    qty: np.ndarray  # per line, > 0 (signed for an adjustment)
    counterparty: np.ndarray | None = None  # per line, transfers only: the other location
    price: np.ndarray | None = None  # per line, receipts only: unit price paid (else standard)
    disposition: Disposition = Disposition.NONE  # dispositions only: one for every line
    reason: str | None = None  # None: the kind's default (DEFAULT_ACTOR_REASON)
    actor: str | None = None
    #: `<source>/<key>` of its first sub-stream (`+<k-1>` when it holds k > 1)
    event_id: str = field(init=False, default="")
    _cells: list[tuple[int, np.ndarray]] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        """Check the layout and make every column read-only: the envelope owns them."""
        put = object.__setattr__
        if not self.source:
            raise InvalidCommand("source: must not be empty")
        try:
            put(self, "kind", MovementKind(self.kind))
            put(self, "disposition", Disposition(self.disposition))
        except ValueError as exc:
            raise InvalidCommand(f"envelope: {exc}") from None
        for name in ("stream", "seq", "key", "start", "location", "sku", "qty"):
            put(self, name, _col(getattr(self, name), name))
        put(self, "at", _col(self.at, "at", np.float64))
        k, n = len(self.stream), len(self.sku)
        if k == 0:
            raise InvalidCommand("stream: an envelope needs at least one sub-stream")
        if len(self.seq) != k or len(self.key) != k or len(self.at) != k:
            raise InvalidCommand(f"seq, key, at: one per sub-stream ({k})")
        if len(self.start) != k + 1 or self.start[0] != 0 or self.start[-1] != n:
            raise InvalidCommand(f"start: {k + 1} offsets from 0 to the {n} lines")
        if (np.diff(self.start) < 0).any():
            raise InvalidCommand("start: offsets must not decrease")
        if len(self.location) != n or len(self.qty) != n:
            raise InvalidCommand(f"location, qty: one per line ({n})")
        if self.seq.min() < 1 or self.stream.min() < 0:
            raise InvalidCommand("seq: must be >= 1, stream: must be >= 0")
        if np.isnan(self.at).any():
            raise InvalidCommand("at: must be a number")
        if (self.kind in TRANSFER_KINDS) is (self.counterparty is None):
            raise InvalidCommand(
                f"counterparty: a column for transfers only, not {self.kind.name.lower()}"
            )
        if self.counterparty is not None:
            put(self, "counterparty", _col(self.counterparty, "counterparty"))
            if len(self.counterparty) != n:
                raise InvalidCommand(f"counterparty: one per line ({n})")
        if self.price is not None:
            if self.kind is not MovementKind.RECEIPT:
                raise InvalidCommand(f"price: receipts only, not {self.kind.name.lower()}")
            put(self, "price", _col(self.price, "price"))
            if len(self.price) != n or (n and self.price.min() < 0):
                raise InvalidCommand(f"price: one per line ({n}), whole cents >= 0")
        if (self.kind is MovementKind.DISPOSITION) is (self.disposition is Disposition.NONE):
            raise InvalidCommand(
                f"disposition: {self.disposition.name.lower()} does not go with"
                f" {self.kind.name.lower()}"
            )
        for a in (self.stream, self.seq, self.key, self.at, self.start, self.location):
            a.flags.writeable = False
        for b in (self.sku, self.qty, self.counterparty, self.price):
            if b is not None:
                b.flags.writeable = False
        more = f"+{k - 1}" if k > 1 else ""
        put(self, "event_id", f"{self.source}/{int(self.key[0])}{more}")

    # -- reading -------------------------------------------------------------------------
    @property
    def n_streams(self) -> int:
        return len(self.stream)

    @property
    def n_lines(self) -> int:
        return len(self.sku)

    @property
    def actor_reason(self) -> tuple[str, str]:
        actor, reason = DEFAULT_ACTOR_REASON[self.kind]
        return (
            actor if self.actor is None else self.actor,
            reason if self.reason is None else self.reason,
        )

    def cells(self, width: int) -> np.ndarray:
        """location * width + sku per line: its cell in a [location, sku] array of that
        width (kept for the last width asked, so the ledger and the GL compute it once)."""
        if self._cells and self._cells[0][0] == width:
            return self._cells[0][1]
        flat = self.location * width
        flat += self.sku
        flat.flags.writeable = False
        self._cells[:] = [(width, flat)]
        return flat

    def line_stream(self, lines: np.ndarray) -> np.ndarray:
        """The sub-stream index of each of `lines` (line indices)."""
        return np.searchsorted(self.start, lines, side="right") - 1

    def describe(self, i: int) -> str:
        """Line `i`, named for an error message."""
        s = int(self.line_stream(np.array([i]))[0])
        cp = "" if self.counterparty is None else f", counterparty {int(self.counterparty[i])}"
        return (
            f"envelope {self.event_id} line {i} (stream {int(self.stream[s])} seq"
            f" {int(self.seq[s])}, location {int(self.location[i])}, sku {int(self.sku[i])}{cp})"
        )

    # -- moving sub-streams ------------------------------------------------------------------
    def take(self, streams: Sequence[int] | np.ndarray) -> Envelope:
        """The sub-streams at `streams` (indices, in that order) with their lines."""
        idx = np.asarray(streams, dtype=np.int64)
        counts = np.diff(self.start)[idx]
        total = int(counts.sum())
        starts = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        lines = np.repeat(self.start[idx] - starts[:-1], counts) + np.arange(total)
        return self._with(idx, starts, lines)

    def _with(self, idx: np.ndarray, starts: np.ndarray, lines: np.ndarray) -> Envelope:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[lines]

        return Envelope(
            self.source,
            self.kind,
            self.stream[idx],
            self.seq[idx],
            self.key[idx],
            self.at[idx],
            starts,
            self.location[lines],
            self.sku[lines],
            self.qty[lines],
            pick(self.counterparty),
            pick(self.price),
            self.disposition,
            self.reason,
            self.actor,
        )

    def split(self, chosen: Sequence[bool] | np.ndarray) -> tuple[Envelope | None, Envelope | None]:
        """(the chosen sub-streams, the others): either is None when it would be empty."""
        mask = np.asarray(chosen, dtype=bool)
        if len(mask) != self.n_streams:
            raise InvalidCommand(f"chosen: one flag per sub-stream ({self.n_streams})")
        yes, no = np.flatnonzero(mask), np.flatnonzero(~mask)
        return (self.take(yes) if len(yes) else None, self.take(no) if len(no) else None)

    def parts(self) -> list[Envelope]:
        """Every sub-stream as an envelope of its own."""
        return [self.take([i]) for i in range(self.n_streams)]

    @staticmethod
    def concat(envelopes: Sequence[Envelope]) -> Envelope:
        """One envelope holding the sub-streams of several (same source, kind and fields)."""
        if not envelopes:
            raise InvalidCommand("envelopes: nothing to concatenate")
        first = envelopes[0]
        same = (first.source, first.kind, first.disposition, first.reason, first.actor)
        for e in envelopes[1:]:
            if (e.source, e.kind, e.disposition, e.reason, e.actor) != same:
                raise InvalidCommand(
                    f"envelopes: {e.event_id} differs from {first.event_id} in source, kind,"
                    " disposition, reason or actor"
                )
            if (e.price is None) is not (first.price is None):
                raise InvalidCommand("price: every envelope or none must carry one")
        if len(envelopes) == 1:
            return first
        counts = np.concatenate([np.diff(e.start) for e in envelopes])
        starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(e, name) for e in envelopes])

        return Envelope(
            first.source,
            first.kind,
            cat("stream"),
            cat("seq"),
            cat("key"),
            cat("at"),
            starts,
            cat("location"),
            cat("sku"),
            cat("qty"),
            None if first.counterparty is None else cat("counterparty"),
            None if first.price is None else cat("price"),
            first.disposition,
            first.reason,
            first.actor,
        )


class _Counts(Protocol):
    emitted: int


class EnvelopePublisher:
    """A source's outbox for envelopes: stamps each sub-stream's sequence number (per
    stream code) and idempotency key (per source), and counts the sub-streams it emits
    as events (`counters.emitted`)."""

    def __init__(self, source: str, counters: _Counts) -> None:
        self.source = source
        self.counters = counters
        self._last = np.zeros(0, dtype=np.int64)  # last seq stamped, per stream code
        self._keys = 0

    def emit(
        self,
        kind: MovementKind,
        location: Sequence[int] | np.ndarray,
        sku: Sequence[int] | np.ndarray,
        qty: Sequence[int] | np.ndarray,
        at: float | Sequence[float] | np.ndarray,
        *,
        stream: Sequence[int] | np.ndarray | None = None,
        counterparty: Sequence[int] | np.ndarray | None = None,
        price: Sequence[int] | np.ndarray | None = None,
        disposition: Disposition = Disposition.NONE,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Envelope:
        """An envelope of these lines; `stream` names each line's sub-stream (default: its
        location) and `at` is one time or one per line (a sub-stream takes its first
        line's). Lines are grouped by sub-stream, keeping their order within each."""
        loc = _col(location, "location")
        codes = loc if stream is None else _col(stream, "stream")
        n = len(codes)
        if n == 0:
            raise InvalidCommand("lines: an envelope needs at least one line")
        cols = {"location": loc, "sku": sku, "qty": qty, "counterparty": counterparty}
        cols["price"] = price
        for name, c in cols.items():
            if c is not None and len(c) != n:
                raise InvalidCommand(f"{name}: one per line ({n}), got {len(c)}")
        line_at = np.broadcast_to(np.asarray(at, dtype=np.float64), (n,))
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
        first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        k = len(first)
        ids = codes[first]
        if len(ids) and ids[0] < 0:
            raise InvalidCommand("stream: codes must be >= 0")
        top = int(ids[-1]) + 1
        if top > len(self._last):
            self._last = np.concatenate([self._last, np.zeros(top - len(self._last), np.int64)])
        self._last[ids] += 1
        seq = self._last[ids].copy()
        key = np.arange(self._keys + 1, self._keys + 1 + k, dtype=np.int64)
        self._keys += k
        self.counters.emitted += k

        def pick(a: Sequence[int] | np.ndarray | None, name: str) -> np.ndarray | None:
            return None if a is None else _col(a, name)[order]

        return Envelope(
            self.source,
            kind,
            ids,
            seq,
            key,
            line_at[order][first],
            np.r_[first, n].astype(np.int64),
            loc[order],
            _col(sku, "sku")[order],
            _col(qty, "qty")[order],
            pick(counterparty, "counterparty"),
            pick(price, "price"),
            disposition,
            reason,
            actor,
        )
