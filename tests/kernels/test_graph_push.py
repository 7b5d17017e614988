"""Tests for ntkbook.kernels.graph_push: the push invariant, the error bound, exact columns, bad inputs."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

from ntkbook.kernels.graph import pagerank_kernel
from ntkbook.kernels.graph_push import local_push

from .test_graph import random_graph as _random_graph


def random_graph(n=40, p=0.15, seed=0, isolated=True):
    return _random_graph(n=n, p=p, seed=seed, isolated=isolated)


def ppr_kernel_np(a, alpha):
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    k = alpha * np.linalg.inv(np.eye(a.shape[0]) - (1 - alpha) * inv[:, None] * a * inv[None, :])
    iso = d == 0
    k[iso, :] = k[:, iso] = 0
    k[iso, iso] = alpha
    return k


@pytest.mark.parametrize("eps", [1e-2, 1e-4])
def test_invariant_and_error_bound_float64(x64, eps):
    a = random_graph()
    k = ppr_kernel_np(a, 0.2)
    nodes = np.arange(40)
    res = local_push(a, nodes, alpha=0.2, eps=eps)
    p, r = np.asarray(res.estimate), np.asarray(res.residual)
    assert p.dtype == np.float64 and p.shape == (40, 40)
    np.testing.assert_allclose(p + k @ r, k[:, nodes], atol=1e-10)      # p + K r = K e_v
    deg = a.sum(1)
    assert np.all(np.abs(r) <= eps * deg[:, None] + 1e-15)               # the stopping rule holds
    bound = np.abs(k).sum(1).max() * eps * deg.max()
    assert np.abs(p - k[:, nodes]).max() <= bound
    assert np.all(np.asarray(res.volume) <= np.asarray(res.work) + 1e-9) and np.all(np.asarray(res.sweeps) >= 1)


def test_exact_column_matches_pagerank_kernel(x64):
    a = random_graph(seed=1)
    want = np.asarray(pagerank_kernel(a, 0.15))
    for adj in (a, sp.csr_matrix(a)):
        res = local_push(adj, 3, alpha=0.15, eps=1e-12)
        assert res.estimate.shape == (40,) and res.volume.shape == ()
        np.testing.assert_allclose(res.estimate, want[:, 3], atol=1e-10)
    # isolated node: only its restart mass
    np.testing.assert_allclose(local_push(a, 39, alpha=0.15, eps=1e-6).estimate, want[:, 39], atol=1e-12)


def test_float32_and_locality():
    # a long path: a loose tolerance touches only a few nodes near the seed
    n = 200
    a = np.zeros((n, n), np.float32)
    a[np.arange(n - 1), np.arange(1, n)] = a[np.arange(1, n), np.arange(n - 1)] = 1.0
    res = local_push(a, 100, alpha=0.3, eps=1e-3)
    assert res.estimate.dtype == jnp.float32
    assert 0 < float(res.volume) < 40
    k = ppr_kernel_np(a.astype(np.float64), 0.3)
    assert np.abs(np.asarray(res.estimate) - k[:, 100]).max() <= np.abs(k).sum(1).max() * 1e-3 * 2 + 1e-6


def test_bad_inputs():
    a = random_graph()
    with pytest.raises(ValueError, match="eps"):
        local_push(a, 0, alpha=0.2, eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        local_push(a, 0, alpha=0.2, eps=-1e-3)
    with pytest.raises(ValueError, match="nodes"):
        local_push(a, 40, alpha=0.2, eps=1e-3)
    with pytest.raises(ValueError, match="nodes"):
        local_push(a, [-1, 2], alpha=0.2, eps=1e-3)
    with pytest.raises(ValueError, match="nodes"):
        local_push(a, 1.5, alpha=0.2, eps=1e-3)
    with pytest.raises(ValueError, match="alpha"):
        local_push(a, 0, alpha=1.5, eps=1e-3)
    with pytest.raises(ValueError):
        local_push(-a, 0, alpha=0.2, eps=1e-3)
