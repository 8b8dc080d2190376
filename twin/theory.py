"""Closed-form inventory-theory and queueing results the simulation is checked against.

Every function is pure and scalar. Notation: ``λ`` is the demand (arrival) rate in
units per time unit, ``L`` the replenishment lead time, ``R`` the review period,
``D_t ~ Poisson(λt)`` the demand over an interval of length ``t``, ``F`` its cdf,
``f`` its pmf, ``μ`` its mean. Demand is for single units (a Poisson process, no
batches), which is what makes the one-for-one results below exact.

References: Zipkin, *Foundations of Inventory Management* (2000), ch. 6-7;
Hadley & Whitin (1963); Snyder & Shen, *Fundamentals of Supply Chain Theory*,
app. C (loss functions, same second-order definition as here); Gross & Harris,
*Fundamentals of Queueing Theory* (Erlang B/C).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = [
    "base_stock_continuous_backorders",
    "base_stock_continuous_lost_sales",
    "base_stock_periodic_backorders",
    "erlang_b",
    "erlang_c",
    "littles_law_L",
    "mmc_mean_wait",
    "poisson_loss",
    "poisson_second_loss",
    "student_t_ci95",
]


# --- validation helpers ------------------------------------------------------------------


def _as_int(value: float, name: str) -> int:
    """``value`` as an int, or ValueError if it is not integral (numpy ints are fine)."""
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if not math.isfinite(as_float) or not as_float.is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(as_float)


def _non_negative(value: float, name: str) -> float:
    as_float = float(value)
    if not math.isfinite(as_float) or as_float < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return as_float


def _positive(value: float, name: str) -> float:
    as_float = float(value)
    if not math.isfinite(as_float) or as_float <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return as_float


# --- Poisson loss functions -------------------------------------------------------------


def _right_tail(k: int, mu: float) -> tuple[np.ndarray, np.ndarray]:
    """Excesses ``j − k`` and pmf ``f(j)`` for ``j = k+1 … k+1+m``, for ``k > μ``.

    Beyond the mean the pmf falls at least like a Gaussian with variance ``μ``, so
    ``m = 40 + 12·√μ`` terms leave a relative truncation error below ``1e-25``. Summing
    the tail directly avoids the cancellation of the closed forms far out in the tail.
    """
    j = np.arange(k + 1, k + 2 + int(40 + 12 * math.sqrt(mu)), dtype=float)
    return j - k, stats.poisson.pmf(j, mu)


def poisson_loss(x: int, mean: float) -> float:
    """First-order loss ``n(x) = E[(D − x)+]`` for ``D ~ Poisson(mean)``, integer ``x``.

    For ``x ≤ μ`` the exact closed form ``n(x) = μ·P(D ≥ x) − x·P(D ≥ x+1)
    = μ·sf(x−1) − x·sf(x)``; for ``x > μ`` the tail sum ``Σ_{j>x} (j − x)·f(j)``,
    which keeps full relative accuracy far in the tail. For ``x < 0`` it is ``μ − x``.
    Expected backorders at base-stock ``x``.
    """
    k = _as_int(x, "x")
    mu = _non_negative(mean, "mean")
    if k > mu:
        excess, pmf = _right_tail(k, mu)
        return float(np.sum(excess * pmf))
    sf = stats.poisson.sf
    value = mu * sf(k - 1, mu) - k * sf(k, mu)
    return max(float(value), 0.0)


def poisson_second_loss(x: int, mean: float) -> float:
    """Second-order loss ``n²(x) = ½·E[(D − x)(D − x − 1)+]`` for ``D ~ Poisson(mean)``.

    This is the discrete definition (Zipkin; Snyder & Shen eq. C.42, as in
    ``stockpyl.loss_functions.poisson_second_loss``), *not* ``½·E[((D − x)+)²]``.
    It satisfies ``n²(x) = Σ_{y > x} n(y)`` and, for a Poisson process,
    ``∫_0^T E[(D_t − x)+] dt = n²(x; λT) / λ``. Closed form, with
    ``E[D(D−1); D ≥ m] = μ²·P(D ≥ m−2)`` and ``E[D; D ≥ m] = μ·P(D ≥ m−1)``:
    ``n²(x) = ½·[μ²·sf(x−2) − 2xμ·sf(x−1) + x(x+1)·sf(x)]`` for ``x ≤ μ``; for
    ``x > μ`` the tail sum ``½·Σ_{j>x} (j−x)(j−x−1)·f(j)`` (no cancellation). Integer ``x``.
    """
    k = _as_int(x, "x")
    mu = _non_negative(mean, "mean")
    if k > mu:
        excess, pmf = _right_tail(k, mu)
        return float(0.5 * np.sum(excess * (excess - 1) * pmf))
    sf = stats.poisson.sf
    value = 0.5 * (mu * mu * sf(k - 2, mu) - 2.0 * k * mu * sf(k - 1, mu) + k * (k + 1) * sf(k, mu))
    return max(float(value), 0.0)


# --- queueing ----------------------------------------------------------------------------


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang loss (blocking) probability ``B(c, a)`` of an M/G/c/c system.

    ``B(c, a) = (a^c / c!) / Σ_{k=0}^{c} a^k / k!`` with offered load ``a = λ/μ``
    (insensitive to the service-time distribution beyond its mean). Computed with the
    stable recursion ``B(0) = 1``, ``B(k) = a·B(k−1) / (k + a·B(k−1))``, which never
    forms a factorial or a power, so it works for thousands of servers.
    """
    c = _as_int(servers, "servers")
    if c < 0:
        raise ValueError(f"servers must be >= 0, got {servers!r}")
    a = _non_negative(offered_load, "offered_load")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C), ``C(c, a)``.

    ``C = c·B / (c − a·(1 − B))`` with ``B = erlang_b(c, a)`` and ``a = λ/μ``.
    Requires a stable queue, ``a < c``; FCFS, infinite waiting room.
    """
    c = _as_int(servers, "servers")
    if c < 1:
        raise ValueError(f"servers must be >= 1, got {servers!r}")
    a = _non_negative(offered_load, "offered_load")
    if a >= c:
        raise ValueError(
            f"M/M/c is unstable: offered load a = λ/μ = {a:g} must be < servers = {c} "
            f"(utilisation ρ = a/c = {a / c:g} must be < 1)"
        )
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue (excluding service) ``Wq`` of an M/M/c queue.

    ``Wq = C(c, a) / (c·μ − λ)`` with ``a = λ/μ``; for ``c = 1`` this is
    ``ρ / (μ − λ)``. Requires ``λ < c·μ`` (ValueError otherwise).
    """
    lam = _non_negative(arrival_rate, "arrival_rate")
    mu = _positive(service_rate, "service_rate")
    c = _as_int(servers, "servers")
    prob_wait = erlang_c(c, lam / mu)
    return prob_wait / (c * mu - lam)


