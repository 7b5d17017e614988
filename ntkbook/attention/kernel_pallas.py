"""Fused kernel-times-matrix products as Pallas kernels (the ``"pallas"`` paths of SOFT and of
kernelized attention with relative positions).

Two attention variants of this package never form softmax weights, but still multiply an
``n × m`` kernel matrix by a thin matrix. Written in ``jnp`` that matrix is materialised; these
kernels compute it tile by tile in registers instead, so memory is linear in ``n + m``.

**Gaussian kernel product** (:func:`gaussian_kernel_matmul`, SOFT, P006)::

    out_i = Σ_j exp(−γ ‖x_i − y_j‖²) w_j

One program per (batch, head, tile of ``x`` rows) walks the tiles of ``y`` and ``w``. Its
gradient needs two more passes of the same shape. With ``K_ij = exp(−γ‖x_i − y_j‖²)`` and the
output cotangent ``g``::

    ∂w_j = Σ_i K_ij g_i                                   (the forward kernel on (y, x, g))
    ∂x_i = −2γ Σ_j K_ij (g_i·w_j) (x_i − y_j)             (the "pull" kernel on (x, y, g, w))
    ∂y_j = −2γ Σ_i K_ij (w_j·g_i) (y_j − x_i)             (the pull kernel on (y, x, w, g))

so two Pallas kernels give the forward pass and all three gradients. Zero-padded rows of ``w``
(or of ``g``) contribute nothing, so ragged lengths are padded to whole tiles without masks.

**Toeplitz-weighted linear attention** (:func:`toeplitz_linear_pallas`, RPE, P036)::

    y_i = Σ_j c_{i−j} (a_i·b_j) e_j

with features ``a = φ(q)``, ``b = φ(k)``, values ``e`` (the denominator is the column of ones
appended to the values). One program per query tile walks the key tiles; the weight tile
``c_{i−j}`` of query tile ``r`` and key tile ``s`` depends only on ``r − s``, so the ``2n − 1``
distinct ``T × T`` tiles are built once in ``jnp`` (``O(L · T)`` per head) and indexed by the
kernel. Nothing of size ``L × M × E`` — what the FFT path stores — or ``L × L`` is written. Under
``is_causal`` the walk stops at the diagonal tile. The backward pass reuses the kernel three times
(``Cᵀ`` is the Toeplitz matrix of the reversed ``c``)::

    ∂a = y(g, e, b; C)      ∂b = y(e, g, a; Cᵀ)      ∂e = y(b, a, g; Cᵀ)

and the weight gradient ``∂c_o = Σ_{i−j=o} (a_i·b_j)(g_i·e_j)`` — a correlation along the sequence —
is computed by FFT in XLA (Pallas has no FFT).

On a GPU the kernels are lowered by Triton (tiles are powers of two ≥ 16, feature sizes are
zero-padded to powers of two); elsewhere they run with ``interpret=True``, which is how the tests
exercise them. Their float32 products follow JAX's default matmul precision, which on recent
NVIDIA GPUs means TF32 inputs — as for the ``"xla"`` paths. The Gaussian kernel's squared
distances ``‖x‖² + ‖y‖² − 2 x·y`` lose accuracy to that rounding when points are close; set
``jax.config.update("jax_default_matmul_precision", "highest")`` where it matters.
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

from .._validate import check_positive_float
from ._common import check_qkv, compute_dtype, pallas_interpret
from .flash import (_check_block, _compiler_params, _default_block, _dot_nn, _dot_nt, _next_pow2,
                    _padded_len, _to_bhld)

__all__ = ["gaussian_kernel_matmul"]


# ----------------------------------------------------------------------- Gaussian kernel product

@dataclasses.dataclass(frozen=True)
class _GaussConfig:
    gamma: float
    block_n: int        # rows of x per program
    block_m: int        # rows of y per loop step
    n_m_blocks: int     # tiles of y holding real rows
    acc: Any
    interpret: bool


def _gauss_tile(x: jnp.ndarray, xx: jnp.ndarray, yb: jnp.ndarray, cfg: _GaussConfig) -> jnp.ndarray:
    """``exp(−γ ‖x_i − y_j‖²)`` of a ``[bn, bm]`` tile (squared distances clamped at 0)."""
    yy = jnp.sum(yb * yb, axis=1)
    sq = xx[:, None] + yy[None, :] - 2.0 * _dot_nt(x, yb, cfg.acc)
    return jnp.exp(-cfg.gamma * jnp.maximum(sq, 0.0))


def _gauss_mm_kernel(x_ref: Any, y_ref: Any, w_ref: Any, o_ref: Any, *, cfg: _GaussConfig) -> None:
    bm = cfg.block_m
    x = x_ref[...]
    xx = jnp.sum(x * x, axis=1)

    def body(j: Any, acc: Any) -> Any:
        start = pl.multiple_of(j * bm, bm)
        yb = y_ref[pl.ds(start, bm), :]
        wb = w_ref[pl.ds(start, bm), :]
        return acc + _dot_nn(_gauss_tile(x, xx, yb, cfg), wb, cfg.acc)

    acc = lax.fori_loop(0, cfg.n_m_blocks, body, jnp.zeros((x.shape[0], w_ref.shape[-1]), cfg.acc))
    o_ref[...] = acc.astype(o_ref.dtype)


def _gauss_pull_kernel(x_ref: Any, y_ref: Any, g_ref: Any, w_ref: Any, o_ref: Any, *,
                       cfg: _GaussConfig) -> None:
    """``o_i = −2γ Σ_j K_ij (g_i·w_j) (x_i − y_j)``."""
    bm = cfg.block_m
    x = x_ref[...]
    g = g_ref[...]
    xx = jnp.sum(x * x, axis=1)

    def body(j: Any, carry: Any) -> Any:
        acc, r = carry
        start = pl.multiple_of(j * bm, bm)
        yb = y_ref[pl.ds(start, bm), :]
        wb = w_ref[pl.ds(start, bm), :]
        p = _gauss_tile(x, xx, yb, cfg) * _dot_nt(g, wb, cfg.acc)
        return acc + _dot_nn(p, yb, cfg.acc), r + jnp.sum(p, axis=1)

    init = (jnp.zeros(x.shape, cfg.acc), jnp.zeros((x.shape[0],), cfg.acc))
    acc, r = lax.fori_loop(0, cfg.n_m_blocks, body, init)
    o_ref[...] = (-2.0 * cfg.gamma * (x * r[:, None] - acc)).astype(o_ref.dtype)


def _gauss_call(kernel: Any, rows: jnp.ndarray, cols: jnp.ndarray, row_extra: jnp.ndarray | None,
                col_extra: jnp.ndarray, out_dim: int, cfg: _GaussConfig, name: str) -> jnp.ndarray:
    """Run a Gaussian kernel over ``rows [B, H, n, D]`` (tiled) against all of ``cols [B, H, m, D]``
    with the per-column operand ``col_extra [B, H, m, E]`` (and a tiled ``row_extra``)."""
    B, H, n, D = rows.shape
    m = cols.shape[2]
    bn = cfg.block_n
    tile = lambda d: pl.BlockSpec((None, None, bn, d), lambda b, h, i: (b, h, i, 0))  # noqa: E731
    full = lambda d: pl.BlockSpec((None, None, m, d), lambda b, h, i: (b, h, 0, 0))   # noqa: E731
    specs = [tile(D), full(D)]
    args = [rows, cols]
    if row_extra is not None:
        specs.append(tile(row_extra.shape[-1]))
        args.append(row_extra)
    specs.append(full(col_extra.shape[-1]))
    args.append(col_extra)
    return pl.pallas_call(functools.partial(kernel, cfg=cfg),
                          out_shape=jax.ShapeDtypeStruct((B, H, n, out_dim), cfg.acc),
                          grid=(B, H, n // bn), in_specs=specs, out_specs=tile(out_dim),
                          interpret=cfg.interpret, compiler_params=_compiler_params(cfg.interpret),
                          name=name)(*args)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _gauss_mm(x: jnp.ndarray, y: jnp.ndarray, w: jnp.ndarray, cfg: _GaussConfig,
              cfg_t: _GaussConfig) -> jnp.ndarray:
    return _gauss_call(_gauss_mm_kernel, x, y, None, w, w.shape[-1], cfg, "ntkbook_gauss_mm")


def _gauss_mm_fwd(x, y, w, cfg, cfg_t):  # type: ignore[no-untyped-def]
    return _gauss_mm(x, y, w, cfg, cfg_t), (x, y, w)


def _gauss_mm_bwd(cfg, cfg_t, res, g):  # type: ignore[no-untyped-def]
    # cfg tiles the rows of x and walks y; cfg_t tiles the rows of y and walks x
    x, y, w = res
    g = g.astype(cfg.acc)
    dx = _gauss_call(_gauss_pull_kernel, x, y, g, w, x.shape[-1], cfg, "ntkbook_gauss_pull")
    dy = _gauss_call(_gauss_pull_kernel, y, x, w, g, y.shape[-1], cfg_t, "ntkbook_gauss_pull")
    dw = _gauss_call(_gauss_mm_kernel, y, x, None, g, w.shape[-1], cfg_t, "ntkbook_gauss_mm")
    return dx, dy, dw


_gauss_mm.defvjp(_gauss_mm_fwd, _gauss_mm_bwd)


@functools.partial(jax.jit, static_argnames=("gamma", "block_n", "block_m", "interpret", "gpu_layout"))
def _gauss_impl(x: jnp.ndarray, y: jnp.ndarray, w: jnp.ndarray, *, gamma: float, block_n: int | None,
                block_m: int | None, interpret: bool, gpu_layout: bool) -> jnp.ndarray:
    B, n, H, D = x.shape
    m, E = y.shape[1], w.shape[-1]
    gpu = gpu_layout
    acc = compute_dtype(x.dtype, y.dtype, w.dtype)
    bn = int(block_n) if block_n is not None else _default_block(n, gpu)
    bm = int(block_m) if block_m is not None else _default_block(m, gpu)
    # the backward pass tiles y by bm and walks x in steps of bn: both lengths are padded to
    # whole tiles of both sizes
    step = int(np.lcm(bn, bm))
    n_p, m_p = _padded_len(n, step, gpu), _padded_len(m, step, gpu)
    Dp = max(16, _next_pow2(D)) if gpu else D
    Ep = max(16, _next_pow2(E)) if gpu else E
    cfg = _GaussConfig(gamma=float(gamma), block_n=bn, block_m=bm, n_m_blocks=-(-m // bm), acc=acc,
                       interpret=interpret)
    cfg_t = _GaussConfig(gamma=float(gamma), block_n=bm, block_m=bn, n_m_blocks=-(-n // bn), acc=acc,
                         interpret=interpret)
    out = _gauss_mm(_to_bhld(x.astype(acc), n_p, Dp), _to_bhld(y.astype(acc), m_p, Dp),
                    _to_bhld(w.astype(acc), m_p, Ep), cfg, cfg_t)
    return jnp.transpose(out[:, :, :n, :E], (0, 2, 1, 3))


def gaussian_kernel_matmul(x: Any, y: Any, w: Any, *, gamma: float, block_n: int | None = None,
                           block_m: int | None = None, interpret: bool | None = None) -> jnp.ndarray:
    """``out_i = Σ_j exp(−γ ‖x_i − y_j‖²) w_j`` per batch and head, fused in a Pallas kernel.

    The ``n × m`` Gaussian kernel matrix is computed tile by tile and never stored; the gradient
    (a ``custom_vjp`` with respect to ``x``, ``y`` and ``w``) takes two more passes of the same
    kind. This is the ``implementation="pallas"`` path of
    :func:`~ntkbook.attention.softmax_free_attention`.

    Parameters
    ----------
    x : array ``[B, n, H, D]``
    y : array ``[B, m, H, D]``
    w : array ``[B, m, H, E]``
    gamma : float
        Inverse length scale (``> 0``); SOFT uses ``1 / (2√D)``.
    block_n, block_m : int, optional
        Tile sizes along ``x`` and ``y`` (default: up to 64 in interpret mode, 128 on a GPU; any
        positive size in interpret mode, powers of two ≥ 16 on a GPU).
    interpret : bool, optional
        Force interpret mode (default: interpret everywhere but on a GPU).

    Returns
    -------
    array ``[B, n, H, E]`` in the accumulation dtype (float32 for half-precision inputs).

    >>> import jax, jax.numpy as jnp
    >>> x = jax.random.normal(jax.random.key(0), (1, 5, 1, 3))
    >>> w = jnp.ones((1, 5, 1, 1))
    >>> out = gaussian_kernel_matmul(x, x, w, gamma=0.5)           # row sums of the kernel matrix
    >>> d2 = jnp.sum((x[0, :, None, 0] - x[0, None, :, 0]) ** 2, -1)
    >>> bool(jnp.allclose(out[0, :, 0, 0], jnp.exp(-0.5 * d2).sum(1), atol=1e-5))
    True
    """
    op = "gaussian_kernel_matmul"
    x, y, w = check_qkv(x, y, w, op, n_spatial=1)
    g = check_positive_float(gamma, f"{op}: gamma")
    interp = pallas_interpret() if interpret is None else bool(interpret)
    _check_block(block_n, "block_n", not interp, op)
    _check_block(block_m, "block_m", not interp, op)
    return _gauss_impl(x, y, w, gamma=g, block_n=block_n, block_m=block_m, interpret=interp,
                       gpu_layout=not interp)


def gauss_matmul_checked_inputs(x: jnp.ndarray, y: jnp.ndarray, w: jnp.ndarray, gamma: float) -> jnp.ndarray:
    """:func:`gaussian_kernel_matmul` with default tiles for inputs an op has already validated
    (SOFT calls it up to four times per forward pass; the checks would run each time)."""
    interp = pallas_interpret()
    return _gauss_impl(x, y, w, gamma=float(gamma), block_n=None, block_m=None, interpret=interp,
                       gpu_layout=not interp)


# ------------------------------------------------------------ Toeplitz-weighted linear attention

@dataclasses.dataclass(frozen=True)
class _ToepConfig:
    block: int          # query and key tile (equal: the weight tile depends on the tile offset only)
    n_blocks: int       # tiles of the padded sequence
    n_real: int         # tiles holding real rows
    tri: str            # "lower": c vanishes at negative offsets (causal); "upper": at positive ones
    acc: Any
    interpret: bool


def _toep_kernel(a_ref: Any, b_ref: Any, e_ref: Any, c_ref: Any, o_ref: Any, *, cfg: _ToepConfig) -> None:
    T = cfg.block
    qi = pl.program_id(2)
    a = a_ref[...]

    def body(kj: Any, acc: Any) -> Any:
        start = pl.multiple_of(kj * T, T)
        bb = b_ref[pl.ds(start, T), :]
        eb = e_ref[pl.ds(start, T), :]
        ct = c_ref[pl.ds(pl.multiple_of((qi - kj + cfg.n_blocks - 1) * T, T), T), :]
        s = _dot_nt(a, bb, cfg.acc) * ct
        return acc + _dot_nn(s, eb, cfg.acc)

    lo, hi = 0, cfg.n_real
    if cfg.tri == "lower":            # key tiles right of the diagonal carry zero weight
        hi = jnp.minimum(cfg.n_real, qi + 1)
    elif cfg.tri == "upper":
        lo = qi
    acc = lax.fori_loop(lo, hi, body, jnp.zeros((T, e_ref.shape[-1]), cfg.acc))
    o_ref[...] = acc.astype(o_ref.dtype)


def _weight_tiles(c: jnp.ndarray, L: int, T: int, n: int) -> jnp.ndarray:
    """``[H, 2n·T, T]``: tile ``d`` (rows ``d·T …``) holds ``c_{(r − s) + (d − n + 1)·T}``; the last
    of the ``2n`` tiles is zero (it only makes the row count a power of two for Triton)."""
    r = jnp.arange(T)
    d = jnp.arange(2 * n) - (n - 1)
    offs = (r[:, None] - r[None, :])[None] + d[:, None, None] * T        # [2n−1, T, T]
    ok = jnp.abs(offs) <= L - 1                                         # padded rows meet no weight
    tiles = jnp.where(ok[None], c[:, jnp.clip(offs + L - 1, 0, 2 * L - 2)], 0.0)
    return tiles.reshape(c.shape[0], 2 * n * T, T)


def _toep_call(a: jnp.ndarray, b: jnp.ndarray, e: jnp.ndarray, tiles: jnp.ndarray,
               cfg: _ToepConfig) -> jnp.ndarray:
    B, H, Lp, M = a.shape
    E = e.shape[-1]
    T = cfg.block
    tile = lambda d: pl.BlockSpec((None, None, T, d), lambda bi, h, i: (bi, h, i, 0))  # noqa: E731
    full = lambda d: pl.BlockSpec((None, None, Lp, d), lambda bi, h, i: (bi, h, 0, 0))  # noqa: E731
    cspec = pl.BlockSpec((None, tiles.shape[1], T), lambda bi, h, i: (h, 0, 0))
    return pl.pallas_call(functools.partial(_toep_kernel, cfg=cfg),
                          out_shape=jax.ShapeDtypeStruct((B, H, Lp, E), cfg.acc), grid=(B, H, Lp // T),
                          in_specs=[tile(M), full(M), full(E), cspec], out_specs=tile(E),
                          interpret=cfg.interpret, compiler_params=_compiler_params(cfg.interpret),
                          name="ntkbook_toeplitz_linear")(a, b, e, tiles)


def _flip_tri(cfg: _ToepConfig) -> _ToepConfig:
    return dataclasses.replace(cfg, tri={"lower": "upper", "upper": "lower", "none": "none"}[cfg.tri])


def _offset_correlation(u: jnp.ndarray, v: jnp.ndarray, L: int) -> jnp.ndarray:
    """``out[h, o + L − 1] = Σ_{b, i−j=o} u[b, h, i]·v[b, h, j]`` for ``u, v: [B, H, Lp, F]``
    (rows ≥ L are zero), by FFT of length ``2·Lp``."""
    Lp = u.shape[2]
    nfft = 2 * Lp
    fu = jnp.fft.rfft(u, n=nfft, axis=2)
    fv = jnp.fft.rfft(v, n=nfft, axis=2)
    corr = jnp.fft.irfft(jnp.sum(fu * jnp.conj(fv), axis=(0, 3)), n=nfft, axis=1)   # [H, nfft]
    # lag o ≥ 0 sits at index o, lag o < 0 at nfft + o
    return jnp.concatenate([corr[:, nfft - (L - 1):], corr[:, :L]], axis=1).astype(u.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _toep(a: jnp.ndarray, b: jnp.ndarray, e: jnp.ndarray, c: jnp.ndarray, L: int,
          cfg: _ToepConfig) -> jnp.ndarray:
    return _toep_call(a, b, e, _weight_tiles(c, L, cfg.block, cfg.n_blocks), cfg)


def _toep_fwd(a, b, e, c, L, cfg):  # type: ignore[no-untyped-def]
    return _toep(a, b, e, c, L, cfg), (a, b, e, c)


def _toep_bwd(L, cfg, res, g):  # type: ignore[no-untyped-def]
    a, b, e, c = res
    g = g.astype(cfg.acc)
    tiles = _weight_tiles(c, L, cfg.block, cfg.n_blocks)
    tiles_t = _weight_tiles(jnp.flip(c, axis=-1), L, cfg.block, cfg.n_blocks)   # Cᵀ
    cfg_t = _flip_tri(cfg)
    da = _toep_call(g, e, b, tiles, cfg)
    db = _toep_call(e, g, a, tiles_t, cfg_t)
    de = _toep_call(b, a, g, tiles_t, cfg_t)
    # ∂c_o = Σ_{i−j=o} (a_i·b_j)(g_i·e_j) = Σ_{i−j=o} ⟨a_i ⊗ g_i, b_j ⊗ e_j⟩
    B, H, Lp, M = a.shape
    ag = (a[..., :, None] * g[..., None, :]).reshape(B, H, Lp, -1)
    be = (b[..., :, None] * e[..., None, :]).reshape(B, H, Lp, -1)
    dc = _offset_correlation(ag, be, L)
    return da, db, de, dc


_toep.defvjp(_toep_fwd, _toep_bwd)


def toeplitz_linear_pallas(fq: jnp.ndarray, fk: jnp.ndarray, e: jnp.ndarray, c: jnp.ndarray, *,
                           is_causal: bool, block: int | None = None, interpret: bool | None = None,
                           gpu_layout: bool | None = None) -> jnp.ndarray:
    """``y_i = Σ_j c_{i−j} (fq_i·fk_j) e_j`` for ``fq, fk: [B, L, H, M]``, ``e: [B, L, H, E]`` and the
    weights ``c: [H, 2L − 1]`` (``c[:, (i − j) + L − 1]``; with ``is_causal`` the negative offsets
    must already be zero — the kernel then skips the tiles above the diagonal). Inputs in the
    accumulation dtype; ``gpu_layout`` (default: when not interpreting) pads as Triton needs.

    >>> import jax.numpy as jnp
    >>> ones = jnp.ones((1, 4, 1, 2))
    >>> y = toeplitz_linear_pallas(ones, ones, ones[..., :1], jnp.ones((1, 7)), is_causal=False)
    >>> y[0, :, 0, 0].tolist()                                     # Σ_j 1 · (1·1 + 1·1) · 1
    [8.0, 8.0, 8.0, 8.0]
    """
    interp = pallas_interpret() if interpret is None else bool(interpret)
    gpu = (not interp) if gpu_layout is None else bool(gpu_layout)
    B, L, H, M = fq.shape
    E = e.shape[-1]
    _check_block(block, "block", gpu, "kernelized_rpe_attention")
    T = int(block) if block is not None else _default_block(L, gpu)
    Lp = _padded_len(L, T, gpu)
    Mp = max(16, _next_pow2(M)) if gpu else M
    Ep = max(16, _next_pow2(E)) if gpu else E
    acc = fq.dtype
    cfg = _ToepConfig(block=T, n_blocks=Lp // T, n_real=-(-L // T), tri="lower" if is_causal else "none",
                      acc=acc, interpret=interp)
    y = _toep(_to_bhld(fq, Lp, Mp), _to_bhld(fk.astype(acc), Lp, Mp), _to_bhld(e.astype(acc), Lp, Ep),
              c.astype(acc), L, cfg)
    return jnp.transpose(y[:, :, :L, :E], (0, 2, 1, 3))

