"""The FastAPI application: `create_app(settings)`; OpenAPI docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .db import Database
from .routes import comparisons, ops, policies, runs, scenarios
from .runner import Runner
from .settings import Settings

#: the planner page (plain HTML, CSS and JavaScript, no build step), served at `/`
STATIC_DIR = Path(__file__).with_name("static")

DESCRIPTION = """\
An open digital twin of an omnichannel retail network, as a service.

Start runs and comparisons of policies on catalogue or inline scenarios; they execute in
the background on the same runner as the CLI and are kept in a database. Poll
`GET /v1/runs/{id}` (or follow `/events`) until `done`, then fetch the result object,
the daily series, the plots and the report. When the service has an API key, every
mutating request needs it as `X-API-Key` (or `Authorization: Bearer`).
"""


def create_app(settings: Settings | None = None, *, start_workers: bool = True) -> FastAPI:
    """The app over one database. On start-up it creates missing tables, marks runs a
    previous process left unfinished as failed, and starts the worker pool
    (`start_workers=False` keeps submitted runs queued, for tests)."""
    settings = settings or Settings()
    db = Database(settings.db_url)
    runner = Runner(settings, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db.create_all()
        runner.recover()
        if start_workers:
            runner.start()
        try:
            yield
        finally:
            runner.shutdown()
            db.dispose()

    app = FastAPI(
        title="omnitwin",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.runner = runner
    for module in (scenarios, policies, runs, comparisons, ops):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def planner_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    return app
