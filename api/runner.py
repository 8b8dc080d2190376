"""The background worker pool that executes runs and comparisons.

A thread pool of `max_concurrent_runs` workers picks up queued rows and runs them on
the CLI's experiment runner (`twin.experiments.replicate` / `compare`). By default each
job executes in a child process of a process pool (`run_isolation: process`): a
simulation is CPU-bound Python, and in the service's own process it would hold the
interpreter lock against every request being served. Inside the job, replications run
serially or on Dask (`executor`, `dask_scheduler`). Progress is written to the row after
every replication (best effort); a cancellation (or a shutdown) is noticed there and
stops the run between replications. A child process that dies fails its run with the
reason, and the pool is replaced.

A run's terminal state is written at least once, whatever fails: a finished run first
writes its folder (report, files and `outcome.json`, the result as stored), then tells
the database, retrying for `finish_retry_seconds`; a write the database refuses for a
reason other than being unreachable marks the run failed with that reason; a write that
still cannot get through is retried in the background until it does. On start-up, rows
a previous process left queued or running are recovered as done when their folder holds
a complete outcome, and marked failed otherwise.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from scenarios import Scenario, ScenarioError, load
from scenarios.describe import description_of
from twin.experiments import compare, replicate
from twin.report import comparison_rows, write_comparison, write_run
from twin.report_roadmap import roadmap_rows, write_roadmap
from twin.roadmap import roadmap

from . import packages
from .db import (
    ACTIVE,
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RESTART_REASON,
    RUNNING,
    Database,
    Run,
    plain,
    utcnow,
)
from .settings import Settings

log = logging.getLogger("omnitwin.api")

#: the file in a run's folder that holds its outcome, written last
OUTCOME = "outcome.json"


class Unreachable(Exception):
    """The database did not answer within `finish_retry_seconds`."""


class Stopped(Exception):
    """Raised from the progress callback to stop a run between replications."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


ProgressFn = Callable[[int, int], None]
#: a job's outcome as the worker thread writes it: column values of the row
Outcome = dict[str, Any]


def build_scenario(request: dict[str, Any], settings: Settings) -> Scenario:
    """The validated scenario of a stored request (catalogue name, `package:<id>` of an
    uploaded data package, or inline mapping)."""
    ref = request["scenario"]
    if isinstance(ref, str) and ref.startswith(packages.PREFIX):
        path = packages.scenario_file(settings, ref)
        if path is None:
            raise ScenarioError([f"scenario: no uploaded package {ref!r} (POST /v1/packages)"])
        ref = str(path)
    return load(ref, request.get("overrides") or [])


