"""Spectral theory of kernel ridge regression: the eigenlearning ("omniscient risk") estimates.

For a kernel with eigenvalues ``λ_i`` (w.r.t. the data distribution), a target with coefficients
``c_i`` in the orthonormal eigenbasis, ``n`` samples, ridge ``δ ≥ 0`` (in ``K + δI``) and label-noise
variance ``σ²``, the effective regularisation ``κ > 0`` solves

    Σ_i λ_i / (λ_i + κ) + δ / κ = n,

and with learnabilities ``L_i = λ_i / (λ_i + κ)`` and ``E₀ = n / (n − Σ_i L_i²)``:

    test MSE  ≈ E₀ · (Σ_i (1 − L_i)² c_i² + σ²),      train MSE ≈ (δ / (n κ))² · test MSE.

(Test MSE here includes the noise floor ``σ²``.) These estimates are asymptotically exact for
Gaussian-like features and are remarkably accurate at modest ``n``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from jax.typing import ArrayLike

import jax
import jax.numpy as jnp

from .._validate import as_float_array, check_positive

__all__ = ["EigenlearningRisk", "effective_ridge", "eigenlearning"]


class EigenlearningRisk(NamedTuple):
    kappa: jnp.ndarray  # effective ridge κ
    test_mse: jnp.ndarray
    train_mse: jnp.ndarray
    learnability: jnp.ndarray  # L_i, shape (..., M)
    overfitting_coefficient: jnp.ndarray  # E₀


def effective_ridge(eigenvalues: ArrayLike, n: ArrayLike, ridge: ArrayLike, *, iterations: int = 200) -> jnp.ndarray:
    """Solve ``Σ λ_i/(λ_i + κ) + δ/κ = n`` for ``κ`` by bisection in ``log κ`` (jit/vmap friendly).

    ``eigenvalues (M,)`` non-negative; ``n`` and ``ridge`` scalars or arrays (broadcast together).
    For ``δ = 0`` a solution exists only when ``n`` is smaller than the number of positive
    eigenvalues; ``n`` must be positive.

    >>> import jax.numpy as jnp
    >>> float(effective_ridge(jnp.ones(4), 2.0, 0.0))  # 4/(1+κ) = 2
    1.0000...
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    check_positive(lam, "eigenvalues", allow_zero=True)
    check_positive(n, "n")
    check_positive(ridge, "ridge", allow_zero=True)
    return _effective_ridge(lam, jnp.asarray(n, lam.dtype), jnp.asarray(ridge, lam.dtype), iterations)


@functools.partial(jax.jit, static_argnums=3)
def _effective_ridge(lam, n, ridge, iterations: int):
    def residual(log_k):
        k = jnp.exp(log_k)
        return jnp.sum(lam / (lam + k[..., None]), axis=-1) + ridge / k - n

    # Bracket: residual is decreasing in κ; it is > 0 for tiny κ whenever a solution exists.
    top = jnp.log(jnp.maximum(jnp.max(lam), 1e-30)) + jnp.log(jnp.maximum(ridge / n + jnp.sum(lam) / n, 1e-30)) + 2.0
    shape = jnp.broadcast_shapes(n.shape, ridge.shape)
    lo = jnp.full(shape, jnp.log(jnp.finfo(lam.dtype).tiny) / 2, lam.dtype)
    hi = jnp.broadcast_to(top, shape).astype(lam.dtype)

    def body(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) / 2
        positive = jax.lax.stop_gradient(residual(mid)) > 0
        return jnp.where(positive, mid, lo), jnp.where(positive, hi, mid)

    lo, hi = jax.lax.fori_loop(0, iterations, body, (lo, hi))
    # One Newton step from the (gradient-stopped) bisection root: the value is unchanged to round-off and
    # derivatives w.r.t. eigenvalues, n and ridge follow the implicit-function theorem.
    u = jax.lax.stop_gradient((lo + hi) / 2)
    slope = jax.grad(lambda v: jnp.sum(residual(v)))(u)
    u = u - residual(u) / slope
    return jnp.exp(u)


def eigenlearning(eigenvalues: ArrayLike, coefficients: ArrayLike, n: ArrayLike, ridge: ArrayLike, *,
                  noise: float = 0.0) -> EigenlearningRisk:
    """Eigenlearning predictions of test and train MSE of kernel ridge regression.

    Args:
        eigenvalues: ``(M,)`` kernel eigenvalues ``λ_i ≥ 0``.
        coefficients: ``(M,)`` target coefficients ``c_i`` in the orthonormal eigenbasis (only ``c_i²`` matters).
        n: number of training samples (scalar or array).
        ridge: ridge ``δ ≥ 0`` (scalar or array, broadcast with ``n``).
        noise: label-noise variance ``σ²``.

    Returns:
        :class:`EigenlearningRisk` with arrays of the broadcast shape of ``n`` and ``ridge``.

    >>> import jax.numpy as jnp
    >>> lam = jnp.arange(1, 101.) ** -2.0
    >>> r = eigenlearning(lam, jnp.sqrt(lam), n=50, ridge=1e-3)
    >>> bool(r.train_mse < r.test_mse)
    True
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    c = as_float_array(coefficients, "coefficients", ndim=1).astype(lam.dtype)
    if c.shape != lam.shape:
        raise ValueError(f"coefficients {tuple(c.shape)} and eigenvalues {tuple(lam.shape)} must match")
    check_positive(noise, "noise", allow_zero=True)
    kappa = effective_ridge(lam, n, ridge)
    n = jnp.asarray(n, lam.dtype)
    ridge = jnp.asarray(ridge, lam.dtype)
    L = lam / (lam + kappa[..., None])
    e0 = n / (n - jnp.sum(L**2, axis=-1))
    test = e0 * (jnp.sum((1 - L) ** 2 * c**2, axis=-1) + noise)
    train = (ridge / (n * kappa)) ** 2 * test
    return EigenlearningRisk(kappa, test, train, L, e0)
