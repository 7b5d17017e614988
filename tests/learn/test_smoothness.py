"""Tests for ntkbook.learn.smoothness: exact power laws recovered, binning, known-target estimate, bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.kernels import periodic_sobolev
from ntkbook.learn import smoothness_estimate


def _synthetic(n: int, beta: float, s: float, seed: int = 0, dtype=np.float64):
    """K with eigenvalues n·i^-beta and y with (u_i' y)^2 = i^-(s beta + 1) exactly."""
    i = np.arange(1, n + 1)
    U = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]
    K = U @ np.diag(n * i ** -beta) @ U.T
    y = U @ (i ** (-(s * beta + 1) / 2))
    return K.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("beta,s", [(2.0, 0.3), (2.0, 1.0), (4.0, 0.5)])
def test_exact_power_law(beta, s, x64):
    K, y = _synthetic(160, beta, s)
    est = smoothness_estimate(K, y, truncation=40, beta=beta)
    # bin means of an exact power law plotted at geometric-mean indices: only a small discretisation bias
    assert abs(est.s - s) < 0.03
    assert abs(est.slope + s * beta + 1) < 0.06
    est_free = smoothness_estimate(K, y, truncation=40)  # beta fitted on K/n
    assert abs(est_free.beta - beta) < 0.1 and abs(est_free.s - s) < 0.05
    assert est.eigenvalues.shape == (160,) and np.all(np.diff(est.eigenvalues) <= 0)
    np.testing.assert_allclose(est.projections[:5], np.arange(1, 6) ** (-(s * beta + 1)), rtol=1e-8)


def test_every_other_pair_empty(x64):
    # energy only on indices 2,3 / 6,7 / 10,11 ... (odd frequencies on the circle): min_width=4 bins keep the slope
    n = 200
    i = np.arange(1, n + 1)
    k = i // 2
    energy = np.where(k % 2 == 1, (i / 2.0) ** -2.4, 0.0)
    U = np.linalg.qr(np.random.default_rng(1).normal(size=(n, n)))[0]
    K = U @ np.diag(n * i ** -2.0) @ U.T
    y = U @ np.sqrt(energy)
    est = smoothness_estimate(K, y, truncation=128, start=2, beta=2.0)
    assert abs(est.s - 0.7) < 0.15
    assert np.all(np.diff(est.bin_index) > 0) and np.all(est.bin_energy > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_periodic_sobolev_target(dtype, x64):
    # g = sign(sin 2πx)|sin 2πx|^0.3 has s0 = 0.8 for the H^1 kernel; regression labels with small noise
    rng = np.random.default_rng(2)
    x = rng.uniform(size=512).astype(dtype)
    s = np.sin(2 * np.pi * x)
    y = (np.sign(s) * np.abs(s) ** 0.3 + 0.1 * rng.normal(size=512)).astype(dtype)
    K = periodic_sobolev(jnp.asarray(x)[:, None])
    est = smoothness_estimate(K, y, truncation=64, start=2, beta=2.0)
    assert abs(est.s - 0.8) < 0.25


def test_bad_input():
    K, y = _synthetic(20, 2.0, 0.5)
    with pytest.raises(ValueError, match="truncation"):
        smoothness_estimate(K, y, truncation=30)
    with pytest.raises(ValueError, match="start"):
        smoothness_estimate(K, y, truncation=10, start=10)
    with pytest.raises(ValueError, match="n_bins"):
        smoothness_estimate(K, y, truncation=10, n_bins=1)
    with pytest.raises(ValueError, match="beta"):
        smoothness_estimate(K, y, truncation=10, beta=-1.0)
    with pytest.raises(ValueError, match="rows"):
        smoothness_estimate(K, y[:5], truncation=4)
    with pytest.raises(ValueError, match="one-dimensional"):
        smoothness_estimate(K, np.stack([y, y], 1), truncation=10)
    with pytest.raises(ValueError, match="NaN"):
        smoothness_estimate(K, np.full(20, np.nan), truncation=10)
    with pytest.raises(ValueError, match="positive semi-definite"):
        smoothness_estimate(-K, y, truncation=10)
