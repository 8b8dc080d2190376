"""Scenario schema, catalogue and loading (pydantic at the edge)."""

from .loader import ScenarioError, catalog_names, load, validate
from .policies import BUNDLES, POLICY_NAMES, ResolvedPolicy, resolve
from .schema import Scenario

__all__ = [
    "BUNDLES",
    "POLICY_NAMES",
    "ResolvedPolicy",
    "Scenario",
    "ScenarioError",
    "catalog_names",
    "load",
    "resolve",
    "validate",
]
