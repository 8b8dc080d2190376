"""Apps over every database the service supports: SQLite always, PostgreSQL when
OMNITWIN_TEST_POSTGRES_URL names one (on CI, CI=true, a missing URL fails the tests
instead of skipping them). Every app starts from empty tables."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import Database
from api.settings import Settings

POSTGRES_ENV = "OMNITWIN_TEST_POSTGRES_URL"

#: a network small enough that a replication takes a fraction of a second
TINY = {
    "horizon_days": 2,
    "network.stores.count": 3,
    "skus.count": 5,
    "channels[0].orders_per_day": 30,
    "channels[1].orders_per_day": 10,
}


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str | None]:
    """The PostgreSQL database of OMNITWIN_TEST_POSTGRES_URL with a schema of this test
    session's own first on the search path (created here, dropped after): two suites on
    one server (two checkouts, or CI runs side by side) never see each other's tables."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        yield None
        return
    import sqlalchemy as sa

    schema = f"omnitwin_test_{os.getpid()}_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        options = {"options": f"-csearch_path={schema}"}
        yield sa.make_url(url).update_query_dict(options).render_as_string(hide_password=False)
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema_url: str | None
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'api.db'}"
    if not postgres_schema_url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set: CI must test the API on PostgreSQL")
        pytest.skip(f"{POSTGRES_ENV} not set")
    return postgres_schema_url


MakeApp = Callable[..., FastAPI]


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> MakeApp:
    """`make_app(**settings)`: a fresh app (empty tables); `fresh=False` keeps the data
    (a restart); `start_workers=False` keeps submitted runs queued."""

    def make(*, fresh: bool = True, start_workers: bool = True, **overrides: Any) -> FastAPI:
        values: dict[str, Any] = {
            "database_url": database_url,
            "results_dir": tmp_path / "results",
            "events_poll_seconds": 0.05,
            "api_key": None,
            "executor": "serial",
            # in the worker thread, so a test can reach into a run (monkeypatch); the child
            # process path has tests of its own (test_isolation.py) and serves e2e
            "run_isolation": "thread",
        }
        values.update(overrides)
        settings = Settings(**values)
        if fresh:
            db = Database(settings.db_url)
            db.drop_all()
            db.dispose()
        return create_app(settings, start_workers=start_workers)

    return make


@pytest.fixture
def client(make_app: MakeApp) -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


@pytest.fixture
def idle_client(make_app: MakeApp) -> Iterator[TestClient]:
    """No workers: every run stays queued."""
    with TestClient(make_app(start_workers=False)) as c:
        yield c


def run_body(**extra: Any) -> dict[str, Any]:
    return {
        "scenario": "baseline",
        "policy": "legacy",
        "replications": 1,
        "overrides": TINY,
    } | extra


def wait_until_finished(client: TestClient, url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("done", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish in {timeout} s")
