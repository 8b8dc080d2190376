"""/v1/policies: the built-in operating-model bundles and their parts."""

from __future__ import annotations

from fastapi import APIRouter

from scenarios import BUNDLES, POLICY_NAMES, resolve
from scenarios.schema import Policy

from ..db import plain
from ..schemas import PoliciesOut, PolicyOut

router = APIRouter(prefix="/v1/policies", tags=["policies"])


def _jsonable(v: object) -> object:
    return v.model_dump(mode="json") if hasattr(v, "model_dump") else v


@router.get("", response_model=PoliciesOut, summary="Policy bundles and every knob they set")
def list_policies() -> PoliciesOut:
    bundles = {n: {k: _jsonable(v) for k, v in b.items()} for n, b in BUNDLES.items()}
    out = []
    for name in POLICY_NAMES:
        model, _, variant = name.partition("-")
        parts = {k: _jsonable(v) for k, v in resolve(Policy(), name).as_dict().items()}
        out.append(
            PolicyOut(
                name=name,
                operating_model=model,
                allocation_variant=variant or None,
                parts=plain(parts),
            )
        )
    return PoliciesOut(bundles=plain(bundles), policies=out)
