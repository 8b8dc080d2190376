"""Request and response bodies (pydantic at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCENARIO_HELP = (
    "A catalogue name (GET /v1/scenarios) or an inline scenario mapping (the YAML schema as"
    " JSON; `extends` may name a catalogue scenario)."
)
OVERRIDES_HELP = (
    'Field overrides as the CLI\'s --set: {"path": value} or ["path=value"], e.g.'
    ' {"horizon_days": 7, "channels[0].orders_per_day": 500}.'
)


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str | dict[str, Any] = Field(description=SCENARIO_HELP)
    # strict: `true` is not a seed or a count of replications
    seed: int | None = Field(None, ge=0, le=2**32 - 1, strict=True, description="Base seed.")
    replications: int | None = Field(
        None, ge=1, strict=True, description="Default: the scenario's."
    )
    overrides: dict[str, Any] | list[str] = Field(default_factory=dict, description=OVERRIDES_HELP)


class RunCreate(_Job):
    """One scenario under one policy."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scenario": "baseline",
                    "policy": "orchestrated",
                    "seed": 7,
                    "replications": 3,
                    "overrides": {"horizon_days": 7},
                }
            ]
        },
    )

    policy: str | None = Field(None, description="A policy name (GET /v1/policies).")


class ComparisonCreate(_Job):
    """Several policies on one scenario with common seeds; the first is the baseline."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scenario": "peak",
                    "policies": ["legacy", "orchestrated"],
                    "replications": 3,
                    "overrides": {"horizon_days": 7},
                }
            ]
        },
    )

    policies: list[str] = Field(
        default_factory=lambda: ["legacy", "orchestrated"],
        min_length=2,
        description="Two or more policy names; differences are against the first.",
    )


class RoadmapCreate(_Job):
    """The modernisation roadmap: every step alone and along a path from legacy, on
    common seeds, with its value a year, the net benefit and the payback."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "scenario": "baseline",
                    "order": "seed",
                    "replications": 2,
                    "overrides": {"horizon_days": 7, "network.stores.count": 5},
                }
            ]
        },
    )

    order: Literal["seed", "greedy"] | list[str] = Field(
        "seed",
        description="seed (the article's phases), greedy (the most valuable next step each"
        " time), or the steps in an order of your own (the rest follow in the seed order).",
    )


class Progress(BaseModel):
    done: int
    total: int
    fraction: float


class JobSummary(BaseModel):
    """A run or a comparison in a list: its state and request, without the result object
    or an inline scenario's body (GET the job for those)."""

    id: str
    kind: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    scenario: str
    progress: Progress
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None = Field(description="Why it failed or was cancelled.")
    request: dict[str, Any] = Field(
        description="The request; in a list an inline scenario is replaced by its name"
        " (`inline: true`)."
    )
    links: dict[str, str]


class JobOut(JobSummary):
    """A run or a comparison: its state and, once done, its result object."""

    warnings: list[str] = Field(
        default_factory=list,
        description="What the scenario asks for that this run cannot show (a fault or"
        " event after the horizon or inside the warm-up).",
    )
    result: dict[str, Any] | None = Field(
        description="When done: the KPIS.md result object (a comparison: per policy, the"
        " paired differences and the table)."
    )
    plots: list[str] = Field(default_factory=list)


class JobList(BaseModel):
    items: list[JobSummary]


class ScenarioSummary(BaseModel):
    name: str
    description: str
    question: str
    horizon_days: float
    stores: int
    skus: int
    channels: list[str]


class ScenarioDetail(ScenarioSummary):
    raw: dict[str, Any] = Field(description="The file as written.")
    resolved: dict[str, Any] = Field(description="Every field, with defaults and `extends`.")


class Problem(BaseModel):
    path: str
    msg: str


class ValidationResult(BaseModel):
    valid: bool
    problems: list[Problem]
    scenario: dict[str, Any] | None = Field(None, description="The resolved scenario, if valid.")


class PolicyOut(BaseModel):
    name: str
    operating_model: str
    allocation_variant: str | None
    parts: dict[str, Any] = Field(description="Every knob of the resolved bundle.")


class PoliciesOut(BaseModel):
    bundles: dict[str, dict[str, Any]]
    policies: list[PolicyOut]


class Ignored(BaseModel):
    """Rows, columns or files of a package left out on purpose, with the reason."""

    file: str
    count: int
    what: str = Field(description="rows, columns or files")
    reason: str
    first_rows: list[int]


class History(BaseModel):
    first: str
    last: str
    days: int


class PackageOut(BaseModel):
    """An uploaded data package, checked and fitted: run it as the scenario `package:<id>`."""

    id: str
    name: str
    created_at: str
    scenario: str = Field(description="The scenario to name in POST /v1/runs|comparisons.")
    bytes: int
    files: list[str]
    stores: int
    other_locations: int
    skus: int
    suppliers: int
    channels: list[str]
    history: History
    sales_rows: int
    ignored: list[Ignored]
    links: dict[str, str]


class PackageList(BaseModel):
    items: list[PackageOut]
