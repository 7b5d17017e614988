"""Agreement metrics between two models: rank correlation and overlap of top-k sets.

* :func:`kendall_tau` — Kendall's τ-b between two score vectors (ties handled as in SciPy's default),
  e.g. between a surrogate model's and a network's probabilities of the true class;
* :func:`top_k_overlap` — the mean fraction of shared indices among the ``k`` largest entries of each
  row of two score matrices, e.g. two kernels' most influential training points.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive_int

__all__ = ["kendall_tau", "top_k_overlap"]


def kendall_tau(a: Any, b: Any) -> jax.Array:
    """Kendall's τ-b rank correlation of two equally long vectors.

    ``τ_b = (n_c − n_d) / √((n_0 − t_a)(n_0 − t_b))`` over the ``n_0 = n(n−1)/2`` pairs, with ``n_c`` and
    ``n_d`` the concordant and discordant pairs and ``t_a``, ``t_b`` the pairs tied in ``a`` and in ``b``;
    this is :func:`scipy.stats.kendalltau`'s default (``variant="b"``). The pair counts are exact
    integers.

    Parameters
    ----------
    a, b
        Scores, shape ``(n,)`` with ``n ≥ 2``.

    Returns
    -------
    jax.Array
        A scalar in ``[−1, 1]`` (NaN if ``a`` or ``b`` is constant).

    Notes
    -----
    Forms the ``n × n`` sign matrices: ``O(n²)`` time and memory (``n = 10⁴`` needs about 0.8 GB).

    Examples
    --------
    >>> float(kendall_tau([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]))
    0.666...
    """
    a = as_float_array(a, "a", ndim=1)
    b = as_float_array(b, "b", ndim=1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.shape[0]} and {b.shape[0]}")
    if a.shape[0] < 2:
        raise ValueError(f"kendall_tau needs at least 2 entries, got {a.shape[0]}")
    return _kendall_tau(a, b)


@jax.jit
def _kendall_tau(a, b):
    sa = jnp.sign(a[:, None] - a[None, :]).astype(jnp.int32)
    sb = jnp.sign(b[:, None] - b[None, :]).astype(jnp.int32)
    # each unordered pair appears twice with the same product, so the factors 2 cancel
    num = jnp.sum(sa * sb)
    untied_a = jnp.sum(sa * sa)
    untied_b = jnp.sum(sb * sb)
    dtype = jnp.result_type(a, b)
    return num.astype(dtype) / jnp.sqrt(untied_a.astype(dtype) * untied_b.astype(dtype))


def top_k_overlap(a: Any, b: Any, k: int) -> jax.Array:
    """Mean fraction of indices shared by the ``k`` largest entries of matching rows of ``a`` and ``b``.

    Parameters
    ----------
    a, b
        Scores, shape ``(m, n)`` (``(n,)`` is treated as one row), e.g. kernel values between ``m``
        test points and ``n`` training points.
    k
        Set size, ``1 ≤ k ≤ n``. Ties are broken by :func:`jax.lax.top_k` (lower index first).

    Returns
    -------
    jax.Array
        A scalar in ``[0, 1]``: ``(1/m) Σ_i |top_k(a_i) ∩ top_k(b_i)| / k``.

    Examples
    --------
    >>> float(top_k_overlap([[3.0, 2.0, 1.0, 0.0]], [[0.0, 2.0, 3.0, 1.0]], k=2))
    0.5
    """
    a = as_float_array(a, "a", ndim=(1, 2))
    b = as_float_array(b, "b", ndim=(1, 2))
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    k = check_positive_int(k, "k")
    if k > a.shape[-1]:
        raise ValueError(f"k must be at most the number of columns ({a.shape[-1]}), got {k}")
    return _top_k_overlap(jnp.atleast_2d(a), jnp.atleast_2d(b), k)


@jax.jit(static_argnums=2)
def _top_k_overlap(a, b, k):
    ia = jax.lax.top_k(a, k)[1]
    ib = jax.lax.top_k(b, k)[1]
    shared = jnp.sum(ia[:, :, None] == ib[:, None, :], axis=(1, 2))
    return jnp.mean(shared / k)
