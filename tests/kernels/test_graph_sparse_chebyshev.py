"""BCOO adjacency input and the Chebyshev heat kernel of ntkbook.kernels.graph, against dense/SciPy references."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from jax.experimental import sparse as jsparse

from ntkbook.kernels.graph import (commute_time_kernel, graph_random_features, heat_kernel, heat_kernel_chebyshev,
                                   laplacian, pagerank_kernel, regularized_laplacian_kernel)

from .test_graph import random_graph


@pytest.mark.parametrize("normalized", [False, True])
def test_bcoo_laplacian_matches_dense(x64, normalized):
    a = random_graph(isolated=True)
    got = laplacian(jsparse.BCOO.fromdense(jnp.asarray(a)), normalized=normalized)
    assert isinstance(got, jsparse.BCOO)
    np.testing.assert_allclose(got.todense(), laplacian(a, normalized=normalized), atol=1e-12)


def test_bcoo_spectral_kernels_match_dense(x64):
    a = random_graph(seed=3)
    b = jsparse.BCOO.fromdense(jnp.asarray(a))
    for fn in (lambda g: heat_kernel(g, 0.4), lambda g: regularized_laplacian_kernel(g, 0.8, normalized=True),
               lambda g: commute_time_kernel(g), lambda g: pagerank_kernel(g, 0.2)):
        np.testing.assert_allclose(fn(b), fn(a), atol=1e-12)


def test_bcoo_padding_and_duplicates_are_handled(x64):
    a = random_graph(seed=4)
    b = jsparse.BCOO.fromdense(jnp.asarray(a), nse=int((a != 0).sum()) + 5)  # padded entries
    np.testing.assert_allclose(heat_kernel(b, 0.3), heat_kernel(a, 0.3), atol=1e-12)
    # a duplicated entry counts twice, like scipy.sparse's coo -> csr
    i, j = np.nonzero(np.triu(a))
    dup = jsparse.BCOO((jnp.asarray(np.r_[a[i, j], a[j, i], 1.0, 1.0]),
                        jnp.asarray(np.c_[np.r_[i, j, i[0], j[0]], np.r_[j, i, j[0], i[0]]])), shape=a.shape)
    want = a.copy()
    want[i[0], j[0]] += 1.0
    want[j[0], i[0]] += 1.0
    np.testing.assert_allclose(heat_kernel(dup, 0.3), heat_kernel(want, 0.3), atol=1e-12)


def test_bcoo_graph_random_features_same_as_dense():
    import jax

    a = random_graph(seed=5).astype(np.float32)
    key = jax.random.key(1)
    dense = graph_random_features(key, a, [1.0, 0.5, 0.25], n_walks=4)
    sparse = graph_random_features(key, jsparse.BCOO.fromdense(jnp.asarray(a)), [1.0, 0.5, 0.25], n_walks=4)
    np.testing.assert_allclose(sparse, dense, atol=1e-6)


def test_bcoo_bad_inputs():
    bad = jsparse.BCOO.fromdense(jnp.asarray(np.triu(random_graph(seed=6), 1)))  # not symmetric
    with pytest.raises(ValueError, match="symmetric"):
        heat_kernel(bad, 1.0)
    neg = jsparse.BCOO.fromdense(-jnp.asarray(random_graph(seed=6)))
    with pytest.raises(ValueError, match="non-negative"):
        laplacian(neg)
    batched = jsparse.BCOO.fromdense(jnp.ones((2, 3, 3)), n_batch=1)
    with pytest.raises(ValueError, match="2-D BCOO"):
        laplacian(batched)


@pytest.mark.parametrize("normalized", [True, False])
@pytest.mark.parametrize("t", [0.3, 2.0, 8.0])
def test_chebyshev_heat_kernel_matches_expm_float64(x64, normalized, t):
    a = random_graph(n=20, seed=7, isolated=True)
    want = scipy.linalg.expm(-t * np.asarray(laplacian(a, normalized=normalized)))
    order = 30 if normalized else 80  # D - A has spectrum in [0, 2 d_max]: τ = t·d_max is larger
    for adj in (a, sp.csr_matrix(a), jsparse.BCOO.fromdense(jnp.asarray(a))):
        got = heat_kernel_chebyshev(adj, t, order=order, normalized=normalized)
        assert got.dtype == jnp.float64 and got.shape == (20, 20)
        np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_allclose(heat_kernel_chebyshev(a, t, order=order, normalized=normalized),
                               heat_kernel(a, t, normalized=normalized), atol=1e-10)


def test_chebyshev_action_on_vectors(x64):
    a = random_graph(n=25, seed=8)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((25, 3))
    want = scipy.linalg.expm(-1.5 * np.asarray(laplacian(a, normalized=True))) @ x
    b = jsparse.BCOO.fromdense(jnp.asarray(a))
    np.testing.assert_allclose(heat_kernel_chebyshev(b, 1.5, x=x), want, atol=1e-10)
    np.testing.assert_allclose(heat_kernel_chebyshev(sp.csr_matrix(a), 1.5, x=x[:, 0]), want[:, 0], atol=1e-10)


def test_chebyshev_truncation_error_decreases_with_order(x64):
    a = random_graph(n=15, seed=9)
    want = heat_kernel(a, 5.0, normalized=True)
    errs = [float(jnp.max(jnp.abs(heat_kernel_chebyshev(a, 5.0, order=k) - want))) for k in (4, 8, 16, 30)]
    assert errs[0] > errs[1] > errs[2] > errs[3] and errs[3] < 1e-12 and errs[0] > 1e-3


def test_chebyshev_float32():
    a = random_graph(n=20, seed=10).astype(np.float32)
    got = heat_kernel_chebyshev(jsparse.BCOO.fromdense(jnp.asarray(a)), 1.0)
    assert got.dtype == jnp.float32
    want = scipy.linalg.expm(-np.asarray(laplacian(a.astype(np.float64), normalized=True)))
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_chebyshev_bad_inputs():
    a = random_graph(n=6, seed=11)
    with pytest.raises(ValueError, match="t"):
        heat_kernel_chebyshev(a, -1.0)
    with pytest.raises(ValueError, match="order"):
        heat_kernel_chebyshev(a, 1.0, order=0)
    with pytest.raises(ValueError, match="rows"):
        heat_kernel_chebyshev(a, 1.0, x=np.ones((5, 2)))
    with pytest.raises(ValueError, match="square"):
        heat_kernel_chebyshev(np.ones((3, 4)), 1.0)


def test_heat_kernel_parameter_grid(x64):
    a = random_graph(n=10, seed=12)
    ts = jnp.array([0.1, 1.0, 3.0])
    grid = heat_kernel(a, ts)
    assert grid.shape == (3, 10, 10)
    for k, t in enumerate(ts):
        np.testing.assert_allclose(grid[k], heat_kernel(a, float(t)), atol=1e-12)
    reg = regularized_laplacian_kernel(a, ts)
    np.testing.assert_allclose(reg[1], regularized_laplacian_kernel(a, 1.0), atol=1e-12)
    with pytest.raises(ValueError, match="1-D"):
        heat_kernel(a, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="positive"):
        heat_kernel(a, jnp.array([1.0, -1.0]))
