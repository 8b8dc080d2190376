"""`python -m bench.run`: run the benchmarks in order, print each table, write results/bench.md.

    python -m bench.run [--quick] [--only NAME ...] [--repeats N] [--out results/bench.md]
                        [--param NAME.KEY=VALUE ...]

A module that fails (cannot be imported, raises, or breaks the result contract) gets
a section saying so with the error; the others still run, and the exit code is 1.
Whether a target is met does not change the exit code: benchmarks report figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import shlex
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import (
    RESULTS,
    ROOT,
    Result,
    RunFn,
    check_result,
    fmt,
    forget_models,
    machine,
    markdown_table,
)

ORDER = ("peer", "engine", "engine_envelope", "scale", "growth", "scaleout", "load", "package")
DEFAULT_OUT = RESULTS / "bench.md"


@dataclass(slots=True)
class Bench:
    """A benchmark by name; `run` given directly (tests, fakes) or imported from bench.<name>."""

    name: str
    run: RunFn | None = None

    def load(self) -> RunFn:
        if self.run is not None:
            return self.run
        return importlib.import_module(f"bench.{self.name}").run


@dataclass(slots=True)
class Outcome:
    name: str
    command: str
    seconds: float = 0.0
    result: Result | None = None
    error: str | None = None
    trace: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.error is not None


# ------------------------------------------------------------------------------ arguments
def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip()


def parse_params(items: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`NAME.KEY=VALUE` items into {name: {key: value}}; `a,b,c` values become lists."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        lhs, eq, rhs = item.partition("=")
        name, dot, key = lhs.partition(".")
        if not eq or not dot or not key:
            raise SystemExit(f"--param {item!r}: expected NAME.KEY=VALUE, e.g. growth.days=7")
        if name not in names:
            raise SystemExit(f"--param {item!r}: no benchmark {name!r} (have {', '.join(names)})")
        value: Any = [_value(v) for v in rhs.split(",")] if "," in rhs else _value(rhs)
        out.setdefault(name, {})[key.replace("-", "_")] = value
    return out


def _python() -> str:
    """The interpreter as the user would type it (.venv/bin/python inside the repo)."""
    try:
        return str(Path(sys.executable).relative_to(ROOT))
    except ValueError:
        return "python"


def command(
    names: Sequence[str],
    *,
    quick: bool,
    repeats: int,
    out: Path,
    params: Mapping[str, Mapping[str, Any]],
) -> str:
    """The exact command that runs `names` with these settings."""
    args = [_python(), "-m", "bench.run"]
    if quick:
        args.append("--quick")
    if list(names) != list(ORDER):
        args += ["--only", *names]
    args += ["--repeats", str(repeats)]
    for name in names:
        for key, v in params.get(name, {}).items():
            val = ",".join(map(str, v)) if isinstance(v, list) else str(v)
            args += ["--param", f"{name}.{key}={val}"]
    try:
        shown = out.resolve().relative_to(ROOT)
    except ValueError:
        shown = out
    args += ["--out", str(shown)]
    return shlex.join(args)


# ------------------------------------------------------------------------------ running
def run_one(
    bench: Bench, *, quick: bool, repeats: int, out: Path, params: Mapping[str, Any], cmd: str
) -> Outcome:
    oc = Outcome(bench.name, cmd, params=dict(params))
    t0 = time.perf_counter()
    try:
        fn = bench.load()
        kwargs = dict(params)
        try:
            accepts = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            accepts = {}
        if "out_dir" in accepts and "out_dir" not in kwargs:
            kwargs["out_dir"] = out.parent
        res = fn(quick=quick, repeats=repeats, **kwargs)
        problems = check_result(res)
        if problems:
            raise TypeError(
                f"bench.{bench.name}.run broke the result contract: " + "; ".join(problems)
            )
        oc.result = dict(res)
    except Exception as exc:  # a failing benchmark is reported, the others still run
        oc.error = f"{type(exc).__name__}: {exc}"
        oc.trace = traceback.format_exc()
    oc.seconds = time.perf_counter() - t0
    return oc


def _met(res: Result | None) -> str:
    if res is None:
        return "failed"
    return {True: "✔", False: "✘"}.get(res["met"], "—")


def render(
    outcomes: Sequence[Outcome],
    *,
    quick: bool,
    repeats: int,
    cmd: str,
    started: dt.datetime,
    info: Mapping[str, str],
    pending: Sequence[str] = (),
) -> str:
    lines = [
        "# omnitwin benchmarks",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- command: `{cmd}`",
        f"- repetitions: {repeats} (median reported; `scale` runs once at full size, see below)",
    ]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    if quick:
        lines += ["", "**Quick mode**: tiny sizes for a smoke test; the figures mean nothing."]
    lines += [
        "",
        "Each figure is a ratio or a median measured side by side in one process run;",
        "see bench/README.md for how each benchmark measures.",
        "",
        "## Summary",
        "",
        "| benchmark | figure | target | met |",
        "|---|---|---|---|",
    ]
    for oc in outcomes:
        r = oc.result
        if r is None:
            lines.append(f"| [{oc.name}](#{oc.name}) | failed: {fmt(oc.error)} | — | ✘ failed |")
        else:
            cells = [f"[{oc.name}](#{oc.name})", fmt(r["summary"]), fmt(r["target"]), _met(r)]
            lines.append("| " + " | ".join(cells) + " |")
    for name in pending:
        lines.append(f"| {name} | not run yet | — | — |")
    for oc in outcomes:
        r = oc.result
        lines += ["", f"## {oc.name}", "", f"**{r['title'] if r else 'failed'}**", ""]
        if r is None:
            lines += [
                f"**Failed** after {oc.seconds:.1f} s: `{oc.error}`",
                "",
                "```text",
                *oc.trace.rstrip().splitlines()[-25:],
                "```",
                "",
                f"Command: `{oc.command}`",
            ]
            continue
        lines += [
            f"Target: {r['target']} — met: {_met(r)}",
            "",
            f"{r['summary']}",
            "",
            markdown_table(r["table"]),
            "",
        ]
        for f in r.get("files", []) or []:
            lines += [f"![{oc.name}]({f})", ""]
        lines += [f"Command: `{oc.command}` ({oc.seconds:.0f} s)"]
    return "\n".join(lines) + "\n"


def run_benchmarks(
    benches: Sequence[Bench],
    *,
    quick: bool = False,
    repeats: int = 3,
    out: Path | str = DEFAULT_OUT,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Outcome]:
    """Run `benches` in order, printing each table and rewriting `out` after each one."""
    out = Path(out)
    params = params or {}
    names = [b.name for b in benches]
    cmd_all = command(names, quick=quick, repeats=repeats, out=out, params=params)
    started = dt.datetime.now(dt.UTC)
    info = machine()
    out.parent.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for i, bench in enumerate(benches):
        print(f"\n== [{i + 1}/{len(benches)}] {bench.name} ==", flush=True)
        forget_models()  # what one benchmark leaves behind must not slow the next
        mine = {bench.name: params.get(bench.name, {})}
        cmd = command([bench.name], quick=quick, repeats=repeats, out=out, params=mine)
        oc = run_one(
            bench,
            quick=quick,
            repeats=repeats,
            out=out,
            params=params.get(bench.name, {}),
            cmd=cmd,
        )
        outcomes.append(oc)
        if oc.result is not None:
            r = oc.result
            print(f"{r['title']} ({oc.seconds:.0f} s)\n{r['summary']}", flush=True)
            print(markdown_table(r["table"]), flush=True)
            print(f"target: {r['target']} — met: {_met(r)}", flush=True)
        else:
            print(f"FAILED after {oc.seconds:.1f} s: {oc.error}", flush=True)
        text = render(
            outcomes,
            quick=quick,
            repeats=repeats,
            cmd=cmd_all,
            started=started,
            info=info,
            pending=names[i + 1 :],
        )
        out.write_text(text, encoding="utf-8")
    print(f"\nwrote {out}", flush=True)
    return outcomes


def main(argv: Sequence[str] | None = None, *, benches: Sequence[Bench] | None = None) -> int:
    """The command line; `benches` replaces the built-in list (the tests inject fakes)."""
    known = list(ORDER) + [b.name for b in benches or [] if b.name not in ORDER]
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, seconds (smoke test)")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=known, help="run only these")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions per figure (median)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown report")
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="a benchmark's keyword, e.g. growth.sku_sizes=250,500 or scale.skus=250",
    )
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats: must be >= 1")
    pool = {b.name: b for b in benches} if benches is not None else {n: Bench(n) for n in ORDER}
    names = args.only or list(pool)
    missing = [n for n in names if n not in pool]
    if missing:
        ap.error(f"--only: {', '.join(missing)} not among {', '.join(pool)}")
    params = parse_params(args.param, list(pool))
    outcomes = run_benchmarks(
        [pool[n] for n in names],
        quick=args.quick,
        repeats=args.repeats,
        out=args.out,
        params=params,
    )
    failed = [o.name for o in outcomes if o.failed]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
