"""6. Load: the service under concurrent clients, on SQLite and on PostgreSQL.

A real `omnitwin serve` process (its defaults: jobs in child processes, 40 request
threads) over a fresh database holds finished runs and comparisons; at each load level
two long runs are executing in the background. Locust (`bench/locustfile.py`) then runs
N clients, each reading lists, finished and running runs, series, plots and reports and
now and then starting a tiny run, with 0.5–1.5 s of think time. A monitor asks
`/healthz` four times a second throughout. After each level the background runs are
cancelled and every job must reach a terminal state: one that does not is *stuck*.

Figures per level: requests, throughput, p50/p95/p99 (locust, after the ramp-up),
errors (any answer other than 200 for a read, 202/429 for a submission, or no answer),
submissions admitted and refused with 429, stuck runs, and health checks that failed.

Target: 0 errors and 0 stuck runs at 500 clients; p95 at 200 clients within 10× the
p95 at 1 client; `/healthz` ok throughout — on both databases.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .common import Result, result, say

NAME = "load"
TITLE = "6. Load: the API under concurrent clients"
TARGET = (
    "0 errors and 0 stuck runs at 500 clients; p95 at 200 clients ≤ 10× p95 at 1 client;"
    " /healthz ok throughout (SQLite and PostgreSQL)"
)
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BIN = Path(sys.executable).parent
TINY = {"horizon_days": 2, "network.stores.count": 3, "skus.count": 5}
#: a background run: many short replications, so a cancel stops it within a second
LONG = {"horizon_days": 3, "network.stores.count": 8, "skus.count": 10}
FINISHED = ("done", "failed", "cancelled")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _database(kind: str, postgres_url: str | None) -> Iterator[str]:
    """A fresh database: a SQLite file, or a schema of its own on PostgreSQL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="omnitwin-load-") as d:
            yield f"sqlite:///{Path(d) / 'load.db'}"
        return
    if not postgres_url:
        raise RuntimeError(
            "PostgreSQL: set OMNITWIN_TEST_POSTGRES_URL (scripts/ci_postgres.sh prints one)"
            " or --param load.postgres_url=..."
        )
    import sqlalchemy as sa

    schema = f"omnitwin_load_{os.getpid()}_{secrets.token_hex(3)}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@contextmanager
def _server(db_url: str, results: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "OMNITWIN_DATABASE_URL": db_url,
        "OMNITWIN_RESULTS_DIR": str(results),
        "MPLBACKEND": "Agg",
    }
    env.pop("OMNITWIN_API_KEY", None)
    log = (results / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "omnitwin"), "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {results / 'server.log'}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _submit(client: httpx.Client, kind: str, **body: Any) -> str:
    path = "/v1/runs" if kind == "run" else "/v1/comparisons"
    r = client.post(path, json={"scenario": "baseline", **body})
    r.raise_for_status()
    return r.json()["id"]


def _wait(client: httpx.Client, kind: str, ids: list[str], timeout: float) -> list[str]:
    """Wait until every job is finished; the ones still not finished at the timeout."""
    path = "/v1/runs" if kind == "run" else "/v1/comparisons"
    deadline = time.monotonic() + timeout
    left = list(ids)
    while left and time.monotonic() < deadline:
        left = [j for j in left if client.get(f"{path}/{j}").json()["status"] not in FINISHED]
        if left:
            time.sleep(0.5)
    return left


def _seed(client: httpx.Client, quick: bool) -> dict[str, list[str]]:
    n_runs, n_cmp = (2, 1) if quick else (6, 2)
    done = [
        _submit(client, "run", policy="legacy", replications=1, overrides=TINY, seed=i)
        for i in range(n_runs)
    ]
    cmps = [_submit(client, "comparison", replications=1, overrides=TINY) for _ in range(n_cmp)]
    left = _wait(client, "run", done, 300) + _wait(client, "comparison", cmps, 300)
    if left:
        raise RuntimeError(f"seed jobs did not finish: {left}")
    return {"done": done, "comparisons": cmps}


