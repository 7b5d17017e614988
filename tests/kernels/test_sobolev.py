"""Tests for ntkbook.kernels.sobolev: closed form vs Mercer series, eigenvalues, PSD, periodicity, dtypes,
bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.kernels import periodic_sobolev, periodic_sobolev_eigenvalues


def _points(seed: int, n: int, d: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, d))


def test_closed_form_matches_long_mercer_series(x64):
    x = jnp.asarray(_points(0, 7))
    y = jnp.asarray(_points(1, 5))
    # tail of the order-1 series beyond K: 2 Σ_{k>K} 1/(1 + 4π²k²) < 1/(2π²K) ≈ 5.1e-7 for K = 1e5
    series = periodic_sobolev(x, y, n_terms=100_000)
    closed = periodic_sobolev(x, y)
    assert float(jnp.max(jnp.abs(series - closed))) < 1e-6
    series_sym = periodic_sobolev(x, n_terms=100_000)
    assert float(jnp.max(jnp.abs(series_sym - periodic_sobolev(x)))) < 1e-6


def test_series_truncation_error_within_tail_bound(x64):
    x = jnp.linspace(0.0, 1.0, 33)[:, None]
    K = 200
    err = float(jnp.max(jnp.abs(periodic_sobolev(x, n_terms=K) - periodic_sobolev(x))))
    bound = 2 * sum(1 / (1 + 4 * math.pi ** 2 * k ** 2) for k in range(K + 1, 200_000)) + 1 / (2 * math.pi ** 2 * 200_000)
    assert err <= bound * (1 + 1e-6)
    assert err > 0.5 * bound  # the diagonal (t = 0) attains the bound


def test_closed_form_values_and_periodicity(x64):
    # k(t) = cosh(1/2 - t) / (2 sinh 1/2); k(0) = coth(1/2)/2
    t = np.array([0.0, 0.1, 0.25, 0.5, 0.9])
    K = periodic_sobolev(jnp.asarray(t)[:, None], jnp.zeros((1, 1)))
    np.testing.assert_allclose(np.asarray(K[:, 0]), np.cosh(0.5 - (-t) % 1) / (2 * np.sinh(0.5)), rtol=1e-12)
    np.testing.assert_allclose(float(periodic_sobolev(jnp.zeros((1, 1)))[0, 0]), 0.5 / math.tanh(0.5), rtol=1e-12)
    x = jnp.asarray(_points(2, 6))
    np.testing.assert_allclose(np.asarray(periodic_sobolev(x + 3.0, x - 1.0)), np.asarray(periodic_sobolev(x, x)),
                               rtol=1e-10)


def test_eigenvalues_sum_to_diagonal_and_match_spectrum(x64):
    lam = periodic_sobolev_eigenvalues(200_001, order=1.0, dtype=jnp.float64)
    assert float(lam[0]) == 1.0 and float(lam[1]) == float(lam[2])
    assert abs(float(jnp.sum(lam)) - 0.5 / math.tanh(0.5)) < 1e-5
    # the Gram matrix on a regular grid is circulant: its eigenvalues / n are the aliased Mercer eigenvalues
    n = 64
    x = (jnp.arange(n) / n)[:, None]
    gram_eigs = np.sort(np.linalg.eigvalsh(np.asarray(periodic_sobolev(x))))[::-1] / n
    freqs = np.arange(-10**6, 10**6 + 1)
    aliased = [np.sum(1 / (1 + 4 * math.pi ** 2 * freqs[freqs % n == k] ** 2)) for k in (0, 1, 1, 2, 2)]
    np.testing.assert_allclose(gram_eigs[:5], aliased, rtol=1e-6)
    np.testing.assert_allclose(gram_eigs[:5], np.asarray(lam[:5]), rtol=5e-3)


def test_higher_order_series(x64):
    x = jnp.asarray(_points(3, 9))
    K2 = periodic_sobolev(x, order=2.0, n_terms=400)
    lam = periodic_sobolev_eigenvalues(801, order=2.0, dtype=jnp.float64)
    np.testing.assert_allclose(np.diag(np.asarray(K2)), float(jnp.sum(lam)), rtol=1e-12)
    # order 2 is the self-convolution of order 1 on the circle: k_2(t) = ∫ k_1(t − u) k_1(u) du
    u = (np.arange(4096) + 0.5) / 4096
    k1 = lambda s: np.cosh(0.5 - np.mod(s, 1.0)) / (2 * np.sinh(0.5))
    conv = np.mean(k1(0.3 - u) * k1(u))
    val = float(periodic_sobolev(jnp.array([[0.3]]), jnp.zeros((1, 1)), order=2.0, n_terms=400)[0, 0])
    assert abs(val - conv) < 1e-6
    assert np.linalg.eigvalsh(np.asarray(K2)).min() > -1e-12


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_symmetry_psd(dtype, x64):
    x = jnp.asarray(_points(4, 40, d=2), dtype=dtype)
    K = periodic_sobolev(x)
    assert K.dtype == dtype and K.shape == (40, 40)
    Kn = np.asarray(K, dtype=np.float64)
    np.testing.assert_allclose(Kn, Kn.T, atol=10 * float(jnp.finfo(dtype).eps))
    assert np.linalg.eigvalsh(Kn).min() > -100 * float(jnp.finfo(dtype).eps)
    # product kernel over the two coordinates
    k0 = periodic_sobolev(x[:, :1]) * periodic_sobolev(x[:, 1:])
    np.testing.assert_allclose(Kn, np.asarray(k0, dtype=np.float64), rtol=10 * float(jnp.finfo(dtype).eps))
    assert periodic_sobolev(x, n_terms=50).dtype == dtype
    assert periodic_sobolev_eigenvalues(3, dtype=dtype).dtype == dtype


def test_jit_and_grad():
    x = jnp.asarray(_points(5, 5), dtype=jnp.float32)
    K = jax.jit(periodic_sobolev)(x)
    np.testing.assert_allclose(np.asarray(K), np.asarray(periodic_sobolev(x)), rtol=1e-6)
    g = jax.grad(lambda z: periodic_sobolev(z, jnp.zeros((1, 1)))[0, 0])(jnp.array([[0.25]]))
    expected = -np.sinh(0.25) / (2 * np.sinh(0.5))  # d/dt cosh(1/2 - t) at t = 1/4
    np.testing.assert_allclose(float(g[0, 0]), expected, rtol=1e-5)


def test_bad_input():
    x = jnp.zeros((3, 1))
    with pytest.raises(ValueError, match="order=1"):
        periodic_sobolev(x, order=2.0)
    with pytest.raises(ValueError, match="order"):
        periodic_sobolev(x, order=0.5, n_terms=10)
    with pytest.raises(ValueError, match="n_terms"):
        periodic_sobolev(x, n_terms=0)
    with pytest.raises(ValueError, match="feature shape"):
        periodic_sobolev(x, jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        periodic_sobolev(jnp.array([[jnp.nan]]))
    with pytest.raises(ValueError, match="rank"):
        periodic_sobolev(jnp.zeros(3))
    with pytest.raises(ValueError, match="num"):
        periodic_sobolev_eigenvalues(0)
