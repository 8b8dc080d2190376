"""Smoke test for the real PostgreSQL server that CI provisions.

`.ci/run` runs `scripts/ci_postgres.sh` and exports its last line of output as
``OMNITWIN_TEST_POSTGRES_URL``. Under CI (``CI=true``) a missing URL is a failure, never a
skip, so the database can't silently drop out of the test run. Locally, without the URL,
the test is skipped.
"""

from __future__ import annotations

import os

import pytest

URL_ENV = "OMNITWIN_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{URL_ENV} is not set although CI=true: .ci/run must provision PostgreSQL with "
            "scripts/ci_postgres.sh and export its URL; the database test must not be skipped "
            "in CI.",
            pytrace=False,
        )
    pytest.skip(
        f"{URL_ENV} is not set (local run without a database). To run this test: "
        f'export {URL_ENV}="$(sudo bash scripts/ci_postgres.sh | tail -n 1)"'
    )


def test_postgres_is_reachable_with_sqlalchemy_and_psycopg3() -> None:
    url = _postgres_url()

    # Imported only here so that a local run without the URL skips cleanly.
    import sqlalchemy as sa

    engine = sa.create_engine(url, connect_args={"connect_timeout": 10})
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg", "expected the psycopg 3 driver"
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version()")).scalar_one()
    finally:
        engine.dispose()

    assert isinstance(version, str)
    assert version.startswith("PostgreSQL "), f"not a PostgreSQL server: {version!r}"
