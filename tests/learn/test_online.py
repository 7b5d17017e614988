"""Tests for ntkbook.learn.online against plain Python loops."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.learn.online import online_kernel_labeling, online_neighbor_majority


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def loop_kernel(K, y, order, c, eta):
    g = np.zeros((K.shape[0], c))
    preds = []
    for v in order:
        z = eta * K[:, v] @ g
        preds.append(int(np.argmax(z)))
        g[v] = np.eye(c)[y[v]] - softmax(z)
    return np.array(preds)


def loop_majority(a, y, order, c):
    seen, counts, preds = [], np.zeros(c), []
    for v in order:
        votes = np.zeros(c)
        for u in seen:
            votes[y[u]] += a[v, u]
        preds.append(int(np.argmax(votes)) if np.any(votes > 0) else int(np.argmax(counts)))
        seen.append(v)
        counts[y[v]] += 1
    return np.array(preds)


def problem(seed=0, n=30, c=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    a = (rng.random((n, n)) < np.where(y[:, None] == y[None, :], 0.3, 0.05)).astype(float)
    a = np.triu(a, 1)
    a = a + a.T
    d = np.maximum(a.sum(1), 1)
    K = 0.2 * np.linalg.inv(np.eye(n) - 0.8 * a / np.sqrt(np.outer(d, d)))
    return a, K, y, rng.permutation(n)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_labeling_matches_loop(dtype, x64):
    a, K, y, order = problem()
    res = online_kernel_labeling(K[:, order].astype(dtype), y, order, 3, learning_rate=2.0)
    want = loop_kernel(K, y, order, 3, 2.0)
    np.testing.assert_array_equal(res.predictions, want)
    np.testing.assert_array_equal(res.mistakes, np.cumsum(want != y[order]))


def test_neighbor_majority_matches_loop():
    a, _, y, order = problem(seed=1)
    res = online_neighbor_majority(a, y, order, 3)
    np.testing.assert_array_equal(res.predictions, loop_majority(a, y, order, 3))
    assert int(res.mistakes[-1]) == int(np.sum(res.predictions != y[order]))


def test_partial_order_and_bad_inputs():
    a, K, y, order = problem(seed=2)
    sub = order[:10]
    res = online_kernel_labeling(K[:, sub], y, sub, 3)
    assert res.predictions.shape == (10,)
    with pytest.raises(ValueError):
        online_kernel_labeling(K[:, sub], y, sub, 3, learning_rate=0.0)
    with pytest.raises(ValueError):
        online_kernel_labeling(K[:, order], y, sub, 3)          # one column per arriving node
    with pytest.raises(ValueError):
        online_kernel_labeling(K[:, sub], y, np.r_[sub[:9], sub[0]], 3)   # repeated node
    with pytest.raises(ValueError):
        online_neighbor_majority(a, y, order, 2)                # labels beyond n_classes
    with pytest.raises(ValueError):
        online_neighbor_majority(a, y.astype(float), order, 3)
    with pytest.raises(ValueError):
        online_neighbor_majority(jnp.ones((3, 4)), y[:3], [0, 1], 3)
