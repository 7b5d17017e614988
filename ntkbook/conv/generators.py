"""Parameter-efficient long-convolution kernels: SGConv, squash/smooth (long conv), Gaussian mixtures.

All generators return kernels of shape ``(C, L)`` (channels first, taps last) ready for
:func:`ntkbook.conv.fft_conv`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int
from ._common import numpy_rng

__all__ = [
    "sgconv_num_scales", "sgconv_init", "sgconv_kernel", "squash", "smooth",
    "gaussian_mixture_kernel", "gaussian_mixture_conv",
]


# ---------------------------------------------------------------------------------------------
# SGConv
# ---------------------------------------------------------------------------------------------

def sgconv_num_scales(length: int, d_s: int) -> int:
    """Number of scales ``N = ⌈log2(L / d_s)⌉ + 1`` so that the concatenated kernel covers ``L`` taps.

    >>> sgconv_num_scales(1024, 32), sgconv_num_scales(100, 32), sgconv_num_scales(16, 32)
    (6, 3, 1)
    """
    length = check_positive_int(length, "length")
    d_s = check_positive_int(d_s, "d_s")
    if length <= d_s:
        return 1
    return int(math.ceil(math.log2(length / d_s))) + 1


def sgconv_init(key: jax.Array, channels: int, length: int, d_s: int = 32) -> jnp.ndarray:
    """SGConv sub-kernels ``w (N, C, d_s)``, i.i.d. N(0, 1) (the generator normalises scale).

    >>> import jax
    >>> sgconv_init(jax.random.key(0), 4, 256, d_s=16).shape
    (5, 4, 16)
    """
    n = sgconv_num_scales(length, d_s)
    channels = check_positive_int(channels, "channels")
    real = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    return jnp.asarray(numpy_rng(key).standard_normal((n, channels, d_s)), real)


def _upsample(w: jnp.ndarray, factor: int, method: str) -> jnp.ndarray:
    if factor == 1:
        return w
    if method == "nearest":
        return jnp.repeat(w, factor, axis=-1)
    # linear interpolation with half-pixel centres (align_corners=False), edges clamped
    d = w.shape[-1]
    pos = (np.arange(d * factor) + 0.5) / factor - 0.5
    pos = np.clip(pos, 0.0, d - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, d - 1)
    frac = jnp.asarray(pos - lo, w.dtype)
    return w[..., lo] * (1 - frac) + w[..., hi] * frac


def sgconv_kernel(w: Any, length: int, *, alpha: float = 0.5, interpolation: str = "linear",
                  normalize: bool = True) -> jnp.ndarray:
    """Structured global convolution kernel (SGConv): multiscale, geometrically decaying.

    ``K = concat_{i=0}^{N−1} [ α^i · Upsample_{2^{max(i−1, 0)}}(w_i) ]`` truncated to ``L`` taps:
    scale ``i`` covers ``d_s · 2^{max(i−1,0)}`` taps with only ``d_s`` parameters, so the kernel has
    O(d_s log L) parameters per channel and decays with distance (``α < 1``).

    Parameters
    ----------
    w : array (N, C, d_s)
        Sub-kernels, ``N ≥ sgconv_num_scales(L, d_s)``.
    length : int
        ``L`` taps of the output kernel.
    alpha : float in (0, 1]
        Decay per scale.
    interpolation : {"linear", "nearest"}
    normalize : bool
        Divide each channel by the norm of its kernel (``‖K[c]‖₂``), which keeps the output scale
        independent of ``L`` and ``N`` (SGConv's kernel normalisation).

    Returns
    -------
    array (C, L)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> w = jnp.ones((3, 1, 2))
    >>> sgconv_kernel(w, 8, interpolation="nearest", normalize=False)[0].tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
    """
    w = as_float_array(w, "w", ndim=3)
    length = check_positive_int(length, "length")
    n, _, d_s = w.shape
    if min(w.shape) < 1:
        raise ValueError(f"w must have positive sizes (N, C, d_s), got {tuple(w.shape)}")
    if n < sgconv_num_scales(length, d_s):
        raise ValueError(f"{n} scales of size {d_s} cover {d_s * 2 ** max(n - 1, 0)} < L={length} taps; "
                         f"need N ≥ {sgconv_num_scales(length, d_s)}")
    if interpolation not in ("linear", "nearest"):
        raise ValueError(f"interpolation must be 'linear' or 'nearest', got {interpolation!r}")
    check_positive(alpha, "alpha")
    return _sgconv_core(w, length, alpha, interpolation, bool(normalize))


@partial(jax.jit, static_argnums=(1, 3, 4))
def _sgconv_core(w, length, alpha, interpolation, normalize):
    n = w.shape[0]
    pieces = [(alpha ** i) * _upsample(w[i], 2 ** max(i - 1, 0), interpolation) for i in range(n)]
    k = jnp.concatenate(pieces, axis=-1)[:, :length]
    if normalize:
        k = k / jnp.sqrt(jnp.sum(k * k, axis=-1, keepdims=True) + jnp.finfo(k.dtype).tiny)
    return k


# ---------------------------------------------------------------------------------------------
# Long-conv regularisers (P052)
# ---------------------------------------------------------------------------------------------

def squash(k: Any, lam: float) -> jnp.ndarray:
    """Soft-threshold kernel entries: ``sign(k) · max(|k| − λ, 0)`` (sparsifies a long kernel).

    >>> import jax.numpy as jnp
    >>> squash(jnp.array([-2.0, 0.5, 1.5]), 1.0).tolist()
    [-1.0, 0.0, 0.5]
    """
    k = as_float_array(k, "k")
    check_positive(lam, "lam", allow_zero=True)
    return jnp.sign(k) * jnp.maximum(jnp.abs(k) - lam, 0.0)


def smooth(k: Any, width: int) -> jnp.ndarray:
    """Average-pool a kernel along its last axis with a centred window (output keeps length L).

    Boundaries average over the taps that exist (no implicit zeros), so a constant kernel stays
    constant. ``width`` must be odd.

    Parameters
    ----------
    k : array (..., L)
    width : odd positive int

    >>> import jax.numpy as jnp
    >>> smooth(jnp.array([0.0, 3.0, 0.0, 3.0]), 3).tolist()
    [1.5, 1.0, 2.0, 1.5]
    """
    k = as_float_array(k, "k")
    width = check_positive_int(width, "width")
    if width % 2 == 0:
        raise ValueError(f"width must be odd (a centred window), got {width}")
    if k.ndim < 1:
        raise ValueError("k must have at least one axis")
    return _smooth_core(k, width)


@partial(jax.jit, static_argnums=1)
def _smooth_core(k, width):
    half = width // 2
    pad = [(0, 0)] * (k.ndim - 1) + [(half, half)]
    csum = jnp.cumsum(jnp.pad(k, pad), axis=-1)
    csum = jnp.concatenate([jnp.zeros_like(csum[..., :1]), csum], axis=-1)
    length = k.shape[-1]
    total = csum[..., width: width + length] - csum[..., :length]
    idx = np.arange(length)
    count = np.minimum(idx + half, length - 1) - np.maximum(idx - half, 0) + 1
    return total / jnp.asarray(count, k.dtype)


# ---------------------------------------------------------------------------------------------
# Gaussian-mixture kernels (P165)
# ---------------------------------------------------------------------------------------------

def _check_gm(weights, means, covs, prefix=""):
    weights = as_float_array(weights, f"{prefix}weights", ndim=2)
    means = as_float_array(means, f"{prefix}means", ndim=3)
    covs = as_float_array(covs, f"{prefix}covariances", ndim=4)
    c, m = weights.shape
    d = means.shape[-1]
    if means.shape[:2] != (c, m) or covs.shape != (c, m, d, d):
        raise ValueError(f"expected weights (C, M), means (C, M, d), covariances (C, M, d, d); got "
                         f"{tuple(weights.shape)}, {tuple(means.shape)}, {tuple(covs.shape)}")
    return weights, means, covs


def gaussian_mixture_kernel(weights: Any, means: Any, covariances: Any, positions: Any) -> jnp.ndarray:
    """Evaluate one Gaussian mixture per channel on a set of positions (a continuous kernel).

    ``K[c, p] = Σ_m a[c,m] · N(x_p; μ[c,m], Σ[c,m])`` (normalised Gaussian densities).

    Parameters
    ----------
    weights : array (C, M)
    means : array (C, M, d)
    covariances : array (C, M, d, d), symmetric positive definite
    positions : array (*grid, d)
        E.g. ``jnp.arange(L)[:, None]`` for a 1-D kernel with ``L`` taps, or a stacked meshgrid.

    Returns
    -------
    array (C, *grid)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> K = gaussian_mixture_kernel(jnp.ones((1, 1)), jnp.zeros((1, 1, 1)), jnp.ones((1, 1, 1, 1)),
    ...                             jnp.array([[0.0], [1.0]]))
    >>> [round(v, 4) for v in K[0].tolist()]
    [0.3989, 0.242]
    """
    weights, means, covs = _check_gm(weights, means, covariances)
    positions = as_float_array(positions, "positions")
    d = means.shape[-1]
    if positions.ndim < 1 or positions.shape[-1] != d:
        raise ValueError(f"positions must have shape (*grid, {d}), got {tuple(positions.shape)}")
    return _gm_core(weights, means, covs, positions)


@jax.jit
def _gm_core(weights, means, covs, positions):
    d = means.shape[-1]
    grid = positions.shape[:-1]
    pts = positions.reshape(-1, d)
    chol = jnp.linalg.cholesky(covs)                                       # (C, M, d, d)
    diff = pts[None, None, :, :] - means[:, :, None, :]                    # (C, M, P, d)
    z = jax.scipy.linalg.solve_triangular(chol, jnp.swapaxes(diff, -1, -2), lower=True)  # (C,M,d,P)
    maha = jnp.sum(z * z, axis=-2)                                          # (C, M, P)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)  # (C, M)
    log_norm = -0.5 * (d * np.log(2 * np.pi) + logdet)
    dens = jnp.exp(log_norm[..., None] - 0.5 * maha)
    k = jnp.einsum("cm,cmp->cp", weights, dens)
    return k.reshape(weights.shape[0], *grid)


def gaussian_mixture_conv(a: tuple[Any, Any, Any], b: tuple[Any, Any, Any]
                          ) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Analytic convolution of two Gaussian mixtures, channel by channel.

    ``N(μ₁, Σ₁) * N(μ₂, Σ₂) = N(μ₁ + μ₂, Σ₁ + Σ₂)``, so a K-component mixture convolved with an
    L-component one is the K·L-component mixture with weights ``a_k · b_l``.

    Parameters
    ----------
    a, b : tuples ``(weights (C, K), means (C, K, d), covariances (C, K, d, d))``

    Returns
    -------
    (weights (C, K·L), means (C, K·L, d), covariances (C, K·L, d, d)), component ``k·L + l``.

    >>> import jax.numpy as jnp
    >>> g = (jnp.ones((1, 2)), jnp.zeros((1, 2, 1)), jnp.ones((1, 2, 1, 1)))
    >>> w, m, S = gaussian_mixture_conv(g, g)
    >>> w.shape, float(S[0, 0, 0, 0])
    ((1, 4), 2.0)
    """
    wa, ma, sa = _check_gm(*a, prefix="a.")
    wb, mb, sb = _check_gm(*b, prefix="b.")
    if wa.shape[0] != wb.shape[0] or ma.shape[-1] != mb.shape[-1]:
        raise ValueError("the two mixtures need the same channels C and dimension d")
    c, k = wa.shape
    el = wb.shape[1]
    d = ma.shape[-1]
    w = (wa[:, :, None] * wb[:, None, :]).reshape(c, k * el)
    m = (ma[:, :, None, :] + mb[:, None, :, :]).reshape(c, k * el, d)
    s = (sa[:, :, None] + sb[:, None, :]).reshape(c, k * el, d, d)
    return w, m, s
