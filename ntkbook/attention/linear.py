"""Linear (kernelized) attention, kernelized attention with relative positions by FFT, SOFT.

* :func:`linear_attention` — ``out_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j)`` in
  ``O(L · M · Dv)``; causal by chunked prefix sums, or by a fused Pallas kernel.
* :func:`kernelized_rpe_attention` — the same with a relative-position factor ``c_{i−j} = exp(b_{i−j})``
  on every kernel entry (P036): the Toeplitz sums are FFT convolutions, ``O(L log L · M · Dv)``.
* :func:`softmax_free_attention` — SOFT (P006): a Gaussian kernel ``exp(−‖q_i − q_j‖² / (2√D))``
  with tied queries/keys, approximated by Nyström from landmark tokens, with the landmark
  pseudo-inverse by Newton–Schulz iteration (:func:`newton_pinv`).

The two last ones also have a fused Pallas path (``implementation="pallas"``, in
:mod:`~ntkbook.attention.kernel_pallas`) that never stores a kernel matrix.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import check_positive_int
from ._common import as_attention_array, check_qkv, compute_dtype, resolve_implementation
from .kernel_pallas import gauss_matmul_checked_inputs, toeplitz_linear_pallas
from .linear_pallas import causal_linear_pallas

__all__ = ["linear_attention", "kernelized_rpe_attention", "softmax_free_attention",
           "newton_pinv", "landmark_pooling"]

FeatureMap = Callable[[jnp.ndarray], jnp.ndarray]


def _flatten(q: jnp.ndarray) -> tuple[jnp.ndarray, tuple[int, ...]]:
    spatial = tuple(q.shape[1:-2])
    return q.reshape(q.shape[0], int(np.prod(spatial)), *q.shape[-2:]), spatial


def _features(feature_map: Any, x: jnp.ndarray, name: str, op: str) -> jnp.ndarray:
    if not callable(feature_map):
        raise ValueError(f"{op}: feature_map must be callable [..., D] -> [..., M], got {feature_map!r}")
    f = jnp.asarray(feature_map(x))
    if f.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"{op}: feature_map({name}) must keep all but the last axis: "
                         f"{tuple(x.shape)} -> {tuple(f.shape)}")
    return f


def _check_chunk(chunk_size: int, op: str) -> int:
    return check_positive_int(chunk_size, f"{op}: chunk_size")


def _causal_linear(fq: jnp.ndarray, fk: jnp.ndarray, v: jnp.ndarray, chunk: int,
                   acc: Any) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Causal numerator ``[B, L, H, E]`` and denominator ``[B, L, H]`` by chunked prefix sums.

    Within a chunk the (C × C) lower-triangular kernel block is formed explicitly; the chunks
    before it enter through an exclusive prefix sum of the per-chunk states ``Σ φ(k) vᵀ``.
    """
    B, L, H, M = fq.shape
    E = v.shape[-1]
    C = min(chunk, L)
    n = -(-L // C)
    pad = n * C - L
    padz = lambda x: jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2))  # noqa: E731
    fq, fk, v = (padz(x).reshape(B, n, C, *x.shape[2:]) for x in (fq, fk, v))  # zero features pad
    state = jnp.einsum("bnchm,bnche->bnhme", fk, v, preferred_element_type=acc)
    zstate = jnp.sum(fk, axis=2, dtype=acc)                                   # [B, n, H, M]
    prev = jnp.cumsum(state, axis=1) - state                                   # exclusive prefix
    zprev = jnp.cumsum(zstate, axis=1) - zstate
    tri = jnp.tril(jnp.ones((C, C), bool))
    a = jnp.einsum("bnchm,bndhm->bnhcd", fq, fk, preferred_element_type=acc)
    a = jnp.where(tri, a, 0.0)
    num = (jnp.einsum("bnhcd,bndhe->bnche", a, v.astype(acc))
           + jnp.einsum("bnchm,bnhme->bnche", fq.astype(acc), prev))
    den = jnp.sum(a, axis=-1).transpose(0, 1, 3, 2) + jnp.einsum("bnchm,bnhm->bnch", fq.astype(acc), zprev)
    return num.reshape(B, n * C, H, E)[:, :L], den.reshape(B, n * C, H)[:, :L]


