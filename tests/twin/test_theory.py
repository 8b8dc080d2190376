"""The closed-form results of twin.theory agree with brute force, textbooks and Monte Carlo."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, stats

from twin.theory import (
    base_stock_continuous_backorders,
    base_stock_continuous_lost_sales,
    base_stock_periodic_backorders,
    erlang_b,
    erlang_c,
    littles_law_L,
    mmc_mean_wait,
    poisson_loss,
    poisson_second_loss,
    student_t_ci95,
)

# --- independent computations -------------------------------------------------------------


def brute_force_losses(x: int, mean: float) -> tuple[float, float]:
    """E[(D−x)+] and ½E[(D−x)(D−x−1)+] by summing the Poisson pmf far into the tail."""
    k = np.arange(0, int(mean + abs(x) + 40 * math.sqrt(mean + 1) + 100))
    pmf = stats.poisson.pmf(k, mean)
    over = k > x
    first = float(np.sum(np.where(over, k - x, 0) * pmf))
    second = float(0.5 * np.sum(np.where(over, (k - x) * (k - x - 1), 0) * pmf))
    return first, second


def erlang_b_by_factorials(c: int, a: float) -> float:
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


def erlang_c_by_factorials(c: int, a: float) -> float:
    waiting = a**c / math.factorial(c) * c / (c - a)
    return waiting / (sum(a**k / math.factorial(k) for k in range(c)) + waiting)


LOSS_CASES = [
    (x, mean) for mean in (0.0, 0.3, 2.5, 15.0, 120.0) for x in (-2, 0, 1, 3, 14, 30, 160)
]


# --- Poisson loss functions ---------------------------------------------------------------


@pytest.mark.parametrize(("x", "mean"), LOSS_CASES)
def test_poisson_loss_matches_a_brute_force_sum_of_the_pmf(x: int, mean: float) -> None:
    assert poisson_loss(x, mean) == pytest.approx(
        brute_force_losses(x, mean)[0], rel=1e-9, abs=1e-300
    )


@pytest.mark.parametrize(("x", "mean"), LOSS_CASES)
def test_poisson_second_loss_matches_half_the_factorial_moment_of_the_excess(
    x: int, mean: float
) -> None:
    expected = brute_force_losses(x, mean)[1]
    assert poisson_second_loss(x, mean) == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_second_loss_is_the_tail_sum_of_first_losses() -> None:
    tail = sum(poisson_loss(y, 6.0) for y in range(5, 80))
    assert poisson_second_loss(4, 6.0) == pytest.approx(tail, rel=1e-12)


def test_loss_below_zero_stock_is_the_mean_plus_the_shortfall() -> None:
    assert poisson_loss(-3, 4.0) == pytest.approx(7.0)
    assert poisson_loss(0, 4.0) == pytest.approx(4.0)


def test_loss_functions_reject_fractional_stock_levels() -> None:
    with pytest.raises(ValueError, match="integer"):
        poisson_loss(2.5, 3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        poisson_second_loss(2.5, 3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mean"):
        poisson_loss(2, -1.0)


# --- queueing -----------------------------------------------------------------------------


def test_erlang_b_matches_the_textbook_value_for_ten_servers_and_five_erlangs() -> None:
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-6)


@pytest.mark.parametrize(("c", "a"), [(0, 2.0), (1, 0.5), (3, 2.0), (7, 4.2), (15, 20.0)])
def test_erlang_b_matches_the_factorial_formula(c: int, a: float) -> None:
    assert erlang_b(c, a) == pytest.approx(erlang_b_by_factorials(c, a), rel=1e-12)


def test_erlang_b_stays_stable_for_thousands_of_servers() -> None:
    # B(c, a) = P(N = c) / P(N <= c) for N ~ Poisson(a): an independent, log-safe route.
    expected = stats.poisson.pmf(4000, 3900.0) / stats.poisson.cdf(4000, 3900.0)
    assert erlang_b(4000, 3900.0) == pytest.approx(expected, rel=1e-9)


def test_erlang_c_for_two_servers_at_one_erlang_is_one_third() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)


@pytest.mark.parametrize(("c", "a"), [(1, 0.7), (3, 2.0), (8, 7.5), (12, 3.0)])
def test_erlang_c_matches_the_factorial_formula(c: int, a: float) -> None:
    assert erlang_c(c, a) == pytest.approx(erlang_c_by_factorials(c, a), rel=1e-12)


def test_erlang_c_refuses_an_unstable_queue_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"unstable.*must be < servers = 2"):
        erlang_c(2, 2.0)
    with pytest.raises(ValueError, match="unstable"):
        mmc_mean_wait(arrival_rate=5.0, service_rate=1.0, servers=4)


def test_mm1_mean_wait_is_rho_over_mu_minus_lambda() -> None:
    lam, mu = 0.8, 1.0
    assert mmc_mean_wait(lam, mu, 1) == pytest.approx((lam / mu) / (mu - lam), rel=1e-12)


def test_mmc_mean_wait_matches_erlang_c_over_spare_capacity() -> None:
    assert mmc_mean_wait(1.0, 1.0, 2) == pytest.approx(1 / 3, rel=1e-12)  # C = 1/3, cμ−λ = 1
    lam, mu, c = 9.0, 2.0, 6
    expected = erlang_c_by_factorials(c, lam / mu) / (c * mu - lam)
    assert mmc_mean_wait(lam, mu, c) == pytest.approx(expected, rel=1e-12)


def test_littles_law_multiplies_throughput_by_time_in_system() -> None:
    assert littles_law_L(4.0, 2.5) == pytest.approx(10.0)
    lam, mu = 0.6, 1.0  # M/M/1: Lq = λ·Wq = ρ²/(1−ρ)
    assert littles_law_L(lam, mmc_mean_wait(lam, mu, 1)) == pytest.approx(0.36 / 0.4)


# --- continuous review, backorders --------------------------------------------------------


def test_continuous_backorders_follow_the_lead_time_demand_distribution() -> None:
    S, lam, lead = 5, 2.0, 1.75
    mu = lam * lead
    out = base_stock_continuous_backorders(S, lam, lead)
    k = np.arange(0, 200)
    pmf = stats.poisson.pmf(k, mu)
    assert out["fill_rate"] == pytest.approx(pmf[:S].sum(), rel=1e-12)
    assert out["mean_backorders"] == pytest.approx(np.sum(np.maximum(k - S, 0) * pmf), rel=1e-10)
    assert out["mean_on_hand"] == pytest.approx(np.sum(np.maximum(S - k, 0) * pmf), rel=1e-10)
    assert out["mean_outstanding"] == pytest.approx(mu)


def test_continuous_backorders_agree_with_sampled_lead_time_demand() -> None:
    rng = np.random.default_rng(20240611)
    S, lam, lead = 6, 3.0, 1.5
    d = rng.poisson(lam * lead, size=400_000)
    out = base_stock_continuous_backorders(S, lam, lead)
    assert out["mean_backorders"] == pytest.approx(np.maximum(d - S, 0).mean(), abs=0.005)
    assert out["mean_on_hand"] == pytest.approx(np.maximum(S - d, 0).mean(), abs=0.01)
    assert out["fill_rate"] == pytest.approx((d <= S - 1).mean(), abs=0.004)


def test_continuous_fill_rate_matches_an_event_driven_count_of_filled_demands() -> None:
    # With backorders, an arrival is filled iff fewer than S sales happened in the last L
    # (those are the units still in the pipeline; inventory position is always S).
    rng = np.random.default_rng(7)
    S, lam, lead = 4, 2.0, 1.25
    arrivals = np.cumsum(rng.exponential(1 / lam, size=200_000))
    in_pipeline = np.arange(arrivals.size) - np.searchsorted(arrivals, arrivals - lead, "right")
    warm = arrivals > 10 * lead
    filled = (in_pipeline[warm] < S).mean()
    assert base_stock_continuous_backorders(S, lam, lead)["fill_rate"] == pytest.approx(
        filled, abs=0.009
    )


# --- continuous review, lost sales --------------------------------------------------------


def simulate_lost_sales(
    S: int, lam: float, lead_time: Callable[[], float], n_demands: int, seed: int
) -> tuple[float, float]:
    """One-for-one, lost sales: returns (lost fraction, time-average on hand)."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / lam, size=n_demands)
    on_hand, pipeline, lost = S, [], 0
    now = area = 0.0
    for gap in gaps:
        t = now + gap
        while pipeline and pipeline[0] <= t:  # replenishments due before this demand
            due = heapq.heappop(pipeline)
            area += on_hand * (due - now)
            now, on_hand = due, on_hand + 1
        area += on_hand * (t - now)
        now = t
        if on_hand > 0:
            on_hand -= 1
            heapq.heappush(pipeline, t + lead_time())
        else:
            lost += 1
    return lost / n_demands, area / now


