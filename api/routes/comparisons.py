"""/v1/comparisons: several policies on one scenario with common seeds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from .. import jobs
from ..deps import ApiKey, RunnerDep, SessionDep, SettingsDep
from ..schemas import ComparisonCreate, JobOut
from .common import add_shared_routes

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])

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
        429: {"description": "Too many runs or comparisons in progress"},
    },
    summary="Start a comparison (202 with a Location to poll)",
)
def create_comparison(
    body: ComparisonCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    runner: RunnerDep,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    row, created = jobs.create("comparison", body, session, settings, runner, idempotency_key)
    response.headers["Location"] = f"/v1/comparisons/{row.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return jobs.view(row)


add_shared_routes(router, "comparison")
