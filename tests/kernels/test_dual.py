"""Dual activations and the deep NTK recursion vs closed forms, quadrature and ``ntkbook.nn``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.polynomial import hermite_e

from ntkbook import nn
from ntkbook.kernels import arccos, deep_dual_ntk, dual_grid, hermite_dual, interpolate_dual, relu_dual

COEF = [0.0, math.sqrt(0.8), math.sqrt(0.15), math.sqrt(0.05)]


def gauss_pair_expectation(f, g, xi, deg=40):
    """E[f(u) g(v)] for standard Gaussians with correlation xi, by deg x deg Gauss–Hermite quadrature."""
    t, w = hermite_e.hermegauss(deg)
    w = w / w.sum()
    a, b = np.meshgrid(t, t, indexing="ij")
    u, v = a, xi * a + math.sqrt(1 - xi**2) * b
    return float(np.sum(np.outer(w, w) * f(u) * g(v)))


def test_relu_dual_matches_arccos_kernels():
    theta = np.linspace(0, np.pi, 9)
    x = np.stack([np.ones_like(theta), np.zeros_like(theta)], 1)[:1]
    y = np.stack([np.cos(theta), np.sin(theta)], 1)
    xi = jnp.asarray(np.cos(theta))
    relu = relu_dual()
    np.testing.assert_allclose(relu.dual(xi), arccos(x, y, order=1)[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(relu.dual_prime(xi), arccos(x, y, order=0)[0], rtol=1e-5, atol=1e-6)


def test_relu_dual_is_gaussian_expectation():
    # Monte Carlo (quadrature converges slowly through the kink): 10^6 pairs, standard error ~1e-3
    relu = relu_dual()
    a, b = np.random.default_rng(1).normal(size=(2, 1_000_000))
    for xi in (-0.7, 0.0, 0.4, 0.9):
        u, v = a, xi * a + math.sqrt(1 - xi**2) * b
        want = np.mean(2 * np.maximum(u, 0) * np.maximum(v, 0))
        assert abs(float(relu.dual(jnp.asarray(xi))) - want) < 5e-3


def test_hermite_activation_is_the_series():
    act = hermite_dual(COEF)
    u = np.linspace(-3, 3, 13)
    want = sum(c * hermite_e.hermeval(u, [0] * k + [1]) / math.sqrt(math.factorial(k)) for k, c in enumerate(COEF))
    np.testing.assert_allclose(act.activation(jnp.asarray(u)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("xi", [-0.9, -0.3, 0.0, 0.5, 0.95])
def test_hermite_dual_vs_quadrature(xi):
    act = hermite_dual(COEF)
    phi = lambda t: np.asarray(act.activation(jnp.asarray(t, jnp.float32)), np.float64)
    dphi = jax.vmap(jax.grad(act.activation))
    dphi_np = lambda t: np.asarray(dphi(jnp.asarray(t.ravel(), jnp.float32)), np.float64).reshape(t.shape)
    assert abs(float(act.dual(jnp.asarray(xi))) - gauss_pair_expectation(phi, phi, xi)) < 1e-4
    # dual'(xi) = E[phi'(u) phi'(v)]
    assert abs(float(act.dual_prime(jnp.asarray(xi))) - gauss_pair_expectation(dphi_np, dphi_np, xi)) < 1e-4
    np.testing.assert_allclose(act.dual(jnp.asarray(xi)), 0.8 * xi + 0.15 * xi**2 + 0.05 * xi**3, rtol=1e-6, atol=1e-7)


def test_hermite_dual_matches_nn_quadrature():
    act = hermite_dual(COEF)
    layer = nn.serial(nn.Dense(1, W_std=1.0, b_std=0.0), nn.ElementwiseNumerical(act.activation, deg=30))
    theta = np.array([0.3, 1.2, 2.5])
    x = np.stack([np.ones(1), np.zeros(1)], 1) * np.sqrt(2)
    y = np.stack([np.cos(theta), np.sin(theta)], 1) * np.sqrt(2)
    got = layer.kernel(x, y, get="nngp")[0]
    np.testing.assert_allclose(got, act.dual(jnp.asarray(np.cos(theta), jnp.float32)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_recursion_matches_nn_relu_ntk(depth, x64):
    rng = np.random.default_rng(0)
    d = 5
    x = rng.normal(size=(6, d))
    x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    layers = [nn.Dense(1, W_std=1.0, b_std=0.0)]
    for _ in range(depth):
        layers += [nn.Relu(), nn.Dense(1, W_std=np.sqrt(2.0), b_std=0.0)]
    k = nn.serial(*layers).kernel(jnp.asarray(x), get=("nngp", "ntk"))
    xi = np.clip(x @ x.T / d, -1, 1)
    np.fill_diagonal(xi, 1.0)  # exactly 1, as nn has it (the ReLU dual has an infinite slope of sqrt there)
    xi = jnp.asarray(xi)
    out = deep_dual_ntk(relu_dual(), xi, depth)
    assert out.ntk.dtype == jnp.float64
    np.testing.assert_allclose(out.nngp, k.nngp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.ntk * jnp.exp(out.log_ntk_diag), k.ntk, rtol=1e-10, atol=1e-12)
    assert abs(float(jnp.exp(out.log_ntk_diag)) - (depth + 1)) < 1e-10


def test_several_depths_in_one_pass_and_deep_limits(x64):
    xi = jnp.array([-0.5, 0.0, 0.5, 0.99, 1.0])
    out = deep_dual_ntk(relu_dual(), xi, [1000, 10, 100])
    single = deep_dual_ntk(relu_dual(), xi, 100)
    np.testing.assert_allclose(out.ntk[2], single.ntk, rtol=1e-12)
    np.testing.assert_allclose(np.exp(out.log_ntk_diag), [1001, 11, 101], rtol=1e-10)
    # deep ReLU: Theta_L(xi) / Theta_L(1) -> 1/4 off the diagonal (a constant kernel plus a spike)
    np.testing.assert_allclose(out.ntk[0, :-2], 0.25, atol=0.01)
    assert abs(float(out.ntk[0, -2]) - 0.25) < 0.03  # slower next to the diagonal
    assert float(out.ntk[0, -1]) == pytest.approx(1.0)
    # Hermite activation with dual'(0) = 0.8 < 1 < dual'(1) = 1.25: no overflow at depth 10^4
    deep = deep_dual_ntk(hermite_dual(COEF), xi, [200, 10_000])
    assert np.all(np.isfinite(deep.ntk)) and np.all(np.isfinite(deep.log_ntk_diag))
    assert float(deep.log_ntk_diag[1]) == pytest.approx(10_000 * math.log(1.25) + math.log(5), rel=1e-6)
    assert float(deep.nngp[0, 2]) < 1e-10  # Sigma_L -> 0 off the diagonal


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_dtype_is_kept(dtype, x64):
    xi = jnp.linspace(-1, 1, 7, dtype=dtype)
    out = deep_dual_ntk(hermite_dual(COEF), xi, [2, 5])
    assert out.ntk.dtype == dtype and out.nngp.dtype == dtype and out.ntk.shape == (2, 7)
    g = dual_grid(64, dtype=dtype)
    assert g.dtype == dtype and bool(jnp.all(g[1:] > g[:-1]))


def test_grid_is_dense_near_one():
    g = np.asarray(dual_grid(1000, min_gap=1e-6))
    assert g[0] == -1.0 and g[-1] == 1.0
    assert np.sum(g > 0.99) > 200
    assert 1 - g[-2] == pytest.approx(1e-6, rel=0.05)  # float32 spacing near 1 is 6e-8


def test_bad_inputs():
    with pytest.raises(ValueError, match="cosines"):
        deep_dual_ntk(relu_dual(), jnp.array([1.5]), 2)
    with pytest.raises(ValueError):
        deep_dual_ntk(relu_dual(), jnp.array([jnp.nan]), 2)
    with pytest.raises(ValueError):
        deep_dual_ntk(relu_dual(), jnp.array([0.5]), 0)
    with pytest.raises(ValueError, match="empty"):
        deep_dual_ntk(relu_dual(), jnp.array([0.5]), [])
    with pytest.raises(ValueError, match="normalised"):
        deep_dual_ntk(hermite_dual([0.0, 2.0]), jnp.array([0.5]), 2)
    with pytest.raises(ValueError):
        hermite_dual([])
    with pytest.raises(ValueError):
        hermite_dual([0.0, 0.0])
    with pytest.raises(ValueError):
        hermite_dual([0.0, np.inf])
    with pytest.raises(ValueError):
        dual_grid(4)
    with pytest.raises(ValueError):
        dual_grid(100, min_gap=2.0)


def test_interpolation_of_a_tabulated_recursion(x64):
    grid = dual_grid(4000)
    xi = jnp.asarray(np.concatenate([np.linspace(-1, 0.99, 50), 1 - np.logspace(-2, -9, 20), [1.0]]))
    for act, depth in [(relu_dual(), 50), (hermite_dual(COEF), 100)]:
        table = deep_dual_ntk(act, grid, depth).ntk
        exact = deep_dual_ntk(act, xi, depth).ntk
        got = interpolate_dual(grid, table, xi)
        np.testing.assert_allclose(got, exact, rtol=2e-3, atol=1e-6 * float(jnp.max(jnp.abs(exact))))
        assert float(got[-1]) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError):
        interpolate_dual(grid[:-1], table[:-1], xi)
    with pytest.raises(ValueError):
        interpolate_dual(grid, table[:10], xi)
