"""Benchmark 2 — engine limit: omnitwin's core events/s against a bare SimPy loop.

Each repetition, in this one process and one after the other:

1. one replication of the case-study (`orchestrated`, reduced size) with a twin that
   records every event the middleware hands to the core's bus, and how long the bus
   took over it. It gives
   (a) `metadata["core_events_per_second"]`: applied ÷ whole-run wall seconds
       (the KPIS.md figure: the twin's own work is in the denominator), and
   (c) applied ÷ seconds inside `core.bus.deliver` during the run (this still
       includes the twin's hook on every applied event);
2. bare SimPy: `procs` processes, each looping `yield env.timeout(1)` `steps` times;
   events/s = timeouts processed ÷ seconds of `env.run()`;
3. (b) replay: the recorded deliveries (duplicates and out-of-order ones included, in
   delivery order, the clock following the recorded times) go into a fresh
   `Orchestrator` of the same catalogue through `bus.deliver`, timed; events applied
   ÷ seconds. Transfers the twin commanded directly (`core.transfer_out`) are
   replayed first, untimed, so a `transfer.received` finds its units in transit;
   (d) the floor: the movements that replay recorded, event by event, into a bare
   `StockLedger` (no bus, no GL, no core) — the innermost layer every event passes;
4. bare SimPy again. The repetition's SimPy rate is the mean of 2. and 4., which
   sandwich the replay, so the ratio (b) ÷ SimPy sees the same machine load.

The target is judged on (b) ÷ bare SimPy: the core's own apply throughput. (d) ÷ SimPy
bounds it from above: no change to the layers over the ledger gets (b) past (d).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import (
    POLICY,
    SEED,
    Result,
    forget_models,
    load_scenario,
    median,
    quiet,
    ratio,
    result,
    say,
    sized,
)

NAME = "engine"
TITLE = "Engine limit: core events/s vs bare SimPy events/s"
TARGET = "core apply events/s ≥ 0.5 × bare SimPy events/s"


# ------------------------------------------------------------------------------ bare SimPy
def bare_simpy(procs: int = 100, steps: int = 10_000) -> tuple[int, float]:
    """(timeouts processed, seconds) for `procs` processes of `steps` timeouts each."""
    import simpy

    def loop(env: simpy.Environment, n: int) -> Iterator[simpy.Event]:
        for _ in range(n):
            yield env.timeout(1)

    env = simpy.Environment()
    for _ in range(procs):
        env.process(loop(env, steps))
    quiet()
    t0 = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t0
    return procs * steps, dt


# ------------------------------------------------------------------------------ the twin
@dataclass(slots=True)
class Recording:
    """What the middleware handed to the core during one run."""

    deliveries: list[tuple[float, Any]] = field(default_factory=list)  # (sim seconds, event)
    deliver_s: float = 0.0  # wall seconds inside core.bus.deliver
    applied_in_deliver: int = 0
    model: Any = None
    replayed: Any = None  # the replay core's movement log, for (d)
    replay_from: int = 0  # its first timed line


def recording_twin(rec: Recording) -> type:
    """A `RetailTwin` subclass recording into `rec`, for `simulate(..., twin=...)`."""
    from orchestrator.clock import HOUR
    from twin.model import RetailTwin

    class RecordingTwin(RetailTwin):
        """The twin, unchanged, except that deliveries to the bus are recorded and timed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            rec.model = self

        def deliver(self, ev: Any) -> None:
            rec.deliveries.append((self.env.now * HOUR, ev))
            counters = self.core.bus.counters
            before = counters.applied
            t0 = time.perf_counter()
            super().deliver(ev)  # an event or an envelope (the tills' sales of an interval)
            rec.deliver_s += time.perf_counter() - t0
            rec.applied_in_deliver += counters.applied - before

    return RecordingTwin


def replay(rec: Recording) -> tuple[int, int, float]:
    """Deliver the recorded events to a fresh core of the same catalogue, timed:
    (events applied, movement lines recorded, seconds)."""
    from orchestrator import GeneralLedger, ManualClock, Orchestrator

    model = rec.model
    old = model.core
    g = old.gl
    if g.mode == "batch":
        every = g.batch_every_s / 3600.0 if g.batch_every_s else None
        nightly = g.nightly_at_s / 3600.0 if g.nightly_at_s is not None else None
        gl = GeneralLedger("batch", batch_every_h=every, nightly_at_h=nightly)
    else:
        gl = GeneralLedger()
    clock = ManualClock()
    core = Orchestrator(
        model.network.catalog,
        clock,
        network=model.network.lanes,
        gl=gl,
        bus_hold_timeout_s=old.bus.hold_timeout_s,
    )
    prime(core, rec.deliveries)
    deliver = core.bus.deliver_any  # events, and envelopes (the tills' sales of an interval)
    deliveries = rec.deliveries
    lines0 = len(core.ledger.movements)
    quiet()
    t0 = time.perf_counter()
    for t, ev in deliveries:
        if t > clock.t:
            clock.set(t)
        deliver(ev)
    dt = time.perf_counter() - t0
    lines = len(core.ledger.movements) - lines0
    rec.replayed = core.ledger.movements
    rec.replay_from = lines0
    return core.bus.counters.applied, lines, dt


