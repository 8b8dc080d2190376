"""The command line: scenarios, run, compare, sweep; exit codes and --json contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.simulate import EVENT_KEYS, INVARIANT_KEYS, KPI_KEYS

SMALL = [
    "--set",
    "horizon_days=3",
    "--set",
    "network.stores.count=3",
    "--set",
    "skus.count=6",
    "--set",
    "channels[0].orders_per_day=40",
    "--set",
    "channels[1].orders_per_day=20",
]
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_scenarios_list_names_every_catalogue_scenario_with_its_question() -> None:
    res = invoke("scenarios", "list")
    assert res.exit_code == 0
    for name in ("baseline", "peak", "outage", "supply-shock", "returns-surge", "case-study"):
        assert name in res.output
    assert "real-time" in res.output


def test_scenarios_show_prints_the_file_and_resolved_prints_every_default() -> None:
    assert "extends: baseline" in invoke("scenarios", "show", "peak").output
    res = invoke("scenarios", "show", "peak", "--resolved")
    assert res.exit_code == 0 and "store_units_per_sku_day" in res.output


def test_schema_is_exported_as_json_schema() -> None:
    res = invoke("scenarios", "schema")
    schema = json.loads(res.output)
    assert schema["title"] == "Scenario"
    assert {"network", "skus", "channels", "demand", "policy", "faults"} <= set(
        schema["properties"]
    )


def test_validate_lists_every_problem_by_path_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nnetwork:\n  stores:\n    count: -1\n    pickers: 0\nhorizon_days: 0\nsku: 3\n"
    )
    res = invoke("scenarios", "validate", str(bad))
    assert res.exit_code == 2
    assert "network.stores.count: must be >= 0" in res.output
    assert "network.stores.pickers: must be > 0" in res.output
    assert "horizon_days: must be > 0" in res.output
    assert "sku: unknown field" in res.output
    assert "Traceback" not in res.output


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\nextends: baseline\nhorizon_days: 7\n")
    res = invoke("scenarios", "validate", str(good))
    assert res.exit_code == 0 and "valid" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-scenario"], "no catalogue scenario or file"),
        (["run", "baseline", "--set", "network.stores.count=-2"], "network.stores.count"),
        (["run", "baseline", "--set", "nonsense"], "expected path=value"),
        (["run", "baseline", "--policy", "magic"], "--policy: must be one of"),
        (["compare", "baseline", "--policies", "legacy,magic"], "policies: unknown 'magic'"),
        (["sweep", "baseline", "--grid", "horizon_days"], "expected path=v1,v2"),
    ],
)
def test_a_users_mistake_is_a_message_and_exit_code_2(args: list[str], message: str) -> None:
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "baseline", "--out", "{file}"], "--out: {file} is a file, not a folder"),
        (["run", "baseline", "--export", "{file}/x"], "--export: {file} is a file, so"),
        (["compare", "baseline", "--out", "{file}/x/y"], "--out: {file} is a file, so"),
        (["compare", "baseline", "--export", "{file}"], "--export: {file} is a file"),
        (["roadmap", "baseline", "--out", "{file}"], "--out: {file} is a file"),
        (["sweep", "baseline", "--grid", "seed=1,2", "--out", "{file}"], "--out: {file}"),
        (["demo", "--out", "{file}"], "--out: {file} is a file"),
        (["data", "sample", "{file}"], "FOLDER: {file} is a file, not a folder"),
        (["data", "validate", "{file}"], "{file}: a file, not a folder"),
        (["data", "fit", "{file}", "--out", "{file}/x.yaml"], "--out: {file} is a file"),
    ],
)
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """A run that would end in a folder it cannot write is refused before it starts
    (before its scenario is even loaded)."""
    import twin.cli

    def must_not_run(*_a: object, **_k: object) -> None:
        raise AssertionError("work started before the folders were checked")

    monkeypatch.setattr(twin.cli, "load_scenario", must_not_run)
    monkeypatch.setattr(twin.cli, "load", must_not_run)
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    res = invoke(*(a.format(file=file) for a in args))
    assert res.exit_code == 2, res.output
    assert message.format(file=file) in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert file.read_text() == "not a folder"


def test_run_json_prints_exactly_the_kpis_result_object() -> None:
    res = runner.invoke(app, ["run", "baseline", *SMALL, "-r", "1", "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert set(obj) == {
        "scenario",
        "policy",
        "seed",
        "replications",
        "sim_days",
        "wall_seconds",
        "core_events_per_second",
        "kpis",
        "exceptions_by_kind",
        "invariants",
        "events",
        "money",
    }
    assert list(obj["kpis"]) == list(KPI_KEYS)
    assert list(obj["invariants"]) == list(INVARIANT_KEYS)
    assert list(obj["events"]) == list(EVENT_KEYS)
    assert obj["invariants"]["units_conserved"] is True


def test_run_writes_a_report_with_plots_series_and_result(tmp_path: Path) -> None:
    res = invoke("run", "baseline", *SMALL, "-r", "1", "--out", str(tmp_path / "r"), "-q")
    assert res.exit_code == 0, res.output
    names = {p.name for p in (tmp_path / "r").iterdir()}
    assert {
        "result.json",
        "series.csv",
        "series.parquet",
        "report.md",
        "fill_rate.png",
        "comparison.png",
        "exception_backlog.png",
        "posting_delay.png",
        "oversells.png",
        "ats.png",
    } <= names
    report = (tmp_path / "r" / "report.md").read_text()
    assert "| Fill rate |" in report and "![" in report


def test_compare_json_has_policies_and_paired_differences() -> None:
    res = runner.invoke(
        app,
        ["compare", "baseline", *SMALL, "--policies", "legacy,orchestrated", "-r", "2", "--json"],
    )
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["scenario"] == "baseline"
    assert list(obj["policies"]) == ["legacy", "orchestrated"]
    assert set(obj["policies"]["legacy"]["ci95"]) == set(KPI_KEYS)
    d = obj["differences"]["orchestrated"]["posting_delay_p95_h"]
    assert d["mean"] < 0 and d["significant"] is True  # nightly batch vs immediate posting
    assert (
        obj["policies"]["legacy"]["kpis"]["orders_total"]
        == obj["policies"]["orchestrated"]["kpis"]["orders_total"]
    )  # same customers


def test_compare_writes_a_readable_report(tmp_path: Path) -> None:
    res = invoke("compare", "baseline", *SMALL, "-r", "2", "--out", str(tmp_path / "c"))
    assert res.exit_code == 0, res.output
    report = (tmp_path / "c" / "report.md").read_text()
    assert "Δ orchestrated vs legacy" in report
    assert "comparison.png" in report
    assert "Posting delay p95" in res.output  # the table is printed too


def test_a_report_describes_the_scenario_as_run_not_only_as_written(tmp_path: Path) -> None:
    res = invoke(
        "run",
        "outage",
        "--set",
        "horizon_days=2",
        "--set",
        "network.stores.count=3",
        "--set",
        "skus.count=6",
        "-r",
        "1",
        "--out",
        str(tmp_path / "r"),
        "-q",
    )
    assert res.exit_code == 0, res.output
    report = (tmp_path / "r" / "report.md").read_text()
    assert "**As run.** 3 stores" in report
    assert "`network.stores.count=3`" in report
    # the outage scenario's faults are on day 10 and later: the report says they cannot show
    assert "faults.erp_outages[0] starts at hour" in report and "does not happen" in report


def test_demo_refreshes_only_the_text_between_its_markers(tmp_path: Path) -> None:
    from twin.cli import ROADMAP_END, ROADMAP_START, _refresh

    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{ROADMAP_START}\nold table\n{ROADMAP_END}\nafter\n")
    _refresh(readme, ROADMAP_START, ROADMAP_END, f"{ROADMAP_START}\nnew table\n{ROADMAP_END}")
    assert readme.read_text() == f"before\n{ROADMAP_START}\nnew table\n{ROADMAP_END}\nafter\n"
    untouched = tmp_path / "OTHER.md"
    untouched.write_text("no markers\n")
    _refresh(untouched, ROADMAP_START, ROADMAP_END, "x")
    assert untouched.read_text() == "no markers\n"
