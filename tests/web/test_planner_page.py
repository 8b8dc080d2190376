"""The planner page in a real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright): `omnitwin serve` as a separate process on a loopback port, a small comparison
started from the form, the KPI table checked against the API's own result, and the
validation errors of a bad request shown next to the fields.

Without Chromium or Playwright the tests skip locally and fail on CI (CI=true)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.web.conftest import SHOTS, TABLE_TIMEOUT_MS
from twin.money import total_cost_per_year
from twin.report import TABLE_KPIS, fmt, fmt_ci


def fill_small_comparison(page: Any) -> None:
    page.select_option("#scenario", "peak")
    page.wait_for_selector("body[data-scenario=peak]")
    page.fill("#horizon", "2")
    page.fill("#stores", "3")
    page.fill("#peak", "4")
    page.fill("#replications", "2")
    page.click("#more summary")
    page.fill("#extra", "skus.count=10")


def test_a_small_comparison_shows_the_apis_numbers(
    page: Any, base_url: str, tmp_path: Path
) -> None:
    fill_small_comparison(page)
    page.click("#start")
    # Live progress from the server-sent events, then the table (bounded waits).
    page.wait_for_selector("#progress-box:not([hidden]), #result:not([hidden])", timeout=10_000)
    page.wait_for_selector("#kpi-table tbody tr", timeout=TABLE_TIMEOUT_MS)
    job_id = page.evaluate("location.hash.slice(1)")

    job = httpx.get(f"{base_url}/v1/comparisons/{job_id}").json()
    assert job["status"] == "done"
    request, result = job["request"], job["result"]
    assert request["policies"] == ["legacy", "orchestrated"]
    assert request["replications"] == 2
    # The knobs became overrides: the busiest day (×3.4) at ×4 and the others scaled with it.
    assert "network.stores.count=3" in request["overrides"]
    assert "horizon_days=2" in request["overrides"]
    assert "demand.events[2].multiplier=4" in request["overrides"]
    assert "demand.events[0].multiplier=3.176" in request["overrides"]
    assert "skus.count=10" in request["overrides"]

    # Every row of the table is a KPI the page knows (its list agrees with twin/report.py).
    keys = page.eval_on_selector_all("#kpi-table tbody tr", "rows => rows.map(r => r.dataset.kpi)")
    assert keys == [k for k, *_ in TABLE_KPIS]

    # Fill rate per policy: the mean and the interval, formatted as the report formats them.
    for policy in request["policies"]:
        res = result["policies"][policy]
        td = f"#kpi-table tr[data-kpi=fill_rate] td[data-policy={policy}]:not(.delta)"
        assert page.text_content(f"{td} .val") == fmt(res["kpis"]["fill_rate"], "%")
        assert page.text_content(f"{td} .ci") == fmt_ci(res["ci95"]["fill_rate"], "%")
        orders = f"#kpi-table tr[data-kpi=orders_total] td[data-policy={policy}]:not(.delta)"
        assert page.text_content(f"{orders} .val") == fmt(res["kpis"]["orders_total"])

    # The differences to the baseline: the API's table cells, highlighted where significant.
    rows = {r[0]: r for r in result["table"]["rows"]}
    diffs = result["differences"]["orchestrated"]
    for key, label, unit, better in TABLE_KPIS:
        api_cell = rows[label + (f" ({unit})" if unit and unit != "%" else "")][3]
        td = page.query_selector(f"#kpi-table tr[data-kpi={key}] td.delta")
        shown = td.query_selector(".val").text_content()
        assert api_cell.removesuffix(" *").startswith(shown)
        classes = td.get_attribute("class").split()
        significant = bool(diffs[key] and diffs[key]["significant"])
        assert ("sig" in classes) == significant, key
        if significant and better is not None and diffs[key]["mean"] != 0:
            good = (diffs[key]["mean"] > 0) == better
            assert ("better" if good else "worse") in classes, key
    assert page.locator("#kpi-table td.sig").count() > 0

    # The plots are images that loaded; the downloads point at the report and the CSV.
    page.wait_for_function(
        "[...document.querySelectorAll('#plots img')].every(i => i.complete)", timeout=15_000
    )
    widths = page.eval_on_selector_all("#plots img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == len(job["plots"]) > 0 and all(w > 0 for w in widths)
    # ... shown at a size their type can be read at (the KPI overview across the row)
    shown = page.eval_on_selector_all("#plots img", "imgs => imgs.map(i => i.clientWidth)")
    assert min(shown) >= 400, shown
    assert page.get_attribute("#plots figure:first-child", "class") == "wide"
    # ... and a click opens one full size
    page.click("#plots figure:nth-child(2) button.plot")
    page.wait_for_selector("#plot-view[open]")
    page.wait_for_function("document.querySelector('#plot-full').complete")
    assert page.eval_on_selector("#plot-full", "i => i.naturalWidth") > 0
    page.click("#plot-close")
    assert page.get_attribute("#plot-view", "open") is None

    # The money a year per policy, and the business case against the baseline
    totals = page.eval_on_selector_all(
        "#money-table tr[data-money=total_cost_per_year] td", "tds => tds.map(t => t.textContent)"
    )
    assert totals == [
        f"{round(total_cost_per_year(result['policies'][p]['money'])):,}"
        for p in request["policies"]
    ]
    assert "orchestrated against legacy: net benefit" in page.text_content("#benefit")

    # The peak's events after the 2-day horizon: the page says what this run could not show
    assert job["warnings"] and page.is_visible("#job-warnings")
    for warning in job["warnings"]:
        assert warning in page.text_content("#job-warnings")
    report = page.get_attribute("#dl-report", "href")
    series = page.get_attribute("#dl-series", "href")
    assert httpx.get(base_url + report).text.startswith("#")
    csv = httpx.get(base_url + series)
    assert csv.headers["content-type"].startswith("text/csv") and "policy" in csv.text[:200]

    page.screenshot(path=str(SHOTS or tmp_path) + "/planner_page.png", full_page=True)

    # Past comparisons: listed after a fresh load, and reopened with a click.
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.is_hidden("#result")
    page.click(f"#past tr[data-id='{job_id}'] button")
    page.wait_for_selector("#kpi-table tbody tr", timeout=10_000)
    td = "#kpi-table tr[data-kpi=fill_rate] td[data-policy=legacy]:not(.delta) .val"
    assert page.text_content(td) == fmt(result["policies"]["legacy"]["kpis"]["fill_rate"], "%")
    # ... and from its address.
    page.goto(f"/#{job_id}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.text_content(td) == fmt(result["policies"]["legacy"]["kpis"]["fill_rate"], "%")


def test_validation_errors_show_next_to_the_fields(page: Any, tmp_path: Path) -> None:
    page.select_option("#scenario", "baseline")
    page.wait_for_selector("body[data-scenario=baseline]")
    page.fill("#stores", "100000")  # over the service's limit (OMNITWIN_MAX_STORES)
    page.fill("#replications", "0")
    page.uncheck("#policy-orchestrated")
    page.click("#start")
    page.wait_for_selector("#form-errors:not([hidden])", timeout=10_000)
    # Every problem at once: the body's own (pydantic) and the scenario's against the limits.
    assert "at least 2" in page.text_content("#policies-error")
    assert "greater than or equal to 1" in page.text_content("#replications-error")
    assert page.get_attribute("#replications", "aria-invalid") == "true"
    assert "OMNITWIN_MAX_STORES" in page.text_content("#stores-error")
    page.check("#policy-orchestrated")
    page.fill("#replications", "2")
    page.click("#start")
    page.wait_for_selector("#stores-error:not(:empty)", timeout=10_000)
    assert page.text_content("#policies-error") == ""
    assert "OMNITWIN_MAX_STORES" in page.text_content("#stores-error")
    assert "network.stores.count" in page.text_content("#form-errors")
    assert page.is_hidden("#result")
    page.screenshot(path=str(SHOTS or tmp_path) + "/planner_errors.png", full_page=True)


def test_faults_outside_the_horizon_are_flagged_before_starting(page: Any) -> None:
    page.select_option("#scenario", "outage")
    page.wait_for_selector("body[data-scenario=outage]")
    page.fill("#horizon", "2")
    page.fill("#stores", "3")
    warnings = page.text_content("#horizon-warnings")
    assert page.is_visible("#horizon-warnings")
    assert "The middleware outage starts at day 10" in warnings
    assert "after the 2-day horizon" in warnings
    assert "covers 5 stores; the network has 3" in warnings
    page.fill("#horizon", "21")
    page.fill("#stores", "20")
    assert page.is_hidden("#horizon-warnings")


def test_a_roadmap_shows_each_steps_value_the_waterfall_and_the_money(
    page: Any, base_url: str, tmp_path: Path
) -> None:
    page.check("#mode-roadmap")
    assert page.is_hidden("#policies-fieldset") and page.is_visible("#order-fieldset")
    assert page.text_content("#start") == "Start roadmap"
    page.select_option("#scenario", "baseline")
    page.wait_for_selector("body[data-scenario=baseline]")
    page.fill("#horizon", "2")
    page.fill("#stores", "3")
    page.fill("#replications", "2")
    page.click("#more summary")
    page.fill("#extra", "skus.count=6")
    page.click("#start")
    page.wait_for_selector("#kpi-table tbody tr[data-step]", timeout=TABLE_TIMEOUT_MS * 3)
    hash_ = page.evaluate("location.hash.slice(1)")
    assert hash_.startswith("roadmap/")
    job = httpx.get(f"{base_url}/v1/roadmaps/{hash_[8:]}").json()
    assert job["status"] == "done" and job["request"]["order"] == "seed"
    # the path table is the API's, step by step, with the platform and the net benefit
    steps = page.eval_on_selector_all(
        "#kpi-table tbody tr", "rows => rows.map(r => r.dataset.step)"
    )
    assert steps == [row[1] for row in job["result"]["table"]["rows"]]
    assert page.locator("#alone-table tbody tr").count() == len(job["result"]["alone"])
    # the money block: legacy against every step taken, and the business case
    legacy_total = total_cost_per_year(job["result"]["runs"]["legacy"]["money"])
    shown = page.text_content("#money-table tr[data-money=total_cost_per_year] td")
    assert shown == f"{round(legacy_total):,}"
    assert "Net benefit of every step against legacy" in page.text_content("#benefit")
    page.wait_for_function("document.querySelector('#plots img').complete", timeout=15_000)
    assert page.get_attribute("#plots figure:first-child", "class") == "wide"
    assert "waterfall" in page.get_attribute("#plots img", "src")
    page.screenshot(path=str(SHOTS or tmp_path) + "/planner_roadmap.png", full_page=True)
    # listed among past jobs, and reopened from its address
    page.goto("/")
    page.wait_for_selector("body[data-ready=true]")
    assert "Roadmap" in page.text_content(f"#past tr[data-id='{job['id']}']")
    page.goto(f"/#roadmap/{job['id']}")
    page.wait_for_selector("#kpi-table tbody tr[data-step]", timeout=10_000)