@pytest.mark.parametrize("lead_time_kind", ["constant", "exponential"])
def test_lost_fraction_is_erlang_b_for_any_lead_time_distribution(lead_time_kind: str) -> None:
    S, lam, mean_lead = 3, 1.0, 2.5
    rng = np.random.default_rng(99)
    if lead_time_kind == "constant":
        draw: Callable[[], float] = lambda: mean_lead  # noqa: E731
    else:
        draw = lambda: rng.exponential(mean_lead)  # noqa: E731
    lost, on_hand = simulate_lost_sales(S, lam, draw, n_demands=60_000, seed=5)
    out = base_stock_continuous_lost_sales(S, lam, mean_lead)
    assert out["lost_fraction"] == pytest.approx(erlang_b(S, lam * mean_lead))
    assert out["lost_fraction"] == pytest.approx(lost, abs=0.012)
    assert out["mean_on_hand"] == pytest.approx(on_hand, abs=0.025)


def test_lost_sales_bookkeeping_is_consistent() -> None:
    out = base_stock_continuous_lost_sales(4, 1.5, 2.0)
    b = erlang_b_by_factorials(4, 3.0)
    assert out["lost_fraction"] == pytest.approx(b, rel=1e-12)
    assert out["fill_rate"] == pytest.approx(1 - b)
    assert out["mean_outstanding"] == pytest.approx(3.0 * (1 - b))
    assert out["mean_on_hand"] + out["mean_outstanding"] == pytest.approx(4.0)
    assert base_stock_continuous_lost_sales(0, 1.0, 1.0)["lost_fraction"] == 1.0


