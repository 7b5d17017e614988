"""Softmax attention weights and per-head attention entropy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.attention import attention_entropy, dot_product_attention, softmax_attention_weights

DTYPES = [jnp.float32, jnp.float64]


def _numpy_entropy(w, causal):
    B, H, Lq, Lk = w.shape
    out = np.zeros(H)
    for h in range(H):
        vals = []
        for b in range(B):
            for i in range(Lq):
                t = min(i + 1, Lk) if causal else Lk
                if t < 2:
                    continue
                p = w[b, h, i][w[b, h, i] > 0]
                vals.append(-(p * np.log(p)).sum() / np.log(t))
        out[h] = np.mean(vals)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_weights_reproduce_attention_and_entropy_matches_numpy(dtype, causal, x64):
    rng = np.random.default_rng(0)
    q, k, v = (jnp.asarray(rng.standard_normal((2, 6, 3, 4)) * 2, dtype) for _ in range(3))
    w = softmax_attention_weights(q, k, is_causal=causal)
    assert w.dtype == dtype
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)
    out = jnp.einsum("bhqk,bkhd->bqhd", w, v)
    ref = dot_product_attention(q, k, v, is_causal=causal, implementation="reference")
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    ent = attention_entropy(w, is_causal=causal)
    np.testing.assert_allclose(ent, _numpy_entropy(np.asarray(w, np.float64), causal), rtol=1e-5)
    assert np.all((np.asarray(ent) >= 0) & (np.asarray(ent) <= 1 + 1e-6))
    jitted = jax.jit(lambda a: attention_entropy(a, is_causal=causal))(w)
    np.testing.assert_allclose(jitted, ent, rtol=1e-6)


def test_entropy_extremes_and_unnormalised():
    L = 5
    uniform_causal = np.tril(np.ones((L, L))) / np.arange(1, L + 1)[:, None]
    np.testing.assert_allclose(attention_entropy(jnp.asarray(uniform_causal[None, None]), is_causal=True), [1.0],
                               rtol=1e-6)
    np.testing.assert_allclose(attention_entropy(jnp.eye(L)[None, None], is_causal=True), [0.0], atol=1e-7)
    raw = attention_entropy(jnp.full((1, 2, 3, 4), 0.25), normalize=False)
    np.testing.assert_allclose(raw, [np.log(4)] * 2, rtol=1e-6)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="rank 4"):
        attention_entropy(jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="single key"):
        attention_entropy(jnp.ones((1, 1, 1, 1)), is_causal=True)
    with pytest.raises(ValueError, match="softmax_attention_weights: q and k must have the same head dim"):
        softmax_attention_weights(jnp.ones((1, 3, 2, 4)), jnp.ones((1, 3, 2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        softmax_attention_weights(jnp.full((1, 2, 1, 2), jnp.nan), jnp.ones((1, 2, 1, 2)))
