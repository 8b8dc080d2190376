"""The background worker pool that executes runs and comparisons.

A thread pool of `max_concurrent_runs` workers picks up queued rows and runs them on
the CLI's experiment runner (`twin.experiments.replicate` / `compare`), serially in the
worker thread or on Dask (`executor`, `dask_scheduler` settings). Progress is written to
the row after every replication; a cancellation (or a shutdown) is noticed there and
stops the run between replications. A finished run's report folder is written with
`twin.report`. On start-up, rows left queued or running by a previous process are
marked failed: nothing resumes them.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from scenarios import Scenario, ScenarioError, load
from scenarios.describe import description_of
from twin.experiments import compare, replicate
from twin.report import comparison_rows, write_comparison, write_run

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


class Stopped(Exception):
    """Raised from the progress callback to stop a run between replications."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def build_scenario(request: dict[str, Any]) -> Scenario:
    """The validated scenario of a stored request (catalogue name or inline mapping)."""
    return load(request["scenario"], request.get("overrides") or [])


class Runner:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._pool: cf.ThreadPoolExecutor | None = None
        self._futures: set[cf.Future[None]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def recover(self) -> int:
        """Mark runs a previous process left queued or running as failed."""
        with self.db.session() as s:
            res = s.execute(
                update(Run)
                .where(Run.status.in_(ACTIVE))
                .values(status=FAILED, error=RESTART_REASON, finished_at=utcnow())
            )
            s.commit()
            return res.rowcount or 0

    def start(self) -> None:
        self._stopping.clear()
        self._pool = cf.ThreadPoolExecutor(
            max_workers=self.settings.max_concurrent_runs, thread_name_prefix="omnitwin-run"
        )

    def shutdown(self) -> None:
        """Stop taking work; running runs stop at their next replication (failed)."""
        self._stopping.set()
        if self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pending = list(self._futures)
        cf.wait(pending, timeout=self.settings.shutdown_grace_seconds)
        self._pool = None

    @property
    def started(self) -> bool:
        return self._pool is not None

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
        with self.db.session() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise Stopped(FAILED, "run deleted")
            if row.cancel_requested:
                raise Stopped(CANCELLED, "cancelled by request")
            row.progress_done, row.progress_total = done, total
            s.commit()
        if self._stopping.is_set():
            raise Stopped(FAILED, RESTART_REASON)

    def _work(self, run_id: str) -> None:
        with self.db.session() as s:
            row = s.get(Run, run_id)
            if row is None or row.status != QUEUED:
                return
            if self._stopping.is_set():
                return  # left queued: the next start marks it failed
            row.status, row.started_at = RUNNING, utcnow()
            kind, request = row.kind, dict(row.request)
            s.commit()
        try:
            result, folder = self._execute(run_id, kind, request)
        except Stopped as stop:
            self._finish(run_id, stop.status, error=stop.reason)
        except ScenarioError as exc:
            self._finish(run_id, FAILED, error="; ".join(exc.problems))
        except Exception as exc:  # a run must never take the worker down
            log.exception("run %s failed", run_id)
            self._finish(run_id, FAILED, error=f"{type(exc).__name__}: {exc}")
        else:
            self._finish(run_id, DONE, result=result, artifacts=str(folder))

    def _execute(self, run_id: str, kind: str, request: dict[str, Any]) -> tuple[Any, Path]:
        sc = build_scenario(request)
        opts: dict[str, Any] = {
            "seed": request.get("seed"),
            "executor": self.settings.executor,
            "scheduler": self.settings.dask_scheduler or None,
            "progress": lambda done, total: self._progress(run_id, done, total),
        }
        folder = self.settings.runs_dir.resolve() / run_id
        ref = request["scenario"] if isinstance(request["scenario"], str) else None
        described = description_of(ref, sc, request.get("overrides") or [])
        if kind == "run":
            agg = replicate(sc, request["policy"], request["replications"], **opts)
            write_run(agg, folder, described)
            return plain(agg.result), folder
        cmp = compare(sc, request["policies"], request["replications"], **opts)
        write_comparison(cmp, folder, described)
        header, rows = comparison_rows(cmp)
        out = plain(cmp.to_dict())
        out["wall_seconds"] = cmp.wall_seconds
        out["table"] = {"header": header, "rows": rows}
        return out, folder

    def _finish(self, run_id: str, status: str, **values: Any) -> None:
        with self.db.session() as s:
            s.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(status=status, finished_at=utcnow(), **values)
            )
            s.commit()

    def active_count(self) -> int:
        with self.db.session() as s:
            return len(s.scalars(select(Run.id).where(Run.status.in_(ACTIVE))).all())
