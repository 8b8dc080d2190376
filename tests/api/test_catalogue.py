"""Scenarios, policies, health, metrics and the docs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scenarios import POLICY_NAMES, catalog_names


def test_the_catalogue_lists_every_built_in_scenario_with_its_question(client: TestClient):
    r = client.get("/v1/scenarios")
    assert r.status_code == 200
    items = r.json()
    assert [s["name"] for s in items] == catalog_names()
    peak = next(s for s in items if s["name"] == "peak")
    assert peak["question"] and peak["stores"] > 0 and peak["channels"]


def test_a_scenario_comes_with_its_file_and_every_resolved_field(client: TestClient):
    r = client.get("/v1/scenarios/baseline")
    assert r.status_code == 200
    body = r.json()
    assert body["raw"]["name"] == "baseline"
    assert body["resolved"]["horizon_days"] == 28
    assert "policy" in body["resolved"]


def test_an_unknown_scenario_is_404(client: TestClient):
    r = client.get("/v1/scenarios/no-such-thing")
    assert r.status_code == 404
    assert "no-such-thing" in r.json()["detail"]


def test_validating_a_scenario_lists_every_problem_by_path(client: TestClient):
    body = {"name": "t", "horizon_days": 0, "network": {"stores": {"count": 3, "colour": "red"}}}
    r = client.post("/v1/scenarios/validate", json=body)
    assert r.status_code == 200
    out = r.json()
    assert out["valid"] is False
    paths = {p["path"]: p["msg"] for p in out["problems"]}
    assert paths["horizon_days"].startswith("must be > 0")
    assert "unknown field" in paths["network.stores.colour"]


def test_a_valid_scenario_comes_back_resolved(client: TestClient):
    r = client.post("/v1/scenarios/validate", json={"name": "mine", "extends": "baseline"})
    assert r.status_code == 200
    assert r.json()["valid"] is True
    assert r.json()["scenario"]["network"]["stores"]["count"] == 20


def test_validation_refuses_extends_outside_the_catalogue(client: TestClient):
    r = client.post("/v1/scenarios/validate", json={"name": "x", "extends": "/etc/passwd"})
    assert r.json()["valid"] is False
    assert r.json()["problems"][0]["path"] == "extends"


def test_validation_needs_a_json_object(client: TestClient):
    r = client.post("/v1/scenarios/validate", json=[1, 2])
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_policies_list_the_bundles_and_every_variant_with_its_parts(client: TestClient):
    r = client.get("/v1/policies")
    assert r.status_code == 200
    body = r.json()
    assert set(body["bundles"]) == {"legacy", "orchestrated"}
    assert body["bundles"]["legacy"]["sync_interval_min"] == 30
    assert [p["name"] for p in body["policies"]] == list(POLICY_NAMES)
    pooled = next(p for p in body["policies"] if p["name"] == "orchestrated-pooled")
    assert pooled["allocation_variant"] == "pooled"
    assert pooled["parts"]["allocation"] == "pooled"
    assert pooled["parts"]["posting_mode"] == "immediate"


def test_health_reports_the_database(client: TestClient):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "workers": True, "unwritten": 0}


def test_metrics_are_prometheus_text_with_states_durations_and_queue_depth(
    idle_client: TestClient,
):
    from .conftest import run_body

    assert idle_client.post("/v1/runs", json=run_body()).status_code == 202
    r = idle_client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    assert 'omnitwin_runs{kind="run",state="queued"} 1' in lines
    assert 'omnitwin_runs{kind="run",state="done"} 0' in lines
    assert "omnitwin_queue_depth 1" in lines
    assert "# TYPE omnitwin_run_duration_seconds histogram" in lines
    assert 'omnitwin_run_duration_seconds_count{kind="run"} 0' in lines
    for line in lines:  # every sample is `name{labels} number`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_the_openapi_docs_are_served(client: TestClient):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/runs",
        "/v1/runs/{job_id}",
        "/v1/runs/{job_id}/events",
        "/v1/runs/{job_id}/plots/{name}.png",
        "/v1/comparisons/{job_id}",
        "/v1/scenarios/validate",
        "/metrics",
    ):
        assert path in spec["paths"]


def test_the_command_line_has_a_serve_command_beside_the_others():
    from api.cli import app

    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0
    for command in ("serve", "run", "compare", "scenarios"):
        assert command in out.output
    assert "--port" in CliRunner().invoke(app, ["serve", "--help"]).output