def linear_attention(q: Any, k: Any, v: Any, feature_map: FeatureMap, *, is_causal: bool = False,
                     chunk_size: int = 64, eps: float = 1e-6,
                     implementation: str | None = None) -> jnp.ndarray:
    """Kernelized attention ``out_i = Σ_j φ(q_i)·φ(k_j) v_j / (Σ_j φ(q_i)·φ(k_j) + eps)``.

    Parameters
    ----------
    q : array ``[B, *Sq, H, D]``
    k : array ``[B, *Sk, H, D]``
    v : array ``[B, *Sk, H, Dv]``
    feature_map : callable ``[..., D] → [..., M]``
        Applied to queries and keys, e.g. :func:`~ntkbook.attention.favor_features`,
        :func:`~ntkbook.attention.elu_feature_map`, a :class:`~ntkbook.attention.SpectralFeatures`.
        Positive maps keep the denominator positive.
    is_causal : bool
        Query ``i`` sees keys ``j ≤ i`` (flattened order, ``Lq = Lk`` required).
    chunk_size : int
        Chunk length of the causal prefix sums (``"xla"``): memory ``O(L/C · M · Dv + L · C)``.
    eps : float
        Added to the denominator.
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: the explicit ``(Lq, Lk)`` kernel matrix, row-normalised (quadratic, the
        oracle). ``"xla"``: linear time — ``φ(Q) (φ(K)ᵀ V)``, causal by chunked prefix sums.
        ``"pallas"``: causal — one fused kernel per (batch, head) that walks the chunks carrying
        the ``M × Dv`` state (no per-chunk states stored; gradients by the same kernel, see
        ``ntkbook.attention.linear_pallas``); non-causal — the two XLA matmuls of ``"xla"``, which
        leave nothing to fuse. ``None``: ``"xla"`` (the Pallas kernel is opt-in until it has been
        validated and timed on a GPU).

    Returns
    -------
    array ``[B, *Sq, H, Dv]`` in the dtype of ``q``.

    Examples
    --------
    >>> import jax
    >>> from ntkbook.attention import favor_features
    >>> x = jax.random.normal(jax.random.key(0), (2, 10, 4, 8))
    >>> phi = favor_features(jax.random.key(1), 8, 64)
    >>> linear_attention(x, x, x, phi, is_causal=True, chunk_size=4).shape
    (2, 10, 4, 8)
    """
    op = "linear_attention"
    q, k, v = check_qkv(q, k, v, op)
    # "pallas" is opt-in until the kernel has been validated and timed on a GPU
    impl = resolve_implementation(implementation, op, gpu_default="xla")
    if not isinstance(is_causal, (bool, np.bool_)):
        raise ValueError(f"{op}: is_causal must be a bool, got {is_causal!r}")
    if not (isinstance(eps, (int, float)) and np.isfinite(eps) and eps >= 0):
        raise ValueError(f"{op}: eps must be a finite non-negative float, got {eps!r}")
    chunk = _check_chunk(chunk_size, op)
    q3, spatial = _flatten(q)
    k3, _ = _flatten(k)
    v3, _ = _flatten(v)
    if is_causal and q3.shape[1] != k3.shape[1]:
        raise ValueError(f"{op}: is_causal needs as many queries as keys, got {q3.shape[1]} and "
                         f"{k3.shape[1]}")
    acc = compute_dtype(q.dtype, k.dtype, v.dtype)
    fq = _features(feature_map, q3, "q", op).astype(acc)
    fk = _features(feature_map, k3, "k", op).astype(acc)
    vv = v3.astype(acc)
    if fq.shape[-1] != fk.shape[-1]:
        raise ValueError(f"{op}: feature_map gives {fq.shape[-1]} features for q but {fk.shape[-1]} for k")
    if impl == "reference":
        a = jnp.einsum("bqhm,bkhm->bhqk", fq, fk)
        if is_causal:
            a = jnp.where(jnp.tril(jnp.ones(a.shape[-2:], bool)), a, 0.0)
        num = jnp.einsum("bhqk,bkhe->bqhe", a, vv)
        den = jnp.sum(a, axis=-1).transpose(0, 2, 1)
    elif is_causal and impl == "pallas":
        num, den = causal_linear_pallas(fq, fk, vv, chunk)
    elif is_causal:
        num, den = _causal_linear(fq, fk, vv, chunk, acc)
    else:
        kv = jnp.einsum("bkhm,bkhe->bhme", fk, vv)
        num = jnp.einsum("bqhm,bhme->bqhe", fq, kv)
        den = jnp.einsum("bqhm,bhm->bqh", fq, jnp.sum(fk, axis=1))
    out = num / (den[..., None] + eps)
    return out.astype(q.dtype).reshape(q.shape[0], *spatial, q.shape[-2], v.shape[-1])


