"""Persistence of runs and comparisons (SQLAlchemy 2 ORM): SQLite by default,
PostgreSQL when `OMNITWIN_DATABASE_URL` says so.

One table holds both kinds of job (`kind` = "run" or "comparison"): the request as
submitted, its status and progress, the result object once done, and the folder
holding its report.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (DONE, FAILED, CANCELLED)
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
KINDS = ("run", "comparison", "roadmap")
RESTART_REASON = "interrupted by a restart of the service"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(t: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def plain(o: Any) -> Any:
    """A JSON-safe copy: numpy scalars to Python, NaN and infinities to null."""
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [plain(v) for v in o]
    if isinstance(o, bool) or o is None or isinstance(o, str):
        return o
    if hasattr(o, "item") and not isinstance(o, int | float):  # numpy scalar
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


class Base(DeclarativeBase):
    pass


class Run(Base):
    """A run (one policy) or a comparison (several policies on the same seeds)."""

    __tablename__ = "omnitwin_runs"
    __table_args__ = (UniqueConstraint("kind", "idempotency_key", name="uq_kind_idempotency"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=QUEUED)
    scenario: Mapped[str] = mapped_column(String(200))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    artifacts: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def duration_seconds(self) -> float | None:
        return seconds_between(self.started_at, self.finished_at)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    a, b = as_utc(start), as_utc(end)
    return None if a is None or b is None else (b - a).total_seconds()


class Admission(Base):
    """One row whose lock serialises admissions: a submission locks it (an UPDATE, the
    first statement of its transaction) before it counts active runs and inserts its own,
    so concurrent submissions, in one process or many, never admit past the limit."""

    __tablename__ = "omnitwin_admission"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    admitted: Mapped[int] = mapped_column(Integer, default=0)


class Database:
    """An engine and a session factory for one database URL.

    `pool_size` connections are kept (no overflow): the service sizes it to its request
    threads and workers, so a request never waits on a connection another one holds."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        kwargs: dict[str, Any] = {
            "pool_pre_ping": True,
            "pool_size": pool_size,
            "max_overflow": 0,
            "pool_timeout": 30,
        }
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)
        with self.session() as s:
            if s.get(Admission, 1) is None:
                s.add(Admission(id=1, admitted=0))
                try:
                    s.commit()
                except IntegrityError:  # another process made it first
                    s.rollback()

    def drop_all(self) -> None:
        Base.metadata.drop_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as s:
            yield s

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
