"""Proximity measures on graph nodes and their plain and logarithmic distances.

For a weighted undirected graph with adjacency ``A`` (dense, ``scipy.sparse`` or BCOO, as in
:mod:`ntkbook.kernels.graph`) and Laplacian ``L = D − A``:

* :func:`communicability_kernel` — ``exp(t A)``, all walks weighted by ``t^k / k!``;
* :func:`walk_kernel` — ``(I − t A)^{-1} = Σ_k t^k A^k``, defined for ``0 < t < 1/ρ(A)``;
* :func:`forest_kernel` — ``(I + t L)^{-1}``, the matrix of relative forest accessibilities
  (the regularised Laplacian kernel with ``σ² = t``);
* :func:`kernel_to_distance` — the *plain* distance ``k_ii + k_jj − 2 k_ij`` or the *logarithmic* distance
  ``(h_ii + h_jj)/2 − h_ij`` with ``H = log K`` taken entrywise (for a strictly positive ``K``);
* :func:`heat_geodesic_distance` — the Varadhan estimate ``√(−4t log h_ij + σ·2t (log h_ii + log h_jj))``
  of the geodesic distance from a heat kernel ``h = exp(−t L)``.

Every kernel is computed from one symmetric eigendecomposition and accepts a 1-D grid of parameters
(then the result is ``(P, N, N)``). Memory ``O(P N²)``, time ``O(N³ + P N³)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, is_concrete
from .graph import _check_adjacency, _dense, _from_spectrum, _parameter, kernel_distance, \
    regularized_laplacian_kernel

__all__ = ["communicability_kernel", "walk_kernel", "forest_kernel", "kernel_to_distance",
           "heat_geodesic_distance"]


def _adjacency_spectrum(adjacency: Any) -> tuple[jax.Array, jax.Array]:
    a = _dense(_check_adjacency(adjacency))
    return jnp.linalg.eigh(0.5 * (a + a.T))


def communicability_kernel(adjacency: Any, t: Any) -> jax.Array:
    """Communicability (exponential diffusion) kernel ``exp(t A)``.

    Parameters
    ----------
    adjacency
        ``(N, N)`` symmetric non-negative adjacency (dense, ``scipy.sparse`` or BCOO).
    t
        ``t > 0``, or a 1-D array of values (one kernel each, from one eigendecomposition).

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)``) symmetric positive definite; entries are positive between nodes of
        the same connected component.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> k = communicability_kernel(edge, 1.0)   # [[cosh 1, sinh 1], [sinh 1, cosh 1]]
    >>> round(float(k[0, 0]), 4), round(float(k[0, 1]), 4)
    (1.5431, 1.1752)
    """
    lam, u = _adjacency_spectrum(adjacency)
    return _from_spectrum(lam, u, jnp.exp(_parameter(t, "t", lam.dtype) * lam))


def walk_kernel(adjacency: Any, t: Any) -> jax.Array:
    """Walk kernel ``(I − t A)^{-1} = Σ_k t^k A^k``, for ``0 < t < 1/ρ(A)``.

    Parameters
    ----------
    adjacency
        ``(N, N)`` symmetric non-negative adjacency (dense, ``scipy.sparse`` or BCOO).
    t
        ``0 < t < 1/ρ(A)`` (``ρ`` the spectral radius), or a 1-D array of such values. A larger ``t``
        raises ``ValueError`` (the series diverges and the inverse is not a proximity); the check needs
        concrete values and is skipped under ``jit``.

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)``) symmetric positive definite.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])   # ρ(A) = 1
    >>> walk_kernel(edge, 0.5).tolist()               # [[1, t], [t, 1]] / (1 − t²)
    [[1.333..., 0.666...], [0.666..., 1.333...]]
    """
    lam, u = _adjacency_spectrum(adjacency)
    tt = _parameter(t, "t", lam.dtype)
    if is_concrete(lam) and is_concrete(tt):
        rho = float(np.max(np.abs(np.asarray(lam))))
        t_max = float(np.max(np.asarray(tt)))
        if t_max * rho >= 1.0:
            raise ValueError(f"walk_kernel needs t < 1/ρ(A) = {1.0 / rho if rho > 0 else np.inf:.6g}, got t = {t_max:.6g}")
    return _from_spectrum(lam, u, 1.0 / (1.0 - tt * lam))


def forest_kernel(adjacency: Any, t: Any) -> jax.Array:
    """Forest (regularised Laplacian) kernel ``(I + t L)^{-1}`` with ``L = D − A``.

    Its entries are the relative forest accessibilities: ``K_ij`` is the weight of the spanning rooted
    forests in which ``i`` and ``j`` share a tree rooted at ``i``, over the weight of all of them (edges
    weighted by ``t A``). For a connected graph every entry is positive.

    Parameters
    ----------
    adjacency
        ``(N, N)`` symmetric non-negative adjacency (dense, ``scipy.sparse`` or BCOO).
    t
        ``t > 0``, or a 1-D array of values.

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)``), symmetric, doubly stochastic, positive definite.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> forest_kernel(edge, 1.0).tolist()   # [[1 + t, t], [t, 1 + t]] / (1 + 2t)
    [[0.666..., 0.333...], [0.333..., 0.666...]]
    """
    check_positive(t, "t")
    return regularized_laplacian_kernel(adjacency, jnp.sqrt(jnp.asarray(t, jnp.result_type(float))))


def kernel_to_distance(K: Any, *, kind: str = "plain") -> jax.Array:
    """Distance matrix from a proximity (kernel) matrix: plain or logarithmic.

    * ``kind="plain"``: ``d_ij = k_ii + k_jj − 2 k_ij`` (the squared :func:`kernel_distance`);
    * ``kind="log"``: ``d_ij = (h_ii + h_jj)/2 − h_ij`` with ``H = log K`` entrywise. ``K`` must be
      entrywise positive. This is half the plain distance of ``H``; for the forest kernel it is a metric
      that is additive along cut points (``d(i, k) = d(i, j) + d(j, k)`` when every ``i``–``k`` path
      passes through ``j``).

    Parameters
    ----------
    K
        ``(N, N)`` or ``(P, N, N)`` symmetric proximity matrix (matrices).
    kind
        ``"plain"`` or ``"log"``.

    Returns
    -------
    jax.Array
        Same shape as ``K``; symmetric with a zero diagonal, negative values clipped to 0.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> K = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    >>> kernel_to_distance(K).tolist()
    [[0.0, 2.0...], [2.0..., 0.0]]
    >>> round(float(kernel_to_distance(K, kind="log")[0, 1]), 4)   # log 2
    0.6931
    """
    if kind not in ("plain", "log"):
        raise ValueError(f"kind must be 'plain' or 'log', got {kind!r}")
    K = as_float_array(K, "K", ndim=(2, 3))
    if K.shape[-1] != K.shape[-2]:
        raise ValueError(f"K must hold square matrices, got shape {tuple(K.shape)}")
    if kind == "log":
        if is_concrete(K) and np.any(np.asarray(K) <= 0):
            raise ValueError(f"kind='log' needs an entrywise positive K, got min entry {float(np.min(np.asarray(K))):.3g} "
                             "(is the graph connected? is the parameter in range?)")
        H = jnp.log(K)
        return _batched(lambda h: 0.5 * kernel_distance(h) ** 2, H)
    return _batched(lambda k: kernel_distance(k) ** 2, K)


def _batched(fn, K):
    return jax.vmap(fn)(K) if K.ndim == 3 else fn(K)


def heat_geodesic_distance(heat: Any, t: float, *, sigma: float = 1.0) -> jax.Array:
    """Heat-geodesic distance: Varadhan's estimate of geodesic distance from a heat kernel.

    On a ``d``-dimensional manifold ``h_t(x, y) ≈ (4πt)^{−d/2} exp(−ρ(x, y)² / 4t)`` for small ``t``, so
    ``ρ² ≈ −4t log h_t(x, y) − 2 d t log(4πt)``. The volume term is estimated from the diagonal,
    ``−2 d t log(4πt) ≈ 4t log h_t(x, x)``:

    ``d_ij² = −4t log h_ij + σ · 2t (log h_ii + log h_jj)``,

    so ``σ = 0`` is Varadhan's formula alone and ``σ = 1`` is ``4t`` times the logarithmic
    :func:`kernel_to_distance`.

    Parameters
    ----------
    heat
        ``(N, N)`` heat kernel ``exp(−t L)`` with positive entries.
    t
        The diffusion time used for ``heat``, ``> 0``.
    sigma
        Weight ``σ ≥ 0`` of the volume correction.

    Returns
    -------
    jax.Array
        ``(N, N)`` symmetric distances with a zero diagonal (negative squares clipped to 0).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> h = jnp.array([[0.5, 0.25], [0.25, 0.5]])
    >>> round(float(heat_geodesic_distance(h, 1.0)[0, 1]), 4)   # √(4 log 2)
    1.6651
    """
    check_positive(t, "t")
    check_positive(sigma, "sigma", allow_zero=True)
    heat = as_float_array(heat, "heat", ndim=2)
    if heat.shape[0] != heat.shape[1]:
        raise ValueError(f"heat must be square, got shape {tuple(heat.shape)}")
    if is_concrete(heat) and np.any(np.asarray(heat) <= 0):
        raise ValueError("heat must be entrywise positive (a connected graph and a moderate t); "
                         f"got min entry {float(np.min(np.asarray(heat))):.3g}")
    h = jnp.log(0.5 * (heat + heat.T))
    diag = jnp.diagonal(h)
    sq = -4.0 * t * h + sigma * 2.0 * t * (diag[:, None] + diag[None, :])
    dist = jnp.sqrt(jnp.clip(sq, 0.0, None))
    return dist.at[jnp.diag_indices(heat.shape[0])].set(0.0)