def littles_law_L(arrival_rate: float, mean_time: float) -> float:
    """Little's law ``L = λ·W``: mean number in a system from throughput and mean sojourn."""
    return _non_negative(arrival_rate, "arrival_rate") * _non_negative(mean_time, "mean_time")


# --- one-location base-stock policies, Poisson unit demand -----------------------------


def base_stock_continuous_backorders(
    S: int, demand_rate: float, lead_time: float
) -> dict[str, float]:
    """One-for-one (S−1, S) continuous review, Poisson demand, full backordering.

    Every demand triggers an order of one unit that arrives ``L`` later (constant, or
    i.i.d. with mean ``L`` by Palm's theorem: the pipeline is M/G/∞), so the inventory
    position is always ``S`` and, in steady state, net inventory is ``S − D_L`` with
    ``D_L ~ Poisson(λL)``. Time averages (= customer averages by PASTA):

    - ``fill_rate`` = ``P(D_L ≤ S − 1)``: a unit demand is filled from stock;
    - ``mean_backorders`` = ``E[(D_L − S)+]`` (first-order loss);
    - ``mean_on_hand`` = ``E[(S − D_L)+]`` = ``S − λL + E[(D_L − S)+]``;
    - ``mean_outstanding`` = ``λL`` (on order, Palm's theorem / Little's law).
    """
    s = _as_int(S, "S")
    lam = _non_negative(demand_rate, "demand_rate")
    lead = _non_negative(lead_time, "lead_time")
    mu = lam * lead
    backorders = poisson_loss(s, mu)
    return {
        "fill_rate": float(stats.poisson.cdf(s - 1, mu)),
        "mean_backorders": backorders,
        "mean_on_hand": s - mu + backorders,
        "mean_outstanding": mu,
    }


