"""Orthonormal bases for the time axis of forecasting windows, and the NormLin variate-mixing layer.

A linear forecaster maps a lookback window ``x ∈ R^L`` to a horizon ``y ∈ R^H``. Writing both in orthonormal
bases, ``x̃ = Q_iᵀ x`` and ``ỹ = Q_oᵀ y``, changes nothing for a full linear model trained by ridge or
gradient descent (the problem is only rotated), but matters for truncated (rank-k) models and for
nonlinear layers acting coefficient by coefficient.

* :func:`real_dft_basis` — the orthonormal real Fourier basis (cosines and sines ordered by frequency);
* :func:`lag_correlation` — the L×L Pearson correlation between the time positions of a set of windows;
* :func:`orthotrans_basis` — its eigenbasis (a Karhunen–Loève transform), ordered by eigenvalue, as in
  OLinear's *OrthoTrans*;
* :class:`NormLin` — a token-mixing linear layer whose weight is made row-stochastic by a Softplus and an
  L1 normalisation per row (a static attention map), as in OLinear.

>>> import jax
>>> from ntkbook import conv
>>> conv.real_dft_basis(6).shape
(6, 6)
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._validate import as_float_array, check_positive_int

__all__ = ["real_dft_basis", "lag_correlation", "orthotrans_basis", "NormLin"]


def real_dft_basis(length: int, *, dtype: Any = None) -> jax.Array:
    r"""The orthonormal real discrete Fourier basis of :math:`\mathbb R^L`, columns ordered by frequency.

    Columns: the constant :math:`1/\sqrt L`; then for :math:`k = 1, \dots, \lceil L/2\rceil - 1` the pair
    :math:`\sqrt{2/L}\cos(2\pi k t/L)`, :math:`\sqrt{2/L}\sin(2\pi k t/L)`; and for even :math:`L` the
    alternating column :math:`(-1)^t/\sqrt L` last. So the first ``k`` columns span the ``k`` lowest-frequency
    directions. With :math:`X = \mathrm{rfft}(x)`, the coefficients :math:`Q^\top x` are
    :math:`X_0/\sqrt L`, then :math:`\sqrt{2/L}\,\mathrm{Re}X_k`, :math:`-\sqrt{2/L}\,\mathrm{Im}X_k`, and
    :math:`X_{L/2}/\sqrt L`.

    Args:
        length: ``L`` (> 0).
        dtype: floating dtype (default: JAX's default float).

    Returns:
        ``(L, L)`` orthogonal matrix ``Q`` (``QᵀQ = I``); basis vectors are its columns.

    Raises:
        ValueError: if ``length`` is not a positive integer or ``dtype`` is not floating.

    Example:
        >>> import jax.numpy as jnp
        >>> Q = real_dft_basis(8)
        >>> bool(jnp.allclose(Q.T @ Q, jnp.eye(8), atol=1e-6))
        True
    """
    L = check_positive_int(length, "length")
    dt = jnp.dtype(jax.dtypes.canonicalize_dtype(jnp.float64)) if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    t = np.arange(L)[:, None]
    columns = [np.full((L, 1), 1.0 / np.sqrt(L))]
    for k in range(1, (L + 1) // 2):
        angle = 2.0 * np.pi * k * t / L
        columns += [np.sqrt(2.0 / L) * np.cos(angle), np.sqrt(2.0 / L) * np.sin(angle)]
    if L % 2 == 0 and L > 1:
        columns.append((-1.0) ** t / np.sqrt(L))
    return jnp.asarray(np.concatenate(columns, axis=1), dt)


def _windows_3d(windows: Any) -> jnp.ndarray:
    w = as_float_array(windows, "windows", ndim=(2, 3))
    if w.ndim == 2:
        w = w[:, :, None]
    if w.shape[0] < 2:
        raise ValueError(f"windows needs at least 2 windows to estimate correlations, got shape {tuple(w.shape)}")
    if w.shape[1] < 1 or w.shape[2] < 1:
        raise ValueError(f"windows has an empty axis: shape {tuple(w.shape)}")
    return w


@jax.jit
def _lag_correlation_core(w):
    centred = w - w.mean(axis=0, keepdims=True)  # (W, L, C)
    cov = jnp.einsum("wic,wjc->cij", centred, centred, precision=jax.lax.Precision.HIGHEST) / w.shape[0]
    std = jnp.sqrt(jnp.diagonal(cov, axis1=1, axis2=2))  # (C, L)
    safe = jnp.where(std > 0, std, 1.0)
    corr = cov / (safe[:, :, None] * safe[:, None, :])
    eye = jnp.eye(w.shape[1], dtype=w.dtype)
    corr = jnp.where((std[:, :, None] > 0) & (std[:, None, :] > 0), corr, eye)  # constant positions: identity
    return corr.mean(axis=0)


def lag_correlation(windows: Any) -> jax.Array:
    """The Pearson correlation matrix between the time positions of a set of windows, averaged over variates.

    For windows ``X`` of shape ``(W, L)`` entry ``(i, j)`` is the correlation, across the ``W`` windows, of
    position ``i`` with position ``j`` (``numpy.corrcoef(X.T)``). For ``(W, L, C)`` the ``C`` per-variate
    matrices are averaged. A position that is constant across windows gets correlation 1 with itself and 0
    with the others.

    Args:
        windows: ``(W, L)`` or ``(W, L, C)``, ``W ≥ 2``.

    Returns:
        ``(L, L)`` symmetric positive semi-definite matrix with unit diagonal.

    Raises:
        ValueError: on a wrong rank, fewer than 2 windows, or non-finite values.

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (200, 5))
        >>> R = lag_correlation(x)
        >>> R.shape, bool(abs(jax.numpy.diag(R) - 1).max() < 1e-5)
        ((5, 5), True)
    """
    return _lag_correlation_core(_windows_3d(windows))


@jax.jit
def _eigh_descending(R):
    lam, Q = jnp.linalg.eigh((R + R.T) / 2)
    lam, Q = lam[::-1], Q[:, ::-1]
    # a deterministic sign: the entry of largest magnitude of each column is positive
    pivot = jnp.take_along_axis(Q, jnp.argmax(jnp.abs(Q), axis=0)[None], axis=0)
    return Q * jnp.where(pivot < 0, -1.0, 1.0).astype(Q.dtype), lam


def orthotrans_basis(windows: Any) -> tuple[jax.Array, jax.Array]:
    r"""OrthoTrans: the eigenbasis of the lag correlation matrix of a set of windows.

    :math:`R = Q\Lambda Q^\top` with :math:`R` = :func:`lag_correlation` ``(windows)``; the columns of
    :math:`Q` are ordered by decreasing eigenvalue, so :math:`Q^\top x` are decorrelated coefficients with the
    most variance first (a Karhunen–Loève transform of the standardised windows). Each column's sign is fixed
    so that its largest-magnitude entry is positive.

    Args:
        windows: ``(W, L)`` or ``(W, L, C)`` training windows, ``W ≥ 2``.

    Returns:
        ``(Q, eigenvalues)``: ``Q (L, L)`` orthogonal, ``eigenvalues (L,)`` in decreasing order (they sum to ``L``).

    Raises:
        ValueError: as :func:`lag_correlation`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.cumsum(jax.random.normal(jax.random.key(0), (300, 6)), axis=1)  # random walks
        >>> Q, lam = orthotrans_basis(x)
        >>> bool(jnp.allclose(Q.T @ Q, jnp.eye(6), atol=1e-5)), bool(jnp.all(lam[:-1] >= lam[1:]))
        (True, True)
    """
    return _eigh_descending(lag_correlation(windows))


@functools.partial(jax.jit, static_argnames=("axis",))
def _normlin_apply(weight, x, axis):
    a = jax.nn.softplus(weight)
    a = a / jnp.sum(a, axis=1, keepdims=True)
    moved = jnp.moveaxis(x, axis, -1)
    return jnp.moveaxis(moved @ a.T.astype(x.dtype), -1, axis)


class NormLin(nnx.Module):
    r"""A linear layer over tokens with a row-normalised weight (OLinear's NormLin).

    With a learnable :math:`W\in\mathbb R^{n\times n}`, the mixing matrix is
    :math:`A_{ij} = \mathrm{softplus}(W_{ij}) / \sum_k \mathrm{softplus}(W_{ik})`: non-negative rows summing
    to one, like an attention map that does not depend on the input. Applied along the token axis:
    :math:`y_{\dots i \dots} = \sum_j A_{ij}\,x_{\dots j \dots}`.

    Args:
        num_tokens: ``n`` (e.g. the number of variates).
        rngs: ``flax.nnx.Rngs`` for the initial weight (``N(0, init_std²)`` entries).
        axis: the token axis of the inputs (default ``-2``, for ``(..., n, d)`` inputs).
        init_std: standard deviation of the initial weight (≥ 0; 0 gives uniform averaging).

    Example:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> layer = NormLin(3, rngs=nnx.Rngs(0))
        >>> layer(jnp.ones((2, 3, 4))).shape
        (2, 3, 4)
        >>> bool(jnp.allclose(layer.matrix().sum(1), 1.0))
        True
    """

    def __init__(self, num_tokens: int, *, rngs: nnx.Rngs, axis: int = -2, init_std: float = 0.02):
        n = check_positive_int(num_tokens, "num_tokens")
        if not np.isfinite(init_std) or init_std < 0:
            raise ValueError(f"init_std must be a non-negative number, got {init_std!r}")
        self.num_tokens = n
        self.axis = int(axis)
        self.weight = nnx.Param(init_std * jax.random.normal(rngs.params(), (n, n)))

    def matrix(self) -> jax.Array:
        """The mixing matrix :math:`A` (``(n, n)``, rows non-negative and summing to one)."""
        a = jax.nn.softplus(self.weight[...])
        return a / jnp.sum(a, axis=1, keepdims=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Mix ``x`` along the token axis; the shape is unchanged."""
        x = jnp.asarray(x)
        if x.ndim == 0 or not -x.ndim <= self.axis < x.ndim or x.shape[self.axis] != self.num_tokens:
            raise ValueError(f"x must have {self.num_tokens} tokens on axis {self.axis}, got shape {tuple(x.shape)}")
        return _normlin_apply(self.weight[...], x, self.axis)
