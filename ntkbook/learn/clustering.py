"""Clustering from a distance matrix and scores for a clustering against known classes.

* :func:`ward_clustering` — agglomerative clustering with Ward's criterion on a distance matrix
  (Lance–Williams updates of the squared distances, as ``scipy.cluster.hierarchy.linkage(method="ward")``),
  cut at ``k`` clusters; batched over a leading axis and jit-friendly;
* :func:`adjusted_rand_index` — Hubert and Arabie's adjusted Rand index of two labelings;
* :func:`separation_auc` — the ROC-AUC with which a distance separates inter-class from intra-class pairs
  (the probability that a random inter-class pair is farther apart than a random intra-class pair).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_int, is_concrete

__all__ = ["ward_clustering", "adjusted_rand_index", "separation_auc"]


def _square(d: jax.Array, name: str) -> None:
    if d.shape[-1] != d.shape[-2]:
        raise ValueError(f"{name} must hold square matrices, got shape {tuple(d.shape)}")


def _labels(x: Any, name: str) -> jax.Array:
    arr = jnp.asarray(x)
    if arr.ndim < 1 or not (jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == jnp.bool_):
        raise ValueError(f"{name} must be an integer array of labels, got dtype {arr.dtype} and shape {arr.shape}")
    if is_concrete(arr) and np.any(np.asarray(arr) < 0):
        raise ValueError(f"{name} must hold non-negative labels")
    return arr.astype(jnp.int32)


def ward_clustering(distances: Any, n_clusters: int) -> jax.Array:
    """Ward agglomerative clustering of a distance matrix, cut at ``n_clusters`` clusters.

    Start from singletons; repeatedly merge the two clusters ``a, b`` with the smallest Ward distance and
    update the squared distances to every other cluster ``c`` by Lance–Williams:

    ``d²(a∪b, c) = ((n_a + n_c) d²(a, c) + (n_b + n_c) d²(b, c) − n_c d²(a, b)) / (n_a + n_b + n_c)``.

    For Euclidean distances this is Ward's minimum-variance method (it merges the pair whose union
    increases the within-cluster sum of squares least). Ties go to the lowest index.

    Parameters
    ----------
    distances
        ``(N, N)`` or ``(B, N, N)`` symmetric non-negative distances (not squared).
    n_clusters
        Number of clusters ``1 ≤ k ≤ N``.

    Returns
    -------
    jax.Array
        ``(N,)`` or ``(B, N)`` int32 labels in ``0 … k−1``, numbered by the smallest member.

    Notes
    -----
    ``N − k`` merges; a nearest-neighbour list is kept and only rows whose neighbour was merged are
    searched again, so a merge costs ``O(N)`` plus ``O(N)`` per such row (``O(N³)`` in the worst case);
    ``O(N²)`` memory per matrix.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([0.0, 0.1, 0.2, 5.0, 5.1])
    >>> ward_clustering(jnp.abs(x[:, None] - x[None, :]), 2).tolist()
    [0, 0, 0, 1, 1]
    """
    d = as_float_array(distances, "distances", ndim=(2, 3))
    _square(d, "distances")
    n = d.shape[-1]
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if n_clusters > n:
        raise ValueError(f"n_clusters must be at most the number of points ({n}), got {n_clusters}")
    if is_concrete(d) and np.any(np.asarray(d) < 0):
        raise ValueError("distances must be non-negative")
    if d.ndim == 3:
        return jax.vmap(_ward, in_axes=(0, None))(d, n_clusters)
    return _ward(d, n_clusters)


@jax.jit(static_argnums=(1,))
def _ward(d, n_clusters):
    n = d.shape[0]
    idx = jnp.arange(n)
    inf = jnp.asarray(jnp.inf, d.dtype)
    d2 = jnp.where(jnp.eye(n, dtype=bool), inf, (0.5 * (d + d.T)) ** 2)
    # nearest neighbour of every row (lowest index on ties, as an argmin over the whole matrix)
    nn_dist, nn_idx = jnp.min(d2, axis=1), jnp.argmin(d2, axis=1)

    def refresh(state):
        d2, nn_dist, nn_idx, need = state
        k = jnp.argmax(need)
        row = d2[k]
        return d2, nn_dist.at[k].set(jnp.min(row)), nn_idx.at[k].set(jnp.argmin(row)), need.at[k].set(False)

    def merge(_, state):
        d2, size, assign, nn_dist, nn_idx = state
        r = jnp.argmin(nn_dist)
        c = nn_idx[r]
        a, b = jnp.minimum(r, c), jnp.maximum(r, c)           # keep a, drop b
        na, nb = size[a], size[b]
        new = ((na + size) * d2[a] + (nb + size) * d2[b] - size * d2[a, b]) / (na + nb + size)
        alive = jnp.isfinite(d2[a]) & jnp.isfinite(d2[b])     # other clusters still in play
        new = jnp.where(alive & (idx != a) & (idx != b), new, inf)
        d2 = d2.at[a, :].set(new).at[:, a].set(new)
        d2 = d2.at[b, :].set(inf).at[:, b].set(inf)
        size = size.at[a].set(na + nb).at[b].set(0.0)
        assign = jnp.where(assign == b, a, assign)
        # Ward's update is reducible (d(a∪b, k) ≥ min(d(a, k), d(b, k))): only rows whose nearest neighbour
        # was a or b, and row a itself, need a new search; the others can only gain a as a tie or closer
        closer = (new < nn_dist) | ((new == nn_dist) & (a < nn_idx))
        nn_dist = jnp.where(closer, new, nn_dist)
        nn_idx = jnp.where(closer, a, nn_idx)
        need = ((nn_idx == a) | (nn_idx == b) | (idx == a)) & jnp.isfinite(new.at[a].set(0.0)) & (idx != b)
        nn_dist = nn_dist.at[b].set(inf)
        d2, nn_dist, nn_idx, _ = jax.lax.while_loop(lambda st: jnp.any(st[3]), refresh,
                                                    (d2, nn_dist, nn_idx, need))
        return d2, size, assign, nn_dist, nn_idx

    init = (d2, jnp.ones(n, d.dtype), idx, nn_dist, nn_idx)
    _, _, assign, _, _ = jax.lax.fori_loop(0, n - n_clusters, merge, init)
    # relabel the representatives (each the smallest member of its cluster) as 0 … k−1
    present = jnp.zeros(n, jnp.int32).at[assign].set(1)
    return (jnp.cumsum(present) - 1)[assign].astype(jnp.int32)


def adjusted_rand_index(labels_true: Any, labels_pred: Any) -> jax.Array:
    """Adjusted Rand index (Hubert–Arabie) between two labelings of the same items.

    ``ARI = (Σ_ij C(n_ij, 2) − E) / (½(Σ_i C(a_i, 2) + Σ_j C(b_j, 2)) − E)`` with
    ``E = Σ_i C(a_i, 2) Σ_j C(b_j, 2) / C(n, 2)``, from the contingency table ``n_ij`` and its margins
    ``a, b``; 1 for identical partitions (up to renaming), about 0 for independent ones. When both
    labelings are trivial (the denominator is 0) the result is 1, as in scikit-learn.

    Parameters
    ----------
    labels_true, labels_pred
        ``(N,)`` (or ``(B, N)``, batched) non-negative integer labels below ``N``.

    Returns
    -------
    jax.Array
        Scalar (or ``(B,)``) in ``[−1, 1]``.

    Examples
    --------
    >>> float(adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]))
    1.0
    >>> round(float(adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1])), 4)
    -0.5
    """
    a = _labels(labels_true, "labels_true")
    b = _labels(labels_pred, "labels_pred")
    if a.shape != b.shape:
        raise ValueError(f"labels_true and labels_pred must have the same shape, got {a.shape} and {b.shape}")
    if a.ndim > 2:
        raise ValueError(f"labels must be (N,) or (B, N), got shape {a.shape}")
    n = a.shape[-1]
    if is_concrete(a) and is_concrete(b) and (np.max(np.asarray(a)) >= n or np.max(np.asarray(b)) >= n):
        raise ValueError(f"labels must lie in 0 … N−1 = {n - 1}")
    return jax.vmap(_ari)(a, b) if a.ndim == 2 else _ari(a, b)


@jax.jit
def _ari(a, b):
    n = a.shape[0]
    ft = jnp.result_type(float)
    oa = jax.nn.one_hot(a, n, dtype=ft)
    ob = jax.nn.one_hot(b, n, dtype=ft)
    table = oa.T @ ob
    pairs = lambda x: jnp.sum(x * (x - 1.0)) / 2.0
    index, sa, sb = pairs(table), pairs(oa.sum(0)), pairs(ob.sum(0))
    expected = sa * sb / (n * (n - 1) / 2.0)
    denom = 0.5 * (sa + sb) - expected
    return jnp.where(denom == 0, 1.0, (index - expected) / jnp.where(denom == 0, 1.0, denom))


def separation_auc(distances: Any, labels: Any) -> jax.Array:
    """ROC-AUC of the distances for telling inter-class from intra-class pairs.

    Over the pairs ``i < j``, the probability that a random inter-class pair has a larger distance than
    a random intra-class pair, ties counting ½ (the Mann–Whitney statistic with mid-ranks). 1 means every
    inter-class distance exceeds every intra-class one; 0.5 is chance.

    Parameters
    ----------
    distances
        ``(N, N)`` or ``(B, N, N)`` symmetric distances.
    labels
        ``(N,)`` integer class labels with at least two classes and one class of size ≥ 2.

    Returns
    -------
    jax.Array
        Scalar (or ``(B,)``) in ``[0, 1]``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([0.0, 1.0, 10.0, 11.0])
    >>> float(separation_auc(jnp.abs(x[:, None] - x[None, :]), jnp.array([0, 0, 1, 1])))
    1.0
    """
    d = as_float_array(distances, "distances", ndim=(2, 3))
    _square(d, "distances")
    y = _labels(labels, "labels")
    if y.shape != (d.shape[-1],):
        raise ValueError(f"labels must have shape ({d.shape[-1]},), got {tuple(y.shape)}")
    if is_concrete(y):
        yy = np.asarray(y)
        same = (yy[:, None] == yy[None, :])[np.triu_indices(len(yy), 1)]
        if same.all() or not same.any():
            raise ValueError("labels must give both intra-class and inter-class pairs")
    return jax.vmap(_auc, in_axes=(0, None))(d, y) if d.ndim == 3 else _auc(d, y)


@jax.jit
def _auc(d, y):
    n = d.shape[0]
    iu = jnp.triu_indices(n, 1)
    v = 0.5 * (d + d.T)[iu]
    inter = (y[:, None] != y[None, :])[iu]
    s = jnp.sort(v)
    ranks = 0.5 * (jnp.searchsorted(s, v, side="left") + jnp.searchsorted(s, v, side="right") + 1.0)
    n_inter = jnp.sum(inter)
    n_intra = v.shape[0] - n_inter
    u = jnp.sum(jnp.where(inter, ranks, 0.0)) - n_inter * (n_inter + 1) / 2.0
    return (u / (n_inter * n_intra)).astype(d.dtype)
