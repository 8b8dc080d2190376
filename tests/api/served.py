"""`omnitwin serve` as a real separate process on a loopback port, for the tests that
need a real server: end to end, concurrent clients, and schemathesis over HTTP."""

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

import httpx
import pytest

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
OMNITWIN = Path(sys.executable).with_name("omnitwin")
ROOT = Path(__file__).resolve().parents[2]


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
def served(
    tmp_path: Path, log_name: str, database_url: str | None = None, **settings: str
) -> Iterator[httpx.Client]:
    """A server over `database_url` (default: a SQLite file in `tmp_path`) with the given
    `OMNITWIN_*` settings; yields a client once /healthz answers; always stops it.
    A database given is emptied first (a PostgreSQL schema is shared by a test session)."""
    if database_url is not None:
        from api.db import Database

        db = Database(database_url)
        db.drop_all()
        db.dispose()
    port = free_port()
    env = {
        **os.environ,
        "OMNITWIN_DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'served.db'}",
        "OMNITWIN_RESULTS_DIR": str(tmp_path / "results"),
        "OMNITWIN_EXECUTOR": "serial",
        "OMNITWIN_MAX_CONCURRENT_RUNS": "1",
        "MPLBACKEND": "Agg",
    }
    env.pop("OMNITWIN_API_KEY", None)
    # this checkout's code, whichever checkout the virtualenv's console script was installed from
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update({f"OMNITWIN_{k.upper()}": v for k, v in settings.items()})
    log_path = tmp_path / f"{log_name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(OMNITWIN), "serve", "--host", HOST, "--port", str(port), "--no-access-log"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30.0) as client:
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


def wait_finished(client: httpx.Client, url: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish in {timeout} s")
