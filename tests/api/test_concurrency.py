"""The service under concurrent clients, against a real server on each database: many
concurrent reads all answer (no pool stall, health stays ok), and a burst of submissions
admits exactly the capacity (admission is atomic). Counts, not timings."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .conftest import TINY
from .served import served, wait_finished

#: a job that keeps its worker busy for a while (many short replications; cancellable)
LONG = {
    "scenario": "baseline",
    "policy": "legacy",
    "replications": 40,
    "overrides": {"horizon_days": 3, "network.stores.count": 6, "skus.count": 8},
}


def _burst(base: str, requests: list[tuple[str, str, dict | None]], workers: int) -> list[int]:
    """Every request at once from its own thread; the status codes (599: no answer)."""
    barrier = threading.Barrier(workers)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(base_url=base, timeout=60.0, limits=limits) as client:

        def one(req: tuple[str, str, dict | None]) -> int:
            method, url, body = req
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=30)
            try:
                return client.request(method, url, json=body).status_code
            except httpx.HTTPError:
                return 599

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, requests))


class HealthWatch(threading.Thread):
    """/healthz polled all along; every answer that was not 200 and ok."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base, self.bad, self.checks = base, [], 0
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30.0) as c:
            while not self.halt.wait(0.1):
                try:
                    r = c.get("/healthz")
                    if r.status_code != 200 or r.json()["status"] != "ok":
                        self.bad.append(r.text)
                except httpx.HTTPError as exc:
                    self.bad.append(repr(exc))
                self.checks += 1


def test_two_hundred_concurrent_reads_all_answer_and_health_stays_ok(
    tmp_path: Path, database_url: str
) -> None:
    with served(tmp_path, "reads", database_url) as client:
        r = client.post(
            "/v1/runs",
            json={"scenario": "baseline", "policy": "legacy", "replications": 1, "overrides": TINY},
        )
        run_id = r.json()["id"]
        assert wait_finished(client, f"/v1/runs/{run_id}")["status"] == "done"
        watch = HealthWatch(str(client.base_url))
        watch.start()
        try:
            reads = [("GET", f"/v1/runs/{run_id}", None)] * 100
            reads += [("GET", "/v1/runs?limit=50", None)] * 60
            reads += [("GET", f"/v1/runs/{run_id}/report", None)] * 40
            codes = _burst(str(client.base_url), reads, workers=200)
        finally:
            watch.halt.set()
            watch.join()
    assert codes.count(200) == 200, {c: codes.count(c) for c in set(codes)}
    assert watch.checks > 0 and watch.bad == []


def test_a_burst_of_submissions_admits_exactly_the_capacity(
    tmp_path: Path, database_url: str
) -> None:
    # one worker and five places in the queue: six jobs at most, whatever the timing
    with served(
        tmp_path, "burst", database_url, max_concurrent_runs="1", max_queued_runs="5"
    ) as client:
        codes = _burst(str(client.base_url), [("POST", "/v1/runs", LONG)] * 100, workers=100)
        jobs = client.get("/v1/runs?limit=500").json()["items"]
        for job in jobs:
            client.delete(f"/v1/runs/{job['id']}")
        for job in jobs:
            assert wait_finished(client, f"/v1/runs/{job['id']}")["status"] in (
                "cancelled",
                "done",
            )
    assert codes.count(202) == 6, {c: codes.count(c) for c in set(codes)}
    assert codes.count(429) == 94
    assert len(jobs) == 6