# ------------------------------------------------------------------------------ RPE by FFT

def _toeplitz_fft(c: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """``out[b, i, h, f] = Σ_j c[h, i − j + L − 1] x[b, j, h, f]`` via a length-2L circulant."""
    L = x.shape[1]
    n = 2 * L
    # circulant first column: offsets 0..L-1, one unused slot, then offsets -(L-1)..-1
    col = jnp.concatenate([c[:, L - 1:], jnp.zeros((c.shape[0], 1), c.dtype), c[:, :L - 1]], axis=1)
    fc = jnp.fft.rfft(col, n=n, axis=1)                                 # [H, n//2+1]
    fx = jnp.fft.rfft(x, n=n, axis=1)                                   # [B, n//2+1, H, F]
    y = jnp.fft.irfft(fx * fc.T[None, :, :, None], n=n, axis=1)
    return y[:, :L]


def kernelized_rpe_attention(q: Any, k: Any, v: Any, feature_map: FeatureMap, rpe_bias: Any, *,
                             is_causal: bool = False, eps: float = 1e-6,
                             implementation: str | None = None) -> jnp.ndarray:
    """Kernelized attention with relative-position encoding, by FFT (Luo et al., P036).

    ``out_i = Σ_j c_{i−j} φ(q_i)·φ(k_j) v_j / (Σ_j c_{i−j} φ(q_i)·φ(k_j) + eps)`` with
    ``c = exp(rpe_bias)``. Because ``c_{i−j}`` is Toeplitz, both sums are convolutions along the
    sequence of ``φ(k_j) v_jᵀ`` and ``φ(k_j)``: FFTs of length ``2L``, ``O(L log L · M · Dv)``.

    Parameters
    ----------
    q, k : arrays ``[B, L, H, D]``; v : array ``[B, L, H, Dv]`` (self attention, one spatial axis)
    feature_map : callable ``[..., D] → [..., M]`` (positive maps keep the denominator positive)
    rpe_bias : array ``[2L − 1]`` or ``[H, 2L − 1]``
        ``rpe_bias[..., (i − j) + L − 1]`` is the bias of offset ``i − j``.
    is_causal : bool
        Drop the offsets ``i − j < 0``.
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: explicit ``(L, L)`` matrix ``c_{i−j} φ(q_i)·φ(k_j)`` (quadratic).
        ``"xla"`` (the default everywhere): the FFT path, memory ``O(L · M · Dv)``.
        ``"pallas"``: a fused tiled kernel (:mod:`~ntkbook.attention.kernel_pallas`) that walks
        the key tiles of every query tile — quadratic work like the reference, but memory
        ``O(L · (M + Dv + T))`` for tile size ``T``, and half the tiles under ``is_causal``; its
        ``rpe_bias`` gradient is an FFT correlation in XLA.

    Returns
    -------
    array ``[B, L, H, Dv]``.

    >>> import jax, jax.numpy as jnp
    >>> from ntkbook.attention import elu_feature_map
    >>> x = jax.random.normal(jax.random.key(0), (1, 6, 2, 4))
    >>> b = jnp.zeros((11,))
    >>> out = kernelized_rpe_attention(x, x, x, elu_feature_map, b)
    >>> ref = linear_attention(x, x, x, elu_feature_map)          # c = 1: plain linear attention
    >>> bool(jnp.allclose(out, ref, atol=1e-5))
    True
    """
    op = "kernelized_rpe_attention"
    q, k, v = check_qkv(q, k, v, op, n_spatial=1, same_length=True)
    impl = resolve_implementation(implementation, op, gpu_default="xla")
    B, L, H, _ = q.shape
    b = as_attention_array(rpe_bias, f"{op}: rpe_bias")
    if b.ndim == 1:
        b = jnp.broadcast_to(b, (H, b.shape[0]))
    if b.ndim != 2 or b.shape != (H, 2 * L - 1):
        raise ValueError(f"{op}: rpe_bias must have shape [2L-1] or [H, 2L-1] = {[H, 2 * L - 1]}, "
                         f"got {tuple(jnp.shape(rpe_bias))}")
    if not isinstance(is_causal, (bool, np.bool_)):
        raise ValueError(f"{op}: is_causal must be a bool, got {is_causal!r}")
    acc = compute_dtype(q.dtype, k.dtype, v.dtype)
    fq = _features(feature_map, q, "q", op).astype(acc)
    fk = _features(feature_map, k, "k", op).astype(acc)
    c = jnp.exp(b.astype(acc))
    if is_causal:
        c = c * (jnp.arange(2 * L - 1) >= L - 1)
    vv = v.astype(acc)
    if impl == "reference":
        offs = jnp.arange(L)[:, None] - jnp.arange(L)[None, :] + L - 1   # (L, L) index into c, built in-graph
        a = jnp.einsum("bqhm,bkhm->bhqk", fq, fk) * c[:, offs][None]
        num = jnp.einsum("bhqk,bkhe->bqhe", a, vv)
        den = jnp.sum(a, axis=-1).transpose(0, 2, 1)
    elif impl == "pallas":                     # numerator and denominator from one call: values ‖ 1
        E = vv.shape[-1]
        y = toeplitz_linear_pallas(fq, fk, jnp.concatenate([vv, jnp.ones((B, L, H, 1), acc)], axis=-1), c,
                                   is_causal=bool(is_causal))
        num, den = y[..., :E], y[..., E]
    else:
        M, E = fk.shape[-1], vv.shape[-1]
        kv = (fk[..., :, None] * vv[..., None, :]).reshape(B, L, H, M * E)
        conv_kv = _toeplitz_fft(c, kv).reshape(B, L, H, M, E)
        conv_k = _toeplitz_fft(c, fk)
        num = jnp.einsum("blhm,blhme->blhe", fq, conv_kv)
        den = jnp.einsum("blhm,blhm->blh", fq, conv_k)
    return (num / (den[..., None] + eps)).astype(q.dtype)


# ------------------------------------------------------------------------------------- SOFT

@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _newton_pinv_core(a: jnp.ndarray, num_iters: int) -> jnp.ndarray:
    return _newton_iterate(a, num_iters)


def _newton_iterate(a: jnp.ndarray, num_iters: int) -> jnp.ndarray:
    n1 = jnp.max(jnp.sum(jnp.abs(a), axis=-2), axis=-1)              # ‖A‖₁ (max column sum)
    ninf = jnp.max(jnp.sum(jnp.abs(a), axis=-1), axis=-1)            # ‖A‖_∞ (max row sum)
    z = jnp.swapaxes(a, -1, -2) / (n1 * ninf)[..., None, None]
    two = jnp.asarray(2.0, a.dtype)

    def step(_: Any, z: jnp.ndarray) -> jnp.ndarray:
        return two * z - z @ a @ z
    return jax.lax.fori_loop(0, num_iters, step, z)


def _newton_fwd(a, num_iters):  # type: ignore[no-untyped-def]
    z = _newton_iterate(a, num_iters)
    return z, z


def _newton_bwd(num_iters, z, g):  # type: ignore[no-untyped-def]
    # gradient of the inverse, evaluated once at the converged iterate: dA = −Zᵀ g Zᵀ
    zt = jnp.swapaxes(z, -1, -2)
    return (-(zt @ g @ zt),)


_newton_pinv_core.defvjp(_newton_fwd, _newton_bwd)


def newton_pinv(a: Any, num_iters: int = 20) -> jnp.ndarray:
    """Moore–Penrose pseudo-inverse by Newton–Schulz iteration ``Z ← 2Z − Z A Z``.

    Starts from ``Z₀ = Aᵀ / (‖A‖₁ ‖A‖_∞)``, which converges for any ``A``; the error contracts
    quadratically once small. The gradient is the inverse's, ``−Zᵀ ḡ Zᵀ``, evaluated once at the
    result (as in SOFT) instead of differentiating through the iterations.

    Parameters
    ----------
    a : array ``[..., n, n]``
    num_iters : int

    >>> import jax.numpy as jnp
    >>> a = jnp.array([[2.0, 1.0], [1.0, 3.0]])
    >>> bool(jnp.allclose(newton_pinv(a, 30) @ a, jnp.eye(2), atol=1e-5))
    True
    """
    arr = as_attention_array(a, "newton_pinv: a", min_ndim=2)
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"newton_pinv: a must be square in its last two axes, got {tuple(arr.shape)}")
    if isinstance(num_iters, bool) or not isinstance(num_iters, (int, np.integer)) or num_iters < 0:
        raise ValueError(f"newton_pinv: num_iters must be a non-negative int, got {num_iters!r}")
    return _newton_pinv_core(arr, int(num_iters))


