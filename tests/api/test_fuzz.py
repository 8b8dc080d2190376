"""Property-based fuzzing of every operation in the app's own OpenAPI schema (schemathesis):
whatever the request, the service never answers with a server error (5xx).

The app runs over a temporary SQLite database with tiny limits, so a generated run or
comparison that passes validation is small (or rejected with 422/429), and at most one
executes at a time in the background. Its lifespan (database tables, worker pool) starts
with the first generated request and is shut down when this module's tests end."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402

from .conftest import TINY  # noqa: E402

TMP = Path(tempfile.mkdtemp(prefix="omnitwin-fuzz-"))
atexit.register(partial(shutil.rmtree, TMP, ignore_errors=True))

APP = create_app(
    Settings(
        database_url=f"sqlite:///{TMP / 'fuzz.db'}",
        results_dir=TMP / "results",
        api_key=None,
        executor="serial",
        max_concurrent_runs=1,
        max_queued_runs=2,
        max_horizon_days=3,
        max_stores=5,
        max_skus=10,
        max_replications=2,
        max_policies=3,
        events_poll_seconds=0.05,
        shutdown_grace_seconds=2,
    )
)

# The app's own schema; requests go to the app in-process (ASGI), never over the network.
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app() -> Iterator[None]:
    """Shut down the lifespan schemathesis started (worker pool, database), then remove
    the temporary folder."""
    yield
    try:
        from schemathesis.python.asgi import shutdown_lifespans
    except ImportError:  # pragma: no cover - other versions: left to schemathesis' atexit
        pass
    else:
        shutdown_lifespans()
    shutil.rmtree(TMP, ignore_errors=True)


SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@schema.parametrize()
@SETTINGS
def test_no_request_makes_the_service_fail_with_a_5xx(case):
    case.call_and_validate(checks=[not_a_server_error], timeout=10)


@pytest.fixture(scope="module")
def finished_jobs() -> dict[str, str]:
    """A finished tiny run and comparison, so the fuzzer reaches their files too."""
    from schemathesis.python.asgi import get_client

    ids = {}
    with get_client(APP) as client:
        for prefix, body in (
            ("/v1/runs", {"scenario": "baseline", "policy": "legacy", "replications": 1}),
            ("/v1/comparisons", {"scenario": "baseline", "replications": 1}),
        ):
            r = client.post(prefix, json={**body, "overrides": TINY})
            assert r.status_code == 202, r.text
            url = f"{prefix}/{r.json()['id']}"
            deadline = time.monotonic() + 60
            while (status := client.get(url).json()["status"]) in ("queued", "running"):
                assert time.monotonic() < deadline, f"{url} did not finish"
                time.sleep(0.05)
            assert status == "done", client.get(url).json()["error"]
            ids[prefix] = r.json()["id"]
    return ids


@schema.include(path_regex=r"\{job_id\}").parametrize()
@SETTINGS
def test_no_request_about_a_finished_job_fails_with_a_5xx(case, finished_jobs):
    prefix = "/v1/runs" if case.path.startswith("/v1/runs") else "/v1/comparisons"
    case.path_parameters["job_id"] = finished_jobs[prefix]
    case.call_and_validate(checks=[not_a_server_error], timeout=10)
