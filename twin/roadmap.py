"""The modernisation roadmap: which change brings which benefit, and in what order.

Starting from `legacy`, each roadmap step (`scenarios.policies.ROADMAP_STEPS`) moves the
knobs of one capability to their orchestrated values — **alone** (what the step is worth
on its own) and along a **cumulative path** (what it adds to the steps before it): in the
seed article's order, an order given, or `greedy` (the most valuable next step each
time, by value per year). Every run shares the seeds (common random numbers); each step
carries its KPI deltas and its value per year with 95% intervals, and a step whose
cumulative delta differs from its one-at-a-time delta beyond the interval is flagged as
an interaction. With every step taken, the path's end is `orchestrated` itself.

A step's value is what it saves of the cost of running the business (its operating cost:
lost margin, oversells, labour, carrying stock, expediting). The orchestration platform
every step runs on is one fixed cost (`platform`: its running cost a year), so it is not
charged to whichever step happens to come first; the net benefit is the steps' values
less the platform, and the payback is on the programme's one-off cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scenarios import Scenario, ScenarioError
from scenarios.policies import ROADMAP_STEPS, flipped

from .experiments import (
    Aggregate,
    Job,
    Progress,
    aggregate,
    differences,
    execute,
    net_benefit,
    paired,
    replication_seeds,
)
from .money import operating_cost_per_year as operating
from .simulate import KPI_KEYS

LEGACY = "legacy"
STEP_NAMES = tuple(s.name for s in ROADMAP_STEPS)


def parse_order(order: str | Sequence[str]) -> str | list[str]:
    """`seed`, `greedy`, or steps named once each (a comma-separated string or a list);
    a partial list is completed in the seed order."""
    if isinstance(order, str) and order in ("seed", "greedy"):
        return order
    names = [s.strip() for s in order.split(",")] if isinstance(order, str) else list(order)
    names = [n for n in names if n]
    bad = [n for n in names if n not in STEP_NAMES]
    problems = [f"--order: unknown step {n!r}; choose from {', '.join(STEP_NAMES)}" for n in bad]
    if len(set(names)) != len(names):
        problems.append("--order: name each step once")
    if not names:
        problems.append("--order: seed, greedy, or a comma-separated list of steps")
    if problems:
        raise ScenarioError(problems)
    return names + [n for n in STEP_NAMES if n not in names]


def key_of(steps: Sequence[str]) -> str:
    """A run's name: the steps taken, in roadmap order (`legacy` for none)."""
    taken = [n for n in STEP_NAMES if n in steps]
    return "+".join(taken) if taken else LEGACY


def step_scenario(data: dict[str, Any], scenario: Scenario, steps: Sequence[str]) -> dict[str, Any]:
    """The scenario that runs `legacy` with these steps moved to their orchestrated values."""
    out = dict(data)
    out["policy"] = {**data.get("policy", {}), **flipped(scenario.policy, list(steps))}
    return out


@dataclass(slots=True)
class Roadmap:
    """The roadmap's runs and what each step is worth, alone and along the path."""

    scenario: str
    how: str  # "seed", "greedy" or "given"
    path: list[str]
    runs: dict[str, Aggregate]  # by key_of(steps)
    alone: dict[str, dict[str, Any]]
    along: list[dict[str, Any]]
    total: dict[str, Any]
    wall_seconds: float
    replications: int
    currency: str = "USD"
    greedy_rounds: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "how": self.how,
            "path": self.path,
            "replications": self.replications,
            "currency": self.currency,
            "alone": self.alone,
            "along": self.along,
            "total": self.total,
            "greedy_rounds": self.greedy_rounds,
            "runs": {k: a.result for k, a in self.runs.items()},
            "wall_seconds": self.wall_seconds,
        }


