"""Tests for ntkbook.learn.logistic against scikit-learn's LogisticRegression."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.learn.logistic import logistic_regression

sklearn = pytest.importorskip("sklearn.linear_model")


def problem(n=90, d=4, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = rng.normal(size=(n, d)) + 0.8 * np.eye(c, d)[y]
    return x, y


@pytest.mark.parametrize("l2", [0.003, 0.1])
def test_matches_sklearn_float64(x64, l2):
    x, y = problem()
    model = logistic_regression(x, y, l2=l2, tol=1e-10, max_iter=2000)
    ref = sklearn.LogisticRegression(C=1 / (len(y) * l2), tol=1e-12, max_iter=10000).fit(x, y)
    assert model.weights.dtype == jnp.float64
    np.testing.assert_allclose(model.weights, ref.coef_.T, atol=1e-6)
    np.testing.assert_allclose(model.bias - model.bias.mean(), ref.intercept_ - ref.intercept_.mean(), atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(x), ref.predict_proba(x), atol=1e-7)
    assert float(model.grad_norm) <= 1e-10


def test_matches_sklearn_float32_binary():
    # with two classes scikit-learn fits one weight vector v = w_1 - w_0 with penalty |v|^2 / 2, while the
    # multinomial fit has w_0 = -w_1 = -v / 2 and penalty (l2 / 2)(|w_0|^2 + |w_1|^2) = (l2 / 4)|v|^2
    x, y = problem(c=2, seed=1)
    model = logistic_regression(x.astype(np.float32), y, l2=0.05)
    ref = sklearn.LogisticRegression(C=2 / (len(y) * 0.05), tol=1e-10, max_iter=10000).fit(x, y)
    assert model.weights.dtype == jnp.float32
    np.testing.assert_allclose(model.predict_proba(x.astype(np.float32)), ref.predict_proba(x), atol=1e-4)
    np.testing.assert_array_equal(model.predict(x.astype(np.float32)), ref.predict(x))


def test_vmap_over_l2_and_shrinkage():
    x, y = problem(seed=2)
    x = x.astype(np.float32)
    models = jax.vmap(lambda l: logistic_regression(x, y, l2=l, n_classes=3))(jnp.array([1e-3, 1e-1, 10.0]))
    norms = np.linalg.norm(np.asarray(models.weights), axis=(1, 2))
    assert norms[0] > norms[1] > norms[2]  # a stronger penalty shrinks the weights
    one = logistic_regression(x, y, l2=0.1)
    np.testing.assert_allclose(models.weights[1], one.weights, rtol=1e-4, atol=1e-5)
    # the gradient of the objective vanishes at the solution
    p = np.asarray(one.predict_proba(x), np.float64)
    grad_w = x.T @ (p - np.eye(3)[y]) / len(y) + 0.1 * np.asarray(one.weights)
    assert np.abs(grad_w).max() < 1e-4


def test_bad_inputs():
    x, y = problem()
    with pytest.raises(ValueError, match="l2"):
        logistic_regression(x, y, l2=0.0)
    with pytest.raises(ValueError, match="y must have shape"):
        logistic_regression(x, y[:-1], l2=0.1)
    with pytest.raises(ValueError, match="integer"):
        logistic_regression(x, y + 0.5, l2=0.1)
    with pytest.raises(ValueError, match="NaN"):
        logistic_regression(np.where(x > 2, np.nan, x), y, l2=0.1)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        logistic_regression(x, y, l2=0.1, n_classes=2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        logistic_regression(x, np.zeros_like(y), l2=0.1)
    with pytest.raises(ValueError, match="rank 2"):
        logistic_regression(x[:, 0], y, l2=0.1)
