"""`omnitwin data …`: check a data package, fit it to a scenario, write the sample package,
print the package's JSON Schema. A bad package lists every problem by file, row and
column and exits with code 2, never a traceback."""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scenarios import ScenarioError

from ..folders import folder_problem
from .fit import FitError

data_app = typer.Typer(
    help="A retailer's own data: validate a package, fit it, write the sample, the schema.",
    no_args_is_help=True,
)
err = Console(stderr=True)
out = Console() if sys.stdout.isatty() else Console(width=150)

Folder = Annotated[Path, typer.Argument(help="The package folder (CSV or Parquet tables).")]


def _fail(problems: list[str], code: int = 2) -> typer.Exit:
    for p in problems:
        err.print(f"[red]error:[/red] {p}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _user_errors() -> Any:
    from .package import PackageError

    try:
        yield
    except PackageError as exc:
        raise _fail([str(p) for p in exc.problems]) from None
    except ScenarioError as exc:
        raise _fail(exc.problems) from None
    except (FitError, ValueError, OSError) as exc:
        raise _fail([str(exc)]) from None


@data_app.command("validate")
def validate(
    folder: Folder,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every problem (default: the first 100).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> None:
    """Check a package: every problem by file, row and column (exit 2), and every row,
    column or file deliberately ignored, with the reason."""
    from .package import check

    package, found = check(folder)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "valid": package is not None,
                    "problems": [p.as_dict() for p in found.problems],
                    "ignored": [i.as_dict() for i in found.ignored],
                }
            )
        )
        if package is None:
            raise typer.Exit(2)
        return
    for i in found.ignored:
        err.print(f"[yellow]ignored:[/yellow] {i}", highlight=False, soft_wrap=True)
    if package is None:
        shown = found.problems if show_all else found.problems[:100]
        more = len(found.problems) - len(shown)
        lines = [str(p) for p in shown]
        if more:
            lines.append(f"… {more:,} more problems (--all lists them)")
        raise _fail(lines)
    sales = package.sales
    assert sales is not None
    from .package import date_of

    out.print(
        f"[green]valid:[/green] {package.folder.name}: {len(package.stores)} stores,"
        f" {len(package.locations.code) - len(package.stores)} other locations,"
        f" {len(package.skus.code)} skus, {len(package.suppliers.code)} suppliers;"
        f" sales {date_of(sales.first_day)} to {date_of(sales.last_day)}"
        f" ({sales.units.size:,} rows with units, channels: {', '.join(sales.channels) or 'none'})",
        highlight=False,
    )


def _name_of(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-")
    return name or "my-retailer"


@data_app.command("fit")
def fit_cmd(
    folder: Folder,
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="The scenario file to write (YAML).")
    ] = Path("my-retailer.yaml"),
    name: Annotated[str | None, typer.Option(help="Scenario name (default: the file's).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fit a package's sales history; writes the scenario and, beside it, the fit folder
    (<name>.fit/: rates, shapes, report.md, fit.png)."""
    with _user_errors():
        path = fit_package(folder, out_file, name)
    if not quiet:
        out.print(f"scenario: {out_file}\nfit report: {path}", highlight=False)


def fit_package(folder: Path, out_file: Path, name: str | None = None) -> Path:
    """Check, fit, write the scenario and the fit folder; the report's path."""
    from scenarios import load

    from .fit import fit, write_fit
    from .package import load as load_package
    from .report import write_report
    from .scenario import fitted_scenario, header, write_scenario

    if out_file.suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(f"--out: {out_file} should be a .yaml file")
    if out_file.is_dir():
        raise ValueError(f"--out: {out_file} is a folder; name the scenario file to write")
    bad = folder_problem("--out", out_file.parent)
    if bad:
        raise ValueError(bad)
    package = load_package(folder)
    f = fit(package)
    fit_dir = out_file.with_suffix(".fit")
    write_fit(f, package, fit_dir)
    data = fitted_scenario(package, f, name or _name_of(out_file), out_file, fit_dir)
    write_scenario(data, out_file, header(package, f, fit_dir))
    scenario = load(str(out_file))
    return write_report(package, f, fit_dir, package.ignored, levels_summary(scenario))


def levels_summary(scenario: Any) -> str:
    """A table of the reorder levels a fitted scenario's network opens with."""
    from twin.rand import Streams

    from .network import build_package_network

    net = build_package_network(scenario, Streams(0).network)
    assert net.levels is not None and net.opening is not None
    s, big = net.levels
    rows = [
        "| locations | positions reordering | mean s | mean S | opening units |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, cols in (("stores", slice(0, net.n_store)), ("sites", slice(net.n_store, None))):
        live = big[:, cols] > 0
        rows.append(
            f"| {label} | {int(live.sum()):,} | {s[:, cols][live].mean() if live.any() else 0:.1f}"
            f" | {big[:, cols][live].mean() if live.any() else 0:.1f} |"
            f" {int(net.opening[:, cols].sum()):,} |"
        )
    rows.append("")
    rows.append(
        "From the package's policy table where it has a row, else the derived rule (README):"
        f" service level {scenario.network.package.service_level:.0%}, a site's order at"
        f" least {scenario.network.package.dc_cycle_days:g} days of demand."
    )
    return "\n".join(rows)


@data_app.command("sample")
def sample(
    folder: Annotated[Path, typer.Argument(help="Folder to write the package into.")],
    stores: Annotated[int, typer.Option(min=1, max=2000)] = 36,
    skus: Annotated[int, typer.Option(min=1, max=100_000)] = 300,
    days: Annotated[int, typer.Option(min=28, max=1500)] = 365,
    seed: Annotated[int, typer.Option(min=0)] = 19,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write the deterministic sample package (a mid-size retailer, a year of sales)."""
    from .sample import write_sample

    if fmt not in ("csv", "parquet"):
        raise _fail([f"--format: csv or parquet, got {fmt!r}"])
    bad = folder_problem("FOLDER", folder)
    if bad:
        raise _fail([bad])
    with _user_errors():
        write_sample(folder, stores=stores, skus=skus, days=days, seed=seed, fmt=fmt)
    if not quiet:
        out.print(f"sample package: {folder} ({stores} stores, {skus} skus, {days} days)")


@data_app.command("schema")
def schema() -> None:
    """The package's JSON Schema."""
    from .tables import schema_text

    typer.echo(schema_text(), nl=False)
