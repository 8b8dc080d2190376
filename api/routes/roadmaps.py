"""/v1/roadmaps: which change first, and what each is worth (the roadmap experiment)."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas import RoadmapCreate
from .common import add_job_routes

router = APIRouter(prefix="/v1/roadmaps", tags=["roadmaps"])
add_job_routes(router, "roadmap", RoadmapCreate)
