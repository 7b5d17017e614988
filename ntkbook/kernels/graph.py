"""Kernels on the nodes of a graph: Laplacians, their spectral kernels, and graph random features.

A weighted undirected graph on ``N`` nodes is given by its adjacency matrix ``A`` (symmetric,
non-negative, ``(N, N)``), as a dense array, a ``scipy.sparse`` matrix or a
``jax.experimental.sparse.BCOO`` matrix. With degrees ``d = A 1`` and ``D = diag(d)``:

* :func:`laplacian` — ``L = D − A`` (combinatorial) or ``L = I − D^{-1/2} A D^{-1/2}`` (symmetric
  normalised; an isolated node gets a zero row, as in NetworkX);
* :func:`heat_kernel` — the diffusion kernel ``exp(−t L)``;
* :func:`heat_kernel_chebyshev` — ``exp(−t L)`` (or its action on vectors) by a Chebyshev expansion of
  order ``K``: ``K`` sparse matrix products, the graph is never densified;
* :func:`regularized_laplacian_kernel` — ``(I + σ² L)^{-1}``;
* :func:`commute_time_kernel` — ``L⁺``, whose kernel distance squared times ``vol(G) = Σ_i d_i`` is the
  expected commute time of a random walk;
* :func:`pagerank_kernel` — the personalised-PageRank kernel ``α (I − (1 − α) D^{-1/2} A D^{-1/2})^{-1}``,
  the symmetrised matrix of PageRank vectors with teleport probability ``α``;
* :func:`kernel_distance` — ``√(K_ii + K_jj − 2 K_ij)``;
* :func:`graph_random_features` / :func:`grf_modulation` — unbiased random-walk estimates of
  ``Σ_k f_k W^k`` (graph random features with a modulation function ``f``), whose inner products
  estimate ``Σ_k α_k W^k`` when ``f * f = α``.

The spectral kernels are dense ``(N, N)`` matrices computed from one symmetric eigendecomposition (or a
solve); a sparse adjacency is accepted and densified for them. Memory ``O(N²)``, time ``O(N³)``.
:func:`heat_kernel_chebyshev` needs ``O(K · nnz(A) · m)`` time for ``m`` vectors.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int

__all__ = ["laplacian", "heat_kernel", "heat_kernel_chebyshev", "regularized_laplacian_kernel", "commute_time_kernel",
           "pagerank_kernel", "kernel_distance", "graph_random_features", "grf_modulation"]


# ----------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------

def _is_sparse(a: Any) -> bool:
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return sp.issparse(a)


def _is_bcoo(a: Any) -> bool:
    from jax.experimental import sparse as jsparse

    return isinstance(a, jsparse.BCOO)


def _bcoo_to_scipy(a: Any, name: str) -> Any:
    import scipy.sparse as sp

    if a.ndim != 2 or a.n_batch or a.n_dense:
        raise ValueError(f"{name} must be a 2-D BCOO matrix without batch or dense dimensions, got shape {a.shape}")
    try:
        data, idx = np.asarray(a.data), np.asarray(a.indices)
    except Exception:
        raise ValueError(f"{name}: a BCOO adjacency must be concrete (not traced inside jit)") from None
    # padding entries of a BCOO matrix carry out-of-range indices: drop them; duplicates are summed
    keep = np.all((idx >= 0) & (idx < np.asarray(a.shape)), axis=1)
    return sp.csr_matrix((data[keep], (idx[keep, 0], idx[keep, 1])), shape=a.shape)


def _check_adjacency(a: Any, name: str = "adjacency") -> Any:
    """Validated adjacency: a float ``scipy.sparse`` CSR matrix (also for BCOO input) or a dense JAX array."""
    if _is_bcoo(a):
        a = _bcoo_to_scipy(a, name)
    if _is_sparse(a):
        a = a.tocsr().astype(np.result_type(a.dtype, np.float32))
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"{name} must be a square matrix, got shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"{name} must have at least one node")
        data = a.data
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{name} contains NaN or inf")
        if np.any(data < 0):
            raise ValueError(f"{name} must have non-negative weights, got {data.min()}")
        asym = abs(a - a.T)
        if asym.nnz and asym.max() > 1e-6 * max(abs(a).max(), 1e-30):
            raise ValueError(f"{name} must be symmetric (an undirected graph)")
        return a
    a = as_float_array(a, name, ndim=2)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(a.shape)}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} must have at least one node")
    try:
        values = np.asarray(a, dtype=np.float64)
    except Exception:  # traced: no value checks
        return a
    if np.any(values < 0):
        raise ValueError(f"{name} must have non-negative weights, got {values.min()}")
    scale = max(np.abs(values).max(), 1e-30)
    if np.abs(values - values.T).max() > 1e-6 * scale:
        raise ValueError(f"{name} must be symmetric (an undirected graph)")
    return a


def _dense(a: Any) -> jax.Array:
    return jnp.asarray(a.toarray()) if _is_sparse(a) else a



# ----------------------------------------------------------------------------------------------------
# Laplacians
# ----------------------------------------------------------------------------------------------------

def laplacian(adjacency: Any, *, normalized: bool = False) -> Any:
    """Graph Laplacian of a weighted undirected graph.

    Parameters
    ----------
    adjacency
        ``(N, N)`` symmetric matrix of non-negative edge weights: a dense array, a ``scipy.sparse``
        matrix (then the result is a ``scipy.sparse`` CSR matrix too) or a ``jax.experimental.sparse.BCOO``
        matrix (then the result is a BCOO matrix). Self-loops count in the degree.
    normalized
        ``False``: ``L = D − A``; ``True``: ``L = I − D^{-1/2} A D^{-1/2}``, with a zero row and
        column for an isolated node (degree 0).

    Returns
    -------
    jax.Array, scipy.sparse.csr_matrix or BCOO
        ``(N, N)``, symmetric positive semi-definite; the normalised one has eigenvalues in ``[0, 2]``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> path = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    >>> laplacian(path).tolist()
    [[1.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 1.0]]
    """
    a = _check_adjacency(adjacency)
    if _is_sparse(a):
        import scipy.sparse as sp

        deg = np.asarray(a.sum(axis=1)).ravel()
        if not normalized:
            lap = (sp.diags(deg) - a).tocsr()
        else:
            inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0).astype(a.dtype)
            scaled = sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)
            lap = (sp.diags((deg > 0).astype(a.dtype)) - scaled).tocsr()
        if _is_bcoo(adjacency):
            from jax.experimental import sparse as jsparse

            return jsparse.BCOO.from_scipy_sparse(lap)
        return lap
    return _dense_laplacian(a, normalized)


def _dense_laplacian(a: jax.Array, normalized: bool) -> jax.Array:
    deg = a.sum(axis=1)
    if not normalized:
        return jnp.diag(deg) - a
    positive = deg > 0
    inv_sqrt = jnp.where(positive, 1.0 / jnp.sqrt(jnp.where(positive, deg, 1.0)), 0.0)
    return jnp.diag(positive.astype(a.dtype)) - inv_sqrt[:, None] * a * inv_sqrt[None, :]


def _spectrum(adjacency: Any, normalized: bool) -> tuple[jax.Array, jax.Array]:
    a = _dense(_check_adjacency(adjacency))
    lap = _dense_laplacian(a, normalized)
    lam, u = jnp.linalg.eigh(0.5 * (lap + lap.T))
    return jnp.clip(lam, 0.0, None), u


def _from_spectrum(lam: jax.Array, u: jax.Array, values: jax.Array) -> jax.Array:
    if values.ndim == 2:  # one kernel per row of values (a parameter grid): (P, N, N)
        k = jnp.einsum("ik,pk,jk->pij", u, values, u)
        return 0.5 * (k + jnp.swapaxes(k, -1, -2))
    k = (u * values[None, :]) @ u.T
    return 0.5 * (k + k.T)


def _parameter(value: Any, name: str, dtype: Any) -> jax.Array:
    """A positive scalar or 1-D grid of kernel parameters, shaped to broadcast against the spectrum."""
    check_positive(value, name)
    v = jnp.asarray(value, dtype)
    if v.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array of values, got shape {tuple(v.shape)}")
    return v[..., None]


# ----------------------------------------------------------------------------------------------------
# Spectral kernels
# ----------------------------------------------------------------------------------------------------

def heat_kernel(adjacency: Any, t: float, *, normalized: bool = False) -> jax.Array:
    """Heat (diffusion) kernel ``exp(−t L)`` of a graph.

    Parameters
    ----------
    adjacency
        ``(N, N)`` adjacency (dense, ``scipy.sparse`` or BCOO), as in :func:`laplacian`.
    t
        Diffusion time, ``> 0``, or a 1-D array of times (one kernel each, from one eigendecomposition).
    normalized
        Use the symmetric normalised Laplacian instead of ``D − A``.

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)`` for ``P`` times) symmetric positive definite; with ``L = D − A``
        every row sums to 1.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> k = heat_kernel(edge, 0.5)
    >>> round(float(k[0, 0]), 4), round(float(k[0, 1]), 4)  # (1 ± e^{-2t}) / 2
    (0.6839, 0.3161)
    """
    lam, u = _spectrum(adjacency, normalized)
    return _from_spectrum(lam, u, jnp.exp(-_parameter(t, "t", lam.dtype) * lam))


def heat_kernel_chebyshev(adjacency: Any, t: float, *, order: int = 30, x: Any = None,
                          normalized: bool = True) -> jax.Array:
    """Heat kernel ``exp(−t L)`` or its action ``exp(−t L) x`` by a Chebyshev expansion.

    With the spectrum of ``L`` inside ``[0, b]`` (``b = 2`` for the normalised Laplacian, ``b = 2 d_max``
    for ``D − A`` by Gershgorin), ``M = (2/b) L − I`` has its spectrum in ``[−1, 1]`` and, with ``τ = t b / 2``,

    ``exp(−t L) = e^{−τ} I_0(τ) T_0(M) + 2 Σ_{k=1}^{K} (−1)^k e^{−τ} I_k(τ) T_k(M)``

    (``I_k`` modified Bessel functions, ``T_k`` Chebyshev polynomials evaluated by the three-term recurrence
    ``T_{k+1}(M) x = 2 M T_k(M) x − T_{k−1}(M) x``). Only products of the (sparse) adjacency with vectors
    are formed. The truncation error is at most ``2 Σ_{k>K} e^{−τ} I_k(τ) ≲ 2 (τ/2)^{K+1} / (K+1)!``.

    Parameters
    ----------
    adjacency
        ``(N, N)`` adjacency: dense, ``scipy.sparse`` or ``jax.experimental.sparse.BCOO`` (a sparse one
        stays sparse).
    t
        Diffusion time, ``> 0``.
    order
        Expansion order ``K ≥ 1`` (``K`` matrix–vector products).
    x
        ``(N,)`` or ``(N, m)`` vectors to diffuse; ``None`` gives the ``(N, N)`` matrix (``x = I``).
    normalized
        ``True`` (default): the normalised Laplacian ``I − D^{-1/2} A D^{-1/2}``; ``False``: ``D − A``.

    Returns
    -------
    jax.Array
        ``exp(−t L) x``, shape of ``x`` (or ``(N, N)``), in the adjacency's dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> k = heat_kernel_chebyshev(edge, 0.5, order=20)
    >>> round(float(k[0, 0]), 4), round(float(k[0, 1]), 4)  # (1 ± e^{-2t}) / 2: L has eigenvalues 0, 2
    (0.6839, 0.3161)
    """
    check_positive(t, "t")
    order = check_positive_int(order, "order")
    a = _check_adjacency(adjacency)
    if _is_sparse(a):
        from jax.experimental import sparse as jsparse

        deg = jnp.asarray(np.asarray(a.sum(axis=1)).ravel())
        dtype = deg.dtype
        mat = jsparse.BCOO.from_scipy_sparse(a.astype(dtype))
    else:
        deg = a.sum(axis=1)
        dtype = a.dtype
        mat = a
    n = deg.shape[0]
    if x is None:
        rhs = jnp.eye(n, dtype=dtype)
    else:
        rhs = as_float_array(x, "x", ndim=(1, 2)).astype(dtype)
        if rhs.shape[0] != n:
            raise ValueError(f"x must have {n} rows (one per node), got shape {tuple(rhs.shape)}")
    positive = deg > 0
    if normalized:
        scale = jnp.where(positive, 1.0 / jnp.sqrt(jnp.where(positive, deg, 1.0)), 0.0)
        diag = positive.astype(dtype)
        bound = 2.0
    else:
        scale = jnp.ones_like(deg)
        diag = deg
        bound = max(2.0 * float(jnp.max(deg)), 1e-30)
    tau = 0.5 * float(t) * bound
    from scipy.special import ive

    coef = ive(np.arange(order + 1), tau) * (-1.0) ** np.arange(order + 1)
    coef[1:] *= 2.0
    # pad to a multiple of 64 terms so that nearby orders share one compiled loop
    coef = np.concatenate([coef, np.zeros(-(order + 1) % 64)])
    vec = rhs if rhs.ndim == 2 else rhs[:, None]
    out = _chebyshev(mat, scale, diag, vec, jnp.asarray(coef, dtype), 2.0 / bound, order + 1)
    return out if rhs.ndim == 2 else out[:, 0]


@jax.jit
def _chebyshev(mat, scale, diag, vec, coef, c, n_terms):
    def apply_m(v):  # M v = c L v − v with L v = diag v − S A S v (A dense or BCOO)
        lv = diag[:, None] * v - scale[:, None] * (mat @ (scale[:, None] * v))
        return c * lv - v

    t0, t1 = vec, apply_m(vec)
    acc = coef[0] * t0 + coef[1] * t1

    def body(k, carry):
        t_prev, t_cur, acc = carry
        t_next = 2.0 * apply_m(t_cur) - t_prev
        return t_cur, t_next, acc + coef[k] * t_next

    _, _, acc = jax.lax.fori_loop(2, n_terms, body, (t0, t1, acc))
    return acc


def regularized_laplacian_kernel(adjacency: Any, sigma: float, *, normalized: bool = False) -> jax.Array:
    """Regularised Laplacian kernel ``(I + σ² L)^{-1}``.

    Parameters
    ----------
    adjacency
        ``(N, N)`` adjacency (dense, ``scipy.sparse`` or BCOO).
    sigma
        Scale ``σ > 0``, or a 1-D array of scales (one kernel each, from one eigendecomposition).
    normalized
        Use the symmetric normalised Laplacian.

    Returns
    -------
    jax.Array
        ``(N, N)`` (or ``(P, N, N)``) symmetric positive definite, eigenvalues in ``(0, 1]``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> regularized_laplacian_kernel(edge, 1.0).tolist()
    [[0.666..., 0.333...], [0.333..., 0.666...]]
    """
    lam, u = _spectrum(adjacency, normalized)
    return _from_spectrum(lam, u, 1.0 / (1.0 + _parameter(sigma, "sigma", lam.dtype) ** 2 * lam))


def commute_time_kernel(adjacency: Any, *, normalized: bool = False, rtol: float | None = None) -> jax.Array:
    """Commute-time kernel: the Moore–Penrose pseudo-inverse ``L⁺`` of the Laplacian.

    For a connected graph and ``L = D − A``, ``vol(G) · kernel_distance(L⁺)²`` is the expected number of
    steps of a random walk from ``i`` to ``j`` and back (the commute time).

    Parameters
    ----------
    adjacency
        ``(N, N)`` adjacency (dense, ``scipy.sparse`` or BCOO).
    normalized
        Pseudo-invert the symmetric normalised Laplacian instead.
    rtol
        Eigenvalues below ``rtol · λ_max`` count as zero (default ``N · eps``).

    Returns
    -------
    jax.Array
        ``(N, N)`` symmetric positive semi-definite; one zero eigenvalue per connected component.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> commute_time_kernel(edge).tolist()
    [[0.25, -0.25], [-0.25, 0.25]]
    """
    lam, u = _spectrum(adjacency, normalized)
    if rtol is None:
        rtol = lam.shape[0] * float(jnp.finfo(lam.dtype).eps)
    else:
        check_positive(rtol, "rtol")
    keep = lam > rtol * jnp.max(lam)
    return _from_spectrum(lam, u, jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0))


def pagerank_kernel(adjacency: Any, alpha: float) -> jax.Array:
    """Personalised-PageRank kernel ``α (I − (1 − α) D^{-1/2} A D^{-1/2})^{-1}``.

    The personalised PageRank vectors with teleport probability ``α`` (restart at the seed node) are the
    columns of ``Π = α (I − (1 − α) A D^{-1})^{-1}``; the kernel is the symmetric matrix
    ``D^{-1/2} Π D^{1/2}`` similar to it. Isolated nodes keep only their restart mass ``α``.

    Parameters
    ----------
    adjacency
        ``(N, N)`` adjacency (dense, ``scipy.sparse`` or BCOO).
    alpha
        Teleport (restart) probability in ``(0, 1]``.

    Returns
    -------
    jax.Array
        ``(N, N)`` symmetric positive definite (eigenvalues ``α / (1 − (1 − α) μ)`` with ``μ ∈ [−1, 1]``
        the eigenvalues of ``D^{-1/2} A D^{-1/2}``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> edge = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    >>> pagerank_kernel(edge, 0.5).tolist()
    [[0.666..., 0.333...], [0.333..., 0.666...]]
    """
    check_positive(alpha, "alpha")
    if alpha > 1:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}")
    lam, u = _spectrum(adjacency, True)          # normalised Laplacian: μ = 1 − λ
    a = _dense(_check_adjacency(adjacency))
    isolated = a.sum(axis=1) == 0
    mu = 1.0 - lam
    k = _from_spectrum(lam, u, alpha / (1.0 - (1.0 - alpha) * mu))
    # an isolated node's row of the normalised Laplacian is zero (μ = 1 there), but it has no walk to
    # follow: its PageRank vector is the restart mass alone
    diag = jnp.where(isolated, alpha, jnp.diagonal(k))
    k = jnp.where(isolated[:, None] | isolated[None, :], 0.0, k)
    return k.at[jnp.diag_indices(k.shape[0])].set(diag)


def kernel_distance(K: Any) -> jax.Array:
    """Distances induced by a kernel matrix: ``√max(K_ii + K_jj − 2 K_ij, 0)``.

    Parameters
    ----------
    K
        ``(N, N)`` symmetric positive semi-definite kernel matrix.

    Returns
    -------
    jax.Array
        ``(N, N)`` symmetric, zero diagonal.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> kernel_distance(jnp.array([[2.0, 1.0], [1.0, 2.0]])).tolist()
    [[0.0, 1.414...], [1.414..., 0.0]]
    """
    K = as_float_array(K, "K", ndim=2)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be square, got shape {tuple(K.shape)}")
    d = jnp.diagonal(K)
    sq = d[:, None] + d[None, :] - 2.0 * 0.5 * (K + K.T)
    dist = jnp.sqrt(jnp.clip(sq, 0.0, None))
    return dist.at[jnp.diag_indices(K.shape[0])].set(0.0)


# ----------------------------------------------------------------------------------------------------
# Graph random features
# ----------------------------------------------------------------------------------------------------

def grf_modulation(coefficients: Sequence[float] | Any) -> jax.Array:
    """Modulation ``f`` whose self-convolution is ``α``: ``Σ_{a+b=k} f_a f_b = α_k`` for every ``k``.

    With this ``f``, features ``Φ`` from :func:`graph_random_features` with independent walks give
    ``E[Φ Φ'ᵀ] = Σ_k α_k W^k`` up to the truncation order (e.g. ``α_k = β^k / k!`` for ``exp(β W)``).

    Parameters
    ----------
    coefficients
        ``α_0, …, α_K`` with ``α_0 > 0``.

    Returns
    -------
    jax.Array
        ``f_0, …, f_K``.

    Examples
    --------
    >>> f = grf_modulation([1.0, 2.0, 1.0])  # (1 + x)^2 = (1 + x)·(1 + x)
    >>> f.tolist()
    [1.0, 1.0, 0.0]
    """
    alpha = np.asarray(as_float_array(coefficients, "coefficients", ndim=1), np.float64)
    if alpha.shape[0] == 0 or alpha[0] <= 0:
        raise ValueError("coefficients must be non-empty with a positive first entry α_0")
    f = np.zeros_like(alpha)
    f[0] = math.sqrt(alpha[0])
    for k in range(1, alpha.shape[0]):
        f[k] = (alpha[k] - np.dot(f[1:k], f[k - 1:0:-1])) / (2 * f[0])
    return jnp.asarray(f, jnp.result_type(float))


def graph_random_features(key: jax.Array, adjacency: Any, modulation: Sequence[float] | Callable[[jax.Array], jax.Array],
                          *, n_walks: int = 100, p_halt: float = 0.1, max_length: int | None = None) -> jax.Array:
    """Graph random features: unbiased random-walk estimates of ``Σ_k f_k W^k``.

    From every node ``i`` we start ``n_walks`` walks. Before each step a walk stops with probability
    ``p_halt`` (and at a node without neighbours, and after ``max_length`` steps); otherwise it moves
    to a uniformly chosen neighbour. A walk that reaches node ``v`` after ``k`` steps along edges ``e_1 … e_k``
    adds ``f_k · Π_l W_{e_l} / P(walk)`` to ``Φ[i, v]``, where ``P(walk) = Π_l (1 − p_halt) / deg(v_{l-1})``
    is the probability of that walk prefix; averaging over walks gives ``E[Φ] = Σ_k f_k W^k``
    (importance sampling; sums beyond ``max_length`` are dropped). The inner products of two
    independent draws estimate ``Σ_k (f * f)_k W^k`` without bias (see :func:`grf_modulation`).

    Parameters
    ----------
    key
        PRNG key.
    adjacency
        ``(N, N)`` weighted adjacency ``W`` (dense, ``scipy.sparse`` or BCOO, symmetric, non-negative).
    modulation
        ``f_0, f_1, …`` as a sequence (walks stop after ``len − 1`` steps) or a function of the step
        count ``k`` (an int array) giving ``f_k`` (then ``max_length`` is required).
    n_walks
        Walks per node.
    p_halt
        Stopping probability after each step, in ``(0, 1)``.
    max_length
        Largest number of steps (default: ``len(modulation) − 1``).

    Returns
    -------
    jax.Array
        ``(N, N)`` features ``Φ``; row ``i`` estimates row ``i`` of ``Σ_k f_k W^k``.

    Notes
    -----
    Memory ``O(N² + N · n_walks)`` (the dense features and one position per walk); time
    ``O(N · n_walks · max_length)`` plus ``O(N² log N)`` once to build the neighbour lists.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> ring = jnp.roll(jnp.eye(5), 1, axis=1) + jnp.roll(jnp.eye(5), -1, axis=1)
    >>> phi = graph_random_features(jax.random.key(0), ring, [1.0, 0.5, 0.25], n_walks=8)
    >>> phi.shape
    (5, 5)
    """
    a = _dense(_check_adjacency(adjacency))
    n_walks = check_positive_int(n_walks, "n_walks")
    check_positive(p_halt, "p_halt")
    if p_halt >= 1:
        raise ValueError(f"p_halt must lie in (0, 1), got {p_halt}")
    if callable(modulation):
        if max_length is None:
            raise ValueError("max_length is required when modulation is a function")
        max_length = check_positive_int(max_length, "max_length")
        f = jnp.asarray(modulation(jnp.arange(max_length + 1)), a.dtype)
        if f.shape != (max_length + 1,):
            raise ValueError(f"modulation(k) must return one value per step, got shape {f.shape}")
    else:
        f = as_float_array(modulation, "modulation", ndim=1).astype(a.dtype)
        if f.shape[0] == 0:
            raise ValueError("modulation must have at least one entry")
        if max_length is None:
            max_length = f.shape[0] - 1
        elif isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
            raise ValueError(f"max_length must be a non-negative integer, got {max_length!r}")
        f = jnp.concatenate([f, jnp.zeros(max(0, max_length + 1 - f.shape[0]), a.dtype)])[:max_length + 1]
    # neighbour lists padded to the largest degree: walks sample an index, never a whole row
    max_degree = max(1, int(np.max(np.sum(np.asarray(a) > 0, axis=1))))
    return _grf(key, a, f, n_walks, float(p_halt), int(max_length), max_degree)


@jax.jit(static_argnums=(3, 5, 6))
def _grf(key, a, f, n_walks, p_halt, max_length, max_degree):
    n = a.shape[0]
    deg_count = jnp.sum(a > 0, axis=1)                 # number of neighbours (uniform proposal)
    neighbours = jnp.argsort(~(a > 0), axis=1, stable=True)[:, :max_degree]  # (n, max_degree)
    start = jnp.repeat(jnp.arange(n), n_walks)         # (n · m,) walk origins
    phi = jnp.zeros((n, n), a.dtype).at[jnp.arange(n), jnp.arange(n)].add(f[0])

    def step(carry, k):
        phi, node, load, alive, key = carry
        key, k_move, k_halt = jax.random.split(key, 3)
        count = deg_count[node]
        alive = alive & (count > 0) & (jax.random.uniform(k_halt, node.shape) >= p_halt)
        slot = jnp.floor(jax.random.uniform(k_move, node.shape) * count).astype(jnp.int32)
        nxt = neighbours[node, jnp.clip(slot, 0, max_degree - 1)]  # uniform over the neighbours
        nxt = jnp.where(alive, nxt, node)
        load = load * a[node, nxt] * count / (1.0 - p_halt)
        phi = phi.at[start, nxt].add(jnp.where(alive, f[k] * load / n_walks, 0.0))
        return (phi, nxt, load, alive, key), None

    init = (phi, start, jnp.ones(start.shape, a.dtype), jnp.ones(start.shape, bool), key)
    if max_length == 0:
        return phi
    (phi, *_), _ = jax.lax.scan(step, init, jnp.arange(1, max_length + 1))
    return phi
