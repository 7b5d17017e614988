"""Reference in-context learners vs NumPy: ridge/OLS, GD iterates, Iterative Newton, k-NN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.data import icl_linear_regression
from ntkbook.learn import gd_weights, iterative_newton_weights, knn_predict, ridge_weights


@pytest.fixture
def prompts():
    return icl_linear_regression(jax.random.key(3), 5, 10, 4, noise=0.3)


@pytest.mark.parametrize("ridge", [0.0, 0.7])
def test_ridge_matches_numpy(prompts, ridge):
    w = np.asarray(ridge_weights(prompts.x, prompts.y, ridge))
    for b in range(5):
        x, y = np.asarray(prompts.x[b], np.float64), np.asarray(prompts.y[b], np.float64)
        ref = np.linalg.solve(x.T @ x + ridge * np.eye(4), x.T @ y)
        np.testing.assert_allclose(w[b], ref, rtol=2e-3, atol=2e-4)


def test_ridge_min_norm_underdetermined(x64):
    p = icl_linear_regression(jax.random.key(0), 3, 2, 5)  # n < d: OLS is the pseudo-inverse solution
    w = np.asarray(ridge_weights(p.x, p.y))
    for b in range(3):
        np.testing.assert_allclose(w[b], np.linalg.pinv(np.asarray(p.x[b])) @ np.asarray(p.y[b]), atol=1e-10)


def test_zero_rows_are_a_prefix(x64, prompts):
    x = np.asarray(prompts.x, np.float64); y = np.asarray(prompts.y, np.float64)
    xz, yz = x.copy(), y.copy(); xz[:, 6:] = 0; yz[:, 6:] = 0
    np.testing.assert_allclose(ridge_weights(xz, yz, 0.1), ridge_weights(x[:, :6], y[:, :6], 0.1), atol=1e-12)
    np.testing.assert_allclose(gd_weights(xz, yz, 7, 0.05), gd_weights(x[:, :6], y[:, :6], 7, 0.05), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gd_closed_form_matches_iteration(x64, prompts, dtype):
    x = np.asarray(prompts.x, dtype); y = np.asarray(prompts.y, dtype)
    eta = 0.02
    steps = np.array([0, 1, 2, 5, 40])
    got = np.asarray(gd_weights(x, y, jnp.asarray(steps), eta))
    assert got.shape == (5, 5, 4) and got.dtype == dtype
    w = np.zeros((5, 4)); xs = x.astype(np.float64); ys = y.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for t in range(41):
        if t in steps:
            np.testing.assert_allclose(got[list(steps).index(t)], w, rtol=tol, atol=tol)
        w = w - eta * np.einsum("bnd,bn->bd", xs, np.einsum("bnd,bd->bn", xs, w) - ys)
    # one step from zero is eta X^T y; many small steps approach OLS
    np.testing.assert_allclose(gd_weights(x, y, 1, eta), eta * np.einsum("bnd,bn->bd", x, y), rtol=tol, atol=tol)


def test_gd_per_prompt_step(prompts):
    eta = jnp.linspace(0.01, 0.05, 5)
    got = gd_weights(prompts.x, prompts.y, 3, eta)
    for b in range(5):
        np.testing.assert_allclose(got[b], gd_weights(prompts.x[b:b + 1], prompts.y[b:b + 1], 3, float(eta[b]))[0],
                                   rtol=1e-5, atol=1e-6)


def test_newton_converges_quadratically(x64):
    p = icl_linear_regression(jax.random.key(1), 8, 12, 4, condition_number=100.0)
    ws = np.asarray(iterative_newton_weights(p.x, p.y, 30))
    ols = np.asarray(ridge_weights(p.x, p.y))
    err = np.linalg.norm(ws - ols, axis=-1) / np.linalg.norm(ols, axis=-1)  # (31, B)
    assert np.all(err[-1] < 1e-10)
    # quadratic phase: once the error is below 1e-2 the next one is at most C * error^2
    for b in range(8):
        k = np.argmax(err[:, b] < 1e-2)
        assert err[k + 1, b] <= 50 * err[k, b] ** 2 + 1e-13
    # the matrix iterate converges to the pseudo-inverse: w_k for y = e_j columns
    x = np.asarray(p.x[0]); s = x.T @ x
    y_cols = np.linalg.pinv(x).T  # choose y so that X^T y = column j of I  -> w = S^+ e_j... via X^T Y = I
    m = np.stack([np.asarray(iterative_newton_weights(p.x[:1], jnp.asarray(y_cols[:, j])[None], 30))[-1, 0]
                  for j in range(4)], axis=1)
    np.testing.assert_allclose(m, np.linalg.pinv(s), rtol=1e-8, atol=1e-12)


def test_newton_alpha_scale_two_stalls(x64):
    x = jnp.array([[[1.0, 0.0], [0.0, 2.0]]]); y = jnp.array([[3.0, 4.0]])
    w = iterative_newton_weights(x, y, 40, alpha_scale=1.0)[-1]
    np.testing.assert_allclose(w, [[3.0, 2.0]], atol=1e-12)
    with pytest.raises(ValueError):
        iterative_newton_weights(x, y, 5, alpha_scale=2.0)


def test_knn_matches_brute_force(prompts):
    xq = jax.random.normal(jax.random.key(9), (5, 4))
    got = np.asarray(knn_predict(prompts.x, prompts.y, xq, 3))
    x, y, q = (np.asarray(a) for a in (prompts.x, prompts.y, xq))
    for b in range(5):
        idx = np.argsort(((x[b] - q[b]) ** 2).sum(-1))[:3]
        np.testing.assert_allclose(got[b], y[b, idx].mean(), rtol=1e-5)
    # prefixes: only the first num_valid examples count; fewer than k valid -> their mean
    got2 = np.asarray(knn_predict(prompts.x, prompts.y, xq, 3, num_valid=2))
    np.testing.assert_allclose(got2, y[:, :2].mean(1), rtol=1e-5)


def test_bad_inputs(prompts):
    with pytest.raises(ValueError):
        ridge_weights(prompts.x, prompts.y[:, :3])
    with pytest.raises(ValueError):
        ridge_weights(prompts.x, prompts.y, -1.0)
    with pytest.raises(ValueError):
        gd_weights(prompts.x, prompts.y, jnp.array([-1]), 0.1)
    with pytest.raises(ValueError):
        gd_weights(prompts.x, prompts.y, 2, 0.0)
    with pytest.raises(ValueError):
        iterative_newton_weights(prompts.x, prompts.y, -1)
    with pytest.raises(ValueError):
        knn_predict(prompts.x, prompts.y, jnp.zeros((5, 4)), 11)
    with pytest.raises(ValueError):
        ridge_weights(jnp.full((1, 2, 2), jnp.nan), jnp.ones((1, 2)))
