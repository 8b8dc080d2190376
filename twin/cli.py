"""The `omnitwin` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="omnitwin",
    help="omnitwin: a digital twin of an omnichannel retail network.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def demo() -> None:
    """Run the core demo: a day in a small network through the real orchestrator."""
    from .core_demo import run

    result = run()
    bad = {k: v for k, v in result.invariants.items() if v not in (True, 0)}
    if bad or result.differences:
        typer.echo(
            f"invariants broken: {bad}, reconciliation differences: {result.differences}", err=True
        )
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as v

    typer.echo(v("omnitwin"))


if __name__ == "__main__":  # pragma: no cover
    app()
