"""Power-softmax, pointwise attention, Newton reciprocal / inverse square root, ApproxLayerNorm."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ntkbook.attention import (ApproxLayerNorm, newton_reciprocal, newton_rsqrt, pointwise_attention,
                               power_softmax, power_softmax_attention)

DTYPES = [jnp.float32, jnp.float64]
TOL = {jnp.float32: 1e-5, jnp.float64: 1e-12}


def _qkv(dtype, B=2, L=7, H=3, D=4, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal((B, L, H, D)), dtype) for _ in range(3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_power_softmax_matches_numpy_and_sums_to_one(dtype, x64):
    s = np.random.default_rng(1).standard_normal((3, 5))
    for p in (2, 4):
        w = np.asarray(power_softmax(jnp.asarray(s, dtype), p, eps=0.0))
        ref = s ** p / (s ** p).sum(-1, keepdims=True)
        np.testing.assert_allclose(w, ref, rtol=TOL[dtype] * 10)
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=TOL[dtype] * 10)
    # epsilon is added to the mean: the weights sum to mean / (eps + mean)
    w = np.asarray(power_softmax(jnp.asarray(s, dtype), 2, eps=0.5))
    m = (s ** 2).mean(-1)
    np.testing.assert_allclose(w.sum(-1), m / (0.5 + m), rtol=TOL[dtype] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_power_softmax_attention_against_explicit_loop(dtype, x64):
    q, k, v = _qkv(dtype)
    out = np.asarray(power_softmax_attention(q, k, v, p=4, eps=1e-3))
    qn, kn, vn = (np.asarray(a, np.float64) for a in (q, k, v))
    B, L, H, D = qn.shape
    ref = np.zeros_like(vn)
    for b in range(B):
        for h in range(H):
            s = qn[b, :, h] @ kn[b, :, h].T / np.sqrt(D)
            w = s ** 4 / (L * 1e-3 + (s ** 4).sum(-1, keepdims=True))
            ref[b, :, h] = w @ vn[b, :, h]
    np.testing.assert_allclose(out, ref, rtol=TOL[dtype] * 100, atol=TOL[dtype])
    pw = np.asarray(pointwise_attention(q, k, v))
    ref = np.einsum("bqhd,bkhd->bhqk", qn, kn) / np.sqrt(D)
    np.testing.assert_allclose(pw, np.einsum("bhqk,bkhd->bqhd", ref ** 2, vn), rtol=TOL[dtype] * 100)


def test_power_softmax_attention_and_pointwise_gradients_match_finite_differences(x64):
    from jax.test_util import check_grads

    q, k, v = (0.5 * a for a in _qkv(jnp.float64, B=1, L=5, H=2, D=3, seed=4))
    # central differences with step 1e-5: truncation error ~1e-10, far below the tolerance
    check_grads(lambda q, k, v: power_softmax_attention(q, k, v, p=4, eps=1e-3), (q, k, v), order=1,
                modes=("rev",), eps=1e-5, atol=1e-6, rtol=1e-6)
    check_grads(lambda q, k, v: pointwise_attention(q, k, v, p=2), (q, k, v), order=1, modes=("rev",),
                eps=1e-5, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_newton_iterations_converge_and_follow_the_error_recursion(dtype, x64):
    x = jnp.asarray(np.geomspace(0.01, 10.0, 9), dtype)
    np.testing.assert_allclose(newton_reciprocal(x, upper=12.0, iters=18), 1 / np.asarray(x), rtol=TOL[dtype] * 10)
    np.testing.assert_allclose(newton_rsqrt(x, upper=12.0, iters=30), np.asarray(x) ** -0.5,
                               rtol=TOL[dtype] * 10)
    # relative error of the reciprocal after k steps is (1 - x/upper)^(2^k)
    y = np.asarray(newton_reciprocal(x, upper=12.0, iters=3), np.float64)
    np.testing.assert_allclose(1 - np.asarray(x) * y, (1 - np.asarray(x) / 12.0) ** 8, atol=TOL[dtype] * 10)


def test_newton_reciprocal_slots_into_attention():
    q, k, v = _qkv(jnp.float32)
    exact = power_softmax_attention(q, k, v)
    approx = power_softmax_attention(q, k, v, reciprocal=functools.partial(newton_reciprocal, upper=50.0, iters=30))
    np.testing.assert_allclose(approx, exact, rtol=1e-4, atol=1e-5)


def test_approx_layernorm_matches_flax_and_is_jittable():
    ln = nnx.LayerNorm(6, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(2).standard_normal((4, 6)) * 3, jnp.float32)
    approx = ApproxLayerNorm(ln, functools.partial(newton_rsqrt, upper=100.0, iters=24))
    np.testing.assert_allclose(jax.jit(lambda a: approx(a))(x), ln(x), atol=1e-5)


def test_bad_inputs_raise():
    q, k, v = _qkv(jnp.float32)
    for p in (3, 0, 2.0, True):
        with pytest.raises(ValueError, match="even"):
            power_softmax(q, p)
    with pytest.raises(ValueError, match="eps"):
        power_softmax(q, 2, eps=-1.0)
    with pytest.raises(ValueError, match="rank 4"):
        power_softmax_attention(q[0], k, v)
    with pytest.raises(ValueError, match="pointwise_attention: q and k must have the same number of heads"):
        pointwise_attention(q[:, :, :2], k, v)
    with pytest.raises(ValueError, match="k and v must agree"):
        pointwise_attention(q, k, v[:, :-1])
    with pytest.raises(ValueError, match="power_softmax_attention: scale"):
        power_softmax_attention(q, k, v, scale=-1.0)
    with pytest.raises(ValueError, match="iters"):
        newton_reciprocal(jnp.ones(3), upper=1.0, iters=-1)
    with pytest.raises(ValueError, match="upper"):
        newton_rsqrt(jnp.ones(3), upper=0.0)
    with pytest.raises(ValueError, match="NaN"):
        newton_reciprocal(jnp.array([jnp.nan]), upper=1.0)
