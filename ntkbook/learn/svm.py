"""Hard-margin SVMs without a bias, in vector or matrix form (the attention SVMs of P039).

Both solvers take ``m`` constraint arrays ``A_j`` (vectors or matrices) and margins ``b_j`` (default 1)
and find the smallest-norm ``W`` with ``⟨A_j, W⟩ ≥ b_j`` for every ``j``:

* :func:`hard_margin_svm` — Frobenius (Euclidean) norm, ``min ½‖W‖²``: dual coordinate ascent on
  ``max_{α ≥ 0} Σ α_j b_j − ½‖Σ α_j A_j‖²`` (each coordinate step is exact), ``W = Σ α_j A_j``.
* :func:`nuclear_norm_svm` — nuclear norm ``min ‖W‖_*`` (sum of singular values): ADMM on
  ``W = Z`` with singular-value soft-thresholding for ``W`` and, for ``Z``, the Euclidean projection on
  the constraint polyhedron (itself a shifted :func:`hard_margin_svm`, warm-started).

An infeasible problem has an unbounded dual; the returned ``max_violation`` then stays positive.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive_int

__all__ = ["SVMSolution", "hard_margin_svm", "nuclear_norm_svm"]


class SVMSolution(NamedTuple):
    """Result of a hard-margin SVM solve.

    Attributes:
        weights: the solution ``W`` (shape of one constraint array).
        dual: ``(m,)`` non-negative multipliers ``α`` (for :func:`nuclear_norm_svm`: the multipliers of the
            last projection, in units of the ADMM penalty).
        max_violation: ``max_j (b_j − ⟨A_j, W⟩)`` clipped at 0 (0 when every constraint holds).
    """

    weights: jax.Array
    dual: jax.Array
    max_violation: jax.Array


def _inputs(constraints: Any, margins: Any, min_ndim: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    a = as_float_array(constraints, "constraints")
    if a.ndim < min_ndim:
        raise ValueError(f"constraints must have at least {min_ndim} axes (m, ...), got shape {tuple(a.shape)}")
    if a.shape[0] == 0:
        raise ValueError("need at least one constraint")
    b = jnp.ones(a.shape[0], a.dtype) if margins is None else as_float_array(margins, "margins", ndim=1).astype(a.dtype)
    if b.shape != (a.shape[0],):
        raise ValueError(f"margins must have shape ({a.shape[0]},), got {tuple(b.shape)}")
    norms = np.asarray(jnp.sum(a.reshape(a.shape[0], -1) ** 2, axis=1)) if not isinstance(a, jax.core.Tracer) else None
    if norms is not None and np.any(norms == 0):
        raise ValueError("every constraint array must be non-zero")
    return a, b


def _dual_ascent(a2: jnp.ndarray, b: jnp.ndarray, alpha: jnp.ndarray, sweeps: int) -> jnp.ndarray:
    # exact coordinate ascent on max_{α≥0} Σ α b − ½‖Σ α a‖² ; a2: (m, p)
    sq = jnp.sum(a2 * a2, axis=1)

    def coord(j, carry):
        alpha, w = carry
        new = jnp.maximum(0.0, alpha[j] + (b[j] - a2[j] @ w) / sq[j])
        w = w + (new - alpha[j]) * a2[j]
        return alpha.at[j].set(new), w

    def sweep(_, carry):
        return jax.lax.fori_loop(0, a2.shape[0], coord, carry)

    alpha, _ = jax.lax.fori_loop(0, sweeps, sweep, (alpha, alpha @ a2))
    return alpha


@functools.partial(jax.jit, static_argnums=2)
def _hard_margin(a, b, sweeps):
    a2 = a.reshape(a.shape[0], -1)
    alpha = _dual_ascent(a2, b, jnp.zeros_like(b), sweeps)
    w = alpha @ a2
    return SVMSolution(w.reshape(a.shape[1:]), alpha, jnp.maximum(jnp.max(b - a2 @ w), 0.0))


def hard_margin_svm(constraints: Any, margins: Any = None, *, sweeps: int = 2000) -> SVMSolution:
    """Minimum-Frobenius-norm ``W`` with ``⟨A_j, W⟩ ≥ b_j`` for all ``j`` (hard-margin SVM, no bias).

    Args:
        constraints: ``(m, *shape)`` constraint arrays ``A_j`` (e.g. ``y_j x_j`` for a linear SVM).
        margins: ``(m,)`` right-hand sides ``b_j`` (default all 1).
        sweeps: passes of exact dual coordinate ascent over the ``m`` multipliers.

    Returns:
        :class:`SVMSolution` with ``weights`` of shape ``shape``.

    >>> import jax.numpy as jnp
    >>> sol = hard_margin_svm(jnp.array([[2.0, 0.0], [1.0, 1.0]]))
    >>> sol.weights.round(4)  # w = (1/2, 1/2): both constraints active
    Array([0.5, 0.5], dtype=float32)
    """
    a, b = _inputs(constraints, margins, 2)
    return _hard_margin(a, b, check_positive_int(sweeps, "sweeps"))


@functools.partial(jax.jit, static_argnums=(3, 4))
def _nuclear(a, b, rho, iterations, inner_sweeps):
    m = a.shape[0]
    a2 = a.reshape(m, -1)
    shape = a.shape[1:]

    def svt(v, tau):
        u, s, vt = jnp.linalg.svd(v, full_matrices=False)
        return (u * jnp.maximum(s - tau, 0.0)) @ vt

    def step(carry, _):
        w, z, u, alpha = carry
        w = svt(z - u, 1.0 / rho)
        v = (w + u).reshape(-1)
        # projection of v on {⟨A_j, Z⟩ ≥ b_j}: Z = v + Σ α_j A_j with the shifted dual
        alpha = _dual_ascent(a2, b - a2 @ v, alpha, inner_sweeps)
        z = (v + alpha @ a2).reshape(shape)
        u = u + w - z
        return (w, z, u, alpha), None

    zero = jnp.zeros(shape, a.dtype)
    z0 = _hard_margin(a, b, 200).weights
    (w, z, u, alpha), _ = jax.lax.scan(step, (zero, z0, zero, jnp.zeros_like(b)), None, length=iterations)
    return SVMSolution(z, alpha, jnp.maximum(jnp.max(b - a2 @ z.reshape(-1)), 0.0))


def nuclear_norm_svm(constraints: Any, margins: Any = None, *, rho: float | None = None, iterations: int = 2000,
                     inner_sweeps: int = 20) -> SVMSolution:
    """Minimum-nuclear-norm matrix ``W`` with ``⟨A_j, W⟩ ≥ b_j`` for all ``j`` (by ADMM).

    Args:
        constraints: ``(m, p, q)`` constraint matrices ``A_j``.
        margins: ``(m,)`` right-hand sides (default all 1).
        rho: ADMM penalty; default ``1/‖W_F‖_F`` from the Frobenius solution (a scale-free choice).
        iterations: ADMM iterations; inner_sweeps: dual coordinate sweeps per projection (warm-started).

    Returns:
        :class:`SVMSolution` whose ``weights`` is the (feasible) projected iterate ``Z``.

    >>> import jax.numpy as jnp
    >>> a = jnp.array([[[3.0, 0.0], [0.0, 1.0]]])   # one constraint <A, W> >= 1
    >>> sol = nuclear_norm_svm(a, iterations=500)
    >>> bool(jnp.allclose(sol.weights, jnp.array([[1 / 3, 0.0], [0.0, 0.0]]), atol=1e-3))
    True
    """
    a, b = _inputs(constraints, margins, 3)
    if a.ndim != 3:
        raise ValueError(f"constraints must be matrices (m, p, q), got shape {tuple(a.shape)}")
    iterations = check_positive_int(iterations, "iterations")
    inner_sweeps = check_positive_int(inner_sweeps, "inner_sweeps")
    if rho is None:
        scale = float(jnp.linalg.norm(_hard_margin(a, b, 200).weights))
        rho = 1.0 / scale if scale > 0 else 1.0
    if not (isinstance(rho, (int, float)) and rho > 0 and np.isfinite(rho)):
        raise ValueError(f"rho must be a positive number, got {rho!r}")
    return _nuclear(a, b, jnp.asarray(rho, a.dtype), iterations, inner_sweeps)
