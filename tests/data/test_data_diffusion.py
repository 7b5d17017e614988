"""Gaussian-mixture diffusion data: exact scores vs autodiff, sampling moments, DSM triples."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import data

KEY = jax.random.key(0)


def mixture(dtype=jnp.float32):
    means = jnp.array([[1.5, 1.0], [-1.0, 1.5], [-1.5, -1.0], [1.0, -1.5]], dtype)
    covs = jnp.array([[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.0], [0.0, 0.2]],
                      [[0.25, -0.05], [-0.05, 0.15]], [[0.1, 0.0], [0.0, 0.3]]], dtype)
    return data.gaussian_mixture(jnp.array([0.1, 0.2, 0.3, 0.4], dtype), means, covs)


def scipy_log_prob(gm, x):
    from scipy.stats import multivariate_normal
    p = sum(float(w) * multivariate_normal(np.asarray(m, np.float64), np.asarray(c, np.float64)).pdf(x)
            for w, m, c in zip(gm.weights, gm.means, gm.covariances))
    return np.log(p)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_score_is_gradient_of_log_density(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    dt = jnp.dtype(dtype)
    gm = mixture(dt)
    x = jax.random.normal(jax.random.key(1), (7, 2), dt) * 1.5
    t = jnp.linspace(0.0, 2.0, 7, dtype=dt)
    score = data.diffusion_score(gm, x, t)
    assert score.shape == (7, 2) and score.dtype == dt
    auto = jax.vmap(jax.grad(lambda xi, ti: data.diffusion_log_prob(gm, xi[None], ti[None])[0]))(x, t)
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(score, auto, rtol=tol, atol=tol)
    # t = 0 is the mixture itself; log density against SciPy
    np.testing.assert_allclose(gm.score(x), data.diffusion_score(gm, x, 0.0), rtol=tol, atol=tol)
    np.testing.assert_allclose(gm.log_prob(x), scipy_log_prob(gm, np.asarray(x, np.float64)), rtol=10 * tol)


def test_marginal_is_ou_transform(x64):
    gm = mixture(jnp.float64)
    t = 0.6
    pt = data.diffusion_marginal(gm, t)
    a = np.exp(-t)
    np.testing.assert_allclose(pt.means, a * gm.means)
    np.testing.assert_allclose(pt.covariances, a * a * gm.covariances + (1 - a * a) * np.eye(2))
    x = jnp.array([[0.3, -0.2], [1.0, 2.0]])
    np.testing.assert_allclose(pt.score(x), data.diffusion_score(gm, x, t), rtol=1e-12)
    np.testing.assert_allclose(pt.log_prob(x), data.diffusion_log_prob(gm, x, jnp.array([t, t])), rtol=1e-12)
    # large t: the standard normal
    np.testing.assert_allclose(data.diffusion_score(gm, x, 40.0), -x, atol=1e-12)


def test_sampling_moments(x64):
    gm = mixture(jnp.float64)
    x = np.asarray(gm.sample(KEY, 200_000))
    np.testing.assert_allclose(x.mean(0), gm.mean(), atol=0.01)
    np.testing.assert_allclose(np.cov(x.T), gm.covariance(), atol=0.02)


def test_denoising_pairs(x64):
    gm = mixture(jnp.float64)
    x, t, y = data.denoising_pairs(KEY, gm, 200_000, t_min=0.2, t_max=1.0)
    t, x, y = map(np.asarray, (t, x, y))
    assert t.min() >= 0.2 and t.max() <= 1.0
    # label noise: -eps/sigma_t, so sigma_t^2 y^2 is chi-square(2)/2 per coordinate on average
    sigma2 = 1 - np.exp(-2 * t)
    np.testing.assert_allclose(np.mean(sigma2[:, None] * y**2), 1.0, atol=0.01)
    # x_t at t in [0.5, 0.52] has the moments of the marginal at t = 0.51
    sel = (t >= 0.5) & (t <= 0.52)
    pt = data.diffusion_marginal(gm, 0.51)
    np.testing.assert_allclose(x[sel].mean(0), pt.mean(), atol=0.07)  # ~5,000 samples: s.e. 0.02
    np.testing.assert_allclose(np.cov(x[sel].T), pt.covariance(), atol=0.1)
    # the regression function of the label is the score: E[(y - s)(s)] = 0, i.e. E[y . s] = E[|s|^2]
    s = np.asarray(data.diffusion_score(gm, x, t))
    lhs, rhs = np.mean(np.sum(y * s, 1)), np.mean(np.sum(s * s, 1))
    assert abs(lhs / rhs - 1) < 0.02


def test_bad_inputs():
    with pytest.raises(ValueError, match="weights"):
        data.gaussian_mixture([1.0, -1.0], [[0.0], [1.0]], 1.0)
    with pytest.raises(ValueError, match="rows"):
        data.gaussian_mixture([1.0], [[0.0], [1.0]], 1.0)
    with pytest.raises(ValueError, match="positive definite"):
        data.gaussian_mixture([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="positive"):
        data.gaussian_mixture([1.0], [[0.0]], 0.0)
    gm = data.gaussian_mixture([1.0], [[0.0, 0.0]], 1.0)
    with pytest.raises(ValueError, match="shape"):
        gm.score(jnp.ones((3, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        data.diffusion_score(gm, jnp.ones((2, 2)), -1.0)
    with pytest.raises(ValueError, match="t_min"):
        data.denoising_pairs(KEY, gm, 4, t_min=0.0, t_max=1.0)
    with pytest.raises(ValueError, match="GaussianMixture"):
        data.diffusion_score("gm", jnp.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="key"):
        data.denoising_pairs(0, gm, 4, t_min=0.1, t_max=1.0)
