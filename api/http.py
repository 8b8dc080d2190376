"""ASGI middleware at the service's edge: a request-size limit that refuses before any
parsing, and `Allow` headers that name every method a path supports."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: methods whose requests carry a body worth limiting
_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


async def _send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Bodies over `max_bytes` get 413 before they are parsed: refused on their
    Content-Length at once, or, sent in chunks, as soon as the count passes the limit.
    A body under the limit is read here and handed on unchanged."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        paths: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        """`paths`: a path with a limit of its own, and the setting behind it (a data
        package upload is larger than a run's body)."""
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit, setting = self.paths.get(
            scope["path"].rstrip("/") or "/", (self.max_bytes, "OMNITWIN_MAX_BODY_BYTES")
        )
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(send, limit, setting)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit, setting)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int, setting: str) -> None:
        msg = f"the request body is over this service's limit of {limit} bytes ({setting})"
        await _send_json(send, 413, {"detail": msg}, [(b"connection", b"close")])


class AllowedMethods:
    """`OPTIONS` on a path answers 204 with every method its routes take, and a 405 lists
    them all (Starlette's lists only the first route that matched the path, so a path with
    GET and DELETE routes said `Allow: GET`). The methods are found by asking each route
    whether it matches the path under each method, only for an OPTIONS or a 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = _methods(scope)
            if methods:
                allow = ", ".join(sorted(methods | {"OPTIONS"})).encode()
                await send(
                    {"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]}
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = _methods(scope)
                if methods:
                    allow = ", ".join(sorted(methods | {"OPTIONS"})).encode()
                    kept = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                    message = {**message, "headers": [*kept, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_with_allow)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"\{[^}/]+\}")


def _methods(scope: Scope) -> set[str]:
    """The methods of the resource at this path. For the API's own paths, those its
    OpenAPI document declares, where a literal path wins over a template
    (`/v1/scenarios/validate` is its own resource, not a scenario called so); for the
    others (the page, the docs), the methods some route takes there."""
    app = scope.get("app")
    path = scope["path"]
    table = _schema_paths(app)
    hits = [(literal, methods) for regex, literal, methods in table if regex.fullmatch(path)]
    if hits:
        if any(literal for literal, _ in hits):
            hits = [h for h in hits if h[0]]
        return set().union(*(methods for _, methods in hits))
    routes = getattr(getattr(app, "router", None), "routes", [])
    found: set[str] = set()
    for method in _METHODS:
        probe = {**scope, "method": method}
        for route in routes:
            if isinstance(route, Mount):
                continue
            if route.matches(probe)[0] is Match.FULL:
                found.add(method)
                break
    return found


def _schema_paths(app: Any) -> list[tuple[re.Pattern[str], bool, set[str]]]:
    """(path regex, is literal, methods) of every path in the app's OpenAPI document."""
    cached = getattr(app.state, "allow_table", None) if app is not None else None
    if cached is not None:
        return cached
    table = []
    if app is not None and hasattr(app, "openapi"):
        for template, item in app.openapi().get("paths", {}).items():
            parts = _PARAM.split(template)
            regex = re.compile("[^/]+".join(re.escape(p) for p in parts))
            methods = {m.upper() for m in item if m.upper() in _METHODS}
            table.append((regex, len(parts) == 1, methods))
        app.state.allow_table = table
    return table
