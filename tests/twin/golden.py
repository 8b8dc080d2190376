"""The twin's behaviour at small sizes, as a golden file: what `test_golden` compares.

Every catalogue scenario under `legacy` and `orchestrated` on seeds 1 and 2, and
`case-study` on seed 3 too, shrunk with `--set`-style overrides (6 stores, 8 skus,
10 days, a quarter of case-study's online orders; DCs open with 13 days of cover
so they buy from suppliers inside the horizon) and with each scenario's faults and
demand events moved inside those 10 days. A few more cases cover paths the
catalogue does not take: the validation scenarios (customer-by-customer demand,
continuous and daily review straight from a supplier, backorders) and two variants
of `baseline` (warm-up, (r, Q) and base-stock store policies, ship-from-store and
cost sourcing, WMS delay).

A case's snapshot is the KPIS.md result object without its wall-clock figures,
the daily series, the validation extras, and digests of the core's movement log,
exception records and journal, so the order of the core's events is pinned too.

Regenerate (only when behaviour changes on purpose, and say so in the commit):

    .venv/bin/python -m tests.twin.golden
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios import load
from twin.model import RetailTwin
from twin.simulate import simulate

GOLDEN = Path(__file__).parent / "golden" / "behaviour.json"
VALIDATION = Path(__file__).resolve().parents[2] / "scenarios" / "validation"

#: the small network every catalogue case runs on
SMALL = (
    "network.stores.count=6",
    "skus.count=8",
    "horizon_days=10",
    "network.dcs[0].initial_cover_days=13",
    "network.dcs[1].initial_cover_days=13",
)
#: each catalogue scenario's faults and demand events, moved inside the 10 days
FIT: dict[str, tuple[str, ...]] = {
    "baseline": (),
    "peak": (
        "demand.events[0].start_day=4",  # black friday
        "demand.events[1].start_day=5",  # the weekend
        "demand.events[2].start_day=7",  # cyber monday
        "faults.returns_surges[0].start_day=5",
    ),
    "outage": (
        "faults.middleware_outages[0].start_h=82",  # day 3, 10:00-16:00
        "faults.pos_outages[0].start_h=105",  # day 4, 09:00-17:00
        "faults.erp_outages[0].start_h=128",  # day 5, 08:00-20:00
    ),
    "supply-shock": ("faults.supplier_shocks[0].start_day=1", "faults.supplier_shocks[0].days=6"),
    "returns-surge": ("faults.returns_surges[0].start_day=2", "faults.returns_surges[0].days=6"),
    "case-study": (
        "demand.events[0].start_day=4",
        "demand.events[0].days=3",
        # a quarter of the scenario's online orders: 6 stores do not need 180 stores' share
        "channels[0].orders_per_day=175",
        "channels[1].orders_per_day=65",
        "channels[2].orders_per_day=40",
        "channels[3].orders_per_day=22",
    ),
}
POLICIES = ("legacy", "orchestrated")
VARIANTS: dict[str, tuple[str, ...]] = {
    "baseline-warmup-rq-ship-from-store": (
        "warmup_days=2",
        "policy.replenishment.store_policy=r-Q",
        "policy.sourcing=ship-from-store",
        "demand.unmet=backorder",
        "demand.seasonality_amplitude=0.3",
    ),
    "baseline-customers-base-stock-cost": (
        "demand.mode=customer",
        "policy.replenishment.store_policy=base-stock",
        "policy.replenishment.store_review=daily",
        "policy.sourcing=cost",
        "faults.wms_confirmation_delay_h=0.5",
        "network.stores.initial_units=3",
    ),
}
VALIDATION_CASES: dict[str, tuple[str, ...]] = {
    "base_stock_lost_sales_fixed_lead_time": ("horizon_days=60",),
    "base_stock_backorders_continuous": ("horizon_days=60",),
    "base_stock_backorders_daily_review": ("horizon_days=60",),
    "dc_pick_station_mmc": ("horizon_days=10",),
    "littles_law_order_fulfilment": ("horizon_days=10",),
}


@dataclass(frozen=True, slots=True)
class Case:
    """One run of the golden file: a scenario (name or file), its overrides, policy, seed."""

    scenario: str
    overrides: tuple[str, ...]
    policy: str
    seed: int
    label: str

    @property
    def key(self) -> str:
        return f"{self.label}/{self.policy}/{self.seed}"


def cases() -> list[Case]:
    """Every case of the golden file, catalogue first."""
    out = []
    for name, fit in FIT.items():
        seeds = (1, 2, 3) if name == "case-study" else (1, 2)
        for policy in POLICIES:
            for seed in seeds:
                out.append(Case(name, SMALL + fit, policy, seed, name))
    for label, over in VARIANTS.items():
        for policy in POLICIES:
            out.append(Case("baseline", SMALL + over, policy, 1, label))
    for stem, over in VALIDATION_CASES.items():
        path = str(VALIDATION / f"{stem}.yaml")
        out.append(Case(path, over, "orchestrated", 1, f"validation/{stem}"))
    return out


def _digest(lines: Any) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(repr(line).encode())
        h.update(b"\n")
    return h.hexdigest()


def _plain(value: Any) -> Any:
    """JSON-safe and exact: floats stay floats (repr round-trips), NaN and ±inf as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def snapshot(case: Case) -> dict[str, Any]:
    """Run one case and return what the golden file keeps of it."""
    models: list[RetailTwin] = []

    def keep(*args: Any, **kwargs: Any) -> RetailTwin:
        models.append(RetailTwin(*args, **kwargs))
        return models[-1]

    sc = load(case.scenario, list(case.overrides))
    result = simulate(sc, case.policy, case.seed, twin=keep)  # raises if an invariant broke
    model = models[0]
    out = result.to_dict()
    for wall in ("wall_seconds", "core_events_per_second"):
        out.pop(wall)
    core = model.core
    exceptions = [
        (e.id, e.kind, e.subject, e.detail, e.priority, e.opened_at, e.resolved_at, e.resolution)
        for e in core.exceptions.items
    ]
    journal = [
        (e.id, e.event_id, e.movement_at, e.created_at, e.posted_at, e.n_movements)
        for e in core.gl.entries
    ]
    out["series"] = result.series
    out["extras"] = result.extras
    out["trace"] = {
        "movements": len(core.ledger.movements),
        "movement_log": _digest(core.ledger.movements),
        "exceptions": len(exceptions),
        "exception_records": _digest(exceptions),
        "journal_entries": len(journal),
        "journal": _digest(journal),
    }
    return _plain(out)


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, by path; floats compared exactly."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for k in sorted(set(expected) | set(actual)):
            if k not in actual:
                out.append(f"{path}.{k}: missing")
            elif k not in expected:
                out.append(f"{path}.{k}: not in the golden file")
            else:
                out += differences(expected[k], actual[k], f"{path}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: length {len(actual)}, golden {len(expected)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out += differences(e, a, f"{path}[{i}]")
        return out
    if type(expected) is not type(actual) or expected != actual:
        return [f"{path}: {actual!r}, golden {expected!r}"]
    return []


def write(path: Path = GOLDEN) -> None:
    data = {}
    for case in cases():
        print(case.key, file=sys.stderr)
        data[case.key] = snapshot(case)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write()
