"""Exports of a finished run for analysis (`--export DIR`): the core's movement log, its GL
journal and exception queue, and the online orders, as Parquet files readable with pandas
or DuckDB. Times are hours from the run's start (`_h`); money is in integer cents; codes
are the catalogue's (the package's, for a package scenario). The README has the schema."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator import MovementKind
from orchestrator.clock import HOUR
from orchestrator.gl import ACCOUNT_NAMES, Account, BatchJournalEntry
from orchestrator.ledger import Disposition

if TYPE_CHECKING:
    from ..model import RetailTwin

FILES = ("movements", "journal", "exceptions", "orders")


def _codes(values: np.ndarray, names: list[str]) -> pa.Array:
    """Indexes as dictionary-encoded codes (-1: null)."""
    idx = np.asarray(values, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), pa.array(names, pa.string()))


def _hours(seconds: np.ndarray) -> pa.Array:
    h = np.asarray(seconds, dtype=float) / HOUR
    return pa.array(h, mask=~np.isfinite(h))


def movements(model: RetailTwin) -> pa.Table:
    """One row a movement: the ledger's append-only log."""
    core = model.core
    log = core.ledger.movements
    skus = [s.code for s in core.catalog.skus]
    locs = [loc.code for loc in core.catalog.locations]
    rows = log.column("row")
    kinds = [k.name.lower() for k in MovementKind]
    disp = [d.name.lower() for d in Disposition]
    events, reasons, actors = log.texts("event_id"), log.texts("reason"), log.texts("actor")
    line = log.column("line")
    event_ids = [
        events[r] if ln < 0 else f"{events[r]}#{ln}"
        for r, ln in zip(rows.tolist(), line.tolist(), strict=True)
    ]
    return pa.table(
        {
            "seq": pa.array(np.arange(len(log)), pa.int64()),
            "event_id": pa.array(event_ids, pa.string()),
            "kind": _codes(log.column("kind"), kinds),
            "at_h": _hours(log.column("at")),
            "recorded_at_h": _hours(log.column("recorded_at")),
            "location": _codes(log.column("location"), locs),
            "sku": _codes(log.column("sku"), skus),
            "qty": pa.array(log.column("qty"), pa.int64()),
            "unit_cost_cents": pa.array(log.column("unit_cost_cents"), pa.int64()),
            "price_cents": pa.array(log.column("price_cents"), pa.int64()),
            "counterparty": _codes(log.column("counterparty"), locs),
            "disposition": _codes(log.column("disposition"), disp),
            "reason": pa.DictionaryArray.from_arrays(
                pa.array(rows, pa.int32()), pa.array(reasons, pa.string())
            ),
            "actor": pa.DictionaryArray.from_arrays(
                pa.array(rows, pa.int32()), pa.array(actors, pa.string())
            ),
        }
    )


def journal(model: RetailTwin) -> pa.Table:
    """One row a journal line: entry, account, location, sku, debit and credit in cents,
    and when the movement happened, the entry was made and the ERP posted it (null: not
    posted)."""
    core = model.core
    skus = [s.code for s in core.catalog.skus]
    locs = [loc.code for loc in core.catalog.locations]
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("entry", "account", "location", "sku", "debit", "credit", "i")
    }
    entries = core.gl.entries
    for i, e in enumerate(entries):
        if isinstance(e, BatchJournalEntry):
            sk = np.asarray(e.skus, dtype=np.int64)
            val = np.asarray(e.values, dtype=np.int64)
            for acct, at, sign in e.rule:
                v = sign * val
                cols["entry"].append(np.full(e.n, e.id))
                cols["account"].append(np.full(e.n, int(acct)))
                cols["location"].append(np.full(e.n, e._where(at)))
                cols["sku"].append(sk)
                cols["debit"].append(np.maximum(v, 0))
                cols["credit"].append(np.maximum(-v, 0))
                cols["i"].append(np.full(e.n, i))
        else:
            n = len(e.lines)
            cols["entry"].append(np.full(n, e.id))
            cols["account"].append(np.array([int(ln.account) for ln in e.lines]))
            cols["location"].append(np.array([ln.location for ln in e.lines]))
            cols["sku"].append(np.array([ln.sku for ln in e.lines]))
            cols["debit"].append(np.array([ln.debit for ln in e.lines]))
            cols["credit"].append(np.array([ln.credit for ln in e.lines]))
            cols["i"].append(np.full(n, i))
    flat = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in cols.items()}
    which = flat["i"].astype(np.int64)
    at = np.array([e.movement_at for e in entries], dtype=float)
    made = np.array([e.created_at for e in entries], dtype=float)
    posted = np.array([e.posted_at for e in entries], dtype=float)
    ids = [e.event_id for e in entries]
    kind = [(e.kind.name.lower() if e.kind is not None else "") for e in entries]
    accounts = sorted(Account)
    acct_idx = np.searchsorted(np.array([int(a) for a in accounts]), flat["account"])
    return pa.table(
        {
            "entry": pa.array(flat["entry"], pa.int64()),
            "event_id": _codes(which, ids).cast(pa.string()),
            "kind": _codes(which, kind),
            "account": pa.array(flat["account"], pa.int32()),
            "account_name": _codes(acct_idx, [ACCOUNT_NAMES[a] for a in accounts]),
            "location": _codes(flat["location"], locs),
            "sku": _codes(flat["sku"], skus),
            "debit_cents": pa.array(flat["debit"], pa.int64()),
            "credit_cents": pa.array(flat["credit"], pa.int64()),
            "movement_at_h": _hours(at[which]),
            "created_at_h": _hours(made[which]),
            "posted_at_h": _hours(posted[which]),
        }
    )


