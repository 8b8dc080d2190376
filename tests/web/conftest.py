"""The planner page's browser tests: `omnitwin serve` as a separate process on a loopback
port (one per test module, over a fresh database) and Debian's /usr/bin/chromium driven
by Playwright. Without Chromium or Playwright the tests skip locally and fail on CI
(CI=true)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.served import served

CHROMIUM = os.environ.get("OMNITWIN_TEST_CHROMIUM", "/usr/bin/chromium")
# Playwright adds --headless and a new empty --user-data-dir itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TABLE_TIMEOUT_MS = 60_000
#: where to keep the screenshots instead of the test's tmp_path (to look at them)
SHOTS = os.environ.get("OMNITWIN_TEST_SCREENSHOTS")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must test the planner page in a real browser (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`omnitwin serve` over a fresh SQLite database and results folder."""
    tmp = tmp_path_factory.mktemp("planner")
    with served(tmp, "server", max_concurrent_runs="2", events_poll_seconds="0.1") as client:
        yield str(client.base_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        _unavailable(f"no Chromium at {CHROMIUM} (found: {found}); apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto("/")
    pg.wait_for_selector("body[data-ready=true]", timeout=15_000)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
