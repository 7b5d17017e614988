"""Shared helpers for the attention tests: tolerance table, random inputs, NumPy oracles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Tolerances of a fast implementation against the reference run on the *same* inputs.
# bf16: outputs are rounded to bf16 (rel. 2^-8) and the fast paths feed bf16 probabilities to the
# second matmul, so a few bf16 ulps of O(1) values.
TOLERANCES = {
    # dtype:   (forward atol, forward rtol, gradient atol, gradient rtol)
    "float32": (2e-5, 2e-5, 1e-4, 1e-4),
    "bfloat16": (3e-2, 3e-2, 6e-2, 6e-2),
    "float64": (1e-10, 1e-10, 1e-9, 1e-9),
}


def random_qkv(seed, q_shape, k_shape=None, dv=None, dtype=jnp.float32):
    """q: q_shape; k: k_shape (default q_shape); v: k_shape with the last axis ``dv``."""
    k_shape = tuple(q_shape if k_shape is None else k_shape)
    v_shape = k_shape[:-1] + ((k_shape[-1] if dv is None else dv),)
    ks = jax.random.split(jax.random.key(seed), 3)
    q = jax.random.normal(ks[0], q_shape, jnp.float32).astype(dtype)
    k = jax.random.normal(ks[1], k_shape, jnp.float32).astype(dtype)
    v = jax.random.normal(ks[2], v_shape, jnp.float32).astype(dtype)
    return q, k, v


def numpy_attention(q, k, v, visible, scale):
    """Float64 brute force: q [B, Lq, H, D], k [B, Lk, H, D], visible [B|1, H|1, Lq, Lk] → [B, Lq, H, Dv].

    Rows with no visible key give 0.
    """
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    B, Lq, H, _ = q.shape
    out = np.zeros((B, Lq, H, v.shape[-1]))
    vis = np.broadcast_to(np.asarray(visible, bool), (B, H, Lq, k.shape[1]))
    for b in range(B):
        for h in range(H):
            for i in range(Lq):
                js = np.nonzero(vis[b, h, i])[0]
                if len(js) == 0:
                    continue
                s = scale * (k[b, js, h] @ q[b, i, h])
                w = np.exp(s - s.max())
                out[b, i, h] = (w / w.sum()) @ v[b, js, h]
    return out


def out_and_grads(f, args, cotangent, argnums=(0, 1, 2)):
    """One jit: ``f(*args)`` and the vector-Jacobian product with ``cotangent`` for ``argnums``."""
    def go(*a):
        def part(*sel):
            full = list(a)
            for n, x in zip(argnums, sel):
                full[n] = x
            return f(*full)
        out, pull = jax.vjp(part, *(a[n] for n in argnums))
        return out, pull(cotangent.astype(out.dtype))
    return jax.jit(go)(*args)


def assert_matches_reference(fast, ref, args, dtype_name, *, seed=0, argnums=(0, 1, 2)):
    """Compare outputs and gradients (w.r.t. ``argnums``) of ``fast`` and ``ref``."""
    fatol, frtol, gatol, grtol = TOLERANCES[dtype_name]
    out_ref = jax.eval_shape(ref, *args)
    w = jax.random.normal(jax.random.key(seed + 99), out_ref.shape, jnp.float32)
    out_f, g_f = out_and_grads(fast, args, w, argnums)
    out_r, g_r = out_and_grads(ref, args, w, argnums)
    assert out_f.shape == out_r.shape and out_f.dtype == out_r.dtype
    np.testing.assert_allclose(np.asarray(out_f, np.float64), np.asarray(out_r, np.float64),
                               atol=fatol, rtol=frtol)
    for a, b in zip(g_f, g_r):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   atol=gatol, rtol=grtol)
    return out_f, g_f
