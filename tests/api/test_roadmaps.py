"""/v1/roadmaps: a roadmap runs in the background like a comparison and serves its
value per step, money and waterfall."""

from __future__ import annotations

from fastapi.testclient import TestClient

from twin.roadmap import STEP_NAMES

from .conftest import TINY, wait_until_finished


def test_a_roadmap_runs_and_serves_its_steps_money_and_waterfall(client: TestClient):
    body = {"scenario": "baseline", "order": "seed", "replications": 2, "overrides": TINY}
    r = client.post("/v1/roadmaps", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/roadmaps/{job['id']}"
    k = len(STEP_NAMES)
    assert job["progress"]["total"] == 2 * (1 + k + k - 1)
    done = wait_until_finished(client, f"/v1/roadmaps/{job['id']}", timeout=180)
    assert done["status"] == "done", done["error"]
    result = done["result"]
    assert result["path"] == list(STEP_NAMES)
    assert [s["step"] for s in result["along"]] == list(STEP_NAMES)
    assert set(result["alone"]) == set(STEP_NAMES)
    assert "net_benefit_per_year" in result["total"]
    assert result["table"]["rows"][-1][1] == "net benefit"
    assert "waterfall" in done["plots"]
    png = client.get(f"/v1/roadmaps/{job['id']}/plots/waterfall.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    report = client.get(f"/v1/roadmaps/{job['id']}/report").text
    assert "## Along the path" in report and "## Money" in report


def test_a_roadmap_order_names_known_steps(idle_client: TestClient):
    r = idle_client.post(
        "/v1/roadmaps", json={"scenario": "baseline", "order": ["teleport"], "overrides": TINY}
    )
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "order"] and "unknown step 'teleport'" in d["msg"]
    r = idle_client.post(
        "/v1/roadmaps",
        json={"scenario": "baseline", "order": ["real-time-postings"], "overrides": TINY},
    )
    assert r.status_code == 202
    assert r.json()["request"]["order"][0] == "real-time-postings"
