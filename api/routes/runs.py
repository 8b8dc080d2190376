"""/v1/runs: one scenario under one policy, executed in the background."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas import RunCreate
from .common import add_job_routes

router = APIRouter(prefix="/v1/runs", tags=["runs"])
add_job_routes(router, "run", RunCreate)
