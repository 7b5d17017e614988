"""Tests for ntkbook.kernels.graph against SciPy/NumPy closed forms and Monte Carlo."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from ntkbook.kernels.graph import (commute_time_kernel, graph_random_features, grf_modulation, heat_kernel,
                                   kernel_distance, laplacian, pagerank_kernel, regularized_laplacian_kernel)


def random_graph(n=9, p=0.45, seed=0, isolated=False):
    rng = np.random.default_rng(seed)
    a = np.triu((rng.random((n, n)) < p) * rng.uniform(0.5, 2.0, (n, n)), 1)
    a = a + a.T
    if isolated:
        a[-1, :] = a[:, -1] = 0.0
    return a


def np_laplacian(a, normalized=False):
    d = a.sum(1)
    if not normalized:
        return np.diag(d) - a
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return np.diag((d > 0).astype(float)) - inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("normalized", [False, True])
def test_laplacian_dense_and_sparse(normalized):
    a = random_graph(isolated=True)
    want = np_laplacian(a, normalized)
    np.testing.assert_allclose(laplacian(a, normalized=normalized), want, atol=1e-6)
    got = laplacian(sp.csr_matrix(a), normalized=normalized)
    assert sp.issparse(got)
    np.testing.assert_allclose(got.toarray(), want, atol=1e-6)
    lam = np.linalg.eigvalsh(want)
    assert lam.min() > -1e-9 and (not normalized or lam.max() < 2 + 1e-9)


def test_heat_kernel_matches_expm_float64(x64):
    a = random_graph(seed=1)
    for normalized in (False, True):
        got = heat_kernel(a, 0.7, normalized=normalized)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, scipy.linalg.expm(-0.7 * np_laplacian(a, normalized)), atol=1e-12)
    # sparse input, and the rows of exp(-tL) sum to one for L = D - A
    k = heat_kernel(sp.csr_matrix(a), 2.0)
    np.testing.assert_allclose(np.asarray(k).sum(1), 1.0, atol=1e-12)


def test_heat_kernel_float32():
    a = random_graph(seed=2).astype(np.float32)
    got = heat_kernel(a, 0.3)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, scipy.linalg.expm(-0.3 * np_laplacian(a.astype(np.float64))), atol=2e-5)


def test_regularized_commute_pagerank_closed_forms(x64):
    a = random_graph(seed=3)
    lap = np_laplacian(a)
    np.testing.assert_allclose(regularized_laplacian_kernel(a, 0.8), np.linalg.inv(np.eye(9) + 0.64 * lap),
                               atol=1e-12)
    np.testing.assert_allclose(commute_time_kernel(a), np.linalg.pinv(lap), atol=1e-10)
    np.testing.assert_allclose(commute_time_kernel(a, normalized=True), np.linalg.pinv(np_laplacian(a, True)),
                               atol=1e-10)
    d = a.sum(1)
    s = a / np.sqrt(np.outer(d, d))
    np.testing.assert_allclose(pagerank_kernel(a, 0.15), 0.15 * np.linalg.inv(np.eye(9) - 0.85 * s), atol=1e-12)
    # the columns of D^{1/2} K D^{-1/2} are personalised PageRank vectors: non-negative, summing to one
    ppr = np.sqrt(d)[:, None] * np.asarray(pagerank_kernel(a, 0.15)) / np.sqrt(d)[None, :]
    np.testing.assert_allclose(ppr.sum(0), 1.0, atol=1e-12)
    assert ppr.min() >= 0


def test_commute_time_distance(x64):
    # on a path 0-1-2 with unit weights the commute time between the ends is 2 · |E| · R_eff = 2 · 2 · 2 = 8
    path = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float)
    dist = kernel_distance(commute_time_kernel(path))
    np.testing.assert_allclose(path.sum() * dist[0, 2] ** 2, 8.0, rtol=1e-12)
    np.testing.assert_allclose(np.diag(dist), 0.0)


def test_symmetric_psd_with_isolated_node():
    a = random_graph(seed=4, isolated=True)
    for k in (heat_kernel(a, 1.0), heat_kernel(a, 1.0, normalized=True), regularized_laplacian_kernel(a, 1.0),
              commute_time_kernel(a), pagerank_kernel(a, 0.3)):
        k = np.asarray(k, np.float64)
        np.testing.assert_allclose(k, k.T, atol=1e-6)
        assert np.linalg.eigvalsh(k).min() > -1e-5
    k = np.asarray(pagerank_kernel(a, 0.3))
    assert k[-1, -1] == pytest.approx(0.3) and np.all(k[-1, :-1] == 0)


def test_kernel_distance():
    x = np.random.default_rng(5).normal(size=(6, 3))
    dist = kernel_distance(x @ x.T)
    want = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.testing.assert_allclose(dist, want, atol=1e-4)


def test_grf_modulation_self_convolution():
    alpha = np.array([1.0, 0.7, 0.4, 0.05, 0.3])
    f = np.asarray(grf_modulation(alpha), np.float64)
    np.testing.assert_allclose(np.convolve(f, f)[:5], alpha, atol=1e-6)


def test_graph_random_features_unbiased(x64):
    a = random_graph(n=7, seed=6)
    w = a / a.sum(1).max()
    f = np.array([1.0, 0.6, 0.3, 0.2])
    target = sum(f[k] * np.linalg.matrix_power(w, k) for k in range(4))
    phis = jax.vmap(lambda key: graph_random_features(key, w, f, n_walks=500, p_halt=0.25))(
        jax.random.split(jax.random.key(0), 8))
    mean = np.asarray(phis).mean(0)
    stderr = np.asarray(phis).std(0) / np.sqrt(8) + 1e-3
    assert np.max(np.abs(mean - target) / stderr) < 5
    assert np.abs(mean - target).max() < 0.05
    # inner products of independent draws estimate sum_k (f*f)_k W^k
    alpha = np.convolve(f, f)[:4]
    g = np.asarray(grf_modulation(alpha))
    draws = np.asarray(jax.vmap(lambda key: graph_random_features(key, w, g, n_walks=400, p_halt=0.25))(
        jax.random.split(jax.random.key(1), 16)))
    ests = np.einsum("sik,sjk->sij", draws[0::2], draws[1::2])  # 8 products of independent pairs
    full = sum(g[i] * g[j] * np.linalg.matrix_power(w, i + j) for i in range(4) for j in range(4))
    stderr = ests.std(0) / np.sqrt(len(ests)) + 1e-3
    assert np.max(np.abs(ests.mean(0) - full) / stderr) < 5
    assert np.abs(ests.mean(0) - full).max() < 0.05


def test_graph_random_features_callable_and_sparse():
    a = random_graph(n=6, seed=7)
    phi = graph_random_features(jax.random.key(0), sp.csr_matrix(a), lambda k: 0.5 ** k, n_walks=4,
                                max_length=3)
    assert phi.shape == (6, 6)
    np.testing.assert_allclose(np.diag(phi) >= 1.0, True)  # the k = 0 term puts f_0 = 1 on the diagonal


def test_bad_inputs():
    a = random_graph()
    with pytest.raises(ValueError, match="square"):
        laplacian(a[:, :-1])
    with pytest.raises(ValueError, match="square"):
        laplacian(sp.csr_matrix(a[:, :-1]))
    with pytest.raises(ValueError, match="non-negative"):
        heat_kernel(a - 1.0, 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        laplacian(sp.csr_matrix(-a))
    with pytest.raises(ValueError, match="NaN"):
        heat_kernel(np.where(a > 0, np.nan, 0.0), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        laplacian(sp.csr_matrix(np.where(a > 0, np.nan, 0.0)))
    with pytest.raises(ValueError, match="symmetric"):
        laplacian(np.triu(a))
    with pytest.raises(ValueError, match="t must be positive"):
        heat_kernel(a, 0.0)
    with pytest.raises(ValueError, match="t must be positive"):
        heat_kernel(a, -1.0)
    with pytest.raises(ValueError, match="sigma"):
        regularized_laplacian_kernel(a, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        pagerank_kernel(a, 1.5)
    with pytest.raises(ValueError, match="alpha"):
        pagerank_kernel(a, 0.0)
    with pytest.raises(ValueError, match="p_halt"):
        graph_random_features(jax.random.key(0), a, [1.0, 0.5], p_halt=1.0)
    with pytest.raises(ValueError, match="max_length"):
        graph_random_features(jax.random.key(0), a, lambda k: 0.5 ** k)
    with pytest.raises(ValueError, match="n_walks"):
        graph_random_features(jax.random.key(0), a, [1.0], n_walks=0)
    with pytest.raises(ValueError, match="first entry"):
        grf_modulation([0.0, 1.0])
    with pytest.raises(ValueError, match="square"):
        kernel_distance(np.ones((2, 3)))
