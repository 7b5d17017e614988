"""Block-sparse attention: compute only the ``block_q × block_k`` tiles a static mask touches."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int, is_concrete
from ._common import check_qkv, compute_dtype, resolve_implementation, resolve_scale
from .dot_product import _check_mask, _visible, masked_softmax_attention
from .flash import flash_attention

__all__ = ["block_sparse_attention"]


def _tile_gather(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, vis: np.ndarray, bq: int, bk: int,
                 scale: float, acc: Any, operand: Any) -> jnp.ndarray:
    """``q: [B, Lq, H, D]``; ``vis``: concrete bool ``[Bm, Hm, Lq, Lk]``. Gathers, per query tile,
    the key tiles it touches (padded to the largest count) and runs masked softmax on them."""
    B, Lq, H, D = q.shape
    Lk, Dv = k.shape[1], v.shape[-1]
    Bm, Hm = vis.shape[:2]
    nq, nk = -(-Lq // bq), -(-Lk // bk)
    vis = np.pad(vis, ((0, 0), (0, 0), (0, nq * bq - Lq), (0, nk * bk - Lk)))
    tiles = vis.reshape(Bm, Hm, nq, bq, nk, bk)
    occ = tiles.any(axis=(3, 5))                                         # [Bm, Hm, nq, nk]
    tmax = max(1, int(occ.sum(-1).max()))
    order = np.argsort(~occ, axis=-1, kind="stable")[..., :tmax]          # visited tiles first
    used = np.take_along_axis(occ, order, axis=-1)                       # [Bm, Hm, nq, tmax]
    # mask of the gathered tiles: [Bm, Hm, nq, bq, tmax, bk]; unused slots fully masked
    sub = np.take_along_axis(tiles, order[:, :, :, None, :, None], axis=4) & used[:, :, :, None, :, None]

    def tiles_of(x: jnp.ndarray, n: int, b: int) -> jnp.ndarray:          # [B, H, n, b, F]
        x = jnp.pad(x, ((0, 0), (0, n * b - x.shape[1]), (0, 0), (0, 0)))
        return x.reshape(B, n, b, H, x.shape[-1]).transpose(0, 3, 1, 2, 4)

    qt = tiles_of(q.astype(operand), nq, bq)
    kt, vt = tiles_of(k.astype(operand), nk, bk), tiles_of(v.astype(operand), nk, bk)
    bi = (np.arange(B) if Bm > 1 else np.zeros(1, int))[:, None]
    hi = (np.arange(H) if Hm > 1 else np.zeros(1, int))[None, :]
    idx = order[bi, hi]                                                  # [B|1, H|1, nq, tmax]
    bsel, hsel = np.arange(B)[:, None, None, None], np.arange(H)[None, :, None, None]
    kg = kt[bsel, hsel, idx]                                             # [B, H, nq, tmax, bk, D]
    vg = vt[bsel, hsel, idx]
    s = jnp.einsum("bhnqd,bhntkd->bhnqtk", qt, kg, preferred_element_type=acc).astype(acc)
    s = s * jnp.asarray(scale, acc)
    s = jnp.where(jnp.asarray(sub), s, -jnp.inf).reshape(*s.shape[:4], tmax * bk)
    mflat = jnp.asarray(sub.reshape(*sub.shape[:4], tmax * bk))
    mx = jnp.max(s, axis=-1, keepdims=True)
    mx = jnp.where(jnp.isfinite(mx), mx, 0.0)
    p = jnp.where(mflat, jnp.exp(s - mx), 0.0)
    den = jnp.sum(p, axis=-1, keepdims=True)
    p = p / jnp.where(den > 0, den, 1.0)
    out = jnp.einsum("bhnqs,bhnsd->bhnqd", p.astype(operand),
                     vg.reshape(B, H, nq, tmax * bk, Dv), preferred_element_type=acc)
    out = out.transpose(0, 2, 3, 1, 4).reshape(B, nq * bq, H, Dv)[:, :Lq]
    return out.astype(q.dtype)


def block_sparse_attention(q: Any, k: Any, v: Any, mask: Any, *, is_causal: bool = False,
                           scale: float | None = None, block_q: int = 64, block_k: int = 64,
                           implementation: str | None = None) -> jnp.ndarray:
    """Masked softmax attention that only computes the tiles a static mask touches.

    The cost is ``(visited tiles) · block_q · block_k`` instead of ``Lq · Lk``: for sliding-window,
    neighborhood (use :func:`~ntkbook.attention.tile_permutation` for 2-D/3-D token layouts),
    GNA and S2 masks it is linear in the sequence length. The result equals
    ``dot_product_attention(q, k, v, mask=mask, is_causal=is_causal)``.

    Parameters
    ----------
    q, k, v : arrays ``[B, Lq, H, D]``, ``[B, Lk, H, D]``, ``[B, Lk, H, Dv]``
    mask : concrete bool array broadcastable to ``[B, H, Lq, Lk]`` (rank 2–4; numpy is best)
        Must hold values (not a tracer) for ``"xla"``: the tile lists fix the shapes.
    is_causal, scale : as in :func:`~ntkbook.attention.dot_product_attention`.
    block_q, block_k : tile sizes.
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: dense masked attention (float32). ``"xla"``: per query tile, gather the
        visited key tiles (padded to the largest count) and attend to them. ``"pallas"``: the
        flash kernels, which skip unvisited tiles. ``None``: ``"pallas"`` on a GPU, else ``"xla"``.

    Returns
    -------
    array ``[B, Lq, H, Dv]``; rows with no visible key are 0.

    >>> import jax
    >>> from ntkbook.attention import neighborhood_mask
    >>> x = jax.random.normal(jax.random.key(0), (1, 256, 2, 16))
    >>> m = neighborhood_mask((256,), 16, stride=16)                  # blocked attention
    >>> block_sparse_attention(x, x, x, m, block_q=16, block_k=16).shape
    (1, 256, 2, 16)
    """
    op = "block_sparse_attention"
    q, k, v = check_qkv(q, k, v, op, n_spatial=1)
    impl = resolve_implementation(implementation, op)
    if not isinstance(is_causal, (bool, np.bool_)):
        raise ValueError(f"{op}: is_causal must be a bool, got {is_causal!r}")
    bq = check_positive_int(block_q, f"{op}: block_q")
    bk = check_positive_int(block_k, f"{op}: block_k")
    B, Lq, H, D = q.shape
    Lk = k.shape[1]
    scale_f = resolve_scale(scale, D)
    if mask is None:
        raise ValueError(f"{op}: mask is required (use dot_product_attention without a mask)")
    m4 = _check_mask(mask, B, H, Lq, Lk, op)
    if impl == "pallas":
        return flash_attention(q, k, v, m4, is_causal=bool(is_causal), scale=scale_f,
                               block_q=bq, block_k=bk)
    acc = compute_dtype(q.dtype, k.dtype, v.dtype)
    if impl == "reference":
        vis = _visible(Lq, Lk, m4, bool(is_causal))
        return masked_softmax_attention(q, k, v, vis, scale_f, acc_dtype=acc, operand_dtype=acc)
    if not is_concrete(mask):
        raise ValueError(f"{op}: implementation='xla' needs a concrete mask (the visited tiles "
                         "fix the shapes); build it with numpy outside jit")
    vis = np.asarray(m4)
    if is_causal:
        vis = vis & np.tril(np.ones((Lq, Lk), bool))
    operand = jnp.result_type(q.dtype, k.dtype, v.dtype)
    return _tile_gather(q, k, v, vis, bq, bk, scale_f, acc, operand)
