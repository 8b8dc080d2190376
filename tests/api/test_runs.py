"""/v1/runs: start, follow, fetch, cancel; validation, limits, idempotency, keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.db import DONE, RESTART_REASON, RUNNING, Run, utcnow

from .conftest import TINY, MakeApp, run_body, wait_until_finished


def sse(client: TestClient, url: str) -> list[tuple[str, dict]]:
    events, name = [], None
    with client.stream("GET", url) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_a_run_executes_in_the_background_and_serves_its_result_and_files(client: TestClient):
    r = client.post("/v1/runs", json=run_body(replications=2, seed=7))
    assert r.status_code == 202
    run = r.json()
    assert r.headers["location"] == f"/v1/runs/{run['id']}"
    assert run["status"] in ("queued", "running")
    assert run["request"]["policy"] == "legacy" and run["progress"]["total"] == 2

    # progress as server-sent events, ending with `done`
    events = sse(client, f"/v1/runs/{run['id']}/events")
    assert events[-1][0] == "done"
    assert {name for name, _ in events[:-1]} <= {"progress"}
    assert events[-1][1]["done"] == events[-1][1]["total"] == 2

    body = client.get(r.headers["location"]).json()
    assert body["status"] == "done" and body["error"] is None
    assert body["progress"] == {"done": 2, "total": 2, "fraction": 1.0}
    result = body["result"]  # the KPIS.md result object
    for key in ("scenario", "policy", "seed", "replications", "sim_days", "kpis", "invariants"):
        assert key in result
    assert result["policy"] == "legacy" and result["replications"] == 2 and result["seed"] == 7
    assert "fill_rate" in result["kpis"] and "fill_rate" in result["ci95"]
    assert result["invariants"]["units_conserved"] is True
    assert "fill_rate" in body["plots"]

    # series: JSON by default, CSV when asked for
    js = client.get(f"/v1/runs/{run['id']}/series")
    assert js.headers["content-type"].startswith("application/json")
    records = js.json()
    assert {r["replication"] for r in records} == {0, 1} and "fill_rate" in records[0]
    csv = client.get(f"/v1/runs/{run['id']}/series", headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("policy,replication,day,fill_rate")
    assert len(csv.text.strip().splitlines()) == len(records) + 1
    assert client.get(f"/v1/runs/{run['id']}/series?format=csv").text == csv.text

    # plots and the report
    assert client.get(f"/v1/runs/{run['id']}/plots").json()["plots"] == body["plots"]
    png = client.get(f"/v1/runs/{run['id']}/plots/fill_rate.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    report = client.get(f"/v1/runs/{run['id']}/report")
    assert report.headers["content-type"].startswith("text/markdown")
    assert report.text.startswith("# baseline under legacy")

    # artifact names cannot leave the run's folder
    for name in ("nope", "..", "../result", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "a.b"):
        bad = client.get(f"/v1/runs/{run['id']}/plots/{name}.png")
        assert bad.status_code in (404, 422), name
    assert client.get(f"/v1/runs/{run['id']}/plots/../report.png").status_code == 404

    # and the run is listed
    listed = client.get("/v1/runs?status=done").json()["items"]
    assert [x["id"] for x in listed] == [run["id"]]
    # cancelling a finished run is a conflict
    assert client.delete(f"/v1/runs/{run['id']}").status_code == 409


def test_unknown_run_ids_are_404_on_every_route(client: TestClient):
    for suffix in ("", "/events", "/series", "/plots", "/plots/fill_rate.png", "/report"):
        r = client.get(f"/v1/runs/feedface{suffix}")
        assert r.status_code == 404, suffix
    assert client.delete("/v1/runs/feedface").status_code == 404
    assert client.get("/v1/runs/" + "x" * 300).status_code == 404


def test_files_of_an_unfinished_run_are_a_conflict(idle_client: TestClient):
    run = idle_client.post("/v1/runs", json=run_body()).json()
    for suffix in ("/series", "/plots", "/plots/fill_rate.png", "/report"):
        r = idle_client.get(f"/v1/runs/{run['id']}{suffix}")
        assert r.status_code == 409, suffix
        assert "queued" in r.json()["detail"]


def test_an_inline_scenario_is_validated_and_errors_name_the_field_path(client: TestClient):
    scenario = {"name": "mine", "extends": "baseline", "network": {"stores": {"count": -2}}}
    r = client.post("/v1/runs", json={"scenario": scenario, "overrides": {"skus.count": 0}})
    assert r.status_code == 422
    detail = r.json()["detail"]
    locs = {tuple(d["loc"]): d for d in detail}
    assert ("body", "scenario", "network", "stores", "count") in locs
    assert ("body", "scenario", "skus", "count") in locs
    assert locs[("body", "scenario", "skus", "count")]["path"] == "skus.count"
    assert locs[("body", "scenario", "skus", "count")]["msg"].startswith("must be > 0")


def test_an_inline_scenario_runs(client: TestClient):
    scenario = {"name": "mine", "extends": "baseline", "horizon_days": 2}
    r = client.post("/v1/runs", json={"scenario": scenario, "overrides": TINY, "policy": "legacy"})
    assert r.status_code == 202
    body = wait_until_finished(client, r.headers["location"])
    assert body["status"] == "done", body["error"]
    assert body["scenario"] == "mine" and body["result"]["scenario"] == "mine"


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"scenario": "atlantis"}, ["body", "scenario"], "unknown scenario"),
        ({"scenario": "/etc/passwd"}, ["body", "scenario"], "unknown scenario"),
        ({"scenario": {"name": "x", "extends": "../x.yaml"}}, ["body", "scenario", "extends"], ""),
        (run_body(policy="chaos"), ["body", "policy"], "unknown policy"),
        (run_body(replications=0), ["body", "replications"], "greater than or equal to 1"),
        (run_body(seed=-1), ["body", "seed"], ""),
        (run_body(colour="red"), ["body", "colour"], "Extra inputs"),
        ({"policy": "legacy"}, ["body", "scenario"], ""),
        (run_body(overrides=["horizon_days"]), ["body", "overrides"], "expected path=value"),
        (run_body(overrides={"channels[9].orders_per_day": 1}), ["body", "overrides"], "no item"),
        (run_body(overrides={"horizon_days": "soon"}), ["body", "scenario", "horizon_days"], ""),
    ],
)
def test_a_bad_run_request_is_422_with_the_field_path(
    idle_client: TestClient, body: dict, loc: list, words: str
):
    r = idle_client.post("/v1/runs", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    hit = [d for d in detail if d["loc"] == loc]
    assert hit, detail
    assert words in hit[0]["msg"]


def test_requests_over_the_service_limits_are_422_naming_the_limit(make_app: MakeApp):
    app = make_app(
        start_workers=False, max_horizon_days=1, max_stores=2, max_skus=4, max_replications=3
    )
    with TestClient(app) as c:
        r = c.post("/v1/runs", json=run_body(replications=4))
    assert r.status_code == 422
    detail = {tuple(d["loc"]): d["msg"] for d in r.json()["detail"]}
    assert "OMNITWIN_MAX_REPLICATIONS" in detail[("body", "replications")]
    assert "OMNITWIN_MAX_HORIZON_DAYS" in detail[("body", "scenario", "horizon_days")]
    assert "at most 2 stores" in detail[("body", "scenario", "network", "stores", "count")]
    assert "OMNITWIN_MAX_SKUS" in detail[("body", "scenario", "skus", "count")]


def test_more_runs_than_the_service_takes_is_429(make_app: MakeApp):
    with TestClient(make_app(start_workers=False, max_concurrent_runs=1, max_queued_runs=1)) as c:
        assert c.post("/v1/runs", json=run_body()).status_code == 202
        assert c.post("/v1/runs", json=run_body()).status_code == 202
        r = c.post("/v1/runs", json=run_body())
        assert r.status_code == 429
        assert "too many runs in progress" in r.json()["detail"]
        assert r.headers["retry-after"]
        # a cancelled run frees its place
        first = c.get("/v1/runs").json()["items"][0]["id"]
        assert c.delete(f"/v1/runs/{first}").status_code == 202
        assert c.post("/v1/runs", json=run_body()).status_code == 202


def test_the_same_idempotency_key_and_body_return_the_same_run(idle_client: TestClient):
    h = {"Idempotency-Key": "order-42"}
    a = idle_client.post("/v1/runs", json=run_body(seed=1), headers=h)
    b = idle_client.post("/v1/runs", json=run_body(seed=1), headers=h)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] == b.json()["id"]
    assert b.headers["location"] == a.headers["location"]
    assert b.headers["idempotent-replayed"] == "true"
    assert len(idle_client.get("/v1/runs").json()["items"]) == 1
    # a different key is a different run; no key is always a new run
    c = idle_client.post("/v1/runs", json=run_body(seed=1), headers={"Idempotency-Key": "other"})
    assert c.json()["id"] != a.json()["id"]


def test_reusing_an_idempotency_key_with_another_body_is_refused(idle_client: TestClient):
    h = {"Idempotency-Key": "order-43"}
    a = idle_client.post("/v1/runs", json=run_body(seed=1), headers=h)
    r = idle_client.post("/v1/runs", json=run_body(seed=2), headers=h)
    assert r.status_code == 409  # a conflict with the state the key made, not a bad field
    detail = r.json()["detail"]
    assert "already used with a different body" in detail and a.json()["id"] in detail


def test_a_queued_run_is_cancelled_at_once(idle_client: TestClient):
    run = idle_client.post("/v1/runs", json=run_body()).json()
    r = idle_client.delete(f"/v1/runs/{run['id']}")
    assert r.status_code == 202
    assert r.json()["status"] == "cancelled" and r.json()["error"] == "cancelled by request"
    events = sse(idle_client, f"/v1/runs/{run['id']}/events")
    assert [name for name, _ in events] == ["cancelled"]


def test_a_running_run_stops_between_replications_when_cancelled(make_app: MakeApp):
    with TestClient(make_app(max_replications=40)) as c:
        run = c.post("/v1/runs", json=run_body(replications=40)).json()
        url = f"/v1/runs/{run['id']}"
        for _ in range(600):
            body = c.get(url).json()
            if body["status"] == RUNNING and body["progress"]["done"] >= 1:
                break
            assert body["status"] in ("queued", "running")
            time.sleep(0.02)
        r = c.delete(url)
        assert r.status_code == 202
        final = wait_until_finished(c, url)
    assert final["status"] == "cancelled"
    assert final["error"] == "cancelled by request"
    assert final["progress"]["done"] < 40
    assert final["result"] is None


def test_a_restart_keeps_finished_runs_and_fails_interrupted_ones(make_app: MakeApp):
    first = make_app(start_workers=False)
    with TestClient(first) as c:
        queued = c.post("/v1/runs", json=run_body()).json()["id"]
        with first.state.db.session() as s:
            s.add(
                Run(
                    id="r" * 32, kind="run", status=RUNNING, scenario="baseline",
                    progress_done=1, progress_total=3, request={"scenario": "baseline"},
                    created_at=utcnow(), started_at=utcnow(),
                )
            )  # fmt: skip
            s.add(
                Run(
                    id="d" * 32, kind="run", status=DONE, scenario="baseline",
                    progress_done=1, progress_total=1, request={"scenario": "baseline"},
                    created_at=utcnow(), started_at=utcnow(), finished_at=utcnow(),
                    result={"kpis": {"fill_rate": 0.9}},
                )
            )  # fmt: skip
            s.commit()
    with TestClient(make_app(fresh=False, start_workers=False)) as c:
        for rid in (queued, "r" * 32):
            body = c.get(f"/v1/runs/{rid}").json()
            assert body["status"] == "failed"
            assert body["error"] == RESTART_REASON
        done = c.get(f"/v1/runs/{'d' * 32}").json()
        assert done["status"] == "done" and done["result"] == {"kpis": {"fill_rate": 0.9}}


@pytest.fixture
def keyed(make_app: MakeApp) -> Iterator[TestClient]:
    with TestClient(make_app(start_workers=False, api_key="s3cret")) as c:
        yield c


def test_with_an_api_key_every_mutating_request_needs_it(keyed: TestClient):
    r = keyed.post("/v1/runs", json=run_body())
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (
        keyed.post("/v1/runs", json=run_body(), headers={"X-API-Key": "guess"}).status_code == 403
    )
    ok = keyed.post("/v1/runs", json=run_body(), headers={"X-API-Key": "s3cret"})
    assert ok.status_code == 202
    bearer = keyed.post(
        "/v1/comparisons",
        json={"scenario": "baseline", "overrides": TINY},
        headers={"Authorization": "Bearer s3cret"},
    )
    assert bearer.status_code == 202
    rid = ok.json()["id"]
    assert keyed.delete(f"/v1/runs/{rid}").status_code == 401
    assert keyed.delete(f"/v1/comparisons/{bearer.json()['id']}").status_code == 401
    # reads stay open
    assert keyed.get(f"/v1/runs/{rid}").status_code == 200
    assert keyed.get("/v1/scenarios").status_code == 200
    assert keyed.delete(f"/v1/runs/{rid}", headers={"X-API-Key": "s3cret"}).status_code == 202


def test_a_run_that_breaks_is_failed_with_the_reason(client: TestClient, monkeypatch):
    import api.runner

    def boom(*args, **kwargs):
        raise RuntimeError("the twin fell over")

    monkeypatch.setattr(api.runner, "replicate", boom)
    r = client.post("/v1/runs", json=run_body())
    body = wait_until_finished(client, r.headers["location"])
    assert body["status"] == "failed"
    assert body["error"] == "RuntimeError: the twin fell over"
    events = sse(client, f"/v1/runs/{body['id']}/events")
    assert events[-1][0] == "failed" and events[-1][1]["error"] == body["error"]


def test_runs_go_to_dask_when_the_settings_say_so(make_app: MakeApp, monkeypatch):
    import api.runner

    seen = {}

    def fake(sc, policy, replications, **kwargs):
        seen.update(kwargs, policy=policy, replications=replications)
        raise RuntimeError("stop here")

    monkeypatch.setattr(api.runner, "replicate", fake)
    app = make_app(executor="dask", dask_scheduler="tcp://10.0.0.5:8786")
    with TestClient(app) as c:
        r = c.post("/v1/runs", json=run_body(replications=3, seed=5))
        wait_until_finished(c, r.headers["location"])
    assert seen["executor"] == "dask" and seen["scheduler"] == "tcp://10.0.0.5:8786"
    assert seen["seed"] == 5 and seen["replications"] == 3 and seen["policy"] == "legacy"


def test_a_shutdown_stops_a_running_run_which_is_failed_with_the_reason(make_app: MakeApp):
    app = make_app(max_replications=40)
    with TestClient(app) as c:
        rid = c.post("/v1/runs", json=run_body(replications=40)).json()["id"]
        for _ in range(600):
            if c.get(f"/v1/runs/{rid}").json()["progress"]["done"] >= 1:
                break
            time.sleep(0.02)
    with app.state.db.session() as s:
        row = s.get(Run, rid)
        assert row.status == "failed" and row.error == RESTART_REASON
