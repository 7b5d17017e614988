"""Neighborhood attention in 1-D, 2-D and 3-D (NATTEN semantics), with stride (GNA) and dilation.

Rules, per spatial axis of length ``L`` with kernel size ``k``, stride ``s`` and dilation ``d``:

* **dilation groups** — position ``i`` belongs to group ``g = i mod d`` and has group coordinate
  ``j = i // d``; the group holds the positions ``g, g + d, g + 2d, …``, i.e. ``n_g = ⌈(L − g)/d⌉``
  of them (groups can differ in length by one). Queries only ever see keys of their own group,
  and everything below happens in group coordinates.
* **stride (GNA)** — the queries ``j`` with the same ``j // s`` form a stride group and share one
  window, that of the group's *leader*: the centre query ``(j//s)·s + s//2`` (the right one of
  the two centres for even ``s``), or, along a causal axis, the last query ``(j//s)·s + s − 1``;
  leaders past the end of the dilation group are clamped to ``n_g − 1``. ``s = 1`` is plain
  neighborhood attention, ``s = k`` blocked (window) attention.
* **non-causal window** — the ``k`` consecutive group coordinates starting at
  ``clamp(leader − ⌊k/2⌋, 0, n_g − k)``: the window is *shifted* inward at the borders, never
  shrunk, so every query sees exactly ``k`` keys per axis.
* **causal window** — group coordinates ``j'`` with ``j' ≤ j`` and ``leader − k < j'``: with
  ``s = 1`` these are the ``k`` positions ending at the query (fewer at the start of the axis).

In several dimensions the key set is the Cartesian product of the per-axis sets.
``kernel_size · dilation`` must not exceed the axis length (so every group holds a full window)
and ``stride ≤ kernel_size``.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._common import (bool_tuple, check_qkv, compute_dtype, int_tuple, resolve_implementation,
                      resolve_scale)
from .flash import _window_tile_lists, default_block, window_flash_attention

__all__ = ["na1d", "na2d", "na3d", "neighborhood_attention", "neighborhood_indices",
           "neighborhood_mask"]

IntOrTuple = int | Sequence[int]
BoolOrTuple = bool | Sequence[bool]


def _check_spatial_shape(shape: Sequence[int], op: str) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{op}: spatial_shape must be a sequence of positive ints, got {shape!r}") from None
    if not 1 <= len(dims) <= 3:
        raise ValueError(f"{op}: neighborhood attention supports 1, 2 or 3 spatial axes, got {dims}")
    return int_tuple(dims, len(dims), f"{op}: spatial_shape")


def _canonical_args(spatial: tuple[int, ...], kernel_size: IntOrTuple, stride: IntOrTuple,
                    dilation: IntOrTuple, is_causal: BoolOrTuple,
                    op: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[bool, ...]]:
    n = len(spatial)
    ks = int_tuple(kernel_size, n, f"{op}: kernel_size")
    st = int_tuple(stride, n, f"{op}: stride")
    dl = int_tuple(dilation, n, f"{op}: dilation")
    ca = bool_tuple(is_causal, n, f"{op}: is_causal")
    for ax, (L, k, s, d) in enumerate(zip(spatial, ks, st, dl)):
        if k * d > L:
            raise ValueError(
                f"{op}: kernel_size × dilation = {k} × {d} = {k * d} exceeds the length {L} of "
                f"spatial axis {ax}; every dilation group must hold a full window")
        if s > k:
            raise ValueError(f"{op}: stride {s} must not exceed kernel_size {k} (spatial axis {ax})")
    return ks, st, dl, ca


def _axis_windows(L: int, k: int, s: int, d: int, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Key positions ``(L, k)`` and their validity for every query position of one axis."""
    i = np.arange(L)
    g, j = i % d, i // d
    n_g = (L - g + d - 1) // d                      # length of each query's dilation group
    slots = np.arange(k)[None, :]
    if causal:
        leader = np.minimum((j // s) * s + s - 1, n_g - 1)
        jj = (leader - k + 1)[:, None] + slots
        valid = (jj >= 0) & (jj <= j[:, None])
        jj = np.where(valid, jj, j[:, None])        # park invalid slots on the query itself
    else:
        leader = np.minimum((j // s) * s + s // 2, n_g - 1)
        start = np.clip(leader - k // 2, 0, n_g - k)
        jj = start[:, None] + slots
        valid = np.ones((L, k), bool)
    return g[:, None] + d * jj, valid


def _tile_shape(spatial: tuple[int, ...], block: int) -> tuple[int, ...]:
    """A power-of-two spatial tile of (at most) ``block`` tokens, spread over the axes from the last."""
    n = len(spatial)
    tile, bits, a = [1] * n, int(block).bit_length() - 1, n - 1
    caps = [1 << max(0, int(L - 1).bit_length()) for L in spatial]
    while bits > 0 and any(t < c for t, c in zip(tile, caps)):
        if tile[a] < caps[a]:
            tile[a] *= 2
            bits -= 1
        a = (a - 1) % n
    return tuple(tile)


@functools.lru_cache(maxsize=64)
def _window_bounds(spatial: tuple[int, ...], ks: tuple[int, ...], st: tuple[int, ...],
                   dl: tuple[int, ...], ca: tuple[bool, ...],
                   block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-axis window bounds of every query, key coordinates and a tile-major token order.

    Returns ``lo, hi: [n, N]`` and ``kc: [n, N]`` in the permuted order, and ``perm`` (``None`` when
    it is the identity). The window of a query on axis ``a`` is ``lo ≤ c < hi`` with
    ``c ≡ lo (mod d_a)`` — the arithmetic progression :func:`_axis_windows` lists. In two or three
    dimensions tokens are reordered so that each run of ``block`` consecutive tokens is one spatial
    tile (ragged at the edges) when that makes the kernels visit fewer key tiles than row-major
    order (a whole row per tile can be better when rows are short).
    """
    n, N = len(spatial), int(np.prod(spatial))
    windows = [_axis_windows(spatial[a], ks[a], st[a], dl[a], ca[a]) for a in range(n)]
    big = np.iinfo(np.int32).max
    lo_ax = [np.where(valid, p, big).min(axis=1) for p, valid in windows]
    hi_ax = [np.where(valid, p, -1).max(axis=1) + 1 for p, valid in windows]

    def layout(perm: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        coords = np.indices(spatial).reshape(n, N)
        if perm is not None:
            coords = coords[:, perm]
        lo = np.stack([lo_ax[a][coords[a]] for a in range(n)]).astype(np.int32)
        hi = np.stack([hi_ax[a][coords[a]] for a in range(n)]).astype(np.int32)
        return lo, hi, coords.astype(np.int32)

    def visited(lo: np.ndarray, hi: np.ndarray, kc: np.ndarray) -> int:
        pad = -N % block
        lo, hi = (np.pad(x, ((0, 0), (0, pad))) for x in (lo, hi))
        kc = np.pad(kc, ((0, 0), (0, pad)), constant_values=-1)
        with jax.ensure_compile_time_eval():  # constants, also when called under a trace
            return int((np.asarray(_window_tile_lists(lo, hi, kc, block, block)[0]) >= 0).sum())

    best = (None, *layout(None))
    if n > 1:  # spatial tiles, kept when they visit fewer key tiles than row-major runs
        coords = np.indices(spatial).reshape(n, N)
        tile = _tile_shape(spatial, block)
        keys = [coords[a] % tile[a] for a in reversed(range(n))] + \
               [coords[a] // tile[a] for a in reversed(range(n))]
        perm = np.lexsort(keys)
        tiled = (perm, *layout(perm))
        if visited(*tiled[1:]) < visited(*best[1:]):
            best = tiled
    perm, lo, hi, kc = best
    return lo, hi, kc, perm


def neighborhood_indices(spatial_shape: Sequence[int], kernel_size: IntOrTuple, *,
                         stride: IntOrTuple = 1, dilation: IntOrTuple = 1,
                         is_causal: BoolOrTuple = False) -> tuple[np.ndarray, np.ndarray]:
    """Flat key indices of every query's neighborhood.

    Parameters
    ----------
    spatial_shape : sequence of 1–3 ints
        Token layout ``S``; tokens are numbered in row-major (C) order, ``N = prod(S)``.
    kernel_size, stride, dilation : int or tuple of ints (one per axis)
    is_causal : bool or tuple of bools (one per axis)

    Returns
    -------
    idx : int32 array ``(N, K)``, ``K = prod(kernel_size)`` — flat key index per (query, slot).
    valid : bool array ``(N, K)`` — False only for the slots a causal axis leaves empty.

    >>> idx, valid = neighborhood_indices((6,), 3)
    >>> idx.tolist()
    [[0, 1, 2], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [3, 4, 5]]
    >>> neighborhood_indices((5,), 2, dilation=2)[0].tolist()
    [[0, 2], [1, 3], [0, 2], [1, 3], [2, 4]]
    """
    op = "neighborhood_indices"
    spatial = _check_spatial_shape(spatial_shape, op)
    ks, st, dl, ca = _canonical_args(spatial, kernel_size, stride, dilation, is_causal, op)
    n = len(spatial)
    pos, val = [], []
    for ax in range(n):
        p, v = _axis_windows(spatial[ax], ks[ax], st[ax], dl[ax], ca[ax])
        # axis ax: query axis ax and slot axis n + ax of a (L_0..L_{n-1}, k_0..k_{n-1}) grid
        shape = [1] * (2 * n)
        shape[ax], shape[n + ax] = spatial[ax], ks[ax]
        pos.append(p.reshape(shape))
        val.append(v.reshape(shape))
    full = tuple(spatial) + tuple(ks)
    flat = np.ravel_multi_index(tuple(np.broadcast_to(p, full) for p in pos), spatial)
    valid = np.logical_and.reduce([np.broadcast_to(v, full) for v in val])
    N, K = int(np.prod(spatial)), int(np.prod(ks))
    return flat.reshape(N, K).astype(np.int32), valid.reshape(N, K)


def neighborhood_mask(spatial_shape: Sequence[int], kernel_size: IntOrTuple, *,
                      stride: IntOrTuple = 1, dilation: IntOrTuple = 1,
                      is_causal: BoolOrTuple = False) -> np.ndarray:
    """The ``(N, N)`` boolean attention mask of (generalized) neighborhood attention.

    ``mask[i, j]`` is True when flat query ``i`` attends to flat key ``j``; pass it to
    :func:`~ntkbook.attention.dot_product_attention` to run neighborhood attention as masked
    full attention. Arguments as in :func:`neighborhood_indices`.

    >>> neighborhood_mask((4,), 2, is_causal=True).astype(int).tolist()
    [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    """
    idx, valid = neighborhood_indices(spatial_shape, kernel_size, stride=stride, dilation=dilation,
                                      is_causal=is_causal)
    N = idx.shape[0]
    mask = np.zeros((N, N), bool)
    rows = np.broadcast_to(np.arange(N)[:, None], idx.shape)
    mask[rows[valid], idx[valid]] = True
    return mask


@functools.partial(jax.jit, static_argnames=("scale", "acc", "operand", "all_valid"))
def _na_gather(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, idx: jnp.ndarray, valid: jnp.ndarray,
               scale: float, acc: Any, operand: Any, all_valid: bool) -> jnp.ndarray:
    """``q, k: [B, N, H, D]``, ``v: [B, N, H, Dv]``; gathers the K keys of every query."""
    kg = k.astype(operand)[:, idx]                  # [B, N, K, H, D]
    vg = v.astype(operand)[:, idx]
    s = jnp.einsum("bnhd,bnkhd->bnhk", q.astype(operand), kg, preferred_element_type=acc)
    s = s.astype(acc) * jnp.asarray(scale, acc)
    vmask = jnp.asarray(valid)[None, :, None, :]
    if not all_valid:
        s = jnp.where(vmask, s, -jnp.inf)
    m = jnp.max(s, axis=-1, keepdims=True)          # every row holds ≥ 1 valid key (the query)
    p = jnp.exp(s - m)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    out = jnp.einsum("bnhk,bnkhd->bnhd", p.astype(operand), vg, preferred_element_type=acc)
    return out.astype(q.dtype)


def neighborhood_attention(q: Any, k: Any, v: Any, kernel_size: IntOrTuple, *,
                           stride: IntOrTuple = 1, dilation: IntOrTuple = 1,
                           is_causal: BoolOrTuple = False, scale: float | None = None,
                           implementation: str | None = None) -> jnp.ndarray:
    """Neighborhood attention over any number (1–3) of spatial axes; see :func:`na2d`.

    ``q, k: [B, *S, H, D]``, ``v: [B, *S, H, Dv]`` → ``[B, *S, H, Dv]``.

    >>> import jax
    >>> x = jax.random.normal(jax.random.key(0), (1, 9, 2, 8))
    >>> neighborhood_attention(x, x, x, 3, dilation=2).shape
    (1, 9, 2, 8)
    """
    op = "neighborhood_attention"
    q, k, v = check_qkv(q, k, v, op, same_length=True)
    n = q.ndim - 3
    if not 1 <= n <= 3:
        raise ValueError(f"{op}: expected 1-3 spatial axes, got q of shape {tuple(q.shape)}")
    return _na(q, k, v, kernel_size, stride, dilation, is_causal, scale, implementation, op)


def _na(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, kernel_size: IntOrTuple,
        stride: IntOrTuple, dilation: IntOrTuple, is_causal: BoolOrTuple, scale: float | None,
        implementation: str | None, op: str) -> jnp.ndarray:
    impl = resolve_implementation(implementation, op)
    spatial = tuple(int(s) for s in q.shape[1:-2])
    ks, st, dl, ca = _canonical_args(spatial, kernel_size, stride, dilation, is_causal, op)
    B, H, D, Dv = q.shape[0], q.shape[-2], q.shape[-1], v.shape[-1]
    N = int(np.prod(spatial))
    scale_f = resolve_scale(scale, D)
    q3, k3, v3 = q.reshape(B, N, H, D), k.reshape(B, N, H, D), v.reshape(B, N, H, Dv)
    if impl == "pallas":
        lo, hi, kc, perm = _window_bounds(spatial, ks, st, dl, ca, default_block(N))
        if perm is None:
            out = window_flash_attention(q3, k3, v3, (lo, hi, kc), dl, scale=scale_f)
        else:
            out = window_flash_attention(q3[:, perm], k3[:, perm], v3[:, perm], (lo, hi, kc), dl,
                                         scale=scale_f)[:, np.argsort(perm)]
    else:
        idx, valid = neighborhood_indices(spatial, ks, stride=st, dilation=dl, is_causal=ca)
        acc = compute_dtype(q.dtype, k.dtype, v.dtype)
        operand = acc if impl == "reference" else jnp.result_type(q.dtype, k.dtype, v.dtype)
        out = _na_gather(q3, k3, v3, jnp.asarray(idx), jnp.asarray(valid), scale_f, jnp.dtype(acc),
                         jnp.dtype(operand), bool(valid.all()))
    return out.reshape(B, *spatial, H, Dv)


def _na_nd(n: int, name: str, q: Any, k: Any, v: Any, kernel_size: IntOrTuple, stride: IntOrTuple,
           dilation: IntOrTuple, is_causal: BoolOrTuple, scale: float | None,
           implementation: str | None) -> jnp.ndarray:
    q, k, v = check_qkv(q, k, v, name, n_spatial=n, same_length=True)
    return _na(q, k, v, kernel_size, stride, dilation, is_causal, scale, implementation, name)


def na1d(q: Any, k: Any, v: Any, kernel_size: IntOrTuple, *, stride: IntOrTuple = 1,
         dilation: IntOrTuple = 1, is_causal: BoolOrTuple = False, scale: float | None = None,
         implementation: str | None = None) -> jnp.ndarray:
    """1-D neighborhood attention. ``q, k: [B, L, H, D]``, ``v: [B, L, H, Dv]`` → ``[B, L, H, Dv]``.

    Arguments as in :func:`na2d` (ints or 1-tuples).

    >>> import jax
    >>> x = jax.random.normal(jax.random.key(0), (2, 10, 4, 8))
    >>> na1d(x, x, x, kernel_size=3, dilation=2, is_causal=True).shape
    (2, 10, 4, 8)
    """
    return _na_nd(1, "na1d", q, k, v, kernel_size, stride, dilation, is_causal, scale, implementation)


def na2d(q: Any, k: Any, v: Any, kernel_size: IntOrTuple, *, stride: IntOrTuple = 1,
         dilation: IntOrTuple = 1, is_causal: BoolOrTuple = False, scale: float | None = None,
         implementation: str | None = None) -> jnp.ndarray:
    """2-D neighborhood attention (NATTEN's ``na2d``) in the heads-last layout.

    Every query attends to a ``kernel_size`` window of keys around it (see the module docstring
    for the exact border, dilation, stride and causal rules).

    Parameters
    ----------
    q, k : arrays ``[B, X, Y, H, D]``
    v : array ``[B, X, Y, H, Dv]``
    kernel_size : int or (int, int)
        Window size per axis; ``kernel_size · dilation`` must not exceed the axis length.
    stride : int or (int, int)
        GNA stride: groups of ``stride`` queries share one window (``1 ≤ stride ≤ kernel_size``).
    dilation : int or (int, int)
        Windows are formed inside each query's interleaved sub-grid (positions ≡ i mod d).
    is_causal : bool or (bool, bool)
        Per-axis causal masking: along a causal axis query ``i`` sees the ``kernel_size``
        positions ending at ``i`` (fewer at the start).
    scale : float, optional
        Logit scale, default ``D ** -0.5``.
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: explicit per-query key indices, gather, float32 operands (the oracle).
        ``"xla"``: the same gather with operands in the input dtype (float32 accumulation).
        ``"pallas"``: fused neighborhood attention — the flash-attention kernels test each
        (query, key) pair against per-axis window bounds, tokens are reordered into spatial
        tiles, and only the key tiles whose coordinates meet a query tile's windows are visited;
        no ``N × N`` mask exists (memory ``O(N)`` beyond the operands). ``None``: ``"pallas"`` on
        a GPU, else ``"xla"``.

    Returns
    -------
    array ``[B, X, Y, H, Dv]`` in the dtype of ``q``.

    Raises
    ------
    ValueError
        Wrong ranks or shapes, ``kernel_size × dilation`` larger than an axis, ``stride >
        kernel_size``, non-positive sizes, bad dtypes, NaN/inf inputs.

    Examples
    --------
    >>> import jax
    >>> x = jax.random.normal(jax.random.key(0), (1, 8, 8, 2, 16))
    >>> na2d(x, x, x, kernel_size=(3, 5), dilation=(2, 1)).shape
    (1, 8, 8, 2, 16)
    """
    return _na_nd(2, "na2d", q, k, v, kernel_size, stride, dilation, is_causal, scale, implementation)


def na3d(q: Any, k: Any, v: Any, kernel_size: IntOrTuple, *, stride: IntOrTuple = 1,
         dilation: IntOrTuple = 1, is_causal: BoolOrTuple = False, scale: float | None = None,
         implementation: str | None = None) -> jnp.ndarray:
    """3-D neighborhood attention. ``q, k: [B, T, X, Y, H, D]`` → ``[B, T, X, Y, H, Dv]``.

    Arguments as in :func:`na2d` (ints or 3-tuples); a typical video setting is causal in time
    only, ``is_causal=(True, False, False)``.

    >>> import jax
    >>> x = jax.random.normal(jax.random.key(0), (1, 4, 5, 5, 1, 8))
    >>> na3d(x, x, x, kernel_size=(2, 3, 3), is_causal=(True, False, False)).shape
    (1, 4, 5, 5, 1, 8)
    """
    return _na_nd(3, "na3d", q, k, v, kernel_size, stride, dilation, is_causal, scale, implementation)
