"""The periodic Sobolev kernel on the unit torus ``[0, 1)``: closed form, Mercer series and eigenvalues.

On ``[0, 1)`` with the uniform measure the Fourier modes ``e^{2πikx}`` (``k ∈ ℤ``) are orthonormal. The
Sobolev space ``H^m`` of periodic functions with norm ``‖f‖² = Σ_k (1 + 4π²k²)^m |f̂_k|²`` is the RKHS of

    k_m(x, y) = Σ_{k∈ℤ} (1 + 4π²k²)^{−m} e^{2πik(x−y)} = λ_0 + 2 Σ_{k≥1} λ_k cos(2πk t),   t = (x − y) mod 1,

with Mercer eigenvalues ``λ_k = (1 + 4π²k²)^{−m}``: once for ``k = 0`` and twice (the real eigenfunctions
``√2 cos 2πkx`` and ``√2 sin 2πkx``) for each ``k ≥ 1``. Sorted decreasingly they decay as ``i^{−2m}``,
so the eigenvalue-decay exponent is ``β = 2m``. For ``m = 1`` the series sums to

    k_1(x, y) = cosh(½ − t) / (2 sinh ½),

the Green's function of ``1 − (2π)^{−2} d²/dx²`` on the circle. Inputs with ``d > 1`` columns get the
tensor-product kernel ``Π_j k_m(x_j, y_j)`` (a product of one-dimensional kernels).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive, check_positive_int, check_same_features

__all__ = ["periodic_sobolev", "periodic_sobolev_eigenvalues"]


def _check_order(order: Any) -> float:
    check_positive(order, "order")
    order = float(order)
    if order <= 0.5:
        raise ValueError(f"order must be > 1/2 for the Mercer series to converge, got {order}")
    return order


@jax.jit
def _closed_form(t):
    half = jnp.asarray(0.5, t.dtype)
    return jnp.cosh(half - t) / (2.0 * jnp.sinh(half))


@functools.partial(jax.jit, static_argnames=("n_terms", "chunk"))
def _series(t, order, n_terms, chunk):
    # λ_0 + 2 Σ_{k=1}^{K} λ_k cos(2πkt), summed in chunks of frequencies so that memory stays O(t.size · chunk)
    two_pi = jnp.asarray(2.0 * math.pi, t.dtype)
    n_chunks = -(-n_terms // chunk)

    def body(c, acc):
        k = (c * chunk + 1 + jnp.arange(chunk)).astype(t.dtype)
        lam = jnp.where(k <= n_terms, (1.0 + (two_pi * k) ** 2) ** (-order), 0.0)
        return acc + 2.0 * jnp.tensordot(jnp.cos(two_pi * t[..., None] * k), lam, axes=1)

    acc = jnp.ones_like(t)  # λ_0 = 1
    return jax.lax.fori_loop(0, n_chunks, body, acc)


def periodic_sobolev(x1: Any, x2: Any = None, *, order: float = 1.0, n_terms: int | None = None) -> jnp.ndarray:
    """Gram matrix of the periodic Sobolev kernel ``k_m`` of order ``m`` on ``[0, 1)``.

    Parameters
    ----------
    x1
        Points, shape ``(N1, d)``; coordinates are taken modulo 1 (any real value is allowed).
    x2
        Points, shape ``(N2, d)``, or ``None`` for ``x2 = x1``.
    order
        Sobolev order ``m > ½``: Mercer eigenvalues ``(1 + 4π²k²)^{−m}``, decay exponent ``β = 2m``.
    n_terms
        ``None`` (default) uses the closed form ``cosh(½ − t)/(2 sinh ½)``, which needs ``order == 1``.
        A positive integer ``K`` sums the Mercer series over ``|k| ≤ K`` instead (any order); its
        truncation error is at most ``2 Σ_{k>K} (1 + 4π²k²)^{−m}`` (about ``1/(2π²K)`` for ``m = 1``).
        The series costs ``O(N1·N2·d·K)``.

    Returns
    -------
    jnp.ndarray
        ``(N1, N2)`` Gram matrix in the inputs' floating dtype; the diagonal (``x2 = None``) is exact.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0], [0.5], [1.0]])
    >>> K = periodic_sobolev(x)
    >>> round(float(K[0, 0]), 6), round(float(K[0, 1]), 6), round(float(K[0, 2] - K[0, 0]), 6)
    (1.081977, 0.959517, 0.0)
    >>> round(float(periodic_sobolev(x, order=1, n_terms=20000)[0, 1]), 6)
    0.959517
    """
    a = as_float_array(x1, "x1", ndim=2)
    if x2 is None:
        b = a
    else:
        b = as_float_array(x2, "x2", ndim=2)
        check_same_features(a, b)
        dtype = jnp.result_type(a.dtype, b.dtype)
        a, b = a.astype(dtype), b.astype(dtype)
    order = _check_order(order)
    t = jnp.mod(a[:, None, :] - b[None, :, :], jnp.asarray(1.0, a.dtype))
    if x2 is None:  # exact zero distance on the diagonal
        t = jnp.where(jnp.eye(a.shape[0], dtype=bool)[..., None], jnp.zeros((), a.dtype), t)
    if n_terms is None:
        if order != 1.0:
            raise ValueError(f"the closed form exists only for order=1; pass n_terms for order={order}")
        per_dim = _closed_form(t)
    else:
        n_terms = check_positive_int(n_terms, "n_terms")
        per_dim = _series(t, jnp.asarray(order, a.dtype), n_terms, min(n_terms, 256))
    return jnp.prod(per_dim, axis=-1)


def periodic_sobolev_eigenvalues(num: int, *, order: float = 1.0, dtype: Any = None) -> jnp.ndarray:
    """The ``num`` largest Mercer eigenvalues of :func:`periodic_sobolev` (``d = 1``), sorted, with multiplicity.

    Entry ``i`` (from 0) belongs to frequency ``k = ⌈i/2⌉``: ``λ_i = (1 + 4π²k²)^{−m}``, i.e.
    ``[λ_0, λ_1, λ_1, λ_2, λ_2, …]``. They sum (over all ``i``) to ``k_m(x, x)`` and decay as ``i^{−2m}``.

    Parameters
    ----------
    num
        Number of eigenvalues, ``≥ 1``.
    order
        Sobolev order ``m > ½``.
    dtype
        Output dtype (default: JAX's default float).

    Examples
    --------
    >>> [round(float(v), 5) for v in periodic_sobolev_eigenvalues(4)]
    [1.0, 0.0247, 0.0247, 0.00629]
    """
    num = check_positive_int(num, "num")
    order = _check_order(order)
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    k = ((jnp.arange(num) + 1) // 2).astype(dtype)
    return (1.0 + (2.0 * math.pi * k) ** 2) ** (-order)