def _interactions(
    legacy: Aggregate, alone: Aggregate, before: Aggregate, after: Aggregate
) -> dict[str, dict[str, Any]]:
    """Per KPI and for the value: the cumulative delta less the one-at-a-time delta, per
    seed; kept where its interval excludes zero."""
    out: dict[str, dict[str, Any]] = {}
    seeds = list(zip(legacy.runs, alone.runs, before.runs, after.runs, strict=True))
    for key in KPI_KEYS:
        pairs = []
        for lg, al, bf, af in seeds:
            vals = (lg["kpis"][key], al["kpis"][key], bf["kpis"][key], af["kpis"][key])
            if None not in vals:
                pairs.append((vals[1] - vals[0], vals[3] - vals[2]))
        if len(pairs) > 1:
            d = paired(pairs)
            if d["significant"]:
                out[key] = d
    pairs = [
        (
            operating(lg["money"]) - operating(al["money"]),
            operating(bf["money"]) - operating(af["money"]),
        )
        for lg, al, bf, af in seeds
    ]
    if len(pairs) > 1:
        d = paired(pairs)
        if d["significant"]:
            out["value_per_year"] = d
    return out


def roadmap(
    sc: Scenario,
    order: str | Sequence[str] = "seed",
    replications: int | None = None,
    *,
    seed: int | None = None,
    executor: str = "auto",
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> Roadmap:
    """Run the roadmap: legacy, every step alone, and the cumulative path."""
    how_order = parse_order(order)
    base = sc.seed if seed is None else seed
    data = sc.model_dump(mode="json")
    data["seed"] = base
    reps = replications or sc.replications
    seeds = replication_seeds(base, reps)
    k = len(STEP_NAMES)
    total_jobs = 1 + k + (k * (k - 1) // 2 if how_order == "greedy" else k - 1)
    done_before = 0
    runs: dict[str, Aggregate] = {}
    t0 = time.perf_counter()

    def run(step_sets: list[tuple[str, ...]]) -> None:
        nonlocal done_before
        jobs = []
        for steps in step_sets:
            key = key_of(steps)
            if key not in runs and key not in {j.key for j in jobs}:
                jobs.append(Job(key, LEGACY, step_scenario(data, sc, steps), seeds, 0))
        if not jobs:
            return
        offset = done_before

        def tick(done: int, _total: int) -> None:
            if progress is not None:
                progress(offset + done, total_jobs * reps)

        got = execute(jobs, executor=executor, scheduler=scheduler, progress=tick)
        for job in jobs:
            runs[job.key] = aggregate(sc.name, job.key, got[job.key], time.perf_counter() - t0)
        done_before += len(jobs) * reps

    run([(), *((name,) for name in STEP_NAMES)])
    cost = sc.economics.programme_cost
    legacy = runs[LEGACY]
    alone = {
        name: {
            "knobs": list(next(s.knobs for s in ROADMAP_STEPS if s.name == name)),
            "what": next(s.what for s in ROADMAP_STEPS if s.name == name),
            "kpis": differences(legacy, runs[name]),
            "value": net_benefit(legacy, runs[name], cost, operating)["net_benefit_per_year"],
        }
        for name in STEP_NAMES
    }
    rounds: list[dict[str, float]] = []
    if how_order == "greedy":
        path: list[str] = []
        while len(path) < k:
            left = [n for n in STEP_NAMES if n not in path]
            run([(*path, n) for n in left])
            current = runs[key_of(path)]
            values = {
                n: net_benefit(current, runs[key_of([*path, n])], cost, operating)[
                    "net_benefit_per_year"
                ]["mean"]
                for n in left
            }
            rounds.append(values)
            path.append(max(left, key=lambda n: (values[n], -STEP_NAMES.index(n))))
        how = "greedy"
    else:
        path = list(STEP_NAMES) if how_order == "seed" else list(how_order)
        run([tuple(path[: i + 1]) for i in range(k)])
        how = "seed" if how_order == "seed" else "given"
    along = []
    for i, name in enumerate(path):
        before, after = runs[key_of(path[:i])], runs[key_of(path[: i + 1])]
        along.append(
            {
                "step": name,
                "kpis": differences(before, after),
                "value": net_benefit(before, after, cost, operating)["net_benefit_per_year"],
                "interactions": _interactions(legacy, runs[name], before, after),
            }
        )
    end = runs[key_of(path)]
    total = net_benefit(legacy, end, cost)
    total["platform_per_year"] = -(
        end.result["money"]["running_cost_per_year"]
        - legacy.result["money"]["running_cost_per_year"]
    )
    currency = sc.economics.currency
    return Roadmap(
        sc.name,
        how,
        path,
        runs,
        alone,
        along,
        total,
        time.perf_counter() - t0,
        reps,
        currency,
        rounds,
    )
