"""Replications, policy comparisons and parameter sweeps, serially or on Dask.

Seeds come from `SeedSequence(scenario.seed).spawn(R)`, so replication i gets the
same seed under every policy (common random numbers) and the same result
whether it runs serially, on a local cluster or on a remote scheduler. Tasks
bundle several replications; failed tasks are retried; results are consumed as
they arrive.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scenarios import Scenario, ScenarioError, load
from scenarios.policies import POLICY_NAMES

from .money import MONEY_KEYS, mean_money, payback_months, total_cost_per_year
from .simulate import EVENT_KEYS, INVARIANT_KEYS, KPI_KEYS, kpi_range, simulate
from .theory import student_t_ci95

Progress = Callable[[int, int], None]  # (replications done, total)


def replication_seeds(base_seed: int, replications: int) -> list[int]:
    """One independent seed per replication, the same for every policy."""
    children = np.random.SeedSequence(base_seed).spawn(replications)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def export_folder(export: str | None, policy: str, index: int) -> str | None:
    """Where replication `index` of `policy` writes its exports (`--export DIR`)."""
    return None if export is None else str(Path(export) / policy / f"rep{index}")


def run_bundle(
    scenario: dict[str, Any],
    policy: str,
    seeds: list[int],
    export: str | None = None,
    first: int = 0,
) -> list[dict[str, Any]]:
    """Run several replications of one policy (a Dask task); plain dicts travel back.
    `export`: a folder for each replication's exports (`first` is the first's index)."""
    sc = Scenario.model_validate(scenario)
    out = []
    for i, s in enumerate(seeds):
        r = simulate(sc, policy, s, export=export_folder(export, policy, first + i))
        out.append({**r.to_dict(), "series": r.series, "extras": r.extras})
    return out


@dataclass(slots=True)
class Aggregate:
    """The KPIS.md result object over replications: means, 95% intervals, per-seed runs."""

    scenario: str
    policy: str
    runs: list[dict[str, Any]]
    wall_seconds: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)

    def kpi_samples(self, key: str) -> list[float]:
        return [r["kpis"][key] for r in self.runs if r["kpis"][key] is not None]


#: the figures of each exception kind (`exceptions_by_kind`)
EXCEPTION_FIGURES = ("backlog_peak", "backlog_end", "age_p95_h")


def exceptions_by_kind(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Per exception kind, each figure's mean over replications (one replication: its own
    figures). A kind a replication did not report had no backlog there; an age p95 that is
    null (no exception of the kind) is left out of its mean."""
    tables = [r.get("exceptions_by_kind") or {} for r in runs]
    kinds = list(dict.fromkeys(k for t in tables for k in t))
    if len(runs) == 1:
        return {k: dict(tables[0][k]) for k in kinds}
    out: dict[str, dict[str, float | int | None]] = {}
    for kind in kinds:
        row: dict[str, float | int | None] = {}
        for fig in EXCEPTION_FIGURES:
            absent = None if fig == "age_p95_h" else 0
            xs = [t[kind][fig] if kind in t else absent for t in tables]
            xs = [x for x in xs if x is not None]
            row[fig] = float(np.mean(xs)) if xs else None
        out[kind] = row
    return out


