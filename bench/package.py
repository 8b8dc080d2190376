"""Benchmark 7 — a retailer's own data at scale (issue 19): write, load, fit and compare a
180-store × 5,000-sku package with a year of daily sales.

The package is the sample generator's (`omnitwin data sample`) at that size, as Parquet:
walk-ins of 0.05 units a (sku, store) a day on average (about 250 units a store a day,
most skus intermittent), online 10% of that in two channels, returns and a snapshot.
Each phase runs in a fresh child process (`python -m bench.package --child PHASE ...`),
which times itself with `time.perf_counter` and reports its peak resident set (`VmHWM`,
as `bench.scale` does), so no phase inherits another's memory:

- write: generate the package (not part of a planner's path; for scale);
- load: read and check every table (`omnitwin data validate`);
- fit: check, fit, write the scenario, the fit folder and the report (`omnitwin data fit`);
- compare: a 14-day `legacy` vs `orchestrated` comparison, one replication each, serially
  in the child (`omnitwin compare my.yaml -r 1 --set horizon_days=14`, without Dask).

    .venv/bin/python -m bench.run --only package
    .venv/bin/python -m bench.package            # the same, printing the table
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import RESULTS, ROOT, Result, result, say
from .scale import _peak_mib

NAME = "package"
TITLE = "A retailer's own data: load, fit and a 14-day comparison of a large package"
TARGET = "180 stores × 5,000 skus × 365 days loads, fits and compares on this machine"
MARK = "BENCH-PACKAGE-RESULT "


def child(phase: str, args: dict[str, Any]) -> dict[str, Any]:
    """One phase in this (fresh) process: its wall time, peak memory and figures."""
    folder, scenario = Path(args["folder"]), Path(args["scenario"])
    before = _peak_mib()
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if phase == "write":
        from twin.data.sample import write_sample

        shutil.rmtree(folder, ignore_errors=True)
        write_sample(
            folder,
            stores=args["stores"],
            skus=args["skus"],
            days=args["days"],
            units_per_cell_day=args["units_per_cell_day"],
            online_share=args["online_share"],
            fmt="parquet",
        )
        out["mib_on_disk"] = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    elif phase == "load":
        from twin.data.package import load

        package = load(folder)
        assert package.sales is not None
        out["sales_rows"] = int(package.sales.units.size)
        out["units"] = int(package.sales.units.sum())
    elif phase == "fit":
        from twin.data.commands import fit_package

        fit_package(folder, scenario)
    elif phase == "compare":
        from scenarios import load as load_scenario
        from twin.experiments import compare

        sc = load_scenario(str(scenario), [f"horizon_days={args['horizon']}"])
        cmp = compare(sc, ["legacy", "orchestrated"], 1, executor="serial")
        for pol, agg in cmp.policies.items():
            k = agg.result["kpis"]
            out[f"{pol}_run_s"] = agg.runs[0]["wall_seconds"]
            out[f"{pol}_fill_rate"] = k["fill_rate"]
            out["units_demanded"] = k["units_demanded"]
            out["orders"] = k["orders_total"]
            out["invariants_ok"] = out.get("invariants_ok", True) and all(
                v in (True, 0) for v in agg.result["invariants"].values()
            )
    else:
        raise ValueError(f"phase: write, load, fit or compare, got {phase!r}")
    out.update(wall_s=time.perf_counter() - t0, peak_mib=_peak_mib(), before_mib=before)
    return out


def in_child(phase: str, args: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.package", "--child", phase, json.dumps(args)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    p = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(MARK)]
    if p.returncode != 0 or not lines:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{phase} failed (exit {p.returncode}):\n{tail}")
    return json.loads(lines[-1][len(MARK) :])


def run(
    quick: bool = False,
    repeats: int = 1,
    *,
    stores: int = 180,
    skus: int = 5000,
    days: int = 365,
    horizon: int = 14,
    units_per_cell_day: float = 0.05,
    online_share: float = 0.1,
    timeout_s: float = 7200.0,
    keep: bool = True,
) -> Result:
    """Each phase once (`repeats` is ignored: these are single heavy runs)."""
    del repeats
    if quick:
        stores, skus, days, horizon = 6, 40, 60, 3
    work = RESULTS / "bench-package"
    args: dict[str, Any] = {
        "folder": str(work / "pkg"),
        "scenario": str(work / "bench-retailer.yaml"),
        "stores": stores,
        "skus": skus,
        "days": days,
        "horizon": horizon,
        "units_per_cell_day": units_per_cell_day,
        "online_share": online_share,
    }
    size = f"{stores} stores × {skus:,} skus × {days} days"
    rows, figures = [], {}
    for phase in ("write", "load", "fit", "compare"):
        say(f"{phase}: {size} in a fresh process …")
        r = in_child(phase, args, timeout_s)
        figures[phase] = r
        say(f"{phase}: {r['wall_s']:.1f} s, peak {r['peak_mib']:,.0f} MiB")
        extra = ""
        if phase == "write":
            extra = f"{r['mib_on_disk']:.0f} MiB of Parquet"
        elif phase == "load":
            extra = f"{r['sales_rows']:,} sales rows, {r['units']:,} units"
        elif phase == "compare":
            extra = (
                f"{horizon} days: legacy {r['legacy_run_s']:.0f} s, orchestrated"
                f" {r['orchestrated_run_s']:.0f} s; {r['units_demanded']:,} units,"
                f" {r['orders']:,} orders; invariants {'ok' if r['invariants_ok'] else 'BROKEN'}"
            )
        rows.append(
            {
                "phase": phase,
                "wall s": f"{r['wall_s']:.1f}",
                "peak MiB": f"{r['peak_mib']:,.0f}",
                "at start MiB": f"{r['before_mib']:,.0f}",
                "what": extra,
            }
        )
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    met = None if quick else bool(figures["compare"]["invariants_ok"])
    summary = (
        f"{size}: load {figures['load']['wall_s']:.0f} s ({figures['load']['peak_mib']:,.0f}"
        f" MiB), fit {figures['fit']['wall_s']:.0f} s ({figures['fit']['peak_mib']:,.0f} MiB),"
        f" {horizon}-day comparison {figures['compare']['wall_s']:.0f} s"
        f" ({figures['compare']['peak_mib']:,.0f} MiB)"
    )
    return result(NAME, TITLE, TARGET, met, summary, rows, figures=figures)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.package")
    ap.add_argument("--child", nargs=2, metavar=("PHASE", "ARGS"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if a.child:
        out = child(a.child[0], json.loads(a.child[1]))
        print(MARK + json.dumps(out), flush=True)
        return 0
    r = run(quick=a.quick)
    for row in r["table"]:
        print(row)
    print(r["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
