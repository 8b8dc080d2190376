"""The `omnitwin` console script: every command of `twin.cli` plus `serve`.

`twin` must not import the web layer, so the web command is added here, on top.
"""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli import app

__all__ = ["app", "main"]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (off under heavy load: it costs CPU).")
    ] = True,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs); settings from OMNITWIN_* variables."""
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(), host=host, port=port, access_log=access_log)


def main() -> None:  # pragma: no cover - console entry point
    app()
