"""/v1/packages: a data package uploaded as a zip is checked with the CLI's rules (422 with
file, row and column), fitted, and run or compared as the scenario `package:<id>`; an
upload is size-limited, and no request may point a scenario at files of its own."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from twin.data.sample import write_sample

from ..twin.package_kit import TINY as TINY_PACKAGE
from ..twin.package_kit import edit
from .conftest import MakeApp, wait_until_finished


def zipped(files: dict[str, bytes | str], folder: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(f"{folder}{name}", data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def sample_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("pkg")
    write_sample(folder, stores=3, skus=12, days=42, seed=3)
    return zipped({p.name: p.read_bytes() for p in sorted(folder.iterdir())}, "shop/")


def post_zip(client: TestClient, body: bytes, **params: str):
    return client.post(
        "/v1/packages", content=body, headers={"Content-Type": "application/zip"}, params=params
    )


def test_an_uploaded_package_is_fitted_and_runs_and_compares(
    client: TestClient, sample_zip: bytes
) -> None:
    r = post_zip(client, sample_zip, name="shop")
    assert r.status_code == 201, r.text
    pkg = r.json()
    assert r.headers["location"] == f"/v1/packages/{pkg['id']}"
    assert pkg["scenario"] == f"package:{pkg['id']}" and pkg["name"] == "shop"
    assert pkg["stores"] == 3 and pkg["skus"] == 12 and pkg["channels"] == ["mkt-a", "web"]
    assert pkg["history"]["days"] == 42
    assert any("negative units" in i["reason"] for i in pkg["ignored"])
    again = post_zip(client, sample_zip)  # the same zip is the same package
    assert again.status_code == 200 and again.json()["id"] == pkg["id"]
    assert client.get("/v1/packages").json()["items"][0]["id"] == pkg["id"]
    assert client.get(f"/v1/packages/{pkg['id']}").json() == pkg
    report = client.get(f"/v1/packages/{pkg['id']}/report")
    assert report.status_code == 200 and "WAPE daily" in report.text
    png = client.get(f"/v1/packages/{pkg['id']}/fit.png")
    assert png.headers["content-type"] == "image/png"
    # its fitted scenario as the catalogue's are (the planner page fills its form from it)
    sc = client.get(f"/v1/scenarios/{pkg['scenario']}").json()
    assert sc["name"] == pkg["scenario"] and sc["stores"] == 3 and sc["skus"] == 12
    assert sc["resolved"]["network"]["stores"]["count"] == 3
    assert sc["resolved"]["network"]["package"]["path"] == "data"  # not the server's folder
    assert client.get("/v1/scenarios/package:" + "0" * 32).status_code == 404

    run = client.post(
        "/v1/runs",
        json={"scenario": pkg["scenario"], "policy": "orchestrated", "replications": 1,
              "overrides": {"horizon_days": 2}},
    )  # fmt: skip
    assert run.status_code == 202, run.text
    done = wait_until_finished(client, f"/v1/runs/{run.json()['id']}")
    assert done["status"] == "done", done["error"]
    assert done["result"]["kpis"]["units_demanded"] > 0
    replay = client.post(
        "/v1/comparisons",
        json={"scenario": pkg["scenario"], "replications": 1, "overrides": {
            "horizon_days": 7, "demand.mode": "replay", "network.package.start_date":
            "2025-01-27"}},
    )  # fmt: skip
    assert replay.status_code == 202, replay.text
    done = wait_until_finished(client, f"/v1/comparisons/{replay.json()['id']}")
    assert done["status"] == "done", done["error"]
    units = {p: r["kpis"]["units_demanded"] for p, r in done["result"]["policies"].items()}
    assert units["legacy"] == units["orchestrated"] > 0


def test_a_bad_package_is_422_with_file_row_and_column(client: TestClient) -> None:
    files = {**TINY_PACKAGE, "stock": edit("stock", "S2,K1,4,0", "S2,K1,-4,0")}
    r = post_zip(client, zipped({f"{k}.csv": v for k, v in files.items()}))
    assert r.status_code == 422
    body = r.json()
    assert body["detail"] == [
        {
            "type": "package",
            "loc": ["body", "stock.csv", 3, "on_hand"],
            "msg": "-4 must be >= 0",
            "file": "stock.csv",
            "row": 3,
            "column": "on_hand",
        }
    ]
    assert any(i["reason"].startswith("units 0") for i in body["ignored"])
    short = post_zip(client, zipped({f"{k}.csv": v for k, v in TINY_PACKAGE.items()}))
    assert short.status_code == 422  # valid, but three days cannot be fitted
    assert "3 days of history" in short.json()["detail"][0]["msg"]
    assert client.get("/v1/packages").json()["items"] == []  # nothing kept


def test_uploads_that_are_not_packages_are_refused(client: TestClient, make_app: MakeApp) -> None:
    assert post_zip(client, b"not a zip").json()["detail"][0]["msg"].startswith("not a zip")
    r = client.post("/v1/packages", content=b"x", headers={"Content-Type": "text/csv"})
    assert r.status_code == 415
    assert post_zip(client, zipped({"readme.txt": "hi"})).status_code == 422
    bomb = zipped({"sales.csv": "date\n" + "2025-01-06\n" * 300_000})
    with TestClient(make_app(max_package_unpacked_bytes=100_000, fresh=False)) as small:
        r = post_zip(small, bomb)
        assert r.status_code == 422 and "OMNITWIN_MAX_PACKAGE_UNPACKED_BYTES" in r.text
    with TestClient(make_app(max_package_bytes=2048, fresh=False)) as small:
        r = post_zip(small, b"x" * 4096)
        assert r.status_code == 413 and "OMNITWIN_MAX_PACKAGE_BYTES" in r.text
    assert client.get("/v1/packages/" + "0" * 32).status_code == 404
    assert client.get("/v1/packages/nothex").status_code == 422


def test_a_package_over_the_size_limits_is_refused_at_upload(
    make_app: MakeApp, sample_zip: bytes
) -> None:
    with TestClient(make_app(max_stores=2)) as c:
        r = post_zip(c, sample_zip)
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "locations.csv", "kind"]
        assert "3 stores; this service runs at most 2" in r.json()["detail"][0]["msg"]


def test_no_request_points_a_scenario_at_server_files(
    client: TestClient, sample_zip: bytes, tmp_path: Path
) -> None:
    pkg = post_zip(client, sample_zip).json()
    inline = {"name": "x", "network": {"package": {"path": "/etc", "fit": "/tmp"}}}
    r = client.post("/v1/runs", json={"scenario": inline, "replications": 1})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "scenario", "network", "package"]
    for overrides in (
        {"network.package.path": str(tmp_path)},
        {"network.package": {"path": str(tmp_path), "fit": str(tmp_path)}},
    ):
        r = client.post(
            "/v1/runs", json={"scenario": "baseline", "replications": 1, "overrides": overrides}
        )
        assert r.status_code == 422, r.text
    r = client.post(
        "/v1/runs",
        json={"scenario": pkg["scenario"], "overrides": {"network.package.fit": str(tmp_path)}},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "scenario", "network", "package", "fit"]
    r = client.post("/v1/runs", json={"scenario": pkg["scenario"], "overrides": {"skus.count": 5}})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "5, but the package has 12 skus"
    r = client.post("/v1/runs", json={"scenario": "package:" + "0" * 32})
    assert r.status_code == 422 and "no uploaded package" in r.json()["detail"][0]["msg"]
