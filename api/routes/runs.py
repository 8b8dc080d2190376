"""/v1/runs: one scenario under one policy, executed in the background."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from .. import jobs
from ..deps import ApiKey, RunnerDep, SessionDep, SettingsDep
from ..schemas import JobOut, RunCreate
from .common import add_shared_routes

router = APIRouter(prefix="/v1/runs", tags=["runs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="The same key and body return the same job instead of a new one.",
    ),
]


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[ApiKey],
    responses={
        422: {"description": "A field is wrong or over a limit (see `loc`)"},
        429: {"description": "Too many runs in progress"},
    },
    summary="Start a run (202 with a Location to poll)",
)
def create_run(
    body: RunCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    runner: RunnerDep,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    row, created = jobs.create("run", body, session, settings, runner, idempotency_key)
    response.headers["Location"] = f"/v1/runs/{row.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return jobs.view(row)


add_shared_routes(router, "run")