def base_stock_continuous_lost_sales(
    S: int, demand_rate: float, lead_time: float
) -> dict[str, float]:
    """One-for-one continuous review, Poisson demand, demand lost when nothing is on hand.

    Units in the pipeline are busy servers of an Erlang loss system M/G/S/S with
    offered load ``λL``: a sale starts a replenishment (service), a demand that finds
    all ``S`` units in the pipeline is lost. By insensitivity this holds for any
    i.i.d. lead-time distribution with mean ``L``. With ``B = erlang_b(S, λL)``:

    - ``lost_fraction`` = ``B`` (fraction of demand lost = time fraction out of stock);
    - ``fill_rate`` = ``1 − B``;
    - ``mean_outstanding`` = ``λL(1 − B)`` (carried load, Little's law);
    - ``mean_on_hand`` = ``S − λL(1 − B)``.
    """
    s = _as_int(S, "S")
    if s < 0:
        raise ValueError(f"S must be >= 0 under lost sales, got {S!r}")
    lam = _non_negative(demand_rate, "demand_rate")
    lead = _non_negative(lead_time, "lead_time")
    mu = lam * lead
    lost = erlang_b(s, mu)
    outstanding = mu * (1.0 - lost)
    return {
        "lost_fraction": lost,
        "fill_rate": 1.0 - lost,
        "mean_on_hand": s - outstanding,
        "mean_outstanding": outstanding,
    }


def base_stock_periodic_backorders(
    S: int, demand_rate: float, lead_time: float, review_period: float
) -> dict[str, float]:
    """Order-up-to ``S`` every ``R`` time units, constant lead time ``L``, Poisson demand,
    full backordering (the (R, S) policy).

    The order placed at a review arrives at ``L``; over the cycle ``t ∈ [L, L + R)``
    after a review, net inventory is ``S − D_t``. Time averages over a cycle:

    - ``mean_backorders`` = ``(1/R)·∫_L^{L+R} E[(D_t − S)+] dt``, computed *exactly*
      (no grid) as ``[n²(S; λ(L+R)) − n²(S; λL)] / (λR)`` with the second-order loss
      ``n²`` (because ``d/dt n²(S; λt) = λ·n(S; λt)``);
    - ``fill_rate`` = ``1 − [n(S; λ(L+R)) − n(S; λL)] / (λR)``: expected units
      backordered per cycle over expected demand per cycle (unit demand);
    - ``mean_net_inventory`` = ``S − λ(L + R/2)``;
    - ``mean_on_hand`` = ``mean_net_inventory + mean_backorders``;
    - ``mean_inventory_position`` = ``S − λR/2`` (after-review position drifts down);
    - ``mean_outstanding`` = ``λL`` (on order; Little's law with throughput ``λ``).

    With ``λ = 0`` nothing is ever backordered (``fill_rate`` = 1 by convention).
    """
    s = _as_int(S, "S")
    lam = _non_negative(demand_rate, "demand_rate")
    lead = _non_negative(lead_time, "lead_time")
    period = _positive(review_period, "review_period")
    mu_lead, mu_cycle = lam * lead, lam * (lead + period)
    demand_per_cycle = lam * period
    if demand_per_cycle > 0:
        backordered_per_cycle = poisson_loss(s, mu_cycle) - poisson_loss(s, mu_lead)
        fill_rate = 1.0 - backordered_per_cycle / demand_per_cycle
        mean_backorders = (
            poisson_second_loss(s, mu_cycle) - poisson_second_loss(s, mu_lead)
        ) / demand_per_cycle
    else:
        fill_rate, mean_backorders = 1.0, float(max(-s, 0))
    net = s - lam * (lead + period / 2.0)
    return {
        "fill_rate": fill_rate,
        "mean_backorders": mean_backorders,
        "mean_on_hand": net + mean_backorders,
        "mean_net_inventory": net,
        "mean_inventory_position": s - lam * period / 2.0,
        "mean_outstanding": lam * lead,
    }


# --- output analysis ---------------------------------------------------------------------


def student_t_ci95(samples: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """Mean and two-sided 95 % Student-t confidence interval over i.i.d. replications.

    ``x̄ ± t_{0.975, n−1}·s/√n`` with ``s`` the sample standard deviation (ddof = 1).
    Assumes replications are independent and their means roughly normal. With one
    replication the interval is undefined: returns ``(x, nan, nan)``.
    """
    data = np.asarray(samples, dtype=float).ravel()
    n = data.size
    if n == 0:
        raise ValueError("student_t_ci95 needs at least one sample")
    mean = float(data.mean())
    if n == 1:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half
