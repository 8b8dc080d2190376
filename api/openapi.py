"""The OpenAPI document as this service runs: its limits, its names and its security.

FastAPI derives the schema from the models; what depends on the settings and the
catalogue is written in here: the maxima of replications, policies and overrides, the
catalogue's scenario names and the policy names as enums, the service limits in the
description and as `x-omnitwin-limits`, and the API-key schemes only when the service
has a key (a document that declares a scheme the service does not enforce would lie).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from scenarios import POLICY_NAMES, catalog_names
from twin.roadmap import STEP_NAMES

from .packages import REF
from .settings import Settings

JOB_BODIES = ("RunCreate", "ComparisonCreate", "RoadmapCreate")


def limits_of(settings: Settings) -> dict[str, Any]:
    """The service limits a request is checked against, with the setting behind each."""
    return {
        "max_replications": settings.max_replications,
        "max_horizon_days": settings.max_horizon_days,
        "max_stores": settings.max_stores,
        "max_skus": settings.max_skus,
        "max_policies": settings.max_policies,
        "max_overrides": settings.max_overrides,
        "max_body_bytes": settings.max_body_bytes,
        "max_package_bytes": settings.max_package_bytes,
        "max_package_unpacked_bytes": settings.max_package_unpacked_bytes,
        "max_concurrent_runs": settings.max_concurrent_runs,
        "max_queued_runs": settings.max_queued_runs,
    }


def service_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if app.openapi_schema is not None:
        return app.openapi_schema
    limits = limits_of(settings)
    table = "\n".join(
        f"| `{k}` | {v:g} | `OMNITWIN_{k.upper()}` |"
        if isinstance(v, float)
        else f"| `{k}` | {v} | `OMNITWIN_{k.upper()}` |"
        for k, v in limits.items()
    )
    description = (
        f"{app.description}\n\n## Service limits\n\nA run or comparison over one of these is"
        " refused with 422 naming the field (the scenario's size is checked after its"
        " overrides); a body over `max_body_bytes` with 413; more than"
        " `max_concurrent_runs + max_queued_runs` jobs in progress with 429.\n\n"
        f"| limit | value | setting |\n|---|---:|---|\n{table}\n"
    )
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=description,
        routes=app.routes,
    )
    doc["info"]["x-omnitwin-limits"] = limits
    schemas = doc.get("components", {}).get("schemas", {})
    for name in JOB_BODIES:
        props = schemas.get(name, {}).get("properties", {})
        _bound_job(props, settings)
    if not settings.api_key:
        _without_security(doc)
    app.openapi_schema = doc
    return doc


def _bound_job(props: dict[str, Any], settings: Settings) -> None:
    """Enums and maxima on a run or comparison body."""
    branches = props.get("scenario", {}).get("anyOf", [])
    for i, branch in enumerate(list(branches)):
        if branch.get("type") == "string":
            branch["enum"] = catalog_names()
            branches.insert(
                i + 1,
                {
                    "type": "string",
                    "pattern": REF.pattern,
                    "description": "An uploaded data package's fitted scenario (POST"
                    " /v1/packages).",
                },
            )
            break
    for branch in props.get("replications", {}).get("anyOf", []):
        if branch.get("type") == "integer":
            branch["maximum"] = settings.max_replications
    for branch in props.get("policy", {}).get("anyOf", []):
        if branch.get("type") == "string":
            branch["enum"] = list(POLICY_NAMES)
    policies = props.get("policies")
    if policies is not None:
        policies["maxItems"] = settings.max_policies
        policies["uniqueItems"] = True
        policies.setdefault("items", {})["enum"] = list(POLICY_NAMES)
    for branch in props.get("order", {}).get("anyOf", []):
        if branch.get("type") == "array":
            branch["items"] = {"type": "string", "enum": list(STEP_NAMES)}
            branch["uniqueItems"] = True
            branch["minItems"] = 1
            branch["maxItems"] = len(STEP_NAMES)
    for branch in props.get("overrides", {}).get("anyOf", []):
        if branch.get("type") == "object":
            branch["maxProperties"] = settings.max_overrides
        if branch.get("type") == "array":
            branch["maxItems"] = settings.max_overrides


def _without_security(doc: dict[str, Any]) -> None:
    """No key configured: no scheme, no 401/403 (reads and writes are open)."""
    doc.get("components", {}).pop("securitySchemes", None)
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("security", None)
                for code in ("401", "403"):
                    op.get("responses", {}).pop(code, None)
