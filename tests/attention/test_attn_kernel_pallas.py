"""Fused Pallas kernel products (interpret mode): the Gaussian kernel product behind SOFT and the
Toeplitz-weighted linear attention behind RPE, forward and gradients against plain jnp / NumPy."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from attn_helpers import TOLERANCES, assert_matches_reference, random_qkv
from ntkbook.attention import (elu_feature_map, favor_features, gaussian_kernel_matmul,
                               kernelized_rpe_attention, softmax_free_attention)
from ntkbook.attention.kernel_pallas import _gauss_impl, toeplitz_linear_pallas


def gauss_mm_jnp(x, y, w, gamma):
    """Plain jnp: the whole kernel matrix, then the product (autodiff gives the oracle gradient)."""
    d2 = jnp.sum((x[:, :, None] - y[:, None, :]) ** 2, axis=-1)             # [B, n, m, H]
    return jnp.einsum("bnmh,bmhe->bnhe", jnp.exp(-gamma * d2), w)


def gauss_mm_numpy(x, y, w, gamma):
    x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
    d2 = ((x[:, :, None] - y[:, None, :]) ** 2).sum(-1)
    return np.einsum("bnmh,bmhe->bnhe", np.exp(-gamma * d2), w)


def toeplitz_jnp(a, b, e, c):
    """``y_i = Σ_j c_{i−j} (a_i·b_j) e_j`` with the explicit ``L × L`` matrix."""
    L = a.shape[1]
    offs = jnp.arange(L)[:, None] - jnp.arange(L)[None, :] + L - 1
    s = jnp.einsum("bihm,bjhm->bhij", a, b) * c[:, offs][None]
    return jnp.einsum("bhij,bjhe->bihe", s, e)


# ------------------------------------------------------------------- Gaussian kernel product

@pytest.mark.parametrize("gpu_layout", [False, True])
def test_gauss_matmul_matches_numpy_on_ragged_tiles(gpu_layout):
    # n = 13, m = 10 with tiles 4 × 3 (interpret) or 16 (Triton layout): partial tiles on both axes
    x, y, _ = random_qkv(0, (2, 13, 2, 5), (2, 10, 2, 5))
    w = jax.random.normal(jax.random.key(1), (2, 10, 2, 3))
    blocks = (16, 16) if gpu_layout else (4, 3)
    out = _gauss_impl(x, y, w, gamma=0.3, block_n=blocks[0], block_m=blocks[1], interpret=True,
                      gpu_layout=gpu_layout)
    assert out.shape == (2, 13, 2, 3) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out), gauss_mm_numpy(x, y, w, 0.3), atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "bfloat16"])
def test_gauss_matmul_forward_and_gradients_match_autodiff(dtype_name, request):
    if dtype_name == "float64":
        request.getfixturevalue("x64")
    dtype = jnp.dtype(dtype_name)
    x, y, w = random_qkv(2, (1, 11, 2, 4), (1, 7, 2, 4), dv=3, dtype=dtype)
    gamma = 0.25
    fast = lambda x, y, w: gaussian_kernel_matmul(x, y, w, gamma=gamma, block_n=4, block_m=4)  # noqa: E731

    def ref(x, y, w):
        acc = jnp.float32 if dtype == jnp.bfloat16 else dtype
        return gauss_mm_jnp(x.astype(acc), y.astype(acc), w.astype(acc), gamma)

    if dtype_name == "bfloat16":  # outputs in the accumulation dtype: compare with float32 tolerances
        out = fast(x, y, w)
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref(x, y, w)), atol=1e-4, rtol=1e-4)
        return
    assert_matches_reference(fast, ref, (x, y, w), dtype_name)


@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), d=st.integers(1, 6), bn=st.integers(1, 6),
       bm=st.integers(1, 6), gamma=st.floats(0.05, 2.0))
def test_gauss_matmul_property(n, m, d, bn, bm, gamma):
    x, y, w = random_qkv(n * 100 + m, (1, n, 1, d), (1, m, 1, d), dv=2)
    out = gaussian_kernel_matmul(x, y, w, gamma=gamma, block_n=bn, block_m=bm)
    np.testing.assert_allclose(np.asarray(out), gauss_mm_numpy(x, y, w, gamma), atol=3e-5, rtol=3e-5)


def test_gauss_matmul_bad_inputs():
    x = jnp.ones((1, 4, 1, 3))
    with pytest.raises(ValueError, match="gamma"):
        gaussian_kernel_matmul(x, x, x, gamma=0.0)
    with pytest.raises(ValueError, match="gamma"):
        gaussian_kernel_matmul(x, x, x, gamma="wide")
    with pytest.raises(ValueError, match="block_n"):
        gaussian_kernel_matmul(x, x, x, gamma=1.0, block_n=0)
    with pytest.raises(ValueError, match="power of two"):
        gaussian_kernel_matmul(x, x, x, gamma=1.0, block_m=24, interpret=False)
    with pytest.raises(ValueError, match="head dim"):
        gaussian_kernel_matmul(x, jnp.ones((1, 4, 1, 2)), x, gamma=1.0)
    with pytest.raises(ValueError, match="agree"):
        gaussian_kernel_matmul(x, x, jnp.ones((1, 5, 1, 3)), gamma=1.0)


# ------------------------------------------------------------ Toeplitz-weighted linear attention

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("gpu_layout", [False, True])
def test_toeplitz_kernel_forward_and_gradients(causal, gpu_layout):
    # L = 11 with tiles of 4 (interpret) or 16 (Triton layout, L padded to 16): partial tiles
    a, b, e = random_qkv(3, (2, 11, 2, 3), dv=4)
    a, b = jnp.abs(a), jnp.abs(b)
    c = jnp.exp(0.4 * jax.random.normal(jax.random.key(4), (2, 21)))
    if causal:
        c = c * (jnp.arange(21) >= 10)
    fast = functools.partial(toeplitz_linear_pallas, is_causal=causal, block=16 if gpu_layout else 4,
                             interpret=True, gpu_layout=gpu_layout)
    assert_matches_reference(fast, toeplitz_jnp, (a, b, e, c), "float32", argnums=(0, 1, 2, 3))


def test_rpe_pallas_matches_reference_float64(x64):
    q, k, v = random_qkv(5, (1, 9, 2, 4), dv=3, dtype=jnp.float64)
    bias = 0.5 * jax.random.normal(jax.random.key(6), (2, 17), jnp.float64)
    for causal in (False, True):
        f = lambda impl: functools.partial(kernelized_rpe_attention, feature_map=elu_feature_map,  # noqa: E731
                                           is_causal=causal, implementation=impl)
        assert_matches_reference(lambda q, k, v, b: f("pallas")(q, k, v, rpe_bias=b),
                                 lambda q, k, v, b: f("reference")(q, k, v, rpe_bias=b),
                                 (q, k, v, bias), "float64", argnums=(0, 1, 2, 3))


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_rpe_pallas_matches_reference(dtype_name):
    dtype = jnp.dtype(dtype_name)
    B, L, H, D = 2, 13, 2, 4
    q, k, v = random_qkv(7, (B, L, H, D), dv=3, dtype=dtype)
    bias = 0.5 * jax.random.normal(jax.random.key(8), (H, 2 * L - 1))
    phi = favor_features(jax.random.key(9), D, 8)
    f = lambda impl: functools.partial(kernelized_rpe_attention, feature_map=phi, rpe_bias=bias,  # noqa: E731
                                       is_causal=True, implementation=impl)
    assert_matches_reference(f("pallas"), f("reference"), (q, k, v), dtype_name)
    g = lambda impl: jax.jit(jax.grad(lambda b: jnp.sum(kernelized_rpe_attention(  # noqa: E731
        q, k, v, phi, b, implementation=impl).astype(jnp.float32) ** 2)))(bias)
    fatol = TOLERANCES[dtype_name][2]
    np.testing.assert_allclose(np.asarray(g("pallas")), np.asarray(g("reference")),
                               atol=fatol * 10, rtol=TOLERANCES[dtype_name][3])


# ------------------------------------------------------------------------------------- SOFT

@pytest.mark.parametrize("kw", [dict(), dict(normalize=None), dict(num_landmarks=5),
                                dict(num_landmarks=5, normalize="symmetric")],
                         ids=["exact-row", "exact-none", "nystrom-row", "nystrom-symmetric"])
def test_soft_pallas_matches_xla(kw):
    q, _, v = random_qkv(10, (2, 19, 2, 4), dv=3)
    f = lambda impl: functools.partial(softmax_free_attention, newton_iters=30, implementation=impl,  # noqa: E731
                                       **kw)
    assert_matches_reference(lambda q, v: f("pallas")(q, v), lambda q, v: f("xla")(q, v), (q, v),
                             "float32", argnums=(0, 1))


def test_soft_pallas_with_explicit_landmarks_and_2d_tokens():
    q, _, v = random_qkv(11, (1, 4, 5, 2, 4), dv=4)                      # [B, X, Y, H, D]
    lm = q.reshape(1, 20, 2, 4)[:, ::3]
    f = lambda impl: softmax_free_attention(q, v, landmarks=lm, implementation=impl)  # noqa: E731
    out = f("pallas")
    assert out.shape == (1, 4, 5, 2, 4)
    np.testing.assert_allclose(np.asarray(out), np.asarray(f("xla")), atol=2e-5, rtol=2e-5)


@settings(max_examples=6, deadline=None)
@given(L=st.integers(1, 14), block=st.integers(1, 8), causal=st.booleans(), m=st.integers(1, 4),
       e=st.integers(1, 3))
def test_toeplitz_kernel_property(L, block, causal, m, e):
    # any length (L = 1 included) and tile size (larger than L included), causal or not, vs the explicit sum
    a, b, v = random_qkv(L * 10 + block, (1, L, 1, m), dv=e)
    c = jnp.exp(0.3 * jax.random.normal(jax.random.key(L), (1, 2 * L - 1)))
    if causal:
        c = c * (jnp.arange(2 * L - 1) >= L - 1)
    out = toeplitz_linear_pallas(a, b, v, c, is_causal=causal, block=block, interpret=True, gpu_layout=False)
    np.testing.assert_allclose(np.asarray(out), np.asarray(toeplitz_jnp(a, b, v, c)), atol=1e-5, rtol=1e-5)


def test_fused_paths_plan_linear_memory():
    # XLA's memory plan of the compiled programs (deterministic; nothing runs): the fused paths never
    # store the L x M x E products (RPE by FFT) or the L x L kernel (exact SOFT), so their planned memory
    # grows linearly in L and is far below the xla paths' (measured: 8.4 vs 137 MiB and 4.1 vs 66 MiB at L = 2048)
    from ntkbook import bench

    phi = favor_features(jax.random.key(0), 32, 64)
    mem = {}
    for L in (512, 2048):
        x, b = jax.ShapeDtypeStruct((1, L, 2, 32), jnp.float32), jax.ShapeDtypeStruct((2 * L - 1,), jnp.float32)
        for impl in ("xla", "pallas"):
            rpe = jax.jit(lambda q, k, v, c: kernelized_rpe_attention(q, k, v, phi, c, implementation=impl))
            soft = jax.jit(lambda q, v: softmax_free_attention(q, v, implementation=impl))
            mem["rpe", impl, L] = bench.peak_memory_bytes(rpe, x, x, x, b)
            mem["soft", impl, L] = bench.peak_memory_bytes(soft, x, x)
    for op in ("rpe", "soft"):
        assert mem[op, "pallas", 2048] < mem[op, "xla", 2048] / 8
        assert mem[op, "pallas", 2048] < 5 * mem[op, "pallas", 512]       # linear in L (4x), not quadratic (16x)
