"""Reference learners for in-context linear regression, batched over prompts.

Every function takes a batch of prompts ``x: (B, n, d)``, ``y: (B, n)`` and returns weight vectors
``(…, B, d)``; a prediction for a query ``x_q`` is ``x_q · w``. Rows of ``x`` and ``y`` that are all zero
add nothing to ``XᵀX`` or ``Xᵀy``, so a prompt prefix of ``k`` examples is the same prompt with rows
``k, k+1, …`` zeroed (this keeps one array shape for every prefix).

Conventions, with ``S = XᵀX`` and ``b = Xᵀy``:

* :func:`ridge_weights` — ``argmin ‖Xw − y‖² + λ‖w‖²`` = ``(S + λI)⁻¹ b``; ``λ = 0`` is the
  minimum-norm least-squares solution ``S⁺ b`` (OLS). With ``w ~ N(0, I)`` and noise variance
  ``σ²``, ``λ = σ²`` is the Bayes posterior mean.
* :func:`gd_weights` — ``t`` steps of gradient descent ``w ← w − η (S w − b)`` on ``½‖Xw − y‖²`` from
  ``w = 0``, evaluated in closed form ``w_t = Σ_j (1 − (1 − ηλ_j)^t)/λ_j · v_j v_jᵀ b``.
* :func:`iterative_newton_weights` — the Newton–Schulz iteration for ``S⁺``:
  ``M_0 = α S`` with ``0 < α < 2/‖S‖₂²`` (default ``α = 1/‖S‖₂²``), ``M_{k+1} = 2M_k − M_k S M_k``,
  ``w_k = M_k b``; the error ``I − M_k S`` on the range of ``S`` is squared at every step (quadratic
  convergence once it is below one).
* :func:`knn_predict` — k-nearest-neighbour regression, which has no weight vector, so it returns predictions.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, check_positive_int, is_concrete

__all__ = ["ridge_weights", "gd_weights", "iterative_newton_weights", "knn_predict"]


def _prompts(x: Any, y: Any) -> tuple[jnp.ndarray, jnp.ndarray]:
    x = as_float_array(x, "x", ndim=3)
    y = as_float_array(y, "y", ndim=2).astype(x.dtype)
    if y.shape != x.shape[:2]:
        raise ValueError(f"y must have shape {tuple(x.shape[:2])} to match x {tuple(x.shape)}, got {tuple(y.shape)}")
    return x, y


def _moments(x: jnp.ndarray, y: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    return jnp.einsum("bni,bnj->bij", x, x), jnp.einsum("bni,bn->bi", x, y)


def ridge_weights(x: Any, y: Any, ridge: float | jax.Array = 0.0) -> jnp.ndarray:
    """Ridge (``ridge > 0``) or minimum-norm least-squares (``ridge = 0``) weights of every prompt.

    Args:
        x: ``(B, n, d)`` inputs; y: ``(B, n)`` targets.
        ridge: ``λ ≥ 0`` in ``‖Xw − y‖² + λ‖w‖²`` (a scalar).

    Returns:
        ``(B, d)`` weights ``(XᵀX + λI)⁻¹ Xᵀy`` (pseudo-inverse over the non-zero spectrum when ``λ = 0``).

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0, 0.0], [0.0, 2.0]]]); y = jnp.array([[3.0, 4.0]])
    >>> ridge_weights(x, y)
    Array([[3., 2.]], dtype=float32)
    """
    x, y = _prompts(x, y)
    check_positive(ridge, "ridge", allow_zero=True)
    return _ridge(x, y, jnp.asarray(ridge, x.dtype))


@jax.jit
def _ridge(x, y, ridge):
    s, b = _moments(x, y)
    lam, v = jnp.linalg.eigh(s)
    tol = jnp.max(lam, axis=-1, keepdims=True) * s.shape[-1] * jnp.finfo(s.dtype).eps * 10
    inv = jnp.where(lam + ridge > tol, 1.0 / jnp.where(lam + ridge > tol, lam + ridge, 1.0), 0.0)
    return jnp.einsum("bij,bj,bkj,bk->bi", v, inv, v, b)


def gd_weights(x: Any, y: Any, steps: Any, learning_rate: float | jax.Array) -> jnp.ndarray:
    """Weights after ``t`` steps of gradient descent on ``½‖Xw − y‖²`` from ``w = 0``, for each ``t`` in ``steps``.

    Args:
        x: ``(B, n, d)``; y: ``(B, n)``.
        steps: an int or a 1-D array of non-negative step counts ``(T,)``.
        learning_rate: ``η > 0`` (a scalar, or ``(B,)`` for one step size per prompt).

    Returns:
        ``(B, d)`` for an int ``steps``, else ``(T, B, d)``; closed form through the eigendecomposition of ``XᵀX``
        (exactly the iterates of ``w ← w − η Xᵀ(Xw − y)``, also for divergent ``η``).

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0, 0.0], [0.0, 2.0]]]); y = jnp.array([[3.0, 4.0]])
    >>> gd_weights(x, y, 1, 0.5)  # one step: η Xᵀy
    Array([[1.5, 4. ]], dtype=float32)
    """
    x, y = _prompts(x, y)
    scalar = isinstance(steps, (int, np.integer)) and not isinstance(steps, bool)
    t = jnp.atleast_1d(jnp.asarray(steps))
    if t.ndim != 1 or not jnp.issubdtype(t.dtype, jnp.integer):
        raise ValueError(f"steps must be an int or a 1-D array of ints, got {steps!r}")
    if is_concrete(t) and bool(jnp.any(t < 0)):
        raise ValueError(f"steps must be non-negative, got {steps!r}")
    eta = jnp.asarray(learning_rate, x.dtype)
    if eta.ndim > 1 or (eta.ndim == 1 and eta.shape[0] != x.shape[0]):
        raise ValueError(f"learning_rate must be a scalar or have shape ({x.shape[0]},), got {eta.shape}")
    check_positive(learning_rate, "learning_rate")
    out = _gd(x, y, t, jnp.broadcast_to(eta, (x.shape[0],)))
    return out[0] if scalar else out


@jax.jit
def _gd(x, y, t, eta):
    s, b = _moments(x, y)
    lam, v = jnp.linalg.eigh(s)                                  # (B, d), (B, d, d)
    step = eta[:, None] * lam                                    # η λ_j
    tt = t[:, None, None].astype(x.dtype)
    # filter (1 − (1 − ηλ)^t)/λ, with its limit η t at λ = 0
    small = jnp.abs(step) < 1e-6
    safe = jnp.where(small, 1.0, lam)
    filt = jnp.where(small, eta[:, None] * tt * (1 - 0.5 * (tt - 1) * step),
                     (1 - (1 - step) ** tt) / safe)               # (T, B, d)
    return jnp.einsum("bij,tbj,bkj,bk->tbi", v, filt, v, b)


def iterative_newton_weights(x: Any, y: Any, iterations: int, *, alpha_scale: float = 1.0) -> jnp.ndarray:
    """Iterates ``w_0, …, w_K`` of Iterative Newton (Newton–Schulz for ``(XᵀX)⁺``) on every prompt.

    ``M_0 = α S`` with ``S = XᵀX`` and ``α = alpha_scale/‖S‖₂²``; ``M_{k+1} = 2M_k − M_k S M_k``;
    ``w_k = M_k Xᵀy``. The error ``e = 1 − αλ²`` of each eigenvalue ``λ`` of ``S`` is squared at every
    step, so ``w_k`` converges to the minimum-norm least-squares weights (quadratically, once ``|e| < 1``)
    for ``0 < alpha_scale < 2``; at ``alpha_scale = 2`` the top direction has ``e = −1`` and stalls.

    Args:
        x: ``(B, n, d)``; y: ``(B, n)``; iterations: ``K ≥ 0``.
        alpha_scale: ``α ‖S‖₂²``, in ``(0, 2)``.

    Returns:
        ``(K + 1, B, d)``.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0, 0.0], [0.0, 2.0]]]); y = jnp.array([[3.0, 4.0]])
    >>> iterative_newton_weights(x, y, 12)[-1]
    Array([[3., 2.]], dtype=float32)
    """
    x, y = _prompts(x, y)
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative int, got {iterations!r}")
    if not (isinstance(alpha_scale, (int, float)) and 0 < alpha_scale < 2):
        raise ValueError(f"alpha_scale must be in (0, 2), got {alpha_scale!r}")
    return _newton(x, y, int(iterations), float(alpha_scale))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _newton(x, y, iterations, alpha_scale):
    s, b = _moments(x, y)
    norm2 = jnp.max(jnp.linalg.eigvalsh(s), axis=-1)                # ‖S‖₂ (S is PSD)
    alpha = alpha_scale / jnp.where(norm2 > 0, norm2, 1.0) ** 2
    m0 = alpha[:, None, None] * s

    def step(m, _):
        new = 2 * m - m @ s @ m
        return new, new

    _, ms = jax.lax.scan(step, m0, None, length=iterations)
    ms = jnp.concatenate([m0[None], ms], axis=0)
    return jnp.einsum("kbij,bj->kbi", ms, b)


def knn_predict(x: Any, y: Any, x_query: Any, k: int, *, num_valid: Any = None) -> jnp.ndarray:
    """``k``-nearest-neighbour regression: the mean label of the ``k`` examples closest to each query.

    Args:
        x: ``(B, n, d)``; y: ``(B, n)``; x_query: ``(B, d)``; k: number of neighbours (``1 ≤ k ≤ n``).
        num_valid: optional ``(B,)`` or scalar int — only the first ``num_valid`` examples of each prompt
            count (a prefix); when fewer than ``k`` are valid, all valid ones are averaged (0 if none).

    Returns:
        ``(B,)`` predictions.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[0.0], [1.0], [5.0]]]); y = jnp.array([[1.0, 3.0, 9.0]])
    >>> knn_predict(x, y, jnp.array([[0.4]]), 2)
    Array([2.], dtype=float32)
    """
    x, y = _prompts(x, y)
    xq = as_float_array(x_query, "x_query", ndim=2).astype(x.dtype)
    b, n, d = x.shape
    if xq.shape != (b, d):
        raise ValueError(f"x_query must have shape {(b, d)}, got {tuple(xq.shape)}")
    k = check_positive_int(k, "k")
    if k > n:
        raise ValueError(f"k ({k}) must be at most the number of examples ({n})")
    valid = jnp.full((b,), n) if num_valid is None else jnp.broadcast_to(jnp.asarray(num_valid), (b,))
    if not jnp.issubdtype(valid.dtype, jnp.integer):
        raise ValueError("num_valid must hold integers")
    return _knn(x, y, xq, valid, k)


@functools.partial(jax.jit, static_argnums=4)
def _knn(x, y, xq, valid, k):
    dist = jnp.sum((x - xq[:, None, :]) ** 2, axis=-1)
    mask = jnp.arange(x.shape[1])[None, :] < valid[:, None]
    dist = jnp.where(mask, dist, jnp.inf)
    _, idx = jax.lax.top_k(-dist, k)
    chosen = jnp.take_along_axis(mask, idx, axis=1)
    labels = jnp.take_along_axis(y, idx, axis=1)
    count = jnp.sum(chosen, axis=1)
    return jnp.sum(jnp.where(chosen, labels, 0.0), axis=1) / jnp.maximum(count, 1)
