"""Gaussian-process regression: posterior mean, variance/covariance and log marginal likelihood.

Model: ``f ~ GP(0, k)``, ``y = f(X) + ε``, ``ε ~ N(0, σ² I)``. With ``K = k(X, X)``,
``K* = k(X*, X)`` and ``C = K + (σ² + jitter) I = L Lᵀ``:

    mean = K* C⁻¹ y,    cov = k(X*, X*) − K* C⁻¹ K*ᵀ,
    log p(y) = −½ yᵀ C⁻¹ y − Σ log L_ii − (n/2) log 2π.

The posterior mean equals kernel ridge regression with ridge ``δ = σ²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from jax.typing import ArrayLike

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import as_float_array, check_positive, is_concrete
from .ridge import check_psd

__all__ = ["GPPosterior", "gp_posterior", "GaussianProcess"]


@dataclass(frozen=True)
class GPPosterior:
    """Posterior at the test points: ``mean (m[, O])``, ``var (m,)`` or ``cov (m, m)``, ``log_marginal_likelihood``
    (summed over output columns)."""

    mean: jnp.ndarray
    var: jnp.ndarray | None
    cov: jnp.ndarray | None
    log_marginal_likelihood: jnp.ndarray


def _default_jitter(K: jnp.ndarray) -> float:
    return 10.0 * float(jnp.finfo(K.dtype).eps) * max(float(jnp.mean(jnp.diag(K))), 1e-30)


def gp_posterior(K_train: ArrayLike, y: ArrayLike, K_cross: ArrayLike, K_test: ArrayLike | None = None, *,
                 noise: float, jitter: float | None = None,
                 full_cov: bool = False) -> GPPosterior:
    """Exact GP posterior from Gram matrices, by one Cholesky factorisation.

    Args:
        K_train: ``(n, n)`` prior covariance of the training inputs (must be PSD).
        y: ``(n,)`` or ``(n, O)`` observations.
        K_cross: ``(m, n)`` covariance between test and training inputs.
        K_test: prior covariance of the test inputs, ``(m, m)`` or its diagonal ``(m,)``; if ``None``,
            only the mean and the marginal likelihood are returned.
        noise: observation noise variance ``σ² ≥ 0``.
        jitter: added to the diagonal for numerical stability (default ``10·eps·mean(diag K)``).
        full_cov: return the ``(m, m)`` covariance (needs a full ``K_test``) instead of variances.

    Raises:
        ValueError: non-PSD ``K_train`` (with its most negative eigenvalue), mismatched shapes, negative
            noise, NaNs.

    >>> import jax.numpy as jnp
    >>> post = gp_posterior(jnp.eye(2), jnp.array([1., -1.]), jnp.eye(2), jnp.ones(2), noise=1.0)
    >>> [round(float(v), 3) for v in post.mean], [round(float(v), 3) for v in post.var]
    ([0.5, -0.5], [0.5, 0.5])
    """
    K = check_psd(K_train, "K_train")
    n = K.shape[0]
    y = as_float_array(y, "y", ndim=(1, 2)).astype(K.dtype)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but K_train is {n}×{n}")
    Ks = as_float_array(K_cross, "K_cross", ndim=2).astype(K.dtype)
    if Ks.shape[1] != n:
        raise ValueError(f"K_cross must have shape (m, {n}), got {tuple(Ks.shape)}")
    check_positive(noise, "noise", allow_zero=True)
    jitter = _default_jitter(K) if jitter is None else jitter
    check_positive(jitter, "jitter", allow_zero=True)

    C = K + (noise + jitter) * jnp.eye(n, dtype=K.dtype)
    L = jnp.linalg.cholesky(C)
    if is_concrete(L) and not bool(jnp.all(jnp.isfinite(L))):
        lam_min = float(jnp.linalg.eigvalsh(C)[0])
        raise ValueError(f"Cholesky of K_train + (noise + jitter)·I failed (smallest eigenvalue {lam_min:.3g}); "
                         "increase noise or jitter")
    alpha = jax.scipy.linalg.cho_solve((L, True), y)
    mean = Ks @ alpha
    y2 = y if y.ndim == 2 else y[:, None]
    a2 = alpha if alpha.ndim == 2 else alpha[:, None]
    lml = (-0.5 * jnp.sum(y2 * a2) - y2.shape[1] * jnp.sum(jnp.log(jnp.diag(L)))
           - 0.5 * y2.shape[1] * n * math.log(2 * math.pi))

    var = cov = None
    if K_test is not None:
        Kt = as_float_array(K_test, "K_test", ndim=(1, 2)).astype(K.dtype)
        m = Ks.shape[0]
        if Kt.shape not in ((m,), (m, m)):
            raise ValueError(f"K_test must have shape ({m},) or ({m}, {m}), got {tuple(Kt.shape)}")
        V = jax.scipy.linalg.solve_triangular(L, Ks.T, lower=True)  # (n, m)
        if full_cov:
            if Kt.ndim != 2:
                raise ValueError("full_cov=True needs the full (m, m) K_test, not its diagonal")
            cov = Kt - V.T @ V
        else:
            diag = Kt if Kt.ndim == 1 else jnp.diag(Kt)
            var = jnp.maximum(diag - jnp.sum(V * V, axis=0), 0.0)
    return GPPosterior(mean, var, cov, lml)


class GaussianProcess:
    """A GP regressor around a kernel function ``k(x1, x2=None) -> Gram``.

    >>> import jax.numpy as jnp
    >>> from ntkbook.kernels import rbf
    >>> x = jnp.linspace(-1, 1, 8)[:, None]
    >>> gp = GaussianProcess(rbf, noise=1e-2).fit(x, jnp.sin(3 * x[:, 0]))
    >>> gp.predict(jnp.zeros((1, 1))).mean.shape
    (1,)
    """

    def __init__(self, kernel: Callable, *, noise: float, jitter: float | None = None):
        if not callable(kernel):
            raise ValueError("kernel must be a callable k(x1, x2=None) -> Gram")
        check_positive(noise, "noise", allow_zero=True)
        self.kernel, self.noise, self.jitter = kernel, noise, jitter
        self._x = self._y = None

    def fit(self, x, y) -> "GaussianProcess":
        x = as_float_array(x, "x", ndim=2)
        y = as_float_array(y, "y", ndim=(1, 2))
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
        self._x, self._y = x, y
        return self

    def predict(self, x_test, *, full_cov: bool = False) -> GPPosterior:
        if self._x is None:
            raise ValueError("call fit(x, y) before predict")
        x_test = as_float_array(x_test, "x_test", ndim=2)
        if x_test.shape[1] != self._x.shape[1]:
            raise ValueError(f"x_test has {x_test.shape[1]} features, training inputs have {self._x.shape[1]}")
        Kt = self.kernel(x_test) if full_cov else jax.vmap(lambda z: self.kernel(z[None])[0, 0])(x_test)
        return gp_posterior(self.kernel(self._x), self._y, self.kernel(x_test, self._x), Kt,
                            noise=self.noise, jitter=self.jitter, full_cov=full_cov)

    def log_marginal_likelihood(self) -> float:
        if self._x is None:
            raise ValueError("call fit(x, y) first")
        K = self.kernel(self._x)
        return float(np.asarray(gp_posterior(K, self._y, K[:1], noise=self.noise,
                                             jitter=self.jitter).log_marginal_likelihood))
