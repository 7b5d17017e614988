"""Clustering with kernels: k-means and spectral k-means on a kernel matrix.

* :func:`kmeans` — Lloyd's algorithm from k-means++ seeds, best of several restarts (jitted, vmapped);
* :func:`spectral_kmeans` — k-means on the row-normalised top eigenvectors of a kernel matrix
  (Ng–Jordan–Weiss), e.g. a graph kernel or its random-feature estimate.

Score a clustering against the truth with :func:`sklearn.metrics.adjusted_rand_score` or
``ntkbook.learn.adjusted_rand_index``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive_int

__all__ = ["KMeansResult", "kmeans", "spectral_kmeans"]


class KMeansResult(NamedTuple):
    """``labels (n,)`` int32, ``centers (k, d)`` and ``inertia`` (sum of squared distances to the centres)."""

    labels: jax.Array
    centers: jax.Array
    inertia: jax.Array


def kmeans(key: jax.Array, x: Any, n_clusters: int, *, n_init: int = 10, iterations: int = 100) -> KMeansResult:
    """k-means clustering: ``n_init`` runs of Lloyd's algorithm from k-means++ seeds; the lowest inertia wins.

    Parameters
    ----------
    key
        PRNG key (seeding).
    x
        Points, shape ``(n, d)``.
    n_clusters
        ``k``, ``1 ≤ k ≤ n``.
    n_init
        Independent restarts.
    iterations
        Lloyd iterations per restart (a fixed count; a converged run stays put).

    Returns
    -------
    KMeansResult
        Labels, centres and inertia of the best restart. An empty cluster keeps its previous centre.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([[0.0], [0.1], [5.0], [5.2]])
    >>> res = kmeans(jax.random.key(0), x, 2)
    >>> bool(res.labels[0] == res.labels[1]) and bool(res.labels[2] == res.labels[3])
    True
    """
    x = as_float_array(x, "x", ndim=2)
    k = check_positive_int(n_clusters, "n_clusters")
    if k > x.shape[0]:
        raise ValueError(f"n_clusters must be at most the number of points ({x.shape[0]}), got {k}")
    n_init = check_positive_int(n_init, "n_init")
    iterations = check_positive_int(iterations, "iterations")
    return KMeansResult(*_kmeans(key, x, k, iterations, n_init))


def _sq_dist(x, c):
    return jnp.clip(jnp.sum(x * x, 1)[:, None] + jnp.sum(c * c, 1)[None, :] - 2.0 * x @ c.T, 0.0, None)


@jax.jit(static_argnums=(2, 3, 4))
def _kmeans(key, x, k, iterations, n_init):
    n = x.shape[0]

    def seed(key):  # k-means++: each new centre drawn with probability ∝ squared distance to the nearest
        key, first = jax.random.split(key)
        centers = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(x[jax.random.randint(first, (), 0, n)])

        def add(j, carry):
            centers, key = carry
            key, sub = jax.random.split(key)
            d2 = _sq_dist(x, centers)
            d2 = jnp.min(jnp.where(jnp.arange(k)[None, :] < j, d2, jnp.inf), axis=1)
            logits = jnp.where(d2 > 0, jnp.log(jnp.where(d2 > 0, d2, 1.0)), -jnp.inf)
            logits = jnp.where(jnp.all(d2 <= 0), 0.0, logits)
            pick = jax.random.categorical(sub, logits)
            return centers.at[j].set(x[pick]), key

        centers, _ = jax.lax.fori_loop(1, k, add, (centers, key))
        return centers

    def lloyd(centers):
        def step(_, centers):
            labels = jnp.argmin(_sq_dist(x, centers), axis=1)
            onehot = jax.nn.one_hot(labels, k, dtype=x.dtype)
            counts = onehot.sum(0)
            means = (onehot.T @ x) / jnp.where(counts > 0, counts, 1.0)[:, None]
            return jnp.where(counts[:, None] > 0, means, centers)

        centers = jax.lax.fori_loop(0, iterations, step, centers)
        d2 = _sq_dist(x, centers)
        labels = jnp.argmin(d2, axis=1)
        return labels.astype(jnp.int32), centers, jnp.sum(jnp.min(d2, axis=1))

    labels, centers, inertia = jax.vmap(lambda key: lloyd(seed(key)))(jax.random.split(key, n_init))
    best = jnp.argmin(inertia)
    return labels[best], centers[best], inertia[best]


def spectral_kmeans(key: jax.Array, kernel: Any, n_clusters: int, *, n_init: int = 10) -> jax.Array:
    """Spectral clustering of a kernel matrix: k-means on its top eigenvectors, rows scaled to unit length.

    The kernel is symmetrised, ``(K + Kᵀ) / 2``, so an unbiased but asymmetric random-feature estimate
    ``Φ Φ'ᵀ`` can be passed directly.

    Parameters
    ----------
    key
        PRNG key (k-means seeding).
    kernel
        ``(n, n)`` kernel (similarity) matrix.
    n_clusters
        Number of clusters ``k``; the ``k`` eigenvectors with the largest eigenvalues embed the points.
    n_init
        k-means restarts.

    Returns
    -------
    jax.Array
        ``(n,)`` int32 cluster labels.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> block = jnp.kron(jnp.eye(2), jnp.ones((3, 3))) + 0.01
    >>> spectral_kmeans(jax.random.key(0), block, 2).reshape(2, 3).std(axis=1).tolist()
    [0.0, 0.0]
    """
    K = as_float_array(kernel, "kernel", ndim=2)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"kernel must be square, got shape {tuple(K.shape)}")
    k = check_positive_int(n_clusters, "n_clusters")
    if k > K.shape[0]:
        raise ValueError(f"n_clusters must be at most the number of points ({K.shape[0]}), got {k}")
    n_init = check_positive_int(n_init, "n_init")
    return _spectral(key, K, k, n_init)


@jax.jit(static_argnums=(2, 3))
def _spectral(key, K, k, n_init):
    _, vecs = jnp.linalg.eigh(0.5 * (K + K.T))
    emb = vecs[:, ::-1][:, :k]
    norm = jnp.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb / jnp.where(norm > 0, norm, 1.0)
    return _kmeans(key, emb, k, 100, n_init)[0]
