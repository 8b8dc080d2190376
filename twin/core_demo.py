"""A day in a small network, driven straight through the orchestration core.

One DC and two stores, a web shop and a marketplace. Goods are received (at a
price above standard cost), an online order is sourced and reserved, shipped,
a store sells over the till, a transfer restocks a store, a customer return is
inspected and restocked, and the ERP posts overnight in a batch. Store events
travel through the message bus, where one is delivered twice. At the end the GL
is reconciled against the ledger and every invariant of KPIS.md is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from orchestrator import (
    ACCOUNT_NAMES,
    GeneralLedger,
    LaneNetwork,
    ManualClock,
    Orchestrator,
    OrderLine,
    ShipFromStore,
)
from orchestrator.catalog import Catalog
from orchestrator.clock import HOUR


@dataclass(slots=True)
class DemoResult:
    core: Orchestrator
    invariants: dict[str, object]
    differences: int


def build() -> Orchestrator:
    """The small network: catalog, lanes to two customer zones, batch posting at 02:00."""
    cat = Catalog()
    cat.add_sku("JACKET-M", std_cost_cents=4_000, price_cents=9_900, sku_class="apparel")
    cat.add_sku("BOOTS-42", std_cost_cents=6_500, price_cents=14_900, sku_class="footwear")
    cat.add_location("DC-NORTH", "dc", region="north")
    cat.add_location("STORE-01", "store", region="north")
    cat.add_location("STORE-02", "store", region="north")
    cat.add_channel("store", "store")
    cat.add_channel("web", "web")
    cat.add_channel("mkt-a", "marketplace")
    net = LaneNetwork(cat)
    for origin, zone, hours, cost in [
        ("DC-NORTH", "zone-city", 24, 450),
        ("DC-NORTH", "zone-rural", 36, 600),
        ("STORE-01", "zone-city", 6, 350),
        ("STORE-02", "zone-rural", 8, 380),
    ]:
        net.add_lane(origin, zone, transit_h=hours, cost_cents=cost)
    clock = ManualClock(8 * HOUR)  # day 0, 08:00
    return Orchestrator(
        cat,
        clock,
        sourcing=ShipFromStore(store_protection=2),
        network=net,
        gl=GeneralLedger(mode="batch", nightly_at_h=2.0, start=clock.now()),
    )


def run(console: Console | None = None) -> DemoResult:
    """Drive the day and print balances, the journal and the checks."""
    console = console or Console(width=110)
    core = build()
    clock = core.clock
    assert isinstance(clock, ManualClock)
    say = console.print

    say("[bold]omnitwin core demo[/bold] — one day, one DC, two stores, web + marketplace\n")
    core.opening("JACKET-M", "STORE-01", 6)
    core.opening("JACKET-M", "STORE-02", 4)
    core.opening("BOOTS-42", "STORE-01", 3)
    core.receive("JACKET-M", "DC-NORTH", 120, price_cents=4_150, event_id="asn-881:1")
    core.receive("BOOTS-42", "DC-NORTH", 40, event_id="asn-881:2")
    say("08:00  opening balances loaded; PO 881 received at DC-NORTH (jackets at 41.50, std 40.00)")

    clock.set(9 * HOUR)
    order = core.reserve(
        "WEB-1001",
        "web",
        [OrderLine("JACKET-M", 2), OrderLine("BOOTS-42", 1)],
        destination="zone-city",
        idempotency_key="WEB-1001",
    )
    say(f"09:00  web order WEB-1001 → {order.status}")
    for tr in order.traces:
        say("       " + tr.explain(core.catalog).replace("\n", "\n       "))
    again = core.reserve(
        "WEB-1001",
        "web",
        [OrderLine("JACKET-M", 2), OrderLine("BOOTS-42", 1)],
        destination="zone-city",
        idempotency_key="WEB-1001",
    )
    say(f"09:01  the same request retried with the same key → same result: {again is order}")

    clock.set(11 * HOUR)
    for rid in order.reservation_ids:
        core.ship(rid)
    say("11:00  WEB-1001 picked and shipped")

    # store facts arrive through the middleware; one delivery is duplicated
    pos = core.bus.publisher("pos:STORE-02")
    sale = pos.emit(
        "stock.sold",
        core.catalog.sku("JACKET-M"),
        core.catalog.location("STORE-02"),
        3,
        clock.now(),
    )
    clock.set(12 * HOUR)
    core.bus.deliver(sale)
    core.bus.deliver(sale)
    say("12:00  STORE-02 sold 3 jackets over the till; the middleware delivered the event twice")

    clock.set(13 * HOUR)
    core.transfer_out("JACKET-M", "DC-NORTH", "STORE-02", 10, reason="replenish after sell-through")
    say("13:00  10 jackets shipped DC-NORTH → STORE-02 to replenish after sell-through")
    clock.set(15 * HOUR)
    core.return_in("BOOTS-42", "STORE-01", 1, reason="wrong size")
    clock.set(17 * HOUR)
    core.dispose("BOOTS-42", "STORE-01", 1, "restock", reason="inspected: as new")
    say("15:00  a pair of boots returned at STORE-01 (quarantined); 17:00 inspected and restocked")
    clock.set(19 * HOUR)
    core.transfer_in("JACKET-M", "STORE-02", "DC-NORTH", 10)
    say("19:00  the transfer arrived at STORE-02")

    gap = core.reconcile()
    say(
        f"\n20:00  journal entries waiting for the nightly batch: {core.gl.unposted};"
        f" GL vs ledger differs on {len(gap)} account lines until it runs"
    )
    clock.set(26 * HOUR)  # 02:00 next day
    posted = core.post_due()
    say(f"02:00  nightly batch posted {posted} entries")

    _balances(console, core)
    _journal(console, core)
    diffs = core.reconcile()
    inv = core.invariants()
    say(f"\nReconciliation GL vs ledger: {len(diffs)} differences")
    counters = core.bus.counters.as_dict()
    say("Events: " + ", ".join(f"{k} {v}" for k, v in counters.items()))
    table = Table(title="Invariants (KPIS.md)")
    table.add_column("invariant")
    table.add_column("value", justify="right")
    for k, v in inv.items():
        table.add_row(k, str(v))
    console.print(table)
    return DemoResult(core, inv, len(diffs))


def _balances(console: Console, core: Orchestrator) -> None:
    t = Table(title="Stock positions")
    for col in ("sku", "location", "on hand", "reserved", "in transit", "quarantined", "ATS"):
        t.add_column(col, justify="left" if col in ("sku", "location") else "right")
    for (s, loc), p in sorted(core.ledger.positions.items()):
        t.add_row(
            core.catalog.skus[s].code,
            core.catalog.locations[loc].code,
            str(p.on_hand),
            str(p.reserved),
            str(p.in_transit),
            str(p.quarantined),
            str(p.ats),
        )
    console.print(t)


def _journal(console: Console, core: Orchestrator) -> None:
    t = Table(title="General-ledger journal (cents)")
    for col in ("entry", "movement", "account", "loc", "debit", "credit", "delay h"):
        t.add_column(col, justify="right" if col in ("debit", "credit", "delay h") else "left")
    cat = core.catalog
    for e in core.gl.entries:
        m = core.ledger.movements[e.movement_seq]
        for i, ln in enumerate(e.lines):
            loc = cat.locations[ln.location].code if ln.location >= 0 else ""
            t.add_row(
                str(e.id) if i == 0 else "",
                f"{m.kind.name.lower()} {cat.skus[m.sku].code} x{m.qty}" if i == 0 else "",
                f"{int(ln.account)} {ACCOUNT_NAMES[ln.account]}",
                loc,
                f"{ln.debit:,}" if ln.debit else "",
                f"{ln.credit:,}" if ln.credit else "",
                f"{(e.posted_at - e.movement_at) / 3600:.1f}" if i == 0 else "",
            )
    console.print(t)


if __name__ == "__main__":  # pragma: no cover
    run()
