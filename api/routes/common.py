"""The routes runs and comparisons share: start, read, list, cancel, progress events and
files. `add_job_routes(router, kind, body_model)` adds them all for one kind.

Routes open a database session only for their own queries and close it before the
response is serialised, so a request never holds a connection while it waits for a
thread (the stall of many concurrent reads). What a finished job serves (its view, its
files) cannot change and comes from `ViewCache` on the event loop itself, without a
thread or a database round trip; only a miss goes to a thread.
"""

# No `from __future__ import annotations` here: the create route's body annotation is the
# model passed in, which FastAPI must see as a class, not as a string to resolve.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import defer
from starlette.concurrency import run_in_threadpool

from .. import jobs
from ..db import Database, Run
from ..deps import ApiKey, DatabaseDep, RunnerDep, SettingsDep, ViewsDep
from ..schemas import JobList, JobOut

JSON = "application/json"
NOT_FOUND = {404: {"description": "Unknown id"}}
NOT_DONE = {409: {"description": "Not done yet: its files exist once it is done"}}
BAD_QUERY = {422: {"description": "A query parameter is wrong (see `loc`)"}}
KEYED = {
    401: {"description": "No API key (the service has one: send X-API-Key or a Bearer)"},
    403: {"description": "The API key is not valid"},
}
BODY = {
    413: {"description": "The body is over OMNITWIN_MAX_BODY_BYTES"},
    422: {"description": "A field is wrong or over a limit (every problem, by `loc`)"},
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="The same key and body return the same job instead of a new one;"
        " the same key with another body is 409.",
    ),
]


async def _head(db: Database, views: jobs.ViewCache, kind: str, job_id: str) -> jobs.Head:
    hit = views.head(job_id)
    if hit is not None and hit.kind == kind:
        return hit
    return await run_in_threadpool(jobs.head_or_404, db, kind, job_id, views)


async def _file(views: jobs.ViewCache, head: jobs.Head, filename: str) -> bytes:
    path = jobs.artifact(head, filename)
    data = views.cached_file(path)
    return data if data is not None else await run_in_threadpool(views.file, path)


