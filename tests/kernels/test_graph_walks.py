"""Tests for ntkbook.kernels.graph_walks: same walks as graph_random_features, unbiasedness, sparse input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from ntkbook.kernels.graph import graph_random_features, grf_modulation
from ntkbook.kernels.graph_walks import graph_walk_loads


def small_graph(n=7, seed=0):
    rng = np.random.default_rng(seed)
    a = np.triu((rng.random((n, n)) < 0.5) * rng.uniform(0.2, 0.6, (n, n)), 1)
    a = a + a.T
    a[0, 1] = a[1, 0] = 0.3  # keep it connected enough: a ring through all nodes
    for i in range(n):
        a[i, (i + 1) % n] = a[(i + 1) % n, i] = 0.25
    return a


def test_unbiased_for_resolvent_float64(x64):
    a = small_graph()
    w = 0.6 * a / np.abs(np.linalg.eigvalsh(a)).max()  # spectral radius 0.6
    walks = graph_walk_loads(jax.random.key(0), w, n_walks=4000, p_halt=0.2, max_length=40)
    phi = walks.features(np.ones(41))
    assert phi.dtype == jnp.float64
    want = np.linalg.inv(np.eye(7) - w)  # truncation at 40 steps: 0.6^40 ~ 1e-9
    np.testing.assert_allclose(phi, want, atol=0.06)
    # the per-step basis is linear in the modulation: f = e_0 + 2 e_1 is I + 2 W in expectation
    np.testing.assert_allclose(walks.features([1.0, 2.0]), np.eye(7) + 2 * w, atol=0.06)
    assert np.abs(np.asarray(walks.features([0.0, 1.0])) - w).max() < 0.06


def test_same_walks_as_dense_grf_and_sparse_inputs():
    a = small_graph(seed=1).astype(np.float32)
    f = np.asarray(grf_modulation([1.0, 1.0, 0.5, 1 / 6]))
    key = jax.random.key(3)
    walks = graph_walk_loads(key, a, n_walks=5, p_halt=0.3, max_length=3)
    dense = graph_random_features(key, a, f, n_walks=5, p_halt=0.3)
    assert walks.loads.dtype == jnp.float32
    np.testing.assert_allclose(walks.features(f), dense, atol=1e-5)
    for adj in (sp.csr_matrix(a), jsparse.BCOO.fromdense(jnp.asarray(a))):
        other = graph_walk_loads(key, adj, n_walks=5, p_halt=0.3, max_length=3)
        np.testing.assert_allclose(other.features(f), walks.features(f), atol=1e-6)
    bcoo = walks.features(f, sparse=True)
    assert isinstance(bcoo, jsparse.BCOO) and bcoo.nse == 7 + 7 * 5 * 3
    np.testing.assert_allclose(bcoo.todense(), walks.features(f), atol=1e-6)


def test_modulation_gradient():
    a = small_graph(seed=2).astype(np.float32)
    walks = graph_walk_loads(jax.random.key(0), a, n_walks=3, p_halt=0.5, max_length=2)
    g = jax.grad(lambda f: walks.features(f).sum())(jnp.array([1.0, 0.5, 0.2]))
    basis = [walks.features(np.eye(3)[k]).sum() for k in range(3)]
    np.testing.assert_allclose(g, basis, rtol=1e-5)


def test_bad_inputs():
    a = small_graph()
    key = jax.random.key(0)
    with pytest.raises(ValueError):
        graph_walk_loads(key, a, n_walks=0, p_halt=0.5, max_length=2)
    with pytest.raises(ValueError):
        graph_walk_loads(key, a, n_walks=2, p_halt=1.0, max_length=2)
    with pytest.raises(ValueError):
        graph_walk_loads(key, a, n_walks=2, p_halt=0.5, max_length=0)
    with pytest.raises(ValueError):
        graph_walk_loads(key, -a, n_walks=2, p_halt=0.5, max_length=2)
    with pytest.raises(ValueError):
        graph_walk_loads(key, np.triu(a), n_walks=2, p_halt=0.5, max_length=2)
    with pytest.raises(ValueError):
        graph_walk_loads(key, np.ones((2, 3)), n_walks=2, p_halt=0.5, max_length=2)
    walks = graph_walk_loads(key, a, n_walks=2, p_halt=0.5, max_length=2)
    with pytest.raises(ValueError):
        walks.features(np.ones((2, 2)))
