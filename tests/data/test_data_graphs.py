"""Tests for ntkbook.data.graphs: stochastic block models and kNN graphs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.data.graphs import knn_graph, stochastic_block_model


def test_sbm_structure_and_edge_frequencies():
    sizes = [60, 40]
    p = np.array([[0.3, 0.05], [0.05, 0.5]])
    g = stochastic_block_model(jax.random.key(0), sizes, p)
    a = np.asarray(g.adjacency)
    assert a.shape == (100, 100)
    np.testing.assert_array_equal(a, a.T)
    np.testing.assert_array_equal(np.diag(a), 0)
    assert set(np.unique(a)) <= {0.0, 1.0}
    labels = np.asarray(g.labels)
    np.testing.assert_array_equal(labels, [0] * 60 + [1] * 40)
    for i in range(2):
        for j in range(2):
            block = a[np.ix_(labels == i, labels == j)]
            pairs = block.size - (sizes[i] if i == j else 0)
            freq = block.sum() / pairs
            stderr = np.sqrt(p[i, j] * (1 - p[i, j]) / (pairs / (2 if i == j else 1)))
            assert abs(freq - p[i, j]) < 4 * stderr


def test_sbm_planted_partition_pair_and_determinism():
    g1 = stochastic_block_model(jax.random.key(3), [5, 5, 5], (1.0, 0.0))
    a = np.asarray(g1.adjacency)
    same = np.equal.outer(np.asarray(g1.labels), np.asarray(g1.labels))
    np.testing.assert_array_equal(a, (same & ~np.eye(15, dtype=bool)).astype(float))
    g2 = stochastic_block_model(jax.random.key(3), [5, 5, 5], np.full((3, 3), 0.5))
    g3 = stochastic_block_model(jax.random.key(3), [5, 5, 5], np.full((3, 3), 0.5))
    np.testing.assert_array_equal(g2.adjacency, g3.adjacency)


def test_sbm_float64(x64):
    assert stochastic_block_model(jax.random.key(0), [3], [[0.5]]).adjacency.dtype == jnp.float64


def brute_knn(x, k, mutual):
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    chosen = np.zeros(d.shape, bool)
    for i in range(len(x)):
        chosen[i, np.argsort(d[i], kind="stable")[:k]] = True
    return (chosen & chosen.T) if mutual else (chosen | chosen.T), d


@pytest.mark.parametrize("mutual", [False, True])
def test_knn_graph_matches_brute_force(mutual):
    x = np.random.default_rng(1).normal(size=(30, 3)).astype(np.float32)
    a = np.asarray(knn_graph(x, 4, mode="mutual" if mutual else "union"))
    edges, d = brute_knn(x, 4, mutual)
    np.testing.assert_array_equal(a > 0, edges)
    np.testing.assert_array_equal(a, a.T)
    np.testing.assert_array_equal(np.diag(a), 0)
    if not mutual:
        assert np.all((a > 0).sum(1) >= 4)


def test_knn_graph_gaussian_weights_float64(x64):
    x = np.random.default_rng(2).normal(size=(12, 2))
    a = knn_graph(x, 3, bandwidth=0.7)
    assert a.dtype == jnp.float64
    edges, d = brute_knn(x, 3, False)
    np.testing.assert_allclose(np.asarray(a), np.where(edges, np.exp(-d ** 2 / (2 * 0.49)), 0.0), atol=1e-12)


def test_bad_inputs():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="sizes"):
        stochastic_block_model(key, [3, 0], (0.5, 0.1))
    with pytest.raises(ValueError, match="sizes"):
        stochastic_block_model(key, 3, (0.5, 0.1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stochastic_block_model(key, [3, 3], (1.5, 0.1))
    with pytest.raises(ValueError, match="symmetric"):
        stochastic_block_model(key, [3, 3], [[0.5, 0.1], [0.2, 0.5]])
    with pytest.raises(ValueError, match="shape"):
        stochastic_block_model(key, [3, 3], np.ones((3, 3)) / 2)
    with pytest.raises(ValueError, match="key"):
        stochastic_block_model(0.5, [3], [[0.5]])
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="smaller than"):
        knn_graph(x, 5)
    with pytest.raises(ValueError, match="positive integer"):
        knn_graph(x, 0)
    with pytest.raises(ValueError, match="mode"):
        knn_graph(x, 2, mode="both")
    with pytest.raises(ValueError, match="bandwidth"):
        knn_graph(x, 2, bandwidth=0.0)
    with pytest.raises(ValueError, match="NaN"):
        knn_graph(np.full((5, 2), np.nan), 2)
    with pytest.raises(ValueError, match="rank 2"):
        knn_graph(np.zeros(5), 2)
