"""ERP general-ledger postings under a perpetual-inventory chart of accounts.

Every stock movement becomes one balanced journal entry in integer cents. In
`immediate` mode it is sent at once; in `batch` mode it waits for the next run
(every N hours, or nightly at a set hour) and the delay is recorded per entry.
Without a `PostingPath` a sent entry posts at once; with one (the integration
middleware and the ERP's API) it posts when the ERP answers, and the ERP may reject
it (a failed posting, waiting for finance) or post it twice (a duplicate).
Reason-coded adjustments (count adjustments, write-offs, receipts short) above the
auto-approval limit wait for finance's approval before they are sent.

`reconcile` compares the GL inventory accounts with the ledger's valuation,
sub-ledger by sku, and lists every difference; `mismatches` lists, at a period's
close, every journal entry that keeps the GL from the ledger and why.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np

from .envelope import Envelope
from .errors import InvalidCommand
from .ledger import LINE_KINDS, Disposition, Movement, MovementKind, StockLedger


class Account(IntEnum):
    INVENTORY = 1400  # per location: on-hand stock
    IN_TRANSIT = 1450  # stock between locations
    RETURNS_QUARANTINE = 1460  # per location: returns awaiting inspection
    VENDOR_RECEIVABLE = 1300  # credit owed by suppliers for returns to vendor
    GRNI = 2100  # goods received not invoiced
    RETURNS_RESERVE = 2400  # value of returned goods awaiting a disposition
    OPENING_EQUITY = 3900  # opening balances
    COGS = 5000
    SHRINK = 5100  # shrink, count adjustments, scrap and liquidation losses
    PPV = 5200  # purchase price variance


ACCOUNT_NAMES = {
    Account.INVENTORY: "Inventory",
    Account.IN_TRANSIT: "Inventory in transit",
    Account.RETURNS_QUARANTINE: "Returns in quarantine",
    Account.VENDOR_RECEIVABLE: "Vendor claims receivable",
    Account.GRNI: "Goods received not invoiced",
    Account.RETURNS_RESERVE: "Returns reserve",
    Account.OPENING_EQUITY: "Opening balance equity",
    Account.COGS: "Cost of goods sold",
    Account.SHRINK: "Shrink and adjustments",
    Account.PPV: "Purchase price variance",
}

#: asset accounts that hold inventory and must equal the ledger valuation
INVENTORY_ACCOUNTS = {
    Account.INVENTORY: "on_hand",
    Account.IN_TRANSIT: "in_transit",
    Account.RETURNS_QUARANTINE: "quarantined",
}
RECONCILED = tuple(INVENTORY_ACCOUNTS)  # an index into this names an inventory account


BalanceKey = tuple[Account, int, int]  # (account, location or -1, sku)
Extent = tuple[int, int]  # (rows, skus) a dense account array must span
Cells = Callable[[int], np.ndarray] | None  # width -> location * width + sku per line
Block = tuple[Account, np.ndarray | int, np.ndarray, np.ndarray, int, Extent, Cells]


class Balances(MutableMapping[BalanceKey, int]):
    """GL balances by (account, location, sku), kept as one dense int64 array per account
    indexed [location + 1, sku] (row 0: accounts not kept by location).

    Reads like a dict of the non-zero balances; a batch entry posts all its lines with
    one numpy call per account instead of a dictionary update per line.
    """

    def __init__(self) -> None:
        self._dense: dict[Account, np.ndarray] = {}
        # postings not yet added in, settled with one numpy call per account on the next
        # read: single lines as (account, location, sku, value) ...
        self._pending: list[tuple[Account, int, int, int]] = []
        # ... and batch entries' lines still in their journal's LineStore as (account,
        # location, store, start, n, sign), gathered straight from the store's arrays ...
        self._spans: list[tuple[Account, int, LineStore, int, int, int]] = []
        # ... and envelope entries' columns: (account, location per line or -1 for every
        # line, skus, values, sign, (rows, cols) the array must span, cells or None)
        self._blocks: list[Block] = []

    @property
    def _arr(self) -> dict[Account, np.ndarray]:
        """The dense arrays, with every pending batch line added in."""
        if self._pending or self._spans or self._blocks:
            self._settle()
        return self._dense

    def settle(self) -> None:
        """Add every pending posting into the arrays now (reads do it on their own)."""
        if self._pending or self._spans or self._blocks:
            self._settle()

    def _grow(self, acct: Account, rows: int, cols: int) -> np.ndarray:
        a = self._dense.get(acct)
        if a is None or a.shape[0] < rows or a.shape[1] < cols:
            old = a if a is not None else np.zeros((0, 0), dtype=np.int64)
            grown = np.zeros(
                (max(rows, old.shape[0], 8), max(cols, old.shape[1], 8)), dtype=np.int64
            )
            grown[: old.shape[0], : old.shape[1]] = old
            a = self._dense[acct] = grown
        return a

    def _array(self, acct: Account, rows: int, cols: int) -> np.ndarray:
        if self._pending or self._spans or self._blocks:
            self._settle()
        return self._grow(acct, rows, cols)

    def _settle(self) -> None:
        blocks, self._blocks = self._blocks, []
        for acct, rows, skus, vals, sign, (n_rows, n_cols), cells in blocks:
            a = self._grow(acct, n_rows, n_cols)
            add = np.add.at if sign > 0 else np.subtract.at
            if isinstance(rows, int):
                add(a[rows + 1], skus, vals)
            else:  # by location: row location + 1, from the flat array past row 0
                width = a.shape[1]
                if cells is not None:
                    flat = cells(width)
                else:
                    flat = rows * width
                    flat += skus
                add(a.reshape(-1)[width:], flat, vals)
        spans, self._spans = self._spans, []
        groups: dict[tuple[Account, int], list[tuple[Account, int, LineStore, int, int, int]]]
        groups = {}
        for sp in spans:
            groups.setdefault((sp[0], id(sp[2])), []).append(sp)
        for (acct, _store), parts in groups.items():
            store = parts[0][2]
            k = len(parts)
            start = np.fromiter((p[3] for p in parts), np.intp, k)
            n = np.fromiter((p[4] for p in parts), np.intp, k)
            total = int(n.sum())
            before = np.cumsum(n) - n  # where each span starts in the gathered lines
            idx = np.repeat(start - before, n) + np.arange(total)
            skus = np.frombuffer(store.skus, dtype=np.int32)[idx].astype(np.intp)
            vals = np.frombuffer(store.values, dtype=np.int64)[idx]
            vals *= np.repeat(np.fromiter((p[5] for p in parts), np.int64, k), n)
            rows = np.repeat(np.fromiter((p[1] + 1 for p in parts), np.intp, k), n)
            a = self._grow(acct, int(rows.max()) + 1, int(skus.max()) + 1)
            np.add.at(a, (rows, skus), vals)
        pending, self._pending = self._pending, []
        by_acct: dict[Account, list[tuple[Account, int, int, int]]] = {}
        for p in pending:
            by_acct.setdefault(p[0], []).append(p)
        for acct, lines in by_acct.items():
            k = len(lines)
            rows = np.fromiter((p[1] + 1 for p in lines), np.intp, k)
            skus = np.fromiter((p[2] for p in lines), np.intp, k)
            vals = np.fromiter((p[3] for p in lines), np.int64, k)
            a = self._grow(acct, int(rows.max()) + 1, int(skus.max()) + 1)
            np.add.at(a, (rows, skus), vals)

    def add(self, acct: Account, loc: int, sku: int, value: int) -> None:
        self._pending.append((acct, loc, sku, value))

    def add_block(
        self,
        acct: Account,
        rows: np.ndarray | int,
        skus: np.ndarray,
        values: np.ndarray,
        sign: int,
        extent: Extent,
        cells: Cells = None,
    ) -> None:
        """Add `sign * values` at (acct, rows, skus) on the next read: `rows` is the
        location per line (or one for every line, -1 for accounts not kept by location),
        `extent` the (rows, skus) the account's array must span, `cells(width)` (when
        given) rows * width + skus."""
        if len(skus):
            self._blocks.append((acct, rows, skus, values, sign, extent, cells))

    def add_span(
        self, acct: Account, loc: int, store: LineStore, start: int, n: int, sign: int
    ) -> None:
        """Add `sign * values` of the lines `store[start : start + n]` at (acct, loc, sku),
        on the next read of these balances (the store's lines never change once added)."""
        if n:
            self._spans.append((acct, loc, store, start, n, sign))

    def _find(self, key: BalanceKey) -> tuple[np.ndarray, int, int] | None:
        acct, loc, sku = key
        a = self._arr.get(acct)
        if a is None or not 0 <= loc + 1 < a.shape[0] or not 0 <= sku < a.shape[1]:
            return None
        return a, loc + 1, sku

    def __getitem__(self, key: BalanceKey) -> int:
        f = self._find(key)
        v = int(f[0][f[1], f[2]]) if f is not None else 0
        if not v:
            raise KeyError(key)
        return v

    def get(self, key: BalanceKey, default: int = 0) -> int:  # type: ignore[override]
        f = self._find(key)
        v = int(f[0][f[1], f[2]]) if f is not None else 0
        return v if v else default

    def __setitem__(self, key: BalanceKey, value: int) -> None:
        acct, loc, sku = key
        self._array(Account(acct), loc + 2, sku + 1)[loc + 1, sku] = value

    def __delitem__(self, key: BalanceKey) -> None:
        f = self._find(key)
        if f is None or not f[0][f[1], f[2]]:
            raise KeyError(key)
        f[0][f[1], f[2]] = 0

    def __iter__(self) -> Iterator[BalanceKey]:
        for acct in sorted(self._arr):
            rows, cols = np.nonzero(self._arr[acct])
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                yield (acct, r - 1, c)

    def __len__(self) -> int:
        return sum(int(np.count_nonzero(a)) for a in self._arr.values())

    def items(self) -> list[tuple[BalanceKey, int]]:  # type: ignore[override]
        """The non-zero balances, read account by account with numpy (not key by key)."""
        out: list[tuple[BalanceKey, int]] = []
        for acct in sorted(self._arr):
            a = self._arr[acct]
            rows, cols = np.nonzero(a)
            vals = a[rows, cols].tolist()
            out.extend(
                ((acct, r - 1, c), v)
                for r, c, v in zip(rows.tolist(), cols.tolist(), vals, strict=True)
            )
        return out

    def gather(self, acct: Account, locs: np.ndarray, skus: np.ndarray) -> np.ndarray:
        """Balances of `acct` at each (locs[i], skus[i]); 0 where never posted."""
        out = np.zeros(len(skus), dtype=np.int64)
        a = self._arr.get(acct)
        if a is not None:
            ok = (locs + 1 >= 0) & (locs + 1 < a.shape[0]) & (skus >= 0) & (skus < a.shape[1])
            out[ok] = a[locs[ok] + 1, skus[ok]]
        return out

    def account_total(self, acct: Account) -> int:
        a = self._arr.get(acct)
        return int(a.sum()) if a is not None else 0

    def total(self) -> int:
        return sum(int(a.sum()) for a in self._arr.values())

    def array(self, acct: Account) -> np.ndarray:
        """One account's balances as a [location + 1, sku] array (a copy; row 0: no location)."""
        a = self._arr.get(acct)
        return a.copy() if a is not None else np.zeros((0, 0), dtype=np.int64)

    def column(self, acct: Account, loc: int, n_sku: int) -> np.ndarray:
        """Balances of one account at one location for skus 0..n_sku-1 (a copy)."""
        out = np.zeros(n_sku, dtype=np.int64)
        a = self._arr.get(acct)
        if a is not None and 0 <= loc + 1 < a.shape[0]:
            m = min(n_sku, a.shape[1])
            out[:m] = a[loc + 1, :m]
        return out


@dataclass(slots=True, frozen=True)
class JournalLine:
    account: Account
    location: int  # -1 for accounts not kept by location
    sku: int
    debit: int
    credit: int


@dataclass(slots=True)
class JournalEntry:
    id: int
    movement_seq: int
    event_id: str
    lines: tuple[JournalLine, ...]
    movement_at: float
    created_at: float
    posted_at: float = math.nan
    kind: MovementKind | None = None

    @property
    def balanced(self) -> bool:
        return sum(ln.debit for ln in self.lines) == sum(ln.credit for ln in self.lines)

    @property
    def posted(self) -> bool:
        return not math.isnan(self.posted_at)

    @property
    def n_movements(self) -> int:
        return 1

    def post_into(self, bal: Balances, sign: int = 1) -> None:
        """Add the entry's lines to `bal` (`sign` -1: a reversal)."""
        for ln in self.lines:
            bal.add(ln.account, ln.location, ln.sku, sign * (ln.debit - ln.credit))

    def inventory_lines(self) -> set[tuple[Account, int]]:
        """The (inventory account, location) lines the entry touches."""
        return {(ln.account, ln.location) for ln in self.lines if ln.account in INVENTORY_ACCOUNTS}

    def value_cents(self) -> int:
        """Its size: the debits (= the credits) of a balanced entry."""
        return sum(ln.debit for ln in self.lines)

    def inventory_deltas(self) -> list[tuple[tuple[Account, int, int], int]]:
        return [
            ((ln.account, ln.location, ln.sku), ln.debit - ln.credit)
            for ln in self.lines
            if ln.account in INVENTORY_ACCOUNTS
        ]


#: the double entry of one line of a batch event, per kind: (account, kept at: "loc" the
#: event's location, "cp" its counterparty, "" not by location; +1 debit / -1 credit of
#: the line's value); `journal_lines` is the one-movement form
LINE_POSTINGS: dict[MovementKind, tuple[tuple[Account, str, int], ...]] = {
    MovementKind.OPENING: ((Account.INVENTORY, "loc", 1), (Account.OPENING_EQUITY, "", -1)),
    MovementKind.RECEIPT: ((Account.INVENTORY, "loc", 1), (Account.GRNI, "", -1)),
    MovementKind.SALE: ((Account.COGS, "", 1), (Account.INVENTORY, "loc", -1)),
    MovementKind.SHIPMENT: ((Account.COGS, "", 1), (Account.INVENTORY, "loc", -1)),
    MovementKind.SHRINK: ((Account.SHRINK, "", 1), (Account.INVENTORY, "loc", -1)),
    MovementKind.ADJUSTMENT: ((Account.INVENTORY, "loc", 1), (Account.SHRINK, "", -1)),
    MovementKind.RETURN_IN: (
        (Account.RETURNS_QUARANTINE, "loc", 1),
        (Account.RETURNS_RESERVE, "", -1),
    ),
    MovementKind.TRANSFER_OUT: ((Account.IN_TRANSIT, "cp", 1), (Account.INVENTORY, "loc", -1)),
    MovementKind.TRANSFER_IN: ((Account.INVENTORY, "loc", 1), (Account.IN_TRANSIT, "loc", -1)),
}
_BACK_ON_SHELF = (  # the cost of the original sale is reversed
    (Account.INVENTORY, "loc", 1),
    (Account.RETURNS_QUARANTINE, "loc", -1),
    (Account.RETURNS_RESERVE, "", 1),
    (Account.COGS, "", -1),
)
_WRITTEN_OFF = (  # nothing recovered, the original sale's cost stands
    (Account.RETURNS_RESERVE, "", 1),
    (Account.RETURNS_QUARANTINE, "loc", -1),
)
#: the batch rule of a disposition's lines, by disposition (`journal_lines` in line form)
DISPOSITION_POSTINGS: dict[Disposition, tuple[tuple[Account, str, int], ...]] = {
    Disposition.RESTOCK: _BACK_ON_SHELF,
    Disposition.REFURBISH: _BACK_ON_SHELF,
    Disposition.RETURN_TO_VENDOR: (
        (Account.VENDOR_RECEIVABLE, "", 1),
        (Account.RETURNS_QUARANTINE, "loc", -1),
        (Account.RETURNS_RESERVE, "", 1),
        (Account.COGS, "", -1),
    ),
    Disposition.LIQUIDATE: _WRITTEN_OFF,
    Disposition.SCRAP: _WRITTEN_OFF,
}
assert set(LINE_POSTINGS) | {MovementKind.DISPOSITION} == LINE_KINDS
assert set(DISPOSITION_POSTINGS) == set(Disposition) - {Disposition.NONE}
assert all(sum(sign for _a, _w, sign in r) == 0 for r in DISPOSITION_POSTINGS.values())
#: batch rules with more debit than credit postings of a line (or fewer): none today
_UNEVEN = frozenset(
    k for k, rule in LINE_POSTINGS.items() if sum(sign for _a, _w, sign in rule) != 0
)


class LineStore:
    """Every batch entry's lines, by column in two typed arrays for the whole journal: an
    entry keeps where its lines start and how many (not two arrays of its own, whose
    headers alone outweighed a till batch's ten lines)."""

    __slots__ = ("skus", "values")

    def __init__(self) -> None:
        self.skus = array("i")
        self.values = array("q")

    def add(self, skus: Sequence[int], values: Sequence[int]) -> int:
        """Append one entry's lines; returns where they start."""
        start = len(self.skus)
        self.skus.extend(skus if isinstance(skus, array) else array("i", skus))
        self.values.extend(values if isinstance(values, array) else array("q", values))
        return start


@dataclass(slots=True)
class BatchJournalEntry:
    """One journal entry for a batch event: the double entry of every line, kept as the
    lines' values (one entry per event, not per movement, so a long run stays small)."""

    id: int
    movement_seq: int  # seq of the first line; the lines are consecutive movements
    event_id: str
    kind: MovementKind
    location: int
    store: LineStore
    start: int  # the entry's lines are store[start : start + n]
    n: int
    movement_at: float
    created_at: float
    posted_at: float = math.nan
    counterparty: int = -1
    disposition: Disposition = Disposition.NONE

    @property
    def rule(self) -> tuple[tuple[Account, str, int], ...]:
        """(account, kept at, sign) of each posting of every line: by kind, and for a
        disposition by its disposition."""
        r = LINE_POSTINGS.get(self.kind)
        return r if r is not None else DISPOSITION_POSTINGS[self.disposition]

    @property
    def skus(self) -> array:
        return self.store.skus[self.start : self.start + self.n]

    @property
    def values(self) -> array:
        """Value in cents of each line, at standard cost."""
        return self.store.values[self.start : self.start + self.n]

    def _where(self, at: str) -> int:
        return self.location if at == "loc" else self.counterparty if at == "cp" else -1

    @property
    def lines(self) -> tuple[JournalLine, ...]:
        out = []
        for acct, at, sign in self.rule:
            loc = self._where(at)
            line = _dr if sign > 0 else _cr
            out.extend(line(acct, loc, s, v) for s, v in zip(self.skus, self.values, strict=True))
        return tuple(out)

    @property
    def balanced(self) -> bool:
        pos = sum(v for v in self.values if v > 0)
        neg = sum(-v for v in self.values if v < 0)
        signs = [sign for _a, _l, sign in self.rule]
        ups, downs = signs.count(1), signs.count(-1)
        return ups * pos + downs * neg == ups * neg + downs * pos

    @property
    def posted(self) -> bool:
        return not math.isnan(self.posted_at)

    @property
    def n_movements(self) -> int:
        return self.n

    def post_into(self, bal: Balances, sign: int = 1) -> None:
        """Add the entry's lines to `bal` (`sign` -1: a reversal)."""
        for acct, at, rule_sign in self.rule:
            bal.add_span(acct, self._where(at), self.store, self.start, self.n, sign * rule_sign)

    def inventory_lines(self) -> set[tuple[Account, int]]:
        """The (inventory account, location) lines the entry touches."""
        return {(acct, self._where(at)) for acct, at, _s in self.rule if acct in INVENTORY_ACCOUNTS}

    def value_cents(self) -> int:
        """Its size: the absolute value of its lines."""
        return sum(map(abs, self.values))

    def inventory_deltas(self) -> list[tuple[tuple[Account, int, int], int]]:
        return [
            ((acct, self._where(at), s), sign * v)
            for acct, at, sign in self.rule
            if acct in INVENTORY_ACCOUNTS
            for s, v in zip(self.skus, self.values, strict=True)
        ]


#: an envelope's rule per kind: the batch rules, and losses in transit
ENVELOPE_POSTINGS: dict[MovementKind, tuple[tuple[Account, str, int], ...]] = {
    **LINE_POSTINGS,
    MovementKind.TRANSIT_LOSS: ((Account.SHRINK, "", 1), (Account.IN_TRANSIT, "loc", -1)),
}
#: a receipt off standard cost: inventory at standard, GRNI at the price paid, the
#: difference to purchase-price variance ("v": value column, "paid", "ppv": paid - v)
_RECEIPT_PAID = (
    (Account.INVENTORY, "loc", 1, "v"),
    (Account.GRNI, "", -1, "paid"),
    (Account.PPV, "", 1, "ppv"),
)


@dataclass(slots=True)
class EnvelopeJournalEntry:
    """One journal entry for a whole envelope: each line's double entry, by column (a
    value per line), posted into the balances with one numpy call per account."""

    id: int
    movement_seq: int  # seq of the first line; the lines are consecutive movements
    event_id: str
    kind: MovementKind
    location: np.ndarray  # per line
    counterparty: np.ndarray | None  # per line, transfers
    skus: np.ndarray  # per line
    values: np.ndarray  # per line: value at standard cost, in cents
    paid: np.ndarray | None  # receipts with a price: what was paid per line, in cents
    at: np.ndarray  # per sub-stream: when its lines happened
    counts: np.ndarray  # per sub-stream: how many lines
    extent: Extent  # (1 + the largest location or counterparty + 1, 1 + the largest sku)
    movement_at: float
    created_at: float
    posted_at: float = math.nan
    disposition: Disposition = Disposition.NONE
    cells: Cells = None  # the envelope's `cells`, until the entry first posts

    def postings(self) -> list[tuple[Account, str, int, np.ndarray]]:
        """(account, kept at, sign, value per line) of every posting of every line."""
        if self.paid is not None:
            cols = {"v": self.values, "paid": self.paid, "ppv": self.paid - self.values}
            return [(a, at, sign, cols[c]) for a, at, sign, c in _RECEIPT_PAID]
        rule = ENVELOPE_POSTINGS.get(self.kind) or DISPOSITION_POSTINGS[self.disposition]
        return [(a, at, sign, self.values) for a, at, sign in rule]

    def _where(self, at: str) -> np.ndarray | int:
        """Location per line of a posting kept at `at`, or -1 (not kept by location)."""
        if at == "loc":
            return self.location
        if at == "cp":
            assert self.counterparty is not None
            return self.counterparty
        return -1

    @property
    def lines(self) -> tuple[JournalLine, ...]:
        out = []
        skus = self.skus.tolist()
        for acct, at, sign, vals in self.postings():
            where = self._where(at)
            locs = [where] * len(skus) if isinstance(where, int) else where.tolist()
            line = _dr if sign > 0 else _cr
            out.extend(
                line(acct, lc, s, v)
                for lc, s, v in zip(locs, skus, vals.tolist(), strict=True)
                if v or acct is not Account.PPV
            )
        return tuple(out)

    @property
    def balanced(self) -> bool:
        """Debits equal credits: their difference is the signed sum of every posting."""
        return sum(sign * int(vals.sum()) for _a, _at, sign, vals in self.postings()) == 0

    @property
    def posted(self) -> bool:
        return not math.isnan(self.posted_at)

    @property
    def n_movements(self) -> int:
        return len(self.skus)

    def post_into(self, bal: Balances, sign: int = 1) -> None:
        """Add the entry's lines to `bal` (`sign` -1: a reversal)."""
        cells, self.cells = self.cells, None  # not kept: it holds the envelope
        for acct, at, rule_sign, vals in self.postings():
            where = self._where(at)
            mine = cells if at == "loc" else None
            bal.add_block(acct, where, self.skus, vals, sign * rule_sign, self.extent, mine)

    def inventory_arrays(self) -> list[tuple[Account, np.ndarray, np.ndarray]]:
        """(inventory account, location per line, signed value per line) of each posting
        that touches an inventory account."""
        return [
            (acct, self._where(at), sign * vals)  # type: ignore[misc]
            for acct, at, sign, vals in self.postings()
            if acct in INVENTORY_ACCOUNTS
        ]

    def inventory_lines(self) -> set[tuple[Account, int]]:
        """The (inventory account, location) lines the entry touches."""
        return {
            (acct, loc)
            for acct, locs, _v in self.inventory_arrays()
            for loc in np.unique(locs).tolist()
        }

    def value_cents(self) -> int:
        """Its size: the absolute value of its lines."""
        return int(np.abs(self.values).sum())

    def approval_cents(self) -> int:
        """What the auto-approval limit is held against: its largest line (the limit is
        per line, as for the same lines booked one command at a time)."""
        return int(np.abs(self.values).max()) if len(self.values) else 0

    def inventory_deltas(self) -> list[tuple[tuple[Account, int, int], int]]:
        skus = self.skus.tolist()
        return [
            ((acct, lc, s), v)
            for acct, locs, vals in self.inventory_arrays()
            for lc, s, v in zip(locs.tolist(), skus, vals.tolist(), strict=True)
        ]

    def delays(self) -> np.ndarray:
        """Seconds from each line's movement to the posting."""
        return np.repeat(self.posted_at - self.at, self.counts)


AnyEntry = JournalEntry | BatchJournalEntry | EnvelopeJournalEntry


def _approval_cents(e: AnyEntry) -> int:
    """What an entry's variance is held against the auto-approval limit by: an envelope
    by its largest line, an entry or a batch by its size."""
    return e.approval_cents() if isinstance(e, EnvelopeJournalEntry) else e.value_cents()


class Fate(IntEnum):
    """What the ERP does with a posting that reaches it."""

    POSTED = 0
    REJECTED = 1  # an error response: the entry waits in the ERP's error queue
    DUPLICATED = 2  # posted twice (a time-out retried by the middleware, posted both times)


class PostingPath(Protocol):
    """The integration path from the core's journal to the ERP (middleware, the ERP's API,
    their outages): for `n` entries sent at `now` (seconds), when the ERP answers each and
    what it does."""

    def send(self, now: float, n: int) -> Sequence[tuple[float, Fate]]: ...


#: movements whose entries are reason-coded adjustments: above the auto-approval limit
#: they wait for finance's approval, and each is a reconciling item until then
VARIANCE_KINDS: dict[MovementKind, str] = {
    MovementKind.ADJUSTMENT: "count_adjustment",
    MovementKind.SHRINK: "write_off",
    MovementKind.TRANSIT_LOSS: "receiving",  # received short of what was shipped
}
#: why an entry keeps the GL from the ledger at a close
MISMATCH_KINDS = (
    *VARIANCE_KINDS.values(),
    "failed_posting",  # rejected by the ERP, in its error queue
    "duplicate_posting",  # posted twice
    "late_posting",  # of the period, still on its way to the ERP at the close
)


@dataclass(slots=True, frozen=True)
class Mismatch:
    """An (inventory account, location) line of the GL that disagrees with the ledger at a
    close, because of journal entry `entry`, for the reason `kind` (MISMATCH_KINDS)."""

    kind: str
    account: Account
    location: int
    entry: int


def _dr(acct: Account, loc: int, sku: int, v: int) -> JournalLine:
    return JournalLine(acct, loc, sku, v, 0) if v >= 0 else JournalLine(acct, loc, sku, 0, -v)


def _cr(acct: Account, loc: int, sku: int, v: int) -> JournalLine:
    return JournalLine(acct, loc, sku, 0, v) if v >= 0 else JournalLine(acct, loc, sku, -v, 0)


def journal_lines(m: Movement) -> tuple[JournalLine, ...]:
    """The double entry for one movement (values at standard cost)."""
    k = m.kind
    s, loc, v = m.sku, m.location, m.value_cents
    if k is MovementKind.OPENING:
        return (_dr(Account.INVENTORY, loc, s, v), _cr(Account.OPENING_EQUITY, -1, s, v))
    if k is MovementKind.RECEIPT:
        paid = m.qty * m.price_cents
        lines = [_dr(Account.INVENTORY, loc, s, v), _cr(Account.GRNI, -1, s, paid)]
        if paid != v:
            lines.append(_dr(Account.PPV, -1, s, paid - v))
        return tuple(lines)
    if k is MovementKind.SALE or k is MovementKind.SHIPMENT:
        return (_dr(Account.COGS, -1, s, v), _cr(Account.INVENTORY, loc, s, v))
    if k is MovementKind.TRANSFER_OUT:
        return (_dr(Account.IN_TRANSIT, m.counterparty, s, v), _cr(Account.INVENTORY, loc, s, v))
    if k is MovementKind.TRANSFER_IN:
        return (_dr(Account.INVENTORY, loc, s, v), _cr(Account.IN_TRANSIT, loc, s, v))
    if k is MovementKind.TRANSIT_LOSS:
        return (_dr(Account.SHRINK, -1, s, v), _cr(Account.IN_TRANSIT, loc, s, v))
    if k is MovementKind.RETURN_IN:
        return (_dr(Account.RETURNS_QUARANTINE, loc, s, v), _cr(Account.RETURNS_RESERVE, -1, s, v))
    if k is MovementKind.DISPOSITION:
        out = _cr(Account.RETURNS_QUARANTINE, loc, s, v)
        d = m.disposition
        if d is Disposition.RESTOCK or d is Disposition.REFURBISH:
            # back on the shelf: the cost of the original sale is reversed
            return (
                _dr(Account.INVENTORY, loc, s, v),
                out,
                _dr(Account.RETURNS_RESERVE, -1, s, v),
                _cr(Account.COGS, -1, s, v),
            )
        if d is Disposition.RETURN_TO_VENDOR:
            return (
                _dr(Account.VENDOR_RECEIVABLE, -1, s, v),
                out,
                _dr(Account.RETURNS_RESERVE, -1, s, v),
                _cr(Account.COGS, -1, s, v),
            )
        # scrap or liquidation: nothing recovered, the original sale's cost stands
        return (_dr(Account.RETURNS_RESERVE, -1, s, v), out)
    if k is MovementKind.ADJUSTMENT:
        return (_dr(Account.INVENTORY, loc, s, v), _cr(Account.SHRINK, -1, s, v))
    if k is MovementKind.SHRINK:
        return (_dr(Account.SHRINK, -1, s, v), _cr(Account.INVENTORY, loc, s, v))
    raise InvalidCommand(f"kind: no posting rule for {k!r}")  # pragma: no cover


@dataclass(slots=True, frozen=True)
class Difference:
    """A GL inventory account (by location and sku) that disagrees with the ledger."""

    account: Account
    location: int
    sku: int
    gl_cents: int
    ledger_cents: int

    @property
    def delta_cents(self) -> int:
        return self.gl_cents - self.ledger_cents

    def __str__(self) -> str:
        return (
            f"{int(self.account)} {ACCOUNT_NAMES[self.account]} loc {self.location} sku {self.sku}:"
            f" GL {self.gl_cents} vs ledger {self.ledger_cents} ({self.delta_cents:+d})"
        )


class GeneralLedger:
    """Journal entries, pending and posted, and account balances by (account, location, sku).

    An entry is created when its movement is recorded and posted when the ERP takes it:

    - variances (`VARIANCE_KINDS`) worth more than `auto_approve_max_cents` are `parked`
      until finance approves them at a close (`approve`); `None`: none wait (an envelope's
      entry waits, whole, when any one of its lines is worth more: the limit is per line);
    - in `batch` mode an entry is `pending` until the next run sends it; in `immediate`
      mode it is sent at once (unless `suspend`ed);
    - a sent entry posts at once, or with a `path` when the ERP answers: until then it is
      `in_flight`; the ERP may reject it (`rejected`, until finance reposts it by hand,
      `repost`) or post it twice (`duplicates`, until finance reverses the copy,
      `reverse_duplicates`).
    """

    def __init__(
        self,
        mode: str = "immediate",
        batch_every_h: float | None = None,
        nightly_at_h: float | None = None,
        start: float = 0.0,
        *,
        path: PostingPath | None = None,
        auto_approve_max_cents: int | None = None,
    ) -> None:
        if mode not in ("immediate", "batch"):
            raise InvalidCommand(f"posting.mode: must be 'immediate' or 'batch', got {mode!r}")
        if mode == "batch":
            if (batch_every_h is None) == (nightly_at_h is None):
                raise InvalidCommand(
                    "posting: batch mode needs exactly one of batch_every_h or nightly_at_h"
                )
            if batch_every_h is not None and batch_every_h <= 0:
                raise InvalidCommand(f"posting.batch_every_h: must be > 0, got {batch_every_h}")
            if nightly_at_h is not None and not 0 <= nightly_at_h < 24:
                raise InvalidCommand(
                    f"posting.nightly_at_h: must be within 0..24, got {nightly_at_h}"
                )
        if auto_approve_max_cents is not None and auto_approve_max_cents < 0:
            raise InvalidCommand(
                f"posting.auto_approve_max_cents: must be >= 0, got {auto_approve_max_cents}"
            )
        self.mode = mode
        self.batch_every_s = batch_every_h * 3600.0 if batch_every_h else None
        self.nightly_at_s = nightly_at_h * 3600.0 if nightly_at_h is not None else None
        self.path = path
        self.auto_approve_max_cents = auto_approve_max_cents
        self.entries: list[AnyEntry] = []
        self.line_store = LineStore()  # the lines of every batch entry
        self.pending: list[AnyEntry] = []  # waiting for a batch run (or the ERP to resume)
        self.parked: list[AnyEntry] = []  # variances waiting for finance's approval
        self.in_flight: list[tuple[float, int, Fate, AnyEntry]] = []  # heap: (due, id, ...)
        self.rejected: list[AnyEntry] = []  # the ERP's error queue
        self.duplicates: list[AnyEntry] = []  # posted twice, the copy not yet reversed
        #: finance's corrections: (time, "approved" / "reposted" / "reversed", entry id)
        self.corrections: list[tuple[float, str, int]] = []
        self.on_rejected: Callable[[AnyEntry], None] | None = None  # the core raises it
        self.balances = Balances()
        # posted since `drain_posted` last ran (None until it first runs: nobody asked)
        self.posted_since: list[AnyEntry] | None = None
        self.suspended = False
        self.next_run: float | None = self._first_run(start) if mode == "batch" else None
        self.last_run = start  # the cut-off of the last batch run (batch mode)

    def _first_run(self, start: float) -> float:
        if self.batch_every_s is not None:
            return start + self.batch_every_s
        assert self.nightly_at_s is not None
        day = math.floor(start / 86400.0) * 86400.0
        t = day + self.nightly_at_s
        return t if t > start else t + 86400.0

    def suspend(self) -> None:
        """The ERP is unreachable: entries queue until `resume` (a failed-posting window)."""
        self.suspended = True

    def resume(self, now: float) -> int:
        """The ERP is back: immediate mode sends the queue now; batch mode waits for its run."""
        self.suspended = False
        if self.mode == "immediate":
            return self.flush(now)
        if self.next_run is None or self.next_run > now:
            return 0
        # batch runs missed during the outage run once, now
        while self.next_run <= now:
            self.next_run += self.batch_every_s if self.batch_every_s else 86400.0
        self.last_run = now
        return self.flush(now)

    def record(self, m: Movement, now: float) -> AnyEntry:
        """The entry for one movement. A kind with a batch rule (and a receipt at standard
        cost, so without price variance) is kept as a one-line batch entry: the same
        debits and credits as `journal_lines(m)`, in its line store rather than as line
        objects (a run posts ~500,000 ships and returns one by one)."""
        if m.kind in LINE_KINDS and (
            m.kind is not MovementKind.RECEIPT or m.price_cents == m.unit_cost_cents
        ):
            e: AnyEntry = BatchJournalEntry(
                len(self.entries),
                m.seq,
                m.event_id,
                m.kind,
                m.location,
                self.line_store,
                self.line_store.add((m.sku,), (m.value_cents,)),
                1,
                m.at,
                now,
                counterparty=m.counterparty,
                disposition=m.disposition,
            )
        else:
            e = JournalEntry(
                len(self.entries), m.seq, m.event_id, journal_lines(m), m.at, now, kind=m.kind
            )
        self._enter(e, now)
        return e

    def record_lines(
        self,
        kind: MovementKind,
        location: int,
        skus: Sequence[int],
        values: Sequence[int],
        *,
        first_seq: int,
        event_id: str,
        at: float,
        now: float,
        counterparty: int = -1,
        disposition: Disposition = Disposition.NONE,
    ) -> BatchJournalEntry:
        """One entry for a batch event's lines (`values` in cents, one per line)."""
        if kind not in LINE_KINDS:
            raise InvalidCommand(f"kind: no batch posting rule for {kind.name.lower()}")
        if (kind is MovementKind.DISPOSITION) is not bool(disposition):
            raise InvalidCommand(
                f"disposition: {disposition!r} does not go with {kind.name.lower()}"
            )
        e = BatchJournalEntry(
            len(self.entries),
            first_seq,
            event_id,
            kind,
            location,
            self.line_store,
            self.line_store.add(skus, values),
            len(skus),
            at,
            now,
            counterparty=counterparty,
            disposition=disposition,
        )
        self._enter(e, now)
        return e

    def record_envelope(
        self,
        env: Envelope,
        values: np.ndarray,
        *,
        first_seq: int,
        now: float,
        extent: Extent,
    ) -> EnvelopeJournalEntry:
        """One entry for an envelope's lines (`values`: each line at standard cost, in
        cents); a receipt envelope with prices puts the difference in price variance."""
        kind = env.kind
        if kind not in ENVELOPE_POSTINGS and kind is not MovementKind.DISPOSITION:
            raise InvalidCommand(f"kind: no envelope posting rule for {kind.name.lower()}")
        e = EnvelopeJournalEntry(
            len(self.entries),
            first_seq,
            env.event_id,
            kind,
            env.location,
            env.counterparty,
            env.sku,
            values,
            None if env.price is None else env.qty * env.price,
            env.at,
            env.start[1:] - env.start[:-1],
            extent,
            float(env.at[0]),
            now,
            disposition=env.disposition,
            cells=env.cells,
        )
        self._enter(e, now)
        return e

    def _enter(self, e: AnyEntry, now: float) -> None:
        self.entries.append(e)
        limit = self.auto_approve_max_cents
        if limit is not None and e.kind in VARIANCE_KINDS and _approval_cents(e) > limit:
            self.parked.append(e)
        else:
            self._release(e, now)

    def _release(self, e: AnyEntry, now: float) -> None:
        """An entry free to go: sent at once in immediate mode, else it waits for a run."""
        if self.mode == "immediate" and not self.suspended:
            self._send([e], now)
        else:
            self.pending.append(e)

    def _send(self, entries: Sequence[AnyEntry], now: float) -> None:
        """Entries leave for the ERP: posted now, or on their way along the path (their
        answers are taken by `settle`, at the time each was due)."""
        if self.path is None:
            for e in entries:
                self._post(e, now)
            return
        heap = self.in_flight
        for e, (due, fate) in zip(entries, self.path.send(now, len(entries)), strict=True):
            heapq.heappush(heap, (max(due, now), e.id, fate, e))

    def _post(self, e: AnyEntry, now: float) -> None:
        e.post_into(self.balances)
        e.posted_at = now
        if self.posted_since is not None:
            self.posted_since.append(e)

    def settle(self, now: float) -> int:
        """The ERP's answers due by `now`, in the order they came: postings, rejections and
        double postings; returns how many were answered."""
        n = 0
        heap = self.in_flight
        while heap and heap[0][0] <= now:
            due, _id, fate, e = heapq.heappop(heap)
            n += 1
            if fate is Fate.REJECTED:
                self.rejected.append(e)
                if self.on_rejected is not None:
                    self.on_rejected(e)
                continue
            self._post(e, due)
            if fate is Fate.DUPLICATED:
                e.post_into(self.balances)
                self.duplicates.append(e)
                if self.posted_since is not None:
                    self.posted_since.append(e)
        return n

    def poll(self, now: float) -> int:
        """Take the ERP's answers due by `now` and run every batch that is due; returns
        entries sent by the batch runs."""
        self.settle(now)
        n = 0
        while self.next_run is not None and self.next_run <= now and not self.suspended:
            self.last_run = self.next_run
            n += self.flush(self.next_run)
            self.next_run += self.batch_every_s if self.batch_every_s else 86400.0
        self.settle(now)
        return n

    def flush(self, now: float) -> int:
        """Send everything pending that was recorded by `now` (a batch run at `now`).

        `poll` catching up on overdue runs calls this with each run's time, so an entry
        recorded after a run waits for the next one instead of being posted before it existed.
        """
        pending = self.pending
        due = [e for e in pending if e.created_at <= now]
        if len(due) == len(pending):
            pending.clear()
        else:
            pending[:] = [e for e in pending if e.created_at > now]
        self._send(due, now)
        return len(due)

    # -- finance's close -----------------------------------------------------------
    def cutoff(self, now: float) -> float:
        """Where the period a close at `now` reconciles ends: the last batch run (batch
        mode: the day's postings are the night's run), or the close itself (immediate)."""
        return self.last_run if self.mode == "batch" else now

    def mismatches(self, now: float) -> list[Mismatch]:
        """At a close at `now`, after the ERP's answers due by then: every (inventory account,
        location) line of every entry that keeps the GL from the ledger for the period up
        to `cutoff(now)` — a variance awaiting approval, a posting the ERP rejected or
        posted twice, or one still on its way (late for the period)."""
        self.settle(now)
        cut = self.cutoff(now)
        found: list[tuple[str, AnyEntry]] = [
            (VARIANCE_KINDS[e.kind], e)  # type: ignore[index]  # parked: a variance kind
            for e in self.parked
            if e.created_at <= cut
        ]
        found += [("failed_posting", e) for e in self.rejected]
        found += [("duplicate_posting", e) for e in self.duplicates]
        waiting = [e for _due, _id, _f, e in self.in_flight] + self.pending
        found += [("late_posting", e) for e in waiting if e.created_at <= cut]
        return [
            Mismatch(kind, acct, loc, e.id)
            for kind, e in found
            for acct, loc in sorted(e.inventory_lines())
        ]

    def approve(self, now: float, upto: float | None = None) -> list[AnyEntry]:
        """Finance approves the parked variances recorded by `upto` (default: all): they go
        to the ERP like any entry."""
        cut = math.inf if upto is None else upto
        go = [e for e in self.parked if e.created_at <= cut]
        self.parked = [e for e in self.parked if e.created_at > cut]
        for e in go:
            self.corrections.append((now, "approved", e.id))
            self._release(e, now)
        return go

    def repost(self, now: float) -> list[AnyEntry]:
        """Finance corrects every rejected entry and posts it by hand in the ERP, now."""
        done, self.rejected = self.rejected, []
        for e in done:
            self._post(e, now)
            self.corrections.append((now, "reposted", e.id))
        return done

    def reverse_duplicates(self, now: float) -> list[AnyEntry]:
        """Finance reverses the second posting of every entry the ERP posted twice."""
        done, self.duplicates = self.duplicates, []
        for e in done:
            e.post_into(self.balances, -1)
            if self.posted_since is not None:
                self.posted_since.append(e)
            self.corrections.append((now, "reversed", e.id))
        return done

    def outstanding(self) -> Iterator[AnyEntry]:
        """Every entry not posted yet: waiting for a run, parked, in flight or rejected."""
        yield from self.pending
        yield from self.parked
        yield from (e for _due, _id, _f, e in self.in_flight)
        yield from self.rejected

    # -- reading -------------------------------------------------------------------
    def account_total(self, account: Account | int) -> int:
        return self.balances.account_total(Account(account))

    def posting_delays(self) -> list[float]:
        """Seconds from each movement to its posting (a batch entry's delay once per line)."""
        out: list[float] = []
        for e in self.entries:
            if not e.posted:
                continue
            if isinstance(e, EnvelopeJournalEntry):
                out.extend(e.delays().tolist())
            else:
                out.extend([e.posted_at - e.movement_at] * e.n_movements)
        return out

    @property
    def unposted(self) -> int:
        """Movements whose journal entry is not posted: waiting for a run or an approval, on
        its way to the ERP or in its error queue."""
        return sum(e.n_movements for e in self.outstanding())

    def all_balanced(self) -> bool:
        """Every entry's debits equal its credits.

        A batch entry whose rule posts each line value as many times to debit as to
        credit balances whatever the values (`BatchJournalEntry.balanced` reduces to
        n·Σv = n·Σv), so only entries of other rules are summed.
        """
        return all(
            e.balanced
            for e in self.entries
            if type(e) is not BatchJournalEntry or e.kind in _UNEVEN
        )

    def trial_balance_zero(self) -> bool:
        return self.balances.total() == 0

    def drain_posted(self, before_seq: int) -> set[tuple[Account, int, int]]:
        """(account, location, sku) of every inventory line posted since the last drain,
        for entries of movements before `before_seq` (later ones the caller has already)."""
        accounts, locs, skus = self.drain_posted_lines(before_seq)
        return set(
            zip(
                [RECONCILED[a] for a in accounts.tolist()],
                locs.tolist(),
                skus.tolist(),
                strict=True,
            )
        )

    def drain_posted_lines(self, before_seq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`drain_posted` as arrays (index into `RECONCILED`, location, sku), repeats
        allowed: an envelope's lines are read by column."""
        keys: list[tuple[Account, int, int]] = []
        arrays: list[tuple[Account, np.ndarray | int, np.ndarray]] = []
        if self.posted_since is None:  # the first drain: from now on, postings are noted
            self.posted_since = []
        for e in self.posted_since:
            if e.movement_seq >= before_seq:
                continue
            if isinstance(e, EnvelopeJournalEntry):
                arrays.extend((acct, locs, e.skus) for acct, locs, _v in e.inventory_arrays())
            elif isinstance(e, BatchJournalEntry):
                for acct, at, _sign in e.rule:
                    if acct in INVENTORY_ACCOUNTS:
                        loc = e._where(at)
                        keys.extend((acct, loc, s) for s in e.skus)
            else:
                keys.extend(
                    (ln.account, ln.location, ln.sku)
                    for ln in e.lines
                    if ln.account in INVENTORY_ACCOUNTS
                )
        self.posted_since.clear()
        parts = [
            (
                np.array([RECONCILED.index(a) for a, _l, _s in keys], dtype=np.int64),
                np.array([lc for _a, lc, _s in keys], dtype=np.int64),
                np.array([s for _a, _l, s in keys], dtype=np.int64),
            )
        ]
        for acct, locs, skus in arrays:
            a = np.full(len(skus), RECONCILED.index(acct), dtype=np.int64)
            parts.append((a, np.broadcast_to(locs, skus.shape), skus))
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]).astype(np.int64),
            np.concatenate([p[2] for p in parts]).astype(np.int64),
        )

    def reconcile_lines(
        self,
        ledger: StockLedger,
        std_cost: list[int],
        accounts: np.ndarray,
        locs: np.ndarray,
        skus: np.ndarray,
    ) -> list[Difference]:
        """`reconcile` restricted to the lines (accounts[i], locs[i], skus[i]), in numpy;
        `accounts` holds indexes into `RECONCILED` (inventory accounts)."""
        if not len(skus):
            return []
        d = ledger.dense(int(skus.max()) + 1, int(locs.max()) + 1)
        cost = np.asarray(std_cost, dtype=np.int64)[skus]
        want = np.zeros(len(skus), dtype=np.int64)
        got = np.zeros(len(skus), dtype=np.int64)
        for i, acct in enumerate(RECONCILED):
            m = accounts == i
            if m.any():
                bucket = getattr(d, INVENTORY_ACCOUNTS[acct])
                want[m] = bucket[skus[m], locs[m]] * cost[m]
                got[m] = self.balances.gather(acct, locs[m], skus[m])
        bad = np.flatnonzero(got != want)
        diffs = [
            Difference(RECONCILED[a], lc, sk, g, w)
            for a, lc, sk, g, w in zip(
                accounts[bad].tolist(),
                locs[bad].tolist(),
                skus[bad].tolist(),
                got[bad].tolist(),
                want[bad].tolist(),
                strict=True,
            )
        ]
        diffs.sort(key=lambda d: (d.account, d.location, d.sku))
        return diffs

    def reconcile(
        self, ledger: StockLedger, std_cost: list[int], *, include_pending: bool = False
    ) -> list[Difference]:
        """Every (account, location, sku) where GL inventory ≠ ledger valuation.

        With `include_pending`, entries not posted yet (waiting for a batch or an approval,
        in flight, rejected) count as if posted: the check "once postings are flushed"
        without flushing them.
        """
        t = ledger.table
        sku, loc = t.column("sku"), t.column("location")
        cost = np.asarray(std_cost, dtype=np.int64)
        # entries not posted yet, per inventory account: (location, sku, signed value)
        pend: dict[Account, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        if include_pending:
            singles: list[tuple[tuple[Account, int, int], int]] = []
            for e in self.outstanding():
                if isinstance(e, EnvelopeJournalEntry):
                    for acct, locs, vals in e.inventory_arrays():
                        pend.setdefault(acct, []).append((locs, e.skus, vals))
                else:
                    singles.extend(e.inventory_deltas())
            for acct in INVENTORY_ACCOUNTS:
                mine = [(lc, sk, v) for (a, lc, sk), v in singles if a == acct]
                if mine:
                    lc, sk, v = (np.array(c, dtype=np.int64) for c in zip(*mine, strict=True))
                    pend.setdefault(acct, []).append((lc, sk, v))
        bal = self.balances
        diffs = []
        for acct, bucket in INVENTORY_ACCOUNTS.items():
            held = bal.array(acct)
            extra = pend.get(acct, [])
            rows = max(held.shape[0], int(loc.max()) + 2 if len(loc) else 0, 1)
            cols = max(held.shape[1], int(sku.max()) + 1 if len(sku) else 0, 1)
            for lc, sk, _v in extra:
                rows, cols = max(rows, int(lc.max()) + 2), max(cols, int(sk.max()) + 1)
            got = np.zeros((rows, cols), dtype=np.int64)
            got[: held.shape[0], : held.shape[1]] = held
            for lc, sk, v in extra:
                np.add.at(got, (lc + 1, sk), v)
            want = np.zeros((rows, cols), dtype=np.int64)
            want[loc + 1, sku] = t.column(bucket) * cost[sku]
            r, c = np.nonzero(got != want)
            diffs.extend(
                Difference(acct, rr - 1, cc, g, w)
                for rr, cc, g, w in zip(
                    r.tolist(), c.tolist(), got[r, c].tolist(), want[r, c].tolist(), strict=True
                )
            )
        diffs.sort(key=lambda d: (d.account, d.location, d.sku))
        return diffs
