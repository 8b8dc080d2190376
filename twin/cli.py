"""The `omnitwin` command line (typer + rich).

Bad input (an unknown scenario, a wrong field, a bad --set or --grid) prints every
problem by path and exits with code 2, never a traceback. `--json` prints exactly
the result object on stdout and nothing else; progress goes to stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from orchestrator.errors import OrchestratorError
from scenarios import POLICY_NAMES, Scenario, ScenarioError, catalog_names, load
from scenarios.describe import description_of, question_of
from scenarios.loader import CATALOG, read_raw

from .data.commands import data_app
from .folders import check_folders

app = typer.Typer(
    name="omnitwin",
    help="omnitwin: a digital twin of an omnichannel retail network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
scenarios_app = typer.Typer(
    help="List, show, validate scenarios; export the JSON Schema.", no_args_is_help=True
)
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(data_app, name="data")

err = Console(stderr=True)
out = Console() if sys.stdout.isatty() else Console(width=150)
ROOT = Path.cwd()

Sets = Annotated[list[str] | None, typer.Option("--set", help="Override a field: path=value.")]
Json = Annotated[bool, typer.Option("--json", help="Print only the result object (JSON).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables.")]
Reps = Annotated[
    int | None,
    typer.Option(
        "--replications", "-r", min=1, max=1000, help="Replications (default: the scenario's)."
    ),
]
Sched = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address (default: DASK_SCHEDULER_ADDRESS or a local cluster).",
    ),
]
OutDir = Annotated[Path | None, typer.Option("--out", help="Report folder (default results/<id>).")]
Export = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Write each replication's movement log, GL journal, exceptions and orders as"
        " Parquet into DIR/<policy>/rep<i>/.",
    ),
]


def fail(problems: list[str], code: int = 2) -> typer.Exit:
    for p in problems:
        err.print(f"[red]error:[/red] {p}", highlight=False)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Any:
    """Turn a user's mistake into messages and exit code 2."""
    try:
        yield
    except ScenarioError as exc:
        raise fail(exc.problems) from None
    except (OrchestratorError, ValueError) as exc:
        raise fail([str(exc)]) from None


def writable(**options: Path | None) -> None:
    """Output folders are checked before a run starts, so a bad one loses no work."""
    problems = check_folders(**options)
    if problems:
        raise ScenarioError(problems)


def load_scenario(ref: str, sets: list[str] | None) -> Scenario:
    """A scenario; one naming a data package is checked against it now (bad paths, counts
    that differ, a replay outside the history), before any replication starts."""
    sc = load(ref, sets or [])
    if sc.network.package is not None:
        from .data.network import check_scenario

        check_scenario(sc)
    return sc


@contextmanager
def progress_bar(label: str, total: int, quiet: bool) -> Any:
    if quiet:
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:g}/{task.total:g}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as p:
        task = p.add_task(label, total=total)
        yield lambda done, tot: p.update(task, completed=done, total=tot)


def default_out(kind: str, name: str) -> Path:
    from .report import safe_id

    return ROOT / "results" / safe_id(f"{name}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}")


def print_table(header: list[str], rows: list[list[str]], title: str) -> None:
    t = Table(title=title, show_lines=False)
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
    for r in rows:
        t.add_row(*r)
    out.print(t)


# ------------------------------------------------------------------------------ scenarios
@scenarios_app.command("list")
def scenarios_list() -> None:
    """The built-in catalogue with the question each scenario answers."""
    t = Table(title="Scenario catalogue")
    t.add_column("name")
    t.add_column("days", justify="right")
    t.add_column("stores", justify="right")
    t.add_column("question it answers", overflow="fold")
    for name in catalog_names():
        sc = load(name)
        t.add_row(
            name,
            f"{sc.horizon_days:g}",
            str(sc.network.stores.count),
            question_of(CATALOG / f"{name}.yaml"),
        )
    out.print(t)


@scenarios_app.command("show")
def scenarios_show(
    name: str,
    resolved: Annotated[
        bool, typer.Option(help="Show every field with defaults and `extends` applied.")
    ] = False,
) -> None:
    """Print a catalogue scenario (its file, or --resolved with every default)."""
    with user_errors():
        _, path = read_raw(name)
        if resolved:
            sc = load(name)
            typer.echo(yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False))
        else:
            assert path is not None
            load(name)  # validate, so a broken file is reported
            typer.echo(path.read_text())


