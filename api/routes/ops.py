"""Operations: /healthz and Prometheus /metrics."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ..db import FINISHED, KINDS, QUEUED, RUNNING, STATES, Run, seconds_between
from ..deps import DatabaseDep, RunnerDep, SettingsDep

router = APIRouter(tags=["ops"])

BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
#: the health check has a thread of its own: under a burst of requests it answers at
#: once instead of queueing behind them for a request thread
_HEALTH = anyio.CapacityLimiter(1)
HEALTH = {
    200: {"description": "Up, and the database answers"},
    503: {"description": "The database does not answer"},
}


@router.get("/healthz", responses=HEALTH, summary="Liveness and database check")
async def healthz(db: DatabaseDep, runner: RunnerDep) -> Response:
    try:
        with anyio.fail_after(10):
            await anyio.to_thread.run_sync(db.ping, limiter=_HEALTH, abandon_on_cancel=True)
    except (SQLAlchemyError, TimeoutError) as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"error: {type(exc).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    body = {
        "status": "ok",
        "database": "ok",
        "workers": runner.started,
        "unwritten": len(runner.unwritten),
    }
    return JSONResponse(body)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics: runs by state, run durations, queue depth",
)
def metrics(db: DatabaseDep, settings: SettingsDep) -> Response:
    counts = {(k, s): 0 for k in KINDS for s in STATES}
    with db.session() as session:
        grouped = session.execute(
            select(Run.kind, Run.status, func.count()).group_by(Run.kind, Run.status)
        ).all()
        rows = session.execute(
            select(Run.kind, Run.started_at, Run.finished_at).where(
                Run.status.in_(FINISHED),
                Run.started_at.is_not(None),
                Run.finished_at.is_not(None),
            )
        ).all()
    for kind, state, n in grouped:
        counts[(kind, state)] = n
    lines = [
        "# HELP omnitwin_runs Runs and comparisons in the database, by kind and state.",
        "# TYPE omnitwin_runs gauge",
    ]
    lines += [f'omnitwin_runs{{kind="{k}",state="{s}"}} {n}' for (k, s), n in counts.items()]
    queued = sum(n for (_, s), n in counts.items() if s == QUEUED)
    running = sum(n for (_, s), n in counts.items() if s == RUNNING)
    lines += [
        "# HELP omnitwin_queue_depth Runs and comparisons waiting for a worker.",
        "# TYPE omnitwin_queue_depth gauge",
        f"omnitwin_queue_depth {queued}",
        "# HELP omnitwin_runs_in_progress Runs and comparisons executing now.",
        "# TYPE omnitwin_runs_in_progress gauge",
        f"omnitwin_runs_in_progress {running}",
        "# HELP omnitwin_workers Worker threads (max concurrent runs).",
        "# TYPE omnitwin_workers gauge",
        f"omnitwin_workers {settings.max_concurrent_runs}",
    ]
    lines += [
        "# HELP omnitwin_run_duration_seconds Wall time of finished runs and comparisons.",
        "# TYPE omnitwin_run_duration_seconds histogram",
    ]
    for kind in KINDS:
        durations = [max(0.0, seconds_between(a, b) or 0.0) for k, a, b in rows if k == kind]
        for le in BUCKETS:
            n = sum(1 for d in durations if d <= le)
            lines.append(f'omnitwin_run_duration_seconds_bucket{{kind="{kind}",le="{le:g}"}} {n}')
        lines += [
            f'omnitwin_run_duration_seconds_bucket{{kind="{kind}",le="+Inf"}} {len(durations)}',
            f'omnitwin_run_duration_seconds_sum{{kind="{kind}"}} {sum(durations):.6f}',
            f'omnitwin_run_duration_seconds_count{{kind="{kind}"}} {len(durations)}',
        ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type=PROMETHEUS)
