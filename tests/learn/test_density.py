"""Tests for ntkbook.learn.density: KDE vs scipy and a direct sum, bandwidth rules, LOO-CV vs brute force,
mean shift vs a grid search, MMD vs a double loop, the permutation test, bad inputs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from ntkbook.kernels import laplace, rbf
from ntkbook.learn.density import (
    kde_density,
    kde_log_density,
    loo_bandwidth,
    mean_shift,
    mean_shift_weights,
    mmd,
    mmd_from_gram,
    mmd_permutation_test,
    scott_bandwidth,
    silverman_bandwidth,
)


def _direct_log_kde(x, y, h, alpha):
    """Plain NumPy float64 reference (no blocking, no log-sum-exp tricks beyond scipy's logsumexp)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, d = y.shape
    r = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) / h
    # C = integral of exp(-r^alpha/alpha) over R^d, computed by 1-D quadrature in the radius
    from scipy import integrate
    radial = integrate.quad(lambda t: t ** (d - 1) * np.exp(-t ** alpha / alpha), 0, np.inf)[0]
    c = 2 * np.pi ** (d / 2) / special.gamma(d / 2) * radial
    return special.logsumexp(-r ** alpha / alpha, axis=1) - np.log(n * h ** d * c)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_kde_matches_scipy_gaussian_kde_1d(dtype, tol, request):
    if dtype == np.float64:
        request.getfixturevalue("x64")
    rng = np.random.default_rng(0)
    y = rng.normal(size=300).astype(dtype)
    x = np.linspace(-3, 3, 41).astype(dtype)
    ref = stats.gaussian_kde(y.astype(np.float64), bw_method="scott")
    h = float(np.sqrt(ref.covariance[0, 0]))
    np.testing.assert_allclose(float(scott_bandwidth(y)), h, rtol=10 * tol)
    got = kde_density(x, y, h)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=20 * tol)
    # blocking must not change the result
    np.testing.assert_allclose(kde_density(x, y, h, block=7), got, rtol=10 * tol)


def test_silverman_matches_scipy_1d():
    rng = np.random.default_rng(1)
    y = rng.standard_t(5, size=500)
    ref = stats.gaussian_kde(y, bw_method="silverman")
    np.testing.assert_allclose(float(silverman_bandwidth(y)), np.sqrt(ref.covariance[0, 0]), rtol=1e-5)


def test_bandwidth_formulas_in_d_dimensions(x64):
    rng = np.random.default_rng(2)
    y = rng.normal(size=(250, 3)) * np.array([1.0, 2.0, 0.5])
    sigma = np.sqrt(np.mean(np.var(y, axis=0, ddof=1)))
    n, d = y.shape
    np.testing.assert_allclose(scott_bandwidth(y), sigma * n ** (-1 / (d + 4)), rtol=1e-12)
    np.testing.assert_allclose(silverman_bandwidth(y), sigma * (n * (d + 2) / 4) ** (-1 / (d + 4)), rtol=1e-12)


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5])
def test_log_density_matches_direct_sum_float64(x64, alpha):
    rng = np.random.default_rng(3)
    y = rng.normal(size=(130, 3))
    x = rng.normal(size=(17, 3)) * 1.5
    for h in (0.3, 1.2):
        got = kde_log_density(x, y, h, alpha=alpha, block=16)
        np.testing.assert_allclose(got, _direct_log_kde(x, y, h, alpha), rtol=1e-9, atol=1e-9)


def test_log_density_grid_and_unnormalized_float32():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(90, 2)).astype(np.float32)
    x = rng.normal(size=(11, 2)).astype(np.float32)
    hs = np.array([0.2, 0.5, 2.0], np.float32)
    grid = kde_log_density(x, y, hs, block=8)
    assert grid.shape == (3, 11) and grid.dtype == jnp.float32
    for j, h in enumerate(hs):
        np.testing.assert_allclose(grid[j], _direct_log_kde(x, y, float(h), 2.0), rtol=1e-4, atol=1e-4)
    raw = kde_log_density(x, y, 0.5, normalize=False)
    d2 = ((x[:, None] - y[None]) ** 2).sum(-1).astype(np.float64)
    np.testing.assert_allclose(raw, special.logsumexp(-d2 / (2 * 0.25), axis=1), rtol=1e-5)


