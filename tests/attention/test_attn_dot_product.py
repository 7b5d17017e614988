"""dot_product_attention: reference vs NumPy, xla/pallas vs reference (forward and gradient)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from attn_helpers import assert_matches_reference, numpy_attention, random_qkv
from ntkbook.attention import dot_product_attention
from ntkbook.attention.flash import _flash_impl, flash_attention


def _visible(B, H, Lq, Lk, mask, causal):
    vis = np.ones((B, H, Lq, Lk), bool)
    if mask is not None:
        vis &= np.broadcast_to(np.asarray(mask), vis.shape)
    if causal:
        vis &= np.tril(np.ones((Lq, Lk), bool))
    return vis


def _mask(seed, shape, p=0.7, empty_row=None):
    m = np.array(jax.random.bernoulli(jax.random.key(seed), p, shape))
    if empty_row is not None:
        m[..., empty_row, :] = False
    return jnp.asarray(m)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_mask", [False, True])
def test_reference_matches_numpy(causal, use_mask):
    B, Lq, Lk, H, D = 2, 5, 7, 3, 4
    q, k, v = random_qkv(0, (B, Lq, H, D), (B, Lk, H, D), dv=6)
    mask = _mask(1, (B, 1, Lq, Lk), empty_row=2) if use_mask else None
    out = dot_product_attention(q, k, v, mask=mask, is_causal=causal, implementation="reference")
    want = numpy_attention(q, k, v, _visible(B, H, Lq, Lk, mask, causal), D ** -0.5)
    np.testing.assert_allclose(np.asarray(out), want, atol=2e-6, rtol=2e-6)


def test_reference_float64_matches_numpy(x64):
    q, k, v = random_qkv(3, (1, 6, 2, 5), dtype=jnp.float64)
    out = dot_product_attention(q, k, v, is_causal=True, scale=0.3, implementation="reference")
    assert out.dtype == jnp.float64
    want = numpy_attention(q, k, v, _visible(1, 2, 6, 6, None, True), 0.3)
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-12, rtol=1e-12)
    for impl in ("xla", "pallas"):                          # float64 end to end
        fast = jax.jit(functools.partial(dot_product_attention, is_causal=True, scale=0.3,
                                         implementation=impl))(q, k, v)
        assert fast.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(fast), want, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_xla_matches_reference(dtype):
    B, Lq, Lk, H, D = 2, 9, 6, 2, 8
    q, k, v = random_qkv(4, (B, Lq, H, D), (B, Lk, H, D), dtype=jnp.dtype(dtype))
    mask = _mask(5, (Lq, Lk), empty_row=0)
    f = lambda impl: functools.partial(dot_product_attention, mask=mask, is_causal=True,  # noqa: E731
                                       implementation=impl)
    assert_matches_reference(f("xla"), f("reference"), (q, k, v), dtype)


# (name, Lq, Lk, block_q, block_k, causal, mask kind, dtype): ragged lengths, partial tiles,
# Lq ≠ Lk both ways, a fully masked row.
# (per-head masks: see test_block_sparse_matches_dense_masked in test_attn_misc.py)
PALLAS_CASES = [
    ("ragged-bf16", 13, 21, 4, 8, False, None, "bfloat16"),
    ("mask-causal-lq>lk", 11, 9, 4, 4, True, "batch", "float32"),
]


@pytest.mark.parametrize("name,Lq,Lk,bq,bk,causal,mask_kind,dtype", PALLAS_CASES,
                         ids=[c[0] for c in PALLAS_CASES])
def test_pallas_matches_reference(name, Lq, Lk, bq, bk, causal, mask_kind, dtype):
    B, H, D = 2, 2, 8
    q, k, v = random_qkv(6, (B, Lq, H, D), (B, Lk, H, D), dv=5, dtype=jnp.dtype(dtype))
    mask = None
    if mask_kind == "batch":
        mask = _mask(7, (B, 1, Lq, Lk), empty_row=3)
    elif mask_kind == "head":
        mask = _mask(8, (H, Lq, Lk))
    ref = functools.partial(dot_product_attention, mask=mask, is_causal=causal,
                            implementation="reference")
    m4 = None if mask is None else mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    fast = lambda q, k, v: flash_attention(q, k, v, m4, is_causal=causal, block_q=bq,  # noqa: E731
                                           block_k=bk)
    out, grads = assert_matches_reference(fast, ref, (q, k, v), dtype)
    if name == "mask-causal-lq>lk":  # the fully masked row is zero, and so are its gradients
        assert np.all(np.asarray(out[:, 3]) == 0)
        assert np.all(np.asarray(grads[0][:, 3]) == 0)


def test_pallas_public_path_multi_axis_default_blocks():
    """Through the public op: two spatial axes flattened, Dv ≠ D, default tile sizes."""
    q, k, v = random_qkv(9, (1, 3, 5, 2, 4), (1, 4, 7, 2, 4), dv=3)
    f = lambda impl: functools.partial(dot_product_attention, is_causal=True,  # noqa: E731
                                       implementation=impl)
    out, _ = assert_matches_reference(f("pallas"), f("reference"), (q, k, v), "float32")
    assert out.shape == (1, 3, 5, 2, 3)


def test_pallas_triton_layout_padding():
    """The GPU layout (power-of-two lengths, head dim padded to ≥ 16) gives the same answer."""
    q, k, v = random_qkv(10, (1, 20, 1, 6), (1, 37, 1, 6), dv=3)
    mask = _mask(11, (1, 1, 20, 37))
    fast = lambda q, k, v: _flash_impl(q, k, v, mask, is_causal=True, scale=None, block_q=16,  # noqa: E731
                                       block_k=16, interpret=True, gpu_layout=True)
    ref = functools.partial(dot_product_attention, mask=mask, is_causal=True, implementation="reference")
    assert_matches_reference(fast, ref, (q, k, v), "float32")


def test_default_implementation_runs_and_agrees():
    q, k, v = random_qkv(12, (2, 6, 2, 4))
    a = dot_product_attention(q, k, v)
    b = dot_product_attention(q, k, v, implementation="reference")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5)


@settings(max_examples=3, deadline=None)
@given(B=st.integers(1, 2), Lq=st.integers(1, 9), Lk=st.integers(1, 9), H=st.integers(1, 3),
       D=st.integers(1, 6), causal=st.booleans(), seed=st.integers(0, 2**16))
def test_property_xla_equals_numpy(B, Lq, Lk, H, D, causal, seed):
    q, k, v = random_qkv(seed, (B, Lq, H, D), (B, Lk, H, D))
    mask = _mask(seed + 1, (B, H, Lq, Lk), p=0.6)
    out = jax.jit(functools.partial(dot_product_attention, is_causal=causal,
                                    implementation="xla"))(q, k, v, mask=mask)
    want = numpy_attention(q, k, v, _visible(B, H, Lq, Lk, mask, causal), D ** -0.5)
    np.testing.assert_allclose(np.asarray(out), want, atol=3e-5, rtol=3e-5)


@settings(max_examples=2, deadline=None)
@given(Lq=st.integers(1, 12), Lk=st.integers(1, 12), bq=st.sampled_from([2, 4, 8]),
       bk=st.sampled_from([3, 4, 8]), causal=st.booleans())
def test_property_pallas_forward_any_tiling(Lq, Lk, bq, bk, causal):
    q, k, v = random_qkv(Lq * 31 + Lk, (1, Lq, 1, 4), (1, Lk, 1, 4))
    out = jax.jit(lambda q, k, v: flash_attention(q, k, v, is_causal=causal, block_q=bq,
                                                  block_k=bk))(q, k, v)
    want = numpy_attention(q, k, v, _visible(1, 1, Lq, Lk, None, causal), 0.5)
    np.testing.assert_allclose(np.asarray(out), want, atol=3e-5, rtol=3e-5)


def test_softmax_invariances():
    """Shifting every key by the same vector adds a per-row constant to the logits, and permuting
    keys with their values reorders a sum: neither changes the output."""
    q, k, v = random_qkv(13, (1, 5, 2, 4))
    out = dot_product_attention(q, k, v, implementation="xla")
    perm = jnp.array([3, 0, 4, 1, 2])
    out_p = dot_product_attention(q, k[:, perm], v[:, perm], implementation="xla")
    np.testing.assert_allclose(np.asarray(out), np.asarray(out_p), atol=1e-6)
    shift = jnp.array([0.7, -1.3, 0.2, 2.0])
    out_s = dot_product_attention(q, k + shift, v, implementation="xla")
    np.testing.assert_allclose(np.asarray(out), np.asarray(out_s), atol=2e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(q=np.ones((2, 3, 4))), "rank"),
    (dict(k=np.ones((2, 5, 3, 4)), v=np.ones((2, 5, 3, 4))), "heads"),
    (dict(k=np.ones((1, 5, 2, 4)), v=np.ones((1, 5, 2, 4))), "batch"),
    (dict(k=np.ones((2, 5, 2, 3))), "head dim"),
    (dict(v=np.ones((2, 6, 2, 4))), "k and v"),
    (dict(mask=np.ones((4, 5))), "boolean"),
    (dict(mask=np.ones((3, 4, 5), bool)), "broadcast"),
    (dict(mask=np.ones((5, 4), bool)), "broadcast"),
    (dict(implementation="cuda"), "implementation"),
    (dict(scale=-1.0), "scale"),
    (dict(is_causal="yes"), "is_causal"),
    (dict(q=np.full((2, 4, 2, 4), np.nan)), "NaN"),
    (dict(q=np.ones((2, 4, 2, 4), np.complex64)), "real"),
])
def test_bad_inputs(kwargs, match):
    args = dict(q=np.ones((2, 4, 2, 4), np.float32), k=np.ones((2, 5, 2, 4), np.float32),
                v=np.ones((2, 5, 2, 4), np.float32))
    args.update(kwargs)
    q, k, v = args.pop("q"), args.pop("k"), args.pop("v")
    with pytest.raises(ValueError, match=match):
        dot_product_attention(q, k, v, **args)


def test_pallas_skips_tiles_no_query_can_see():
    """Key tile 2 is masked for every query: its (NaN) values must never be read, forward or
    backward — the tile lists make the kernels block sparse."""
    q, k, v = random_qkv(14, (1, 10, 1, 4), (1, 16, 1, 4))
    mask = np.ones((10, 16), bool)
    mask[:, 8:12] = False
    mask[2, :] = False                                          # and one empty query row
    v = v.at[:, 8:12].set(jnp.nan)
    k = k.at[:, 8:12].set(jnp.nan)
    m4 = jnp.asarray(mask)[None, None]
    f = lambda q, k, v: flash_attention(q, k, v, m4, block_q=4, block_k=4)  # noqa: E731
    out, pull = jax.vjp(f, q, k, v)
    dq, dk, dv = pull(jnp.ones_like(out))
    assert bool(jnp.all(jnp.isfinite(out))) and bool(jnp.all(jnp.isfinite(dq)))
    assert bool(jnp.all(dk[:, 8:12] == 0)) and bool(jnp.all(dv[:, 8:12] == 0))
    clean = dot_product_attention(q, k.at[:, 8:12].set(0), v.at[:, 8:12].set(0),
                                  mask=jnp.asarray(mask), implementation="reference")
    np.testing.assert_allclose(np.asarray(out), np.asarray(clean), atol=2e-5)