# --- periodic review, backorders ----------------------------------------------------------


def test_periodic_mean_backorders_equal_the_numerical_time_average() -> None:
    S, lam, lead, period = 8, 2.0, 1.5, 2.0
    integral, _ = integrate.quad(
        lambda t: brute_force_losses(S, lam * t)[0], lead, lead + period, epsabs=1e-12
    )
    out = base_stock_periodic_backorders(S, lam, lead, period)
    assert out["mean_backorders"] == pytest.approx(integral / period, rel=1e-8)
    assert out["mean_on_hand"] == pytest.approx(
        out["mean_net_inventory"] + out["mean_backorders"], rel=1e-12
    )
    assert out["mean_outstanding"] == pytest.approx(lam * lead)
    assert out["mean_inventory_position"] == pytest.approx(
        out["mean_net_inventory"] + out["mean_outstanding"]
    )


def test_periodic_review_agrees_with_a_simulated_replenishment_cycle() -> None:
    # One cycle after a review: the order placed at 0 lands at L; net stock on [L, L+R)
    # is S − N(t). Arrival k (1-based) is backordered iff k > S; it counts if it is in (L, L+R].
    S, lam, lead, period = 8, 2.0, 1.5, 2.0
    horizon = lead + period
    rng = np.random.default_rng(11)
    cycles = 40_000
    counts = rng.poisson(lam * horizon, size=cycles)
    width = int(counts.max())
    times = rng.uniform(0, horizon, size=(cycles, width))
    times[np.arange(width)[None, :] >= counts[:, None]] = np.inf  # pad beyond N(T)
    times.sort(axis=1)
    index = np.arange(1, width + 1)[None, :]
    in_window = (times > lead) & np.isfinite(times)
    backordered = (in_window & (index > S)).sum() / in_window.sum()
    # ∫_L^{L+R} (N_t − S)+ dt = Σ_{k>S} (T − max(t_k, L))+
    # ∫_L^{L+R} (S − N_t)+ dt = Σ_{k≤S} (min(t_k, T) − L)+
    late = np.where(np.isfinite(times), horizon - np.maximum(times, lead), 0.0)
    backorder_area = np.where(index > S, late, 0.0).sum(axis=1)
    stock_area = np.clip(np.minimum(times[:, :S], horizon) - lead, 0.0, None).sum(axis=1)
    out = base_stock_periodic_backorders(S, lam, lead, period)
    assert out["fill_rate"] == pytest.approx(1 - backordered, abs=0.006)
    assert out["mean_backorders"] == pytest.approx(backorder_area.mean() / period, abs=0.012)
    assert out["mean_on_hand"] == pytest.approx(stock_area.mean() / period, abs=0.045)


