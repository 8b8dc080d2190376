"""The load benchmark's clients (locust): planners and dashboards on the API.

Each simulated client reads what a planner's page and a dashboard read — the run and
comparison lists, a finished run, a running one, its series, a plot, the report — and
now and then (one request in 71) starts a tiny run, with a think time of 0.5–1.5 s
between requests (a dashboard refreshing about once a second). `bench/load.py` starts
the server, seeds it and passes the job ids in `OMNITWIN_LOAD_IDS` (JSON).

An answer is an error unless it is the one the API documents for the request: 200 for
reads, 202 or 429 (the queue is full: back-pressure, retried later) for a submission.
"""

from __future__ import annotations

import json
import os
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

IDS: dict[str, list[str]] = json.loads(os.environ.get("OMNITWIN_LOAD_IDS", "{}"))
TINY_RUN = {
    "scenario": "baseline",
    "policy": "orchestrated",
    "replications": 1,
    "overrides": {"horizon_days": 2, "network.stores.count": 3, "skus.count": 5},
}


class Planner(FastHttpUser):
    wait_time = between(0.5, 1.5)
    network_timeout = 60.0
    connection_timeout = 60.0

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as r:
            if r.status_code == 200:
                r.success()
            else:
                r.failure(f"{r.status_code}")

    @task(15)
    def list_runs(self) -> None:
        self._get("/v1/runs?limit=20", "GET /v1/runs")

    @task(5)
    def list_comparisons(self) -> None:
        self._get("/v1/comparisons?limit=20", "GET /v1/comparisons")

    @task(20)
    def finished_run(self) -> None:
        self._get(f"/v1/runs/{random.choice(IDS['done'])}", "GET /v1/runs/{id} (done)")

    @task(10)
    def running_run(self) -> None:
        self._get(f"/v1/runs/{random.choice(IDS['running'])}", "GET /v1/runs/{id} (running)")

    @task(5)
    def comparison(self) -> None:
        job = random.choice(IDS["comparisons"])
        self._get(f"/v1/comparisons/{job}", "GET /v1/comparisons/{id}")

    @task(5)
    def series(self) -> None:
        self._get(f"/v1/runs/{random.choice(IDS['done'])}/series", "GET …/series")

    @task(5)
    def plot(self) -> None:
        job = random.choice(IDS["done"])
        self._get(f"/v1/runs/{job}/plots/fill_rate.png", "GET …/plots/{name}.png")

    @task(5)
    def report(self) -> None:
        self._get(f"/v1/runs/{random.choice(IDS['done'])}/report", "GET …/report")

    @task(1)
    def submit(self) -> None:
        with self.client.post(
            "/v1/runs", json=TINY_RUN, name="POST /v1/runs", catch_response=True
        ) as r:
            if r.status_code in (202, 429):  # 429: the queue is full, back-pressure
                r.success()
            else:
                r.failure(f"{r.status_code}")
