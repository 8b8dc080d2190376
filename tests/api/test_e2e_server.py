"""End to end: `omnitwin serve` as a real separate process on a loopback port, a small
comparison through HTTP, and a restart on the same database keeping the finished result."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TINY
from .served import OMNITWIN, served, wait_finished

RUN_TIMEOUT = 120.0


@pytest.mark.skipif(not OMNITWIN.exists(), reason=f"no console script at {OMNITWIN}")
def test_a_served_comparison_runs_end_to_end_and_survives_a_restart(tmp_path: Path):
    body = {
        "scenario": "baseline",
        "policies": ["legacy", "orchestrated"],
        "replications": 2,
        "overrides": TINY,
    }
    with served(tmp_path, "first") as client:
        r = client.post("/v1/comparisons", json=body)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/v1/comparisons/{job_id}"
        out = wait_finished(client, f"/v1/comparisons/{job_id}", RUN_TIMEOUT)
        assert out["status"] == "done", out["error"]
        res = out["result"]
        assert set(res["policies"]) == {"legacy", "orchestrated"}
        assert "orchestrated" in res["differences"]
        assert res["differences"]["orchestrated"]

        r = client.get(f"/v1/comparisons/{job_id}/plots")
        assert r.status_code == 200, r.text
        plots = r.json()["plots"]
        assert plots
        name = "comparison" if "comparison" in plots else plots[0]
        png = client.get(f"/v1/comparisons/{job_id}/plots/{name}.png")
        assert png.status_code == 200
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG")

    # a second process on the same database still has the finished comparison
    with served(tmp_path, "second") as client:
        r = client.get(f"/v1/comparisons/{job_id}")
        assert r.status_code == 200, r.text
        again = r.json()
        assert again["status"] == "done"
        assert again["result"] == res
        png = client.get(f"/v1/comparisons/{job_id}/plots/{name}.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