def aggregate(scenario: str, policy: str, runs: list[dict[str, Any]], wall: float) -> Aggregate:
    runs = sorted(runs, key=lambda r: r["seed_index"])
    n = len(runs)
    kpis: dict[str, float | None] = {}
    ci95: dict[str, list[float] | None] = {}
    for key in KPI_KEYS:
        xs = [r["kpis"][key] for r in runs if r["kpis"][key] is not None]
        if not xs:
            kpis[key], ci95[key] = None, None
            continue
        if n == 1:  # one replication: the run's own figures, counts stay whole numbers
            kpis[key], ci95[key] = xs[0], None
            continue
        mean, lo, hi = student_t_ci95(xs)
        kpis[key] = mean
        # a count, a time or a share cannot leave its range: a Student-t interval over few
        # replications can, so it is clipped there (the report says so)
        floor, ceiling = kpi_range(key)
        ci95[key] = None if math.isnan(lo) else [max(lo, floor), min(hi, ceiling)]
    inv: dict[str, Any] = {}
    for key in INVARIANT_KEYS:
        vals = [r["invariants"][key] for r in runs]
        inv[key] = all(vals) if isinstance(vals[0], bool) else int(sum(vals))
    events = {k: int(sum(r["events"][k] for r in runs)) for k in EVENT_KEYS}
    applied = events["applied"]
    sim_wall = sum(r["wall_seconds"] for r in runs)
    result = {
        "scenario": scenario,
        "policy": policy,
        "seed": runs[0]["base_seed"],
        "replications": n,
        "sim_days": runs[0]["sim_days"],
        "wall_seconds": wall,
        "core_events_per_second": applied / sim_wall if sim_wall > 0 else None,
        "kpis": kpis,
        "exceptions_by_kind": exceptions_by_kind(runs),
        "invariants": inv,
        "events": events,
    }
    if n > 1:
        result["ci95"] = ci95
    if all(r.get("money") for r in runs):
        result["money"] = money_over(runs)
    return Aggregate(scenario, policy, runs, wall, result)


