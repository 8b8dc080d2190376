"""The FastAPI application: `create_app(settings)`; OpenAPI docs at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import jobs
from .db import Database
from .http import AllowedMethods, BodyLimit
from .openapi import service_openapi
from .routes import comparisons, ops, packages, policies, roadmaps, runs, scenarios
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
mutating request needs it as `X-API-Key` (or `Authorization: Bearer`); reads are open.
"""

#: the body FastAPI could not parse (not UTF-8, say) is a 422 like every other bad body
_UNPARSED = "There was an error parsing the body"
#: job routes whose body errors are reported together with the scenario's
_JOB_POSTS = {"/v1/runs", "/v1/comparisons", "/v1/roadmaps"}


def create_app(settings: Settings | None = None, *, start_workers: bool = True) -> FastAPI:
    """The app over one database. On start-up it creates missing tables, recovers runs a
    previous process left unfinished (done from their folder, else failed), and starts
    the worker pool (`start_workers=False` keeps submitted runs queued, for tests)."""
    settings = settings or Settings()
    db = Database(settings.db_url, pool_size=settings.pool_size)
    runner = Runner(settings, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # every synchronous route runs on one of these threads; the pool has a connection
        # for each, so none waits on a connection another holds
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
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
    app.state.views = jobs.ViewCache()
    for module in (scenarios, policies, runs, comparisons, roadmaps, packages, ops):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def planner_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon")

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(AllowedMethods)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        paths={"/v1/packages": (settings.max_package_bytes, "OMNITWIN_MAX_PACKAGE_BYTES")},
    )
    app.openapi = lambda: service_openapi(app, settings)  # type: ignore[method-assign]
    return app


def _shorten(err: dict[str, Any]) -> dict[str, Any]:
    """A validation error that repeats at most a short prefix of what was sent."""
    out = {k: v for k, v in err.items() if k not in ("input", "ctx", "url")}
    if "input" in err:
        out["input"] = jobs.clip(err["input"])
    if isinstance(out.get("msg"), str):
        out["msg"] = out["msg"][:500]
    if "loc" in out:
        out["loc"] = [x[:200] if isinstance(x, str) else x for x in out["loc"]][:20]
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with every problem: the body's own and, for a run or comparison whose scenario
    part could be read, the scenario's too, so one answer lists them all."""
    assert isinstance(exc, RequestValidationError)
    errors = [_shorten(e) for e in exc.errors()]
    body = getattr(exc, "body", None)
    if (
        request.method == "POST"
        and request.url.path in _JOB_POSTS
        and isinstance(body, dict)
        and "scenario" in body
        and not any(list(e.get("loc", []))[:2] == ["body", "scenario"] for e in errors)
    ):
        settings: Settings = request.app.state.settings
        found, _, _ = await anyio.to_thread.run_sync(
            jobs.scenario_errors, body["scenario"], body.get("overrides", {}), settings
        )
        errors += [_shorten(e) for e in found]
    return JSONResponse(
        {"detail": jsonable_encoder(errors)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _UNPARSED:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": "the body is not valid JSON"}
        return JSONResponse(
            {"detail": [problem]}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers or None
    )
