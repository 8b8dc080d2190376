"""Admission is atomic on both databases: submissions racing each other never admit past
the capacity, even when counting the active jobs is slow (the race is made certain by
a pause after every count, so a count-then-insert admission fails this every time)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from sqlalchemy import event, func, select

from api import jobs
from api.db import Database, Run
from api.runner import Runner
from api.schemas import RunCreate
from api.settings import Settings

from .conftest import TINY


@pytest.fixture
def slow_count_db(database_url: str) -> Any:
    db = Database(database_url)
    db.drop_all()
    db.create_all()

    def pause_after_count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "count(" in statement.lower() and "omnitwin_runs" in statement:
            time.sleep(0.15)

    event.listen(db.engine, "after_cursor_execute", pause_after_count)
    yield db
    event.remove(db.engine, "after_cursor_execute", pause_after_count)
    db.drop_all()
    db.dispose()


def test_racing_submissions_admit_exactly_the_capacity(slow_count_db: Database, tmp_path: Path):
    settings = Settings(
        database_url=slow_count_db.url,
        results_dir=tmp_path,
        max_concurrent_runs=1,
        max_queued_runs=2,
    )
    runner = Runner(settings, slow_count_db)  # not started: admitted jobs stay queued
    body = RunCreate(scenario="baseline", policy="legacy", replications=1, overrides=TINY)
    barrier = threading.Barrier(10)
    outcomes: list[int] = []

    def submit() -> None:
        barrier.wait()
        try:
            jobs.create("run", body, slow_count_db, settings, runner, None)
            outcomes.append(202)
        except HTTPException as exc:
            outcomes.append(exc.status_code)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [202] * 3 + [429] * 7
    with slow_count_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 3


def test_one_idempotency_key_raced_from_many_threads_makes_one_job(
    slow_count_db: Database, tmp_path: Path
):
    settings = Settings(database_url=slow_count_db.url, results_dir=tmp_path)
    runner = Runner(settings, slow_count_db)
    body = RunCreate(scenario="baseline", policy="legacy", replications=1, overrides=TINY)
    barrier = threading.Barrier(6)
    made: list[tuple[str, bool]] = []

    def submit() -> None:
        barrier.wait()
        row, created = jobs.create("run", body, slow_count_db, settings, runner, "order-7")
        made.append((row.id, created))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job_id for job_id, _ in made}) == 1
    assert sum(created for _, created in made) == 1