def landmark_pooling(seq_len: int, num_landmarks: int) -> np.ndarray:
    """``(m, L)`` averaging matrix of ``m`` contiguous, nearly equal segments of ``L`` tokens.

    Segment boundaries are ``⌊i · L / m + ½⌋``, so ragged lengths are covered exactly.

    >>> landmark_pooling(5, 2).round(3).tolist()
    [[0.333, 0.333, 0.333, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5, 0.5]]
    """
    L = check_positive_int(seq_len, "seq_len")
    m = check_positive_int(num_landmarks, "num_landmarks")
    if m > L:
        raise ValueError(f"num_landmarks ({m}) must not exceed the sequence length ({L})")
    edges = np.floor(np.arange(m + 1) * L / m + 0.5).astype(int)
    p = np.zeros((m, L))
    for i in range(m):
        p[i, edges[i]:edges[i + 1]] = 1.0 / (edges[i + 1] - edges[i])
    return p


def _gauss(x: jnp.ndarray, y: jnp.ndarray, d: int) -> jnp.ndarray:
    """``exp(−‖x_i − y_j‖² / (2√d))`` for ``x: [B, n, H, D]``, ``y: [B, m, H, D]`` → ``[B, H, n, m]``."""
    sq = (jnp.sum(x * x, -1).transpose(0, 2, 1)[..., :, None]
          + jnp.sum(y * y, -1).transpose(0, 2, 1)[..., None, :]
          - 2 * jnp.einsum("bnhd,bmhd->bhnm", x, y))
    return jnp.exp(-jnp.maximum(sq, 0.0) / (2 * math.sqrt(d)))