def unreachable(exc: BaseException) -> bool:
    """A database error that may pass (connection lost, locked, pool exhausted): retry."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def write_outcome(folder: Path, result: Any) -> None:
    """The result as the database will store it, next to the files; written atomically
    and last, so its presence means the folder is complete."""
    tmp = folder / f".{OUTCOME}.{os.getpid()}.tmp"
    body = {"status": DONE, "finished_at": utcnow().isoformat(), "result": result}
    tmp.write_text(json.dumps(body))
    tmp.replace(folder / OUTCOME)


def read_outcome(folder: Path) -> dict[str, Any] | None:
    try:
        body = json.loads((folder / OUTCOME).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("status") == DONE else None


class Runner:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._pool: cf.ThreadPoolExecutor | None = None
        self._futures: set[cf.Future[None]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # terminal states the database has not taken yet: run id -> column values
        self._unwritten: dict[str, dict[str, Any]] = {}
        # runs that could not be marked running (database unreachable): submitted again
        self._resubmit: set[str] = set()
        self._finisher: threading.Thread | None = None
        self._procs: cf.ProcessPoolExecutor | None = None
        self._mp = multiprocessing.get_context("spawn")
        self._child_stop = self._mp.Event()

    # ------------------------------------------------------------------ lifecycle
    def recover(self) -> dict[str, int]:
        """Rows a previous process left queued or running: done if their folder holds a
        complete outcome (the result is not lost for a failed final write), else failed."""
        counts = {DONE: 0, FAILED: 0}
        with self.db.session() as s:
            ids = s.scalars(select(Run.id).where(Run.status.in_(ACTIVE))).all()
            for run_id in ids:
                folder = self.folder(run_id)
                outcome = read_outcome(folder)
                if outcome is not None:
                    values: dict[str, Any] = {
                        "status": DONE,
                        "result": outcome["result"],
                        "artifacts": str(folder),
                        "finished_at": datetime.fromisoformat(outcome["finished_at"]),
                        "error": None,
                    }
                else:
                    values = {"status": FAILED, "error": RESTART_REASON, "finished_at": utcnow()}
                s.execute(
                    update(Run).where(Run.id == run_id, Run.status.in_(ACTIVE)).values(**values)
                )
                counts[values["status"]] += 1
            s.commit()
        return counts

    def start(self) -> None:
        self._stopping.clear()
        self._child_stop.clear()
        self._pool = cf.ThreadPoolExecutor(
            max_workers=self.settings.max_concurrent_runs, thread_name_prefix="omnitwin-run"
        )
        if self.settings.run_isolation == "process":
            self._procs = self._new_process_pool()
        self._finisher = threading.Thread(
            target=self._finish_unwritten, name="omnitwin-finisher", daemon=True
        )
        self._finisher.start()

    def _new_process_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.settings.max_concurrent_runs,
            mp_context=self._mp,
            initializer=_child_init,
            initargs=(self.settings.model_dump_json(), self._child_stop),
            max_tasks_per_child=20,  # a long-lived service returns a child's memory now and then
        )

    def _replace_pool(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._procs is broken and not self._stopping.is_set():
                self._procs = self._new_process_pool()
        broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Stop taking work; running runs stop at their next replication (failed)."""
        self._stopping.set()
        self._child_stop.set()
        if self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pending = list(self._futures)
            procs, self._procs = self._procs, None
        cf.wait(pending, timeout=self.settings.shutdown_grace_seconds)
        if procs is not None:
            # children still inside a replication after the grace period are stopped; their
            # runs are failed by the next start (nothing of theirs was written as done)
            for proc in list(getattr(procs, "_processes", {}).values()):
                if proc.is_alive():
                    proc.terminate()
            procs.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        if self._finisher is not None:
            self._finisher.join(timeout=self.settings.shutdown_grace_seconds)
            self._finisher = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def folder(self, run_id: str) -> Path:
        return self.settings.runs_dir.resolve() / run_id

    @property
    def unwritten(self) -> list[str]:
        """Runs whose terminal state the database has not taken yet."""
        with self._lock:
            return sorted(self._unwritten)

    # ------------------------------------------------------------------ work
    def submit(self, run_id: str) -> None:
        if self._pool is None:  # not started (e.g. a test holding runs in the queue)
            return
        fut = self._pool.submit(self._work, run_id)
        with self._lock:
            self._futures.add(fut)
        fut.add_done_callback(self._forget)

    def _forget(self, fut: cf.Future[None]) -> None:
        with self._lock:
            self._futures.discard(fut)

    def cancel(self, run_id: str) -> str:
        """Ask a run to stop; a queued run is cancelled at once. Returns its new status."""
        with self.db.session() as s:
            row = s.get(Run, run_id)
            assert row is not None
            row.cancel_requested = True
            if row.status == QUEUED:
                row.status = CANCELLED
                row.error = "cancelled by request"
                row.finished_at = utcnow()
            s.commit()
            return row.status

    def _progress(self, run_id: str, done: int, total: int) -> None:
        if self._stopping.is_set():
            raise Stopped(FAILED, RESTART_REASON)
        record_progress(self.db, run_id, done, total)

    def _work(self, run_id: str) -> None:
        try:
            self._run(run_id)
        except Exception:  # never silent: the pool would swallow it
            log.exception("run %s: the worker failed", run_id)

    def _run(self, run_id: str) -> None:
        try:
            started = self._with_retries(lambda: self._mark_running(run_id))
        except Unreachable:
            with self._lock:
                self._resubmit.add(run_id)
            return
        if started is None:
            return
        kind, request = started
        if self.settings.run_isolation == "process":
            values = self._in_child(run_id, kind, request)
        else:
            values = execute_job(
                self.settings,
                run_id,
                kind,
                request,
                lambda done, total: self._progress(run_id, done, total),
            )
        self.finish(run_id, values)

    def _in_child(self, run_id: str, kind: str, request: dict[str, Any]) -> Outcome:
        """Execute a job in the process pool; a child that dies fails the job."""
        with self._lock:
            procs = self._procs
        if procs is None:
            return {"status": FAILED, "error": RESTART_REASON}
        try:
            return procs.submit(_child_execute, run_id, kind, request).result()
        except BrokenProcessPool as exc:
            log.error("run %s: its process died (%s); replacing the pool", run_id, exc)
            self._replace_pool(procs)
            return {
                "status": FAILED,
                "error": f"the run's process died ({exc or 'killed'}); see the service log",
            }
        except cf.CancelledError:
            return {"status": FAILED, "error": RESTART_REASON}

    def _mark_running(self, run_id: str) -> tuple[str, dict[str, Any]] | None:
        with self.db.session() as s:
            row = s.get(Run, run_id)
            if row is None or row.status != QUEUED:
                return None
            if self._stopping.is_set():
                return None  # left queued: the next start marks it failed
            row.status, row.started_at = RUNNING, utcnow()
            kind, request = row.kind, dict(row.request)
            s.commit()
            return kind, request

    # ------------------------------------------------------------------ terminal states
    def finish(self, run_id: str, values: dict[str, Any]) -> None:
        """Write a run's terminal state: retried while the database is unreachable; a
        refusal for another reason marks it failed with the reason; if it still cannot
        be written, the finisher keeps trying in the background."""
        values = {**values, "finished_at": utcnow()}

        def write() -> bool:
            try:
                self._write_terminal(run_id, values)
            except Exception as exc:
                if unreachable(exc):
                    raise
                log.exception("run %s: the database refused its %s state", run_id, values["status"])
                what = "result" if values["status"] == DONE else f"{values['status']} state"
                reason = f"the {what} could not be stored: {type(exc).__name__}: {exc}"
                values.clear()
                values.update(status=FAILED, error=reason[:2000], finished_at=utcnow())
                self._write_terminal(run_id, values)
            return True

        try:
            self._with_retries(write)
        except Exception as exc:
            if not isinstance(exc, Unreachable):
                log.exception("run %s: even the failure could not be written", run_id)
            log.error("run %s: terminal state not written yet; retrying in background", run_id)
            with self._lock:
                self._unwritten[run_id] = values

    def _write_terminal(self, run_id: str, values: dict[str, Any]) -> None:
        with self.db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(**values))
            s.commit()

    def _with_retries(self, attempt: Any) -> Any:
        """`attempt()` retried with backoff while the database is unreachable, for up to
        `finish_retry_seconds`; then `Unreachable`."""
        deadline = time.monotonic() + self.settings.finish_retry_seconds
        pause = 0.05
        while True:
            try:
                return attempt()
            except Exception as exc:
                if not unreachable(exc):
                    raise
                if time.monotonic() + pause > deadline:
                    log.warning("database unreachable: %s", exc)
                    raise Unreachable(str(exc)) from exc
            time.sleep(pause)
            pause = min(2 * pause, 2.0)

    def _finish_unwritten(self) -> None:
        """Background: write the terminal states that could not be written, until each is,
        and submit again the runs that could not start."""
        while not self._stopping.wait(1.0):
            with self._lock:
                pending = dict(self._unwritten)
                again, self._resubmit = self._resubmit, set()
            for run_id in sorted(again):
                self.submit(run_id)
            for run_id, values in pending.items():
                try:
                    self._write_terminal(run_id, values)
                except Exception as exc:
                    log.warning("run %s: terminal state still not written (%s)", run_id, exc)
                    continue
                with self._lock:
                    self._unwritten.pop(run_id, None)


