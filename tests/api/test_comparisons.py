"""/v1/comparisons: several policies on common seeds."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import TINY, wait_until_finished


def test_a_comparison_runs_every_policy_on_the_same_seeds_with_intervals(client: TestClient):
    body = {"scenario": "baseline", "policies": ["legacy", "orchestrated"], "replications": 2}
    r = client.post("/v1/comparisons", json={**body, "overrides": TINY})
    assert r.status_code == 202
    assert r.headers["location"] == f"/v1/comparisons/{r.json()['id']}"
    assert r.json()["progress"]["total"] == 4
    out = wait_until_finished(client, r.headers["location"])
    assert out["status"] == "done", out["error"]
    res = out["result"]
    assert list(res["policies"]) == ["legacy", "orchestrated"]
    assert res["policies"]["legacy"]["seed"] == res["policies"]["orchestrated"]["seed"]
    assert "fill_rate" in res["policies"]["orchestrated"]["ci95"]
    diff = res["differences"]["orchestrated"]["reservation_latency_p95_s"]
    assert set(diff) == {"mean", "ci95", "significant"}
    header, rows = res["table"]["header"], res["table"]["rows"]
    assert header == ["KPI", "legacy", "orchestrated", "Δ orchestrated vs legacy"]
    assert rows[0][0] == "Fill rate" and "[" in rows[0][1]
    assert client.get(f"/v1/comparisons/{out['id']}/plots/comparison.png").content[:4] == (
        b"\x89PNG"
    )
    assert "legacy vs orchestrated" in client.get(f"/v1/comparisons/{out['id']}/report").text
    # a comparison is not a run
    assert client.get(f"/v1/runs/{out['id']}").status_code == 404


def test_a_comparison_needs_two_known_distinct_policies(idle_client: TestClient):
    for policies, loc in (
        (["legacy"], ["body", "policies"]),
        (["legacy", "legacy"], ["body", "policies"]),
        (["legacy", "magic"], ["body", "policies", 1]),
    ):
        r = idle_client.post("/v1/comparisons", json={"scenario": "baseline", "policies": policies})
        assert r.status_code == 422, policies
        assert loc in [d["loc"] for d in r.json()["detail"]], r.json()


def test_unknown_comparison_ids_are_404(idle_client: TestClient):
    assert idle_client.get("/v1/comparisons/nope").status_code == 404
    assert idle_client.delete("/v1/comparisons/nope").status_code == 404


def test_a_queued_comparison_can_be_cancelled(idle_client: TestClient):
    h = {"Idempotency-Key": "cmp-1"}
    body = {"scenario": "baseline", "overrides": TINY}
    a = idle_client.post("/v1/comparisons", json=body, headers=h).json()
    assert idle_client.post("/v1/comparisons", json=body, headers=h).json()["id"] == a["id"]
    r = idle_client.delete(f"/v1/comparisons/{a['id']}")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
