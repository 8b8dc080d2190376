"""A retailer's data package on the planner page, in a real headless Chromium: a sample
package uploaded from the page joins the scenario picker as `package:<id>` (and is there
again on a fresh load), shows what it holds with its fit report and plot, and a comparison
on it completes; a bad package lists its problems by file, row and column without losing
the form; a zip over the service's limit says so."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.served import served
from tests.twin.package_kit import TINY, edit
from tests.web.conftest import SHOTS, TABLE_TIMEOUT_MS
from twin.data.sample import write_sample
from twin.report import fmt

UPLOAD_TIMEOUT_MS = 60_000


def zipped(files: dict[str, bytes | str], folder: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(f"{folder}{name}", data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample package, small (as tests/api/test_packages.py writes it), zipped in a folder."""
    folder = tmp_path_factory.mktemp("pkg")
    write_sample(folder / "shop", stores=3, skus=12, days=42, seed=3)
    path = folder / "shop.zip"
    tables = sorted((folder / "shop").iterdir())
    path.write_bytes(zipped({p.name: p.read_bytes() for p in tables}, "shop/"))
    return path


def upload(page: Any, path: Path) -> None:
    page.set_input_files("#package-file", str(path))
    page.click("#package-upload")


def test_an_uploaded_package_is_a_scenario_that_runs(
    page: Any, base_url: str, sample_zip: Path, tmp_path: Path
) -> None:
    assert page.locator("#package-options option").count() == 0  # a fresh service
    assert page.get_attribute("#package-file", "accept") == ".zip,application/zip"
    upload(page, sample_zip)
    # chosen in the picker once its fitted scenario fills the form
    page.wait_for_selector('body[data-scenario^="package:"]', timeout=UPLOAD_TIMEOUT_MS)
    [pkg] = httpx.get(f"{base_url}/v1/packages").json()["items"]
    assert page.input_value("#scenario") == pkg["scenario"]
    option = page.text_content(f'#package-options option[value="{pkg["scenario"]}"]')
    assert option == f"{pkg['name']} (3 stores, 12 SKUs, 42 days of sales)"
    assert "Uploaded and fitted" in page.text_content("#package-status")
    assert page.is_hidden("#package-errors")

    # what it holds, what was left out, and its fit report and plot
    info = page.text_content("#package-info")
    assert page.is_visible("#package-info")
    assert pkg["scenario"] in info
    assert "3 stores (and 2 other locations), 12 SKUs, 3 suppliers" in info
    h = pkg["history"]
    assert f"42 days, {h['first']} to {h['last']} ({pkg['sales_rows']} rows)" in info
    assert "mkt-a, web" in info
    for ignored in pkg["ignored"]:
        assert ignored["reason"] in page.text_content("#package-ignored")
    assert page.locator("#package-ignored li").count() == len(pkg["ignored"]) > 0
    one = next(i for i in pkg["ignored"] if i["count"] == 1)
    line = f"{one['file']}: 1 row — {one['reason']} (row {one['first_rows'][0]})"
    assert line in page.text_content("#package-ignored")
    report = page.get_attribute("#package-report", "href")
    plot = page.get_attribute("#package-plot", "href")
    assert (report, plot) == (pkg["links"]["report"], pkg["links"]["plot"])
    assert "WAPE daily" in httpx.get(base_url + report).text
    assert httpx.get(base_url + plot).headers["content-type"] == "image/png"
    # the fitted scenario's knobs; its stores are the package's own
    assert page.text_content("#scenario-info .facts").startswith("28 days · 3 stores · 12 SKUs")
    assert page.input_value("#stores") == "3" and page.is_disabled("#stores")
    page.screenshot(path=str(SHOTS or tmp_path) + "/planner_package.png", full_page=True)

    # a comparison on it, started from the form, completes with the API's numbers
    page.fill("#horizon", "2")
    page.fill("#replications", "2")
    page.click("#start")
    page.wait_for_selector("#kpi-table tbody tr", timeout=TABLE_TIMEOUT_MS)
    job = httpx.get(f"{base_url}/v1/comparisons/{page.evaluate('location.hash.slice(1)')}").json()
    assert job["status"] == "done" and job["request"]["scenario"] == pkg["scenario"]
    assert job["request"]["overrides"] == ["horizon_days=2"]
    assert page.text_content("#current-title") == f"Comparison · {pkg['name']}"
    legacy = job["result"]["policies"]["legacy"]
    td = "#kpi-table tr[data-kpi=orders_total] td[data-policy=legacy]:not(.delta) .val"
    assert page.text_content(td) == fmt(legacy["kpis"]["orders_total"])
    assert legacy["kpis"]["units_demanded"] > 0

    # on a fresh load the package is in the picker (GET /v1/packages), and the same zip
    # uploaded again is the same package
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#scenario") == "peak" and page.is_hidden("#package-info")
    assert page.locator("#package-options option").count() == 1
    page.select_option("#scenario", pkg["scenario"])
    page.wait_for_selector(f'body[data-scenario="{pkg["scenario"]}"]')
    assert "12 SKUs" in page.text_content("#package-info")
    page.select_option("#scenario", "baseline")
    page.wait_for_selector("body[data-scenario=baseline]")
    assert page.is_hidden("#package-info") and page.is_enabled("#stores")
    upload(page, sample_zip)
    page.wait_for_selector(f'body[data-scenario="{pkg["scenario"]}"]', timeout=15_000)
    assert "uploaded before" in page.text_content("#package-status")
    assert page.locator("#package-options option").count() == 1


