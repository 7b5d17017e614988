"""Tests for ntkbook.data.manifolds: the Swiss roll chart is isometric; sphere geodesics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.data.manifolds import sphere_geodesic, swiss_roll


def test_swiss_roll_chart_is_isometric(x64):
    roll = swiss_roll(jax.random.key(0), 200)
    assert roll.points.shape == (200, 3) and roll.coords.shape == (200, 2) and roll.points.dtype == jnp.float64
    p, c = np.asarray(roll.points), np.asarray(roll.coords)
    theta = np.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2)
    np.testing.assert_allclose(p[:, 1], c[:, 1], atol=1e-12)
    assert theta.min() >= 1.5 * np.pi - 1e-9 and theta.max() <= 4.5 * np.pi + 1e-9
    # arc length by numerical quadrature of |dγ/dθ| = √(1 + θ²)
    grid = np.linspace(1.5 * np.pi, theta[0], 20001)
    f = np.sqrt(1 + grid ** 2)
    s = np.sum((f[1:] + f[:-1]) / 2 * np.diff(grid))
    arc0 = 0.5 * (1.5 * np.pi * np.sqrt(1 + (1.5 * np.pi) ** 2) + np.arcsinh(1.5 * np.pi))
    np.testing.assert_allclose(c[0, 0] - arc0, s, rtol=1e-8)


def test_swiss_roll_noise_float32_and_bad_inputs():
    a = swiss_roll(jax.random.key(1), 50)
    b = swiss_roll(jax.random.key(1), 50, noise=0.5)
    assert a.points.dtype == jnp.float32
    np.testing.assert_allclose(a.coords, b.coords)
    assert 0.3 < float(jnp.std(b.points - a.points)) < 0.7
    with pytest.raises(ValueError, match="noise"):
        swiss_roll(jax.random.key(0), 5, noise=-1.0)
    with pytest.raises(ValueError, match="n"):
        swiss_roll(jax.random.key(0), 0)


def test_sphere_geodesic():
    x = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [-1.0, 0.0, 0.0]])
    d = np.asarray(sphere_geodesic(x))
    np.testing.assert_allclose(d, [[0, np.pi / 2, np.pi], [np.pi / 2, 0, np.pi / 2], [np.pi, np.pi / 2, 0]], atol=1e-6)
    with pytest.raises(ValueError, match="rank"):
        sphere_geodesic(np.ones(3))
