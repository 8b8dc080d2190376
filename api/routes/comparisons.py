"""/v1/comparisons: several policies on one scenario with common seeds."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas import ComparisonCreate
from .common import add_job_routes

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])
add_job_routes(router, "comparison", ComparisonCreate)
