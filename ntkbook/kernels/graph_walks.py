"""Sparse graph random features: the random-walk loads behind :func:`~ntkbook.kernels.graph_random_features`.

:func:`graph_random_features` returns the dense ``(N, N)`` feature matrix for one fixed modulation.
:func:`graph_walk_loads` keeps the walks themselves: every deposit of every walk as a
``(start node, visited node, step k, load)`` record, built from the neighbour lists of a sparse adjacency.
That gives

* features in ``O(N · n_walks · max_length)`` time and memory, without any ``(N, N)`` array (the
  sub-quadratic cost that makes graph random features useful on large graphs);
* features for *any* modulation ``f`` from one set of walks, since ``Φ(f) = Σ_k f_k Ψ_k`` is linear in
  ``f`` — so ``f`` can be learned by gradient descent (:meth:`GraphWalkLoads.features` is differentiable
  in ``f``).

A walk from ``i`` that reaches ``v`` after ``k`` steps along edges ``e_1 … e_k`` carries the
importance-sampling load ``Π_l W_{e_l} · deg(v_{l−1}) / (1 − p_halt)`` (``deg`` = number of neighbours),
so that ``E[Σ_k f_k Ψ_k] = Σ_k f_k W^k`` (up to ``max_length``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int

__all__ = ["GraphWalkLoads", "graph_walk_loads"]


class GraphWalkLoads(NamedTuple):
    """All deposits of a set of graph random walks (see :func:`graph_walk_loads`).

    ``rows``, ``cols``, ``steps`` (int32) and ``loads`` all have length ``N + N · n_walks · max_length``:
    deposit ``s`` adds ``f[steps[s]] · loads[s]`` to feature ``Φ[rows[s], cols[s]]``. ``loads`` already
    include the ``1 / n_walks`` average; dead walks deposit zero.
    """

    rows: jax.Array
    cols: jax.Array
    steps: jax.Array
    loads: jax.Array
    num_nodes: int
    max_length: int

    def features(self, modulation: Sequence[float] | Any, *, sparse: bool = False) -> Any:
        """Features ``Φ(f) = Σ_k f_k Ψ_k`` for a modulation ``f_0 … f_K`` (missing entries count as 0).

        Parameters
        ----------
        modulation
            ``(K + 1,)`` values ``f_k`` (may be traced: the result is differentiable in ``f``).
        sparse
            Return a ``jax.experimental.sparse.BCOO`` matrix (duplicate entries summed on use) instead of
            a dense ``(N, N)`` array.

        Returns
        -------
        jax.Array or BCOO
            ``(N, N)`` features; row ``i`` estimates row ``i`` of ``Σ_k f_k W^k``.

        Examples
        --------
        >>> import jax, jax.numpy as jnp
        >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
        >>> walks = graph_walk_loads(jax.random.key(0), edge, n_walks=4, p_halt=0.5, max_length=1)
        >>> walks.features([1.0, 0.0]).tolist()  # f = (1, 0): the identity
        [[1.0, 0.0], [0.0, 1.0]]
        """
        f = jnp.asarray(modulation)
        if f.ndim != 1 or f.shape[0] == 0:
            raise ValueError(f"modulation must be a non-empty 1-D sequence, got shape {tuple(f.shape)}")
        f = jnp.concatenate([f, jnp.zeros(max(0, self.max_length + 1 - f.shape[0]), f.dtype)])
        n = self.num_nodes
        if sparse:
            from jax.experimental import sparse as jsparse

            values = f[self.steps].astype(self.loads.dtype) * self.loads
            indices = jnp.stack([self.rows, self.cols], axis=1)
            return jsparse.BCOO((values, indices), shape=(n, n))
        return _dense_features(f, self.steps, self.loads, self.rows, self.cols, n)


@jax.jit(static_argnums=(5,))
def _dense_features(f, steps, loads, rows, cols, n):
    values = f[steps].astype(loads.dtype) * loads
    return jnp.zeros((n, n), values.dtype).at[rows, cols].add(values)


def _neighbour_table(adjacency: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Padded neighbour lists ``(N, max_degree)`` (indices, weights), neighbour counts, N."""
    import scipy.sparse as sp

    try:
        from jax.experimental import sparse as jsparse

        if isinstance(adjacency, jsparse.BCOO):
            adjacency = sp.csr_matrix((np.asarray(adjacency.data), tuple(np.asarray(adjacency.indices).T)),
                                      shape=adjacency.shape)
    except ImportError:  # pragma: no cover
        pass
    if sp.issparse(adjacency):
        a = sp.csr_matrix(adjacency, dtype=np.result_type(adjacency.dtype, np.float32))
    else:
        dense = np.asarray(as_float_array(adjacency, "adjacency", ndim=2))
        a = sp.csr_matrix(dense)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"adjacency must be a non-empty square matrix, got shape {a.shape}")
    a.sum_duplicates()
    a.eliminate_zeros()
    a.sort_indices()
    if not np.all(np.isfinite(a.data)):
        raise ValueError("adjacency contains NaN or inf")
    if np.any(a.data < 0):
        raise ValueError(f"adjacency must have non-negative weights, got {a.data.min()}")
    asym = abs(a - a.T)
    if asym.nnz and asym.max() > 1e-6 * max(abs(a).max(), 1e-30):
        raise ValueError("adjacency must be symmetric (an undirected graph)")
    n = a.shape[0]
    counts = np.diff(a.indptr)
    width = max(1, int(counts.max()))
    slot = np.arange(a.nnz) - np.repeat(a.indptr[:-1], counts)
    row = np.repeat(np.arange(n), counts)
    idx = np.zeros((n, width), np.int32)
    idx[row, slot] = a.indices
    w = np.zeros((n, width), a.dtype)
    w[row, slot] = a.data
    return idx, w, counts.astype(np.int32), n