def exceptions(model: RetailTwin) -> pa.Table:
    """One row an exception: kind, subject, priority, owner, when opened and resolved."""
    items = model.core.exceptions.items
    return pa.table(
        {
            "id": pa.array([e.id for e in items], pa.int64()),
            "kind": pa.array([e.kind for e in items], pa.string()).dictionary_encode(),
            "subject": pa.array([e.subject for e in items], pa.string()),
            "detail": pa.array([e.detail for e in items], pa.string()),
            "priority": pa.array([e.priority for e in items], pa.int32()),
            "owner_role": pa.array([e.owner_role for e in items], pa.string()),
            "rule": pa.array([e.rule for e in items], pa.string()),
            "level": pa.array([e.level for e in items], pa.int32()),
            "escalations": pa.array([len(e.escalations) for e in items], pa.int32()),
            "occurrences": pa.array([e.occurrences for e in items], pa.int32()),
            "opened_at_h": _hours(np.array([e.opened_at for e in items], dtype=float)),
            "resolved_at_h": _hours(np.array([e.resolved_at for e in items], dtype=float)),
            "resolution": pa.array([e.resolution for e in items], pa.string()),
            "resolved_by": pa.array([e.resolved_by for e in items], pa.string()),
        }
    )


def orders(model: RetailTwin) -> pa.Table:
    """One row an online order line, as the customer placed it, with what became of the
    order: cancelled, oversold, its last shipment."""
    kept = model.orders.kept or []
    skus = [s.code for s in model.core.catalog.skus]
    locs = [loc.code for loc in model.core.catalog.locations]
    rows: dict[str, list] = {
        k: []
        for k in (
            "order_id", "channel", "placed_at_h", "zone", "pickup_store", "line_no", "sku",
            "qty", "returns_if_shipped", "cancelled_at_h", "oversold", "shipped_at_h",
        )
    }  # fmt: skip
    for o in kept:
        for n, (k, q) in enumerate(o.lines):
            rows["order_id"].append(o.id)
            rows["channel"].append(o.spec.code)
            rows["placed_at_h"].append(o.placed_h)
            rows["zone"].append(o.zone)
            rows["pickup_store"].append(locs[o.pickup_store] if o.pickup_store >= 0 else None)
            rows["line_no"].append(n)
            rows["sku"].append(skus[k])
            rows["qty"].append(q)
            rows["returns_if_shipped"].append(bool(o.return_flags[n]) and not o.cancels)
            rows["cancelled_at_h"].append(o.cancel_h if math.isfinite(o.cancel_h) else None)
            rows["oversold"].append(o.oversold)
            rows["shipped_at_h"].append(None if math.isnan(o.shipped_h) else o.shipped_h)
    types = {
        "placed_at_h": pa.float64(), "cancelled_at_h": pa.float64(),
        "shipped_at_h": pa.float64(), "line_no": pa.int32(), "qty": pa.int64(),
        "returns_if_shipped": pa.bool_(), "oversold": pa.bool_(),
    }  # fmt: skip
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in rows.items()})


def export_run(model: RetailTwin, folder: Path) -> dict[str, Path]:
    """Write the four tables of a finished run into `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, make in (
        ("movements", movements),
        ("journal", journal),
        ("exceptions", exceptions),
        ("orders", orders),
    ):
        path = folder / f"{name}.parquet"
        pq.write_table(make(model), path)
        out[name] = path
    return out
