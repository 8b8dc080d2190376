"""Service settings, read from `OMNITWIN_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; `OMNITWIN_<NAME>` sets `<name>`."""

    model_config = SettingsConfigDict(env_prefix="OMNITWIN_", extra="ignore")

    #: SQLAlchemy URL; empty means a SQLite file `<results_dir>/omnitwin-api.db`
    database_url: str = ""
    #: where run folders (`<results_dir>/api/<id>/`) and the default database live
    results_dir: Path = Path("results")
    #: when set, every mutating request needs it (`X-API-Key` or `Authorization: Bearer`)
    api_key: str | None = None
    #: where a job executes: a child process (the default: a simulation never holds the
    #: interpreter lock against requests), or the worker thread itself (tests, debugging)
    run_isolation: Literal["process", "thread"] = "process"
    #: how much a job's child process yields the CPU to request handling (os.nice)
    run_niceness: int = Field(10, ge=0, le=19)
    #: how replications execute: in the worker thread, or on Dask (as the CLI)
    executor: Literal["serial", "dask"] = "serial"
    #: Dask scheduler address; empty means a local cluster per run
    dask_scheduler: str | None = None
    #: runs executing at once (worker threads)
    max_concurrent_runs: int = Field(2, ge=1, le=64)
    #: runs waiting for a worker on top of those; more is a 429
    max_queued_runs: int = Field(16, ge=0)
    max_horizon_days: float = Field(120.0, gt=0)
    max_stores: int = Field(500, ge=1)
    max_skus: int = Field(2000, ge=1)
    max_replications: int = Field(50, ge=1)
    max_policies: int = Field(5, ge=2)
    max_overrides: int = Field(100, ge=1)
    #: request bodies larger than this are refused with 413 before they are parsed
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    #: a data package upload (a zip of tables) larger than this is refused with 413
    max_package_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    #: ... and one whose tables unpack to more than this with 422 (a zip bomb)
    max_package_unpacked_bytes: int = Field(512 * 1024 * 1024, ge=1024)
    #: threads serving requests (routes are synchronous); the database pool is sized to
    #: them, so a request never waits for a connection another request holds
    request_threads: int = Field(40, ge=1, le=1000)
    #: how often the server-sent event stream looks at a run
    events_poll_seconds: float = Field(0.25, gt=0)
    #: on shutdown, how long to wait for running runs to stop at their next replication
    shutdown_grace_seconds: float = Field(5.0, ge=0)
    #: a finished run's state is written with retries for this long before the service
    #: keeps retrying in the background (a restart recovers it from its folder)
    finish_retry_seconds: float = Field(10.0, ge=0)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.results_dir / 'omnitwin-api.db').resolve()}"

    @property
    def pool_size(self) -> int:
        """Database connections: one per request thread, per worker, and a few spare (the
        event streams and the finisher)."""
        return self.request_threads + self.max_concurrent_runs + 4

    @property
    def runs_dir(self) -> Path:
        return self.results_dir / "api"

    @property
    def packages_dir(self) -> Path:
        """Uploaded data packages, each checked and fitted: `<packages_dir>/<id>/`."""
        return self.results_dir / "packages"
