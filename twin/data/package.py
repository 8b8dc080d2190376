"""Reading and checking a data package: a folder of CSV or Parquet tables (`tables.TABLES`).

`check(folder)` returns every problem by file, row and column, and every row or column
deliberately ignored with the reason; `load(folder)` returns the `Package` or raises
`PackageError` with the problems. Columns are read and checked whole, with Arrow and
numpy, so a year of daily sales of a large retailer loads in seconds. Rows count from 1
at the first data row (a CSV's line N + 1; blank lines are not rows).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .tables import LOCATION_KINDS, TABLE, TABLES, Column, Table

#: problems listed one by one per (file, column, kind of problem); the rest are counted
LIST_UP_TO = 200
#: the `Package.sales.channel` of a walk-in sale
WALK_IN = -1
_EPOCH = dt.date(1970, 1, 1)


def day_of(d: dt.date) -> int:
    """Days since 1970-01-01 (the package's day numbers)."""
    return (d - _EPOCH).days


def date_of(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


@dataclass(slots=True, frozen=True)
class Problem:
    """One thing wrong with a package: the file, the row (from 1) and the column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        place = f" {', '.join(where)}" if where else ""
        return f"{self.file}:{place}: {self.message}" if place else f"{self.file}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "msg": self.message}


@dataclass(slots=True, frozen=True)
class Ignored:
    """Rows, columns or files left out on purpose: how many, why, and the first rows."""

    file: str
    count: int
    what: str  # "rows", "columns" or "files"
    reason: str
    first_rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        listed = ", ".join(map(str, self.first_rows))
        more = "…" if self.count > len(self.first_rows) else ""
        rows = f" (row{'s' if self.count > 1 else ''} {listed}{more})" if self.first_rows else ""
        what = self.what[:-1] if self.count == 1 else self.what
        return f"{self.file}: {self.count:,} {what} ignored: {self.reason}{rows}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "count": self.count,
            "what": self.what,
            "reason": self.reason,
            "first_rows": list(self.first_rows),
        }


class PackageError(ValueError):
    """A package that cannot be used; `problems` lists each by file, row and column."""

    def __init__(self, problems: list[Problem], ignored: list[Ignored] | None = None) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems
        self.ignored = ignored or []


class Findings:
    """Problems and ignored rows as they are found; a kind of problem in one column is
    listed row by row up to `LIST_UP_TO` rows, then counted."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.ignored: list[Ignored] = []
        self.more: dict[tuple[str, str | None, str], int] = {}

    def add(self, file: str, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(file, row, column, message))

    def rows(
        self,
        file: str,
        column: str | None,
        rows: np.ndarray,
        message: Callable[[int], str],
        kind: str,
    ) -> None:
        """A problem at each of `rows` (0-based positions); `message(i)` says it."""
        if rows.size == 0:
            return
        for i in rows[:LIST_UP_TO].tolist():
            self.add(file, i + 1, column, message(i))
        if rows.size > LIST_UP_TO:
            self.add(file, None, column, f"… and {rows.size - LIST_UP_TO:,} more rows: {kind}")

    def ignore(self, file: str, rows: np.ndarray, reason: str) -> None:
        if rows.size:
            first = tuple(int(i) + 1 for i in rows[:5])
            self.ignored.append(Ignored(file, int(rows.size), "rows", reason, first))


# ------------------------------------------------------------------------------ the package
@dataclass(slots=True)
class Locations:
    code: list[str]
    kind: list[str]
    region: list[str]
    latitude: np.ndarray  # NaN: not given
    longitude: np.ndarray
    opening_hour: np.ndarray
    closing_hour: np.ndarray
    pickers: np.ndarray  # 0: not given

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.code)}


@dataclass(slots=True)
class Skus:
    code: list[str]
    unit_cost_cents: np.ndarray
    price_cents: np.ndarray
    sku_class: list[str]
    supplier: list[str]
    case_pack: np.ndarray  # 1: not given


@dataclass(slots=True)
class Suppliers:
    code: list[str]
    lead_time_days: np.ndarray
    lead_time_cv: np.ndarray
    lead_time_dist: list[str]
    on_time_in_full: np.ndarray
    alternates: list[list[str]]


@dataclass(slots=True)
class Lanes:
    origin: np.ndarray  # location index
    destination: np.ndarray
    transit_hours: np.ndarray


@dataclass(slots=True)
class Sales:
    """Rows with units > 0, as columns: day (days since 1970-01-01), location and sku
    indexes, units, channel (`WALK_IN` or an index of `channels`), order (rows of one
    online order share a number; each online row without an order_id is its own) and
    whether the customer collects in store."""

    day: np.ndarray
    location: np.ndarray
    sku: np.ndarray
    units: np.ndarray
    channel: np.ndarray
    order: np.ndarray
    collect: np.ndarray
    channels: list[str]
    #: units returned (negative rows) per channel code, "store" for walk-in returns
    returned: dict[str, int] = field(default_factory=dict)

    @property
    def first_day(self) -> int:
        return int(self.day.min())

    @property
    def last_day(self) -> int:
        return int(self.day.max())


