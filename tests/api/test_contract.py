"""The contract at the service's edge: size limits, errors that do not echo what was
sent, every problem at once, strict fields, Allow headers, the OpenAPI document (security,
limits, statuses) and what lists and runs show."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import TINY, MakeApp, run_body


def test_a_body_over_the_limit_is_413_before_it_is_parsed(make_app: MakeApp):
    with TestClient(make_app(max_body_bytes=4096)) as client:
        big = {"scenario": "baseline", "description": "x" * 10_000}
        r = client.post("/v1/runs", json=big)
        assert r.status_code == 413
        assert "OMNITWIN_MAX_BODY_BYTES" in r.json()["detail"]

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b" " * 1000

        r = client.post("/v1/scenarios/validate", content=chunks())
        assert r.status_code == 413


def test_errors_repeat_only_a_short_prefix_of_a_bad_value(idle_client: TestClient):
    name = "n" * 100_000
    r = idle_client.post("/v1/runs", json={"scenario": name, "policy": "p" * 50_000})
    assert r.status_code == 422
    assert len(r.content) < 4_000
    msgs = " ".join(e["msg"] for e in r.json()["detail"])
    assert "unknown scenario 'nnnn" in msgs and "…" in msgs
    r = idle_client.post("/v1/runs", json={"scenario": "baseline", "seed": "s" * 50_000})
    assert r.status_code == 422 and len(r.content) < 4_000
    r = idle_client.get("/v1/runs/" + "x" * 5_000)
    assert r.status_code == 404 and len(r.content) < 1_000


def test_body_and_scenario_problems_come_back_together(idle_client: TestClient):
    r = idle_client.post(
        "/v1/runs",
        json={"scenario": "baseline", "replications": True, "overrides": {"skus.count": -3}},
    )
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "replications"] in locs  # a boolean is not a count
    assert ["body", "scenario", "skus", "count"] in locs  # and the scenario's own problem


@pytest.mark.parametrize("field", ["replications", "seed"])
def test_booleans_are_not_numbers(idle_client: TestClient, field: str):
    r = idle_client.post("/v1/runs", json=run_body(**{field: True}))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", field]


def test_a_body_that_is_not_utf8_is_422_naming_the_body(idle_client: TestClient):
    r = idle_client.post(
        "/v1/runs",
        content=b'{"scenario": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]


def test_too_many_overrides_are_refused(idle_client: TestClient):
    overrides = {"channels[0].orders_per_day": 1} | {f"k{i}": 1 for i in range(150)}
    r = idle_client.post("/v1/runs", json=run_body(overrides=overrides))
    assert r.status_code == 422
    assert any("OMNITWIN_MAX_OVERRIDES" in e["msg"] for e in r.json()["detail"])


def test_an_idempotency_key_longer_than_200_characters_is_422(idle_client: TestClient):
    r = idle_client.post("/v1/runs", json=run_body(), headers={"Idempotency-Key": "k" * 201})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def test_options_and_405_name_every_method_of_the_path(idle_client: TestClient):
    r = idle_client.options("/v1/runs/abc")
    assert r.status_code == 204
    assert set(r.headers["allow"].split(", ")) == {"DELETE", "GET", "OPTIONS"}
    r = idle_client.put("/v1/runs/abc")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"DELETE", "GET", "OPTIONS"}
    r = idle_client.options("/v1/scenarios/validate")
    assert set(r.headers["allow"].split(", ")) == {"POST", "OPTIONS"}


def test_the_schema_declares_the_key_only_when_the_service_has_one(make_app: MakeApp):
    with TestClient(make_app(start_workers=False)) as open_client:
        doc = open_client.get("/openapi.json").json()
    assert "securitySchemes" not in doc.get("components", {})
    assert "401" not in doc["paths"]["/v1/runs"]["post"]["responses"]
    with TestClient(make_app(start_workers=False, api_key="s3cret")) as keyed:
        doc = keyed.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The service's key.",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"
    post = doc["paths"]["/v1/runs"]["post"]
    assert {"ApiKey": []} in post["security"] and {"Bearer": []} in post["security"]
    assert {"401", "403", "409", "413", "422", "429"} <= set(post["responses"])
    assert "security" not in doc["paths"]["/v1/runs"]["get"]  # reads are open


def test_the_schema_states_the_service_limits(make_app: MakeApp):
    with TestClient(make_app(start_workers=False, max_replications=7, max_policies=3)) as c:
        doc = c.get("/openapi.json").json()
    assert doc["info"]["x-omnitwin-limits"]["max_replications"] == 7
    assert "| `max_horizon_days` |" in doc["info"]["description"]
    run = doc["components"]["schemas"]["RunCreate"]["properties"]
    assert next(b for b in run["replications"]["anyOf"] if b.get("type") == "integer") == {
        "type": "integer",
        "minimum": 1,
        "maximum": 7,
    }
    names = next(b for b in run["scenario"]["anyOf"] if b.get("type") == "string")["enum"]
    assert "baseline" in names and "case-study" in names
    cmp = doc["components"]["schemas"]["ComparisonCreate"]["properties"]["policies"]
    assert cmp["maxItems"] == 3 and cmp["uniqueItems"] is True
    key = next(
        p for p in doc["paths"]["/v1/runs"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    )
    assert {"type": "string", "minLength": 1, "maxLength": 200} in key["schema"]["anyOf"]


def test_an_empty_api_key_header_beside_a_valid_bearer_is_accepted(make_app: MakeApp):
    with TestClient(make_app(start_workers=False, api_key="s3cret")) as c:
        r = c.post(
            "/v1/runs",
            json=run_body(),
            headers={"X-API-Key": "", "Authorization": "Bearer s3cret"},
        )
        assert r.status_code == 202, r.text
        r = c.post("/v1/runs", json=run_body(), headers={"X-API-Key": ""})
        assert r.status_code == 401


def test_lists_hold_summaries_without_results_or_inline_bodies(idle_client: TestClient):
    inline = {"name": "mine", "extends": "baseline", "description": "d" * 5_000}
    idle_client.post("/v1/runs", json={"scenario": inline, "overrides": TINY})
    items = idle_client.get("/v1/runs").json()["items"]
    assert items[0]["request"]["scenario"] == "mine" and items[0]["request"]["inline"] is True
    assert "result" not in items[0]
    full = idle_client.get(f"/v1/runs/{items[0]['id']}").json()
    assert full["request"]["scenario"]["name"] == "mine"  # the whole body on the job itself


def test_a_run_warns_about_faults_its_horizon_cannot_show(idle_client: TestClient):
    r = idle_client.post("/v1/runs", json={"scenario": "outage", "overrides": TINY})
    assert r.status_code == 202, r.text
    warnings = r.json()["warnings"]
    assert any(w.startswith("faults.erp_outages[0] starts at hour") for w in warnings)
    assert any("faults.pos_outages[0].count is 5" in w for w in warnings)
    r = idle_client.post("/v1/runs", json=run_body())
    assert r.json()["warnings"] == []


def test_the_page_has_an_icon(idle_client: TestClient):
    r = idle_client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"
