"""Jobs in child processes (the service's default): a run executes and is served, a
cancel reaches the child, and a child that dies fails its run with the reason while the
next run still executes. SQLite only: the database plays no part in what is tested."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

from .conftest import TINY, run_body, wait_until_finished


@pytest.fixture
def client(tmp_path: Path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'iso.db'}",
        results_dir=tmp_path / "results",
        run_isolation="process",
        max_concurrent_runs=1,
        events_poll_seconds=0.05,
        shutdown_grace_seconds=10,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def children(client: TestClient) -> list[int]:
    procs = client.app.state.runner._procs
    return [p.pid for p in getattr(procs, "_processes", {}).values() if p.is_alive()]


def test_a_run_executes_in_a_child_process_and_is_served(client: TestClient):
    job = client.post("/v1/runs", json=run_body(replications=2)).json()
    body = wait_until_finished(client, f"/v1/runs/{job['id']}", timeout=120)
    assert body["status"] == "done", body["error"]
    assert body["progress"]["done"] == 2
    assert children(client) and os.getpid() not in children(client)
    assert client.get(f"/v1/runs/{job['id']}/report").status_code == 200


def start_long_run(client: TestClient) -> str:
    """A run of many replications, once its first replication is done; its URL."""
    long = run_body(replications=40, overrides={**TINY, "horizon_days": 3})
    job = client.post("/v1/runs", json=long).json()
    url = f"/v1/runs/{job['id']}"
    deadline = time.monotonic() + 120
    while client.get(url).json()["progress"]["done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return url


def test_a_cancel_reaches_the_child_between_replications(client: TestClient):
    url = start_long_run(client)
    assert client.delete(url).status_code == 202
    body = wait_until_finished(client, url, timeout=60)
    assert body["status"] == "cancelled"
    assert body["progress"]["done"] < 40


def test_a_child_that_dies_fails_its_run_and_the_next_run_still_executes(client: TestClient):
    url = start_long_run(client)
    for pid in children(client):
        os.kill(pid, signal.SIGKILL)  # the kernel's OOM killer, say
    body = wait_until_finished(client, url, timeout=60)
    assert body["status"] == "failed"
    assert "process died" in body["error"]
    nxt = client.post("/v1/runs", json=run_body()).json()
    again = wait_until_finished(client, f"/v1/runs/{nxt['id']}", timeout=120)
    assert again["status"] == "done", again["error"]