@dataclass(slots=True)
class Stock:
    location: np.ndarray
    sku: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray


@dataclass(slots=True)
class LevelTable:
    location: np.ndarray
    sku: np.ndarray
    reorder_point: np.ndarray
    order_up_to: np.ndarray


@dataclass(slots=True)
class Package:
    """A checked data package; every code is an index into `locations` or `skus`."""

    folder: Path
    files: dict[str, str]  # table -> file name
    locations: Locations
    skus: Skus
    suppliers: Suppliers
    lanes: Lanes | None
    sales: Sales | None
    stock: Stock
    policy: LevelTable | None
    ignored: list[Ignored]

    @property
    def stores(self) -> list[int]:
        return [i for i, k in enumerate(self.locations.kind) if k == "store"]

    @property
    def regions(self) -> list[str]:
        return list(dict.fromkeys(self.locations.region))


# ------------------------------------------------------------------------------ reading
def _table_file(folder: Path, t: Table, found: Findings) -> Path | None:
    paths = [p for p in (folder / f"{t.name}.csv", folder / f"{t.name}.parquet") if p.is_file()]
    if len(paths) == 2:
        found.add(f"{t.name}.*", None, None, f"both {t.name}.csv and {t.name}.parquet: keep one")
        return None
    if not paths:
        if t.required:
            found.add(f"{t.name}.csv", None, None, "missing: a package needs this table")
        return None
    return paths[0]