def add_job_routes(router: APIRouter, kind: str, body_model: type[BaseModel]) -> None:
    """POST, GET list, GET one, DELETE (cancel), events, series, plots and report."""
    noun = kind
    prefix = jobs.PREFIX[kind]

    @router.post(
        "",
        response_model=JobOut,
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=[ApiKey],
        responses={
            202: {
                "description": f"Accepted: the {noun} is queued; poll its Location",
                "headers": {
                    "Location": {"schema": {"type": "string"}, "description": "The job."},
                },
            },
            **KEYED,
            409: {"description": "The Idempotency-Key was used with another body"},
            **BODY,
            429: {
                "description": "Too many runs and comparisons queued or running",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            },
        },
        summary=f"Start a {noun} (202 with a Location to poll)",
    )
    def create_job(
        body: body_model,  # type: ignore[valid-type]
        response: Response,
        db: DatabaseDep,
        settings: SettingsDep,
        runner: RunnerDep,
        idempotency_key: IdempotencyKey = None,
    ) -> JobOut:
        row, created = jobs.create(kind, body, db, settings, runner, idempotency_key)
        response.headers["Location"] = f"{prefix}/{row.id}"
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return jobs.view(row)

    @router.get(
        "",
        response_model=JobList,
        responses=BAD_QUERY,
        summary=f"List {noun}s, newest first (summaries: GET one for its result)",
    )
    def list_jobs(
        db: DatabaseDep,
        status_: Annotated[
            Literal["queued", "running", "done", "failed", "cancelled"] | None,
            Query(alias="status", description="Only this state."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> JobList:
        q = select(Run).options(defer(Run.result)).where(Run.kind == kind)
        if status_ is not None:
            q = q.where(Run.status == status_)
        with db.session() as s:
            rows = s.scalars(q.order_by(Run.created_at.desc()).limit(limit)).all()
            return JobList(items=[jobs.summary(r) for r in rows])

    @router.get(
        "/{job_id}",
        response_model=JobOut,
        responses=NOT_FOUND,
        summary=f"A {noun}: status, progress and, when done, the result object",
    )
    async def get_job(job_id: str, db: DatabaseDep, views: ViewsDep) -> Response:
        hit = views.get(job_id)
        if hit is not None and hit[0].kind == kind:
            return Response(hit[1], media_type=JSON)
        body = await run_in_threadpool(jobs.view_json, db, views, kind, job_id)
        return Response(body, media_type=JSON)

    @router.delete(
        "/{job_id}",
        response_model=JobOut,
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=[ApiKey],
        responses={
            **KEYED,
            **NOT_FOUND,
            409: {"description": "Already finished"},
        },
        summary=f"Cancel a queued or running {noun} (its record is kept, as cancelled)",
    )
    def cancel_job(job_id: str, db: DatabaseDep, runner: RunnerDep) -> JobOut:
        return jobs.cancel(db, runner, kind, job_id)

    @router.get(
        "/{job_id}/events",
        response_class=StreamingResponse,
        responses={
            **NOT_FOUND,
            200: {"content": {"text/event-stream": {}}, "description": "Progress events"},
        },
        summary=f"Progress of a {noun} as server-sent events",
    )
    async def job_events(
        job_id: str,
        request: Request,
        db: DatabaseDep,
        views: ViewsDep,
        settings: SettingsDep,
    ) -> StreamingResponse:
        await _head(db, views, kind, job_id)
        stream = jobs.events(request, db, views, kind, job_id, settings.events_poll_seconds)
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/{job_id}/series",
        response_class=Response,
        responses={
            **NOT_FOUND,
            **NOT_DONE,
            **BAD_QUERY,
            200: {
                "content": {
                    JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                    "text/csv": {"schema": {"type": "string"}},
                },
                "description": "Daily series per policy and replication",
            },
        },
        summary="Daily series: JSON records, or CSV with `Accept: text/csv`",
    )
    async def job_series(
        job_id: str,
        request: Request,
        db: DatabaseDep,
        views: ViewsDep,
        format_: Annotated[
            Literal["json", "csv"] | None,
            Query(alias="format", description="Overrides the Accept header."),
        ] = None,
    ) -> Response:
        head = await _head(db, views, kind, job_id)
        if jobs.wants_csv(request, format_):
            return Response(
                await _file(views, head, "series.csv"),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{job_id}-series.csv"'},
            )
        folder = jobs.folder_of(head)
        if (folder / "series.json").is_file():  # written with the report by the service
            return Response(await _file(views, head, "series.json"), media_type=JSON)
        csv_path = jobs.artifact(head, "series.csv")
        return Response(await run_in_threadpool(_csv_as_json, csv_path), media_type=JSON)

    @router.get(
        "/{job_id}/plots",
        responses={**NOT_FOUND, **NOT_DONE},
        summary="Names of the plots (GET .../plots/{name}.png)",
    )
    async def job_plots(job_id: str, db: DatabaseDep, views: ViewsDep) -> dict[str, list[str]]:
        head = await _head(db, views, kind, job_id)
        jobs.folder_of(head)
        return {"plots": jobs.plots_of(head)}

    @router.get(
        "/{job_id}/plots/{name}.png",
        response_class=Response,
        responses={
            **NOT_FOUND,
            **NOT_DONE,
            200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        },
        summary="One plot as PNG",
    )
    async def job_plot(job_id: str, name: str, db: DatabaseDep, views: ViewsDep) -> Any:
        head = await _head(db, views, kind, job_id)
        jobs.plot_path(head, name)  # a known plot name, inside the job's folder
        return Response(await _file(views, head, f"{name}.png"), media_type="image/png")

    @router.get(
        "/{job_id}/report",
        response_class=Response,
        responses={
            **NOT_FOUND,
            **NOT_DONE,
            200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
        },
        summary="The Markdown report a planner reads",
    )
    async def job_report(job_id: str, db: DatabaseDep, views: ViewsDep) -> Response:
        head = await _head(db, views, kind, job_id)
        return Response(
            await _file(views, head, "report.md"), media_type="text/markdown; charset=utf-8"
        )


def _csv_as_json(path: Any) -> str:
    """A series CSV as JSON records (a folder written before series.json existed)."""
    import pandas as pd

    return pd.read_csv(path).to_json(orient="records")
