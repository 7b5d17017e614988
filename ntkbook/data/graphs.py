"""Random and data-driven graphs: stochastic block models and k-nearest-neighbour graphs.

Both return a symmetric, non-negative adjacency matrix with a zero diagonal, ready for
:mod:`ntkbook.kernels.graph`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int
from ._common import check_key, float_dtype

__all__ = ["BlockModelGraph", "stochastic_block_model", "knn_graph"]


class BlockModelGraph(NamedTuple):
    """A stochastic-block-model draw: ``adjacency (N, N)`` (0/1 floats) and ``labels (N,)`` (block ids)."""

    adjacency: jax.Array
    labels: jax.Array


def stochastic_block_model(key: jax.Array, sizes: Sequence[int], probabilities: Any) -> BlockModelGraph:
    """Draw an undirected graph from a stochastic block model.

    Nodes ``0 … N−1`` are split into consecutive blocks of the given sizes; nodes ``i < j`` in blocks
    ``a`` and ``b`` are joined independently with probability ``P[a, b]``. No self-loops.

    Parameters
    ----------
    key
        PRNG key.
    sizes
        Block sizes (positive integers).
    probabilities
        ``(B, B)`` symmetric matrix of edge probabilities in ``[0, 1]``, or a pair ``(p_in, p_out)`` for
        the planted-partition model (``p_in`` on the diagonal, ``p_out`` elsewhere).

    Returns
    -------
    BlockModelGraph
        ``adjacency (N, N)`` in the default float dtype and ``labels (N,)`` (int32 block ids).

    Examples
    --------
    >>> import jax
    >>> g = stochastic_block_model(jax.random.key(0), [3, 2], (1.0, 0.0))
    >>> g.adjacency.astype(int).tolist()
    [[0, 1, 1, 0, 0], [1, 0, 1, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0]]
    >>> g.labels.tolist()
    [0, 0, 0, 1, 1]
    """
    key = check_key(key)
    try:
        sizes = [check_positive_int(s, "sizes entries") for s in sizes]
    except TypeError:
        raise ValueError(f"sizes must be a sequence of positive integers, got {sizes!r}") from None
    if not sizes:
        raise ValueError("sizes must hold at least one block")
    n_blocks = len(sizes)
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape == (2,):
        p = np.where(np.eye(n_blocks, dtype=bool), p[0], p[1])
    if p.shape != (n_blocks, n_blocks):
        raise ValueError(f"probabilities must be ({n_blocks}, {n_blocks}) or a pair (p_in, p_out), "
                         f"got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    if not np.allclose(p, p.T):
        raise ValueError("probabilities must be a symmetric matrix")
    labels = jnp.asarray(np.repeat(np.arange(n_blocks), sizes), jnp.int32)
    return BlockModelGraph(_sbm(key, labels, jnp.asarray(p, float_dtype())), labels)


@jax.jit
def _sbm(key, labels, p):
    n = labels.shape[0]
    prob = p[labels[:, None], labels[None, :]]
    upper = jnp.triu(jax.random.uniform(key, (n, n), p.dtype) < prob, k=1)
    return (upper | upper.T).astype(p.dtype)


def knn_graph(x: Any, k: int, *, mode: str = "union", bandwidth: float | None = None) -> jax.Array:
    """Symmetric k-nearest-neighbour graph of points (Euclidean distance).

    Parameters
    ----------
    x
        Points, shape ``(N, d)``.
    k
        Neighbours per point, ``1 ≤ k < N`` (the point itself is excluded).
    mode
        ``"union"``: ``i ~ j`` if either is among the other's ``k`` nearest neighbours;
        ``"mutual"``: if both are.
    bandwidth
        ``None``: unit weights; otherwise Gaussian weights ``exp(−‖x_i − x_j‖² / (2 h²))``.

    Returns
    -------
    jax.Array
        ``(N, N)`` symmetric adjacency with a zero diagonal, in the dtype of ``x``. Ties in distance are
        broken by index.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> knn_graph(jnp.array([[0.0], [1.0], [3.0], [7.0]]), 1).astype(int).tolist()
    [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    """
    x = as_float_array(x, "x", ndim=2)
    k = check_positive_int(k, "k")
    if k >= x.shape[0]:
        raise ValueError(f"k must be smaller than the number of points ({x.shape[0]}), got {k}")
    if mode not in ("union", "mutual"):
        raise ValueError(f"mode must be 'union' or 'mutual', got {mode!r}")
    if bandwidth is not None:
        check_positive(bandwidth, "bandwidth")
    return _knn(x, k, mode == "mutual", None if bandwidth is None else float(bandwidth))


@jax.jit(static_argnums=(1, 2, 3))
def _knn(x, k, mutual, bandwidth):
    n = x.shape[0]
    sq = jnp.sum(x * x, axis=1)
    d2 = jnp.clip(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0, None)
    d2 = d2.at[jnp.diag_indices(n)].set(jnp.inf)
    _, idx = jax.lax.top_k(-d2, k)
    chosen = jnp.zeros((n, n), bool).at[jnp.arange(n)[:, None], idx].set(True)
    edges = (chosen & chosen.T) if mutual else (chosen | chosen.T)
    if bandwidth is None:
        weights = jnp.ones_like(d2)
    else:
        weights = jnp.exp(-jnp.where(jnp.isinf(d2), 0.0, d2) / (2.0 * bandwidth ** 2))
    return jnp.where(edges, weights, 0.0).astype(x.dtype)
