import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.kernel_ridge import KernelRidge

from ntkbook.learn import FeatureRidgePath, KernelRidgePath, check_psd, kernel_ridge


def rbf_np(a, b, ell=0.7):
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.exp(-d / (2 * ell**2))


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 3))
    xt = rng.uniform(-1, 1, (15, 3))
    y = np.sin(2 * x[:, 0]) + 0.3 * x[:, 1] + 0.05 * rng.standard_normal(40)
    return x, xt, y


def test_kernel_path_matches_sklearn(x64, problem):
    x, xt, y = problem
    K, Kt = rbf_np(x, x), rbf_np(xt, x)
    ridges = [1e-6, 1e-3, 0.1, 10.0]
    path = KernelRidgePath.fit(K, y)
    pred = np.asarray(path.predict(Kt, ridges))
    for r, p in zip(ridges, pred):
        ref = KernelRidge(alpha=r, kernel="precomputed").fit(K, y).predict(Kt)
        np.testing.assert_allclose(p, ref, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(np.asarray(kernel_ridge(K, y, Kt, r)), ref, rtol=1e-7, atol=1e-9)


def test_train_predictions_and_mse(x64, problem):
    x, _, y = problem
    K = rbf_np(x, x)
    path = KernelRidgePath.fit(K, y)
    ridges = np.array([1e-4, 1.0])
    np.testing.assert_allclose(path.train_predictions(ridges), path.predict(K, ridges), atol=1e-9)
    mse = np.asarray(path.train_mse(ridges))
    manual = [np.mean((y - K @ np.linalg.solve(K + r * np.eye(40), y)) ** 2) for r in ridges]
    np.testing.assert_allclose(mse, manual, rtol=1e-7)
    assert mse[0] < mse[1]  # less ridge, better fit of the training set


def test_multi_output_and_float32(problem):
    x, xt, y = problem
    Y = np.stack([y, -2 * y], axis=1).astype(np.float32)
    path = KernelRidgePath.fit(rbf_np(x, x).astype(np.float32), Y)
    out = path.predict(rbf_np(xt, x).astype(np.float32), [0.1])
    assert out.shape == (1, 15, 2) and out.dtype == jnp.float32
    np.testing.assert_allclose(out[0, :, 1], -2 * out[0, :, 0], rtol=1e-5, atol=1e-6)


def test_zero_ridge_interpolates(x64, problem):
    x, _, y = problem
    K = rbf_np(x, x, ell=0.3)  # well conditioned enough to interpolate
    fitted = np.asarray(KernelRidgePath.fit(K, y).train_predictions([0.0]))[0]
    np.testing.assert_allclose(fitted, y, atol=1e-6)


def test_zero_ridge_is_min_norm_on_rank_deficient(x64):
    rng = np.random.default_rng(1)
    phi = rng.standard_normal((20, 5))
    y = rng.standard_normal(20)
    K = phi @ phi.T  # rank 5
    coef = np.asarray(KernelRidgePath.fit(K, y).dual_coef([0.0]))[0]
    np.testing.assert_allclose(coef, np.linalg.pinv(K) @ y, rtol=1e-6, atol=1e-8)


def test_feature_path_equals_kernel_path(x64):
    rng = np.random.default_rng(2)
    for n, N in [(30, 8), (8, 30)]:  # both sides of the interpolation threshold
        phi, phit = rng.standard_normal((n, N)), rng.standard_normal((5, N))
        y = rng.standard_normal(n)
        ridges = [1e-6, 1e-2, 3.0]
        fp = FeatureRidgePath.fit(phi, y)
        kp = KernelRidgePath.fit(phi @ phi.T, y)
        np.testing.assert_allclose(fp.predict(phit, ridges), kp.predict(phit @ phi.T, ridges), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(fp.train_mse(ridges), kp.train_mse(ridges), rtol=1e-6, atol=1e-10)
        a = np.asarray(fp.coef([0.5]))[0]
        np.testing.assert_allclose(a, np.linalg.solve(phi.T @ phi + 0.5 * np.eye(N), phi.T @ y), rtol=1e-8)


def test_gradient_through_ridge_path(x64, problem):
    x, xt, y = problem
    K, Kt = rbf_np(x, x), rbf_np(xt, x)

    def loss(log_ridge):
        return jnp.sum(KernelRidgePath.fit(K, y, check=False).predict(Kt, jnp.exp(log_ridge)[None]) ** 2)

    g = jax.grad(loss)(jnp.log(0.1))
    eps = 1e-5
    fd = (loss(jnp.log(0.1) + eps) - loss(jnp.log(0.1) - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 4), ridge=st.floats(1e-3, 10.0))
def test_property_ridge_shrinks_norm(n, d, ridge):
    rng = np.random.default_rng(n * 10 + d)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    K = rbf_np(x, x)
    path = KernelRidgePath.fit(K, y)
    c = np.asarray(path.dual_coef([ridge, 2 * ridge]))
    norms = [ci @ K @ ci for ci in c]  # RKHS norm of the fit
    assert norms[1] <= norms[0] * (1 + 1e-4) + 1e-6


def test_bad_inputs():
    K = np.eye(3)
    with pytest.raises(ValueError, match="positive semi-definite"):
        KernelRidgePath.fit(np.diag([1.0, -0.5, 1.0]), np.ones(3))
    with pytest.raises(ValueError, match="square"):
        KernelRidgePath.fit(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="symmetric"):
        check_psd(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="rows"):
        KernelRidgePath.fit(K, np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        KernelRidgePath.fit(K, np.array([1.0, np.nan, 0.0]))
    path = KernelRidgePath.fit(K, np.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        path.predict(K, [-1.0])
    with pytest.raises(ValueError, match="columns"):
        path.predict(np.ones((2, 4)), [1.0])
    with pytest.raises(ValueError, match="positive scalar"):
        kernel_ridge(K, np.ones(3), K, 0.0)
    with pytest.raises(ValueError, match="rank"):
        FeatureRidgePath.fit(np.ones(3), np.ones(3))