def record_progress(db: Database, run_id: str, done: int, total: int) -> None:
    """After each replication: record progress and notice a cancellation. A database that
    does not answer only delays both; it never fails the run."""
    try:
        with db.session() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise Stopped(FAILED, "run deleted")
            if row.cancel_requested:
                raise Stopped(CANCELLED, "cancelled by request")
            row.progress_done, row.progress_total = done, total
            s.commit()
    except Stopped:
        raise
    except Exception as exc:
        if not unreachable(exc):
            raise
        log.warning("run %s: progress not recorded (%s)", run_id, type(exc).__name__)


def execute_job(
    settings: Settings, run_id: str, kind: str, request: dict[str, Any], progress: ProgressFn
) -> Outcome:
    """Run a job and write its folder; the terminal state to store, whatever happened."""
    try:
        result, folder = _execute(settings, run_id, kind, request, progress)
    except Stopped as stop:
        return {"status": stop.status, "error": stop.reason}
    except ScenarioError as exc:
        return {"status": FAILED, "error": "; ".join(exc.problems)}
    except Exception as exc:  # a run must never take the worker down
        log.exception("run %s failed", run_id)
        return {"status": FAILED, "error": f"{type(exc).__name__}: {exc}"}
    return {"status": DONE, "result": result, "artifacts": str(folder)}