def test_periodic_review_tends_to_continuous_review_as_the_period_shrinks() -> None:
    periodic = base_stock_periodic_backorders(5, 2.0, 1.5, 1e-6)
    continuous = base_stock_continuous_backorders(5, 2.0, 1.5)
    assert periodic["fill_rate"] == pytest.approx(continuous["fill_rate"], abs=1e-5)
    assert periodic["mean_backorders"] == pytest.approx(continuous["mean_backorders"], abs=1e-5)
    assert periodic["mean_on_hand"] == pytest.approx(continuous["mean_on_hand"], abs=1e-5)


# --- confidence intervals -----------------------------------------------------------------


def test_student_t_interval_matches_a_hand_computation() -> None:
    mean, low, high = student_t_ci95([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half), rel=1e-12)


def test_student_t_interval_of_a_single_replication_is_undefined() -> None:
    mean, low, high = student_t_ci95([4.2])
    assert mean == 4.2 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match="at least one"):
        student_t_ci95([])


def test_student_t_interval_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(3)
    draws = rng.normal(10.0, 2.0, size=(2000, 5))
    hits = 0
    for row in draws:
        _, low, high = student_t_ci95(row)
        hits += low <= 10.0 <= high
    assert hits / 2000 == pytest.approx(0.95, abs=0.02)


# --- stockpyl as an extra oracle (skipped when it is not installed) -----------------------


@pytest.mark.parametrize(("x", "mean"), [(18, 15.0), (0, 2.0), (7, 3.5), (40, 30.0)])
def test_loss_functions_agree_with_stockpyl(x: int, mean: float) -> None:
    lf = pytest.importorskip("stockpyl.loss_functions")
    assert poisson_loss(x, mean) == pytest.approx(lf.poisson_loss(x, mean)[0], rel=1e-9)
    assert poisson_second_loss(x, mean) == pytest.approx(
        lf.poisson_second_loss(x, mean)[0], rel=1e-9
    )


def test_continuous_backorder_costs_agree_with_stockpyl_newsvendor_and_rq() -> None:
    # Both price one-for-one continuous review: h·E[on hand] + p·E[backorders] (+ Kλ for (r, Q)).
    newsvendor = pytest.importorskip("stockpyl.newsvendor")
    rq = pytest.importorskip("stockpyl.rq")
    S, lam, lead, h, p, K = 6, 1.5, 2.0, 0.3, 4.0, 2.0
    out = base_stock_continuous_backorders(S, lam, lead)
    cost = h * out["mean_on_hand"] + p * out["mean_backorders"]
    assert cost == pytest.approx(newsvendor.newsvendor_poisson_cost(S, h, p, lam * lead), rel=1e-9)
    assert cost + K * lam == pytest.approx(
        rq.r_q_cost_poisson(S - 1, 1, h, p, K, lam, lead), rel=1e-9
    )


def test_periodic_backorders_agree_with_stockpyl_second_order_losses() -> None:
    lf = pytest.importorskip("stockpyl.loss_functions")
    S, lam, lead, period = 9, 2.0, 1.5, 2.0
    n2_cycle = lf.poisson_second_loss(S, lam * (lead + period))[0]
    n2_lead = lf.poisson_second_loss(S, lam * lead)[0]
    expected = (n2_cycle - n2_lead) / (lam * period)
    out = base_stock_periodic_backorders(S, lam, lead, period)
    assert out["mean_backorders"] == pytest.approx(expected, rel=1e-9)
