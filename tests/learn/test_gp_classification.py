"""Tests for ntkbook.learn.gp_classification: scikit-learn reference (mode, log marginal likelihood,
probabilities), the Newton fixed point, quadrature vs probit, dtypes and bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF

from ntkbook.kernels import rbf
from ntkbook.learn import fit_gp_classifier


def _problem(seed: int = 0, n: int = 40, m: int = 25):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    x_test = rng.normal(size=(m, 2))
    return x, y, x_test


def test_matches_sklearn(x64):
    x, y, x_test = _problem()
    ls = 0.8
    sk = GaussianProcessClassifier(kernel=1.0 * RBF(length_scale=ls), optimizer=None).fit(x, y)
    K = rbf(jnp.asarray(x), lengthscale=ls)
    clf = fit_gp_classifier(K, y)
    np.testing.assert_allclose(float(clf.log_marginal_likelihood), sk.log_marginal_likelihood_value_, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(clf.f_mode), sk.base_estimator_.f_cached, atol=1e-6)
    Ks = rbf(jnp.asarray(x_test), jnp.asarray(x), lengthscale=ls)
    p_sk = sk.predict_proba(x_test)[:, 1]
    p_quad = np.asarray(clf.predict_proba(Ks, jnp.ones(len(x_test)), method="quadrature"))
    p_probit = np.asarray(clf.predict_proba(Ks, jnp.ones(len(x_test))))
    # scikit-learn approximates the logistic-Gaussian integral by a sum of erfs (error ~1e-4);
    # the probit approximation is cruder (error ~1e-2 for large latent variance)
    np.testing.assert_allclose(p_quad, p_sk, atol=2e-3)
    np.testing.assert_allclose(p_probit, p_sk, atol=2e-2)
    np.testing.assert_array_equal(np.asarray(clf.predict(Ks, jnp.ones(len(x_test)))), sk.predict(x_test))


def test_mode_is_newton_fixed_point_and_pm1_labels(x64):
    x, y, _ = _problem(1)
    K = rbf(jnp.asarray(x), lengthscale=1.3)
    clf = fit_gp_classifier(K, y)
    # at the mode f = K (t − σ(f))
    f = np.asarray(clf.f_mode)
    np.testing.assert_allclose(f, np.asarray(K) @ (y - 1 / (1 + np.exp(-f))), atol=1e-8)
    clf_pm = fit_gp_classifier(K, 2 * y - 1)
    np.testing.assert_allclose(np.asarray(clf_pm.f_mode), f, atol=1e-12)
    assert 1 < int(clf.n_iter) < 100


def test_quadrature_against_dense_integral(x64):
    x, y, x_test = _problem(2)
    K = rbf(jnp.asarray(x))
    clf = fit_gp_classifier(K, y)
    Ks = rbf(jnp.asarray(x_test), jnp.asarray(x))
    mean, var = (np.asarray(a) for a in clf.latent(Ks, jnp.ones(len(x_test))))
    z = np.linspace(-12, 12, 20001)
    dens = np.exp(-0.5 * z ** 2) / np.sqrt(2 * np.pi)
    exact = np.array([np.trapezoid(dens / (1 + np.exp(-(mu + np.sqrt(v) * z))), z) for mu, v in zip(mean, var)])
    np.testing.assert_allclose(np.asarray(clf.predict_proba(Ks, jnp.ones(len(x_test)), method="quadrature")),
                               exact, atol=1e-7)
    assert np.all((var >= 0) & (var <= 1))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtypes(dtype, x64):
    x, y, x_test = _problem(3)
    K = rbf(jnp.asarray(x, dtype=dtype))
    clf = fit_gp_classifier(K, y)
    assert clf.f_mode.dtype == dtype and clf.log_marginal_likelihood.dtype == dtype
    p = clf.predict_proba(rbf(jnp.asarray(x_test, dtype=dtype), jnp.asarray(x, dtype=dtype)), jnp.ones(len(x_test), dtype))
    assert p.dtype == dtype and np.all((np.asarray(p) > 0) & (np.asarray(p) < 1))
    ref = fit_gp_classifier(rbf(jnp.asarray(x, dtype=jnp.float64)), y)
    np.testing.assert_allclose(float(clf.log_marginal_likelihood), float(ref.log_marginal_likelihood), rtol=1e-4)


def test_bad_input():
    K = jnp.eye(4)
    with pytest.raises(ValueError, match="binary labels"):
        fit_gp_classifier(K, jnp.array([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="shape"):
        fit_gp_classifier(K, jnp.array([0, 1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        fit_gp_classifier(K, jnp.array([0.0, 1.0, jnp.nan, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        fit_gp_classifier(K.at[0, 0].set(jnp.nan), jnp.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="positive semi-definite"):
        fit_gp_classifier(-K, jnp.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="square"):
        fit_gp_classifier(jnp.ones((4, 3)), jnp.array([0, 1, 1, 0]))
    clf = fit_gp_classifier(K, jnp.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="K_cross"):
        clf.predict_proba(jnp.ones((2, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match="K_test_diag"):
        clf.predict_proba(jnp.ones((2, 4)), jnp.ones(3))
    with pytest.raises(ValueError, match="method"):
        clf.predict_proba(jnp.ones((2, 4)), jnp.ones(2), method="laplace")
