"""/v1/scenarios: the catalogue, one scenario with its JSON, and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, status

from scenarios import Scenario, ScenarioError, catalog_names, load
from scenarios.describe import question_of
from scenarios.loader import CATALOG, read_raw

from .. import packages
from ..deps import SettingsDep
from ..schemas import Problem, ScenarioDetail, ScenarioSummary, ValidationResult

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"])


def _summary(name: str, sc: Scenario, path: Path | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": sc.description,
        "question": question_of(path or CATALOG / f"{name}.yaml"),
        "horizon_days": sc.horizon_days,
        "stores": sc.network.stores.count,
        "skus": sc.skus.count,
        "channels": [c.code for c in sc.channels],
    }


@router.get("", response_model=list[ScenarioSummary], summary="The built-in catalogue")
def list_scenarios() -> list[ScenarioSummary]:
    return [ScenarioSummary(**_summary(n, load(n))) for n in catalog_names()]


@router.get(
    "/{name}",
    response_model=ScenarioDetail,
    responses={404: {"description": "Not in the catalogue, nor an uploaded package"}},
    summary="One catalogue scenario, or an uploaded package's `package:<id>`: the file as"
    " written and every resolved field",
)
def get_scenario(name: str, settings: SettingsDep) -> ScenarioDetail:
    if name.startswith(packages.PREFIX):
        return _package_scenario(name, settings)
    if name not in catalog_names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no catalogue scenario {name!r}")
    raw, _ = read_raw(name)
    sc = load(name)
    return ScenarioDetail(**_summary(name, sc), raw=raw, resolved=sc.model_dump(mode="json"))


@router.post(
    "/validate",
    response_model=ValidationResult,
    summary="Check a scenario body: every problem by field path",
)
def validate_scenario(
    scenario: Annotated[
        dict[str, Any],
        Body(
            description="A scenario mapping (the YAML schema as JSON).",
            examples=[{"name": "tiny", "horizon_days": 0, "network": {"stores": {"count": -1}}}],
        ),
    ],
) -> ValidationResult:
    names = catalog_names()
    if "extends" in scenario and scenario["extends"] not in names:
        msg = f"must name a catalogue scenario ({', '.join(names)})"
        return ValidationResult(valid=False, problems=[Problem(path="extends", msg=msg)])
    try:
        sc = load(scenario)
    except ScenarioError as exc:
        problems = []
        for p in exc.problems:
            path, sep, msg = p.partition(": ")
            problems.append(Problem(path=path, msg=msg) if sep else Problem(path="", msg=p))
        return ValidationResult(valid=False, problems=problems)
    return ValidationResult(valid=True, problems=[], scenario=sc.model_dump(mode="json"))


def _package_scenario(name: str, settings: Any) -> ScenarioDetail:
    """The fitted scenario of an uploaded package (the planner page fills its form from it)."""
    path = packages.scenario_file(settings, name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no uploaded package {name[:80]!r}")
    raw, _ = read_raw(path)
    sc = load(str(path))
    resolved = sc.model_dump(mode="json")
    # the package's files as its scenario names them, not where this server keeps them
    for key in ("path", "fit"):
        resolved["network"]["package"][key] = raw["network"]["package"][key]
    return ScenarioDetail(**_summary(name, sc, path), raw=raw, resolved=resolved)
