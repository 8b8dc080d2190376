"""A run's terminal state is written at least once, whatever fails: a final write that
fails for a while is retried; one the database refuses fails the run with the reason;
one that cannot get through is written in the background once the database answers, or
recovered from the run's folder on the next start — never a run `running` forever.

Faults are injected into the real database: a listener makes chosen statements raise
the error the driver would raise (a lost connection, a value the database refuses)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import DataError, OperationalError

from .conftest import MakeApp, run_body, wait_until_finished


class Faults:
    """Make the run's final write (the UPDATE that stores its result) fail."""

    def __init__(self, error: Callable[[str], Exception], times: float) -> None:
        self.error, self.left, self.seen = error, times, 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        final = statement.lstrip().upper().startswith("UPDATE OMNITWIN_RUNS")
        if final and "result" in statement.lower() and self.left > 0:
            self.left -= 1
            self.seen += 1
            raise self.error(statement)


def lost(statement: str) -> Exception:
    return OperationalError(statement, {}, Exception("server closed the connection"))


def refused(statement: str) -> Exception:
    return DataError(statement, {}, Exception("value too long for the column"))


def inject(client: TestClient, faults: Faults) -> Callable[[], None]:
    engine = client.app.state.db.engine
    event.listen(engine, "before_cursor_execute", faults)
    return lambda: event.remove(engine, "before_cursor_execute", faults)


def test_a_final_write_that_fails_for_a_while_is_retried_until_it_lands(make_app: MakeApp):
    with TestClient(make_app(finish_retry_seconds=10)) as client:
        faults = Faults(lost, times=3)
        undo = inject(client, faults)
        job = client.post("/v1/runs", json=run_body()).json()
        body = wait_until_finished(client, f"/v1/runs/{job['id']}")
        undo()
    assert faults.seen == 3
    assert body["status"] == "done" and body["result"]["kpis"]


def test_a_result_the_database_refuses_fails_the_run_with_the_reason(make_app: MakeApp):
    with TestClient(make_app()) as client:
        undo = inject(client, Faults(refused, times=float("inf")))
        job = client.post("/v1/runs", json=run_body()).json()
        body = wait_until_finished(client, f"/v1/runs/{job['id']}")
        undo()
    assert body["status"] == "failed"
    assert "the result could not be stored" in body["error"]
    assert "value too long" in body["error"]


def test_a_final_write_that_never_lands_in_time_is_finished_in_the_background(
    make_app: MakeApp,
):
    with TestClient(make_app(finish_retry_seconds=0.3)) as client:
        faults = Faults(lost, times=float("inf"))
        undo = inject(client, faults)
        job = client.post("/v1/runs", json=run_body()).json()
        url = f"/v1/runs/{job['id']}"
        runner = client.app.state.runner
        deadline = time.monotonic() + 60
        while job["id"] not in runner.unwritten:  # the worker gave it to the finisher
            assert time.monotonic() < deadline, client.get(url).json()
            time.sleep(0.05)
        assert client.get(url).json()["status"] == "running"
        assert client.get("/healthz").json()["unwritten"] == 1
        undo()  # the database answers again
        body = wait_until_finished(client, url)
    assert body["status"] == "done" and body["result"]["kpis"]
    assert runner.unwritten == []


def test_a_run_whose_result_never_reached_the_database_is_recovered_on_restart(
    make_app: MakeApp,
):
    with TestClient(make_app(finish_retry_seconds=0.2)) as client:
        undo = inject(client, Faults(lost, times=float("inf")))
        job = client.post("/v1/runs", json=run_body()).json()
        runner = client.app.state.runner
        deadline = time.monotonic() + 60
        while job["id"] not in runner.unwritten:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        undo_before_stop = undo
    undo_before_stop()
    # the process went away with the result unwritten; its folder holds the outcome
    with TestClient(make_app(fresh=False)) as client:
        body = client.get(f"/v1/runs/{job['id']}").json()
        assert body["status"] == "done", body["error"]
        assert body["result"]["kpis"]["fill_rate"] is not None
        assert client.get(f"/v1/runs/{job['id']}/report").status_code == 200