def _read_csv(path: Path, found: Findings) -> pa.Table | None:
    import pyarrow.csv as pacsv

    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError:
        header = None
        found.add(name, None, None, "not UTF-8 text (save the CSV as UTF-8)")
        return None
    except (OSError, csv.Error) as exc:
        found.add(name, None, None, f"cannot be read: {exc}")
        return None
    if not header or not any(h.strip() for h in header):
        found.add(name, None, None, "empty: needs a header row naming the columns")
        return None
    names = [h.strip().lower() for h in header]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        found.add(name, None, ", ".join(dup), "column named twice in the header")
        return None
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                # each column as distinct values and codes: a year of sales repeats few
                column_types={n: pa.dictionary(pa.int32(), pa.string()) for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        _diagnose_csv(path, len(names), str(exc), found)
        return None


def _diagnose_csv(path: Path, n_columns: int, arrow_msg: str, found: Findings) -> None:
    """Where a CSV Arrow could not read goes wrong, row by row (only on the error path)."""
    row = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for fields in reader:
                if not fields:
                    continue
                row += 1
                if len(fields) != n_columns:
                    found.add(
                        path.name,
                        row,
                        None,
                        f"has {len(fields)} fields, the header names {n_columns}",
                    )
                    return
    except UnicodeDecodeError:
        found.add(path.name, row + 1, None, "not UTF-8 text (save the CSV as UTF-8)")
        return
    except csv.Error as exc:
        found.add(path.name, row + 1, None, f"not valid CSV: {exc}")
        return
    found.add(path.name, None, None, f"not valid CSV: {arrow_msg.splitlines()[0][:200]}")


def _read_parquet(path: Path, found: Findings) -> pa.Table | None:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        found.add(path.name, None, None, f"not a readable Parquet file: {str(exc)[:200]}")
        return None
    names = [str(n).strip().lower() for n in table.column_names]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        found.add(path.name, None, ", ".join(dup), "column named twice")
        return None
    return table.rename_columns(names)


def read_table(folder: Path, t: Table, found: Findings) -> tuple[pa.Table | None, str]:
    """The table's file read (every column as it is stored), or None with the problem."""
    path = _table_file(folder, t, found)
    if path is None:
        return None, f"{t.name}.csv"
    table = _read_csv(path, found) if path.suffix == ".csv" else _read_parquet(path, found)
    if table is None:
        return None, path.name
    missing = [c.name for c in t.columns if c.required and c.name not in table.column_names]
    for name in missing:
        found.add(path.name, None, name, "missing: the table needs this column")
    extra = [n for n in table.column_names if n not in {c.name for c in t.columns}]
    if extra:
        found.ignored.append(
            Ignored(path.name, len(extra), "columns", f"not in the schema: {', '.join(extra)}")
        )
    return (None if missing else table), path.name


# ------------------------------------------------------------------------------ columns
_INT = r"^[+-]?[0-9]{1,15}(\.0*)?$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(slots=True)
class Col:
    """A column read for its type: values (meaningful where neither missing nor bad); a
    text column also as dictionary codes (`codes`, -1 where null) of distinct trimmed
    values (`words`), so each distinct value is parsed once, however many rows repeat it."""

    values: np.ndarray
    missing: np.ndarray
    bad: np.ndarray
    codes: np.ndarray | None = None
    words: list[str] | None = None
    raw: np.ndarray | None = None  # a numeric column's values as stored, to quote

    def word(self, i: int) -> str | None:
        """Row i's text (None where null or not text)."""
        if self.codes is None or self.words is None:
            return None
        j = int(self.codes[i])
        return self.words[j] if j >= 0 else None

    def show(self, i: int) -> str:
        if self.codes is None:
            x = self.values[i] if self.raw is None else self.raw[i]
            return repr(f"{float(x):g}")
        v = self.word(i)
        return repr(v if v is None or len(v) <= 60 else v[:60] + "…")


def _mask(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _dictionary(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array] | None:
    """A column as (codes, distinct trimmed texts): -1 for null; None if it is not text."""
    try:
        if isinstance(arr, pa.ChunkedArray):
            if pa.types.is_dictionary(arr.type):
                big = max((len(c.dictionary) for c in arr.chunks), default=0) > 1 << 16
                # unifying many large dictionaries (order ids) costs more than decoding
                arr = arr.cast(arr.type.value_type) if big else arr.unify_dictionaries()
            a = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        else:
            a = arr
        if not pa.types.is_dictionary(a.type):
            if not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)):
                a = a.cast(pa.string())
            a = pc.dictionary_encode(a)
        words = a.dictionary
        if not (pa.types.is_string(words.type) or pa.types.is_large_string(words.type)):
            words = words.cast(pa.string())
        words = pc.utf8_trim_whitespace(words)
        # values equal once trimmed (" S1" and "S1") become one code
        again = pc.dictionary_encode(words)
        remap = np.append(
            np.asarray(again.indices.to_numpy(zero_copy_only=False), dtype=np.int32), -1
        )
        idx = np.asarray(a.indices.fill_null(-1).to_numpy(zero_copy_only=False))
        return remap[idx], again.dictionary
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _parse(words: pa.Array, c: Column) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok) of each distinct text for the column's type."""
    n = len(words)
    if c.type == "enum":
        norm = pc.replace_substring_regex(pc.utf8_lower(words), r"[ \-]+", "_")
        idx = pc.index_in(norm, value_set=pa.array(list(c.choices))).fill_null(-1)
        vals = np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)
        return vals, vals >= 0
    if c.type == "int":
        ok = _mask(pc.match_substring_regex(words, _INT))
        digits = pc.replace_substring_regex(words, r"\.0*$", "")
        safe = pc.if_else(pa.array(ok), digits, "0")
        return np.asarray(safe.cast(pa.int64()).to_numpy(zero_copy_only=False)), ok
    if c.type == "number":
        ok = _mask(pc.match_substring_regex(words, _NUMBER))
        safe = pc.if_else(pa.array(ok), words, "0")
        vals = np.asarray(safe.cast(pa.float64()).to_numpy(zero_copy_only=False))
        ok &= np.isfinite(vals)
        return np.where(ok, vals, 0.0), ok
    if c.type == "date":  # YYYY-MM-DD, a real calendar day between 1900 and 2199
        ok = _mask(pc.match_substring_regex(words, _DATE))
        safe = pc.if_else(pa.array(ok), words, "1970-01-01")
        stamp = pc.strptime(safe, format="%Y-%m-%d", unit="s", error_is_null=True)
        ok &= _mask(pc.equal(pc.strftime(stamp, format="%Y-%m-%d"), safe))
        days = np.asarray(stamp.cast(pa.date32()).cast(pa.int32()).fill_null(0).to_numpy())
        ok &= (days >= day_of(dt.date(1900, 1, 1))) & (days < day_of(dt.date(2200, 1, 1)))
        return days, ok
    return np.zeros(n, np.int8), np.ones(n, dtype=bool)  # code, text


