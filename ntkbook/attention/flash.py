"""Flash attention as Pallas kernels: online softmax over key/value tiles, forward and backward.

This is the ``implementation="pallas"`` path of :func:`~ntkbook.attention.dot_product_attention`
(and of masked/neighborhood attention, which reuses it with a boolean mask). It can also be called
directly to choose tile sizes::

    out = flash_attention(q, k, v, is_causal=True, block_q=64, block_k=64)

Algorithm (per batch × head, per query tile of ``block_q`` rows):

* forward — walk the key/value tiles of ``block_k`` columns, keeping a running row maximum ``m``,
  a running normaliser ``l`` and an unnormalised output ``acc``. A new tile with logits ``s``
  rescales the old state by ``exp(m_old − m_new)``. The kernel writes ``out = acc / l`` and the
  row log-sum-exp ``lse = m + log l``. Under ``is_causal`` the walk stops at the last tile that
  holds a key ``j ≤ i``.
* backward — two Pallas kernels that recompute the probabilities from the saved ``lse``
  (``p = exp(s − lse)``), with ``δ = rowsum(dO ∘ O)`` computed outside:
  one kernel per key tile accumulates ``dV = Σ pᵀ dO`` and ``dK = scale · Σ dSᵀ Q`` over the query
  tiles, with ``dS = p ∘ (dO Vᵀ − δ)``; one kernel per query tile accumulates ``dQ = scale · Σ dS K``.
  Nothing of size ``Lq × Lk`` is ever stored.

With a mask the kernels are block sparse: for every query tile a list of the key tiles that
hold any visible entry (and for every key tile the list of query tiles) is built in jnp, and the
loops run over these lists only, so fully masked tiles are never loaded.

Ragged lengths are padded up to whole tiles; padded keys are masked inside the kernels (by
position, so partial tiles are exact) and padded query rows are sliced off. Rows whose keys are all
masked out give a zero output and zero gradients (``lse`` is stored as ``+inf`` there so that every
recomputed probability is exactly 0).

On a GPU the kernels are lowered by Triton (tile sizes are powers of two ≥ 16, the head dim is
zero-padded to a power of two and the per-program key block to a power-of-two length); on any other
backend they run with ``interpret=True``, which is how the tests exercise them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl

from .._pallas import triton_params
from ._common import compute_dtype, pallas_interpret

__all__ = ["flash_attention"]

_NEG_INF = -float("inf")


@dataclasses.dataclass(frozen=True)
class _Config:
    scale: float
    causal: bool
    block_q: int
    block_k: int
    q_len: int          # true (unpadded) lengths
    kv_len: int
    n_q_blocks: int     # number of tiles holding real rows
    n_k_blocks: int
    acc_dtype: Any
    interpret: bool
    mask_b: bool        # mask has a real (non-broadcast) batch axis
    mask_h: bool        # mask has a real (non-broadcast) head axis
    mask_kind: str = "none"           # "none" | "dense" (int8 mask) | "window" (per-axis bounds)
    dilation: tuple[int, ...] = ()    # window mode: per-axis dilation (the number of axes)


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x - 1).bit_length())


def _padded_len(length: int, block: int, gpu: bool) -> int:
    """Rows of the whole-sequence operand: whole tiles; a power of two for Triton blocks."""
    n = _round_up(length, block)
    return _next_pow2(n) if gpu else n


def _to_bhld(x: jnp.ndarray, length: int, dim: int) -> jnp.ndarray:
    """Heads-last ``[B, L, H, D]`` → the kernels' ``[B, H, length, dim]``, zero-padded at the end of
    both axes (zero rows and feature columns contribute nothing to any of the kernels here)."""
    x = jnp.transpose(x, (0, 2, 1, 3))
    return jnp.pad(x, ((0, 0), (0, 0), (0, length - x.shape[2]), (0, dim - x.shape[3])))


def _default_block(length: int, gpu: bool) -> int:
    cap = 128 if gpu else 64
    return int(max(16 if gpu else 8, min(cap, _next_pow2(length))))


def _compiler_params(interpret: bool) -> Any:
    return triton_params(interpret)


def _dot_nt(a: jnp.ndarray, b: jnp.ndarray, acc: Any) -> jnp.ndarray:
    """a @ b.T with accumulation in ``acc``."""
    return lax.dot_general(a, b, (((1,), (1,)), ((), ())), preferred_element_type=acc)


def _dot_tn(a: jnp.ndarray, b: jnp.ndarray, acc: Any) -> jnp.ndarray:
    """a.T @ b with accumulation in ``acc``."""
    return lax.dot_general(a, b, (((0,), (0,)), ((), ())), preferred_element_type=acc)


def _dot_nn(a: jnp.ndarray, b: jnp.ndarray, acc: Any) -> jnp.ndarray:
    return lax.dot_general(a, b, (((1,), (0,)), ((), ())), preferred_element_type=acc)


def _valid(cfg: _Config, q_pos: jnp.ndarray, k_pos: jnp.ndarray, mask_tile: Any) -> jnp.ndarray:
    ok = (k_pos < cfg.kv_len) & (q_pos < cfg.q_len)
    if cfg.causal:
        ok = ok & (k_pos <= q_pos)
    if mask_tile is not None:
        ok = ok & mask_tile
    return ok


def _n_mask_refs(cfg: _Config) -> int:
    return {"none": 0, "dense": 1, "window": 3 * len(cfg.dilation)}[cfg.mask_kind]


def _split_refs(refs: Any, cfg: _Config) -> tuple[Any, Any, Any, Any, Any, Any]:
    """``q, k, v, mask refs (or None), tile-list ref (or None), the remaining refs``."""
    q_ref, k_ref, v_ref = refs[:3]
    if cfg.mask_kind == "none":
        return q_ref, k_ref, v_ref, None, None, refs[3:]
    n = _n_mask_refs(cfg)
    return q_ref, k_ref, v_ref, refs[3:3 + n], refs[3 + n], refs[4 + n:]


def _mask_tile(cfg: _Config, mrefs: Any, qs: Any, ks: Any) -> Any:
    """The visible entries ``[bq, bk]`` of the tile (queries ``qs``, keys ``ks``), or None.

    ``"dense"``: a slice of the int8 mask. ``"window"``: computed from per-query window bounds
    ``lo ≤ key < hi`` with ``(key − lo) mod d = 0`` on every axis, from per-key coordinates — no
    ``Lq × Lk`` array exists anywhere.
    """
    if mrefs is None:
        return None
    if cfg.mask_kind == "dense":
        return mrefs[0][qs, ks] != 0
    n = len(cfg.dilation)
    ok = None
    for a, d in enumerate(cfg.dilation):
        lo = mrefs[a][qs][:, None]
        hi = mrefs[n + a][qs][:, None]
        kc = mrefs[2 * n + a][ks][None, :]
        t = (kc >= lo) & (kc < hi)
        if d > 1:
            t = t & ((kc - lo) % d == 0)
        ok = t if ok is None else ok & t
    return ok


# ----------------------------------------------------------------------------------------- forward

def _tile_loop(lst_ref: Any, lo: Any, hi: Any, body: Any, init: Any) -> Any:
    """Run ``body(tile, carry)`` over tiles ``lo..hi-1`` or, with a tile list, over its entries.

    A tile list holds the indices of the tiles that contain any visible entry, padded with −1:
    this is where a block-sparse mask saves work.
    """
    if lst_ref is None:
        return lax.fori_loop(lo, hi, body, init)
    count = jnp.sum((lst_ref[...] >= 0).astype(jnp.int32))
    return lax.fori_loop(0, count, lambda t, c: body(lst_ref[t], c), init)


def _fwd_kernel(*refs: Any, cfg: _Config) -> None:
    q_ref, k_ref, v_ref, m_refs, lst_ref, (o_ref, lse_ref) = _split_refs(refs, cfg)
    bq, bk, acc_t = cfg.block_q, cfg.block_k, cfg.acc_dtype
    qi = pl.program_id(2)
    q = q_ref[...]
    dv = v_ref.shape[-1]
    q_pos = qi * bq + lax.broadcasted_iota(jnp.int32, (bq, bk), 0)

    def body(j: Any, carry: Any) -> Any:
        m_old, l_old, acc = carry
        start = pl.multiple_of(j * bk, bk)
        kb = k_ref[pl.ds(start, bk), :]
        vb = v_ref[pl.ds(start, bk), :]
        s = _dot_nt(q, kb, acc_t) * cfg.scale
        k_pos = start + lax.broadcasted_iota(jnp.int32, (bq, bk), 1)
        tile = _mask_tile(cfg, m_refs, slice(None), pl.ds(start, bk))
        s = jnp.where(_valid(cfg, q_pos, k_pos, tile), s, _NEG_INF)
        m_new = jnp.maximum(m_old, jnp.max(s, axis=1))
        shift = jnp.where(m_new == _NEG_INF, 0.0, m_new).astype(acc_t)
        p = jnp.exp(s - shift[:, None])
        alpha = jnp.exp(m_old - shift)
        l_new = alpha * l_old + jnp.sum(p, axis=1)
        acc = acc * alpha[:, None] + _dot_nn(p.astype(vb.dtype), vb, acc_t)
        return m_new, l_new, acc

    if cfg.causal:  # tiles strictly right of the diagonal hold no visible key
        n_blocks = jnp.minimum(cfg.n_k_blocks, ((qi + 1) * bq + bk - 1) // bk)
    else:
        n_blocks = cfg.n_k_blocks
    init = (jnp.full((bq,), _NEG_INF, acc_t), jnp.zeros((bq,), acc_t), jnp.zeros((bq, dv), acc_t))
    m_fin, l_fin, acc = _tile_loop(lst_ref, 0, n_blocks, body, init)
    nonempty = l_fin > 0
    safe_l = jnp.where(nonempty, l_fin, 1.0)
    o_ref[...] = (acc / safe_l[:, None]).astype(o_ref.dtype)
    lse_ref[...] = jnp.where(nonempty, m_fin + jnp.log(safe_l), jnp.inf).astype(lse_ref.dtype)


def _mask_index(cfg: _Config, b: Any, h: Any) -> tuple[Any, Any]:
    return (b if cfg.mask_b else 0), (h if cfg.mask_h else 0)


def _mask_specs(cfg: _Config, mask: Any, side: str) -> tuple[list[Any], list[Any]]:
    """BlockSpecs and operands of the mask inputs of a call whose grid runs over query tiles
    (``side="q"``: forward and dQ) or over key tiles (``side="k"``: dK/dV)."""
    if mask is None:
        return [], []
    bq, bk = cfg.block_q, cfg.block_k
    if cfg.mask_kind == "dense":
        mask4, kv_list, q_list = mask
        Lqp, Lkp = mask4.shape[-2:]
        if side == "q":
            return ([pl.BlockSpec((None, None, bq, Lkp), lambda b, h, i: (*_mask_index(cfg, b, h), i, 0)),
                     pl.BlockSpec((None, None, None, kv_list.shape[-1]),
                                  lambda b, h, i: (*_mask_index(cfg, b, h), i, 0))],
                    [mask4, kv_list])
        return ([pl.BlockSpec((None, None, Lqp, bk), lambda b, h, j: (*_mask_index(cfg, b, h), 0, j)),
                 pl.BlockSpec((None, None, None, q_list.shape[-1]),
                              lambda b, h, j: (*_mask_index(cfg, b, h), j, 0))],
                [mask4, q_list])
    lo, hi, kc, kv_list, q_list = mask          # window bounds: n arrays [Lqp] each; kc: n × [Lkp]
    Lqp, Lkp = lo[0].shape[0], kc[0].shape[0]
    if side == "q":
        qspec = pl.BlockSpec((bq,), lambda b, h, i: (i,))
        kspec = pl.BlockSpec((Lkp,), lambda b, h, i: (0,))
        lspec = pl.BlockSpec((None, kv_list.shape[-1]), lambda b, h, i: (i, 0))
        lst = kv_list
    else:
        qspec = pl.BlockSpec((Lqp,), lambda b, h, j: (0,))
        kspec = pl.BlockSpec((bk,), lambda b, h, j: (j,))
        lspec = pl.BlockSpec((None, q_list.shape[-1]), lambda b, h, j: (j, 0))
        lst = q_list
    n = len(lo)
    return [qspec] * (2 * n) + [kspec] * n + [lspec], [*lo, *hi, *kc, lst]


def _fwd_call(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, mask: Any,
              cfg: _Config) -> tuple[jnp.ndarray, jnp.ndarray]:
    B, H, Lqp, D = q.shape
    Lkp, Dv = k.shape[2], v.shape[3]
    bq = cfg.block_q
    grid = (B, H, Lqp // bq)
    mspecs, margs = _mask_specs(cfg, mask, "q")
    in_specs = [
        pl.BlockSpec((None, None, bq, D), lambda b, h, i: (b, h, i, 0)),
        pl.BlockSpec((None, None, Lkp, D), lambda b, h, i: (b, h, 0, 0)),
        pl.BlockSpec((None, None, Lkp, Dv), lambda b, h, i: (b, h, 0, 0)),
        *mspecs,
    ]
    out_specs = [
        pl.BlockSpec((None, None, bq, Dv), lambda b, h, i: (b, h, i, 0)),
        pl.BlockSpec((None, None, bq), lambda b, h, i: (b, h, i)),
    ]
    out_shape = [jax.ShapeDtypeStruct((B, H, Lqp, Dv), q.dtype),
                 jax.ShapeDtypeStruct((B, H, Lqp), cfg.acc_dtype)]
    out, lse = pl.pallas_call(functools.partial(_fwd_kernel, cfg=cfg), out_shape=out_shape, grid=grid,
                              in_specs=in_specs, out_specs=out_specs, interpret=cfg.interpret,
                              compiler_params=_compiler_params(cfg.interpret),
                              name="ntkbook_flash_fwd")(q, k, v, *margs)
    return out, lse


# ---------------------------------------------------------------------------------------- backward

def _bwd_dkdv_kernel(*refs: Any, cfg: _Config) -> None:
    q_ref, k_ref, v_ref, m_refs, lst_ref, rest = _split_refs(refs, cfg)
    do_ref, lse_ref, delta_ref, dk_ref, dv_ref = rest
    bq, bk, acc_t = cfg.block_q, cfg.block_k, cfg.acc_dtype
    kj = pl.program_id(2)
    kb = k_ref[...]
    vb = v_ref[...]
    k_pos = kj * bk + lax.broadcasted_iota(jnp.int32, (bq, bk), 1)

    def body(i: Any, carry: Any) -> Any:
        dk, dv = carry
        start = pl.multiple_of(i * bq, bq)
        qb = q_ref[pl.ds(start, bq), :]
        dob = do_ref[pl.ds(start, bq), :]
        lse = lse_ref[pl.ds(start, bq)]
        delta = delta_ref[pl.ds(start, bq)]
        q_pos = start + lax.broadcasted_iota(jnp.int32, (bq, bk), 0)
        tile = _mask_tile(cfg, m_refs, pl.ds(start, bq), slice(None))
        s = _dot_nt(qb, kb, acc_t) * cfg.scale
        p = jnp.where(_valid(cfg, q_pos, k_pos, tile), jnp.exp(s - lse[:, None]), 0.0)
        dv = dv + _dot_tn(p.astype(dob.dtype), dob, acc_t)
        dp = _dot_nt(dob, vb, acc_t)
        ds = p * (dp - delta[:, None])
        dk = dk + _dot_tn(ds.astype(qb.dtype), qb, acc_t)
        return dk, dv

    lo = (kj * bk) // bq if cfg.causal else 0  # earlier query tiles see none of these keys
    init = (jnp.zeros(kb.shape, acc_t), jnp.zeros(vb.shape, acc_t))
    dk, dv = _tile_loop(lst_ref, lo, cfg.n_q_blocks, body, init)
    dk_ref[...] = (dk * cfg.scale).astype(dk_ref.dtype)
    dv_ref[...] = dv.astype(dv_ref.dtype)


def _bwd_dq_kernel(*refs: Any, cfg: _Config) -> None:
    q_ref, k_ref, v_ref, m_refs, lst_ref, (do_ref, lse_ref, delta_ref, dq_ref) = _split_refs(refs, cfg)
    bq, bk, acc_t = cfg.block_q, cfg.block_k, cfg.acc_dtype
    qi = pl.program_id(2)
    qb = q_ref[...]
    dob = do_ref[...]
    lse = lse_ref[...]
    delta = delta_ref[...]
    q_pos = qi * bq + lax.broadcasted_iota(jnp.int32, (bq, bk), 0)

    def body(j: Any, dq: Any) -> Any:
        start = pl.multiple_of(j * bk, bk)
        kb = k_ref[pl.ds(start, bk), :]
        vb = v_ref[pl.ds(start, bk), :]
        k_pos = start + lax.broadcasted_iota(jnp.int32, (bq, bk), 1)
        tile = _mask_tile(cfg, m_refs, slice(None), pl.ds(start, bk))
        s = _dot_nt(qb, kb, acc_t) * cfg.scale
        p = jnp.where(_valid(cfg, q_pos, k_pos, tile), jnp.exp(s - lse[:, None]), 0.0)
        dp = _dot_nt(dob, vb, acc_t)
        ds = p * (dp - delta[:, None])
        return dq + _dot_nn(ds.astype(kb.dtype), kb, acc_t)

    if cfg.causal:
        n_blocks = jnp.minimum(cfg.n_k_blocks, ((qi + 1) * bq + bk - 1) // bk)
    else:
        n_blocks = cfg.n_k_blocks
    dq = _tile_loop(lst_ref, 0, n_blocks, body, jnp.zeros(qb.shape, acc_t))
    dq_ref[...] = (dq * cfg.scale).astype(dq_ref.dtype)


def _bwd_call(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, mask: Any,
              o: jnp.ndarray, lse: jnp.ndarray, do: jnp.ndarray,
              cfg: _Config) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    B, H, Lqp, D = q.shape
    Lkp, Dv = k.shape[2], v.shape[3]
    bq, bk = cfg.block_q, cfg.block_k
    delta = jnp.sum(o.astype(cfg.acc_dtype) * do.astype(cfg.acc_dtype), axis=-1)
    params = dict(interpret=cfg.interpret, compiler_params=_compiler_params(cfg.interpret))

    # dK, dV: one program per key tile, looping over the query tiles.
    full_q = lambda d: pl.BlockSpec((None, None, Lqp, d), lambda b, h, j: (b, h, 0, 0))  # noqa: E731
    mspecs, margs = _mask_specs(cfg, mask, "k")
    specs = [full_q(D),
             pl.BlockSpec((None, None, bk, D), lambda b, h, j: (b, h, j, 0)),
             pl.BlockSpec((None, None, bk, Dv), lambda b, h, j: (b, h, j, 0)),
             *mspecs,
             full_q(Dv),
             pl.BlockSpec((None, None, Lqp), lambda b, h, j: (b, h, 0)),
             pl.BlockSpec((None, None, Lqp), lambda b, h, j: (b, h, 0))]
    dk, dv = pl.pallas_call(
        functools.partial(_bwd_dkdv_kernel, cfg=cfg),
        out_shape=[jax.ShapeDtypeStruct(k.shape, k.dtype), jax.ShapeDtypeStruct(v.shape, v.dtype)],
        grid=(B, H, Lkp // bk), in_specs=specs,
        out_specs=[pl.BlockSpec((None, None, bk, D), lambda b, h, j: (b, h, j, 0)),
                   pl.BlockSpec((None, None, bk, Dv), lambda b, h, j: (b, h, j, 0))],
        name="ntkbook_flash_bwd_dkdv", **params)(q, k, v, *margs, do, lse, delta)

    # dQ: one program per query tile, looping over the key tiles.
    mspecs, margs = _mask_specs(cfg, mask, "q")
    specs = [pl.BlockSpec((None, None, bq, D), lambda b, h, i: (b, h, i, 0)),
             pl.BlockSpec((None, None, Lkp, D), lambda b, h, i: (b, h, 0, 0)),
             pl.BlockSpec((None, None, Lkp, Dv), lambda b, h, i: (b, h, 0, 0)),
             *mspecs,
             pl.BlockSpec((None, None, bq, Dv), lambda b, h, i: (b, h, i, 0)),
             pl.BlockSpec((None, None, bq), lambda b, h, i: (b, h, i)),
             pl.BlockSpec((None, None, bq), lambda b, h, i: (b, h, i))]
    dq = pl.pallas_call(
        functools.partial(_bwd_dq_kernel, cfg=cfg),
        out_shape=jax.ShapeDtypeStruct(q.shape, q.dtype),
        grid=(B, H, Lqp // bq), in_specs=specs,
        out_specs=pl.BlockSpec((None, None, bq, D), lambda b, h, i: (b, h, i, 0)),
        name="ntkbook_flash_bwd_dq", **params)(q, k, v, *margs, do, lse, delta)
    return dq, dk, dv


def _compact(occ: jnp.ndarray) -> jnp.ndarray:
    """Tile lists from an occupancy ``[..., n_rows, n_cols]``: per row the visited column tiles
    first (in order), padded with −1."""
    order = jnp.argsort(~occ, axis=-1, stable=True).astype(jnp.int32)
    return jnp.where(jnp.take_along_axis(occ, order, axis=-1), order, -1)


def _tile_lists(vis: jnp.ndarray, bq: int, bk: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Visited-tile lists of a padded mask ``[Bm, Hm, Lqp, Lkp]``: for every query tile the key
    tiles holding a visible entry, and for every key tile the query tiles, each padded with −1."""
    Bm, Hm, Lqp, Lkp = vis.shape
    occ = vis.reshape(Bm, Hm, Lqp // bq, bq, Lkp // bk, bk).any(axis=(3, 5))   # [Bm, Hm, nQ, nK]
    return _compact(occ), _compact(jnp.swapaxes(occ, -1, -2))


def _window_tile_lists(lo: jnp.ndarray, hi: jnp.ndarray, kc: jnp.ndarray, bq: int,
                       bk: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Tile lists of a window mask from bounding boxes, in ``O(N · n_axes + tiles²)``.

    ``lo, hi: [n, Lqp]`` (padded queries have empty windows, ``lo = hi = 0``), ``kc: [n, Lkp]``
    (padded keys are marked with ``−1``). A key tile is visited by a query tile when, on every
    axis, the range of its key coordinates meets the union of the tile's windows — a superset of
    the tiles holding a visible entry (exact without dilation when windows are intervals), which
    is all correctness needs: the kernels test every entry.
    """
    n, Lqp = lo.shape
    Lkp = kc.shape[1]
    big = jnp.iinfo(jnp.int32).max // 2
    q_real = hi > lo
    tlo = jnp.where(q_real, lo, big).reshape(n, Lqp // bq, bq).min(-1)
    thi = jnp.where(q_real, hi, -big).reshape(n, Lqp // bq, bq).max(-1)
    k_real = kc >= 0
    kmin = jnp.where(k_real, kc, big).reshape(n, Lkp // bk, bk).min(-1)
    kmax = jnp.where(k_real, kc, -big).reshape(n, Lkp // bk, bk).max(-1)
    occ = jnp.all((tlo[:, :, None] <= kmax[:, None, :]) & (kmin[:, None, :] < thi[:, :, None]), axis=0)
    return _compact(occ), _compact(occ.T)


# ------------------------------------------------------------------------------------ custom_vjp

@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _flash_bhld(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, mask: jnp.ndarray | None,
                cfg: _Config) -> jnp.ndarray:
    return _fwd_call(q, k, v, mask, cfg)[0]


def _flash_bhld_fwd(q, k, v, mask, cfg):  # type: ignore[no-untyped-def]
    out, lse = _fwd_call(q, k, v, mask, cfg)
    return out, (q, k, v, mask, out, lse)


def _flash_bhld_bwd(cfg, res, do):  # type: ignore[no-untyped-def]
    q, k, v, mask, out, lse = res
    dq, dk, dv = _bwd_call(q, k, v, mask, out, lse, do, cfg)
    return dq, dk, dv, None


_flash_bhld.defvjp(_flash_bhld_fwd, _flash_bhld_bwd)


def _check_block(block: int | None, name: str, gpu: bool, op: str = "flash_attention") -> None:
    """A tile size: a positive int, and on a GPU (Triton) a power of two ≥ 16; None = default."""
    if block is None:
        return
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block <= 0:
        raise ValueError(f"{op}: {name} must be a positive int, got {block!r}")
    if gpu and (block < 16 or block & (block - 1)):
        raise ValueError(f"{op}: on a GPU {name} must be a power of two >= 16, got {block}")


def flash_attention(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, mask: jnp.ndarray | None = None,
                    *, is_causal: bool = False, scale: float | None = None,
                    block_q: int | None = None, block_k: int | None = None,
                    interpret: bool | None = None) -> jnp.ndarray:
    """Softmax attention through the Pallas flash kernels (differentiable, ``custom_vjp``).

    Parameters
    ----------
    q : array ``[B, Lq, H, D]``
    k : array ``[B, Lk, H, D]``
    v : array ``[B, Lk, H, Dv]``
    mask : bool array broadcastable to ``[B, H, Lq, Lk]`` or None
        ``True`` where a query may attend to a key.
    is_causal : bool
        Query ``i`` sees keys ``j ≤ i`` (top-left aligned when ``Lq ≠ Lk``).
    scale : float or None
        Logit scale, default ``D ** -0.5``.
    block_q, block_k : int or None
        Query / key tile sizes (default: up to 64 in interpret mode, 128 on a GPU). Any positive
        size works in interpret mode; Triton needs powers of two ≥ 16.
    interpret : bool or None
        Force interpret mode (default: interpret everywhere but on a GPU).

    Returns
    -------
    array ``[B, Lq, H, Dv]`` in the dtype of ``q``. Fully masked rows are 0.

    Inputs are assumed to be validated (use :func:`~ntkbook.attention.dot_product_attention` for
    checked inputs and the other implementations).

    >>> import jax.numpy as jnp
    >>> q = jnp.ones((1, 5, 2, 4)); out = flash_attention(q, q, q, block_q=2, block_k=2)
    >>> out.shape
    (1, 5, 2, 4)
    """
    interp = pallas_interpret() if interpret is None else bool(interpret)
    return _flash_impl(q, k, v, mask, is_causal=is_causal, scale=scale, block_q=block_q,
                       block_k=block_k, interpret=interp, gpu_layout=not interp)


def window_flash_attention(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, window: Any,
                           dilation: tuple[int, ...], *, scale: float | None = None,
                           block_q: int | None = None, block_k: int | None = None,
                           interpret: bool | None = None) -> jnp.ndarray:
    """Flash attention whose mask is given by per-axis windows (fused neighborhood attention).

    ``q: [B, Lq, H, D]``, ``k: [B, Lk, H, D]``, ``v: [B, Lk, H, Dv]``; ``window = (lo, hi, kc)``
    with int arrays ``lo, hi: [n, Lq]`` and ``kc: [n, Lk]`` (the coordinates of every key on each
    of the ``n`` axes), ``dilation``: n ints. Query ``i`` attends to key ``j`` iff on every axis
    ``lo[a, i] ≤ kc[a, j] < hi[a, i]`` and ``(kc[a, j] − lo[a, i]) mod dilation[a] = 0``. The
    kernels evaluate this test tile by tile and visit only the key tiles whose coordinate ranges
    meet a tile's windows, so memory is ``O(L · n)`` beyond the operands (no ``Lq × Lk`` mask).

    >>> import jax.numpy as jnp
    >>> q = jnp.ones((1, 6, 1, 4)); pos = jnp.arange(6)[None]
    >>> window_flash_attention(q, q, q, (pos - 1, pos + 2, pos), (1,), block_q=2, block_k=2).shape
    (1, 6, 1, 4)
    """
    interp = pallas_interpret() if interpret is None else bool(interpret)
    return _flash_impl(q, k, v, None, is_causal=False, scale=scale, block_q=block_q, block_k=block_k,
                       interpret=interp, gpu_layout=not interp, window=tuple(window),
                       dilation=tuple(int(d) for d in dilation))


def default_block(length: int, interpret: bool | None = None) -> int:
    """The tile size :func:`flash_attention` uses for a sequence of ``length`` tokens.

    >>> default_block(1000, interpret=True)
    64
    """
    interp = pallas_interpret() if interpret is None else bool(interpret)
    return _default_block(int(length), gpu=not interp)


@functools.partial(jax.jit, static_argnames=("is_causal", "scale", "block_q", "block_k", "interpret",
                                              "gpu_layout", "dilation"))
def _flash_impl(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, mask: jnp.ndarray | None, *,
                is_causal: bool, scale: float | None, block_q: int | None, block_k: int | None,
                interpret: bool, gpu_layout: bool, window: Any = None,
                dilation: tuple[int, ...] = ()) -> jnp.ndarray:
    """``flash_attention`` with the Triton layout (power-of-two padding) switchable for testing.

    ``window = (lo, hi, kc)`` (int32 ``[n, Lq]``, ``[n, Lq]``, ``[n, Lk]``) with ``dilation`` (n ints)
    replaces ``mask``: query ``i`` sees key ``j`` iff on every axis ``a``
    ``lo[a, i] ≤ kc[a, j] < hi[a, i]`` and ``(kc[a, j] − lo[a, i]) mod dilation[a] = 0``.
    """
    interp, gpu = interpret, gpu_layout
    B, Lq, H, D = q.shape
    Lk, Dv = k.shape[1], v.shape[3]
    _check_block(block_q, "block_q", gpu)
    _check_block(block_k, "block_k", gpu)
    bq = int(block_q) if block_q is not None else _default_block(Lq, gpu)
    bk = int(block_k) if block_k is not None else _default_block(Lk, gpu)
    scale_f = float(D) ** -0.5 if scale is None else float(scale)
    acc_t = compute_dtype(q.dtype, k.dtype, v.dtype)
    Lqp, Lkp = _padded_len(Lq, bq, gpu), _padded_len(Lk, bk, gpu)
    Dp = max(16, _next_pow2(D)) if gpu else D
    Dvp = max(16, _next_pow2(Dv)) if gpu else Dv

    mask4 = None
    mask_b = mask_h = False
    if mask is not None:
        m = jnp.asarray(mask)
        m = m.reshape((1,) * (4 - m.ndim) + m.shape)
        m = jnp.broadcast_to(m, (m.shape[0], m.shape[1], Lq, Lk))
        mask_b, mask_h = m.shape[0] != 1, m.shape[1] != 1
        vis = jnp.pad(m, ((0, 0), (0, 0), (0, Lqp - Lq), (0, Lkp - Lk)))
        if is_causal:
            vis = vis & jnp.tril(jnp.ones((Lqp, Lkp), bool))
        mask4 = (vis.astype(jnp.int8), *_tile_lists(vis, bq, bk))
    kind = "none" if mask4 is None else "dense"
    if window is not None:
        if mask4 is not None:
            raise ValueError("flash attention: pass either mask or window, not both")
        lo, hi, kc = (jnp.asarray(w, jnp.int32) for w in window)
        lo = jnp.pad(lo, ((0, 0), (0, Lqp - Lq)))                   # padded queries: empty windows
        hi = jnp.pad(hi, ((0, 0), (0, Lqp - Lq)))
        kc = jnp.pad(kc, ((0, 0), (0, Lkp - Lk)), constant_values=-1)
        mask4 = (list(lo), list(hi), list(kc), *_window_tile_lists(lo, hi, kc, bq, bk))
        kind = "window"
    cfg = _Config(scale=scale_f, causal=bool(is_causal), block_q=bq, block_k=bk, q_len=Lq,
                  kv_len=Lk, n_q_blocks=-(-Lq // bq), n_k_blocks=-(-Lk // bk), acc_dtype=acc_t,
                  interpret=interp, mask_b=mask_b, mask_h=mask_h, mask_kind=kind,
                  dilation=tuple(int(d) for d in dilation))
    out = _flash_bhld(_to_bhld(q, Lqp, Dp), _to_bhld(k, Lkp, Dp), _to_bhld(v, Lkp, Dvp), mask4, cfg)
    return jnp.transpose(out[:, :, :Lq, :Dv], (0, 2, 1, 3))
