"""The fit of a package's sales: a sample drawn from known rates and shapes fits back to
them within sampling error, over several seeds; a short history is refused by name; the
fit writes a scenario that validates, a fit folder and a report per sku class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scenarios import load
from twin.cli import app
from twin.data.fit import FitError, fit, read_fit
from twin.data.package import WALK_IN
from twin.data.package import load as load_package
from twin.data.sample import CLASSES, write_sample
from twin.data.shapes import month, shape

from .package_kit import write


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_package_from_known_rates_fits_back_within_sampling_error(
    tmp_path: Path, seed: int
) -> None:
    truth = write_sample(tmp_path, stores=12, skus=120, days=365, seed=seed)
    package = load_package(tmp_path)
    f = fit(package)
    n_days = f.days
    assert n_days == 365 and f.store_codes == truth.store_codes

    # each (sku, store): z = (fitted − true mean) / its standard error over the year; a
    # purchase of 1 + Poisson(m − 1) units makes a day's variance λ·E[S²]/m
    m = np.array([CLASSES[c][5] for c in truth.sku_class])
    var_factor = ((m - 1) + m * m) / m
    se = np.sqrt(truth.rates * var_factor[:, None] / n_days)
    z = (f.rates - truth.rates) / se
    assert abs(z.mean()) < 0.1
    assert 0.85 < z.std() < 1.1
    assert (np.abs(z) > 4).mean() < 0.002
    total_se = np.sqrt((truth.rates * var_factor[:, None]).sum() / n_days)
    assert abs(f.rates.sum() - truth.rates.sum()) < 4 * total_se

    # each class's shape: weekday factors and monthly levels, within 4 standard errors
    days = np.arange(f.first_day, f.last_day + 1)
    sales = package.sales
    assert sales is not None
    cls = np.array(truth.sku_class)
    for c in f.classes:
        units = sales.units[(sales.channel == WALK_IN) & (cls[sales.sku] == c)].sum()
        true = shape(np.array(CLASSES[c][3]), np.array(CLASSES[c][4]), days)
        true /= true.mean()
        fitted = f.store_shapes[c].on(days)
        dow_true = np.array(CLASSES[c][3]) / np.mean(CLASSES[c][3])
        tol = 4 * np.sqrt(7 / units) * np.sqrt(m[cls == c].mean()) + 0.01
        assert np.abs(f.store_shapes[c].dow / dow_true - 1).max() < tol, c
        for mo in range(12):
            inside = month(days) == mo
            share = true[inside].sum() / true.sum()
            tol = 4 * np.sqrt(1 / (units * share)) * np.sqrt(m[cls == c].mean()) + 0.05
            assert abs(fitted[inside].sum() / true[inside].sum() - 1) < tol, (c, mo)

    # online channels: orders a day, units an order, share collected
    for ch in f.channels:
        n_orders = ch.orders_per_day * n_days
        assert abs(ch.orders_per_day - truth.orders_per_day[ch.code]) < 4 * np.sqrt(
            truth.orders_per_day[ch.code] / n_days
        )
        lines = truth.lines_per_order[ch.code]
        assert abs(ch.lines_per_order - lines) < 4 * np.sqrt((lines - 1) / n_orders) + 1e-9
        p = truth.bopis_share[ch.code]
        assert abs(ch.bopis_share - p) < 4 * np.sqrt(p * (1 - p) / n_orders) + 1e-9
        assert ch.kind == ("web" if ch.code == "web" else "marketplace")


def test_intermittent_skus_keep_a_rate_where_they_did_not_sell(tmp_path: Path) -> None:
    write_sample(tmp_path, stores=6, skus=40, days=120, seed=4, units_per_cell_day=0.05)
    package = load_package(tmp_path)
    f = fit(package)
    sales = package.sales
    assert sales is not None
    walk = sales.channel == WALK_IN
    sold = np.zeros_like(f.rates, dtype=bool)
    store_col = {loc: i for i, loc in enumerate(package.stores)}
    sold[sales.sku[walk], [store_col[x] for x in sales.location[walk].tolist()]] = True
    sold_somewhere = sold.any(axis=1)
    never_here = ~sold & sold_somewhere[:, None]
    assert never_here.any()  # the sample is intermittent: cells that never sold
    assert (f.rates[never_here] > 0).all()  # ... still believed to sell a little
    assert (f.rates[sold_somewhere] > 0).all()
    # the shrinkage keeps each class's total units
    cls = np.array(package.skus.sku_class)
    for c in f.classes:
        rows = walk & (cls[sales.sku] == c)
        assert f.rates[cls == c].sum() == pytest.approx(sales.units[rows].sum() / f.days)


def test_a_history_shorter_than_four_weeks_is_refused(tmp_path: Path) -> None:
    package = load_package(write(tmp_path))
    with pytest.raises(FitError, match=r"sales: 3 days of history .* at least 28"):
        fit(package)
    res = CliRunner().invoke(app, ["data", "fit", str(tmp_path), "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2
    assert "sales: 3 days of history (2025-01-06 to 2025-01-08)" in res.output


def test_fit_writes_a_valid_scenario_a_fit_folder_and_a_report(tmp_path: Path) -> None:
    write_sample(tmp_path / "pkg", stores=4, skus=30, days=70, seed=8)
    out = tmp_path / "sc" / "shop.yaml"
    res = CliRunner().invoke(app, ["data", "fit", str(tmp_path / "pkg"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    sc = load(str(out))
    assert sc.name == "shop"
    assert sc.network.stores.count == 4 and sc.skus.count == 30
    ref = sc.network.package
    assert ref is not None
    assert Path(ref.path) == (tmp_path / "pkg").resolve()  # written relative, read absolute
    assert "path: ../pkg" in out.read_text()
    assert ref.start_date is not None and ref.start_date.weekday() == 0
    assert [c.code for c in sc.channels] == ["mkt-a", "web"]
    assert sc.channels[1].bopis_share > 0
    fit_dir = out.with_suffix(".fit")
    for name in ("rates.parquet", "shapes.parquet", "online.parquet", "fit.json", "fit.png"):
        assert (fit_dir / name).is_file()
    files = read_fit(fit_dir)
    assert set(files.store_shapes) == {"general", "apparel", "electronics", "seasonal"}
    report = (fit_dir / "report.md").read_text()
    for c in ("general", "apparel", "electronics", "seasonal", "online"):
        assert f"| {c}" in report
    assert "WAPE daily" in report and "dispersion" in report and "## Reorder levels" in report
    assert "negative units: returns" in report  # ignored rows, with the reason
