"""What a scenario is about, in words a planner reads: the question a catalogue file
answers and a report's description of the scenario as it was actually run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .loader import CATALOG
from .schema import Scenario


def question_of(path: Path) -> str:
    """The question a scenario file answers: the first paragraph of its header comment,
    after its `name — Question:` lead-in."""
    lines = []
    for line in path.read_text().splitlines():
        text = line.lstrip("#").strip()
        if not line.startswith("#") or (not text and lines):
            break
        if text:
            lines.append(text)
    question = " ".join(lines)
    return question.split("Question:", 1)[1].strip() if "Question:" in question else question


def shape_of(sc: Scenario) -> str:
    """The network and horizon a scenario resolves to, whatever its prose says."""
    net = sc.network
    sites = [f"{net.stores.count} stores", f"{len(net.dcs)} DCs"]
    if net.dark_stores:
        sites.append(f"{len(net.dark_stores)} dark stores")
    channels = ", ".join(c.code for c in sc.channels) or "no online channels"
    return (
        f"{', '.join(sites)}, {sc.skus.count} skus, channels: {channels};"
        f" {sc.horizon_days:g} days (warm-up {sc.warmup_days:g})"
    )


def outside_horizon(sc: Scenario) -> list[str]:
    """Faults and demand events that start at or after the horizon (or inside the warm-up
    only): they are in the file but cannot show in this run's figures."""
    end_h, warm_h = sc.horizon_days * 24.0, sc.warmup_days * 24.0
    f = sc.faults
    windows: list[tuple[str, float, float]] = []
    for what, items in (
        ("middleware_outages", f.middleware_outages),
        ("pos_outages", f.pos_outages),
        ("erp_outages", f.erp_outages),
    ):
        windows += [
            (f"faults.{what}[{i}]", w.start_h, w.start_h + w.duration_h)
            for i, w in enumerate(items)
        ]
    for what, days in (
        ("faults.supplier_shocks", f.supplier_shocks),
        ("faults.returns_surges", f.returns_surges),
        ("demand.events", sc.demand.events),
    ):
        windows += [
            (f"{what}[{i}]", d.start_day * 24.0, (d.start_day + d.days) * 24.0)
            for i, d in enumerate(days)
        ]
    out = []
    for path, a, b in windows:
        if a >= end_h:
            out.append(
                f"{path} starts at hour {a:g}, after the {end_h:g}-hour horizon: it does not"
                " happen in this run"
            )
        elif b <= warm_h:
            out.append(
                f"{path} ends at hour {b:g}, inside the {warm_h:g}-hour warm-up: it is not measured"
            )
    return out


def scenario_warnings(sc: Scenario) -> list[str]:
    """What a scenario asks for that a run of it cannot show as written: faults and events
    outside the measured window, and till outages on more stores than the network has
    (a network resized below a catalogue scenario's outage)."""
    out = outside_horizon(sc)
    n_stores = sc.network.stores.count
    for i, w in enumerate(sc.faults.pos_outages):
        if w.stores is None and w.count > n_stores:
            out.append(
                f"faults.pos_outages[{i}].count is {w.count}, the network has {n_stores}"
                f" stores: the tills of all {n_stores} go down"
            )
    return out


def description_of(ref: str | None, sc: Scenario, overrides: Sequence[str] = ()) -> str:
    """A report's description: the scenario's prose, the question it answers, and what was
    run — the resolved network and horizon and any overrides (the prose describes the
    file, not a run that resized it)."""
    q = ""
    if isinstance(ref, str):
        p = CATALOG / f"{ref}.yaml"
        if not p.exists() and Path(ref).exists():
            p = Path(ref)
        q = question_of(p) if p.exists() else ""
    parts = [sc.description.strip()]
    if q:
        parts.append(f"**Question.** {q}")
    ran = f"**As run.** {shape_of(sc)}."
    if overrides:
        ran += " Overrides: " + ", ".join(f"`{o}`" for o in overrides) + "."
    parts.append(ran)
    parts += [f"**Note.** {w}." for w in scenario_warnings(sc)]
    return "\n\n".join(x for x in parts if x)
