"""Tests for ntkbook.learn.cluster against scikit-learn and planted partitions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from ntkbook.learn.cluster import kmeans, spectral_kmeans

adjusted_rand_index = adjusted_rand_score


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kmeans_recovers_blobs(dtype, x64):
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    truth = np.repeat(np.arange(3), 30)
    x = (centers[truth] + rng.normal(size=(90, 2))).astype(dtype)
    res = kmeans(jax.random.key(1), x, 3, n_init=4)
    assert res.centers.dtype == jnp.dtype(dtype)
    assert adjusted_rand_index(truth, res.labels) == 1.0
    # inertia is the sum of squared distances to the assigned centres
    c = np.asarray(res.centers, np.float64)
    want = np.sum((x.astype(np.float64) - c[np.asarray(res.labels)]) ** 2)
    assert float(res.inertia) == pytest.approx(want, rel=1e-4)


def test_kmeans_bad_inputs():
    x = jnp.ones((4, 2))
    with pytest.raises(ValueError):
        kmeans(jax.random.key(0), x, 5)
    with pytest.raises(ValueError):
        kmeans(jax.random.key(0), x, 0)
    with pytest.raises(ValueError):
        kmeans(jax.random.key(0), jnp.ones(4), 2)


def test_spectral_kmeans_planted_blocks():
    rng = np.random.default_rng(2)
    truth = np.repeat(np.arange(3), 20)
    a = (rng.random((60, 60)) < np.where(truth[:, None] == truth[None, :], 0.5, 0.02)).astype(float)
    a = np.triu(a, 1)
    a = a + a.T
    d = a.sum(1)
    k = np.linalg.inv(np.eye(60) - 0.5 * a / np.sqrt(np.outer(d, d)))
    labels = spectral_kmeans(jax.random.key(0), k, 3)
    assert labels.shape == (60,) and adjusted_rand_index(truth, labels) > 0.95
    with pytest.raises(ValueError):
        spectral_kmeans(jax.random.key(0), np.ones((3, 4)), 2)