def test_log_density_far_from_data_stays_finite():
    # every kernel value underflows in float32, the log-sum-exp does not
    y = np.zeros((5, 40), np.float32)
    x = np.full((1, 40), 3.0, np.float32)
    got = float(kde_log_density(x, y, 0.2)[0])
    want = -40 * 9 / (2 * 0.04) - 40 * math.log(0.2) - 20 * math.log(2 * math.pi)
    assert np.isfinite(got) and got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("alpha", [2.0, 1.0])
def test_loo_cv_picks_the_brute_force_maximum(x64, alpha):
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.normal(size=(60, 2)), 3 + 0.5 * rng.normal(size=(40, 2))])
    hs = np.geomspace(0.05, 3.0, 15)
    sel = loo_bandwidth(y, hs, alpha=alpha, block=32)
    brute = np.array([np.mean([_direct_log_kde(y[i:i + 1], np.delete(y, i, 0), h, alpha)[0]
                               for i in range(len(y))]) for h in hs])
    np.testing.assert_allclose(sel.scores, brute, rtol=1e-9)
    assert float(sel.bandwidth) == pytest.approx(hs[np.argmax(brute)])
    assert 0 < np.argmax(brute) < len(hs) - 1  # an interior optimum: the test is not trivial


@pytest.mark.parametrize("alpha", [2.0, 1.0])
def test_mean_shift_finds_the_mode_of_a_1d_mixture(alpha, request):
    request.getfixturevalue("x64")
    rng = np.random.default_rng(6)
    y = np.concatenate([rng.normal(-2, 0.5, 300), rng.normal(2, 1.0, 200)])[:, None]
    h = 0.4
    grid = np.linspace(-4, 5, 9001)[:, None]
    dens = np.asarray(kde_log_density(grid, y, h, alpha=alpha))
    starts = np.array([[-3.0], [-2.5], [-1.2]])
    res = mean_shift(y, starts, h, alpha=alpha, max_iter=2000, tol=1e-9)
    assert bool(np.all(res.converged))
    found = np.asarray(kde_log_density(res.modes, y, h, alpha=alpha))
    if alpha == 2.0:
        # the Gaussian KDE is smooth: all starts on the left component reach the grid-search mode
        np.testing.assert_allclose(np.asarray(res.modes)[:, 0], grid[np.argmax(dens), 0], atol=2e-3)
    else:
        # alpha < 2 puts a cusp at every data point, so mean shift may stop at a data point next to the
        # mode: it must still be within 0.05 of it and have (almost) the maximal density
        np.testing.assert_allclose(np.asarray(res.modes)[:, 0], grid[np.argmax(dens), 0], atol=0.05)
        assert np.all(found >= dens.max() - 1e-3)
    # each step never lowers the density (monotone ascent)
    x = starts
    prev = np.asarray(kde_log_density(x, y, h, alpha=alpha))
    for _ in range(20):
        x = np.asarray(mean_shift_weights(x, y, h, alpha=alpha)) @ y
        cur = np.asarray(kde_log_density(x, y, h, alpha=alpha))
        assert np.all(cur >= prev - 1e-10)
        prev = cur


def test_mean_shift_float32_and_weights_sum_to_one():
    rng = np.random.default_rng(7)
    y = rng.normal(size=(200, 5)).astype(np.float32)
    w = mean_shift_weights(y[:4], y, 1.0, alpha=1.0)
    assert w.shape == (4, 200) and w.dtype == jnp.float32
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-5)
    res = mean_shift(y, y[:3], 1.5)
    assert res.modes.dtype == jnp.float32
    assert np.linalg.norm(np.asarray(res.modes) - y.mean(0), axis=1).max() < 0.5


def _mmd_loops(x, y, k, unbiased):
    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    if unbiased:
        return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    return sxx / n ** 2 + syy / m ** 2 - 2 * sxy / (n * m)


