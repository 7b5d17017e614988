"""Embeddings from distances and diffusion distances on graphs.

* :func:`classical_mds` — classical (Torgerson) multidimensional scaling: double-centre the squared
  distances, ``B = −½ J D² J``, and embed with the top eigenvectors of ``B`` scaled by ``√λ``;
* :func:`diffusion_map_distance` — the diffusion distance ``‖(P^t_{i·} − P^t_{j·}) / √π‖`` of the random
  walk ``P = D^{-1} A`` (diffusion maps), computed from the spectrum of ``D^{-1/2} A D^{-1/2}``;
* :func:`phate_potential_distance` — the potential distance ``‖log(P^t_{i·} + ε) − log(P^t_{j·} + ε)‖``
  of PHATE.

Dense ``O(N²)`` memory and ``O(N³)`` time (one symmetric eigendecomposition).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive, check_positive_int
from ..kernels.classic import _sq_dist
from ..kernels.graph import _check_adjacency, _dense

__all__ = ["classical_mds", "diffusion_map_distance", "phate_potential_distance"]


def classical_mds(distances: Any, dim: int = 2) -> jax.Array:
    """Classical multidimensional scaling of a distance matrix.

    With ``J = I − 11ᵀ/N`` and ``B = −½ J (D ∘ D) J`` (the Gram matrix of centred points when ``D`` is
    Euclidean), the embedding is ``Y = U_k diag(√λ_k)`` over the ``k = dim`` largest eigenvalues of ``B``
    (negative ones clipped to 0). A Euclidean ``D`` from points in ``R^dim`` is reproduced exactly,
    up to a rotation/reflection and translation.

    Parameters
    ----------
    distances
        ``(N, N)`` symmetric distances with a zero diagonal.
    dim
        Embedding dimension, ``1 ≤ dim ≤ N``.

    Returns
    -------
    jax.Array
        ``(N, dim)`` centred coordinates, columns ordered by decreasing eigenvalue.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> d = jnp.array([[0.0, 3.0, 5.0], [3.0, 0.0, 4.0], [5.0, 4.0, 0.0]])   # a 3-4-5 triangle
    >>> y = classical_mds(d, 2)
    >>> round(float(jnp.linalg.norm(y[0] - y[2])), 4)
    5.0
    """
    d = as_float_array(distances, "distances", ndim=2)
    if d.shape[0] != d.shape[1]:
        raise ValueError(f"distances must be square, got shape {tuple(d.shape)}")
    dim = check_positive_int(dim, "dim")
    if dim > d.shape[0]:
        raise ValueError(f"dim must be at most the number of points ({d.shape[0]}), got {dim}")
    return _classical_mds(d, dim)


@jax.jit(static_argnums=(1,))
def _classical_mds(d, dim):
    sq = (0.5 * (d + d.T)) ** 2
    b = -0.5 * (sq - sq.mean(0, keepdims=True) - sq.mean(1, keepdims=True) + sq.mean())
    lam, u = jnp.linalg.eigh(0.5 * (b + b.T))
    lam, u = lam[::-1][:dim], u[:, ::-1][:, :dim]
    return u * jnp.sqrt(jnp.clip(lam, 0.0, None))[None, :]


def _walk_matrix(adjacency: Any) -> tuple[jax.Array, jax.Array]:
    a = _dense(_check_adjacency(adjacency))
    deg = a.sum(axis=1)
    if bool(jnp.any(deg <= 0)):
        raise ValueError("adjacency must have no isolated nodes (every degree > 0) for a random walk")
    return a, deg


def _walk_spectrum(adjacency: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    a, deg = _walk_matrix(adjacency)
    s = a / jnp.sqrt(deg[:, None] * deg[None, :])
    lam, u = jnp.linalg.eigh(0.5 * (s + s.T))
    return lam, u, deg


def _check_steps(t: Any) -> tuple[tuple[int, ...], bool]:
    if isinstance(t, (list, tuple)):
        if not t:
            raise ValueError("t must be a positive integer or a non-empty sequence of them")
        return tuple(check_positive_int(v, "t") for v in t), False
    return (check_positive_int(t, "t"),), True


def diffusion_map_distance(adjacency: Any, t: int | Sequence[int]) -> jax.Array:
    """Diffusion distance after ``t`` steps of the random walk ``P = D^{-1} A``.

    ``D_t(i, j)² = Σ_k (P^t_{ik} − P^t_{jk})² / π_k`` with ``π_k = d_k / Σ d``. With
    ``D^{-1/2} A D^{-1/2} = U Λ Uᵀ`` and ``ψ = √vol · D^{-1/2} U``, this is the Euclidean distance between the
    diffusion-map coordinates ``Λ^t ψ_i`` (all eigenvectors kept).

    Parameters
    ----------
    adjacency
        ``(N, N)`` symmetric non-negative adjacency without isolated nodes (dense, ``scipy.sparse`` or
        BCOO).
    t
        Number of steps, a positive integer, or a sequence of them (one eigendecomposition for all).

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)`` for ``P`` step counts) symmetric distances with a zero diagonal.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[1.0, 1.0], [1.0, 1.0]])   # P = [[½, ½], [½, ½]]: one step mixes fully
    >>> round(float(diffusion_map_distance(edge, 1)[0, 1]), 6)
    0.0
    """
    steps, single = _check_steps(t)
    lam, u, deg = _walk_spectrum(adjacency)
    out = _diffusion_distances(lam, u, deg, steps)
    return out[0] if single else out


@jax.jit(static_argnums=(3,))
def _diffusion_distances(lam, u, deg, steps):
    def one(t):
        coords = jnp.sqrt(deg.sum()) * u / jnp.sqrt(deg)[:, None] * lam[None, :] ** t
        return _euclidean(coords)

    return jnp.stack([one(t) for t in steps])


def _euclidean(z):
    # the kernels' squared distances: centred, clamped at zero, exact zero diagonal
    return jnp.sqrt(_sq_dist(z, None))


def phate_potential_distance(adjacency: Any, t: int | Sequence[int], *, eps: float = 1e-7) -> jax.Array:
    """PHATE potential distance ``‖log(P^t_{i·} + ε) − log(P^t_{j·} + ε)‖₂`` of the walk ``P = D^{-1} A``.

    Parameters
    ----------
    adjacency
        ``(N, N)`` symmetric non-negative adjacency without isolated nodes (dense, ``scipy.sparse`` or
        BCOO).
    t
        Number of steps, a positive integer, or a sequence of them.
    eps
        Offset inside the logarithm, ``> 0``.

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)``) symmetric distances with a zero diagonal.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> path = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    >>> d = phate_potential_distance(path, 2)
    >>> bool(d[0, 2] < 1e-6), bool(d[0, 1] > 1.0)   # the two ends have the same 2-step distribution
    (True, True)
    """
    steps, single = _check_steps(t)
    check_positive(eps, "eps")
    a, deg = _walk_matrix(adjacency)
    out = _potential_distances(a / deg[:, None], steps, float(eps))
    return out[0] if single else out


@jax.jit(static_argnums=(1, 2))
def _potential_distances(p, steps, eps):
    # products of non-negative matrices: entries that are exactly zero stay zero (no round-off under the log)
    return jnp.stack([_euclidean(jnp.log(jnp.clip(jnp.linalg.matrix_power(p, t), 0.0, None) + eps))
                      for t in steps])