def softmax_free_attention(q: Any, v: Any, *, num_landmarks: int | None = None,
                           landmarks: Any = None, newton_iters: int = 20, normalize: str = "row",
                           implementation: str | None = None) -> jnp.ndarray:
    """SOFT attention: a Gaussian kernel with tied queries/keys, Nyström-approximated (P006).

    ``S_ij = exp(−‖q_i − q_j‖² / (2√D))`` is symmetric PSD, so with ``m`` landmark tokens ``Q̃``
    it is approximated by ``S ≈ S(Q, Q̃) S(Q̃, Q̃)⁺ S(Q̃, Q)`` in ``O(L · m)``; the output is
    ``N(S) V`` with ``N`` a row normalisation (``normalize="row"``: ``D⁻¹S``, ``"symmetric"``:
    ``D^{-1/2} S D^{-1/2}``, ``None``: ``S``), ``D = diag(S 1)``.

    Parameters
    ----------
    q : array ``[B, *S, H, D]``
        Queries (= keys).
    v : array ``[B, *S, H, Dv]``
    num_landmarks : int, optional
        Landmarks by average pooling of contiguous token segments (:func:`landmark_pooling`).
    landmarks : array ``[B, m, H, D]``, optional
        Explicit landmarks instead (e.g. 2-D pooled). Neither given: the exact ``L × L`` kernel.
    newton_iters : int
        Newton–Schulz iterations for ``S(Q̃, Q̃)⁺`` (``"xla"``).
    normalize : {"row", "symmetric", None}
    implementation : {"reference", "xla", "pallas", None}
        ``"reference"``: the pseudo-inverse by ``jnp.linalg.pinv`` (SVD). ``"xla"`` (the default
        everywhere): :func:`newton_pinv`, whose backward is the closed-form inverse gradient.
        ``"pallas"``: as ``"xla"``, with every product by a Gaussian kernel matrix fused in
        :func:`~ntkbook.attention.gaussian_kernel_matmul` (``S(Q, Q̃)`` and the exact ``L × L``
        kernel are never stored; the row sums ride along as a column of ones).

    Returns
    -------
    array ``[B, *S, H, Dv]``.

    >>> import jax
    >>> x = jax.random.normal(jax.random.key(0), (1, 64, 2, 8))
    >>> softmax_free_attention(x, x, num_landmarks=16).shape
    (1, 64, 2, 8)
    """
    op = "softmax_free_attention"
    q, _, v = check_qkv(q, q, v, op)
    impl = resolve_implementation(implementation, op, gpu_default="xla")
    if normalize not in ("row", "symmetric", None):
        raise ValueError(f"{op}: normalize must be 'row', 'symmetric' or None, got {normalize!r}")
    if isinstance(newton_iters, bool) or not isinstance(newton_iters, (int, np.integer)) or newton_iters < 1:
        raise ValueError(f"{op}: newton_iters must be a positive int, got {newton_iters!r}")
    if num_landmarks is not None and landmarks is not None:
        raise ValueError(f"{op}: give num_landmarks or landmarks, not both")
    q3, spatial = _flatten(q)
    v3, _ = _flatten(v)
    B, L, H, D = q3.shape
    acc = compute_dtype(q.dtype, v.dtype)
    qa, va = q3.astype(acc), v3.astype(acc)
    gamma = 1.0 / (2 * math.sqrt(D))
    fused = functools.partial(gauss_matmul_checked_inputs, gamma=gamma)     # "pallas": S(a, b) x, fused
    if num_landmarks is None and landmarks is None:
        if impl == "pallas":
            apply = lambda x: fused(qa, qa, x)                              # noqa: E731
        else:
            s_full = _gauss(qa, qa, D)                                     # [B, H, L, L]
            apply = lambda x: jnp.einsum("bhqk,bkhe->bqhe", s_full, x)      # noqa: E731
    else:
        if landmarks is None:
            pool = jnp.asarray(landmark_pooling(L, num_landmarks), acc)
            lm = jnp.einsum("ml,blhd->bmhd", pool, qa)
        else:
            lm = as_attention_array(landmarks, f"{op}: landmarks", ndim=4).astype(acc)
            if lm.shape[0] != B or lm.shape[2:] != (H, D):
                raise ValueError(f"{op}: landmarks must have shape [B, m, H, D] = [{B}, m, {H}, {D}], "
                                 f"got {tuple(lm.shape)}")
        s_mm = _gauss(lm, lm, D)                                           # [B, H, m, m]
        pinv = jnp.linalg.pinv(s_mm) if impl == "reference" else newton_pinv(s_mm, int(newton_iters))
        if impl == "pallas":
            def apply(x: jnp.ndarray) -> jnp.ndarray:                      # S(Q, Q̃) S⁺ S(Q̃, Q) x
                t = fused(lm, qa, x)                                       # [B, m, H, E]
                return fused(qa, lm, jnp.einsum("bhmn,bnhe->bmhe", pinv, t))
        else:
            s_qm = _gauss(qa, lm, D)                                       # [B, H, L, m]

            def apply(x: jnp.ndarray) -> jnp.ndarray:                      # S x, never L × L
                t = jnp.einsum("bhlm,blhe->bhme", s_qm, x)
                return jnp.einsum("bhlm,bhmn,bhne->blhe", s_qm, pinv, t)
    if normalize is None:
        out = apply(va)
    elif normalize == "row":                                               # one pass: values ‖ 1 (row sums)
        y = apply(jnp.concatenate([va, jnp.ones((B, L, H, 1), acc)], axis=-1))
        out = y[..., :-1] / y[..., -1:]
    else:
        deg = apply(jnp.ones((B, L, H, 1), acc))[..., 0]                  # row sums [B, L, H]
        r = jax.lax.rsqrt(jnp.maximum(deg, jnp.finfo(acc).tiny))[..., None]
        out = apply(va * r) * r
    return out.astype(q.dtype).reshape(B, *spatial, H, v.shape[-1])