def read_column(arr: pa.ChunkedArray, c: Column) -> Col | str:
    """A column as its type, or why it cannot be read at all."""
    n = len(arr)
    typ = arr.type
    if c.type in ("int", "number") and (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
        a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        missing = np.asarray(a.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        v = np.asarray(a.cast(pa.float64()).fill_null(0).to_numpy(zero_copy_only=False))
        bad = ~np.isfinite(v)
        if pa.types.is_floating(typ):
            missing |= np.isnan(v)
            bad &= ~np.isnan(v)
        if c.type == "int":
            bad |= np.isfinite(v) & ((v != np.floor(v)) | (np.abs(v) > 1e15))
            ints = np.where(bad | missing, 0, v).astype(np.int64)
            if pa.types.is_integer(typ):
                ints = np.asarray(a.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            bad &= ~missing
            return Col(ints, missing, bad, raw=v if bad.any() else None)
        bad &= ~missing
        return Col(np.where(bad | missing, 0.0, v), missing, bad, raw=v if bad.any() else None)
    if c.type == "date" and (pa.types.is_date(typ) or pa.types.is_timestamp(typ)):
        a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        missing = np.asarray(a.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        days = a.cast(pa.date32(), safe=False).cast(pa.int32()).fill_null(0)
        return Col(np.asarray(days.to_numpy(zero_copy_only=False)), missing, np.zeros(n, bool))
    enc = _dictionary(arr)
    if enc is None:
        return f"cannot be read as text (type {typ})"
    codes, words = enc
    vals_d, ok_d = _parse(words, c)
    empty_d = np.append(_mask(pc.equal(words, "")), True)  # the last entry: null rows
    missing = empty_d[codes]
    bad = ~np.append(ok_d, True)[codes] & ~missing
    values = np.append(vals_d, vals_d[:1] if len(vals_d) else 0)[codes]
    return Col(values, missing, bad, codes, [w or "" for w in words.to_pylist()])


def _why(c: Column) -> str:
    return {
        "int": "is not a whole number",
        "number": "is not a number",
        "date": "is not a date (YYYY-MM-DD)",
        "enum": f"is not one of {', '.join(c.choices)}",
    }.get(c.type, "cannot be read")


class Reader:
    """One table's columns, read and checked for type, emptiness and bounds."""

    def __init__(self, table: pa.Table, t: Table, file: str, found: Findings) -> None:
        self.table: pa.Table | None = table  # None once the columns are read (large tables)
        self.t, self.file, self.found = t, file, found
        self.n = table.num_rows
        self.cols: dict[str, Col | None] = {}
        #: rows with a problem in any column: later checks skip them
        self.bad = np.zeros(self.n, dtype=bool)
        for c in t.columns:
            self.cols[c.name] = self._read(c)

    def _read(self, c: Column) -> Col | None:
        table = self.table
        if table is None or c.name not in table.column_names:
            return None
        col = read_column(table.column(c.name), c)
        if isinstance(col, str):
            self.found.add(self.file, None, c.name, col)
            self.bad[:] = True
            return None
        if not c.nullable:
            rows = np.flatnonzero(col.missing)
            self.found.rows(self.file, c.name, rows, lambda i: "is empty", "empty")
            self.bad |= col.missing
        why = _why(c)
        rows = np.flatnonzero(col.bad)
        if c.type == "int" and col.codes is not None:
            # a number with a fraction is not whole; anything else is not a number at all
            def message(i: int, col: Col = col) -> str:
                v = col.word(i)
                if isinstance(v, str) and _is_number(v):
                    return f"{col.show(i)} is not a whole number"
                return f"{col.show(i)} is not a number"
        else:

            def message(i: int, col: Col = col, why: str = why) -> str:
                return f"{col.show(i)} {why}"

        self.found.rows(self.file, c.name, rows, message, why)
        self.bad |= col.bad
        self._bounds(c, col)
        return col

    def _bounds(self, c: Column, col: Col) -> None:
        if c.type not in ("int", "number"):
            return
        v = col.values
        ok = ~col.missing & ~col.bad
        checks = (
            (c.minimum, np.less, ">="),
            (c.exclusive_minimum, np.less_equal, ">"),
            (c.maximum, np.greater, "<="),
            (c.exclusive_maximum, np.greater_equal, "<"),
        )
        for limit, out_of, op in checks:
            if limit is None:
                continue
            rows = np.flatnonzero(ok & out_of(v, limit))
            kind = "negative" if op == ">=" and limit == 0 else f"not {op} {limit:g}"

            def message(i: int, op: str = op, limit: float = limit) -> str:
                return f"{_fmt(v[i])} must be {op} {limit:g}"

            self.found.rows(self.file, c.name, rows, message, kind)
            self.bad[rows] = True
            ok[rows] = False

    def col(self, name: str) -> Col | None:
        return self.cols.get(name)

    def drop(self, *names: str) -> None:
        """Forget columns already turned into arrays (a year of sales is large)."""
        for name in names:
            self.cols[name] = None

    def codes(self, name: str) -> list[str]:
        """A code or text column as strings ('' where empty)."""
        col = self.cols.get(name)
        if col is None or col.codes is None or col.words is None:
            return [""] * self.n
        words = [*col.words, ""]
        return [words[j] for j in col.codes.tolist()]

    def numbers(self, name: str, default: float) -> np.ndarray:
        col = self.cols.get(name)
        if col is None:
            return np.full(self.n, default, dtype=float)
        return np.where(col.missing | col.bad, default, col.values.astype(float))

    def ints(self, name: str, default: int) -> np.ndarray:
        col = self.cols.get(name)
        if col is None:
            return np.full(self.n, default, dtype=np.int64)
        return np.where(col.missing | col.bad, default, col.values).astype(np.int64, copy=False)

    def unique_key(self, keys: list[np.ndarray], label: Callable[[int], str]) -> None:
        """Rows whose key (the table's key columns, as integer codes) came earlier."""
        if not self.t.key or self.n == 0:
            return
        combined = keys[0].astype(np.int64)
        for k in keys[1:]:
            combined = combined * (int(k.max()) + 1 if k.size else 1) + k.astype(np.int64)
        valid = ~self.bad
        rows = np.flatnonzero(valid)
        _, first, inverse = np.unique(combined[rows], return_index=True, return_inverse=True)
        dup = rows[first[inverse] != np.arange(rows.size)]
        first_row = rows[first[inverse]]
        by_row = dict(zip(rows.tolist(), first_row.tolist(), strict=True))
        key = ", ".join(self.t.key)
        self.found.rows(
            self.file,
            key,
            dup,
            lambda i: f"duplicate key {label(i)}: also in row {by_row[i] + 1}",
            "duplicate key",
        )
        self.bad[dup] = True


def _is_number(s: str) -> bool:
    try:
        return np.isfinite(float(s))
    except ValueError:
        return False


def _fmt(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float | np.floating) else str(x)


def _codes_of(reader: Reader, name: str) -> tuple[np.ndarray, list[str]]:
    """A code column as integer codes (-1: empty) and the distinct values."""
    col = reader.col(name)
    if col is None or col.codes is None or col.words is None:
        return np.full(reader.n, -1, dtype=np.int64), []
    return np.where(col.missing, -1, col.codes), col.words


def _resolve(reader: Reader, name: str, index: dict[str, int], what: str) -> np.ndarray:
    """A code column as indexes of `index` (-1 where unknown or empty), flagging unknowns."""
    idx, values = _codes_of(reader, name)
    lookup = np.array([index.get(v, -1) for v in values] + [-1], dtype=np.int32)
    out = lookup[idx]  # idx -1 reads the trailing -1
    col = reader.col(name)
    filled = ~col.missing if col is not None else np.zeros(reader.n, bool)
    rows = np.flatnonzero((out == -1) & filled)
    reader.found.rows(
        reader.file,
        name,
        rows,
        lambda i: f"unknown {what} {values[idx[i]]!r} (not in {what}s)",
        f"unknown {what}",
    )
    reader.bad[rows] = True
    return out


# ------------------------------------------------------------------------------ tables
def _locations(table: pa.Table, file: str, found: Findings) -> Locations | None:
    r = Reader(table, TABLE["locations"], file, found)
    codes = r.codes("code")
    ids, _ = _codes_of(r, "code")
    r.unique_key([ids], lambda i: repr(codes[i]))
    kind_col = r.col("kind")
    kinds = (
        [LOCATION_KINDS[k] if k >= 0 else "" for k in kind_col.values.tolist()]
        if kind_col is not None
        else [""] * r.n
    )
    opening, closing = r.numbers("opening_hour", np.nan), r.numbers("closing_hour", np.nan)
    both = ~np.isnan(opening) & ~np.isnan(closing)
    rows = np.flatnonzero(both & (closing <= opening))
    found.rows(
        file,
        "closing_hour",
        rows,
        lambda i: f"{closing[i]:g} is not after opening_hour {opening[i]:g}",
        "closing before opening",
    )
    r.bad[rows] = True
    one = np.flatnonzero(np.isnan(opening) != np.isnan(closing))
    found.rows(
        file,
        "opening_hour" if one.size and np.isnan(opening[one[0]]) else "closing_hour",
        one,
        lambda i: "give both opening_hour and closing_hour, or neither",
        "hours half given",
    )
    r.bad[one] = True
    lat, lon = r.numbers("latitude", np.nan), r.numbers("longitude", np.nan)
    half = np.flatnonzero(np.isnan(lat) != np.isnan(lon))
    found.rows(
        file,
        "latitude",
        half,
        lambda i: "give both latitude and longitude",
        "coordinates half given",
    )
    r.bad[half] = True
    if r.bad.any():
        return None
    keep = np.array([k != "returns_centre" for k in kinds], dtype=bool)
    found.ignore(
        file,
        np.flatnonzero(~keep),
        "returns centres: the twin inspects returns at each region's dc",
    )
    if not any(k == "store" for k in kinds) and not any(k != "returns_centre" for k in kinds):
        found.add(file, None, "kind", "no store, dc, dark store or 3pl: nothing to model")
        return None
    if any(k == "store" for k in kinds) and "dc" not in kinds:
        found.add(file, None, "kind", "stores need a dc to restock them (no location is a dc)")
        return None
    sel = np.flatnonzero(keep)
    regions = r.codes("region")
    return Locations(
        [codes[i] for i in sel],
        [kinds[i] for i in sel],
        [regions[i] for i in sel],
        lat[sel],
        lon[sel],
        opening[sel],
        closing[sel],
        r.ints("pickers", 0)[sel],
    )


def _suppliers(table: pa.Table, file: str, found: Findings) -> Suppliers | None:
    r = Reader(table, TABLE["suppliers"], file, found)
    codes = r.codes("code")
    ids, _ = _codes_of(r, "code")
    r.unique_key([ids], lambda i: repr(codes[i]))
    known = set(codes)
    lead = r.numbers("lead_time_days", 1.0)
    cv = r.numbers("lead_time_cv", np.nan)
    sd = r.numbers("lead_time_sd_days", np.nan)
    both = np.flatnonzero(~np.isnan(cv) & ~np.isnan(sd))
    found.rows(
        file,
        "lead_time_sd_days",
        both,
        lambda i: "give lead_time_cv or lead_time_sd_days, not both",
        "spread twice",
    )
    r.bad[both] = True
    spread = np.where(np.isnan(cv), np.where(np.isnan(sd), 0.3, sd / np.maximum(lead, 1e-9)), cv)
    dist_col = r.col("lead_time_dist")
    from .tables import LEAD_TIME_DISTS

    dists = []
    for i in range(r.n):
        d = "gamma"
        if dist_col is not None and not dist_col.missing[i] and dist_col.values[i] >= 0:
            d = LEAD_TIME_DISTS[int(dist_col.values[i])]
        if spread[i] == 0 and d in ("gamma", "lognormal"):
            d = "fixed"
        dists.append(d)
    bad_uniform = np.flatnonzero(np.array([d == "uniform" for d in dists], bool) & (spread > 0.577))
    found.rows(
        file,
        "lead_time_cv",
        bad_uniform,
        lambda i: f"{spread[i]:.3g}: a uniform lead time has a cv of at most 0.577",
        "uniform too wide",
    )
    r.bad[bad_uniform] = True
    alternates = []
    for i, text in enumerate(r.codes("alternates")):
        alts = [a.strip() for a in text.split(";") if a.strip()]
        for a in alts:
            if a == codes[i]:
                found.add(file, i + 1, "alternates", f"{a!r} is the supplier itself")
                r.bad[i] = True
            elif a not in known:
                found.add(file, i + 1, "alternates", f"unknown supplier {a!r} (not in suppliers)")
                r.bad[i] = True
        alternates.append(alts)
    if r.bad.any():
        return None
    if r.n == 0:
        found.add(file, None, None, "no suppliers: every sku needs one")
        return None
    return Suppliers(codes, lead, spread, dists, r.numbers("on_time_in_full", 0.85), alternates)


def _skus(table: pa.Table, file: str, found: Findings, suppliers: list[str] | None) -> Skus | None:
    r = Reader(table, TABLE["skus"], file, found)
    codes = r.codes("code")
    ids, _ = _codes_of(r, "code")
    r.unique_key([ids], lambda i: repr(codes[i]))
    if suppliers is not None:
        _resolve(r, "supplier", {c: i for i, c in enumerate(suppliers)}, "supplier")
    if r.bad.any() or suppliers is None:
        return None
    if r.n == 0:
        found.add(file, None, None, "no skus")
        return None
    cents = np.rint(r.numbers("unit_cost", 0.0) * 100).astype(np.int64)
    price = np.rint(r.numbers("price", 0.0) * 100).astype(np.int64)
    return Skus(codes, cents, price, r.codes("class"), r.codes("supplier"), r.ints("case_pack", 1))


def _lanes(table: pa.Table, file: str, found: Findings, loc: dict[str, int]) -> Lanes | None:
    r = Reader(table, TABLE["lanes"], file, found)
    o = _resolve(r, "origin", loc, "location")
    d = _resolve(r, "destination", loc, "location")
    ok = ~r.bad
    r.unique_key(
        [np.where(ok, o, 0), np.where(ok, d, 0)],
        lambda i: f"({r.codes('origin')[i]}, {r.codes('destination')[i]})",
    )
    if r.bad.any():
        return None
    return Lanes(o, d, r.numbers("transit_hours", 1.0))


def _pairs(
    name: str, table: pa.Table, file: str, found: Findings, loc: dict[str, int], sku: dict[str, int]
) -> tuple[Reader, np.ndarray, np.ndarray]:
    """A table keyed by (location, sku): both resolved, duplicates flagged."""
    r = Reader(table, TABLE[name], file, found)
    lo = _resolve(r, "location", loc, "location")
    sk = _resolve(r, "sku", sku, "sku")
    ok = ~r.bad
    loc_col, sku_col = r.col("location"), r.col("sku")
    r.unique_key(
        [np.where(ok, lo, 0), np.where(ok, sk, 0)],
        lambda i: (
            f"(location {loc_col.word(i) if loc_col else ''},"
            f" sku {sku_col.word(i) if sku_col else ''})"
        ),
    )
    return r, lo, sk


def _stock(
    table: pa.Table,
    file: str,
    found: Findings,
    loc: dict[str, int],
    sku: dict[str, int],
    centres: set[str],
) -> Stock | None:
    r, lo, sk = _pairs("stock", table, file, found, {**loc, **dict.fromkeys(centres, -2)}, sku)
    if r.bad.any():
        return None
    at_centre = lo == -2
    found.ignore(file, np.flatnonzero(at_centre), "stock at returns centres (not modelled)")
    keep = ~at_centre
    return Stock(lo[keep], sk[keep], r.ints("on_hand", 0)[keep], r.ints("on_order", 0)[keep])


def _policy(
    table: pa.Table, file: str, found: Findings, loc: dict[str, int], sku: dict[str, int]
) -> LevelTable | None:
    r, lo, sk = _pairs("policy", table, file, found, loc, sku)
    s, big = r.ints("reorder_point", 0), r.ints("order_up_to", 1)
    rows = np.flatnonzero(~r.bad & (big <= s))
    found.rows(
        file,
        "order_up_to",
        rows,
        lambda i: f"{big[i]} must be above reorder_point {s[i]}",
        "order_up_to too low",
    )
    r.bad[rows] = True
    if r.bad.any():
        return None
    return LevelTable(lo, sk, s, big)


def _sales(
    table: pa.Table,
    file: str,
    found: Findings,
    locs: Locations,
    sku: dict[str, int],
    centres: set[str],
) -> Sales | None:
    r = Reader(table, TABLE["sales"], file, found)
    del table  # the columns are read: the caller keeps no reference either
    r.table = None
    loc_index = {**locs.index(), **dict.fromkeys(centres, -2)}
    lo = _resolve(r, "location", loc_index, "location")
    at_centre = np.flatnonzero(lo == -2)
    found.rows(
        file,
        "location",
        at_centre,
        lambda i: "a returns centre does not sell",
        "sale at a returns centre",
    )
    r.bad[at_centre] = True
    sk = _resolve(r, "sku", sku, "sku")
    r.drop("location", "sku")
    units = r.ints("units", 0).astype(np.int32)
    r.drop("units")
    date = r.col("date")
    day = date.values.astype(np.int32) if date is not None else np.zeros(r.n, np.int32)
    # dates in order: a row dated before an earlier row's date
    valid_day = np.where(date.missing | date.bad, np.iinfo(np.int32).min, day) if date else day
    r.drop("date")
    del date
    if r.n:
        latest = np.maximum.accumulate(valid_day)
        prev = np.concatenate([[np.iinfo(np.int32).min], latest[:-1]])
        rows = np.flatnonzero((valid_day < prev) & (valid_day > np.iinfo(np.int32).min))
        found.rows(
            file,
            "date",
            rows,
            lambda i: (
                f"{date_of(day[i])} comes after {date_of(prev[i])} in an earlier row:"
                " rows must be in date order"
            ),
            "dates out of order",
        )
        r.bad[rows] = True
    ch_idx, ch_values = _codes_of(r, "channel")
    ch_names = [v.strip().lower() for v in ch_values]
    online_codes = sorted({v for v in ch_names if v not in ("", "store")})
    ch_lookup = np.array(
        [WALK_IN if v in ("", "store") else online_codes.index(v) for v in ch_names] + [WALK_IN],
        dtype=np.int16,
    )
    channel = ch_lookup[ch_idx]
    r.drop("channel")
    del ch_idx
    kind_arr = np.array([k == "store" for k in locs.kind] + [False, False], dtype=bool)
    is_store = kind_arr[lo]  # -1 / -2 read the trailing False entries
    walk_in_off_store = np.flatnonzero(~r.bad & (channel == WALK_IN) & ~is_store)
    found.rows(
        file,
        "channel",
        walk_in_off_store,
        lambda i: (
            f"a walk-in sale (no channel) at {locs.kind[lo[i]]} {locs.code[lo[i]]!r}:"
            " walk-ins buy at stores"
        ),
        "walk-in sale away from a store",
    )
    r.bad[walk_in_off_store] = True
    ful = r.col("fulfilment")
    collect = (ful.values == 1) & ~ful.missing if ful is not None else np.zeros(r.n, bool)
    r.drop("fulfilment")
    del ful
    bad_collect = np.flatnonzero(~r.bad & collect & (~is_store | (channel == WALK_IN)))
    found.rows(
        file,
        "fulfilment",
        bad_collect,
        lambda i: "collect: an online order collected at a store (needs a channel and a store)",
        "collect away from a store",
    )
    r.bad[bad_collect] = True
    if r.bad.any():
        return None
    zero = units == 0
    neg = units < 0
    found.ignore(file, np.flatnonzero(zero), "units 0: no sale")
    found.ignore(
        file,
        np.flatnonzero(neg),
        "negative units: returns, not demand (they set the fitted return rates)",
    )
    returned: dict[str, int] = {}
    for c in np.unique(channel[neg]).tolist():
        name = "store" if c == WALK_IN else online_codes[c]
        returned[name] = int(-units[neg & (channel == c)].sum())
    keep = units > 0
    if not keep.any():
        found.add(file, None, "units", "no row with units > 0: no demand to fit or replay")
        return None
    # orders: rows sharing (channel, order_id, date); an online row without one is an order
    oid, _ = _codes_of(r, "order_id")
    r.drop("order_id")
    order = np.full(r.n, -1, dtype=np.int64)
    online = np.flatnonzero(keep & (channel != WALK_IN))
    if online.size:
        # an order is (channel, order id, day); a row without an id is one of its own
        ids = oid[online].astype(np.int64)
        ids = np.where(ids >= 0, ids, int(ids.max(initial=0)) + 1 + np.arange(online.size))
        d = day[online].astype(np.int64) - int(day[online].min())
        key = (ids * (int(d.max()) + 1) + d) * (len(online_codes) + 1) + channel[online]
        _, inv = np.unique(key, return_inverse=True)
        order[online] = inv.ravel()
    del oid, valid_day
    return Sales(
        day[keep],
        lo[keep].astype(np.int32),
        sk[keep].astype(np.int32),
        units[keep],
        channel[keep],
        order[keep],
        collect[keep],
        online_codes,
        returned,
    )


def _centre_codes(raw: pa.Table | None) -> set[str]:
    """Codes of the returns centres (sales there are errors, stock there is ignored)."""
    if raw is None or "code" not in raw.column_names or "kind" not in raw.column_names:
        return set()
    codes, kinds = _dictionary(raw.column("code")), _dictionary(raw.column("kind"))
    if codes is None or kinds is None:
        return set()
    code_words, kind_words = [*codes[1].to_pylist(), ""], [*kinds[1].to_pylist(), ""]
    return {
        code_words[c]
        for c, k in zip(codes[0].tolist(), kinds[0].tolist(), strict=True)
        if code_words[c]
        and (kind_words[k] or "").lower().replace(" ", "_").replace("-", "_") == "returns_centre"
    }


# ------------------------------------------------------------------------------ front doors
def check(folder: str | Path, *, sales: bool = True) -> tuple[Package | None, Findings]:
    """Read and check every table of a package; the package (None if anything is wrong)
    and what was found. `sales=False` skips the sales table (a run of fitted demand)."""
    folder = Path(folder)
    found = Findings()
    if not folder.is_dir():
        what = "a file, not a folder" if folder.exists() else "no such folder"
        found.add(str(folder), None, None, f"{what} (a package is a folder of tables)")
        return None, found
    known = {f"{t.name}.{ext}" for t in TABLES for ext in ("csv", "parquet")}
    others = sorted(p.name for p in folder.iterdir() if p.name not in known)
    if others:
        found.ignored.append(
            Ignored(folder.name, len(others), "files", f"not package tables: {', '.join(others)}")
        )
    read: dict[str, tuple[pa.Table | None, str]] = {}
    for t in TABLES:
        if t.name == "sales" and not sales:
            continue
        read[t.name] = read_table(folder, t, found)
    files = {name: f for name, (_t, f) in read.items()}
    raw_locs, f = read["locations"]
    locs = _locations(raw_locs, f, found) if raw_locs is not None else None
    centres = _centre_codes(raw_locs)
    raw_sup, f = read["suppliers"]
    sups = _suppliers(raw_sup, f, found) if raw_sup is not None else None
    raw_skus, f = read["skus"]
    skus = (
        _skus(raw_skus, f, found, sups.code if sups is not None else None)
        if raw_skus is not None
        else None
    )
    if locs is None or skus is None or sups is None:
        return None, found
    loc_index = locs.index()
    sku_index = {c: i for i, c in enumerate(skus.code)}
    lanes = stock = policy = None
    sales_t = None
    raw, f = read["lanes"]
    if raw is not None:
        lanes = _lanes(raw, f, found, loc_index)
    raw, f = read["stock"]
    if raw is not None:
        stock = _stock(raw, f, found, loc_index, sku_index, centres)
    raw, f = read["policy"]
    if raw is not None:
        policy = _policy(raw, f, found, loc_index, sku_index)
    if sales:
        f = read["sales"][1]
        if read["sales"][0] is not None:  # not kept beyond its columns' reading
            sales_t = _sales(read.pop("sales")[0], f, found, locs, sku_index, centres)
    if found.problems or stock is None or (sales and sales_t is None):
        return None, found
    package = Package(folder, files, locs, skus, sups, lanes, sales_t, stock, policy, found.ignored)
    return package, found


def load(folder: str | Path, *, sales: bool = True) -> Package:
    """A checked package, or `PackageError` listing every problem."""
    package, found = check(folder, sales=sales)
    if package is None:
        raise PackageError(found.problems, found.ignored)
    return package
