"""End to end: `omnitwin serve` as a real separate process on a loopback port, a small
comparison through HTTP, and a restart on the same database keeping the finished result."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import TINY

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
OMNITWIN = Path(sys.executable).with_name("omnitwin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate (graceful shutdown), then kill if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


@contextmanager
def server(tmp_path: Path, log_name: str) -> Iterator[httpx.Client]:
    """`omnitwin serve` on a free loopback port over the test's SQLite database; yields a
    client once /healthz answers; always stops the process."""
    port = free_port()
    env = {
        **os.environ,
        "OMNITWIN_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "OMNITWIN_RESULTS_DIR": str(tmp_path / "results"),
        "OMNITWIN_EXECUTOR": "serial",
        "OMNITWIN_MAX_CONCURRENT_RUNS": "1",
        "MPLBACKEND": "Agg",
    }
    env.pop("OMNITWIN_API_KEY", None)
    log_path = tmp_path / f"{log_name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(OMNITWIN), "serve", "--host", HOST, "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10.0) as client:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
                try:
                    r = client.get("/healthz", timeout=2.0)
                    if r.status_code == 200 and r.json()["status"] == "ok":
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"no /healthz in {STARTUP_TIMEOUT} s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield client
    finally:
        stop(proc)


def wait_done(client: httpx.Client, url: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish in {timeout} s")


@pytest.mark.skipif(not OMNITWIN.exists(), reason=f"no console script at {OMNITWIN}")
def test_a_served_comparison_runs_end_to_end_and_survives_a_restart(tmp_path: Path):
    body = {
        "scenario": "baseline",
        "policies": ["legacy", "orchestrated"],
        "replications": 2,
        "overrides": TINY,
    }
    with server(tmp_path, "first") as client:
        r = client.post("/v1/comparisons", json=body)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/v1/comparisons/{job_id}"
        out = wait_done(client, f"/v1/comparisons/{job_id}")
        assert out["status"] == "done", out["error"]
        res = out["result"]
        assert set(res["policies"]) == {"legacy", "orchestrated"}
        assert "orchestrated" in res["differences"]
        assert res["differences"]["orchestrated"]

        r = client.get(f"/v1/comparisons/{job_id}/plots")
        assert r.status_code == 200, r.text
        plots = r.json()["plots"]
        assert plots
        name = "comparison" if "comparison" in plots else plots[0]
        png = client.get(f"/v1/comparisons/{job_id}/plots/{name}.png")
        assert png.status_code == 200
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG")

    # a second process on the same database still has the finished comparison
    with server(tmp_path, "second") as client:
        r = client.get(f"/v1/comparisons/{job_id}")
        assert r.status_code == 200, r.text
        again = r.json()
        assert again["status"] == "done"
        assert again["result"] == res
        png = client.get(f"/v1/comparisons/{job_id}/plots/{name}.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
