import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF

from ntkbook.learn import GaussianProcess, KernelRidgePath, gp_posterior


def rbf_np(a, b, ell=0.5):
    return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * ell**2))


def rbf_jnp(x1, x2=None):
    x2 = x1 if x2 is None else x2
    return jnp.exp(-jnp.sum((x1[:, None] - x2[None]) ** 2, -1) / (2 * 0.5**2))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (25, 2))
    y = np.cos(x[:, 0]) * x[:, 1] + 0.1 * rng.standard_normal(25)
    xt = rng.uniform(-2, 2, (10, 2))
    return x, y, xt


def test_matches_sklearn(x64, data):
    x, y, xt = data
    noise = 0.05
    ref = GaussianProcessRegressor(kernel=RBF(0.5), alpha=noise, optimizer=None, normalize_y=False).fit(x, y)
    mean_ref, cov_ref = ref.predict(xt, return_cov=True)
    post = gp_posterior(rbf_np(x, x), y, rbf_np(xt, x), rbf_np(xt, xt), noise=noise, jitter=0.0, full_cov=True)
    np.testing.assert_allclose(post.mean, mean_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(post.cov, cov_ref, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(post.log_marginal_likelihood, ref.log_marginal_likelihood_value_, rtol=1e-9)
    diag = gp_posterior(rbf_np(x, x), y, rbf_np(xt, x), np.ones(10), noise=noise, jitter=0.0)
    np.testing.assert_allclose(diag.var, np.diag(cov_ref), rtol=1e-7, atol=1e-10)


def test_class_api_and_ridge_equivalence(x64, data):
    x, y, xt = data
    gp = GaussianProcess(rbf_jnp, noise=0.1, jitter=0.0).fit(x, y)
    post = gp.predict(xt)
    krr = KernelRidgePath.fit(rbf_np(x, x), y).predict(rbf_np(xt, x), [0.1])[0]
    np.testing.assert_allclose(post.mean, krr, rtol=1e-8)
    assert post.var.shape == (10,) and np.all(np.asarray(post.var) >= 0)
    full = gp.predict(xt, full_cov=True)
    np.testing.assert_allclose(np.diag(full.cov), post.var, rtol=1e-8, atol=1e-12)
    assert np.isfinite(gp.log_marginal_likelihood())


def test_variance_shrinks_at_training_points(x64, data):
    x, y, _ = data
    post = gp_posterior(rbf_np(x, x), y, rbf_np(x, x), np.ones(25), noise=1e-6)
    assert float(jnp.max(post.var)) < 1e-4


def test_jitter_rescues_singular_kernel(data):
    x, y, xt = data
    xx = np.concatenate([x, x])  # duplicated inputs: singular Gram in float32
    post = gp_posterior(rbf_np(xx, xx).astype(np.float32), np.concatenate([y, y]).astype(np.float32),
                        rbf_np(xt, xx).astype(np.float32), np.ones(10, np.float32), noise=0.0, jitter=1e-4)
    assert np.all(np.isfinite(np.asarray(post.mean))) and np.all(np.isfinite(np.asarray(post.var)))


def test_multi_output_lml_adds(x64, data):
    x, y, xt = data
    K = rbf_np(x, x)
    one = gp_posterior(K, y, K[:2], noise=0.1).log_marginal_likelihood
    two = gp_posterior(K, np.stack([y, y], 1), K[:2], noise=0.1).log_marginal_likelihood
    np.testing.assert_allclose(two, 2 * one, rtol=1e-10)


def test_bad_inputs(data):
    x, y, xt = data
    K = rbf_np(x, x)
    with pytest.raises(ValueError, match="most negative eigenvalue"):
        gp_posterior(K - 2 * np.eye(25), y, rbf_np(xt, x), noise=0.1)
    with pytest.raises(ValueError, match="rows"):
        gp_posterior(K, y[:-1], rbf_np(xt, x), noise=0.1)
    with pytest.raises(ValueError, match="K_cross"):
        gp_posterior(K, y, rbf_np(xt, x)[:, :5], noise=0.1)
    with pytest.raises(ValueError, match="noise"):
        gp_posterior(K, y, rbf_np(xt, x), noise=-1.0)
    with pytest.raises(ValueError, match="full"):
        gp_posterior(K, y, rbf_np(xt, x), np.ones(10), noise=0.1, full_cov=True)
    with pytest.raises(ValueError, match="fit"):
        GaussianProcess(rbf_jnp, noise=0.1).predict(xt)
    with pytest.raises(ValueError, match="features"):
        GaussianProcess(rbf_jnp, noise=0.1).fit(x, y).predict(np.ones((3, 5)))