def ledger_floor(log: Any, start: int) -> tuple[int, int, float, Any]:
    """(d): the movements the replay recorded, event by event, into a bare `StockLedger`
    (no bus, no GL, no core): (events, lines, seconds, the ledger) from log line `start` on.

    The innermost layer every event goes through: if it alone is slower than the
    target rate, no change above it reaches the target. Movements before `start`
    (the primed transfers) go in first, untimed."""
    import numpy as np

    from orchestrator.ledger import StockLedger

    n = len(log)
    ledger = StockLedger()
    if n == 0:
        return 0, 0, 0.0, ledger
    row, line = log.column("row"), log.column("line")
    heads = np.concatenate(([0], np.flatnonzero(np.diff(row)) + 1, [n])).tolist()
    calls: list[tuple[bool, Any, tuple[Any, ...], dict[str, Any]]] = []
    for a, b in itertools.pairwise(heads):
        m = log[a]
        common = {"at": m.at, "recorded_at": m.recorded_at, "counterparty": m.counterparty}
        common |= {"disposition": m.disposition, "reason": m.reason, "actor": m.actor}
        if line[a] < 0:
            args: tuple[Any, ...] = (m.kind, m.sku, m.location, m.qty)
            kw = common | {"event_id": m.event_id, "unit_cost_cents": m.unit_cost_cents}
            calls.append((a >= start, ledger.record, args, kw | {"price_cents": m.price_cents}))
            continue
        lines = log[a:b]
        args = (m.kind, m.location, [x.sku for x in lines], [x.qty for x in lines])
        kw = common | {"event_id": m.event_id.rsplit("#", 1)[0]}
        kw["unit_costs"] = [x.unit_cost_cents for x in lines]
        calls.append((a >= start, ledger.record_lines, args, kw))
    untimed = [c for c in calls if not c[0]]
    timed = [c for c in calls if c[0]]
    for _, fn, args, kw in untimed:
        fn(*args, **kw)
    quiet()
    t0 = time.perf_counter()
    for _, fn, args, kw in timed:
        fn(*args, **kw)
    dt = time.perf_counter() - t0
    return len(timed), len(ledger.movements) - start, dt, ledger


def _lines(ev: Any) -> list[tuple[int, int]]:
    """(sku, qty) per line: one for a plain event, many for a batch event."""
    skus = ev.attrs.get("skus")
    if skus is not None:
        return list(zip(skus, ev.attrs["qtys"], strict=True))
    return [(ev.sku, ev.qty)]


def prime(core: Any, deliveries: list[tuple[float, Any]]) -> None:
    """Untimed: put in transit what the twin shipped by direct command (`transfer_out`), so
    each `transfer.received` / `transfer.lost` finds its units, as it did in the run."""
    n_loc = len(core.catalog.locations)
    for _, ev in deliveries:
        if getattr(ev, "type", None) in ("transfer.received", "transfer.lost"):
            src = ev.attrs.get("from")
            if src is None:
                src = (ev.location + 1) % n_loc
            for sku, qty in _lines(ev):
                core.transfer_out(sku, src, ev.location, qty)


def recorded_run(overrides: Sequence[str]) -> tuple[dict[str, float], Recording]:
    """One recorded replication: figures (a) and (c), and the recording for (b)."""
    sc = load_scenario(overrides)
    rec = Recording()
    quiet()
    from twin.simulate import simulate

    r = simulate(sc, POLICY, seed=SEED, twin=recording_twin(rec))
    out = {
        "wall_s": float(r.metadata["wall_seconds"]),
        "applied": float(r.events["applied"]),
        "deliveries": float(len(rec.deliveries)),
        "a": float(r.metadata["core_events_per_second"] or 0.0),
        "c": ratio(rec.applied_in_deliver, rec.deliver_s),
    }
    return out, rec


