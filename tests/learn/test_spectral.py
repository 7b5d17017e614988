import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from ntkbook.learn import KernelRidgePath, effective_ridge, eigenlearning


def kappa_scipy(lam, n, ridge):
    f = lambda lk: np.sum(lam / (lam + np.exp(lk))) + ridge / np.exp(lk) - n
    return np.exp(brentq(f, -200, 50, xtol=1e-14))


@pytest.mark.parametrize("n,ridge", [(10, 0.0), (10, 1e-3), (200, 1e-6), (50, 5.0)])
def test_effective_ridge_matches_root_finder(x64, n, ridge):
    lam = np.arange(1, 1001.0) ** -1.5
    np.testing.assert_allclose(effective_ridge(lam, n, ridge), kappa_scipy(lam, n, ridge), rtol=1e-8)


def test_closed_form_flat_spectrum(x64):
    # M equal eigenvalues λ: M λ/(λ+κ) = n (δ = 0) → κ = λ (M − n)/n.
    lam = jnp.full((10,), 2.0)
    np.testing.assert_allclose(effective_ridge(lam, 4, 0.0), 2.0 * 6 / 4, rtol=1e-10)


def test_vectorised_over_ridges_and_n(x64):
    lam = jnp.arange(1, 301.0) ** -2
    c = jnp.sqrt(lam)
    ridges = jnp.logspace(-6, 1, 8)
    r = eigenlearning(lam, c, 64, ridges, noise=0.01)
    assert r.test_mse.shape == (8,) and r.learnability.shape == (8, 300)
    k = eigenlearning(lam, c, jnp.array([16.0, 64.0, 256.0]), 1e-3)
    assert bool(jnp.all(jnp.diff(k.test_mse) < 0))  # more data, less error
    assert bool(jnp.all(r.train_mse <= r.test_mse))


def test_agrees_with_simulated_krr(x64):
    """Eigenlearning vs KRR on Gaussian features with a power-law spectrum (its asymptotic setting)."""
    M, n, noise = 400, 100, 0.05
    lam = np.arange(1, M + 1.0) ** -1.5
    c = np.arange(1, M + 1.0) ** -0.9
    c /= np.linalg.norm(c)
    ridges = np.array([1e-4, 1e-2, 1.0])
    rng = np.random.default_rng(0)
    tests, trains = [], []
    for _ in range(40):
        z = rng.standard_normal((n, M))  # orthonormal-basis features
        phi = z * np.sqrt(lam)
        y = z @ c + np.sqrt(noise) * rng.standard_normal(n)
        path = KernelRidgePath.fit(phi @ phi.T, y)
        a = np.asarray(path.dual_coef(ridges))  # (R, n)
        beta = (a @ phi) * np.sqrt(lam)  # predictor coefficients in the orthonormal basis: f = Σ β_i φ̃_i
        tests.append(((beta - c) ** 2).sum(1) + noise)
        trains.append(np.asarray(path.train_mse(ridges)))
    theory = eigenlearning(lam, c, n, ridges, noise=noise)
    np.testing.assert_allclose(np.mean(tests, 0), theory.test_mse, rtol=0.1)
    np.testing.assert_allclose(np.mean(trains, 0), theory.train_mse, rtol=0.15)


def test_jit_and_grad(x64):
    lam = jnp.arange(1, 101.0) ** -1.5
    f = jax.jit(lambda r: eigenlearning(lam, jnp.sqrt(lam), 30, r).test_mse)
    g = jax.grad(f)(0.1)
    fd = (f(0.1 + 1e-6) - f(0.1 - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-3)


def test_bad_inputs():
    lam = jnp.ones(5)
    with pytest.raises(ValueError, match="match"):
        eigenlearning(lam, jnp.ones(4), 2, 0.1)
    with pytest.raises(ValueError, match="ridge"):
        eigenlearning(lam, lam, 2, -0.1)
    with pytest.raises(ValueError, match="n must be positive"):
        effective_ridge(lam, 0, 0.1)
    with pytest.raises(ValueError, match="eigenvalues"):
        effective_ridge(-lam, 2, 0.1)
