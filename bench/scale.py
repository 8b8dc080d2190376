"""Benchmark 3 — the case study at scale: wall time and peak memory of one replication.

`case-study` with 180 stores, 2 DCs, 4 online channels (the scenario's own network
and channels), 1,000 skus, 42 days, `orchestrated`, one replication. Each run is a
fresh child process (`python -m bench.scale --child ...`), so nothing an earlier
benchmark allocated inflates the figure: the child times `simulate()` with
`time.perf_counter` and reports its own peak resident set (`VmHWM` in
/proc/self/status: the whole process — interpreter, imports and the run; not
`ru_maxrss`, which on Linux carries the forking parent's size over `exec`) and the
peak it had before the run (imports), so the run's own share shows too.

It is one heavy run, so by default it runs once (`heavy_repeats=1`) whatever
`--repeats` says; `--param scale.heavy_repeats=3` gives a median of 3. In quick mode
the size is tiny and `--repeats` applies.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence

from .common import POLICY, ROOT, SEED, Result, median, result, say, sized

NAME = "scale"
TITLE = "Case study at scale: one replication, wall time and peak memory"
TARGET = "≤ 60 s wall and ≤ 2 GiB peak memory (2-core machine)"
MARK = "BENCH-SCALE-RESULT "


def _proc_status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def _peak_mib() -> float:
    """This process's peak resident set in MiB.

    `VmHWM` where there is /proc: it belongs to this program image only. `ru_maxrss`
    otherwise — on Linux it survives `exec`, so a child forked from a large parent
    would report at least the parent's size.
    """
    hwm = _proc_status_mib("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(overrides: Sequence[str]) -> dict[str, float]:
    """Runs in the fresh process: one replication, its time and the process's peak memory."""
    from twin.simulate import simulate

    from .common import load_scenario

    sc = load_scenario(overrides)
    before = _peak_mib()
    t0 = time.perf_counter()
    r = simulate(sc, POLICY, seed=SEED)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "peak_rss_mib": _peak_mib(),
        "rss_before_run_mib": before,
        "applied": float(r.events["applied"]),
        "sim_days": float(r.metadata["sim_days"]),
        "core_events_per_second": float(r.metadata["core_events_per_second"] or 0.0),
    }


def in_child(overrides: Sequence[str], timeout_s: float | None = None) -> dict[str, float]:
    """Run `child` in a fresh interpreter; raises with the child's stderr if it fails."""
    cmd = [sys.executable, "-m", "bench.scale", "--child", json.dumps(list(overrides))]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError(
            f"one replication did not finish within {timeout_s:g} s ({' '.join(overrides)})"
        ) from None
    total = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(MARK)]
    if p.returncode != 0 or not lines:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"child run failed (exit {p.returncode}):\n{tail}")
    out = json.loads(lines[-1][len(MARK) :])
    out["process_s"] = total
    return out


def run(
    quick: bool = False,
    repeats: int = 3,
    *,
    stores: int = 180,
    skus: int = 1000,
    days: float = 42,
    heavy_repeats: int = 1,
    timeout_s: float = 3600.0,
) -> Result:
    if quick:
        stores, skus, days = 4, 5, 1
    reps = max(1, repeats if quick else heavy_repeats)
    overrides = sized(stores, skus, days)
    size = f"{stores} stores × {skus:,} skus × {days:g} days"
    rows: list[dict[str, object]] = []
    runs = []
    for i in range(reps):
        say(f"rep {i + 1}/{reps}: case-study {size} in a fresh process …")
        try:
            r = in_child(overrides, timeout_s)
        except TimeoutError as exc:
            say(str(exc))
            rows.append({"rep": i + 1, "size": size, "wall s (simulate)": f"> {timeout_s:g}"})
            summary = f"did not finish within {timeout_s:g} s ({size}, {POLICY})"
            return result(NAME, TITLE, TARGET, None if quick else False, summary, rows)
        runs.append(r)
        say(
            f"rep {i + 1}/{reps}: {r['wall_s']:.1f} s, peak {r['peak_rss_mib']:,.0f} MiB, "
            f"{r['applied']:,.0f} events applied"
        )
        rows.append(
            {
                "rep": i + 1,
                "size": size,
                "wall s (simulate)": r["wall_s"],
                "peak RSS MiB (process)": r["peak_rss_mib"],
                "RSS MiB before the run": r["rss_before_run_mib"],
                "events applied": int(r["applied"]),
                "sim days/s": r["sim_days"] / r["wall_s"],
                "core events/s (KPIS.md)": r["core_events_per_second"],
                "child process s (incl. imports)": r["process_s"],
            }
        )
    wall = median(r["wall_s"] for r in runs)
    peak = median(r["peak_rss_mib"] for r in runs)
    if reps > 1:
        rows.append(
            {
                "rep": "median",
                "size": size,
                "wall s (simulate)": wall,
                "peak RSS MiB (process)": peak,
                "sim days/s": days / wall,
            }
        )
    met = None if quick else (wall <= 60.0 and peak <= 2048.0)
    summary = (
        f"{wall:.1f} s wall, peak {peak / 1024:.2f} GiB, {days / wall:.2f} sim days/s "
        f"({size}, {POLICY}; {reps} run{'s, median' if reps > 1 else ''})"
    )
    return result(NAME, TITLE, TARGET, met, summary, rows)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale")
    ap.add_argument("--child", metavar="JSON", help="overrides as a JSON list (internal)")
    args, rest = ap.parse_known_args(argv)
    if args.child is not None:
        out = child(json.loads(args.child))
        print(MARK + json.dumps(out), flush=True)
        return 0
    from .run import main as run_main

    return run_main(["--only", NAME, *rest])


if __name__ == "__main__":
    raise SystemExit(main())
