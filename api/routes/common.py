"""The routes runs and comparisons share: read, list, cancel, progress events, files."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy import select

from .. import jobs
from ..db import Run
from ..deps import ApiKey, DatabaseDep, RunnerDep, SessionDep, SettingsDep
from ..schemas import JobList, JobOut

NOT_FOUND = {404: {"description": "Unknown id"}}
NOT_DONE = {409: {"description": "Not done yet"}}


def add_shared_routes(router: APIRouter, kind: str) -> None:
    """GET list, GET one, DELETE (cancel), events, series, plots and report for `kind`."""
    noun = kind

    @router.get("", response_model=JobList, summary=f"List {noun}s, newest first")
    def list_jobs(
        session: SessionDep,
        status_: Annotated[
            Literal["queued", "running", "done", "failed", "cancelled"] | None,
            Query(alias="status", description="Only this state."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> JobList:
        q = select(Run).where(Run.kind == kind)
        if status_ is not None:
            q = q.where(Run.status == status_)
        rows = session.scalars(q.order_by(Run.created_at.desc()).limit(limit)).all()
        return JobList(items=[jobs.view(r) for r in rows])

    @router.get(
        "/{job_id}",
        response_model=JobOut,
        responses=NOT_FOUND,
        summary=f"A {noun}: status, progress and, when done, the result object",
    )
    def get_job(job_id: str, session: SessionDep) -> JobOut:
        return jobs.view(jobs.get_or_404(session, kind, job_id))

    @router.delete(
        "/{job_id}",
        response_model=JobOut,
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=[ApiKey],
        responses={**NOT_FOUND, 409: {"description": "Already finished"}},
        summary=f"Cancel a queued or running {noun}",
    )
    def cancel_job(job_id: str, session: SessionDep, runner: RunnerDep) -> JobOut:
        return jobs.view(jobs.cancel(session, runner, kind, job_id))

    @router.get(
        "/{job_id}/events",
        responses={
            **NOT_FOUND,
            200: {"content": {"text/event-stream": {}}, "description": "Progress events"},
        },
        summary=f"Progress of a {noun} as server-sent events",
    )
    def job_events(
        job_id: str,
        request: Request,
        session: SessionDep,
        db: DatabaseDep,
        settings: SettingsDep,
    ) -> StreamingResponse:
        jobs.get_or_404(session, kind, job_id)
        stream = jobs.events(request, db, kind, job_id, settings.events_poll_seconds)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/{job_id}/series",
        responses={
            **NOT_FOUND,
            **NOT_DONE,
            200: {
                "content": {"application/json": {}, "text/csv": {}},
                "description": "Daily series per policy and replication",
            },
        },
        summary="Daily series: JSON records, or CSV with `Accept: text/csv`",
    )
    def job_series(
        job_id: str,
        request: Request,
        session: SessionDep,
        format_: Annotated[
            Literal["json", "csv"] | None,
            Query(alias="format", description="Overrides the Accept header."),
        ] = None,
    ) -> Response:
        row = jobs.get_or_404(session, kind, job_id)
        path = jobs.artifact(row, "series.csv")
        if jobs.wants_csv(request, format_):
            return FileResponse(path, media_type="text/csv", filename=f"{job_id}-series.csv")
        import pandas as pd

        frame = pd.read_csv(path)
        return Response(frame.to_json(orient="records"), media_type="application/json")

    @router.get(
        "/{job_id}/plots",
        responses={**NOT_FOUND, **NOT_DONE},
        summary="Names of the plots (GET .../plots/{name}.png)",
    )
    def job_plots(job_id: str, session: SessionDep) -> dict[str, list[str]]:
        row = jobs.get_or_404(session, kind, job_id)
        jobs.folder_of(row)
        return {"plots": jobs.plots_of(row)}

    @router.get(
        "/{job_id}/plots/{name}.png",
        response_class=FileResponse,
        responses={**NOT_FOUND, **NOT_DONE, 200: {"content": {"image/png": {}}}},
        summary="One plot as PNG",
    )
    def job_plot(job_id: str, name: str, session: SessionDep) -> FileResponse:
        row = jobs.get_or_404(session, kind, job_id)
        return FileResponse(jobs.plot_path(row, name), media_type="image/png")

    @router.get(
        "/{job_id}/report",
        responses={**NOT_FOUND, **NOT_DONE, 200: {"content": {"text/markdown": {}}}},
        summary="The Markdown report a planner reads",
    )
    def job_report(job_id: str, session: SessionDep) -> Response:
        row = jobs.get_or_404(session, kind, job_id)
        text = jobs.artifact(row, "report.md").read_text()
        return Response(text, media_type="text/markdown; charset=utf-8")
