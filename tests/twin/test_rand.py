"""The twin's random draws: sparse Poisson demand is Poisson, cell by cell, independent."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.rand import Categorical, PoissonCells

RATE = np.array([[0.5, 0.0, 2.0, 0.1], [1.0, 0.0, 0.0, 3.0], [0.05, 0.7, 0.0, 0.0]])


def counts_per_cell(draws: int, scale: float, seed: int = 11) -> np.ndarray:
    cells = PoissonCells(RATE)
    rng = np.random.default_rng(seed)
    out = np.zeros((draws, RATE.size), dtype=np.int64)
    for i in range(draws):
        c, n = cells.draw(rng, scale)
        assert np.all(np.diff(c) > 0) and np.all(n >= 1)  # ascending, each cell once
        out[i, c] = n
    return out


def test_each_cell_is_poisson_with_its_own_rate_and_cells_are_independent() -> None:
    scale, draws = 0.8, 20_000
    x = counts_per_cell(draws, scale)
    lam = RATE.ravel() * scale
    assert not x[:, lam == 0].any()  # a cell without demand never sees a customer
    live = np.flatnonzero(lam > 0)
    mean, var = x[:, live].mean(axis=0), x[:, live].var(axis=0)
    se = np.sqrt(lam[live] / draws)
    assert np.all(np.abs(mean - lam[live]) < 5 * se)  # E = λ
    assert np.all(np.abs(var / lam[live] - 1) < 0.1)  # Var = λ (not multinomial: < λ)
    p0 = (x[:, live] == 0).mean(axis=0)
    assert np.all(np.abs(p0 - np.exp(-lam[live])) < 5 * np.sqrt(p0 * (1 - p0) / draws) + 1e-3)
    corr = np.corrcoef(x[:, live].T)[np.triu_indices(len(live), 1)]
    assert np.all(np.abs(corr) < 5 / math.sqrt(draws))  # independent, not split of a fixed N


def test_no_rate_or_no_scale_draws_nothing_and_a_bad_rate_is_refused() -> None:
    rng = np.random.default_rng(1)
    for rate, scale in ((np.zeros((2, 2)), 1.0), (RATE, 0.0)):
        c, n = PoissonCells(rate).draw(rng, scale)
        assert c.size == 0 and n.size == 0
    with pytest.raises(ValueError, match="rate"):
        PoissonCells(np.array([[1.0, -0.1]]))
    with pytest.raises(ValueError, match="rate"):
        PoissonCells(np.array([[1.0, np.nan]]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=6).filter(lambda w: sum(w) > 1e-3),
    st.integers(0, 2**32 - 1),
)
def test_categorical_draws_what_numpy_choice_draws(weights: list[float], seed: int) -> None:
    """Same seed, same indices as `Generator.choice(n, p=p)`, draw by draw, and the two
    streams stay in step afterwards (one uniform a draw)."""
    p = np.array(weights) / sum(weights)
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    cat = Categorical(p)
    got = [cat.draw(a) for _ in range(300)]
    want = [int(b.choice(len(p), p=p)) for _ in range(300)]
    assert got == want
    for size in (0, 1, 7):
        assert cat.draws(a, size).tolist() == b.choice(len(p), size=size, p=p).tolist()
    assert a.random() == b.random()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 5.0), min_size=1, max_size=40),
    st.floats(0.0, 20.0),
    st.integers(0, 2**32 - 1),
)
def test_counting_and_sorting_give_the_same_cells_and_counts(
    rates: list[float], scale: float, seed: int
) -> None:
    """Few cells are counted with np.bincount, many sorted with np.unique: the same draw."""
    import twin.rand as rand

    cells = PoissonCells(np.array(rates))
    got = []
    for below in (rand._COUNT_UP_TO, 0):
        rand_below, rand._COUNT_UP_TO = rand._COUNT_UP_TO, below
        try:
            got.append(cells.draw(np.random.default_rng(seed), scale))
        finally:
            rand._COUNT_UP_TO = rand_below
    (c1, n1), (c2, n2) = got
    assert c1.dtype == c2.dtype and n1.dtype == n2.dtype == np.int64
    assert np.array_equal(c1, c2) and np.array_equal(n1, n2)
