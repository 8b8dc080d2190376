"""Schemathesis with every check (`--checks all`) against a real `omnitwin serve` with an
API key, on SQLite and on PostgreSQL: status codes, content types, headers, response
schemas, negative and positive data, missing headers, unsupported methods, `Allow`,
ignored auth. The two documented design choices are in `schemathesis.toml` beside this
file. The job routes are reached with the ids of a finished run and comparison."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import TINY
from .served import served, wait_finished

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
KEY = "fuzz-key"


def _sample_zip(folder: Path) -> bytes:
    """A small sample data package as a zip, inside the test's size limits."""
    from twin.data.sample import write_sample

    write_sample(folder, stores=3, skus=8, days=35, seed=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in sorted(folder.iterdir()):
            z.write(p, p.name)
    return buf.getvalue()


@pytest.mark.skipif(not ST.exists(), reason="schemathesis is a dev dependency")
def test_every_schemathesis_check_passes_against_a_real_server(
    tmp_path: Path, database_url: str
) -> None:
    limits = {
        "max_horizon_days": "3",
        "max_stores": "5",
        "max_skus": "10",
        "max_replications": "2",
        "max_concurrent_runs": "1",
        "max_queued_runs": "3",
    }
    with served(tmp_path, "schemathesis", database_url, api_key=KEY, **limits) as client:
        headers = {"X-API-Key": KEY}
        ids = {}
        for prefix, body in (
            ("/v1/runs", {"scenario": "baseline", "policy": "legacy", "replications": 1}),
            ("/v1/comparisons", {"scenario": "baseline", "replications": 1}),
        ):
            r = client.post(prefix, json={**body, "overrides": TINY}, headers=headers)
            assert r.status_code == 202, r.text
            ids[prefix] = r.json()["id"]
            assert wait_finished(client, f"{prefix}/{ids[prefix]}")["status"] == "done"
        package = _sample_zip(tmp_path / "pkg")
        r = client.post(
            "/v1/packages",
            content=package,
            headers={**headers, "Content-Type": "application/zip"},
        )
        assert r.status_code == 201, r.text
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            CONFIG.read_text()
            + "".join(
                f'\n[[operations]]\ninclude-path-regex = "^{prefix}/"\n'
                f'parameters = {{ job_id = "{job}" }}\n'
                for prefix, job in ids.items()
            )
            + '\n[[operations]]\ninclude-path-regex = "^/v1/packages/"\n'
            f'parameters = {{ package_id = "{r.json()["id"]}" }}\n'
        )
        proc = subprocess.run(
            [
                str(ST),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{client.base_url}/openapi.json",
                "--checks",
                "all",
                "-H",
                f"X-API-Key: {KEY}",
                "--max-examples",
                "20",
                "--seed",
                "1",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert "passed" in proc.stdout
