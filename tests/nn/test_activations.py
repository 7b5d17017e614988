"""Closed-form activation kernels vs Gauss–Hermite quadrature and vs nested adaptive quadrature."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special

from ntkbook import nn
from ntkbook.nn import _gauss

SMOOTH = {
    "Erf": (nn.Erf(0.7, 1.3, 0.2), lambda t: 0.7 * jax.scipy.special.erf(1.3 * t) + 0.2),
    "Sigmoid_like": (nn.Sigmoid_like(), lambda t: 0.5 * jax.scipy.special.erf(t / 2.4020563531719796) + 0.5),
    "Gelu": (nn.Gelu(), lambda t: jax.nn.gelu(t, approximate=False)),
    "Sin": (nn.Sin(1.1, 0.8, 0.3), lambda t: 1.1 * jnp.sin(0.8 * t + 0.3)),
    "Cos": (nn.Cos(0.9, 1.2, -0.4), lambda t: 0.9 * jnp.cos(1.2 * t - 0.4)),
    "Rbf": (nn.Rbf(0.7), lambda t: math.sqrt(2) * jnp.sin(math.sqrt(1.4) * t + math.pi / 4)),
    "Exp": (nn.Exp(0.5, 0.6), lambda t: 0.5 * jnp.exp(0.6 * t)),
    "Gaussian": (nn.Gaussian(1.5, -0.8), lambda t: 1.5 * jnp.exp(-0.8 * t * t)),
    "Monomial": (nn.Monomial(3), lambda t: t ** 3),
    "Polynomial": (nn.Polynomial([0.3, -1.0, 0.5, 0.2]), lambda t: 0.3 - t + 0.5 * t ** 2 + 0.2 * t ** 3),
}

KINKED = {
    "Relu": (nn.Relu(), lambda t: np.maximum(t, 0), lambda t: float(t > 0)),
    "LeakyRelu": (nn.LeakyRelu(0.2), lambda t: max(t, 0) + 0.2 * min(t, 0), lambda t: 1.0 if t > 0 else 0.2),
    "ABRelu": (nn.ABRelu(-0.5, 1.5), lambda t: -0.5 * min(t, 0) + 1.5 * max(t, 0), lambda t: 1.5 if t > 0 else -0.5),
    "Abs": (nn.Abs(), abs, lambda t: 1.0 if t > 0 else -1.0),
    "Sign": (nn.Sign(), np.sign, lambda t: 0.0),
}


def _inputs(dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    x[3] = -0.5 * x[0]  # anti-colinear pair
    return jnp.asarray(x, dtype)


def _net(act):
    return nn.serial(nn.Dense(7, W_std=1.3, b_std=0.2), act)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_closed_form_matches_quadrature(x64, name):
    act, fn = SMOOTH[name]
    x = _inputs()
    k = _net(act).kernel(x)
    deg = 300 if name in ("Erf", "Sigmoid_like", "Gaussian") else 80  # saturating: slower convergence
    q = _net(nn.ElementwiseNumerical(fn, deg=deg)).kernel(x)
    np.testing.assert_allclose(k.nngp, q.nngp, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(k.ntk, q.ntk, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(k.cov1, q.cov1, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", sorted(KINKED))
def test_kinked_closed_form_matches_gauss_hermite(x64, name):
    """Gauss–Hermite converges slowly across a kink, so this comparison is looser."""
    act, _, _ = KINKED[name]
    x = _inputs()
    k = _net(act).kernel(x)
    q = _net(nn.ElementwiseNumerical(act.fn, deg=400)).kernel(x)
    scale = float(jnp.max(jnp.abs(k.nngp)))
    np.testing.assert_allclose(k.nngp, q.nngp, atol=1e-2 * scale)
    np.testing.assert_allclose(k.ntk, q.ntk, atol=0.05 * float(jnp.max(jnp.abs(k.ntk))) + 1e-12)


def _nested_quad(f, s11, s12, s22):
    """E[f(u) f(v)] by adaptive 1-D quadrature in z1, each with an inner adaptive integral in z2."""
    r1 = math.sqrt(s11)
    rho = s12 / math.sqrt(s11 * s22)
    a, c = rho * math.sqrt(s22), math.sqrt(max(1 - rho * rho, 0.0) * s22)
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731

    def inner(z1):
        if c == 0:
            return f(a * z1)
        kink = -a * z1 / c
        g = lambda z2: f(a * z1 + c * z2) * pdf(z2)  # noqa: E731
        return (scipy.integrate.quad(g, -np.inf, kink, epsabs=1e-13, epsrel=1e-12)[0]
                + scipy.integrate.quad(g, kink, np.inf, epsabs=1e-13, epsrel=1e-12)[0])

    h = lambda z1: f(r1 * z1) * inner(z1) * pdf(z1)  # noqa: E731
    return (scipy.integrate.quad(h, -np.inf, 0, epsabs=1e-12, epsrel=1e-11)[0]
            + scipy.integrate.quad(h, 0, np.inf, epsabs=1e-12, epsrel=1e-11)[0])


@pytest.mark.parametrize("name", sorted(KINKED))
def test_kinked_closed_form_matches_adaptive_quadrature(x64, name):
    act, f, df = KINKED[name]
    cov = [(1.3, 0.4, 0.8), (2.0, -1.1, 0.9)]
    s11, s12, s22 = (jnp.asarray([c[i] for c in cov]) for i in range(3))
    t, dot = act.maps(s11, s12, s22)
    for i, (a, b, c) in enumerate(cov):
        assert float(t[i]) == pytest.approx(_nested_quad(f, a, b, c), rel=1e-7, abs=1e-9)
        assert float(dot[i]) == pytest.approx(_nested_quad(df, a, b, c), rel=1e-7, abs=1e-9)


def test_gaussian_moments_match_isserlis_by_hand(x64):
    s11, s12, s22 = jnp.asarray(1.5), jnp.asarray(0.4), jnp.asarray(0.7)
    assert float(_gauss.gaussian_moment(2, 2, s11, s12, s22)) == pytest.approx(1.5 * 0.7 + 2 * 0.4 ** 2)
    assert float(_gauss.gaussian_moment(3, 1, s11, s12, s22)) == pytest.approx(3 * 1.5 * 0.4)
    assert float(_gauss.gaussian_moment(4, 0, s11, s12, s22)) == pytest.approx(3 * 1.5 ** 2)
    assert float(_gauss.gaussian_moment(1, 2, s11, s12, s22)) == 0.0


def test_relu_is_the_arc_cosine_kernel(x64):
    x = _inputs()
    k = nn.Relu().kernel(x)
    s = x @ x.T / 3
    n = jnp.sqrt(jnp.diag(s))
    theta = jnp.arccos(jnp.clip(s / jnp.outer(n, n), -1, 1))
    expected = jnp.outer(n, n) / (2 * math.pi) * (jnp.sin(theta) + (math.pi - theta) * jnp.cos(theta))
    np.testing.assert_allclose(k.nngp, expected, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(k.ntk, 0.0)  # no parameters before the activation


def test_rbf_activation_gives_the_rbf_kernel(x64):
    x = _inputs()
    k = nn.Rbf(0.3).kernel(x, get="nngp")
    d2 = jnp.sum((x[:, None] - x[None]) ** 2, -1) / 3
    np.testing.assert_allclose(k, jnp.exp(-0.3 * d2), rtol=1e-12)


def test_numerical_tanh_runs_in_float32():
    x = _inputs(np.float32)
    k = _net(nn.ElementwiseNumerical(jnp.tanh, deg=30)).kernel(x)
    assert k.nngp.dtype == jnp.float32 and k.ntk.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(k.nngp)))


@pytest.mark.parametrize("name", sorted(SMOOTH) + sorted(KINKED))
def test_activation_module_is_the_function(name):
    act = SMOOTH[name][0] if name in SMOOTH else KINKED[name][0]
    x = jnp.linspace(-2.0, 2.0, 7)[:, None]
    y = act.module(rngs=__import__("flax").nnx.Rngs(0))(x)
    fn = SMOOTH[name][1] if name in SMOOTH else (lambda t: jnp.asarray(np.vectorize(KINKED[name][1])(np.asarray(t)), t.dtype))
    np.testing.assert_allclose(y, fn(x), rtol=1e-5, atol=1e-6)


def test_bad_activation_arguments():
    with pytest.raises(ValueError):
        nn.Monomial(-1)
    with pytest.raises(ValueError):
        nn.Polynomial([])
    with pytest.raises(ValueError):
        nn.ElementwiseNumerical(jnp.tanh, deg=0)
    with pytest.raises(ValueError):
        nn.Erf(a=float("nan"))
    with pytest.raises(ValueError):
        nn.ElementwiseNumerical("tanh")
