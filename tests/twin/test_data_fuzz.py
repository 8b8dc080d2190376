"""A fuzzed package never produces a traceback: checking it gives a package or problems,
fitting a package that passed gives a fit or a `FitError`, and `omnitwin data validate`
exits 0 or 2."""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scenarios import load
from twin.cli import app
from twin.data.commands import fit_package
from twin.data.fit import FitError, fit
from twin.data.network import build_package_network
from twin.data.package import check, date_of
from twin.data.tables import TABLES
from twin.rand import Streams

from .package_kit import TINY

CODES = ["S1", "S2", "DC1", "RC1", "K1", "K2", "K3", "SUP1", "SUP2", "web", "store", "x"]
cell = st.one_of(
    st.sampled_from(CODES),
    st.sampled_from(["store", "dc", "dark store", "3pl", "returns_centre", "ship", "collect"]),
    st.integers(-5, 50).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["2025-01-06", "2025-01-07", "2025-02-30", "2025-1-6", "1e400", "", " "]),
    st.text(max_size=8),
)


@st.composite
def table_text(draw: st.DrawFn, name: str) -> str | bytes | None:
    """A table's file: absent, the tiny package's, or a fuzzed CSV (sometimes not text)."""
    kind = draw(st.sampled_from(["tiny", "fuzzed", "fuzzed", "absent", "bytes"]))
    if kind == "absent":
        return None
    if kind == "tiny":
        return TINY.get(name, "")
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    names = [c.name for c in next(t for t in TABLES if t.name == name).columns]
    header = draw(st.lists(st.sampled_from([*names, "extra", ""]), min_size=1, max_size=9))
    rows = draw(
        st.lists(st.lists(cell, min_size=len(header) - 1, max_size=len(header) + 1), max_size=8)
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


package_files = st.fixed_dictionaries({t.name: table_text(t.name) for t in TABLES})


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=package_files)
def test_a_fuzzed_package_never_raises(files: dict[str, str | bytes | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, content in files.items():
            if content is None:
                continue
            path = folder / f"{name}.csv"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8", errors="surrogatepass")
        package, found = check(folder)
        assert (package is None) == bool(found.problems) or package is None
        for p in found.problems:
            assert p.file and p.message
        if package is not None:
            with contextlib.suppress(FitError):
                fit(package)
        res = CliRunner().invoke(app, ["data", "validate", str(folder)])
        assert res.exit_code in (0, 2), res.output
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


@st.composite
def sales_history(draw: st.DrawFn) -> str:
    """Valid sales of the tiny package: any days (28 to 90 of them), stores closed on some
    weekdays, skus that never sell, bursts, online orders or none."""
    n_days = draw(st.integers(28, 90))
    closed = draw(st.sets(st.integers(0, 6), max_size=3))
    rows = ["date,location,sku,units,channel,order_id,fulfilment"]
    start = 20094  # 2025-01-06, a Monday
    sellers = draw(st.lists(st.sampled_from(["K1", "K2", "K3"]), min_size=1, unique=True))
    online = draw(st.booleans())
    for d in range(n_days):
        day = date_of(start + d).isoformat()
        if d % 7 in closed and d not in (0, n_days - 1):
            continue
        for store in ("S1", "S2"):
            for sku in sellers:
                units = draw(st.integers(0, 3)) * draw(st.sampled_from([1, 1, 1, 7]))
                if d in (0, n_days - 1):
                    units = max(units, 1)  # the history spans the days drawn
                if units:
                    rows.append(f"{day},{store},{sku},{units},,,")
        if online and draw(st.booleans()):
            rows.append(f"{day},DC1,{sellers[0]},1,web,o{d},ship")
            rows.append(f"{day},S1,{sellers[-1]},1,web,c{d},collect")
    return "\n".join(rows) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(sales=sales_history())
def test_any_valid_history_fits_and_builds_a_network_of_finite_numbers(sales: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in {**TINY, "sales": sales}.items():
            (root / "pkg").mkdir(exist_ok=True)
            (root / "pkg" / f"{name}.csv").write_text(text)
        fit_package(root / "pkg", root / "shop.yaml")
        sc = load(str(root / "shop.yaml"), ["horizon_days=3"])
        net = build_package_network(sc, Streams(0).network)
        assert net.levels is not None and net.package is not None
        for a in (net.lam_store, net.lam_pickup, net.popularity, net.package.store_factor):
            assert np.isfinite(a).all()
        assert (net.levels[0] <= net.levels[1]).all()
        report = (root / "shop.fit" / "report.md").read_text()
        assert "nan" not in report.lower()
