"""Dependencies shared by the routers (`Annotated` style).

They are `async` although they do no I/O: FastAPI runs a plain function dependency on a
worker thread, and a thread hop per dependency per request is what a busy service cannot
afford."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .db import Database
from .jobs import ViewCache
from .runner import Runner
from .settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_runner(request: Request) -> Runner:
    return request.app.state.runner


async def get_views(request: Request) -> ViewCache:
    return request.app.state.views


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
RunnerDep = Annotated[Runner, Depends(get_runner)]
ViewsDep = Annotated[ViewCache, Depends(get_views)]

#: the two ways to send the key; declared as security schemes in the OpenAPI document
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKey", description="The service's key."
)
bearer = HTTPBearer(auto_error=False, scheme_name="Bearer", description="The service's key.")


async def require_api_key(
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Depends(api_key_header)] = None,
    authorization: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    """When `OMNITWIN_API_KEY` is set, mutating requests must carry it (either header; an
    empty one counts as absent)."""
    if not settings.api_key:
        return
    given = x_api_key or (authorization.credentials.strip() if authorization else "")
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API key is required: send it as X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(given.encode(), settings.api_key.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the API key is not valid")


ApiKey = Depends(require_api_key)
