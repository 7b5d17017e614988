"""Tests for ntkbook.kernels.graph_proximity against SciPy closed forms and graph identities."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from ntkbook.kernels.graph import heat_kernel, kernel_distance
from ntkbook.kernels.graph_proximity import (communicability_kernel, forest_kernel, heat_geodesic_distance,
                                             kernel_to_distance, walk_kernel)


def random_graph(n=10, p=0.4, seed=0):
    rng = np.random.default_rng(seed)
    a = np.triu((rng.random((n, n)) < p) * rng.uniform(0.5, 2.0, (n, n)), 1)
    a = a + a.T
    a[np.arange(n - 1), np.arange(1, n)] = a[np.arange(1, n), np.arange(n - 1)] = 1.0  # a path: connected
    return a


def random_tree(n=12, seed=0):
    rng = np.random.default_rng(seed)
    a = np.zeros((n, n))
    parent = [int(rng.integers(0, i)) for i in range(1, n)]
    for child, par in enumerate(parent, start=1):
        a[child, par] = a[par, child] = rng.uniform(0.5, 2.0)
    return a, parent


def test_kernels_match_scipy_float64(x64):
    a = random_graph()
    rho = np.max(np.abs(np.linalg.eigvalsh(a)))
    lap = np.diag(a.sum(1)) - a
    np.testing.assert_allclose(communicability_kernel(a, 0.7), scipy.linalg.expm(0.7 * a), rtol=1e-10)
    t = 0.9 / rho
    np.testing.assert_allclose(walk_kernel(a, t), np.linalg.inv(np.eye(10) - t * a), rtol=1e-10)
    np.testing.assert_allclose(forest_kernel(a, 2.0), np.linalg.inv(np.eye(10) + 2.0 * lap), atol=1e-13)
    assert forest_kernel(a, 2.0).dtype == jnp.float64


def test_kernels_float32():
    a = random_graph(seed=1).astype(np.float32)
    k = communicability_kernel(a, 0.3)
    assert k.dtype == jnp.float32
    np.testing.assert_allclose(k, scipy.linalg.expm(0.3 * a.astype(np.float64)), rtol=2e-5)
    f = forest_kernel(a, 1.0)
    assert f.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(f).sum(1), 1.0, atol=1e-5)  # doubly stochastic


def test_walk_kernel_is_the_walk_series(x64):
    a = random_graph(seed=2)
    t = 0.5 / np.max(np.abs(np.linalg.eigvalsh(a)))
    series = sum(np.linalg.matrix_power(t * a, k) for k in range(200))
    np.testing.assert_allclose(walk_kernel(a, t), series, rtol=1e-10)


def test_parameter_grid_and_sparse_inputs(x64):
    a = random_graph(seed=3)
    ts = jnp.array([0.05, 0.1, 0.2])
    for fn in (communicability_kernel, walk_kernel, forest_kernel):
        grid = fn(a, ts)
        assert grid.shape == (3, 10, 10)
        np.testing.assert_allclose(grid[2], fn(a, 0.2), atol=1e-12)
        np.testing.assert_allclose(fn(sp.csr_matrix(a), 0.1), fn(a, 0.1), atol=1e-12)
        np.testing.assert_allclose(fn(jsparse.BCOO.fromdense(jnp.asarray(a)), 0.1), fn(a, 0.1), atol=1e-12)


def test_walk_kernel_rejects_t_beyond_spectral_radius():
    a = np.array([[0.0, 1.0], [1.0, 0.0]])  # ρ = 1
    with pytest.raises(ValueError, match="1/ρ"):
        walk_kernel(a, 1.0)
    with pytest.raises(ValueError, match="1/ρ"):
        walk_kernel(a, jnp.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="positive"):
        walk_kernel(a, -0.1)


def test_plain_and_log_distances(x64):
    K = np.asarray(communicability_kernel(random_graph(seed=4), 0.5))
    plain = kernel_to_distance(K)
    want = np.diag(K)[:, None] + np.diag(K)[None, :] - 2 * K
    np.testing.assert_allclose(plain, want, atol=1e-10)
    np.testing.assert_allclose(plain, np.asarray(kernel_distance(K)) ** 2, atol=1e-10)
    H = np.log(K)
    log = kernel_to_distance(K, kind="log")
    np.testing.assert_allclose(log, (np.diag(H)[:, None] + np.diag(H)[None, :]) / 2 - H, atol=1e-10)
    batch = kernel_to_distance(np.stack([K, 2 * K]), kind="log")  # log(2K) = log 2 + H: same distance
    np.testing.assert_allclose(batch[0], batch[1], atol=1e-10)


def test_log_forest_distance_is_cutpoint_additive(x64):
    a, parent = random_tree()
    d = np.asarray(kernel_to_distance(forest_kernel(a, 1.3), kind="log"))
    # on a tree every internal vertex of the i–k path is a cut point between i and k
    path_to_root = lambda v: [v] + (path_to_root(parent[v - 1]) if v > 0 else [])
    checked = 0
    for i in range(len(a)):
        for k in range(len(a)):
            pi, pk = path_to_root(i), path_to_root(k)
            common = next(v for v in pi if v in pk)
            path = pi[:pi.index(common) + 1] + pk[:pk.index(common)][::-1]
            for j in path[1:-1]:
                np.testing.assert_allclose(d[i, k], d[i, j] + d[j, k], atol=1e-10)
                checked += 1
    assert checked > 50
    # the plain forest distance is not additive on the same tree: for some path triple the gap is visible
    p = np.asarray(kernel_to_distance(forest_kernel(a, 1.3)))
    gaps = [abs(p[i, 0] - p[i, parent[i - 1]] - p[parent[i - 1], 0]) for i in range(1, len(a)) if parent[i - 1] != 0]
    assert max(gaps) > 1e-3


def test_log_distance_rejects_nonpositive_kernels():
    with pytest.raises(ValueError, match="positive"):
        kernel_to_distance(np.array([[1.0, 0.0], [0.0, 1.0]]), kind="log")
    with pytest.raises(ValueError, match="kind"):
        kernel_to_distance(np.eye(2), kind="cosine")
    with pytest.raises(ValueError, match="square"):
        kernel_to_distance(np.ones((2, 3)))


def test_heat_geodesic_distance(x64):
    a = random_graph(seed=5)
    h = np.asarray(heat_kernel(a, 0.8))
    got = heat_geodesic_distance(h, 0.8, sigma=0.0)
    want = np.sqrt(-4 * 0.8 * np.log(h))
    np.fill_diagonal(want, 0.0)
    np.testing.assert_allclose(got, want, atol=1e-10)
    full = heat_geodesic_distance(h, 0.8)
    np.testing.assert_allclose(full ** 2, 4 * 0.8 * np.asarray(kernel_to_distance(h, kind="log")), atol=1e-10)
    assert heat_geodesic_distance(h.astype(np.float32), 0.8).dtype == jnp.float32
    with pytest.raises(ValueError, match="positive"):
        heat_geodesic_distance(np.eye(3), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        heat_geodesic_distance(h, 1.0, sigma=-1.0)
