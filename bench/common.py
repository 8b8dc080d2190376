"""What every benchmark shares: the result contract, medians, the exponent fit,
scenario sizes, machine facts and Markdown tables."""

from __future__ import annotations

import gc
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
SCENARIO = "case-study"
POLICY = "orchestrated"
SEED = 1

Row = dict[str, object]
Result = dict[str, Any]
RunFn = Callable[..., Result]
RESULT_KEYS = ("name", "title", "target", "met", "summary", "table")


def result(
    name: str,
    title: str,
    target: str,
    met: bool | None,
    summary: str,
    table: list[Row],
    **extra: Any,
) -> Result:
    """The dict every bench module's `run()` returns (extra keys, e.g. `files`, are allowed)."""
    return {
        "name": name,
        "title": title,
        "target": target,
        "met": met,
        "summary": summary,
        "table": table,
        **extra,
    }


def check_result(r: object) -> list[str]:
    """What is wrong with a module's return value (empty when it keeps the contract)."""
    if not isinstance(r, Mapping):
        return [f"run() returned {type(r).__name__}, not a dict"]
    problems = [f"missing key {k!r}" for k in RESULT_KEYS if k not in r]
    if "met" in r and r["met"] not in (True, False, None):
        problems.append(f"met must be True, False or None, got {r['met']!r}")
    if "table" in r and not (
        isinstance(r["table"], list) and all(isinstance(x, Mapping) for x in r["table"])
    ):
        problems.append("table must be a list of dicts")
    return problems


def say(msg: str) -> None:
    """A progress line (stdout, flushed, so `make bench` shows where it is)."""
    print(f"  · {msg}", flush=True)


def median(xs: Iterable[float]) -> float:
    vals = [float(x) for x in xs]
    return statistics.median(vals) if vals else math.nan


def quiet() -> None:
    """Collect garbage before a timed section, so one section does not pay for another."""
    gc.collect()


def forget_models() -> None:
    """Let finished models go. Mesa 3.3 keeps every model alive for the life of the
    process through the class attribute `Agent._ids` (mesa issue #3179, fixed upstream
    by mesa PR #3180), so each `simulate()` in a long-lived process leaks its whole
    model; without this, later benchmarks would run in a heap grown by earlier ones.
    Call it only when no model is being built or run. A no-op once Mesa is fixed.
    """
    mesa = sys.modules.get("mesa")
    ids = getattr(getattr(mesa, "Agent", None), "_ids", None)
    if isinstance(ids, dict):
        ids.clear()
    gc.collect()


def fit_exponent(sizes: Sequence[float], times: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of log(time) = a + b·log(size); returns (b, a).

    b is the growth exponent: 1.0 is linear, 2.0 quadratic.
    """
    n = np.asarray(sizes, dtype=float)
    t = np.asarray(times, dtype=float)
    if n.shape != t.shape or n.size < 2:
        raise ValueError("fit_exponent: need at least two (size, time) pairs of equal length")
    if (n <= 0).any() or (t <= 0).any():
        raise ValueError("fit_exponent: sizes and times must be > 0")
    if np.unique(n).size < 2:
        raise ValueError("fit_exponent: need at least two different sizes")
    b, a = np.polyfit(np.log(n), np.log(t), 1)
    return float(b), float(a)


def sized(
    stores: int | None = None, skus: int | None = None, days: float | None = None
) -> list[str]:
    """`--set` overrides that size the case-study (None keeps the scenario's own value)."""
    out = []
    if stores is not None:
        out.append(f"network.stores.count={stores}")
    if skus is not None:
        out.append(f"skus.count={skus}")
    if days is not None:
        out.append(f"horizon_days={days:g}")
    return out


def load_scenario(overrides: Sequence[str]) -> Any:
    from scenarios import load

    return load(SCENARIO, overrides=list(overrides))


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


# ------------------------------------------------------------------------------ formatting
def fmt(v: object) -> str:
    """A figure for a table: 3 significant digits, thousands separated, booleans as ✔/✘."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "✔" if v else "✘"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        if math.isinf(v):
            return "∞"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        if a == 0:
            return "0"
        return f"{v:.3g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return "_(no rows)_"
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    lines = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ machine
def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def git_commit() -> str:
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (+ uncommitted changes)" if dirty else "")


def ram_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return math.nan


def machine() -> dict[str, str]:
    return {
        "cores": str(os.cpu_count()),
        "RAM": f"{ram_gib():.1f} GiB",
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "simpy": _version("simpy"),
        "mesa": _version("mesa"),
        "dask": _version("dask"),
        "distributed": _version("distributed"),
        "supplynetpy": _version("supplynetpy"),
        "git commit": git_commit(),
    }
