"""Student-t process regression: the scale mixture of a Gaussian process over an inverse-gamma variance.

If ``f | s ~ GP(0, s·k)`` and ``s ~ InvGamma(a, b)``, then ``f`` is a Student-t process with
``ν = 2a`` degrees of freedom. Here it is parameterised by its *covariance* ``K`` (defined for
``ν > 2``), as in Shah, Wilson & Ghahramani (2014): ``TP(ν, K)`` has covariance ``K`` and
shape (scale) matrix ``(ν − 2)/ν · K``; the inverse-gamma mixture has ``K = b/(a − 1) · k`` and shape
``(b/a) · k``. Observations ``y = f(X) + ε`` where the noise is mixed over the same ``s`` (so ``y``
is jointly ``TP(ν, K + σ² I)``). With ``C = K + (σ² + jitter) I`` and ``β = yᵀ C⁻¹ y`` the
posterior at test points is again a t-process,

    f* | y ~ TP(ν + n,  K* C⁻¹ y,  (ν + β − 2)/(ν + n − 2) · (K** − K* C⁻¹ K*ᵀ)),

so its mean is the GP mean and its covariance is the GP covariance times a factor that grows with
how badly the data fit the prior (``β`` against its prior mean ``n``). The log marginal likelihood is

    log p(y) = lnΓ((ν+n)/2) − lnΓ(ν/2) − (n/2) log((ν−2)π) − ½ log|C| − ((ν+n)/2) log(1 + β/(ν−2)),

which tends to the Gaussian one as ``ν → ∞``, as do the posterior and the predictive law. (The
``lnΓ`` differences lose precision for very large ``ν``: use float64 beyond ``ν ≈ 10⁴``.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._validate import as_float_array, check_positive, is_concrete
from .gp import _default_jitter, gp_posterior
from .ridge import check_psd

__all__ = ["StudentTPosterior", "student_t_posterior", "student_t_cdf", "student_t_logpdf", "ks_statistic"]


def _check_df(df: Any, name: str = "df", minimum: float = 2.0) -> float:
    if isinstance(df, bool) or not isinstance(df, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a float > {minimum:g}, got {df!r}")
    df = float(df)
    if not math.isfinite(df) or df <= minimum:
        raise ValueError(f"{name} must be a finite float > {minimum:g}, got {df}")
    return df


@jax.jit
def _quad_logdet(C: jnp.ndarray, y: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    L = jnp.linalg.cholesky(C)
    v = jax.scipy.linalg.solve_triangular(L, y, lower=True)
    return jnp.sum(v * v), 2.0 * jnp.sum(jnp.log(jnp.diag(L)))


def _lml(beta: jnp.ndarray, logdet: jnp.ndarray, n: int, df: Any) -> jnp.ndarray:
    df = jnp.asarray(df, beta.dtype)
    gammaln = jax.scipy.special.gammaln
    return (gammaln((df + n) / 2) - gammaln(df / 2) - 0.5 * n * jnp.log((df - 2) * math.pi)
            - 0.5 * logdet - 0.5 * (df + n) * jnp.log1p(beta / (df - 2)))


@jax.jit
def _predictive_nll(y, mean, var, factor, noise, df):
    scale = jnp.sqrt((var + factor * noise) * (df - 2) / df)
    return -(jax.scipy.stats.t.logpdf((y - mean) / scale, df) - jnp.log(scale))


_lml_jit = jax.jit(lambda beta, logdet, n, df: _lml(beta, logdet, n, df), static_argnums=2)


@dataclass(frozen=True)
class StudentTPosterior:
    """Posterior of a Student-t process at the test points.

    Attributes:
        mean: ``(m,)`` posterior mean (the GP posterior mean).
        var: ``(m,)`` posterior variances of ``f*`` or ``None``; cov: ``(m, m)`` covariance or ``None``
            (the GP ones times :attr:`factor`).
        df: degrees of freedom of the posterior, ``ν + n``.
        factor: ``(ν + β − 2)/(ν + n − 2)``, the covariance scaling relative to the GP.
        beta: ``yᵀ C⁻¹ y``; logdet: ``log|C|``; prior_df: ``ν``; noise: ``σ²``.
        log_marginal_likelihood: ``log p(y)`` under ``TP(ν, K + σ² I)``.
    """

    mean: jnp.ndarray
    var: jnp.ndarray | None
    cov: jnp.ndarray | None
    df: float
    factor: jnp.ndarray
    beta: jnp.ndarray
    logdet: jnp.ndarray
    prior_df: float
    noise: float
    log_marginal_likelihood: jnp.ndarray

    def log_marginal_likelihood_at(self, df: ArrayLike) -> jnp.ndarray:
        """``log p(y)`` for other prior degrees of freedom ``df`` (any shape, each ``> 2``), same ``K`` and noise.

        >>> import jax.numpy as jnp
        >>> post = student_t_posterior(jnp.eye(2), jnp.array([3.0, -3.0]), jnp.eye(2), df=5.0, noise=0.0)
        >>> [round(float(v), 3) for v in post.log_marginal_likelihood_at(jnp.array([3.0, 30.0]))]
        [-8.1, -9.712]
        """
        df = jnp.asarray(df, self.beta.dtype)
        if is_concrete(df) and not bool(jnp.all(df > 2)):
            raise ValueError("df must be > 2 (the covariance parameterisation needs a finite variance)")
        return _lml_jit(self.beta, self.logdet, int(round(self.df - self.prior_df)), df)

    def predictive_nll(self, y_test: ArrayLike) -> jnp.ndarray:
        """Negative log density of noisy test labels under the posterior predictive, per point.

        The predictive law of ``y* = f* + ε*`` is a Student-t with ``ν + n`` degrees of freedom,
        location :attr:`mean` and variance ``var + factor·σ²``.

        Args:
            y_test: ``(m,)`` labels at the test points (needs :attr:`var` or :attr:`cov`).

        Returns:
            ``(m,)`` values of ``−log p(y*_i | y)``.

        >>> import jax.numpy as jnp
        >>> post = student_t_posterior(jnp.eye(2), jnp.zeros(2), jnp.zeros((1, 2)), jnp.ones(1), df=4.0, noise=0.0)
        >>> round(float(post.factor), 3), round(float(post.predictive_nll(jnp.zeros(1))[0]), 4)   # t_6, var 0.5
        (0.5, 0.4111)
        """
        var = self.var if self.var is not None else (None if self.cov is None else jnp.diag(self.cov))
        if var is None:
            raise ValueError("the posterior was computed without K_test; no predictive variance")
        y = as_float_array(y_test, "y_test", ndim=1).astype(var.dtype)
        if y.shape != var.shape:
            raise ValueError(f"y_test must have shape {tuple(var.shape)}, got {tuple(y.shape)}")
        return _predictive_nll(y, self.mean, var, self.factor, jnp.asarray(self.noise, var.dtype),
                               jnp.asarray(self.df, var.dtype))


def student_t_posterior(K_train: ArrayLike, y: ArrayLike, K_cross: ArrayLike, K_test: ArrayLike | None = None, *,
                        df: float, noise: float, jitter: float | None = None,
                        full_cov: bool = False) -> StudentTPosterior:
    """Exact Student-t process posterior from Gram matrices (covariance parameterisation).

    Args:
        K_train: ``(n, n)`` prior covariance of ``f`` at the training inputs (PSD).
        y: ``(n,)`` observations.
        K_cross: ``(m, n)`` prior covariance between test and training inputs.
        K_test: ``(m, m)`` or its diagonal ``(m,)``; ``None`` gives only the mean and the likelihood.
        df: prior degrees of freedom ``ν > 2`` (``2a`` for an ``InvGamma(a, b)`` variance).
        noise: observation noise variance ``σ² ≥ 0`` (mixed over the same scale as ``f``).
        jitter: added to the diagonal (default ``10·eps·mean(diag K)``).
        full_cov: return the ``(m, m)`` covariance instead of variances.

    Returns:
        A :class:`StudentTPosterior`; ``df`` of the posterior is ``ν + n``.

    Raises:
        ValueError: ``df ≤ 2`` or not finite, non-PSD ``K_train``, ``y`` not of shape ``(n,)``,
            mismatched shapes, negative noise, NaNs.

    >>> import jax.numpy as jnp
    >>> post = student_t_posterior(jnp.eye(2), jnp.array([2., -2.]), jnp.eye(2), jnp.ones(2), df=4.0, noise=1.0)
    >>> [round(float(v), 3) for v in post.mean], round(float(post.factor), 3), post.df
    ([1.0, -1.0], 1.5, 6.0)
    """
    df = _check_df(df)
    K = check_psd(K_train, "K_train")
    n = K.shape[0]
    yv = as_float_array(y, "y", ndim=1).astype(K.dtype)
    if yv.shape[0] != n:
        raise ValueError(f"y has {yv.shape[0]} entries but K_train is {n}×{n}")
    Ks = as_float_array(K_cross, "K_cross", ndim=2).astype(K.dtype)
    if Ks.shape[1] != n:
        raise ValueError(f"K_cross must have shape (m, {n}), got {tuple(Ks.shape)}")
    m = Ks.shape[0]
    Kt = None
    if K_test is not None:
        Kt = as_float_array(K_test, "K_test", ndim=(1, 2)).astype(K.dtype)
        if Kt.shape not in ((m,), (m, m)) or (full_cov and Kt.ndim != 2):
            raise ValueError(f"K_test must have shape ({m}, {m}) (or ({m},) without full_cov), got {tuple(Kt.shape)}")
    check_positive(noise, "noise", allow_zero=True)
    jitter = _default_jitter(K) if jitter is None else jitter
    check_positive(jitter, "jitter", allow_zero=True)
    mean, var, cov, factor, beta, logdet, lml = _posterior_core(K, yv, Ks, Kt, jnp.asarray(noise, K.dtype),
                                                                jnp.asarray(jitter, K.dtype),
                                                                jnp.asarray(df, K.dtype), full_cov)
    return StudentTPosterior(mean=mean, var=var, cov=cov, df=df + n, factor=factor, beta=beta, logdet=logdet,
                             prior_df=df, noise=float(noise), log_marginal_likelihood=lml)


@partial(jax.jit, static_argnames="full_cov")
def _posterior_core(K, y, Ks, Kt, noise, jitter, df, full_cov):
    """Everything after validation, in one compiled call (``df`` is traced: one compile per shape)."""
    gp = gp_posterior(K, y, Ks, Kt, noise=noise, jitter=jitter, full_cov=full_cov)
    n = K.shape[0]
    beta, logdet = _quad_logdet(K + (noise + jitter) * jnp.eye(n, dtype=K.dtype), y)
    factor = (df + beta - 2) / (df + n - 2)
    var = None if gp.var is None else factor * gp.var
    cov = None if gp.cov is None else factor * gp.cov
    return gp.mean, var, cov, factor, beta, logdet, _lml(beta, logdet, n, df)


def student_t_logpdf(x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> jnp.ndarray:
    """Log density of the univariate Student-t ``t_ν(loc, scale)`` (``scale`` is not the standard deviation).

    >>> import jax.numpy as jnp
    >>> round(float(student_t_logpdf(jnp.array(0.0), 1.0)), 4)   # Cauchy: −log π
    -1.1447
    """
    x = as_float_array(x, "x")
    z = (x - loc) / scale
    return jax.scipy.stats.t.logpdf(z, df) - jnp.log(jnp.asarray(scale, x.dtype))


def student_t_cdf(x: ArrayLike, df: ArrayLike, scale: ArrayLike = 1.0) -> jnp.ndarray:
    """CDF of the centred Student-t ``t_ν(0, scale)``, through the regularised incomplete beta function.

    ``F(x) = 1 − ½ I_{ν/(ν+z²)}(ν/2, ½)`` for ``z = x/scale ≥ 0`` and ``F(−x) = 1 − F(x)``.

    >>> import jax.numpy as jnp
    >>> [round(float(v), 4) for v in student_t_cdf(jnp.array([-1.0, 0.0, 1.0]), 1.0)]   # Cauchy
    [0.25, 0.5, 0.75]
    """
    x = as_float_array(x, "x")
    df = jnp.asarray(df, x.dtype)
    if is_concrete(df) and not bool(jnp.all(df > 0)):
        raise ValueError("df must be > 0")
    z = x / jnp.asarray(scale, x.dtype)
    tail = 0.5 * jax.scipy.special.betainc(df / 2, 0.5, df / (df + z * z))
    return jnp.where(z >= 0, 1.0 - tail, tail)


def ks_statistic(samples: ArrayLike, cdf: Callable[[jnp.ndarray], jnp.ndarray]) -> float:
    """Kolmogorov–Smirnov distance ``sup_x |F_n(x) − F(x)|`` between a sample and a continuous CDF.

    Args:
        samples: ``(N,)`` draws.
        cdf: vectorised CDF, e.g. ``lambda x: student_t_cdf(x, 6.0)``.

    >>> import jax.numpy as jnp
    >>> round(ks_statistic(jnp.array([0.5]), lambda x: x), 3)   # uniform CDF on [0, 1]
    0.5
    """
    x = jnp.sort(as_float_array(samples, "samples", ndim=1))
    if x.shape[0] == 0:
        raise ValueError("samples is empty")
    if not callable(cdf):
        raise ValueError("cdf must be a callable")
    F = jnp.asarray(cdf(x), x.dtype)
    n = x.shape[0]
    i = jnp.arange(1, n + 1, dtype=x.dtype)
    return float(jnp.maximum(jnp.max(i / n - F), jnp.max(F - (i - 1) / n)))
