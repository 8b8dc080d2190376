"""Replications, comparisons and sweeps: seeds, intervals, and Dask equals serial."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scenarios import ScenarioError, load
from twin.experiments import (
    compare,
    parse_grid,
    replicate,
    replication_seeds,
    sweep,
)

SMALL = [
    "horizon_days=3",
    "network.stores.count=3",
    "skus.count=6",
    "channels[0].orders_per_day=40",
    "channels[1].orders_per_day=20",
]


def strip(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("wall_seconds", "core_events_per_second")}


def test_replication_seeds_are_fixed_by_the_base_seed_and_distinct() -> None:
    a = replication_seeds(42, 5)
    assert a == replication_seeds(42, 5)
    assert len(set(a)) == 5
    assert replication_seeds(42, 3) == a[:3]
    assert replication_seeds(43, 3) != a[:3]


def test_replications_give_a_mean_and_a_95_percent_interval() -> None:
    sc = load("baseline", SMALL)
    agg = replicate(sc, "orchestrated", 3, executor="serial")
    res = agg.result
    assert res["replications"] == 3
    xs = agg.kpi_samples("fill_rate")
    assert res["kpis"]["fill_rate"] == pytest.approx(sum(xs) / 3)
    lo, hi = res["ci95"]["fill_rate"]
    assert lo <= res["kpis"]["fill_rate"] <= hi
    assert res["ci95"]["transfer_approval_time_p50_h"] is None or lo <= hi


def test_a_comparison_pairs_policies_on_the_same_seeds() -> None:
    sc = load("baseline", SMALL)
    cmp = compare(sc, ["legacy", "orchestrated"], 2, executor="serial")
    legacy, orch = cmp.policies["legacy"], cmp.policies["orchestrated"]
    assert [r["seed"] for r in legacy.runs] == [r["seed"] for r in orch.runs]
    assert [r["kpis"]["orders_total"] for r in legacy.runs] == [
        r["kpis"]["orders_total"] for r in orch.runs
    ]
    d = cmp.differences["orchestrated"]["manual_reconciliation_hours"]
    per_seed = [
        o["kpis"]["manual_reconciliation_hours"] - b["kpis"]["manual_reconciliation_hours"]
        for b, o in zip(legacy.runs, orch.runs, strict=True)
    ]
    assert d["mean"] == pytest.approx(sum(per_seed) / 2)


def test_results_are_identical_serially_and_on_a_local_dask_cluster() -> None:
    sc = load("baseline", SMALL)
    a = compare(sc, ["legacy", "orchestrated"], 2, executor="serial")
    b = compare(sc, ["legacy", "orchestrated"], 2, executor="dask")
    for p in ("legacy", "orchestrated"):
        assert strip(a.policies[p].result) == strip(b.policies[p].result)
    assert a.differences == b.differences


def test_a_bad_grid_or_policy_names_the_problem() -> None:
    with pytest.raises(ScenarioError, match="expected path=v1,v2"):
        parse_grid(["horizon_days"])
    sc = load("baseline", SMALL)
    with pytest.raises(ScenarioError, match="policies: unknown 'nope'"):
        compare(sc, ["legacy", "nope"], 1)
    with pytest.raises(ScenarioError, match=r"grid point .*network.stores.count"):
        sweep(sc, {"network.stores.count": ["-1"]}, "orchestrated", 1, executor="serial")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture
def dask_scheduler(tmp_path: Path):
    """A real `dask scheduler` and `dask worker`, separate processes on loopback."""
    bindir = Path(sys.executable).parent
    dask_cli = shutil.which("dask", path=str(bindir)) or str(bindir / "dask")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with (
        open(tmp_path / "scheduler.log", "w") as sched_log,
        open(tmp_path / "worker.log", "w") as worker_log,
    ):
        yield from _cluster(dask_cli, port, env, sched_log, worker_log)


def _cluster(dask_cli: str, port: int, env: dict, sched_log, worker_log):
    sched = subprocess.Popen(
        [
            dask_cli,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            ":0",
            "--no-show",
        ],
        stdout=subprocess.DEVNULL,
        stderr=sched_log,
        env=env,
    )
    worker = None
    try:
        _wait_port(port)
        address = f"tcp://127.0.0.1:{port}"
        worker = subprocess.Popen(
            [
                dask_cli,
                "worker",
                address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--dashboard-address",
                ":0",
                "--no-nanny",
            ],
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
            env=env,
        )
        from dask.distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for p in (worker, sched):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_a_sweep_runs_through_a_real_scheduler_and_matches_serial(dask_scheduler: str) -> None:
    sc = load("baseline", SMALL)
    grid = {"policy.outage_fallback_buffer": ["0", "3"], "skus.count": ["4", "6"]}
    remote = sweep(sc, grid, "orchestrated", 2, scheduler=dask_scheduler)
    local = sweep(sc, grid, "orchestrated", 2, executor="serial")
    assert [p.settings for p in remote] == [
        {"policy.outage_fallback_buffer": b, "skus.count": k}
        for b in ("0", "3")
        for k in ("4", "6")
    ]
    for r, s in zip(remote, local, strict=True):
        assert strip(r.aggregate.result) == strip(s.aggregate.result)


def test_intervals_stay_inside_the_range_a_kpi_can_take() -> None:
    from twin.experiments import aggregate
    from twin.simulate import EVENT_KEYS, INVARIANT_KEYS, KPI_KEYS

    def run(i: int, lost: int, fill: float) -> dict:
        kpis = dict.fromkeys(KPI_KEYS, 1.0)
        kpis["lost_sales_units"], kpis["fill_rate"] = lost, fill
        return {
            "seed_index": i,
            "base_seed": 1,
            "sim_days": 1,
            "wall_seconds": 1.0,
            "kpis": kpis,
            "invariants": dict.fromkeys(INVARIANT_KEYS, True),
            "events": dict.fromkeys(EVENT_KEYS, 0),
        }

    # two replications far apart: Student t with one degree of freedom is wide
    agg = aggregate("x", "legacy", [run(0, 0, 0.999), run(1, 22, 0.9)], 1.0)
    lo, hi = agg.result["ci95"]["lost_sales_units"]
    assert lo == 0.0 and hi > 22  # a count never has a negative bound
    lo, hi = agg.result["ci95"]["fill_rate"]
    assert lo >= 0.0 and hi == 1.0  # a share stays in [0, 1]