def test_a_bad_package_lists_its_problems_and_keeps_the_form(
    page: Any, base_url: str, tmp_path: Path
) -> None:
    page.select_option("#scenario", "outage")
    page.wait_for_selector("body[data-scenario=outage]")
    page.fill("#replications", "4")
    page.fill("#horizon", "9")
    before = httpx.get(f"{base_url}/v1/packages").json()["items"]

    # a sales row naming a location the package does not have
    bad = tmp_path / "bad.zip"
    sales = edit("sales", "2025-01-06,S2,K2,1", "2025-01-06,S9,K2,1")
    bad.write_bytes(zipped({f"{k}.csv": v for k, v in {**TINY, "sales": sales}.items()}))
    upload(page, bad)
    page.wait_for_selector("#package-errors:not([hidden])", timeout=UPLOAD_TIMEOUT_MS)
    assert "1 problem to fix" in page.text_content("#package-errors")
    cells = page.eval_on_selector_all(
        "#package-problems tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert cells == [["sales.csv", "2", "location", "unknown location 'S9' (not in locations)"]]
    # what the checks left out is said apart from the problems; never the raw JSON
    errors = page.text_content("#package-errors")
    assert "returns centres" in errors and '"loc"' not in errors and "{" not in errors
    assert page.get_attribute("#package-file", "aria-invalid") == "true"
    # nothing lost: the scenario and the knobs as they were, and no package added
    assert page.input_value("#scenario") == "outage"
    assert page.input_value("#replications") == "4" and page.input_value("#horizon") == "9"
    assert page.locator("#package-options option").count() == len(before)
    assert page.is_hidden("#package-info")
    page.screenshot(path=str(SHOTS or tmp_path) + "/planner_package_errors.png", full_page=True)

    # many problems: the first twenty, and a count of the rest
    many = tmp_path / "many.zip"
    rows = "".join(f"2025-01-08,X{i},K1,1,,,\n" for i in range(25))
    many.write_bytes(
        zipped({f"{k}.csv": v for k, v in {**TINY, "sales": TINY["sales"] + rows}.items()})
    )
    upload(page, many)
    page.wait_for_selector("#package-errors:has-text('25 problems')", timeout=UPLOAD_TIMEOUT_MS)
    assert page.locator("#package-problems tbody tr").count() == 20
    assert "and 5 more problems" in page.text_content("#package-errors")
    first = page.text_content("#package-problems tbody tr:first-child")
    assert first == "sales.csv9locationunknown location 'X0' (not in locations)"

    # not a zip at all: the service's message, no table of rows
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    upload(page, junk)
    page.wait_for_selector("#package-errors:has-text('1 problem to fix')", timeout=15_000)
    assert "not a zip archive" in page.text_content("#package-problems")

    # no file chosen
    page.set_input_files("#package-file", [])
    page.click("#package-upload")
    assert page.text_content("#package-errors") == "Choose a zip of the package's tables first."


def test_a_zip_over_the_size_limit_says_so(browser: Any, sample_zip: Path, tmp_path: Path) -> None:
    with served(tmp_path, "small", max_package_bytes="1024") as client:
        context = browser.new_context(base_url=str(client.base_url))
        try:
            page = context.new_page()
            page.goto("/")
            page.wait_for_selector("body[data-ready=true]", timeout=15_000)
            upload(page, sample_zip)
            page.wait_for_selector("#package-errors:not([hidden])", timeout=15_000)
            text = page.text_content("#package-errors")
            assert text.startswith("shop.zip is too large for this service")
            assert "OMNITWIN_MAX_PACKAGE_BYTES" in text
            assert page.locator("#package-options option").count() == 0
        finally:
            context.close()
