"""Sparse attention patterns as boolean masks, and their tile (block-sparsity) statistics.

* :func:`strided_shard_mask` — S2-attention (P056): heads see different strided shards of the
  key blocks plus a local window; the union over heads covers the whole context.
* :func:`tile_permutation` — a token order in which consecutive tokens form spatial tiles
  (multi-dimensional tiling, as GNA kernels do before running 1-D tiles).
* :func:`tile_occupancy` / :func:`tile_stats` — which ``block_q × block_k`` tiles of a mask hold
  any visible entry: the work a block-sparse kernel must do, and the speed-up bound
  (all tiles / visited tiles) of the GNA paper's simulator (P050).

Neighborhood masks (with GNA stride) are :func:`~ntkbook.attention.neighborhood_mask`. Every mask
here plugs into :func:`~ntkbook.attention.dot_product_attention` (``mask=``, True = attend).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import check_positive_int

__all__ = ["strided_shard_mask", "tile_occupancy", "tile_stats", "tile_permutation"]


def strided_shard_mask(seq_len: int, num_heads: int, *, block_size: int, stride: int,
                       local_window: int = 0, is_causal: bool = True, head_offset: int = 0,
                       heterogeneous: bool = True) -> np.ndarray:
    """``(H, L, L)`` boolean masks of strided, head-sharded attention (S2-attention).

    Head ``h`` sees the key blocks ``b = j // block_size`` with ``b ≡ h + head_offset (mod stride)``
    (``heterogeneous=False``: every head uses shard ``head_offset``), plus a local window of the
    ``local_window`` most recent keys (``i − local_window < j ≤ i``; ``|i − j| < local_window``
    when not causal). ``is_causal`` additionally keeps only ``j ≤ i``.

    With ``num_heads ≥ stride`` and heterogeneous shards, the union over heads is the full
    (causal) mask.

    >>> m = strided_shard_mask(8, 2, block_size=2, stride=2, local_window=1)
    >>> m.shape, bool((m.any(0) == np.tril(np.ones((8, 8), bool))).all())
    ((2, 8, 8), True)
    """
    L = check_positive_int(seq_len, "seq_len")
    H = check_positive_int(num_heads, "num_heads")
    bs = check_positive_int(block_size, "block_size")
    s = check_positive_int(stride, "stride")
    if isinstance(local_window, bool) or not isinstance(local_window, (int, np.integer)) or local_window < 0:
        raise ValueError(f"local_window must be a non-negative int, got {local_window!r}")
    if isinstance(head_offset, bool) or not isinstance(head_offset, (int, np.integer)):
        raise ValueError(f"head_offset must be an int, got {head_offset!r}")
    i = np.arange(L)[:, None]
    j = np.arange(L)[None, :]
    shard = (np.arange(H) + head_offset) % s if heterogeneous else np.full(H, head_offset % s)
    sel = ((j // bs) % s)[None] == shard[:, None, None]                 # (H, 1, L)
    if is_causal:
        local = (i - j >= 0) & (i - j < local_window)
    else:
        local = np.abs(i - j) < local_window
    mask = sel | local[None]
    if is_causal:
        mask = mask & (j <= i)[None]
    return np.broadcast_to(mask, (H, L, L)).copy()


def tile_occupancy(mask: Any, block_q: int, block_k: int) -> np.ndarray:
    """Which tiles of a ``[..., Lq, Lk]`` mask hold at least one visible entry.

    Ragged edges form partial tiles. Returns a bool array ``[..., ⌈Lq/block_q⌉, ⌈Lk/block_k⌉]``.

    >>> tile_occupancy(np.eye(4, dtype=bool), 2, 2).astype(int).tolist()
    [[1, 0], [0, 1]]
    """
    m = np.asarray(mask)
    if m.dtype != bool or m.ndim < 2:
        raise ValueError(f"mask must be a boolean array of rank >= 2, got {m.dtype} {m.shape}")
    bq = check_positive_int(block_q, "block_q")
    bk = check_positive_int(block_k, "block_k")
    Lq, Lk = m.shape[-2:]
    nq, nk = -(-Lq // bq), -(-Lk // bk)
    pad = [(0, 0)] * (m.ndim - 2) + [(0, nq * bq - Lq), (0, nk * bk - Lk)]
    mp = np.pad(m, pad)
    return mp.reshape(*m.shape[:-2], nq, bq, nk, bk).any(axis=(-3, -1))


def tile_stats(mask: Any, block_q: int, block_k: int) -> dict[str, float]:
    """Block-sparsity statistics of a mask for ``block_q × block_k`` tiles.

    Returns ``density`` (visible fraction of entries), ``tile_fraction`` (visited fraction of
    tiles), ``efficiency = density / tile_fraction`` (useful share of the computed FLOPs; 1 for a
    perfectly block-sparse mask) and ``speedup_bound = 1 / tile_fraction`` over dense attention.

    >>> from ntkbook.attention import neighborhood_mask
    >>> tile_stats(neighborhood_mask((16,), 4, stride=4), 4, 4)["efficiency"]
    1.0
    """
    m = np.asarray(mask)
    occ = tile_occupancy(m, block_q, block_k)
    density = float(m.mean())
    frac = float(occ.mean())
    return {"density": density, "tile_fraction": frac,
            "efficiency": density / frac if frac > 0 else 0.0,
            "speedup_bound": 1.0 / frac if frac > 0 else float("inf")}


def tile_permutation(spatial_shape: Any, tile_shape: Any) -> np.ndarray:
    """Flat token order that lists the tokens tile by tile (each tile in row-major order).

    With ``perm = tile_permutation(S, T)``, ``x.reshape(B, -1, H, D)[:, perm]`` makes every run of
    ``prod(T)`` consecutive tokens one spatial ``T`` patch, and ``mask[perm][:, perm]`` is the
    mask in that order — the layout in which multi-dimensional neighborhoods become block sparse.
    ``tile_shape`` must divide ``spatial_shape``.

    >>> tile_permutation((2, 4), (2, 2)).tolist()
    [0, 1, 4, 5, 2, 3, 6, 7]
    """
    spatial = tuple(check_positive_int(s, "spatial_shape") for s in spatial_shape)
    tiles = tuple(check_positive_int(t, "tile_shape") for t in tile_shape)
    if len(spatial) != len(tiles) or any(s % t for s, t in zip(spatial, tiles)):
        raise ValueError(f"tile_shape {tiles} must have one entry per axis and divide the spatial "
                         f"shape {spatial}")
    n = len(spatial)
    idx = np.arange(int(np.prod(spatial))).reshape(spatial)
    split = idx.reshape([d for s, t in zip(spatial, tiles) for d in (s // t, t)])
    order = [2 * a for a in range(n)] + [2 * a + 1 for a in range(n)]
    return split.transpose(order).reshape(-1)
