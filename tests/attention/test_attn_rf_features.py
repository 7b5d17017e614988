"""Random-feature attention features (P031) vs a plain NumPy loop; shapes, dtypes, bad inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook.attention import dot_product_attention, random_attention_weights, rf_attention_features


def _loop(x0, x, w):
    """φ[b, m] = Σ_i softmax_i(x0[b]ᵀ W_m x[b, i]) x[b, i], one example and head at a time."""
    x0, x, w = (np.asarray(a, np.float64) for a in (x0, x, w))
    out = np.zeros((x0.shape[0], w.shape[0], x0.shape[1]))
    for b in range(x0.shape[0]):
        for m in range(w.shape[0]):
            s = np.array([x0[b] @ w[m] @ x[b, i] for i in range(x.shape[1])])
            p = np.exp(s - s.max())
            p /= p.sum()
            out[b, m] = sum(p[i] * x[b, i] for i in range(x.shape[1]))
    return out


def _data(dtype, B=6, N=5, d=3, M=4):
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    x = jax.random.normal(k1, (B, N, d), dtype)
    x0 = jax.random.normal(k2, (B, d), dtype)
    w = random_attention_weights(k3, d, M, mean=0.5, dtype=dtype)
    return x0, x, w


@pytest.mark.parametrize("dtype, tol", [(jnp.float32, 1e-5), (jnp.float64, 1e-12)])
def test_matches_numpy_loop(dtype, tol, request):
    if dtype == jnp.float64:
        request.getfixturevalue("x64")
    x0, x, w = _data(dtype)
    phi = rf_attention_features(x0, x, w)
    assert phi.shape == (6, 4, 3) and phi.dtype == dtype
    np.testing.assert_allclose(np.asarray(phi), _loop(x0, x, w), rtol=tol, atol=tol)


def test_equals_one_head_of_softmax_attention():
    # head m is dot-product attention with query W_mᵀ x0 (scale 1), keys = values = x
    x0, x, w = _data(jnp.float32)
    phi = rf_attention_features(x0, x, w)
    for m in range(w.shape[0]):
        q = (x0 @ w[m])[:, None, None, :]                      # [B, 1, H=1, d]
        kv = x[:, :, None, :]                                   # [B, N, 1, d]
        ref = dot_product_attention(q, kv, kv, scale=1.0, implementation="reference")[:, 0, 0]
        np.testing.assert_allclose(np.asarray(phi[:, m]), np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_leading_axes_and_weight_statistics():
    x0, x, w = _data(jnp.float32)
    phi = rf_attention_features(x0.reshape(2, 3, 3), x.reshape(2, 3, 5, 3), w)
    assert phi.shape == (2, 3, 4, 3)
    W = random_attention_weights(jax.random.key(0), 8, 4000, mean=0.7)
    off = np.asarray(W - 0.7 * jnp.eye(8))
    assert abs(off.mean()) < 0.01 and abs(off.var() * 8 - 1) < 0.03  # N(0, 1/d) entries around 0.7·I


def test_bad_inputs():
    x0, x, w = _data(jnp.float32)
    with pytest.raises(ValueError, match="share d"):
        rf_attention_features(x0[:, :2], x, w)
    with pytest.raises(ValueError, match="share d"):
        rf_attention_features(x0, x, w[:, :2])
    with pytest.raises(ValueError, match="leading axes"):
        rf_attention_features(x0[:4], x, w)
    with pytest.raises(ValueError, match="rank"):
        rf_attention_features(x0, x, w[0])
    with pytest.raises(ValueError):
        rf_attention_features(x0.at[0, 0].set(jnp.nan), x, w)
    with pytest.raises(ValueError):
        rf_attention_features(x0.astype(jnp.complex64), x, w)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            random_attention_weights(jax.random.key(0), bad, 3)
        with pytest.raises(ValueError, match="positive integer"):
            random_attention_weights(jax.random.key(0), 3, bad)
    with pytest.raises(ValueError, match="mean"):
        random_attention_weights(jax.random.key(0), 3, 3, mean=float("inf"))
