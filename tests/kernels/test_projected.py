"""Tests for ntkbook.kernels.projected: the randomly projected empirical NTK."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ntkbook.kernels.empirical import empirical_ntk
from ntkbook.kernels.projected import projected_ntk, projected_ntk_features


def f(p, x):
    return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]


def make(key, d=3, width=8, out=2, n=6, dtype=jnp.float32):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    p = {"w1": jax.random.normal(k1, (d, width), dtype), "b1": jax.random.normal(k2, (width,), dtype),
         "w2": jax.random.normal(k3, (width, out), dtype) / 3}
    return p, jax.random.normal(k4, (n, d), dtype)


def rel(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def test_large_dim_agrees_with_exact_entk_and_error_shrinks(key):
    p, x = make(key)
    exact_full = empirical_ntk(f, x, params=p, trace_axes=())
    exact_trace = jnp.einsum("ijcc->ij", exact_full) / 2
    errors = {256: [], 4096: []}
    for seed in range(4):
        phi = projected_ntk_features(jax.random.key(seed), f, x, params=p, dim=4096)
        for dim in errors:  # the first `dim` directions, rescaled, are a dim-direction sketch
            sketch = phi[:, :, :dim] * np.sqrt(4096 / dim)
            errors[dim].append(rel(jnp.einsum("ick,jdk->ijcd", sketch, sketch), exact_full))
        if seed == 0:
            assert errors[4096][0] < 0.1  # measured 0.057; the JL error is ~ sqrt(2 / k) times O(1)
            est = projected_ntk(jax.random.key(0), f, x, params=p, dim=4096)
            np.testing.assert_allclose(est, jnp.einsum("ick,jck->ij", phi, phi) / 2, rtol=1e-5, atol=1e-6)
            assert rel(est, exact_trace) < 0.05
    assert 2.0 < np.mean(errors[256]) / np.mean(errors[4096]) < 8.0  # sqrt(16) = 4


def test_unbiased(key):
    # averaging independent sketches of dimension k equals one sketch of dimension k * m, so the mean over
    # 200 small sketches must be much closer to the exact NTK than any single one
    p, x = make(key, n=4)
    exact = empirical_ntk(f, x, params=p, trace_axes=())
    ests = jax.vmap(lambda k: projected_ntk(k, f, x, params=p, dim=8, trace_axes=()))(
        jax.random.split(jax.random.key(3), 200))
    single = np.mean([rel(e, exact) for e in ests[:20]])
    assert rel(ests.mean(0), exact) < 0.3 * single
    assert rel(ests.mean(0), exact) < 0.1


def test_features_consistent_across_batching_and_prefix(key):
    p, x = make(key, n=7)
    a = projected_ntk_features(jax.random.key(2), f, x, params=p, dim=50, tangent_chunk=7)
    b = projected_ntk_features(jax.random.key(2), f, x, params=p, dim=100, batch_size=3)
    assert a.shape == (7, 2, 50)
    np.testing.assert_allclose(a, b[:, :, :50] * np.sqrt(2.0), rtol=1e-5, atol=1e-6)
    # same key, different input sets: the cross kernel is built from the same projection
    k12 = projected_ntk(jax.random.key(2), f, x[:3], x[3:], params=p, dim=64)
    k = projected_ntk(jax.random.key(2), f, x, params=p, dim=64)
    np.testing.assert_allclose(k12, k[:3, 3:], rtol=1e-5, atol=1e-6)


def test_scalar_output_and_module(key):
    p, x = make(key, out=1)

    def g(p, x):
        return f(p, x)[:, 0]

    est = projected_ntk(jax.random.key(0), g, x, params=p, dim=8192, trace_axes=())
    assert est.shape == (6, 6)
    assert rel(est, empirical_ntk(g, x, params=p, trace_axes=())) < 0.05
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    est = projected_ntk(jax.random.key(0), model, x, dim=8192)
    assert rel(est, empirical_ntk(model, x)) < 0.05


def test_symmetric_psd(key):
    p, x = make(key)
    k = np.asarray(projected_ntk(jax.random.key(0), f, x, params=p, dim=16), np.float64)
    np.testing.assert_allclose(k, k.T, rtol=1e-5, atol=1e-6)
    assert np.linalg.eigvalsh(k).min() > -1e-4 * np.abs(k).max()


def test_float64(x64):
    p, x = make(jax.random.key(0), dtype=jnp.float64)
    est = projected_ntk(jax.random.key(0), f, x, params=p, dim=32)
    assert est.dtype == jnp.float64


def test_bad_inputs(key):
    p, x = make(key)
    with pytest.raises(ValueError, match="dim"):
        projected_ntk(key, f, x, params=p, dim=0)
    with pytest.raises(ValueError, match="batch_size"):
        projected_ntk_features(key, f, x, params=p, dim=4, batch_size=-1)
    with pytest.raises(ValueError, match="tangent_chunk"):
        projected_ntk_features(key, f, x, params=p, dim=4, tangent_chunk=0)
    with pytest.raises(ValueError, match="NaN"):
        projected_ntk(key, f, x.at[0, 0].set(jnp.nan), params=p, dim=4)
    with pytest.raises(ValueError, match="feature shape"):
        projected_ntk(key, f, x, x[:, :2], params=p, dim=4)
    with pytest.raises(ValueError, match="params"):
        projected_ntk(key, f, x, dim=4)
    with pytest.raises(ValueError, match=r"\(n,\) or \(n, O\)"):
        projected_ntk(key, lambda p, x: f(p, x)[:, :, None], x, params=p, dim=4)
    with pytest.raises(ValueError, match="trace"):
        projected_ntk(key, lambda p, x: f(p, x)[:, 0], x, params=p, dim=4)