@scenarios_app.command("validate")
def scenarios_validate(file: Path) -> None:
    """Check a scenario file; lists every problem by path (exit 2) or says it is valid."""
    with user_errors():
        sc = load_scenario(str(file), None)  # with a data package: checked against it
    out.print(
        f"[green]valid:[/green] {sc.name} ({sc.horizon_days:g} days,"
        f" {sc.network.stores.count} stores, {sc.skus.count} skus)"
    )


@scenarios_app.command("schema")
def scenarios_schema() -> None:
    """The scenario JSON Schema, for editors."""
    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))


# ------------------------------------------------------------------------------ run
@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="Catalogue name or a YAML/JSON file.")],
    policy: Annotated[
        str | None, typer.Option("--policy", "-p", help=f"One of {', '.join(POLICY_NAMES)}.")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Base seed.")] = None,
    replications: Reps = None,
    set_: Sets = None,
    out_dir: OutDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
    scheduler: Sched = None,
    export: Export = None,
) -> None:
    """Run one scenario under one policy; writes a report unless --json."""
    from .experiments import aggregate, replicate
    from .report import run_rows, write_run
    from .simulate import simulate

    with user_errors():
        writable(out=out_dir, export=export)
        sc = load_scenario(scenario, set_)
        pol = policy or sc.policy.operating_model
        if pol not in POLICY_NAMES:
            raise ScenarioError(
                [f"--policy: must be one of {', '.join(POLICY_NAMES)}, got {pol!r}"]
            )
        reps = replications or sc.replications
        quiet = quiet or as_json
        if reps == 1 and not scheduler:
            base = sc.seed if seed is None else seed
            from .experiments import export_folder, replication_seeds

            s = replication_seeds(base, 1)[0]
            with progress_bar(f"{sc.name} / {pol}", 100, quiet) as bar:
                r = simulate(
                    sc,
                    pol,
                    s,
                    progress=(lambda f: bar(round(100 * f), 100)) if bar else None,
                    export=export_folder(None if export is None else str(export), pol, 0),
                )
            run_dict = {
                **r.to_dict(),
                "series": r.series,
                "extras": r.extras,
                "seed_index": 0,
                "base_seed": base,
            }
            agg = aggregate(sc.name, pol, [run_dict], r.metadata["wall_seconds"])
        else:
            with progress_bar(f"{sc.name} / {pol}: replications", reps, quiet) as bar:
                agg = replicate(
                    sc, pol, reps, seed=seed, scheduler=scheduler, progress=bar, export=export
                )
    if as_json:
        typer.echo(json.dumps(agg.result, default=float))
        if out_dir is None:  # a folder the user names is written, --json or not
            return
    folder = out_dir or default_out(pol, sc.name)
    path = write_run(agg, folder, description_of(scenario, sc, set_ or []))
    if not quiet:
        header, rows = run_rows(agg)
        print_table(header, rows, f"{sc.name} under {pol}")
        err.print(f"report: {path}")


@app.command()
def compare(
    scenario: Annotated[str, typer.Argument(help="Catalogue name or a YAML/JSON file.")],
    policies: Annotated[
        str, typer.Option("--policies", help="Comma-separated, first is the baseline.")
    ] = "legacy,orchestrated",
    replications: Reps = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Base seed.")] = None,
    set_: Sets = None,
    out_dir: OutDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
    scheduler: Sched = None,
    export: Export = None,
) -> None:
    """Several policies on the same seeds; KPI means with 95% intervals and differences."""
    from .experiments import compare as run_compare
    from .report import comparison_rows, write_comparison

    with user_errors():
        writable(out=out_dir, export=export)
        sc = load_scenario(scenario, set_)
        pols = [p.strip() for p in policies.split(",") if p.strip()]
        reps = replications or sc.replications
        quiet = quiet or as_json
        with progress_bar(f"{sc.name}: {' vs '.join(pols)}", reps * len(pols), quiet) as bar:
            cmp = run_compare(
                sc, pols, reps, seed=seed, scheduler=scheduler, progress=bar, export=export
            )
    if as_json:
        typer.echo(json.dumps(cmp.to_dict(), default=float))
        if out_dir is None:  # a folder the user names is written, --json or not
            return
    folder = out_dir or default_out("compare", sc.name)
    path = write_comparison(cmp, folder, description_of(scenario, sc, set_ or []))
    if not quiet:
        header, rows = comparison_rows(cmp)
        print_table(header, rows, f"{sc.name}: mean [95% interval]; * = interval of Δ excludes 0")
        err.print(f"report: {path}")


