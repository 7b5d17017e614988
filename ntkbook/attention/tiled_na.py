"""1-D neighborhood attention computed tile by tile: the unfused batched-GEMM form and the fused
online-softmax form of the Faster Neighborhood Attention paper (P015), in plain XLA.

Both work inside each dilation group (positions ``g, g + d, g + 2d, …``), where a non-causal window
of ``k`` keys starting at ``clamp(j − ⌊k/2⌋, 0, n_g − k)`` is a run of consecutive group coordinates
and the starts of consecutive queries grow by at most one. Hence, for a tile of ``T`` consecutive
queries:

* **unfused (batched GEMM)** — the union of the ``T`` windows is a run of at most ``U = T + k − 1``
  keys. One ``T × U`` GEMM per tile gives all logits; the positions outside each query's own window
  are masked before the softmax, and a second ``T × U`` GEMM applies the probabilities to the values.
  The ``T × U`` score tile is materialised (the memory traffic that unfused kernels pay).
* **fused** — the keys are cut into tiles of ``T_k`` and a query tile visits only the key tiles that
  meet its windows (at most ``⌈(T + k − 1)/T_k⌉ + 1``), keeping a running maximum, normaliser and
  output (online softmax) so that only one ``T × T_k`` score tile exists at a time.

The cost of both is linear in the length; :func:`tiled_na1d_cost` counts it. The result equals
:func:`~ntkbook.attention.na1d` (``stride=1``, non-causal).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int
from ._common import check_qkv, compute_dtype, resolve_scale

__all__ = ["tiled_na1d", "tiled_na1d_cost"]


def _check_sizes(length: int, kernel_size: int, dilation: int, tile: int,
                 op: str) -> tuple[int, int, int, int]:
    L = check_positive_int(length, f"{op}: length")
    k = check_positive_int(kernel_size, f"{op}: kernel_size")
    d = check_positive_int(dilation, f"{op}: dilation")
    T = check_positive_int(tile, f"{op}: tile")
    if L % d:
        raise ValueError(f"{op}: the length {L} must be a multiple of the dilation {d}")
    if k * d > L:
        raise ValueError(f"{op}: kernel_size × dilation = {k * d} exceeds the length {L}")
    return L, k, d, T


def _layout(n_g: int, k: int, T: int) -> tuple[np.ndarray, int]:
    """Window starts of every group coordinate, padded to whole query tiles, and the tile count."""
    n_t = -(-n_g // T)
    j = np.minimum(np.arange(n_t * T), n_g - 1)          # padded queries copy the last one
    return np.clip(j - k // 2, 0, n_g - k), n_t


def tiled_na1d_cost(length: int, kernel_size: int, *, dilation: int = 1, tile: int = 64,
                    kv_tile: int | None = None) -> dict[str, float]:
    """Logits computed per query by dense, unfused-tiled and fused-tiled 1-D neighborhood attention.

    Returns ``useful`` (``k``), ``dense`` (``n`` keys), ``unfused`` (``T + k − 1``, the union window
    of a query tile, ``min``-ed with the group length), ``fused`` (mean number of key tiles a query
    tile visits × ``T_k``), ``fused_tiles`` (that mean number of key tiles) and ``kv_tiles`` (key tiles
    per dilation group). ``useful / unfused`` and ``useful / fused`` are the FLOP-ideal fractions.

    >>> c = tiled_na1d_cost(1024, 13, tile=64)
    >>> c["useful"], c["unfused"], c["dense"]
    (13.0, 76.0, 1024.0)
    """
    op = "tiled_na1d_cost"
    L, k, d, T = _check_sizes(length, kernel_size, dilation, tile, op)
    Tk = T if kv_tile is None else check_positive_int(kv_tile, f"{op}: kv_tile")
    n_g = L // d
    start, n_t = _layout(n_g, k, T)
    start = start.reshape(n_t, T)
    first, last = start[:, 0] // Tk, (start[:, -1] + k - 1) // Tk
    tiles = float(np.mean(last - first + 1))
    return {"useful": float(k), "dense": float(L), "unfused": float(min(T + k - 1, n_g)),
            "fused": tiles * Tk, "fused_tiles": tiles, "kv_tiles": float(-(-n_g // Tk))}


@functools.partial(jax.jit, static_argnames=("k", "d", "T", "Tk", "fused", "scale", "acc", "operand"))
def _tiled(q: jnp.ndarray, k_: jnp.ndarray, v: jnp.ndarray, *, k: int, d: int, T: int, Tk: int,
           fused: bool, scale: float, acc: Any, operand: Any) -> jnp.ndarray:
    B, L, H, D = q.shape
    Dv = v.shape[-1]
    n_g = L // d

    def groups(x: jnp.ndarray) -> jnp.ndarray:          # [B, L, H, F] -> [B·d, n_g, H, F]
        F = x.shape[-1]
        return x.reshape(B, n_g, d, H, F).transpose(0, 2, 1, 3, 4).reshape(B * d, n_g, H, F)

    qg, kg, vg = groups(q.astype(operand)), groups(k_.astype(operand)), groups(v.astype(operand))
    start, n_t = _layout(n_g, k, T)
    qt = jnp.pad(qg, ((0, 0), (0, n_t * T - n_g), (0, 0), (0, 0))).reshape(B * d, n_t, T, H, D)
    st = start.reshape(n_t, T)
    sc = jnp.asarray(scale, acc)

    if not fused:
        U = min(T + k - 1, n_g)
        u0 = np.minimum(st[:, 0], n_g - U)                      # union window [u0, u0 + U)
        kpos = u0[:, None] + np.arange(U)[None, :]              # [n_t, U]
        inwin = (kpos[:, None, :] >= st[:, :, None]) & (kpos[:, None, :] < st[:, :, None] + k)
        ku, vu = kg[:, kpos], vg[:, kpos]                       # [B·d, n_t, U, H, F]
        s = jnp.einsum("gtqhd,gtuhd->gthqu", qt, ku, preferred_element_type=acc).astype(acc) * sc
        s = jnp.where(jnp.asarray(inwin)[None, :, None], s, -jnp.inf)
        p = jax.nn.softmax(s, axis=-1)
        out = jnp.einsum("gthqu,gtuhd->gtqhd", p.astype(operand), vu, preferred_element_type=acc)
    else:
        n_k = -(-n_g // Tk)
        first = st[:, 0] // Tk
        n_vis = int(((st[:, -1] + k - 1) // Tk - first).max()) + 1
        kt = jnp.pad(kg, ((0, 0), (0, n_k * Tk - n_g), (0, 0), (0, 0))).reshape(B * d, n_k, Tk, H, D)
        vt = jnp.pad(vg, ((0, 0), (0, n_k * Tk - n_g), (0, 0), (0, 0))).reshape(B * d, n_k, Tk, H, Dv)
        lo = jnp.asarray(st)[:, None, :, None]                  # [n_t, 1, T, 1]

        def body(state, i):
            m, l, o = state
            tile = jnp.minimum(jnp.asarray(first) + i, n_k - 1)  # [n_t]; repeats are masked below
            kpos = tile[:, None] * Tk + jnp.arange(Tk)[None, :]  # [n_t, Tk]
            ok = (kpos[:, None, None, :] >= lo) & (kpos[:, None, None, :] < lo + k)
            ok = ok & (jnp.asarray(first) + i < n_k)[:, None, None, None]
            s = jnp.einsum("gtqhd,gtkhd->gthqk", qt, kt[:, tile],
                           preferred_element_type=acc).astype(acc) * sc
            s = jnp.where(ok[None], s, -jnp.inf)
            m_new = jnp.maximum(m, s.max(-1))
            m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)  # rows with no key seen yet
            alpha = jnp.exp(m - m_safe)
            p = jnp.exp(s - m_safe[..., None])
            l = l * alpha + p.sum(-1)
            o = o * alpha[..., None] + jnp.einsum("gthqk,gtkhd->gthqd", p.astype(operand), vt[:, tile],
                                                  preferred_element_type=acc)
            return (m_new, l, o), None

        shape = (B * d, n_t, H, T)
        init = (jnp.full(shape, -jnp.inf, acc), jnp.zeros(shape, acc), jnp.zeros((*shape, Dv), acc))
        (m, l, o), _ = jax.lax.scan(body, init, jnp.arange(n_vis))
        out = (o / l[..., None]).transpose(0, 1, 3, 2, 4)      # [B·d, n_t, T, H, Dv]
    out = out.reshape(B * d, n_t * T, H, Dv)[:, :n_g]
    out = out.reshape(B, d, n_g, H, Dv).transpose(0, 2, 1, 3, 4).reshape(B, L, H, Dv)
    return out.astype(q.dtype)


def tiled_na1d(q: Any, k: Any, v: Any, kernel_size: int, *, dilation: int = 1, tile: int = 64,
               kv_tile: int | None = None, fused: bool = False,
               scale: float | None = None) -> jnp.ndarray:
    """1-D neighborhood attention by query tiles: unfused batched GEMM or fused online softmax.

    Parameters
    ----------
    q, k : arrays ``[B, L, H, D]``; v : array ``[B, L, H, Dv]``
    kernel_size : int
        Window ``k`` (NATTEN semantics: shifted, never shrunk, at the borders); non-causal, stride 1.
    dilation : int
        Dilation ``d``; ``L`` must be a multiple of ``d`` and ``k · d ≤ L``.
    tile : int
        Query tile ``T`` (tokens of one dilation group).
    kv_tile : int, optional
        Key tile ``T_k`` of the fused form (default ``tile``).
    fused : bool
        ``False``: one ``T × (T + k − 1)`` score tile per query tile (unfused GEMM → mask → softmax
        → GEMM). ``True``: online softmax over the key tiles that meet the tile's windows.
    scale : float, optional
        Logit scale, default ``D ** -0.5``.

    Returns
    -------
    array ``[B, L, H, Dv]`` equal to ``na1d(q, k, v, kernel_size, dilation=dilation)``.

    >>> import jax
    >>> from ntkbook.attention import na1d
    >>> x = jax.random.normal(jax.random.key(0), (1, 96, 2, 8))
    >>> a = tiled_na1d(x, x, x, 7, dilation=2, tile=16, fused=True)
    >>> bool(jax.numpy.allclose(a, na1d(x, x, x, 7, dilation=2), atol=1e-5))
    True
    """
    op = "tiled_na1d"
    q, k, v = check_qkv(q, k, v, op, n_spatial=1, same_length=True)
    L, kk, d, T = _check_sizes(q.shape[1], kernel_size, dilation, tile, op)
    Tk = T if kv_tile is None else check_positive_int(kv_tile, f"{op}: kv_tile")
    if not isinstance(fused, (bool, np.bool_)):
        raise ValueError(f"{op}: fused must be a bool, got {fused!r}")
    acc = jnp.dtype(compute_dtype(q.dtype, k.dtype, v.dtype))
    operand = jnp.dtype(jnp.result_type(q.dtype, k.dtype, v.dtype))
    return _tiled(q, k, v, k=kk, d=d, T=T, Tk=Tk, fused=bool(fused),
                  scale=resolve_scale(scale, q.shape[-1]), acc=acc, operand=operand)
