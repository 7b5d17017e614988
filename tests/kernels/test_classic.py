"""Tests for ntkbook.kernels.classic: closed forms, scikit-learn references, PSD/symmetry properties,
gradients, dtypes, bad input, jit/vmap."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import integrate
from sklearn.gaussian_process import kernels as skk
from sklearn.metrics import pairwise as skp

from ntkbook.kernels import arccos, laplace, linear, matern, polynomial, rbf, sq_distances

# Every kernel with a non-default setting of its hyperparameters (used by the generic tests).
KERNELS = {
    "rbf": functools.partial(rbf, lengthscale=0.7, variance=1.3),
    "laplace": functools.partial(laplace, lengthscale=1.5, variance=0.8),
    "laplace_l1": functools.partial(laplace, lengthscale=1.5, metric="manhattan"),
    "matern05": functools.partial(matern, nu=0.5, lengthscale=1.2),
    "matern15": functools.partial(matern, nu=1.5, lengthscale=0.9, variance=2.0),
    "matern25": functools.partial(matern, nu=2.5, lengthscale=1.1),
    "polynomial": functools.partial(polynomial, degree=3, c=0.5, scale=0.4),
    "linear": functools.partial(linear, variance=0.5, bias=0.1),
    "arccos0": functools.partial(arccos, order=0),
    "arccos1": functools.partial(arccos, order=1),
    "arccos2": functools.partial(arccos, order=2, variance=0.5),
}
STATIONARY = ("rbf", "laplace", "laplace_l1", "matern05", "matern15", "matern25")


def _points(seed: int, n: int, d: int, dtype=np.float64) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)


# --------------------------------------------------------------------------------------------------
# sq_distances
# --------------------------------------------------------------------------------------------------

def test_sq_distances_hand_values():
    x = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    y = jnp.array([[0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(sq_distances(x, y))[:, 0], [1.0, 18.0, 2.0], rtol=1e-6)
    d2 = np.asarray(sq_distances(x))
    np.testing.assert_allclose(d2, [[0, 25, 1], [25, 0, 20], [1, 20, 0]], rtol=1e-6)


def test_sq_distances_exact_diagonal_symmetric_nonnegative():
    # Large common offset, tiny spread: the naive expansion would cancel catastrophically in float32.
    x = jnp.asarray(1e3 + 1e-2 * _points(0, 20, 5, np.float32))
    d2 = np.asarray(sq_distances(x))
    assert d2.dtype == np.float32
    assert np.all(np.diag(d2) == 0.0)
    np.testing.assert_allclose(d2, d2.T, rtol=1e-6)
    assert np.all(d2 >= 0.0)
    xd = np.asarray(x, dtype=np.float64)
    exact = ((xd[:, None, :] - xd[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(d2, exact, rtol=1e-2, atol=1e-6)
    # x2 given as a copy: clamped at zero, never negative.
    assert np.all(np.asarray(sq_distances(x, x + 0.0)) >= 0.0)


def test_sq_distances_gradient_finite_at_coincident_points():
    x = jnp.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])
    for f in (lambda z: sq_distances(z).sum(), lambda z: sq_distances(z, z).sum()):
        g = jax.grad(f)(x)
        assert np.all(np.isfinite(np.asarray(g)))


# --------------------------------------------------------------------------------------------------
# Closed forms at hand-computed points
# --------------------------------------------------------------------------------------------------

def test_rbf_closed_form():
    x, y = jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 1.0]])
    assert float(rbf(x, y, lengthscale=2.0, variance=3.0)[0, 0]) == pytest.approx(3 * math.exp(-0.25))
    # Per-dimension lengthscales: (1/1)^2 + (2/2)^2 = 2 -> exp(-1).
    k = rbf(jnp.zeros((1, 2)), jnp.array([[1.0, 2.0]]), lengthscale=jnp.array([1.0, 2.0]))
    assert float(k[0, 0]) == pytest.approx(math.exp(-1.0))
    assert np.allclose(np.diag(np.asarray(rbf(_points(1, 4, 3, np.float32), variance=2.5))), 2.5)


def test_laplace_closed_form():
    x, y = jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0]])
    assert float(laplace(x, y, lengthscale=2.0)[0, 0]) == pytest.approx(math.exp(-2.5))
    assert float(laplace(x, y, lengthscale=2.0, metric="manhattan")[0, 0]) == pytest.approx(math.exp(-3.5))
    assert float(laplace(x, y, variance=2.0)[0, 0]) == pytest.approx(2 * math.exp(-5.0))


@pytest.mark.parametrize("nu, expected", [
    (0.5, math.exp(-2.0)),
    (1.5, (1 + 2 * math.sqrt(3)) * math.exp(-2 * math.sqrt(3))),
    (2.5, (1 + 2 * math.sqrt(5) + 5 * 4 / 3) * math.exp(-2 * math.sqrt(5))),
])
def test_matern_closed_form(nu, expected):
    # Distance 3, lengthscale 1.5 -> r = 2.
    x, y = jnp.array([[0.0]]), jnp.array([[3.0]])
    assert float(matern(x, y, nu=nu, lengthscale=1.5)[0, 0]) == pytest.approx(expected, rel=1e-6)
    assert float(matern(x, x, nu=nu, variance=0.3)[0, 0]) == pytest.approx(0.3)


def test_polynomial_and_linear_closed_form():
    x, y = jnp.array([[1.0, 2.0]]), jnp.array([[3.0, -1.0]])  # x.y = 1
    assert float(polynomial(x, y, degree=3, c=2.0, scale=0.5)[0, 0]) == pytest.approx(2.5 ** 3)
    assert float(polynomial(x, -y, degree=3, c=0.0)[0, 0]) == pytest.approx(-1.0)  # odd power of < 0
    assert float(linear(x, y, variance=2.0, bias=0.5)[0, 0]) == pytest.approx(2.5)
    assert float(linear(x)[0, 0]) == pytest.approx(5.0)


def _j(order: int, theta: float) -> float:
    s, c = math.sin(theta), math.cos(theta)
    return [math.pi - theta, s + (math.pi - theta) * c,
            3 * s * c + (math.pi - theta) * (1 + 2 * c * c)][order]


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("theta", [0.0, math.pi / 3, math.pi / 2, 2.0, math.pi])
def test_arccos_closed_form(order, theta):
    nx, ny = 1.5, 0.7
    x = jnp.array([[nx, 0.0]])
    y = jnp.array([[ny * math.cos(theta), ny * math.sin(theta)]])
    expected = (nx * ny) ** order * _j(order, theta) / math.pi
    assert float(arccos(x, y, order=order)[0, 0]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert float(arccos(x, y, order=order, variance=2.0)[0, 0]) == pytest.approx(2 * expected, rel=1e-5,
                                                                                 abs=1e-6)


@pytest.mark.parametrize("order, diag", [(0, lambda n2: 1.0), (1, lambda n2: n2),
                                         (2, lambda n2: 3 * n2 ** 2)])
def test_arccos_diagonal(order, diag):
    x = _points(2, 6, 4, np.float32)
    n2 = (x.astype(np.float64) ** 2).sum(1)
    k = np.asarray(arccos(jnp.asarray(x), order=order))
    np.testing.assert_allclose(np.diag(k), [diag(v) for v in n2], rtol=1e-5)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_arccos_matches_its_integral_definition(order, x64):
    """k_n(x, y) = 2 E_w[Θ(w.x) Θ(w.y) (w.x)^n (w.y)^n], w ~ N(0, I_2): integrate in polar coordinates.

    For w = r u(φ), E[r^(2n)] = 2^n n! (r^2 is exponential with mean 2), and the angular part is a
    1-D integral over φ (split where u.x or u.y changes sign)."""
    x = np.array([1.2, 0.3])
    y = np.array([-0.4, 0.9])

    def integrand(phi):
        u = np.array([math.cos(phi), math.sin(phi)])
        a, b = u @ x, u @ y
        return (a ** order) * (b ** order) if (a > 0 and b > 0) else 0.0

    kinks = sorted({(math.atan2(v[1], v[0]) + s) % (2 * math.pi)
                    for v in (x, y) for s in (math.pi / 2, -math.pi / 2)})
    angular = integrate.quad(integrand, 0.0, 2 * math.pi, points=kinks, epsabs=1e-13, epsrel=1e-12,
                             limit=200)[0] / (2 * math.pi)
    expected = 2.0 * (2 ** order * math.factorial(order)) * angular
    got = float(arccos(jnp.asarray(x[None]), jnp.asarray(y[None]), order=order)[0, 0])
    assert got == pytest.approx(expected, rel=1e-9)


def test_arccos_zero_vectors_and_colinear():
    x = jnp.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [-1.0, -2.0]])
    k0, k1, k2 = (np.asarray(arccos(x, order=n)) for n in (0, 1, 2))
    for k in (k0, k1, k2):
        assert np.all(np.isfinite(k))
    # Zero vector: angle taken as pi/2 (Θ(0) = 1/2), so k0 = 1/2 and the higher orders vanish.
    np.testing.assert_allclose(k0[0], 0.5)
    np.testing.assert_allclose(k1[0], 0.0)
    np.testing.assert_allclose(k2[0], 0.0)
    # Colinear pairs: theta = 0 (x, 2x) and theta = pi (x, -x).
    assert k0[1, 2] == pytest.approx(1.0, abs=1e-6) and k0[1, 3] == pytest.approx(0.0, abs=1e-6)
    assert k1[1, 2] == pytest.approx(2 * 5.0, rel=1e-5) and k1[1, 3] == pytest.approx(0.0, abs=1e-5)
    assert k2[1, 2] == pytest.approx(3 * 5.0 * 20.0, rel=1e-5) and k2[1, 3] == pytest.approx(0.0, abs=1e-4)


# --------------------------------------------------------------------------------------------------
# Agreement with scikit-learn (float64, 1e-10)
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def sk_points():
    return _points(3, 9, 4), _points(4, 7, 4)


def _close(ours, ref):
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-10, atol=1e-10)


def test_rbf_matches_sklearn(x64, sk_points):
    a, b = sk_points
    assert rbf(a, b).dtype == jnp.float64
    _close(rbf(a, b, lengthscale=1.7), skk.RBF(length_scale=1.7)(a, b))
    _close(rbf(a, lengthscale=0.8, variance=2.0), 2.0 * skk.RBF(length_scale=0.8)(a))
    _close(rbf(a, b, lengthscale=1.3), skp.rbf_kernel(a, b, gamma=1 / (2 * 1.3 ** 2)))
    ls = np.array([0.5, 1.0, 2.0, 3.0])
    _close(rbf(a, b, lengthscale=ls), skk.RBF(length_scale=ls)(a, b))


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_matern_matches_sklearn(x64, sk_points, nu):
    a, b = sk_points
    _close(matern(a, b, nu=nu, lengthscale=1.4), skk.Matern(length_scale=1.4, nu=nu)(a, b))
    _close(matern(a, nu=nu, lengthscale=0.9, variance=3.0), 3.0 * skk.Matern(length_scale=0.9, nu=nu)(a))
    ls = np.array([0.5, 1.0, 2.0, 3.0])
    _close(matern(a, b, nu=nu, lengthscale=ls), skk.Matern(length_scale=ls, nu=nu)(a, b))


def test_laplace_matches_sklearn(x64, sk_points):
    a, b = sk_points
    _close(laplace(a, b, lengthscale=2.0, metric="manhattan"), skp.laplacian_kernel(a, b, gamma=0.5))
    _close(laplace(a, metric="manhattan"), skp.laplacian_kernel(a, gamma=1.0))
    _close(laplace(a, b, lengthscale=1.3), skk.Matern(length_scale=1.3, nu=0.5)(a, b))
    _close(laplace(a, b, lengthscale=1.3), matern(a, b, nu=0.5, lengthscale=1.3))


def test_polynomial_and_linear_match_sklearn(x64, sk_points):
    a, b = sk_points
    _close(polynomial(a, b, degree=3, c=1.0, scale=0.25),
           skp.polynomial_kernel(a, b, degree=3, gamma=0.25, coef0=1.0))
    _close(polynomial(a, degree=2, c=0.0, scale=1.0),
           skp.polynomial_kernel(a, degree=2, gamma=1.0, coef0=0.0))
    _close(linear(a, b), skp.linear_kernel(a, b))
    _close(linear(a, b, bias=0.5), skk.DotProduct(sigma_0=math.sqrt(0.5))(a, b))


# --------------------------------------------------------------------------------------------------
# Properties: symmetry and positive semi-definiteness (hypothesis)
# --------------------------------------------------------------------------------------------------

@st.composite
def _point_sets(draw, max_n=6, max_d=3):
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    elements = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
    return draw(hnp.arrays(np.float64, (n, d), elements=elements))


_SETTINGS = settings(max_examples=20, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(x=_point_sets(), name=st.sampled_from(sorted(KERNELS)))
def test_gram_symmetric_and_psd(x64, x, name):
    k = np.asarray(KERNELS[name](x))
    assert k.shape == (x.shape[0],) * 2 and k.dtype == np.float64
    assert np.all(np.isfinite(k))
    np.testing.assert_allclose(k, k.T, rtol=1e-13, atol=1e-13 * np.abs(k).max())
    eigs = np.linalg.eigvalsh(k)
    assert eigs.min() >= -1e-6 * max(np.trace(k), 1e-300)


@settings(_SETTINGS, max_examples=12)
@given(x=_point_sets(), split=st.integers(0, 6), name=st.sampled_from(sorted(KERNELS)))
def test_cross_blocks_consistent(x64, x, split, name):
    """k(x1, x2) equals the off-diagonal block of k([x1; x2]) and k(x2, x1).T."""
    split = min(split, x.shape[0])
    x1, x2 = x[:split], x[split:]
    kern = KERNELS[name]
    full = np.asarray(kern(x))
    cross = np.asarray(kern(x1, x2))
    assert cross.shape == (x1.shape[0], x2.shape[0])
    np.testing.assert_allclose(cross, np.asarray(kern(x2, x1)).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cross, full[:split, split:], rtol=1e-7, atol=1e-7)


@settings(_SETTINGS, max_examples=12)
@given(x=_point_sets(), name=st.sampled_from(STATIONARY))
def test_stationary_kernels_translation_invariant(x64, x, name):
    kern = KERNELS[name]
    np.testing.assert_allclose(np.asarray(kern(x + 0.37)), np.asarray(kern(x)), rtol=1e-7, atol=1e-9)
    assert np.allclose(np.diag(np.asarray(kern(x))), float(kern(x[:1])[0, 0]))


# --------------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KERNELS))
def test_gradients_finite_at_coincident_and_zero_points(name):
    kern = KERNELS[name]
    x = jnp.array([[1.0, -0.5, 0.2], [1.0, -0.5, 0.2], [0.0, 0.0, 0.0], [2.0, -1.0, 0.4]])

    def f(z):  # x2 = None, x2 = copy of x1, and overlapping blocks (one compiled gradient)
        return kern(z).sum() + kern(z, z).sum() + kern(z[:2], z[1:]).sum()
    g = np.asarray(jax.jit(jax.grad(f))(x))
    assert np.all(np.isfinite(g)), name


def test_rbf_gradient_zero_at_coincident_points():
    # d/dx exp(-|x - y|^2 / 2) = 0 at x = y.
    x = jnp.array([[0.3, -1.2]])
    g = jax.grad(lambda z: rbf(z, x)[0, 0])(x)
    np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-7)
    g = jax.grad(lambda z: matern(z, x, nu=2.5)[0, 0])(x)
    np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-7)


def _central_difference(f, x, h=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(jnp.asarray(x + e)) - f(jnp.asarray(x - e))) / (2 * h)
    return g


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_gradients_match_finite_differences(x64, name):
    kern = KERNELS[name]
    x = _points(5, 3, 2)
    y = _points(6, 2, 2)
    weights = jnp.asarray(_points(7, 3, 2))

    def f(z):
        return float(jnp.sum(weights * kern(z, y)))
    g = np.asarray(jax.grad(lambda z: jnp.sum(weights * kern(z, y)))(jnp.asarray(x)))
    np.testing.assert_allclose(g, _central_difference(f, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("order", [1, 2])
def test_arccos_gradient_exact_at_colinear_points(x64, order):
    """k_1 and k_2 are differentiable at colinear inputs (J1' = J0, J2' = 4 J1 are continuous)."""
    y = jnp.array([[1.0, 2.0]])
    for x in (np.array([[2.0, 4.0]]), np.array([[-0.5, -1.0]])):
        g = np.asarray(jax.grad(lambda z: arccos(z, y, order=order)[0, 0])(jnp.asarray(x)))
        fd = _central_difference(lambda z: float(arccos(z, y, order=order)[0, 0]), x, h=1e-7)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)


def test_arccos_second_derivatives_finite():
    x = jnp.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])
    h = jax.jit(jax.hessian(lambda z: arccos(z, order=1).sum() + arccos(z, order=2).sum()))(x)
    assert np.all(np.isfinite(np.asarray(h)))


def test_gradients_wrt_hyperparameters(x64):
    x, y = _points(8, 4, 3), _points(9, 5, 3)

    def loss(ls, var):
        return jnp.sum(rbf(x, y, lengthscale=ls, variance=var) ** 2) + jnp.sum(matern(x, y, lengthscale=ls))
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))(1.3, 0.7)
    fd_ls = (loss(1.3 + 1e-6, 0.7) - loss(1.3 - 1e-6, 0.7)) / 2e-6
    fd_var = (loss(1.3, 0.7 + 1e-6) - loss(1.3, 0.7 - 1e-6)) / 2e-6
    np.testing.assert_allclose([float(g[0]), float(g[1])], [float(fd_ls), float(fd_var)], rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KERNELS))
def test_dtypes_float32_default(name):
    k = KERNELS[name](_points(10, 5, 3, np.float32))
    assert k.dtype == jnp.float32 and k.shape == (5, 5)
    assert KERNELS[name](np.arange(15).reshape(5, 3)).dtype == jnp.float32  # integers -> default float


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_dtypes_under_x64(x64, name):
    x64_pts = _points(10, 5, 3)
    kern = KERNELS[name]
    assert kern(x64_pts).dtype == jnp.float64
    assert kern(x64_pts.astype(np.float32)).dtype == jnp.float32  # hyperparameters do not promote
    assert kern(x64_pts.astype(np.float32), x64_pts).dtype == jnp.float64  # mixed -> promoted
    k32 = np.asarray(kern(x64_pts.astype(np.float32)), dtype=np.float64)
    k64 = np.asarray(kern(x64_pts))
    np.testing.assert_allclose(k32, k64, rtol=2e-4, atol=2e-4 * np.abs(k64).max())


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KERNELS))
def test_input_errors(name):
    kern = KERNELS[name]
    x = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="x1 must have rank 2"):
        kern(np.ones(3))
    with pytest.raises(ValueError, match="x2 must have rank 2"):
        kern(x, np.ones((1, 3, 2)))
    with pytest.raises(ValueError, match="same feature shape"):
        kern(x, np.ones((4, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        kern(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="x2 contains NaN or inf"):
        kern(x, np.array([[np.inf, 0.0]]))
    with pytest.raises(ValueError, match="real floating"):
        kern(np.ones((2, 2), np.complex64))
    with pytest.raises(ValueError, match="sq_distances|rank 2"):
        sq_distances(np.ones(3))


@pytest.mark.parametrize("fn", [rbf, laplace, functools.partial(matern, nu=1.5)])
def test_stationary_hyperparameter_errors(fn):
    x = np.ones((3, 2), np.float32)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="lengthscale must be positive"):
            fn(x, lengthscale=bad)
        with pytest.raises(ValueError, match="variance must be positive"):
            fn(x, variance=bad)
    with pytest.raises(ValueError, match="lengthscale must be positive"):
        fn(x, lengthscale=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"lengthscale must be a scalar or have shape \(2,\)"):
        fn(x, lengthscale=np.ones(3))
    with pytest.raises(ValueError, match="variance must be a scalar"):
        fn(x, variance=np.ones(2))


def test_other_hyperparameter_errors():
    x = np.ones((3, 2), np.float32)
    for nu in (1.0, 2, 0.4, "1.5", None, True):
        with pytest.raises(ValueError, match="nu must be one of"):
            matern(x, nu=nu)
    with pytest.raises(ValueError, match="nu must be one of"):
        jax.jit(lambda n: matern(x, nu=n))(1.5)
    for order in (-1, 3, 1.0, True, "1"):
        with pytest.raises(ValueError, match="order must be one of"):
            arccos(x, order=order)
    for degree in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="degree must be a positive integer"):
            polynomial(x, degree=degree)
    with pytest.raises(ValueError, match="c must be non-negative"):
        polynomial(x, c=-1.0)
    with pytest.raises(ValueError, match="scale must be positive"):
        polynomial(x, scale=0.0)
    with pytest.raises(ValueError, match="bias must be non-negative"):
        linear(x, bias=-0.1)
    with pytest.raises(ValueError, match="variance must be positive"):
        linear(x, variance=0.0)
    with pytest.raises(ValueError, match="variance must be positive"):
        arccos(x, variance=-1.0)
    with pytest.raises(ValueError, match="metric must be"):
        laplace(x, metric="cosine")


# --------------------------------------------------------------------------------------------------
# jit / vmap
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(KERNELS))
def test_jit_and_vmap(name):
    kern = KERNELS[name]
    xb = jnp.asarray(_points(11, 3 * 5 * 2, 1, np.float32).reshape(3, 5, 2))
    yb = jnp.asarray(_points(12, 3 * 4 * 2, 1, np.float32).reshape(3, 4, 2))
    eager = np.stack([np.asarray(kern(a, b)) for a, b in zip(xb, yb)])
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(kern))(xb, yb)), eager, rtol=1e-4, atol=1e-5)
    # vmap over the rows of x1 (one point at a time) gives the rows of the Gram matrix.
    rows = jax.vmap(lambda p: kern(p[None], yb[0])[0])(xb[0])
    np.testing.assert_allclose(np.asarray(rows), eager[0], rtol=1e-4, atol=1e-5)


def test_traced_hyperparameters():
    x = jnp.asarray(_points(13, 4, 2, np.float32))
    f = jax.jit(lambda ls, var: rbf(x, lengthscale=ls, variance=var))
    np.testing.assert_allclose(np.asarray(f(0.8, 1.5)), np.asarray(rbf(x, lengthscale=0.8, variance=1.5)),
                               rtol=1e-6)
    ls_batch = jnp.array([0.5, 1.0, 2.0])
    out = jax.vmap(lambda ls: matern(x, nu=2.5, lengthscale=ls))(ls_batch)
    assert out.shape == (3, 4, 4)
    np.testing.assert_allclose(np.asarray(out[2]), np.asarray(matern(x, nu=2.5, lengthscale=2.0)), rtol=1e-6)


def test_public_api():
    import ntkbook.kernels as K
    for name in ("sq_distances", "rbf", "laplace", "matern", "polynomial", "linear", "arccos"):
        assert name in K.__all__
        assert getattr(K, name).__doc__ and ">>>" in getattr(K, name).__doc__
