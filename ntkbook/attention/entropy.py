"""Attention weights and per-head attention entropy (P080: entropic overload and collapse).

The entropy of a query's attention row ``p`` over the ``t`` keys it can see is ``−Σ p log p``; divided
by ``log t`` it lies in ``[0, 1]``: 1 for uniform attention (the head does not select anything),
0 for attention on a single key. Averaged over queries it is a per-head diagnostic.

>>> import jax.numpy as jnp
>>> from ntkbook.attention import attention_entropy
>>> w = jnp.full((1, 1, 4, 4), 0.25)                  # [B, H, Lq, Lk], uniform rows
>>> round(float(attention_entropy(w)[0]), 6)
1.0
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._common import as_attention_array, check_qkv, resolve_scale

__all__ = ["softmax_attention_weights", "attention_entropy"]


def softmax_attention_weights(q: Any, k: Any, *, is_causal: bool = False,
                              scale: float | None = None) -> jnp.ndarray:
    """The softmax attention matrix ``[B, H, Lq, Lk]`` of heads-last ``q [B, Lq, H, D]``, ``k [B, Lk, H, D]``.

    With ``is_causal`` query ``i`` sees keys ``j ≤ i`` (masked weights are exactly 0).

    >>> import jax.numpy as jnp
    >>> w = softmax_attention_weights(jnp.ones((1, 3, 2, 4)), jnp.ones((1, 3, 2, 4)), is_causal=True)
    >>> w[0, 0].tolist()[2]
    [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
    """
    op = "softmax_attention_weights"
    q, k, _ = check_qkv(q, k, k, op, n_spatial=1)
    s = jnp.einsum("bqhd,bkhd->bhqk", q, k) * resolve_scale(scale, q.shape[-1], f"{op}: scale")
    if is_causal:
        Lq, Lk = s.shape[-2:]
        s = jnp.where(jnp.tril(jnp.ones((Lq, Lk), bool)), s, -jnp.inf)
    return jax.nn.softmax(s, axis=-1)


def attention_entropy(weights: Any, *, normalize: bool = True, is_causal: bool = False) -> jnp.ndarray:
    """Per-head mean attention entropy of ``weights [B, H, Lq, Lk]`` (rows summing to one) → ``[H]``.

    Row entropy ``−Σ_j p_j log p_j`` (``0 log 0 = 0``). With ``normalize`` each row is divided by
    ``log t``, ``t`` the number of keys the row can see: ``Lk``, or ``i + 1`` for query ``i`` when
    ``is_causal``; rows with ``t = 1`` carry no information and are left out of the mean. Jittable.

    >>> import jax.numpy as jnp
    >>> one_hot = jnp.eye(3)[None, None]                   # every query attends to one key
    >>> float(attention_entropy(one_hot)[0])
    0.0
    """
    w = as_attention_array(weights, "weights", ndim=4)
    Lq, Lk = w.shape[-2:]
    ent = -jnp.sum(jnp.where(w > 0, w * jnp.log(jnp.where(w > 0, w, 1.0)), 0.0), axis=-1)   # [B, H, Lq]
    if not normalize:
        return jnp.mean(ent, axis=(0, 2))
    t = np.minimum(np.arange(1, Lq + 1), Lk) if is_causal else np.full((Lq,), Lk)
    keep = t > 1
    if not keep.any():
        raise ValueError("attention_entropy: every row sees a single key; the normalised entropy is undefined")
    norm = jnp.where(keep, ent / np.log(np.maximum(t, 2)).astype(np.float32), 0.0)
    return (jnp.sum(norm, axis=(0, 2)) / (w.shape[0] * int(keep.sum()))).astype(w.dtype)