def graph_walk_loads(key: jax.Array, adjacency: Any, *, n_walks: int, p_halt: float,
                     max_length: int) -> GraphWalkLoads:
    """Run ``n_walks`` halting random walks from every node and record every importance-weighted deposit.

    Each walk stops before each step with probability ``p_halt`` (and at a node without neighbours, and
    after ``max_length`` steps); otherwise it moves to a uniformly chosen neighbour. Feature matrices for
    any modulation follow from :meth:`GraphWalkLoads.features`; two independent draws ``Φ, Φ'`` give
    ``E[Φ(f) Φ'(f)ᵀ] = Σ_k (f * f)_k W^k`` (see :func:`~ntkbook.kernels.grf_modulation`).

    Parameters
    ----------
    key
        PRNG key.
    adjacency
        ``(N, N)`` weighted adjacency ``W``: dense, ``scipy.sparse`` or ``jax.experimental.sparse.BCOO``
        (symmetric, non-negative). Only its neighbour lists are used: no ``(N, N)`` array is formed.
    n_walks
        Walks per node ``m``.
    p_halt
        Halting probability per step, in ``(0, 1)``.
    max_length
        Largest number of steps ``K``.

    Returns
    -------
    GraphWalkLoads
        ``N + N · m · K`` deposits.

    Notes
    -----
    Time and memory ``O(nnz(W) + N · max_degree + N · m · K)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> ring = jnp.roll(jnp.eye(6), 1, axis=1) + jnp.roll(jnp.eye(6), -1, axis=1)
    >>> walks = graph_walk_loads(jax.random.key(0), ring, n_walks=8, p_halt=0.5, max_length=3)
    >>> walks.loads.shape  # 6 start deposits + 6 · 8 walks · 3 steps
    (150,)
    >>> walks.features([1.0, 0.5, 0.25, 0.125]).shape
    (6, 6)
    """
    n_walks = check_positive_int(n_walks, "n_walks")
    max_length = check_positive_int(max_length, "max_length")
    check_positive(p_halt, "p_halt")
    if p_halt >= 1:
        raise ValueError(f"p_halt must lie in (0, 1), got {p_halt}")
    idx, w, counts, n = _neighbour_table(adjacency)
    dtype = jnp.result_type(float) if w.dtype == np.float64 else jnp.float32
    rows, cols, steps, loads = _walks(key, jnp.asarray(idx), jnp.asarray(w, dtype), jnp.asarray(counts),
                                      n_walks, float(p_halt), max_length)
    return GraphWalkLoads(rows, cols, steps, loads, n, max_length)


@jax.jit(static_argnums=(4, 5, 6))
def _walks(key, idx, w, counts, n_walks, p_halt, max_length):
    n, width = idx.shape
    start = jnp.repeat(jnp.arange(n, dtype=jnp.int32), n_walks)

    def step(carry, _):
        node, load, alive, key = carry
        key, k_move, k_halt = jax.random.split(key, 3)
        count = counts[node]
        alive = alive & (count > 0) & (jax.random.uniform(k_halt, node.shape) >= p_halt)
        slot = jnp.clip(jnp.floor(jax.random.uniform(k_move, node.shape) * count).astype(jnp.int32), 0, width - 1)
        nxt = jnp.where(alive, idx[node, slot], node)
        load = jnp.where(alive, load * w[node, slot] * count / (1.0 - p_halt), 0.0)
        return (nxt, load, alive, key), (nxt, load / n_walks)

    init = (start, jnp.ones(start.shape, w.dtype), jnp.ones(start.shape, bool), key)
    _, (visited, deposits) = jax.lax.scan(step, init, None, length=max_length)
    diag = jnp.arange(n, dtype=jnp.int32)
    rows = jnp.concatenate([diag, jnp.tile(start, max_length)])
    cols = jnp.concatenate([diag, visited.reshape(-1)])
    steps = jnp.concatenate([jnp.zeros(n, jnp.int32),
                             jnp.repeat(jnp.arange(1, max_length + 1, dtype=jnp.int32), n * n_walks)])
    loads = jnp.concatenate([jnp.ones(n, w.dtype), deposits.reshape(-1)])
    return rows, cols, steps, loads