def simpy_rate(procs: int, steps: int) -> float:
    n, dt = bare_simpy(procs, steps)
    return n / dt


# ------------------------------------------------------------------------------ the benchmark
def run(
    quick: bool = False,
    repeats: int = 3,
    *,
    stores: int = 180,
    skus: int = 100,
    days: float = 14,
    procs: int = 100,
    steps: int = 5_000,
) -> Result:
    if quick:
        stores, skus, days, steps = 4, 5, 1, 300
    overrides = sized(stores, skus, days)
    size = f"case-study {stores} stores × {skus} skus × {days:g} days, {POLICY}, seed {SEED}"
    rows: list[dict[str, object]] = []
    simpy_rates, a_rates, b_rates, c_rates, line_rates = [], [], [], [], []
    ratios_a, ratios_b, ratios_d, d_rates = [], [], [], []
    reps = max(1, repeats)
    forget_models()
    for i in range(reps):
        core, rec = recorded_run(overrides)
        say(
            f"rep {i + 1}/{reps}: core run {core['wall_s']:.1f} s, {core['applied']:,.0f} "
            f"applied; (a) {core['a']:,.0f}/s, (c) in-run deliver {core['c']:,.0f}/s"
        )
        # bare SimPy right before and right after the replay: the ratio uses their mean
        s_before = simpy_rate(procs, steps)
        applied_b, lines_b, replay_s = replay(rec)
        events_d, _lines_d, ledger_s, _ = ledger_floor(rec.replayed, rec.replay_from)
        s_after = simpy_rate(procs, steps)
        s_rate = (s_before + s_after) / 2
        core["b"] = ratio(applied_b, replay_s)
        core["b_lines"] = ratio(lines_b, replay_s)
        core["replay_matches"] = float(applied_b == rec.applied_in_deliver)
        core["d"] = ratio(events_d, ledger_s)
        rec.deliveries.clear()
        rec.model = rec.replayed = None
        forget_models()
        say(
            f"rep {i + 1}/{reps}: (b) replay {core['b']:,.0f}/s; (d) ledger alone "
            f"{core['d']:,.0f}/s; bare SimPy "
            f"{s_before:,.0f}/s before, {s_after:,.0f}/s after"
        )
        simpy_rates.append(s_rate)
        a_rates.append(core["a"])
        b_rates.append(core["b"])
        c_rates.append(core["c"])
        line_rates.append(core["b_lines"])
        ratios_a.append(core["a"] / s_rate)
        ratios_b.append(core["b"] / s_rate)
        d_rates.append(core["d"])
        ratios_d.append(core["d"] / s_rate)
        rows.append(
            {
                "rep": i + 1,
                "bare SimPy events/s": s_rate,
                "(a) core events/s, whole run (KPIS.md)": core["a"],
                "(b) core apply events/s, replay": core["b"],
                "(c) bus.deliver events/s, in run": core["c"],
                "(b) movement lines/s, replay": core["b_lines"],
                "(d) ledger alone events/s": core["d"],
                "(b) ÷ SimPy": ratios_b[-1],
                "(a) ÷ SimPy": ratios_a[-1],
                "(d) ÷ SimPy": ratios_d[-1],
                "run wall s": core["wall_s"],
                "events applied": int(core["applied"]),
                "replayed deliveries": int(core["deliveries"]),
                "replay applied = run": bool(core["replay_matches"]),
            }
        )
    med_b = median(ratios_b)
    med_a = median(ratios_a)
    rows.append(
        {
            "rep": "median",
            "bare SimPy events/s": median(simpy_rates),
            "(a) core events/s, whole run (KPIS.md)": median(a_rates),
            "(b) core apply events/s, replay": median(b_rates),
            "(c) bus.deliver events/s, in run": median(c_rates),
            "(b) movement lines/s, replay": median(line_rates),
            "(d) ledger alone events/s": median(d_rates),
            "(b) ÷ SimPy": med_b,
            "(a) ÷ SimPy": med_a,
            "(d) ÷ SimPy": median(ratios_d),
        }
    )
    met = None if quick else med_b >= 0.5
    summary = (
        f"core apply (b) {median(b_rates):,.0f} ev/s = {med_b:.2g}× bare SimPy "
        f"{median(simpy_rates):,.0f} ev/s; whole-run (a) {median(a_rates):,.0f} ev/s = "
        f"{med_a:.2g}×; floor (d) the stock ledger alone {median(d_rates):,.0f} ev/s = "
        f"{median(ratios_d):.2g}× ({size}; median of {reps})"
    )
    return result(NAME, TITLE, TARGET, met, summary, rows)