class Health(threading.Thread):
    """Asks /healthz four times a second; counts answers that are not 200 and ok."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.checks = 0
        self.failed: list[str] = []
        self.worst_s = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as c:
            while not self._halt.wait(0.25):
                t = time.perf_counter()
                try:
                    r = c.get(f"{self.base}/healthz")
                    ok = r.status_code == 200 and r.json().get("status") == "ok"
                    why = f"{r.status_code} {r.text[:80]}"
                except httpx.HTTPError as exc:
                    ok, why = False, type(exc).__name__
                self.worst_s = max(self.worst_s, time.perf_counter() - t)
                self.checks += 1
                if not ok:
                    self.failed.append(why)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=35)


def _locust(
    base: str, users: int, seconds: float, ids: dict[str, list[str]], out: Path
) -> dict[str, Any]:
    """Run locust headless; its aggregated and per-request figures from the CSV."""
    prefix = out / f"locust_{users}"
    spawn = max(1.0, users / 5.0)  # all clients up within ~5 s; stats reset after that
    ramp = users / spawn
    cmd = [
        str(BIN / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base,
        "-u",
        str(users),
        "-r",
        f"{spawn:g}",
        "-t",
        f"{ramp + seconds:.0f}s",
        "--reset-stats",
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "OMNITWIN_LOAD_IDS": json.dumps(ids)}
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=ramp + seconds + 120
    )
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        raise RuntimeError(f"locust wrote no statistics: {proc.stderr[-2000:]}")
    with stats_file.open() as f:
        rows = list(csv.DictReader(f))
    agg = next(r for r in rows if r["Name"] == "Aggregated")
    by_name = {r["Name"]: r for r in rows if r["Name"] != "Aggregated"}
    failures: list[str] = []
    fail_file = Path(f"{prefix}_failures.csv")
    if fail_file.exists():
        with fail_file.open() as f:
            failures = [
                f"{r['Method']} {r['Name']}: {r['Error']} ×{r['Occurrences']}"
                for r in csv.DictReader(f)
            ]
    return {"agg": agg, "by_name": by_name, "failures": failures}


def _level(
    client: httpx.Client,
    base: str,
    users: int,
    seconds: float,
    seeded: dict[str, list[str]],
    out: Path,
) -> dict[str, Any]:
    before = {j["id"] for j in client.get("/v1/runs?limit=500").json()["items"]}
    background = [
        _submit(client, "run", policy="orchestrated", replications=50, overrides=LONG, seed=s)
        for s in (101, 102)
    ]
    time.sleep(1.0)
    ids = {**seeded, "running": background}
    health = Health(base)
    health.start()
    try:
        stats = _locust(base, users, seconds, ids, out)
    finally:
        for job in background:
            client.delete(f"/v1/runs/{job}")
    after = [j["id"] for j in client.get("/v1/runs?limit=500").json()["items"]]
    submitted = [j for j in after if j not in before and j not in background]
    stuck = _wait(client, "run", background + submitted, 180)
    health.stop()
    unwritten = client.get("/healthz").json().get("unwritten", 0)
    agg = stats["agg"]
    posts = int(stats["by_name"].get("POST /v1/runs", {}).get("Request Count", 0) or 0)
    return {
        "clients": users,
        "requests": int(agg["Request Count"]),
        "req_per_s": float(agg["Requests/s"]),
        "p50_ms": float(agg["50%"]),
        "p95_ms": float(agg["95%"]),
        "p99_ms": float(agg["99%"]),
        "errors": int(agg["Failure Count"]),
        "runs_admitted": len(submitted),
        "runs_refused_429": max(0, posts - len(submitted)),
        "stuck_runs": len(stuck) + int(unwritten),
        "health_checks": health.checks,
        "health_failed": len(health.failed),
        "health_worst_s": round(health.worst_s, 3),
        "failure_kinds": "; ".join(stats["failures"])[:300],
    }


def run(
    quick: bool = False,
    repeats: int = 1,
    *,
    clients: tuple[int, ...] | list[int] = (1, 50, 200, 500),
    seconds: float = 30.0,
    databases: tuple[str, ...] | list[str] = ("sqlite", "postgresql"),
    postgres_url: str | None = None,
    out_dir: Path | None = None,
) -> Result:
    if shutil.which(str(BIN / "locust")) is None and not (BIN / "locust").exists():
        raise RuntimeError("locust is not installed: pip install -e '.[bench]'")
    if quick:
        clients, seconds = (1, 5), 3.0
    postgres_url = postgres_url or os.environ.get("OMNITWIN_TEST_POSTGRES_URL")
    if isinstance(databases, str):
        databases = (databases,)
    work = Path(tempfile.mkdtemp(prefix="omnitwin-load-"))
    rows: list[dict[str, Any]] = []
    verdicts: list[bool] = []
    notes: list[str] = []
    try:
        for kind in databases:
            with _database(kind, postgres_url) as url:
                results = work / kind
                results.mkdir()
                with _server(url, results) as base, httpx.Client(base_url=base, timeout=60) as c:
                    say(f"{kind}: seeding finished runs and comparisons …")
                    seeded = _seed(c, quick)
                    level_rows = []
                    for users in clients:
                        say(f"{kind}: {users} clients for {seconds:g} s …")
                        row = {"database": kind, **_level(c, base, users, seconds, seeded, results)}
                        say(
                            f"{kind} {users}: {row['req_per_s']:.0f} req/s, p95"
                            f" {row['p95_ms']:.0f} ms, {row['errors']} errors,"
                            f" {row['stuck_runs']} stuck, health failed {row['health_failed']}"
                        )
                        level_rows.append(row)
                    rows += level_rows
                    by = {r["clients"]: r for r in level_rows}
                    top, mid, one = max(by), 200 if 200 in by else max(by), min(by)
                    ratio = by[mid]["p95_ms"] / max(by[one]["p95_ms"], 1e-9)
                    ok = (
                        by[top]["errors"] == 0
                        and by[top]["stuck_runs"] == 0
                        and ratio <= 10
                        and all(r["health_failed"] == 0 for r in level_rows)
                    )
                    verdicts.append(ok)
                    notes.append(
                        f"{kind}: {by[top]['errors']} errors and {by[top]['stuck_runs']} stuck"
                        f" at {top} clients ({by[top]['req_per_s']:.0f} req/s); p95"
                        f" {by[mid]['p95_ms']:.0f} ms at {mid} vs {by[one]['p95_ms']:.0f} ms at"
                        f" {one} = {ratio:.1f}×; health failed"
                        f" {sum(r['health_failed'] for r in level_rows)} of"
                        f" {sum(r['health_checks'] for r in level_rows)}"
                    )
    finally:
        if out_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.copytree(work, Path(out_dir) / "load", dirs_exist_ok=True)
            shutil.rmtree(work, ignore_errors=True)
    met = None if quick else all(verdicts)
    return result(NAME, TITLE, TARGET, met, "; ".join(notes), rows)


def main() -> None:  # pragma: no cover - `python -m bench.load` for a run of its own
    r = run()
    print(json.dumps(r, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