def money_over(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The money block over replications: means, and a 95% interval per figure (clipped
    at zero: a cost is never negative) when there are several."""
    blocks = [r["money"] for r in runs]
    out = mean_money(blocks)
    if len(blocks) > 1:
        ci: dict[str, list[float] | None] = {}
        for key in MONEY_KEYS:
            _, lo, hi = student_t_ci95([float(b[key]) for b in blocks])
            ci[key] = None if math.isnan(lo) else [max(lo, 0.0), max(hi, 0.0)]
        out["ci95"] = ci
    return out


def paired(pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Paired (same seed) differences second − first with a 95% interval, and whether the
    interval excludes zero."""
    d = [o - b for b, o in pairs]
    mean, lo, hi = student_t_ci95(d)
    interval = None if math.isnan(lo) else [lo, hi]
    return {"mean": mean, "ci95": interval, "significant": bool(interval and (lo > 0 or hi < 0))}


def differences(base: Aggregate, other: Aggregate) -> dict[str, dict[str, Any] | None]:
    """Paired (same seed) differences other − base per KPI, with a 95% interval."""
    out: dict[str, dict[str, Any] | None] = {}
    for key in KPI_KEYS:
        pairs = [
            (b["kpis"][key], o["kpis"][key])
            for b, o in zip(base.runs, other.runs, strict=True)
            if b["kpis"][key] is not None and o["kpis"][key] is not None
        ]
        out[key] = paired(pairs) if pairs else None
    return out


def net_benefit(
    base: Aggregate,
    other: Aggregate,
    programme_cost: float,
    cost: Callable[[Mapping[str, Any]], float] = total_cost_per_year,
) -> dict[str, Any]:
    """What `other` saves a year against `base` (paired over the seeds, with a 95% interval)
    and the months it takes to repay the programme's one-off cost. `cost` reads the cost a
    year off a money block (the roadmap values steps on operating cost, the platform
    apart)."""
    pairs = [
        (cost(o["money"]), cost(b["money"])) for b, o in zip(base.runs, other.runs, strict=True)
    ]
    out = paired(pairs)  # base − other: positive when the other costs less
    return {
        "net_benefit_per_year": out,
        "payback_months": payback_months(out["mean"], programme_cost),
        "programme_cost": programme_cost,
    }


# ------------------------------------------------------------------------------ executors
def scheduler_address(explicit: str | None) -> str | None:
    return explicit or os.environ.get("DASK_SCHEDULER_ADDRESS") or None


@contextmanager
def dask_client(address: str | None, workers: int = 2) -> Iterator[Any]:
    """A client to a real scheduler at `address`, or to a local cluster of `workers`."""
    from dask.distributed import Client, LocalCluster

    if address:
        client = Client(address, timeout="20s")
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@dataclass(slots=True)
class Job:
    key: str  # e.g. the policy, or the sweep point
    policy: str
    scenario: dict[str, Any]
    seeds: list[int]
    first_index: int
    export: str | None = None  # a folder for each replication's exports


def _bundles(seeds: list[int], size: int) -> list[tuple[int, list[int]]]:
    return [(i, seeds[i : i + size]) for i in range(0, len(seeds), size)]


def execute(
    jobs: list[Job],
    *,
    executor: str = "auto",
    scheduler: str | None = None,
    progress: Progress | None = None,
    workers: int = 2,
) -> dict[str, list[dict[str, Any]]]:
    """Run every job's replications; returns runs per job key, each tagged with its index."""
    total = sum(len(j.seeds) for j in jobs)
    address = scheduler_address(scheduler)
    if executor == "auto":
        executor = "dask" if address or total > 1 else "serial"
    out: dict[str, list[dict[str, Any]]] = {j.key: [] for j in jobs}
    done = 0

    def take(job: Job, first: int, runs: list[dict[str, Any]]) -> None:
        nonlocal done
        for i, r in enumerate(runs):
            r["seed_index"] = first + i
            r["base_seed"] = job.scenario.get("seed", 0)
            out[job.key].append(r)
        done += len(runs)
        if progress is not None:
            progress(done, total)

    if executor == "serial":
        for job in jobs:
            for i, s in enumerate(job.seeds):
                first = job.first_index + i
                take(job, first, run_bundle(job.scenario, job.policy, [s], job.export, first))
        return out
    from dask.distributed import as_completed

    n_workers = workers
    with dask_client(address, workers) as client:
        if address:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        # bundle replications so each worker gets at least three tasks: less overhead, and
        # rounding down keeps the bundles small enough to balance (16 replications on two
        # workers: eight tasks of 2, not 3,3,3,3,3,1 where one worker runs 9)
        per_task = max(1, total // (3 * n_workers))
        futures = {}
        for job in jobs:
            for first, seeds in _bundles(job.seeds, per_task):
                f = client.submit(
                    run_bundle,
                    job.scenario,
                    job.policy,
                    seeds,
                    job.export,
                    job.first_index + first,
                    pure=False,
                    retries=2,
                    key=f"omnitwin-{job.key}-{first}-{time.time_ns()}",
                )
                futures[f] = (job, job.first_index + first)
        for f in as_completed(list(futures)):
            job, first = futures.pop(f)
            take(job, first, f.result())
            f.release()
    return out


# ------------------------------------------------------------------------------ front doors
def check_policies(policies: Sequence[str]) -> list[str]:
    bad = [p for p in policies if p not in POLICY_NAMES]
    if bad:
        names = ", ".join(map(repr, bad))
        raise ScenarioError([f"policies: unknown {names}; choose from {', '.join(POLICY_NAMES)}"])
    if not policies:
        raise ScenarioError(["policies: name at least one"])
    return list(policies)


def replicate(
    sc: Scenario,
    policy: str | None = None,
    replications: int | None = None,
    *,
    seed: int | None = None,
    executor: str = "auto",
    scheduler: str | None = None,
    progress: Progress | None = None,
    export: str | Path | None = None,
) -> Aggregate:
    """Several replications of one scenario under one policy; `export`: a folder for each
    replication's movement log, journal, exceptions and orders (DIR/<policy>/rep<i>/)."""
    pol = policy or sc.policy.operating_model
    check_policies([pol])
    base = sc.seed if seed is None else seed
    data = sc.model_dump(mode="json")
    data["seed"] = base
    reps = replications or sc.replications
    exports = None if export is None else str(export)
    job = Job(pol, pol, data, replication_seeds(base, reps), 0, exports)
    t0 = time.perf_counter()
    runs = execute([job], executor=executor, scheduler=scheduler, progress=progress)[pol]
    return aggregate(sc.name, pol, runs, time.perf_counter() - t0)


@dataclass(slots=True)
class Comparison:
    scenario: str
    policies: dict[str, Aggregate]
    differences: dict[str, dict[str, dict[str, Any] | None]]
    wall_seconds: float
    #: per policy after the first: net benefit per year against it, and payback months
    money: dict[str, dict[str, Any]] = field(default_factory=dict)
    currency: str = "USD"  # of every money figure (the scenario's economics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "policies": {p: a.result for p, a in self.policies.items()},
            "differences": self.differences,
            "money": self.money,
            "currency": self.currency,
        }


def compare(
    sc: Scenario,
    policies: Sequence[str],
    replications: int | None = None,
    *,
    seed: int | None = None,
    executor: str = "auto",
    scheduler: str | None = None,
    progress: Progress | None = None,
    export: str | Path | None = None,
) -> Comparison:
    """Every policy on the same seeds; differences against the first policy. `export`: as
    for `replicate`, a folder per policy and replication."""
    pols = check_policies(policies)
    if len(set(pols)) != len(pols):
        raise ScenarioError(["policies: each policy once"])
    base = sc.seed if seed is None else seed
    data = sc.model_dump(mode="json")
    data["seed"] = base
    seeds = replication_seeds(base, replications or sc.replications)
    exports = None if export is None else str(export)
    jobs = [Job(p, p, data, seeds, 0, exports) for p in pols]
    t0 = time.perf_counter()
    runs = execute(jobs, executor=executor, scheduler=scheduler, progress=progress)
    wall = time.perf_counter() - t0
    aggs = {p: aggregate(sc.name, p, runs[p], wall) for p in pols}
    first = aggs[pols[0]]
    diffs = {p: differences(first, aggs[p]) for p in pols[1:]}
    cost = sc.economics.programme_cost
    money = {p: net_benefit(first, aggs[p], cost) for p in pols[1:]}
    return Comparison(sc.name, aggs, diffs, wall, money, sc.economics.currency)


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """`path=v1,v2` items into {path: [v1, v2]}, with errors naming the bad item."""
    grid: dict[str, list[str]] = {}
    problems = []
    for item in items:
        path, eq, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not path.strip() or not vals:
            problems.append(f"--grid {item!r}: expected path=v1,v2,...")
            continue
        grid[path.strip()] = vals
    if problems:
        raise ScenarioError(problems)
    if not grid:
        raise ScenarioError(["--grid: give at least one path=v1,v2"])
    return grid


@dataclass(slots=True)
class SweepPoint:
    settings: dict[str, str]
    aggregate: Aggregate


def sweep(
    sc: Scenario,
    grid: dict[str, list[str]],
    policy: str | None = None,
    replications: int | None = None,
    *,
    executor: str = "dask",
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> list[SweepPoint]:
    """A full grid of `--set` values, every point on the same seeds."""
    pol = policy or sc.policy.operating_model
    check_policies([pol])
    base_data = sc.model_dump(mode="json")
    seeds = replication_seeds(sc.seed, replications or sc.replications)
    keys = list(grid)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]
    jobs, problems = [], []
    for i, point in enumerate(points):
        try:
            psc = load(base_data, [f"{k}={v}" for k, v in point.items()])
        except ScenarioError as exc:
            problems.extend(f"grid point {point}: {p}" for p in exc.problems)
            continue
        jobs.append(Job(f"p{i}", pol, psc.model_dump(mode="json"), seeds, 0))
    if problems:
        raise ScenarioError(problems)
    t0 = time.perf_counter()
    runs = execute(jobs, executor=executor, scheduler=scheduler, progress=progress)
    wall = time.perf_counter() - t0
    return [
        SweepPoint(points[int(j.key[1:])], aggregate(sc.name, pol, runs[j.key], wall)) for j in jobs
    ]