@pytest.mark.parametrize("unbiased", [False, True])
def test_mmd_matches_double_loop(x64, unbiased):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(12, 2)), 0.5 + rng.normal(size=(9, 2))
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * 0.7 ** 2))  # noqa: E731
    want = _mmd_loops(x, y, k, unbiased)
    np.testing.assert_allclose(mmd(x, y, rbf, unbiased=unbiased, lengthscale=0.7), want, rtol=1e-12)
    gram = mmd_from_gram(rbf(x, lengthscale=0.7), rbf(y, lengthscale=0.7), rbf(x, y, lengthscale=0.7),
                         unbiased=unbiased)
    np.testing.assert_allclose(gram, want, rtol=1e-12)
    kl = lambda a, b: np.exp(-np.linalg.norm(a - b))  # noqa: E731
    np.testing.assert_allclose(mmd(x, y, laplace, unbiased=unbiased), _mmd_loops(x, y, kl, unbiased), rtol=1e-10)


def test_unbiased_mmd_is_zero_in_expectation_for_equal_distributions():
    draws = np.random.default_rng(9).normal(size=(2000, 2, 20, 3)).astype(np.float32)
    vals = np.asarray(jax.vmap(lambda d: mmd(d[0], d[1], unbiased=True))(draws))
    biased = np.asarray(jax.vmap(lambda d: mmd(d[0], d[1]))(draws))
    se = vals.std() / np.sqrt(len(vals))
    assert abs(vals.mean()) < 3 * se  # unbiased: mean within noise of 0
    assert biased.mean() > 10 * se and np.all(biased >= -1e-6)  # the V-statistic is biased upwards


def test_permutation_test_levels_and_power():
    rng = np.random.default_rng(10)
    x, y_same = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    y_shift = 1.0 + rng.normal(size=(30, 2))
    same = mmd_permutation_test(jax.random.key(3), x, y_same, num_permutations=199, unbiased=True)
    shifted = mmd_permutation_test(jax.random.key(4), x, y_shift, num_permutations=199)
    assert same.null.shape == (199,)
    np.testing.assert_allclose(same.statistic, mmd(x, y_same, unbiased=True), rtol=1e-4, atol=1e-6)
    null = np.asarray(same.null)
    assert float(same.p_value) == pytest.approx((1 + np.sum(null >= float(same.statistic))) / 200)
    assert abs(null.mean()) < 3 * null.std() / np.sqrt(len(null))  # relabelled U-statistics: mean 0
    assert float(shifted.p_value) == pytest.approx(1 / 200)
    np.testing.assert_allclose(shifted.statistic, mmd(x, y_shift), rtol=1e-4, atol=1e-6)


def test_bad_inputs():
    y = np.zeros((5, 2))
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        kde_log_density(y, y, 0.0)
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        loo_bandwidth(y, np.array([0.5, -1.0]))
    with pytest.raises(ValueError, match="NaN"):
        kde_log_density(np.array([[np.nan, 0.0]]), y, 1.0)
    with pytest.raises(ValueError, match="same feature shape"):
        kde_log_density(np.zeros((3, 3)), y, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        kde_log_density(y, y, 1.0, alpha=3.0)
    with pytest.raises(ValueError, match="block"):
        kde_log_density(y, y, 1.0, block=0)
    with pytest.raises(ValueError, match="at least 2"):
        scott_bandwidth(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="scalar bandwidth"):
        mean_shift(y, y, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="same feature shape"):
        mean_shift(y, np.zeros((1, 3)), 1.0)
    with pytest.raises(ValueError, match="k_xy has shape"):
        mmd_from_gram(np.eye(3), np.eye(2), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="at least 2 points"):
        mmd_from_gram(np.eye(1), np.eye(2), np.zeros((1, 2)), unbiased=True)
    with pytest.raises(ValueError, match="NaN"):
        mmd(np.array([[np.nan]]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="positive integer"):
        mmd_permutation_test(jax.random.key(0), y, y, num_permutations=0)