def _execute(
    settings: Settings, run_id: str, kind: str, request: dict[str, Any], progress: ProgressFn
) -> tuple[Any, Path]:
    sc = build_scenario(request, settings)
    opts: dict[str, Any] = {
        "seed": request.get("seed"),
        "executor": settings.executor,
        "scheduler": settings.dask_scheduler or None,
        "progress": progress,
    }
    folder = settings.runs_dir.resolve() / run_id
    ref = request["scenario"] if isinstance(request["scenario"], str) else None
    if ref is not None and ref.startswith(packages.PREFIX):
        path = packages.scenario_file(settings, ref)
        ref = str(path) if path is not None else None
    described = description_of(ref, sc, request.get("overrides") or [])
    if kind == "run":
        agg = replicate(sc, request["policy"], request["replications"], **opts)
        write_run(agg, folder, described)
        out = plain(agg.result)
    elif kind == "roadmap":
        rm = roadmap(sc, request["order"], request["replications"], **opts)
        write_roadmap(rm, folder, described)
        header, rows = roadmap_rows(rm)
        out = plain(rm.to_dict())
        out["table"] = {"header": header, "rows": rows}
    else:
        cmp = compare(sc, request["policies"], request["replications"], **opts)
        write_comparison(cmp, folder, described)
        header, rows = comparison_rows(cmp)
        out = plain(cmp.to_dict())
        out["wall_seconds"] = cmp.wall_seconds
        out["table"] = {"header": header, "rows": rows}
    if (folder / "series.csv").is_file():
        _series_json(folder)
    write_outcome(folder, out)
    return out, folder


# ------------------------------------------------------------------------------ child process
_CHILD: dict[str, Any] = {}


def _child_init(settings_json: str, stop: Any) -> None:
    """A pool process starts: its own settings and a small database pool of its own."""
    settings = Settings.model_validate_json(settings_json)
    if settings.run_niceness and hasattr(os, "nice"):
        os.nice(settings.run_niceness)  # simulations yield the CPU to the requests served
    _CHILD.update(settings=settings, db=Database(settings.db_url, pool_size=2), stop=stop)


def _child_execute(run_id: str, kind: str, request: dict[str, Any]) -> Outcome:
    settings: Settings = _CHILD["settings"]
    db: Database = _CHILD["db"]
    stop = _CHILD["stop"]

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise Stopped(FAILED, RESTART_REASON)
        record_progress(db, run_id, done, total)

    return execute_job(settings, run_id, kind, request, progress)


def _series_json(folder: Path) -> None:
    """The daily series as JSON records beside the CSV, so the API serves a file."""
    import pandas as pd

    (folder / "series.json").write_text(
        pd.read_csv(folder / "series.csv").to_json(orient="records")
    )
