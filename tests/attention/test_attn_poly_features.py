"""Symmetric-monomial Taylor features vs the closed-form truncated series and the tensor-power map."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.attention import (linear_attention, num_symmetric_taylor_features, symmetric_taylor_features,
                               taylor_features)


def _series(t, degree):
    return sum(t**p / math.factorial(p) for p in range(degree + 1))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("degree", [0, 1, 2, 4])
def test_inner_product_is_truncated_series(dtype, degree, request):
    if dtype == jnp.float64:
        request.getfixturevalue("x64")
    k1, k2 = jax.random.split(jax.random.key(0))
    q = 0.4 * jax.random.normal(k1, (7, 5), dtype)
    k = 0.4 * jax.random.normal(k2, (6, 5), dtype)
    phi = symmetric_taylor_features(5, degree, scale=0.7)
    got = np.asarray(phi(q) @ phi(k).T, np.float64)
    want = _series(0.7 * np.asarray(q, np.float64) @ np.asarray(k, np.float64).T, degree)
    tol = 1e-5 if dtype == jnp.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert phi(q).dtype == dtype
    assert phi(q).shape == (7, math.comb(5 + degree, degree)) == (7, phi.num_features)


def test_matches_tensor_power_taylor_features_and_default_scale():
    x = jax.random.normal(jax.random.key(1), (2, 9, 1, 8)) * 0.5
    sym = symmetric_taylor_features(8, 3)                 # scale = 8 ** -0.5, as taylor_features
    full = taylor_features(3)
    a = jnp.einsum("bqhm,bkhm->bqk", sym(x), sym(x))
    b = jnp.einsum("bqhm,bkhm->bqk", full(x), full(x))
    np.testing.assert_allclose(a, b, rtol=1e-5)
    out_sym = linear_attention(x, x, x, sym)
    out_full = linear_attention(x, x, x, full)
    np.testing.assert_allclose(out_sym, out_full, rtol=1e-4, atol=1e-5)
    assert num_symmetric_taylor_features(8, 4) == 495


def test_is_a_pytree_and_jittable():
    phi = symmetric_taylor_features(4, 2, scale=1.0)
    x = jnp.ones((3, 4))
    out = jax.jit(lambda f, y: f(y))(phi, x)
    np.testing.assert_allclose(out, phi(x))


def test_bad_inputs():
    with pytest.raises(ValueError):
        symmetric_taylor_features(0, 2)
    with pytest.raises(ValueError):
        symmetric_taylor_features(4, -1)
    with pytest.raises(ValueError):
        symmetric_taylor_features(4, 2.5)
    with pytest.raises(ValueError):
        symmetric_taylor_features(4, 2, scale=-1.0)
    with pytest.raises(ValueError):
        symmetric_taylor_features(4, 2)(jnp.ones((3, 5)))
    with pytest.raises(ValueError):
        num_symmetric_taylor_features(4, -2)