@app.command()
def roadmap(
    scenario: Annotated[str, typer.Argument(help="Catalogue name or a YAML/JSON file.")],
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="seed (the article's phases), greedy (most valuable next), or steps a,b,c.",
        ),
    ] = "seed",
    replications: Reps = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Base seed.")] = None,
    set_: Sets = None,
    out_dir: OutDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
    scheduler: Sched = None,
) -> None:
    """Which change first, and what each is worth: every roadmap step alone and along a
    path from legacy, on the same seeds; value a year, net benefit and payback."""
    from .report_roadmap import roadmap_rows, write_roadmap
    from .roadmap import STEP_NAMES, parse_order
    from .roadmap import roadmap as run_roadmap

    with user_errors():
        writable(out=out_dir)
        sc = load_scenario(scenario, set_)
        how = parse_order(order)
        reps = replications or sc.replications
        quiet = quiet or as_json
        k = len(STEP_NAMES)
        jobs = 1 + k + (k * (k - 1) // 2 if how == "greedy" else k - 1)
        with progress_bar(f"{sc.name}: roadmap ({order})", jobs * reps, quiet) as bar:
            rm = run_roadmap(sc, how, reps, seed=seed, scheduler=scheduler, progress=bar)
    if as_json:
        typer.echo(json.dumps(rm.to_dict(), default=float))
        if out_dir is None:
            return
    folder = out_dir or default_out("roadmap", sc.name)
    path = write_roadmap(rm, folder, description_of(scenario, sc, set_ or []))
    if not quiet:
        header, rows = roadmap_rows(rm)
        print_table(header, rows, f"{sc.name}: value a year along the {rm.how} path")
        err.print(f"report: {path}")


@app.command()
def sweep(
    scenario: Annotated[str, typer.Argument(help="Catalogue name or a YAML/JSON file.")],
    grid: Annotated[list[str], typer.Option("--grid", help="path=v1,v2 (repeatable).")],
    policy: Annotated[str | None, typer.Option("--policy", "-p")] = None,
    replications: Reps = None,
    set_: Sets = None,
    out_dir: OutDir = None,
    as_json: Json = False,
    quiet: Quiet = False,
    scheduler: Sched = None,
) -> None:
    """A full grid of settings on Dask (local cluster or --scheduler)."""
    from .experiments import parse_grid
    from .experiments import sweep as run_sweep
    from .report import fmt

    with user_errors():
        writable(out=out_dir)
        sc = load_scenario(scenario, set_)
        g = parse_grid(grid)
        points = 1
        for v in g.values():
            points *= len(v)
        reps = replications or sc.replications
        quiet = quiet or as_json
        with progress_bar(f"{sc.name}: sweep of {points} points", points * reps, quiet) as bar:
            res = run_sweep(sc, g, policy, reps, scheduler=scheduler, progress=bar)
    payload = {
        "scenario": sc.name,
        "policy": res[0].aggregate.policy if res else policy,
        "points": [{"settings": p.settings, **p.aggregate.result} for p in res],
    }
    if as_json:
        typer.echo(json.dumps(payload, default=float))
        return
    folder = out_dir or default_out("sweep", sc.name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(payload, indent=2, default=float))
    if not quiet:
        keys = list(g)
        header = [
            *keys,
            "fill rate",
            "oversells",
            "stockouts",
            "posting p95 (h)",
            "manual recon (h)",
        ]
        rows = [
            [p.settings[k] for k in keys]
            + [
                fmt(p.aggregate.result["kpis"]["fill_rate"], "%"),
                fmt(p.aggregate.result["kpis"]["oversell_incidents"]),
                fmt(p.aggregate.result["kpis"]["stockout_frequency"], "%"),
                fmt(p.aggregate.result["kpis"]["posting_delay_p95_h"]),
                fmt(p.aggregate.result["kpis"]["manual_reconciliation_hours"]),
            ]
            for p in res
        ]
        print_table(header, rows, f"{sc.name}: sweep")
        err.print(f"results: {folder / 'result.json'}")


# ------------------------------------------------------------------------------ demo
README_START = "<!-- demo:start -->"
ROADMAP_START, ROADMAP_END = "<!-- roadmap:start -->", "<!-- roadmap:end -->"
README_END = "<!-- demo:end -->"


def _refresh(target: Path, start: str, end: str, block: str) -> None:
    """Replace the text between `start` and `end` in `target` (both markers kept)."""
    text = target.read_text()
    if start in text and end in text:
        pre, _, rest = text.partition(start)
        _, _, post = rest.partition(end)
        target.write_text(pre + block + post)


@app.command()
def demo(
    replications: Reps = None,
    out_dir: OutDir = None,
    readme: Annotated[Path | None, typer.Option(help="README to refresh with the table.")] = None,
    quiet: Quiet = False,
    roadmap: Annotated[
        bool, typer.Option(help="Also the case study's roadmap along the seed's path.")
    ] = True,
) -> None:
    """The seed case study: legacy vs orchestrated on the same seeds, report and plots;
    then the roadmap (value a year of each step along the seed's path, and alone)."""
    from .experiments import compare as run_compare
    from .report import comparison_rows, markdown_table, write_comparison
    from .report_roadmap import roadmap_rows, write_roadmap
    from .roadmap import STEP_NAMES
    from .roadmap import roadmap as run_roadmap

    with user_errors():
        writable(out=out_dir)
    sc = load("case-study")
    reps = replications or sc.replications
    with progress_bar("case-study: legacy vs orchestrated", reps * 2, quiet) as bar:
        cmp = run_compare(sc, ["legacy", "orchestrated"], reps, progress=bar)
    folder = out_dir or ROOT / "results" / "demo"
    path = write_comparison(cmp, folder, description_of("case-study", sc))
    header, rows = comparison_rows(cmp)
    print_table(header, rows, "case-study: mean [95% interval]; * = interval of Δ excludes 0")
    err.print(f"report: {path}")
    bad = [
        f"{p}: {k} = {v}"
        for p, a in cmp.policies.items()
        for k, v in a.result["invariants"].items()
        if v not in (True, 0)
    ]
    target = readme if readme is not None else ROOT / "README.md"
    if target.exists():
        docs = target.parent / "docs" / "demo"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "comparison.png", docs / "comparison.png")
        shutil.copy(folder / "fill_rate.png", docs / "fill_rate.png")
        first = next(iter(cmp.policies.values())).result
        block = "\n".join(
            [
                README_START,
                f"_Generated by `make demo` on {time.strftime('%Y-%m-%d')}: {reps} replications per"
                f" policy, {first['sim_days']:g} days, same seeds; {cmp.wall_seconds:.0f} s on this"
                " machine._",
                "",
                markdown_table(header, rows),
                "",
                "![case-study comparison](docs/demo/comparison.png)",
                README_END,
            ]
        )
        _refresh(target, README_START, README_END, block)
    if roadmap:
        k = len(STEP_NAMES)
        with progress_bar("case-study: roadmap (seed)", (2 * k) * reps, quiet) as bar:
            rm = run_roadmap(sc, "seed", reps, progress=bar)
        rfolder = folder / "roadmap"
        rpath = write_roadmap(rm, rfolder, description_of("case-study", sc))
        rheader, rrows = roadmap_rows(rm)
        print_table(rheader, rrows, f"case-study: value a year along the {rm.how} path")
        err.print(f"roadmap: {rpath}")
        if target.exists():
            shutil.copy(
                rfolder / "waterfall.png", target.parent / "docs" / "demo" / "waterfall.png"
            )
            nb, pay = rm.total["net_benefit_per_year"], rm.total["payback_months"]
            block = "\n".join(
                [
                    ROADMAP_START,
                    f"_Generated by `make demo` on {time.strftime('%Y-%m-%d')}: {reps} replications"
                    f" of {len(rm.runs)} runs on the same seeds; {rm.wall_seconds:.0f} s._",
                    "",
                    markdown_table(rheader, rrows),
                    "",
                    f"Net benefit a year: {nb['mean']:,.0f} {rm.currency}; payback of the"
                    f" programme cost ({rm.total['programme_cost']:,.0f} {rm.currency}): "
                    + (f"{pay:.1f} months." if pay is not None else "none."),
                    "",
                    "![case-study roadmap](docs/demo/waterfall.png)",
                    ROADMAP_END,
                ]
            )
            _refresh(target, ROADMAP_START, ROADMAP_END, block)
    if bad:
        raise fail([f"invariant broken: {b}" for b in bad], code=1)


@app.command()
def core_demo() -> None:
    """A day in a small network straight through the orchestration core (no simulation)."""
    from .core_demo import run as run_core_demo

    result = run_core_demo()
    bad = {k: v for k, v in result.invariants.items() if v not in (True, 0)}
    if bad or result.differences:
        err.print(f"invariants broken: {bad}, reconciliation differences: {result.differences}")
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as v

    typer.echo(v("omnitwin"))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
