"""Feature maps, linear attention (causal chunked prefix sums), RPE by FFT, SOFT."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings, strategies as st

from attn_helpers import assert_matches_reference, random_qkv
from ntkbook.attention import (SpectralFeatures, dot_product_attention, elu_feature_map,
                               favor_features, gaussian_orthogonal_matrix, kernelized_rpe_attention,
                               landmark_pooling, linear_attention, newton_pinv,
                               random_fourier_features, softmax_free_attention, taylor_features)


def numpy_kernel_attention(fq, fk, v, weights=None):
    """out_i = Σ_j w_ij φq_i·φk_j v_j / Σ_j w_ij φq_i·φk_j, float64, [B, L, H, *]."""
    fq, fk, v = (np.asarray(x, np.float64) for x in (fq, fk, v))
    a = np.einsum("bqhm,bkhm->bhqk", fq, fk)
    if weights is not None:
        a = a * weights
    return np.einsum("bhqk,bkhe->bqhe", a, v) / a.sum(-1).transpose(0, 2, 1)[..., None]


# --------------------------------------------------------------------------- feature maps

def test_favor_features_estimate_softmax_kernel_and_are_positive():
    D = 8
    q, k, _ = random_qkv(0, (6, D))
    q, k = 0.5 * q, 0.5 * k
    exact = np.exp(np.asarray(q) @ np.asarray(k).T / np.sqrt(D))
    for orthogonal in (False, True):
        phi = favor_features(jax.random.key(1), D, 65536, orthogonal=orthogonal)
        fq, fk = phi(q), phi(k)
        assert fq.shape == (6, 65536) and bool(jnp.all(fq > 0))
        np.testing.assert_allclose(np.asarray(fq @ fk.T), exact, rtol=0.05)


def test_trig_features_estimate_softmax_kernel():
    D = 4
    q, k, _ = random_qkv(2, (5, D))
    q, k = 0.4 * q, 0.4 * k
    for orthogonal in (False, True):
        phi = random_fourier_features(jax.random.key(3), D, 65536, orthogonal=orthogonal, scale=1.0)
        est = np.asarray(phi(q) @ phi(k).T)
        np.testing.assert_allclose(est, np.exp(np.asarray(q) @ np.asarray(k).T), rtol=0.05)


def test_orthogonal_matrix_rows_orthogonal_within_blocks():
    w = np.asarray(gaussian_orthogonal_matrix(jax.random.key(4), 10, 4), np.float64)
    for blk in (w[:4], w[4:8]):
        g = blk @ blk.T
        np.testing.assert_allclose(g - np.diag(np.diag(g)), 0, atol=1e-4)
    assert w.shape == (10, 4)
    big = np.asarray(gaussian_orthogonal_matrix(jax.random.key(5), 20000, 4))
    np.testing.assert_allclose(big.mean(0), 0, atol=0.05)            # unbiased directions
    np.testing.assert_allclose(np.cov(big.T), np.eye(4), atol=0.06)  # marginally N(0, I)


def test_taylor_features_are_the_truncated_series():
    q = jnp.array([0.3, -0.2, 0.5]); k = jnp.array([0.1, 0.4, -0.6])
    t = float(q @ k) * 0.7
    for deg, want in [(0, 1.0), (1, 1 + t), (3, 1 + t + t ** 2 / 2 + t ** 3 / 6)]:
        phi = taylor_features(deg, scale=0.7)
        assert float(phi(q) @ phi(k)) == pytest.approx(want, rel=1e-5)
    assert taylor_features(2)(jnp.ones((2, 3))).shape == (2, 1 + 3 + 9)


def test_spectral_features_kernel_and_gradients():
    D = 3
    phi = SpectralFeatures(D, 4096, num_components=2, init_scale=0.7, rngs=nnx.Rngs(5))
    # zero means: each component is N(0, 0.7² I), so the kernel is exp(−0.49 ‖q − k‖² / 2)
    phi.means[...] = jnp.zeros_like(phi.means[...])
    q = jnp.array([[0.2, -0.5, 0.3]]); k = jnp.array([[0.9, 0.1, -0.4]])
    est = float((phi(q) @ phi(k).T)[0, 0])
    assert est == pytest.approx(float(jnp.exp(-0.49 * jnp.sum((q - k) ** 2) / 2)), abs=0.03)

    def loss(model):
        return jnp.sum(model(q) @ model(k).T)
    grads = nnx.grad(loss)(phi)
    assert float(jnp.abs(grads.log_scales[...]).sum()) > 0
    assert float(jnp.abs(grads.logits[...]).sum()) >= 0


# ------------------------------------------------------------------------- linear attention

@pytest.mark.parametrize("causal", [False, True])
def test_linear_reference_matches_numpy(causal):
    q, k, v = random_qkv(6, (2, 7, 2, 4), dv=3)
    out = linear_attention(q, k, v, elu_feature_map, is_causal=causal, eps=0.0,
                           implementation="reference")
    w = np.tril(np.ones((7, 7))) if causal else None
    want = numpy_kernel_attention(elu_feature_map(q), elu_feature_map(k), v, w)
    np.testing.assert_allclose(np.asarray(out), want, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("impl", ["xla", "pallas"])
@pytest.mark.parametrize("causal,Lq,Lk,chunk,dtype", [(True, 13, 13, 4, "float32"),
                                                       (False, 9, 6, 64, "float32"),
                                                       (True, 10, 10, 3, "bfloat16")])
def test_linear_fast_paths_match_reference(impl, causal, Lq, Lk, chunk, dtype):
    """Forward and gradients; the Pallas path (interpret mode) with a partial last chunk."""
    q, k, v = random_qkv(7, (2, Lq, 2, 8), (2, Lk, 2, 8), dtype=jnp.dtype(dtype))
    phi = favor_features(jax.random.key(8), 8, 32)
    f = lambda impl: functools.partial(linear_attention, feature_map=phi, is_causal=causal,  # noqa: E731
                                       chunk_size=chunk, implementation=impl)
    assert_matches_reference(f(impl), f("reference"), (q, k, v), dtype)


def test_causal_linear_pallas_float64_and_triton_padding(x64):
    """float64 end to end, and the GPU layout (powers of two, zero-padded features) in interpret mode."""
    from ntkbook.attention.linear_pallas import causal_linear_pallas
    q, k, v = (x.astype(jnp.float64) for x in random_qkv(9, (1, 21, 2, 5), dv=3))
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    a = np.einsum("bqhm,bkhm->bhqk", np.asarray(fq), np.asarray(fk)) * np.tril(np.ones((21, 21)))
    want_num = np.einsum("bhqk,bkhe->bqhe", a, np.asarray(v))
    for gpu_layout in (False, True):  # True: what Triton runs (chunk 16, M and E+1 padded to 16)
        num, den = causal_linear_pallas(fq, fk, v, 4, interpret=True, gpu_layout=gpu_layout)
        assert num.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(num), want_num, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(den), a.sum(-1).transpose(0, 2, 1), rtol=1e-12)


@settings(max_examples=4, deadline=None)
@given(L=st.integers(1, 20), chunk=st.integers(1, 8))
def test_property_causal_chunks_any_length(L, chunk):
    q, k, v = random_qkv(L, (1, L, 1, 4))
    run = lambda impl: jax.jit(functools.partial(  # noqa: E731
        linear_attention, feature_map=elu_feature_map, is_causal=True, chunk_size=chunk,
        implementation=impl))(q, k, v)
    np.testing.assert_allclose(np.asarray(run("xla")), np.asarray(run("reference")),
                               atol=3e-5, rtol=3e-5)


def test_taylor_linear_attention_approximates_softmax_attention():
    q, k, v = random_qkv(9, (1, 16, 2, 4))
    q, k = 0.3 * q, 0.3 * k                      # |q·k|/√D small: the series converges fast
    lin = linear_attention(q, k, v, taylor_features(4), is_causal=True, eps=0.0)
    soft = dot_product_attention(q, k, v, is_causal=True, implementation="reference")
    np.testing.assert_allclose(np.asarray(lin), np.asarray(soft), atol=2e-4)


# ------------------------------------------------------------------------------- RPE by FFT

@pytest.mark.parametrize("causal", [False, True])
def test_rpe_fft_matches_reference_and_numpy(causal):
    B, L, H, D = 2, 11, 2, 4
    q, k, v = random_qkv(10, (B, L, H, D), dv=3)
    bias = 0.5 * jax.random.normal(jax.random.key(11), (H, 2 * L - 1))
    phi = favor_features(jax.random.key(12), D, 16)
    f = lambda impl: functools.partial(kernelized_rpe_attention, feature_map=phi, rpe_bias=bias,  # noqa: E731
                                       is_causal=causal, eps=0.0, implementation=impl)
    out, _ = assert_matches_reference(f("xla"), f("reference"), (q, k, v), "float32")
    offs = np.arange(L)[:, None] - np.arange(L)[None, :] + L - 1
    w = np.exp(np.asarray(bias, np.float64))[:, offs][None]
    if causal:
        w = w * np.tril(np.ones((L, L)))
    want = numpy_kernel_attention(phi(q), phi(k), v, w)
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-4, rtol=1e-4)


def test_rpe_gradient_wrt_bias():
    q, k, v = random_qkv(13, (1, 8, 1, 4))
    bias = jnp.zeros((15,))
    g = lambda impl: jax.grad(lambda b: jnp.sum(kernelized_rpe_attention(  # noqa: E731
        q, k, v, elu_feature_map, b, is_causal=True, implementation=impl) ** 2))(bias)
    np.testing.assert_allclose(np.asarray(g("xla")), np.asarray(g("reference")), atol=1e-4)


def test_rpe_reference_builds_its_offsets_in_graph():
    # the (L, L) offset table is an iota expression, not an embedded constant: lowering stays small and fast
    L = 512
    x = jax.ShapeDtypeStruct((1, L, 1, 4), jnp.float32)
    f = jax.jit(lambda q, b: kernelized_rpe_attention(q, q, q, elu_feature_map, b, implementation="reference"))
    text = f.lower(x, jax.ShapeDtypeStruct((2 * L - 1,), jnp.float32)).as_text()
    assert len(text) < 100_000


# ------------------------------------------------------------------------------------ SOFT

def test_soft_exact_matches_numpy():
    q, _, v = random_qkv(14, (1, 9, 2, 4))
    out = softmax_free_attention(q, v)
    qa, va = np.asarray(q, np.float64), np.asarray(v, np.float64)
    d2 = ((qa[:, :, None] - qa[:, None, :]) ** 2).sum(-1)            # [B, L, L, H]
    s = np.exp(-d2 / (2 * np.sqrt(4))).transpose(0, 3, 1, 2)          # [B, H, L, L]
    want = np.einsum("bhqk,bkhe->bqhe", s / s.sum(-1, keepdims=True), va)
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-5)


def test_soft_nystrom_all_landmarks_is_exact_and_error_decreases():
    q, _, v = random_qkv(15, (1, 32, 1, 4))
    q = 0.5 * q
    exact = softmax_free_attention(q, v)
    full = softmax_free_attention(q, v, landmarks=q, implementation="reference")
    np.testing.assert_allclose(np.asarray(full), np.asarray(exact), atol=5e-3)
    soft = jax.jit(softmax_free_attention, static_argnames=("num_landmarks", "newton_iters"))
    errs = [float(jnp.linalg.norm(soft(q, v, num_landmarks=m, newton_iters=40) - exact)
                  / jnp.linalg.norm(exact)) for m in (2, 16)]
    assert errs[1] < errs[0]


def test_newton_pinv_converges_and_has_the_inverse_gradient():
    a = jnp.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    z = newton_pinv(a, 20)
    np.testing.assert_allclose(np.asarray(z), np.linalg.inv(np.asarray(a)), atol=1e-5)
    w = jnp.arange(9.0).reshape(3, 3)
    g1 = jax.grad(lambda a: jnp.sum(newton_pinv(a, 20) * w))(a)
    g2 = jax.grad(lambda a: jnp.sum(jnp.linalg.inv(a) * w))(a)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), atol=1e-4)


def test_soft_xla_newton_matches_reference_pinv_and_gradients():
    q, _, v = random_qkv(16, (1, 24, 2, 4))
    f = lambda impl: functools.partial(softmax_free_attention, num_landmarks=6,  # noqa: E731
                                       newton_iters=60, implementation=impl)
    out_x, out_r = jax.jit(f("xla"))(q, v), jax.jit(f("reference"))(q, v)
    np.testing.assert_allclose(np.asarray(out_x), np.asarray(out_r), atol=2e-3)
    grad = lambda impl: jax.jit(jax.grad(lambda q, v: jnp.sum(f(impl)(q, v) ** 2),  # noqa: E731
                                         argnums=(0, 1)))(q, v)
    for gx, gr in zip(grad("xla"), grad("reference")):   # closed-form inverse gradient vs SVD pinv
        assert bool(jnp.all(jnp.isfinite(gx)))
        np.testing.assert_allclose(np.asarray(gx), np.asarray(gr), atol=1e-2 * float(jnp.abs(gr).max()))


def test_landmark_pooling_rows_average_and_cover():
    p = landmark_pooling(11, 4)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert np.all((p > 0).sum(0) == 1)


# ------------------------------------------------------------------------------- bad inputs

def test_bad_inputs():
    x = jnp.ones((1, 6, 2, 4))
    with pytest.raises(ValueError, match="callable"):
        linear_attention(x, x, x, "elu")
    with pytest.raises(ValueError, match="as many queries"):
        linear_attention(x, x[:, :4], x[:, :4], elu_feature_map, is_causal=True)
    with pytest.raises(ValueError, match="implementation"):
        linear_attention(x, x, x, elu_feature_map, implementation="triton")
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention(x, x, x, elu_feature_map, chunk_size=0)
    with pytest.raises(ValueError, match="rpe_bias"):
        kernelized_rpe_attention(x, x, x, elu_feature_map, jnp.zeros((10,)))
    with pytest.raises(ValueError, match="not both"):
        softmax_free_attention(x, x, num_landmarks=2, landmarks=x[:, :2])
    with pytest.raises(ValueError, match="exceed"):
        softmax_free_attention(x, x, num_landmarks=7)
    with pytest.raises(ValueError, match="square"):
        newton_pinv(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="last axis"):
        favor_features(jax.random.key(0), 3, 8)(x)
    with pytest.raises(ValueError, match="num_features"):
        favor_features(jax.random.key(0), 4, 0)
    with pytest.raises(ValueError, match="degree"):
        taylor_features(-1)
