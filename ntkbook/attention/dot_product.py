"""Scaled dot-product (softmax) attention with a reference, an XLA and a Pallas implementation."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._common import check_qkv, compute_dtype, resolve_implementation, resolve_scale
from .flash import flash_attention

__all__ = ["dot_product_attention"]


def _check_mask(mask: Any, B: int, H: int, Lq: int, Lk: int, op: str) -> jnp.ndarray:
    m = mask if isinstance(mask, np.ndarray) else jnp.asarray(mask)   # numpy stays static
    if m.dtype != jnp.bool_:
        raise ValueError(f"{op}: mask must be a boolean array (True = attend), got dtype {m.dtype}")
    if not 2 <= m.ndim <= 4:
        raise ValueError(f"{op}: mask must have rank 2, 3 or 4 (broadcastable to [B, H, Lq, Lk] = "
                         f"{[B, H, Lq, Lk]}), got shape {tuple(m.shape)}")
    full = (B, H, Lq, Lk)[4 - m.ndim:]
    for got, want in zip(m.shape, full):
        if got not in (1, want):
            raise ValueError(f"{op}: mask of shape {tuple(m.shape)} does not broadcast to "
                             f"[B, H, Lq, Lk] = {[B, H, Lq, Lk]}")
    if m.shape[-2:] != (Lq, Lk):
        raise ValueError(f"{op}: mask's last two axes must be (Lq, Lk) = {(Lq, Lk)}, got "
                         f"{tuple(m.shape[-2:])}")
    return m.reshape((1,) * (4 - m.ndim) + m.shape)


def _visible(Lq: int, Lk: int, mask4: jnp.ndarray | None, is_causal: bool) -> jnp.ndarray | None:
    """The boolean ``[*, *, Lq, Lk]`` visibility pattern (None when everything is visible)."""
    vis = mask4
    if is_causal:
        tri = jnp.tril(jnp.ones((Lq, Lk), bool))[None, None]
        vis = tri if vis is None else vis & tri
    return vis


@functools.partial(jax.jit, static_argnames=("scale", "acc_dtype", "operand_dtype"))
def masked_softmax_attention(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray,
                             visible: jnp.ndarray | None, scale: float, *,
                             acc_dtype: Any, operand_dtype: Any) -> jnp.ndarray:
    """Dense attention ``[B, Lq, H, D]`` → ``[B, Lq, H, Dv]`` with rows fully masked giving 0.

    ``operand_dtype`` is the dtype the two matmuls read (the reference upcasts, the XLA path keeps
    the input dtype); accumulation and the softmax are in ``acc_dtype``.
    """
    s = jnp.einsum("bqhd,bkhd->bhqk", q.astype(operand_dtype), k.astype(operand_dtype),
                   preferred_element_type=acc_dtype).astype(acc_dtype) * jnp.asarray(scale, acc_dtype)
    if visible is not None:
        s = jnp.where(visible, s, -jnp.inf)
    m = jax.lax.stop_gradient(jnp.max(s, axis=-1, keepdims=True))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    p = jnp.exp(s - m)
    if visible is not None:
        p = jnp.where(visible, p, 0.0)
    denom = jnp.sum(p, axis=-1, keepdims=True)
    p = p / jnp.where(denom > 0, denom, 1.0)
    out = jnp.einsum("bhqk,bkhd->bqhd", p.astype(operand_dtype), v.astype(operand_dtype),
                     preferred_element_type=acc_dtype)
    return out.astype(q.dtype)


def dot_product_attention(q: Any, k: Any, v: Any, *, mask: Any = None, is_causal: bool = False,
                          scale: float | None = None,
                          implementation: str | None = None) -> jnp.ndarray:
    """Scaled dot-product attention ``softmax(scale · q kᵀ) v`` in the heads-last layout.

    Parameters
    ----------
    q : array ``[B, *Sq, H, D]``
        Queries; the spatial axes ``Sq`` (one or more) are flattened to ``Lq = prod(Sq)``.
    k : array ``[B, *Sk, H, D]``
        Keys (``Lk = prod(Sk)``, may differ from ``Lq``).
    v : array ``[B, *Sk, H, Dv]``
        Values.
    mask : bool array broadcastable to ``[B, H, Lq, Lk]``, optional
        ``True`` where query ``i`` may attend to key ``j``. Rank 2 (``[Lq, Lk]``), 3 or 4.
    is_causal : bool
        Query ``i`` sees keys ``j ≤ i`` (in flattened order; top-left aligned when ``Lq ≠ Lk``,
        like :func:`jax.nn.dot_product_attention`). Combined with ``mask`` by logical and.
    scale : float, optional
        Logit scale, default ``D ** -0.5``.
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: plain jnp, operands upcast to float32 (float64 under x64), the oracle.
        ``"xla"``: jnp with matmuls in the input dtype and float32 accumulation/softmax.
        ``"pallas"``: the flash-attention kernels of :mod:`ntkbook.attention.flash` (online softmax
        over key tiles; ``custom_vjp`` whose backward is two Pallas kernels that recompute the
        probabilities from the saved log-sum-exp); ``interpret=True`` off GPU.
        ``None``: ``"pallas"`` on a GPU, ``"xla"`` elsewhere.

    Returns
    -------
    array ``[B, *Sq, H, Dv]`` in the dtype of ``q``. A query row with no visible key gives 0
    (and zero gradient) in every implementation.

    Raises
    ------
    ValueError
        On wrong ranks, mismatched batch/head/head-dim, a non-boolean or non-broadcastable mask,
        a non-positive scale, NaN/inf inputs or an unknown implementation.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> q = jax.random.normal(jax.random.key(0), (2, 7, 4, 16))    # [B, L, H, D]
    >>> dot_product_attention(q, q, q, is_causal=True).shape
    (2, 7, 4, 16)
    >>> a = dot_product_attention(q, q, q, implementation="reference")
    >>> b = dot_product_attention(q, q, q, implementation="pallas")
    >>> bool(jnp.allclose(a, b, atol=1e-5))
    True
    """
    op = "dot_product_attention"
    q, k, v = check_qkv(q, k, v, op)
    impl = resolve_implementation(implementation, op)
    if not isinstance(is_causal, (bool, np.bool_)):
        raise ValueError(f"{op}: is_causal must be a bool, got {is_causal!r}")
    B, H, D = q.shape[0], q.shape[-2], q.shape[-1]
    q_spatial = q.shape[1:-2]
    Lq, Lk = int(np.prod(q_spatial)), int(np.prod(k.shape[1:-2]))
    scale_f = resolve_scale(scale, D)
    q3 = q.reshape(B, Lq, H, D)
    k3 = k.reshape(B, Lk, H, D)
    v3 = v.reshape(B, Lk, H, v.shape[-1])
    mask4 = None if mask is None else _check_mask(mask, B, H, Lq, Lk, op)
    if impl == "pallas":
        out = flash_attention(q3, k3, v3, mask4, is_causal=bool(is_causal), scale=scale_f)
    else:
        acc = compute_dtype(q.dtype, k.dtype, v.dtype)
        operand = acc if impl == "reference" else jnp.result_type(q.dtype, k.dtype, v.dtype)
        vis = _visible(Lq, Lk, mask4, bool(is_causal))
        out = masked_softmax_attention(q3, k3, v3, vis, scale_f, acc_dtype=jnp.dtype(acc),
                                       operand_dtype=jnp.dtype(operand))
    return out.reshape(B, *q_spatial, H, v.shape[-1])
