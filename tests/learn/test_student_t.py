"""Student-t process posterior vs closed forms, SciPy references and the GP limit."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from ntkbook.learn import gp_posterior, ks_statistic, student_t_cdf, student_t_logpdf, student_t_posterior


def problem(dtype, n=6, m=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + m, 2))
    K = np.exp(-0.5 * ((x[:, None] - x[None]) ** 2).sum(-1)) + 0.1
    y = rng.normal(size=n) * 2.0
    return (jnp.asarray(K[:n, :n], dtype), jnp.asarray(y, dtype), jnp.asarray(K[n:, :n], dtype),
            jnp.asarray(K[n:, n:], dtype))


@pytest.mark.parametrize("dtype,rtol", [(jnp.float32, 1e-4), (jnp.float64, 1e-10)])
def test_closed_form_posterior_and_likelihood(dtype, rtol, x64):
    K, y, Ks, Kss = problem(dtype)
    nu, noise = 5.0, 0.3
    post = student_t_posterior(K, y, Ks, Kss, df=nu, noise=noise, full_cov=True, jitter=0.0)
    Kn, yn, Ksn, Kssn = (np.asarray(a, np.float64) for a in (K, y, Ks, Kss))
    C = Kn + noise * np.eye(len(yn))
    beta = yn @ np.linalg.solve(C, yn)
    n = len(yn)
    factor = (nu + beta - 2) / (nu + n - 2)
    np.testing.assert_allclose(post.mean, Ksn @ np.linalg.solve(C, yn), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(post.cov, factor * (Kssn - Ksn @ np.linalg.solve(C, Ksn.T)), rtol=10 * rtol,
                               atol=10 * rtol)
    assert post.df == nu + n and post.cov.dtype == dtype
    # scipy reference: y ~ multivariate t with df nu and shape (nu - 2)/nu C
    ref = stats.multivariate_t(loc=np.zeros(n), shape=(nu - 2) / nu * C, df=nu).logpdf(yn)
    np.testing.assert_allclose(float(post.log_marginal_likelihood), ref, rtol=rtol)
    ref2 = stats.multivariate_t(loc=np.zeros(n), shape=(30 - 2) / 30 * C, df=30).logpdf(yn)
    np.testing.assert_allclose(float(post.log_marginal_likelihood_at(30.0)), ref2, rtol=rtol)


def test_predictive_density_is_ratio_of_joint_densities(x64):
    # the predictive density of y* is p(y, y*) / p(y), both from SciPy's multivariate t
    K, y, Ks, Kss = (np.asarray(a, np.float64) for a in problem(jnp.float64, n=3, m=1))
    nu, noise = 4.0, 0.2
    y_star = 0.7
    post = student_t_posterior(K, y, Ks, Kss, df=nu, noise=noise, jitter=0.0)
    joint = np.block([[K + noise * np.eye(3), Ks.T], [Ks, Kss + noise]])
    full = stats.multivariate_t(np.zeros(4), (nu - 2) / nu * joint, df=nu).logpdf(np.r_[y, y_star])
    marg = stats.multivariate_t(np.zeros(3), (nu - 2) / nu * joint[:3, :3], df=nu).logpdf(y)
    np.testing.assert_allclose(float(post.predictive_nll(jnp.array([y_star]))[0]), marg - full, rtol=1e-8)


def test_large_df_recovers_gp(x64):
    K, y, Ks, Kss = problem(jnp.float64)
    gp = gp_posterior(K, y, Ks, Kss, noise=0.1, jitter=0.0)
    tp = student_t_posterior(K, y, Ks, Kss, df=1e9, noise=0.1, jitter=0.0)
    np.testing.assert_allclose(tp.mean, gp.mean, rtol=1e-12)
    np.testing.assert_allclose(tp.var, gp.var, rtol=1e-6)
    np.testing.assert_allclose(float(tp.log_marginal_likelihood), float(gp.log_marginal_likelihood), rtol=1e-6)
    y_test = jnp.asarray(np.linspace(-1, 1, len(gp.mean)))
    gauss = 0.5 * np.log(2 * np.pi * (gp.var + 0.1)) + (y_test - gp.mean) ** 2 / (2 * (gp.var + 0.1))
    np.testing.assert_allclose(tp.predictive_nll(y_test), gauss, atol=1e-5)  # lnΓ differences at ν = 1e9


def test_factor_grows_with_misfit():
    K, y, Ks, Kss = problem(jnp.float32)
    small = student_t_posterior(K, 0.1 * y, Ks, Kss, df=4.0, noise=0.1)
    large = student_t_posterior(K, 10 * y, Ks, Kss, df=4.0, noise=0.1)
    assert float(small.factor) < 1 < float(large.factor)
    np.testing.assert_allclose(large.mean, 100 * small.mean, rtol=1e-4)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_univariate_t_functions_match_scipy(dtype, x64):
    x = np.linspace(-6, 6, 41)
    for nu in (1.0, 3.0, 6.0, 30.0):
        np.testing.assert_allclose(student_t_cdf(jnp.asarray(x, dtype), nu, scale=1.5),
                                   stats.t.cdf(x, nu, scale=1.5), atol=1e-5 if dtype == jnp.float32 else 1e-12)
        np.testing.assert_allclose(student_t_logpdf(jnp.asarray(x, dtype), nu, loc=0.5, scale=2.0),
                                   stats.t.logpdf(x, nu, loc=0.5, scale=2.0), rtol=1e-5)
    rng = np.random.default_rng(1)
    sample = rng.standard_t(6, size=500)
    ks = ks_statistic(jnp.asarray(sample, dtype), lambda z: student_t_cdf(z, 6.0))
    np.testing.assert_allclose(ks, stats.kstest(sample, stats.t(6).cdf).statistic, atol=1e-5)


def test_bad_inputs():
    K, y, Ks, Kss = problem(jnp.float32)
    with pytest.raises(ValueError, match="df"):
        student_t_posterior(K, y, Ks, df=2.0, noise=0.1)
    with pytest.raises(ValueError, match="df"):
        student_t_posterior(K, y, Ks, df=float("inf"), noise=0.1)
    with pytest.raises(ValueError, match="y"):
        student_t_posterior(K, y[:-1], Ks, df=4.0, noise=0.1)
    with pytest.raises(ValueError, match="rank"):
        student_t_posterior(K, y[:, None], Ks, df=4.0, noise=0.1)
    with pytest.raises(ValueError, match="noise"):
        student_t_posterior(K, y, Ks, df=4.0, noise=-1.0)
    with pytest.raises(ValueError, match="PSD|eigenvalue"):
        student_t_posterior(-K, y, Ks, df=4.0, noise=0.1)
    post = student_t_posterior(K, y, Ks, df=4.0, noise=0.1)
    with pytest.raises(ValueError, match="K_test"):
        post.predictive_nll(jnp.zeros(4))
    with pytest.raises(ValueError, match="df"):
        post.log_marginal_likelihood_at(1.5)
    with pytest.raises(ValueError, match="empty"):
        ks_statistic(jnp.zeros(0), lambda z: z)
    with pytest.raises(ValueError, match="NaN|finite"):
        student_t_cdf(jnp.array([np.nan]), 3.0)
