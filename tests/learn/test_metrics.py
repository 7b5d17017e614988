"""Tests for ntkbook.learn.metrics: Kendall's tau against SciPy, top-k overlap by brute force."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from ntkbook.learn.metrics import kendall_tau, top_k_overlap


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kendall_tau_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=200)
    b = 0.5 * a + rng.normal(size=200)
    np.testing.assert_allclose(kendall_tau(a, b), stats.kendalltau(a, b).statistic, rtol=1e-5)


def test_kendall_tau_with_ties_matches_scipy_float64(x64):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, 300).astype(float)
    b = a + rng.integers(0, 3, 300)
    got = kendall_tau(a, b)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, stats.kendalltau(a, b).statistic, rtol=1e-12)


def test_kendall_tau_extremes():
    x = np.arange(10.0)
    assert float(kendall_tau(x, x ** 3)) == pytest.approx(1.0)
    assert float(kendall_tau(x, -x)) == pytest.approx(-1.0)
    assert np.isnan(float(kendall_tau(x, np.ones(10))))


def test_top_k_overlap_brute_force():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(7, 30)), rng.normal(size=(7, 30))
    b[:, :10] += 2 * a[:, :10]
    for k in (1, 5, 30):
        want = np.mean([len(set(np.argsort(-ra)[:k]) & set(np.argsort(-rb)[:k])) / k for ra, rb in zip(a, b)])
        np.testing.assert_allclose(top_k_overlap(a, b, k), want, rtol=1e-6)
    assert float(top_k_overlap(a[0], a[0], 3)) == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2"):
        kendall_tau([1.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        kendall_tau([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="rank 1"):
        kendall_tau(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="k must be at most"):
        top_k_overlap(np.ones((2, 3)), np.ones((2, 3)), 4)
    with pytest.raises(ValueError, match="same shape"):
        top_k_overlap(np.ones((2, 3)), np.ones((3, 3)), 1)
    with pytest.raises(ValueError, match="positive integer"):
        top_k_overlap(np.ones((2, 3)), np.ones((2, 3)), 0)
