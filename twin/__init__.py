"""The digital twin: a SimPy + Mesa model of the retail network driving the real core."""

from .simulate import KPI_KEYS, InvariantBroken, RunResult, simulate

__all__ = ["KPI_KEYS", "InvariantBroken", "RunResult", "simulate"]
